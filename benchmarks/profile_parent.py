"""Profile the parent's side of grading one submission, stage by stage.

    python benchmarks/profile_parent.py [--n 100] [--course DIR] [--top 12] [--out PATH]

It writes the first-round mix of issue 12 (benchmarks/mix.first_round_kinds) for n
students, runs each once in the sandbox (one slot) to collect the observations, and then
times, in this one thread and in CPU seconds (time.process_time, so that other load on
the machine matters less), every stage the parent runs for a submission:

    read        submissions.load_submission (the notebook file to cell sources)
    observe     Runner.observe: the parent's share of the sandbox round trip (CPU only;
                the children's own time is not counted)
    judge       judge.judge_submission with the verdict memo emptied first (every
                submission judged as if new), and again with the memo as a batch keeps it
    journal     Journal.put
    gradebook   gradebook.GradebookWriter.write (with --course: a course in which
                `nbgrader generate_assignment` has run)
    report      report.write_outputs for the whole class (feedback pages, CSV, report)

and prints, per stage, milliseconds per submission and the functions that cost the most
(cProfile, CPU time).  Nothing is asserted: it is a measuring tool.
"""
import argparse
import cProfile
import io
import json
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder import assignment  # noqa: E402
from autograder.grading import judge, report, submissions, verdict  # noqa: E402
from autograder.grading.journal import Journal  # noqa: E402
from autograder.grading.runner import Runner, write_payloads  # noqa: E402
from autograder.grading.settings import parse_args  # noqa: E402
from benchmarks import mix  # noqa: E402

NAME = assignment.ASSIGNMENT


def stage(name, function, items, top, results):
    """Run function(item) for every item under cProfile (CPU time); record ms per item."""
    profiler = cProfile.Profile(time.process_time)
    started = time.process_time()
    profiler.enable()
    out = [function(item) for item in items]
    profiler.disable()
    seconds = time.process_time() - started
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip() and ("(" in ln or "ncalls" in ln)]
    results[name] = {"ms_per_submission": round(1000 * seconds / max(len(items), 1), 3),
                     "cpu_seconds": round(seconds, 4), "top": lines[-(top + 1):]}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100, help="students (default 100)")
    p.add_argument("--course", type=Path, default=None,
                   help="a course with a gradebook (nbgrader generate_assignment done) to profile "
                        "the gradebook writes; without it that stage is skipped")
    p.add_argument("--top", type=int, default=12, help="functions listed per stage (default 12)")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="profile-parent-"))
    try:
        submitted = work / "submitted"
        students = mix.write(submitted, ROOT / "release" / NAME / f"{NAME}.ipynb", a.n,
                             mix.first_round_kinds())
        settings = parse_args([str(submitted), "--out", str(work / "out"), "--jobs", "1",
                                      "--no-gradebook", "--no-progress"])
        payloads = work / "payloads"
        payloads.mkdir(mode=0o755)
        write_payloads(payloads, settings.case_cache)
        for f in payloads.iterdir():
            f.chmod(0o644)
        results = {}
        folders = [submitted / s / NAME for s in students]
        loaded = stage("read", lambda folder: submissions.load_submission(settings, folder),
                       folders, a.top, results)
        unread = [s for s, item in zip(students, loaded) if item[3] is not None]
        if unread:  # every notebook of the mix is readable: else the stages measure nothing
            raise SystemExit(f"error: {len(unread)} notebooks of the mix were not read "
                             f"({unread[0]}: {loaded[students.index(unread[0])][3]})")
        runner = Runner(settings, payloads)
        try:
            runner.observe(loaded[0][1])  # start the fork server outside the measurement
            observed = stage("observe", lambda item: runner.observe(item[1]), loaded, a.top, results)
        finally:
            runner.close()

        def judge_new(i):
            judge._JUDGED.clear()
            return judge.judge_submission(loaded[i][1], loaded[i][2], observed[i])
        stage("judge (memo emptied)", judge_new, range(len(loaded)), a.top, results)
        judge._JUDGED.clear()
        entries = stage("judge (batch memo)",
                        lambda i: judge.judge_submission(loaded[i][1], loaded[i][2], observed[i]),
                        range(len(loaded)), a.top, results)
        journal = Journal(work / "out")
        names = list(students)
        stage("journal", lambda i: journal.put(names[i], loaded[i][0], entries[i]),
              range(len(names)), a.top, results)
        if a.course:
            from autograder.grading import gradebook
            db = work / "gradebook.db"
            shutil.copyfile(a.course / "gradebook.db", db)
            writer = gradebook.GradebookWriter(a.course, f"sqlite:///{db}", NAME)
            try:
                stage("gradebook", lambda i: writer.write(names[i], entries[i]), range(len(names)),
                      a.top, results)
            finally:
                writer.close()
        everyone = {"assignment": NAME, "isolation": "profile",
                    "students": dict(zip(names, entries)), "not_graded": []}
        stage("report (whole class)", lambda r: report.write_outputs(r, work / "out"), [everyone],
              a.top, results)
        results["report (whole class)"]["ms_per_submission"] = round(
            results["report (whole class)"]["cpu_seconds"] * 1000 / len(names), 3)
        for name, r in results.items():
            print(f"\n== {name}: {r['ms_per_submission']:.3f} ms CPU a submission "
                  f"({r['cpu_seconds']:.3f} s for {a.n})")
            print("\n".join(r["top"]))
        if a.out:
            a.out.write_text(json.dumps({"n": a.n, "stages": results}, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
