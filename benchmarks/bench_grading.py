"""Benchmark the sandboxed batch grader against `nbgrader autograde` on the same submissions.

    .venv/bin/python benchmarks/bench_grading.py [--sizes 20,200,2000] [--nbgrader-max 200]
        [--jobs N] [--out results.json] [--time-budget 600] [--work DIR] [--keep]
        [--no-student-latency]

For every N in --sizes it writes N submissions (benchmarks/mix.py: the
reference, the untouched release, the two seed samples of lstm_backward, an
invalid and an empty file, then every known mistake of autograder/grading/mistakes.py,
repeated), grades them with `python -m autograder grade` and with
`nbgrader autograde` in scratch course directories, and checks that both give
every student the same score for every function (a file neither can read must
get 0 from nbgrader and an error entry from the batch grader).  It reports
wall time, submissions per second, time per submission and the peak RSS of
each grader's process tree (benchmarks/measure.py).

nbgrader is run up to --nbgrader-max submissions; above that its figures are
extrapolated as startup + N x per-submission time, where startup is a run on
an empty class and the per-submission time comes from its largest measured
run.  The batch grader is extrapolated the same way, and not run, when that
estimate is above --time-budget seconds.  Extrapolated rows are labelled as such.

Student-side latency: the wall time of `nbgrader validate` on the release and
on a completed notebook, and the time of each example_* cell (what a student
waits for after pressing Shift-Enter) and of each hidden test cell.

The first-round mix (issue 12, --mix N): a class of N whose submissions are one correct
notebook and 19 buggy ones in turn, each buggy one with a known mistake in every function
(benchmarks/mix.first_round_kinds), graded by the batch grader and, for its first
--mix-nbgrader students, by nbgrader autograde, whose verdicts must agree.  Beside it:
the floor (the reference alone, in this process, on all 40 cases of one submission), the
grader's distance to it, start-up on an empty class cold (a fresh case cache, a fresh
Python) and warm, with and without the gradebook, and peak memory of the smallest and
largest --sizes of at least 200.

Output: a markdown report on stdout; with --out PATH, the figures as JSON in
PATH and the report in PATH with the suffix .md.  Exit status 1 when the two
graders disagree on any verdict, 0 otherwise.  Timings are only reported, never
judged.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder import assignment  # noqa: E402
from autograder.course import build, samples  # noqa: E402
from benchmarks import measure, mix  # noqa: E402

NAME = assignment.ASSIGNMENT
COURSE_FILES = build.INPUTS + ("source", "release")  # what a scratch course copies of the kit
# Scratch courses keep their own sqlite gradebook (nbgrader_config.py falls back to it).
ENV = {"NBGRADER_DB_URL": ""}
CACHE_ENV = "RNN_STEP_BY_STEP_CACHE"  # the batch grader's case cache folder (autograder/grading/casecache.py)
KEEP = [False]  # --keep
OURS, NBGRADER = "batch grader", "nbgrader autograde"


def say(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# scratch courses
# ---------------------------------------------------------------------------


def make_course(path):
    """A copy of the kit's course files at `path` (as tests/conftest.make_course)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, path / name)
    return path


def nbgrader_cli(course, *args, log_dir, name):
    result = measure.run([sys.executable, "-m", "nbgrader", *args], course,
                         measure.environment(ENV), log_dir, name)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n"
                           f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def template_course(work):
    """A scratch course in which `nbgrader generate_assignment` has run (copied for each run)."""
    course = make_course(work / "template")
    nbgrader_cli(course, "generate_assignment", NAME, "--force", log_dir=work / "logs", name="generate")
    return course


def course_with(template, dest, submitted=None):
    """A copy of the template course whose submitted/ is a copy of `submitted` (or empty)."""
    shutil.copytree(template, dest)
    if submitted is None:
        (dest / "submitted").mkdir()
    else:
        shutil.copytree(submitted, dest / "submitted")
    return dest


# ---------------------------------------------------------------------------
# the two graders
# ---------------------------------------------------------------------------


def run_ours(course, out, jobs, log_dir, name, extra=(), env=None):
    argv = [sys.executable, "-m", "autograder", "grade", str(course / "submitted"), "--out", str(out),
            "--course", str(course), "--no-progress", *extra]
    if jobs:
        argv += ["--jobs", str(jobs)]
    result = measure.run(argv, ROOT, measure.environment({**ENV, **(env or {})}), log_dir, name)
    if result.returncode != 0:
        raise RuntimeError(f"the batch grader failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def run_nbgrader(course, log_dir, name, empty=False):
    """Run autograde on the whole class.  It exits 1 when it could not grade some
    submission (a broken file) and on an empty class ("No notebooks were
    matched", which is how its startup is timed); anything else is a failure."""
    result = measure.run([sys.executable, "-m", "nbgrader", "autograde", NAME, "--create", "--force",
                          "--log-level=WARN"], course, measure.environment(ENV), log_dir, name)
    known = "No notebooks were matched" if empty else "There was an error processing assignment"
    if result.returncode != 0 and not (result.returncode == 1 and known in result.stderr):
        raise RuntimeError(f"nbgrader autograde failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def nbgrader_failures(result):
    """Students whose submission autograde reported it could not process."""
    marker = "There was an error processing assignment"
    return sorted(line.rsplit("for student", 1)[1].strip().strip("'")
                  for line in result.stderr.splitlines() if marker in line and "for student" in line)


def isolation_of(result):
    for line in result.stderr.splitlines():
        if line.startswith("isolation:"):
            return line.split(":", 1)[1].strip()
    return None


def ours_scores(out):
    return json.loads((out / "results.json").read_text())["students"]


def nbgrader_scores(course, students):
    """{student: {function: score or None when the gradebook has no such grade}}."""
    from nbgrader.api import Gradebook, MissingEntry
    scores = {}
    with measure_path_env():
        gb = Gradebook(f"sqlite:///{course / 'gradebook.db'}")
    try:
        for student in students:
            scores[student] = {}
            for function in assignment.FUNCTIONS:
                try:
                    grade = gb.find_grade(assignment.test_cell_id(function), NAME, NAME, student)
                except MissingEntry:
                    scores[student][function] = None
                else:
                    scores[student][function] = grade.score
    finally:
        gb.close()
    return scores


class measure_path_env:
    """PATH with this interpreter's bin/ first while nbgrader opens a gradebook (it may call alembic)."""

    def __enter__(self):
        self.old = os.environ.get("PATH")
        os.environ["PATH"] = measure.environment()["PATH"]

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = self.old


def check_verdicts(students, ours, theirs):
    """Compare the two graders student by student and function by function.

    Returns {"compared", "agree", "mismatches", "expected_mismatches"}.  A
    mismatch is a function the graders scored differently, or a broken file
    that the batch grader did not turn into an error entry (or a readable
    one that it did).  expected_mismatches lists students who did not lose
    exactly the functions their kind of submission should lose.
    """
    mismatches, compared = [], 0
    for student, kind in students.items():
        entry = ours.get(student)
        if entry is None:
            mismatches.append(f"{student}: missing from the batch grader's results")
            continue
        broken = kind.failing == mix.BROKEN
        if broken != (entry.get("error") is not None):
            mismatches.append(f"{student}: batch grader error entry is {entry.get('error')!r}")
        for function in assignment.FUNCTIONS:
            compared += 1
            mine = 0.0 if entry.get("error") else entry["functions"][function]["score"]
            given = theirs.get(student, {}).get(function)
            if (given or 0.0) != mine:
                why = "" if entry.get("error") else _reason(entry["functions"][function].get("message", ""))
                mismatches.append(f"{student} {function}: batch grader {mine:g}, nbgrader {given}" + why)
    present = {s: k for s, k in students.items() if s in ours}
    return {"compared": compared, "agree": not mismatches, "mismatches": mismatches,
            "expected_mismatches": check_expected(present, ours)}


def _reason(message):
    """The line of a verdict message that says what went wrong, to show next to a disagreement."""
    lines = [ln for ln in message.splitlines() if ln.startswith(("It raised", "Likely"))]
    return f" ({lines[0]})" if lines else ""


def check_expected(students, ours):
    """Without nbgrader: did every student lose exactly what their kind should lose?"""
    unexpected = []
    for student, kind in students.items():
        entry = ours[student]
        if kind.failing == mix.BROKEN:
            if entry.get("error") is None:
                unexpected.append(f"{student}: a broken file was graded")
            continue
        lost = {f for f, r in entry["functions"].items() if not r["passed"]}
        if lost != set(kind.failing):
            extra = sorted(lost - set(kind.failing))
            why = _reason(entry["functions"][extra[0]].get("message", "")) if extra else ""
            unexpected.append(f"{student}: lost {sorted(lost)}, expected {sorted(kind.failing)}{why}")
    return unexpected


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------


def figures(n, result=None, model=None):
    """Throughput figures of one grader at size n, measured or from the linear model."""
    if result is not None:
        seconds, how, rss = result.seconds, "measured", result.peak_rss_bytes / 2**20
    elif "per_submission" not in model:  # nothing measured to extrapolate from
        return {"how": "not run", "seconds": None, "seconds_per_submission": None,
                "submissions_per_second": None, "peak_rss_mb": None, "peak_processes": None}
    else:
        seconds, how, rss = model["startup"] + n * model["per_submission"], "extrapolated", None
    return {"how": how, "seconds": round(seconds, 2),
            "seconds_per_submission": round(seconds / n, 4),
            "submissions_per_second": round(n / seconds, 3),
            "peak_rss_mb": None if rss is None else round(rss, 1),
            "peak_processes": None if result is None else result.peak_processes}


def update_model(model, n, seconds):
    """Per-submission time from the largest measured run, on top of the measured startup."""
    if n >= model.get("from_n", 0):
        model["from_n"] = n
        model["per_submission"] = max(seconds - model["startup"], 0.0) / n
    return model


def estimate(model, n):
    if "per_submission" not in model:
        return None
    return model["startup"] + n * model["per_submission"]


# ---------------------------------------------------------------------------
# student-side latency
# ---------------------------------------------------------------------------


def time_cells(notebook_path, prefixes):
    """Execute a notebook with nbclient; wall seconds of each cell whose grade_id has one of prefixes."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(str(notebook_path), as_version=4)
    started, times = {}, {}

    def grade_id(cell):
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or ""

    def on_start(cell, cell_index, **_):
        started[cell_index] = time.perf_counter()

    def on_done(cell, cell_index, **_):
        gid = grade_id(cell)
        if gid.startswith(prefixes) and cell_index in started:
            times[gid] = round(time.perf_counter() - started[cell_index], 3)

    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(notebook_path).parent)}},
                            on_cell_start=on_start, on_cell_executed=on_done)
    t0 = time.perf_counter()
    with measure_path_env():
        client.execute()
    return {"cells": times, "whole_notebook_seconds": round(time.perf_counter() - t0, 2)}


def validate(folder, log_dir, name):
    result = measure.run([sys.executable, "-m", "nbgrader", "validate", f"{NAME}.ipynb"], folder,
                         measure.environment(ENV), log_dir, name)
    text = result.stdout + result.stderr
    if "Success! Your notebook passes all the tests." in text:
        verdict = "passes all the tests"
    else:
        line = next((ln.strip().split("!")[0] for ln in text.splitlines() if "VALIDATION FAILED" in ln), None)
        verdict = line or f"exit {result.returncode}"
    return {"seconds": round(result.seconds, 2), "verdict": verdict}


def student_latency(template, work):
    import nbformat
    base = work / "student"
    release = base / "release" / NAME
    completed = base / "completed" / NAME
    shutil.copytree(template / "release" / NAME, release)
    shutil.copytree(template / "release" / NAME, completed)
    release_nb = nbformat.read(str(release / f"{NAME}.ipynb"), as_version=4)
    nbformat.write(samples.make_notebook(release_nb, {"*": "reference"}), str(completed / f"{NAME}.ipynb"))
    logs = work / "logs"
    out = {"validate_release": validate(release, logs, "validate-release"),
           "validate_completed": validate(completed, logs, "validate-completed")}
    say("timing the example cells of a completed notebook (nbclient)")
    out["completed_notebook"] = time_cells(completed / f"{NAME}.ipynb", ("example_", "test_"))
    say("timing the hidden test cells of the source notebook (nbclient)")
    source = base / "source" / NAME
    shutil.copytree(template / "source" / NAME, source)
    out["source_notebook"] = time_cells(source / f"{NAME}.ipynb", ("test_",))
    return out


# ---------------------------------------------------------------------------
# issue 12: the floor, start-up, the first-round mix
# ---------------------------------------------------------------------------


def measure_floor(repeats=200):
    """The physical floor of one submission: the reference alone, in this process, on all
    40 cases (every function on every case, fresh copies of the inputs made outside the
    timer).  Seconds: the fastest and the median of `repeats` runs, on one core."""
    import copy
    import statistics
    import numpy as np
    from autograder.grading import verdict
    work = [(assignment.reference(f), p.args) for f in assignment.FUNCTIONS for p in verdict.prepared(f)]
    times = []
    with np.errstate(all="ignore"):
        for _ in range(repeats):
            inputs = [copy.deepcopy(args) for _, args in work]
            started = time.perf_counter()
            for (function, _), args in zip(work, inputs):
                function(*args)
            times.append(time.perf_counter() - started)
    return {"cases": len(work), "repeats": repeats, "min_seconds": round(min(times), 6),
            "median_seconds": round(statistics.median(times), 6)}


def measure_startup(template, work, jobs, runs):
    """The batch grader on an empty class: cold (a case cache folder it has never seen, a
    fresh Python) and then `runs` warm starts on that cache, each into a fresh out dir;
    with the course's gradebook and with --no-gradebook."""
    out = {}
    for label, extra in (("gradebook", ()), ("no_gradebook", ("--no-gradebook",))):
        cache = work / f"startup-cache-{label}"
        env = {CACHE_ENV: str(cache)}
        course = course_with(template, work / "startup" / label)
        times = []
        for i in range(runs + 1):
            r = run_ours(course, work / "startup" / f"{label}-out{i}", jobs, work / "logs",
                         f"ours-startup-{label}-{i}", extra, env)
            times.append(round(r.seconds, 3))
        out[label] = {"cold_seconds": times[0], "warm_seconds": times[1:],
                      "warm_best_seconds": min(times[1:]),
                      "warm_median_seconds": sorted(times[1:])[len(times[1:]) // 2]}
    return out


def run_mix(template, work, jobs, n, nbgrader_n, logs, warm_startup):
    """Grade the first-round mix of n with the batch grader, and its first nbgrader_n
    students with nbgrader autograde; compare verdicts."""
    base = work / f"mix{n}"
    students = mix.write(base / "submitted", template / "release" / NAME / f"{NAME}.ipynb", n,
                         mix.first_round_kinds())
    say(f"mix N={n}: batch grader ...")
    course = course_with(template, base / "ours", base / "submitted")
    result = run_ours(course, base / "ours-out", jobs, logs, f"ours-mix-{n}")
    ours = ours_scores(base / "ours-out")
    say(f"mix N={n}: batch grader {result.seconds:.1f} s")
    row = {"n": n, "ours": figures(n, result), "expected_mismatches": check_expected(students, ours)}
    row["ours"]["submissions_per_minute"] = round(60 * n / result.seconds, 1)
    grading = result.seconds - warm_startup
    row["ours"]["submissions_per_minute_after_startup"] = \
        round(60 * n / grading, 1) if grading > 0 else None
    if nbgrader_n:
        sample = dict(list(students.items())[:nbgrader_n])
        sample_dir = base / "nbgrader-submitted"
        for student in sample:
            shutil.copytree(base / "submitted" / student, sample_dir / student)
        say(f"mix: nbgrader autograde on {len(sample)} of them ...")
        nb_course = course_with(template, base / "nbgrader", sample_dir)
        rn = run_nbgrader(nb_course, logs, f"nbgrader-mix-{nbgrader_n}")
        theirs = nbgrader_scores(nb_course, sample)
        v = check_verdicts(sample, {s: ours[s] for s in sample}, theirs)
        row["nbgrader"] = figures(len(sample), rn)
        row["verdicts"] = {k: v[k] for k in ("compared", "agree", "mismatches")}
    if not KEEP[0]:
        shutil.rmtree(base, ignore_errors=True)
    return row


def issue12_summary(report):
    """The ratios of issue 12 from the measured figures."""
    out = {}
    i12 = report["issue12"]
    floor = i12["floor"]["min_seconds"]
    cores = report["jobs"]
    mixrow = i12.get("mix")
    if mixrow:
        per = mixrow["ours"]["seconds_per_submission"]
        out["floor_submissions_per_minute"] = round(60 * cores / floor, 0)
        out["distance_to_floor"] = round(per / (floor / cores), 1)
        if mixrow.get("nbgrader"):
            startup_nb = report["startup"]["nbgrader"]["seconds"]
            nb_per = max(mixrow["nbgrader"]["seconds"] - startup_nb, 0.0) / mixrow["nbgrader_n"]
            out["nbgrader_seconds_per_submission"] = round(nb_per, 3)
            out["speed_ratio_vs_nbgrader"] = round(nb_per / per, 1)
    measured = {row["n"]: row["ours"]["peak_rss_mb"] for row in report["sizes"]
                if row["ours"]["how"] == "measured" and row["n"] >= 200}
    if len(measured) >= 2:
        small, large = min(measured), max(measured)
        out["memory"] = {"small_n": small, "large_n": large, "small_mb": measured[small],
                         "large_mb": measured[large],
                         "ratio": round(measured[large] / measured[small], 3)}
    return out


def issue12_markdown(report):
    i12 = report["issue12"]
    s = i12["summary"]
    f = i12["floor"]
    lines = ["", "### Issue 12: the floor, start-up, the first-round mix", "",
             f"Floor (the reference alone, in process, all {f['cases']} cases of one submission, one core): "
             f"{1000 * f['min_seconds']:.2f} ms fastest, {1000 * f['median_seconds']:.2f} ms median of "
             f"{f['repeats']}; that is {s.get('floor_submissions_per_minute', 0):,.0f} submissions a "
             f"minute on {report['jobs']} cores."]
    st = i12.get("startup")
    if st:
        lines += ["", "| start-up on an empty class | cold (s) | warm, best (s) | warm, median (s) |",
                  "|---|---:|---:|---:|"]
        for label, name in (("gradebook", "with the course's gradebook"), ("no_gradebook", "--no-gradebook")):
            r = st[label]
            lines.append(f"| {name} | {r['cold_seconds']:.2f} | {r['warm_best_seconds']:.2f} | "
                         f"{r['warm_median_seconds']:.2f} |")
    m = i12.get("mix")
    if m:
        o = m["ours"]
        lines += ["", f"First-round mix, N = {m['n']} (1 correct, 19 buggy with a mistake in every "
                  f"function, in turn), batch grader --jobs {report['jobs']}: {o['seconds']:.1f} s, "
                  f"{1000 * o['seconds_per_submission']:.1f} ms a submission, "
                  f"**{o['submissions_per_minute']:,.0f} submissions a minute** "
                  f"({o['submissions_per_minute_after_startup'] or 0:,.0f} after the warm start-up), "
                  f"peak RSS {o['peak_rss_mb']:.0f} MiB; "
                  f"distance to the floor {s.get('distance_to_floor', 0):.1f}x "
                  f"(its time a submission over floor / cores)."]
        if m.get("nbgrader"):
            v = m["verdicts"]
            lines.append(f"nbgrader autograde on the first {m['nbgrader_n']} of them: "
                         f"{m['nbgrader']['seconds']:.1f} s, {s['nbgrader_seconds_per_submission']:.2f} s a "
                         f"submission after its start-up; the batch grader is "
                         f"**{s['speed_ratio_vs_nbgrader']:.0f}x** its throughput; verdicts "
                         f"{'agree' if v['agree'] else 'DISAGREE'} ({v['compared'] - len(v['mismatches'])}"
                         f"/{v['compared']}).")
            lines += [f"- {x}" for x in v["mismatches"][:20]]
        if m["expected_mismatches"]:
            lines += ["Students who did not lose exactly what their submission should lose:",
                      *[f"- {x}" for x in m["expected_mismatches"][:20]]]
    mem = s.get("memory")
    if mem:
        lines.append(f"\nPeak memory: {mem['large_mb']:.0f} MiB at N = {mem['large_n']} against "
                     f"{mem['small_mb']:.0f} MiB at N = {mem['small_n']}: ratio {mem['ratio']:.3f}.")
    return lines


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def _num(value, fmt):
    return "—" if value is None else format(value, fmt)


def markdown(report):
    m = report["machine"]
    lines = [f"Run {report['date']} on {m['cores']} cores ({m['platform']}, Python {m['python']}), "
             f"batch grader with --jobs {report['jobs']}; isolation: {report['isolation'] or 'unknown'}.",
             f"Command: `{report['command']}`",
             f"Code: commit {report['code']['commit']}"
             + (" with uncommitted changes in autograder/" if report["code"]["autograder_uncommitted_changes"] else "")
             + f" (autograder/**/*.py sha256 {report['code']['autograder_sha256']}); "
             f"1-minute load average at start {report['load_average_at_start'][0]:.2f}, "
             f"at end {report['load_average_at_end'][0]:.2f}.", "",
             "| N | grader | how | wall (s) | s / submission | submissions / s | peak RSS of tree (MiB) "
             "| speed ratio (batch ÷ nbgrader) | verdicts agree |",
             "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for row in report["sizes"]:
        for key, label in (("ours", f"{OURS} (--jobs {report['jobs']})"), ("nbgrader", NBGRADER)):
            f = row[key]
            ratio = _num(row["speed_ratio"], ".1f") + "×" if key == "ours" and row["speed_ratio"] else ""
            agree = ""
            if key == "ours":
                v = row["verdicts"]
                agree = ("not checked" if v is None else
                         f"{'yes' if v['agree'] else 'NO'} ({v['compared'] - len(v['mismatches'])}"
                         f"/{v['compared']})")
            lines.append(f"| {row['n']} | {label} | {f['how']} | {_num(f['seconds'], '.1f')} | "
                         f"{_num(f['seconds_per_submission'], '.3f')} | "
                         f"{_num(f['submissions_per_second'], '.2f')} | "
                         f"{_num(f['peak_rss_mb'], '.0f')} | {ratio} | {agree} |")
    s = report["startup"]
    lines += ["", f"Startup (an empty class): {OURS} {s['ours']['seconds']:.1f} s, "
              f"{NBGRADER} {s['nbgrader']['seconds']:.1f} s. Extrapolated rows are startup + N × the "
              "per-submission time of the largest measured run."]
    bad = [m for row in report["sizes"] if row["verdicts"] for m in row["verdicts"]["mismatches"]]
    if bad:
        lines += ["", "Disagreements:", *[f"- {m}" for m in bad[:50]]]
    odd = [m for row in report["sizes"] for m in row["expected_mismatches"]]
    if odd:
        lines += ["", "Students who did not lose exactly what their submission should lose:",
                  *[f"- {m}" for m in odd[:50]]]
    if report.get("issue12"):
        lines += issue12_markdown(report)
    lat = report.get("student_latency")
    if lat:
        lines += ["", "Student side:", "",
                  "| what | wall (s) | outcome |", "|---|---:|---|",
                  f"| `nbgrader validate` on the release | {lat['validate_release']['seconds']:.1f} | "
                  f"{lat['validate_release']['verdict']} |",
                  f"| `nbgrader validate` on a completed notebook | "
                  f"{lat['validate_completed']['seconds']:.1f} | {lat['validate_completed']['verdict']} |",
                  f"| whole completed notebook with nbclient (kernel start included) | "
                  f"{lat['completed_notebook']['whole_notebook_seconds']:.1f} | |"]
        examples = {k: v for k, v in lat["completed_notebook"]["cells"].items() if k.startswith("example_")}
        hidden = lat["source_notebook"]["cells"]
        lines += ["", "| function | example cell (s) | visible test cell (s) | hidden test cell (s) |",
                  "|---|---:|---:|---:|"]
        visible = lat["completed_notebook"]["cells"]
        for function in assignment.FUNCTIONS:
            lines.append(f"| {function} | {_num(examples.get('example_' + function), '.3f')} | "
                         f"{_num(visible.get('test_' + function), '.3f')} | "
                         f"{_num(hidden.get('test_' + function), '.3f')} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench_grading.py", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="20,200,2000", help="class sizes, comma separated (default 20,200,2000)")
    p.add_argument("--nbgrader-max", type=int, default=200,
                   help="largest class graded with nbgrader; larger ones are extrapolated (default 200)")
    p.add_argument("--jobs", type=int, default=None,
                   help="--jobs of the batch grader (default: its own default, the number of cores)")
    p.add_argument("--time-budget", type=float, default=600.0,
                   help="do not run the batch grader on a size whose estimated time is above this "
                        "many seconds; extrapolate instead (default 600; nbgrader is capped by "
                        "--nbgrader-max)")
    p.add_argument("--out", type=Path, default=None,
                   help="write the figures as JSON to PATH.json and the markdown report to PATH.md "
                        "(PATH is taken without its suffix when it ends in .json or .md)")
    p.add_argument("--work", type=Path, default=None, help="scratch directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--no-student-latency", action="store_true", help="skip the student-side measurements")
    p.add_argument("--mix", type=int, default=300,
                   help="size of the first-round class of issue 12 (1 correct, 19 buggy in turn); "
                        "0 skips it (default 300)")
    p.add_argument("--mix-nbgrader", type=int, default=20,
                   help="how many of the first-round class nbgrader autograde grades too, for the "
                        "speed ratio and verdict agreement (default 20; 0 skips)")
    p.add_argument("--startup-runs", type=int, default=3,
                   help="warm start-ups measured after the cold one, with and without the gradebook "
                        "(default 3; 0 skips the start-up measurement)")
    p.add_argument("--floor-repeats", type=int, default=200,
                   help="runs of the floor measurement (default 200)")
    a = p.parse_args(argv)
    a.sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    if not a.sizes or min(a.sizes) < 1:
        p.error("--sizes needs positive integers")
    return a


def code_state():
    """Which grader was measured: the commit, and a digest of autograder/**/*.py as it is on disk
    (the working tree may hold changes that are not committed)."""
    import hashlib
    import subprocess
    h = hashlib.sha256()
    for path in sorted((ROOT / "autograder").rglob("*.py")):  # every subpackage too
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "autograder"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip() != ""
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {"commit": commit, "autograder_uncommitted_changes": dirty,
            "autograder_sha256": h.hexdigest()[:16]}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    jobs = args.jobs or os.cpu_count() or 1
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-grading-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    KEEP[0] = args.keep
    # the batch grader's case cache: the benchmark's own, so the first start is cold
    ENV[CACHE_ENV] = str(work / "case-cache")
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": " ".join(["python", "benchmarks/bench_grading.py",
                                   *(sys.argv[1:] if argv is None else argv)]),
              "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "code": code_state(), "load_average_at_start": list(os.getloadavg()),
              "jobs": jobs, "nbgrader_max": args.nbgrader_max, "time_budget": args.time_budget,
              "isolation": None, "sizes": []}
    try:
        say(f"scratch directory {work}")
        try:  # nbgrader_config.py runs notebooks in the kit's resource-limited kernel
            from autograder.course import kernel as limited_kernel
        except ImportError:
            pass
        else:
            limited_kernel.install()
        template = template_course(work)

        say("startup: both graders on an empty class")
        empty_ours = course_with(template, work / "empty" / "ours")
        r = run_ours(empty_ours, work / "empty" / "ours-out", jobs, logs, "ours-empty")
        report["isolation"] = isolation_of(r)
        empty_nb = course_with(template, work / "empty" / "nbgrader")
        rn = run_nbgrader(empty_nb, logs, "nbgrader-empty", empty=True)
        report["startup"] = {"ours": {"seconds": round(r.seconds, 2)},
                             "nbgrader": {"seconds": round(rn.seconds, 2)}}
        models = {"ours": {"startup": r.seconds}, "nbgrader": {"startup": rn.seconds}}

        for n in args.sizes:
            size_dir = work / f"n{n}"
            students = mix.write(size_dir / "submitted", template / "release" / NAME / f"{NAME}.ipynb", n)
            row = {"n": n, "verdicts": None, "expected_mismatches": []}
            results = {}
            for key in ("ours", "nbgrader"):
                guess = estimate(models[key], n)
                too_long = key == "ours" and guess is not None and guess > args.time_budget
                if key == "nbgrader" and n > args.nbgrader_max:
                    reason = f"above --nbgrader-max {args.nbgrader_max}"
                elif too_long:
                    reason = f"estimated {guess:.0f} s > --time-budget {args.time_budget:g} s"
                else:
                    reason = None
                if reason:
                    say(f"N={n}: {key} not run ({reason}); extrapolated")
                    row[key] = figures(n, model=models[key])
                    row[key]["why_extrapolated"] = reason
                    continue
                say(f"N={n}: {key} ..." + (f" (estimate {guess:.0f} s)" if guess else ""))
                course = course_with(template, size_dir / key, size_dir / "submitted")
                if key == "ours":
                    result = run_ours(course, size_dir / "ours-out", jobs, logs, f"ours-{n}")
                    results[key] = ours_scores(size_dir / "ours-out")
                else:
                    result = run_nbgrader(course, logs, f"nbgrader-{n}")
                    results[key] = nbgrader_scores(course, students)
                    row["nbgrader_could_not_process"] = nbgrader_failures(result)
                update_model(models[key], n, result.seconds)
                row[key] = figures(n, result)
                say(f"N={n}: {key} {result.seconds:.1f} s, peak RSS {result.peak_rss_bytes / 2**20:.0f} MiB")
            if "ours" in results and "nbgrader" in results:
                v = check_verdicts(students, results["ours"], results["nbgrader"])
                row["verdicts"] = {k: v[k] for k in ("compared", "agree", "mismatches")}
                row["expected_mismatches"] = v["expected_mismatches"]
            elif "ours" in results:
                row["expected_mismatches"] = check_expected(students, results["ours"])
            speeds = [row[k]["submissions_per_second"] for k in ("ours", "nbgrader")]
            row["speed_ratio"] = round(speeds[0] / speeds[1], 2) if None not in speeds else None
            report["sizes"].append(row)
            if not args.keep:
                shutil.rmtree(size_dir, ignore_errors=True)
        report["issue12"] = {}
        say("floor: the reference alone on all cases of one submission")
        report["issue12"]["floor"] = measure_floor(args.floor_repeats)
        if args.startup_runs:
            say("start-up: cold and warm, with and without the gradebook")
            report["issue12"]["startup"] = measure_startup(template, work, jobs, args.startup_runs)
        if args.mix:
            warm = report["issue12"].get("startup", {}).get("gradebook", {}).get(
                "warm_best_seconds", report["startup"]["ours"]["seconds"])
            row = run_mix(template, work, jobs, args.mix, min(args.mix_nbgrader, args.mix), logs, warm)
            row["nbgrader_n"] = min(args.mix_nbgrader, args.mix)
            report["issue12"]["mix"] = row
        report["models"] = {k: {"startup_seconds": round(m["startup"], 2),
                                "per_submission_seconds": round(m.get("per_submission", 0.0), 4),
                                "from_n": m.get("from_n")} for k, m in models.items()}
        if not args.no_student_latency:
            say("student side: nbgrader validate and cell timings")
            report["student_latency"] = student_latency(template, work)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["load_average_at_end"] = list(os.getloadavg())
    if "issue12" in report:
        report["issue12"]["summary"] = issue12_summary(report)
    text = markdown(report)
    print(text)
    if args.out:
        json_path = args.out.with_suffix(".json") if args.out.suffix == ".md" else args.out
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        json_path.with_suffix(".md").write_text(text)
    disagree = any(row["verdicts"] and not row["verdicts"]["agree"] for row in report["sizes"])
    mix_row = report.get("issue12", {}).get("mix") or {}
    disagree |= bool(mix_row.get("verdicts") and not mix_row["verdicts"]["agree"])
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
