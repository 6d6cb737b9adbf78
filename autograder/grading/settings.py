"""Settings of a batch: every option of `python -m autograder grade`, read in one place.

    Settings        the dataclass every later stage reads
    parse_args      the command line -> Settings (the help text of each option is here)
    course_config   the CourseDirectory settings of the course's nbgrader_config.py

This stage reads no submission and runs nothing.
"""
import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from .. import assignment


@dataclass
class Settings:
    """Every setting of a batch, with its help text (argparse is built from these)."""
    submitted: Path
    out: Path
    course: Path
    assignment: str
    jobs: int
    timeout: float
    memory_mb: int
    db_url: str | None
    gradebook: bool
    progress: bool
    dask: str | None = None
    allow_weak_isolation: bool = False
    case_cache: Path | None = None  # folder of the case cache (autograder.grading.casecache); None: off


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m autograder grade",
                                description="Grade a folder of submissions in sandboxed child processes.")
    p.add_argument("submitted", type=Path, metavar="SUBMITTED_DIR",
                   help="nbgrader layout: SUBMITTED_DIR/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--out", type=Path, required=True, metavar="OUT_DIR",
                   help="where results.json, grades.csv, feedback/ and report/ are written")
    p.add_argument("--course", type=Path, default=None,
                   help="course directory with nbgrader_config.py (default: this kit's root)")
    p.add_argument("--assignment", default=None,
                   help=f"assignment id, the folder name inside each student's folder "
                        f"(default: {assignment.ASSIGNMENT}, the assignment of the kit's teacher notebook)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="submissions graded in parallel (default: number of cores)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="wall-clock seconds allowed per function (default: 5)")
    p.add_argument("--memory-mb", type=int, default=2048,
                   help="address-space limit of a child, in MiB (default: 2048)")
    p.add_argument("--db-url", default=None,
                   help="gradebook URL (default: CourseDirectory.db_url from nbgrader_config.py)")
    p.add_argument("--no-gradebook", action="store_true", help="do not write the nbgrader gradebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dask", default=None, metavar="SCHEDULER_ADDRESS",
                   help="run the sandboxed children on the workers of this Dask cluster "
                        "(tcp://HOST:8786; see benchmarks/README.md); --jobs is then ignored")
    p.add_argument("--allow-weak-isolation", action="store_true",
                   help="grade even where no mount namespace can be had (no bubblewrap, or a "
                        "kernel without user namespaces): student code then sees the host's "
                        "files, and every output says WEAKLY ISOLATED")
    p.add_argument("--case-cache", default=None, metavar="DIR",
                   help="folder where the prepared cases and reference answers are kept between "
                        "batches, keyed by the teacher notebook and the grader version "
                        "(default: $RNN_STEP_BY_STEP_CACHE, else ~/.cache/rnn-step-by-step; "
                        "'off': prepare them on every start); see autograder/grading/casecache.py")
    a = p.parse_args(argv)
    from . import casecache
    case_cache = casecache.default_dir() if a.case_cache is None else casecache.folder(a.case_cache)
    course = (a.course or assignment.ROOT).resolve()
    config = course_config(course)
    return Settings(
        submitted=a.submitted, out=a.out, course=course,
        assignment=a.assignment or assignment.ASSIGNMENT,
        jobs=max(1, a.jobs), timeout=a.timeout, memory_mb=a.memory_mb,
        db_url=a.db_url or config.get("db_url"), gradebook=not a.no_gradebook,
        progress=not a.no_progress, dask=a.dask, allow_weak_isolation=a.allow_weak_isolation,
        case_cache=case_cache)


def course_config(course):
    """CourseDirectory settings from the course's nbgrader_config.py (db_url, root).

    The assignment is not among them: nbgrader's commands take it as their
    argument, and the batch grader grades the kit's own (assignment.ASSIGNMENT).
    """
    path = Path(course) / "nbgrader_config.py"
    if not path.exists():
        raise SystemExit(f"error: {path} not found: pass --course with the course directory")
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    section = config.get("CourseDirectory", {})
    return {k: section[k] for k in ("db_url", "root") if k in section}
