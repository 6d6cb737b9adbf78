"""Profile the sandbox's side of grading one submission, in one process and without forks.

    python benchmarks/profile_sandbox.py [--n 40] [--top 25]

The batch grader's children run each submission's units (one function, one run: "oracle"
or "own") in forked processes inside bubblewrap, where a profiler cannot follow them, and
whose CPU time /usr/bin/time does not see (they are reaped inside their own pid
namespaces).  This script runs the same units in this process: the fork server's
_compute for each unit, the stand-in answered by a real oracle process over its socket,
the "own" runs chosen by runner.own_runs, as in the batch.  It writes the first-round
mix of issue 12 (benchmarks/mix.first_round_kinds) for n students and prints the CPU
milliseconds a submission (time.process_time: this process only, so the oracle
process's share is not counted), then the same under cProfile with the costliest
functions.  What the forks, the namespaces and the kernel cost is not in it: measure
those with `perf record -a -g` around the grade command (see benchmarks/README.md).

Each submission is judged from the observations made here, and the script exits 1 if a
submission is not judged as the mix says it must be (the reference passes everything,
each buggy notebook loses what it was written to lose), so the units it measures are the
real ones.  Nothing about time is asserted.
"""
import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder import assignment  # noqa: E402
from autograder.grading import judge, submissions  # noqa: E402
from autograder.grading.runner import own_runs, write_payloads  # noqa: E402
from autograder.grading.settings import parse_args  # noqa: E402
from autograder.sandbox import engine  # noqa: E402
from autograder.sandbox import forkserver  # noqa: E402
from benchmarks import mix  # noqa: E402

NAME = assignment.ASSIGNMENT
TIMEOUT = 5.0


def run_units(sources, payloads, payload_dir, workdir, control):
    """{function: observations} of one submission: every "oracle" run, then the "own" runs
    that ForkServer.run would ask for, each unit as the fork server's child computes it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    socket.send_fds(control, [b"c"], [ours.fileno()])  # the oracle process serves this job
    ours.close()
    job = {"dependencies": assignment.DEPENDS_ON, "setup": assignment.setup_source(), "sources": sources}
    ctx = {"mode": "plain", "child_id": None, "timeout": TIMEOUT, "budget": 8 * TIMEOUT + 10,
           "job": job, "payloads": payloads, "workdir": str(workdir), "payload_dir": str(payload_dir),
           "cwd": str(workdir), "oracle_fd": theirs.fileno()}
    remote = engine.remote_oracle(forkserver._ask(theirs))
    try:
        engine.precompile(job["setup"], job["sources"])
        results = {f: {} for f in assignment.FUNCTIONS}
        for function in assignment.FUNCTIONS:
            results[function].update(forkserver._compute(ctx, function, "oracle", remote))
        for function, run in own_runs(results):
            results[function].update(forkserver._compute(ctx, function, run, remote))
        return results
    finally:
        theirs.close()
        engine._COMPILED.clear()
        engine._SLOW_CELLS.clear()


@contextlib.contextmanager
def server_modules():
    """sys.modules cut down, for the time of the units, to the modules a fork server has
    (python -I -S, asked now).  The engine checks after each piece of student code that
    no module was swapped (engine._restore), at a cost that grows with sys.modules: this
    script has imported nbformat, the grader and more, which the fork server never does."""
    argv = [sys.executable, "-I", "-S", "-c",
            "import sys; sys.path[:0] = sys.argv[1:]; from autograder.sandbox import forkserver; "
            "print(chr(10).join(sys.modules))", str(ROOT), *[p for p in sys.path if "site-packages" in p]]
    names = set(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())
    everything = dict(sys.modules)
    guarded = next(saved for live, saved in engine._GUARDED if live is sys.modules)
    sys.modules.clear()
    sys.modules.update({k: v for k, v in everything.items() if k in names})
    guarded.clear()
    guarded.update(sys.modules)
    try:
        yield
    finally:
        sys.modules.update(everything)
        guarded.clear()
        guarded.update(sys.modules)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=40, help="students (default 40)")
    p.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="profile-sandbox-"))
    old_cwd = os.getcwd()
    try:
        submitted = work / "submitted"
        students = mix.write(submitted, ROOT / "release" / NAME / f"{NAME}.ipynb", a.n,
                             mix.first_round_kinds())  # {student id: Kind}
        expected = {student: kind.failing for student, kind in students.items()}
        settings = parse_args([str(submitted), "--out", str(work / "out"), "--jobs", "1",
                               "--no-gradebook", "--no-progress"])
        payload_dir = work / "payloads"
        payload_dir.mkdir()
        write_payloads(payload_dir, settings.case_cache)
        payloads = forkserver.load_payloads(payload_dir)
        oracle_pid, control = forkserver._start_oracle(str(payload_dir))
        loaded = [submissions.load_submission(settings, submitted / s / NAME) for s in students]
        jobdir = work / "job"
        jobdir.mkdir()
        os.chdir(jobdir)  # the units write their results files in the current folder

        def every(profiler=None):
            with server_modules():
                started = time.process_time()
                if profiler is not None:
                    profiler.enable()
                observed = [run_units(item[1], payloads, payload_dir, jobdir, control) for item in loaded]
                if profiler is not None:
                    profiler.disable()
                return observed, time.process_time() - started

        observed, seconds = every()
        wrong = []
        for student, item, obs in zip(students, loaded, observed):
            entry = judge.judge_submission(item[1], item[2], obs)
            lost = frozenset(f for f, r in entry["functions"].items() if not r["passed"])
            if lost != expected[student]:
                wrong.append(f"{student}: lost {sorted(lost)}, expected {sorted(expected[student])}")
        print(f"{a.n} submissions of the first-round mix: {1000 * seconds / a.n:.1f} ms of CPU a "
              f"submission for its units, in this process (the oracle process not counted)")
        profiler = cProfile.Profile(time.process_time)
        _, profiled = every(profiler)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(a.top)
        print(f"\nunder cProfile ({1000 * profiled / a.n:.1f} ms a submission, inflated by the "
              f"profiler), by own time:")
        lines = text.getvalue().splitlines()
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        print("\n".join(ln for ln in lines[start:] if ln.strip()))
        control.close()
        os.waitpid(oracle_pid, 0)
        if wrong:
            print("\nnot judged as the mix says (the units measured are not the real ones):\n  "
                  + "\n  ".join(wrong), file=sys.stderr)
            return 1
        return 0
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
