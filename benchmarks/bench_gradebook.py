"""Benchmark the batch grader's gradebook writer against nbgrader's own API, in one run.

    .venv/bin/python benchmarks/bench_gradebook.py [--students 300] [--rounds 3] [--out PATH]

Both write the same class (N students, scores of every function, a verdict comment on
every solution cell) into a fresh SQLite gradebook made from the kit's nbgrader source
notebook, twice: the first grading (every student and submission new), then a regrading
(every row there).  The baseline is nbgrader's per-object API as `nbgrader autograde`
uses it: add_student, update_or_create_submission, find_grade and find_comment for each
cell, a commit per student.  The writer is autograder.grading.gradebook.write_gradebook.

It reports the best of --rounds for each, in wall time and CPU time of this process,
and the ratio baseline / writer.  Before reporting, it checks that both left the same
rows (every column but the generated ids) and exits 1 if not.  Timings are only
reported, never judged.
"""
import argparse
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder import assignment  # noqa: E402
from autograder.grading import gradebook  # noqa: E402

NAME = assignment.ASSIGNMENT
SOURCE = ROOT / "source" / NAME / f"{NAME}.ipynb"


def class_results(n: int) -> dict:
    """A results dict of n students; student k loses (k mod 4) points on every function."""
    points = assignment.points()
    students = {}
    for k in range(n):
        functions = {}
        for name, top in points.items():
            score = max(0.0, top - k % 4)
            functions[name] = {"score": score, "max": top, "passed": score == top,
                               "message": "" if score == top else f"case {k % 7}: values differ",
                               "diagnosis": [] if score == top else ["WRONG_VALUES"]}
        students[f"student{k:04d}"] = {"total": sum(f["score"] for f in functions.values()),
                                       "max": sum(points.values()), "error": None,
                                       "functions": functions}
    return {"assignment": NAME, "isolation": "benchmark", "students": students}


def empty_course(template: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    (where / "source" / NAME).mkdir(parents=True)
    shutil.copyfile(SOURCE, where / "source" / NAME / SOURCE.name)
    shutil.copyfile(template, where / "gradebook.db")
    return where


def make_template(where: Path) -> Path:
    """A gradebook holding the assignment and its cells, as generate_assignment leaves it."""
    course = where / "template"
    (course / "source" / NAME).mkdir(parents=True)
    shutil.copyfile(SOURCE, course / "source" / NAME / SOURCE.name)
    with gradebook.GradebookWriter(course, None, NAME):
        pass
    return course / "gradebook.db"


def nbgrader_api(results: dict, course: Path) -> None:
    """The baseline: nbgrader's per-object API, a commit per student."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy import exc as sa_exc
    with Gradebook(gradebook.default_db_url(course), course_id="") as gb:
        known = {s.id for s in gb.students}
        for student, entry in sorted(results["students"].items()):
            if student not in known:
                gb.add_student(student)
            with warnings.catch_warnings():
                # nbgrader's add_submission makes SQLAlchemy warn "... not in session"; the
                # rows are saved all the same (as in autograde)
                warnings.filterwarnings("ignore", message=r".*not in session", category=sa_exc.SAWarning)
                gb.update_or_create_submission(NAME, student)
            for function, result in entry["functions"].items():
                grade = gb.find_grade(gradebook.grade_cell_name(function), NAME, NAME, student)
                grade.auto_score = result["score"]
                grade.needs_manual_grade = grade.manual_score is not None
                try:
                    comment = gb.find_comment(function, NAME, NAME, student)
                except MissingEntry:
                    continue
                comment.auto_comment = gradebook.verdict_comment(entry, function)
            gb.db.commit()
        gb.engine.dispose()


def writer(results: dict, course: Path) -> None:
    gradebook.write_gradebook(results, course)


def rows(db: Path) -> dict:
    """Every row of the tables a grading writes, without the generated ids."""
    con = sqlite3.connect(db)
    out = {}
    joins = {"grade": "grade g join base_cell c on g.cell_id = c.id",
             "comment": "comment g join base_cell c on g.cell_id = c.id"}
    for table, source in joins.items():
        cols = [r[1] for r in con.execute(f"pragma table_info({table})") if not r[1].endswith("id")]
        query = (f"select c.name, s.student_id, {', '.join('g.' + c for c in cols)} from {source} "
                 "join submitted_notebook n on g.notebook_id = n.id "
                 "join submitted_assignment s on n.assignment_id = s.id")
        out[table] = sorted(map(repr, con.execute(query)))
    out["submitted_assignment"] = sorted(map(repr, con.execute(
        "select student_id, timestamp, extension from submitted_assignment")))
    out["student"] = sorted(map(repr, con.execute("select * from student")))
    con.close()
    return out


def timed(fn, results, course):
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    fn(results, course)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300, help="class size (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, best kept (default 3)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.students < 1 or args.rounds < 1:
        parser.error("--students and --rounds must be at least 1")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ["NBGRADER_DB_URL"] = ""
    results = class_results(args.students)
    figures = {"students": args.students, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        work = Path(tmp)
        template = make_template(work)
        left = {}
        for label, fn in (("nbgrader_api", nbgrader_api), ("writer", writer)):
            best = {"first": None, "regrade": None}
            for r in range(args.rounds):
                course = empty_course(template, work / f"{label}-{r}")
                for phase in ("first", "regrade"):
                    wall, cpu = timed(fn, results, course)
                    if best[phase] is None or wall < best[phase][0]:
                        best[phase] = (wall, cpu)
                    print(f"{label:12s} round {r + 1} {phase:8s} {wall:7.2f} s wall {cpu:6.2f} s CPU",
                          file=sys.stderr)
                left[label] = rows(course / "gradebook.db")
            figures[label] = {phase: {"wall_s": w, "cpu_s": c} for phase, (w, c) in best.items()}
    same = left["nbgrader_api"] == left["writer"]
    figures["same_rows"] = same
    print(f"# Gradebook writer against nbgrader's API: {args.students} students, best of {args.rounds}\n")
    print("| phase | nbgrader API: wall / CPU | writer: wall / CPU | ratio (wall) | ratio (CPU) |")
    print("|---|---|---|---|---|")
    for phase in ("first", "regrade"):
        base, ours = figures["nbgrader_api"][phase], figures["writer"][phase]
        print(f"| {phase} | {base['wall_s']:.2f} s / {base['cpu_s']:.2f} s | {ours['wall_s']:.2f} s / "
              f"{ours['cpu_s']:.2f} s | {base['wall_s'] / ours['wall_s']:.1f}x | "
              f"{base['cpu_s'] / max(ours['cpu_s'], 1e-9):.1f}x |")
    print(f"\nsame rows left by both (every column but the ids): {'yes' if same else 'NO'}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
