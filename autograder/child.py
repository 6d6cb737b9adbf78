"""The child process of the batch grader: runs one submission's functions, only computes.

    python -I child.py JOB_DIR

JOB_DIR/job.json names the functions to run, the setup cell, the student's
cell sources and where the case payloads are (npz, read without pickle).
For each function the child writes JOB_DIR/out_<function>.npz (atomically)
with the observations of autograder.engine, and nothing else.  It never
sees the reference or the expected results: the parent judges.

A cooperative per-function timer stops most runaway functions early; the
parent's wall-clock limit is the real bound.
"""
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.setrecursionlimit(3000)

import numpy as np  # noqa: E402

from autograder import engine, structure  # noqa: E402


class FunctionTimeout(engine.Interrupt):
    pass


def _on_alarm(signum, frame):
    raise FunctionTimeout("the function ran longer than the time limit")


def load_payload(path):
    flat = structure.load(path)
    params = tuple(json.loads(str(flat["params#"])))
    cases = []
    for i in range(int(flat["count#"])):
        args = structure.unflatten(flat, f"c{i}.args")
        aliases = json.loads(str(flat[f"c{i}.aliases#"]))
        calls = [(a, r, [(tuple(path), index) for path, index in alias])
                 for (a, r), alias in zip(structure.unflatten(flat, f"c{i}.calls"), aliases)]
        cases.append((args, calls, params))
    return cases


def run(job_dir):
    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text())
    signal.signal(signal.SIGALRM, _on_alarm)
    for function in job["functions"]:
        (job_dir / "progress").write_text(function)
        cases = load_payload(Path(job["payload_dir"]) / f"{function}.npz")
        signal.setitimer(signal.ITIMER_REAL, float(job["timeout"]))
        try:
            obs = engine.observe(function, job["dependencies"].get(function), job["setup"],
                                 job["sources"], cases)
        except FunctionTimeout as error:
            obs = {"c0/oracle/error#": f"TimeoutError: {error}"}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        tmp = job_dir / f".out_{function}.tmp.npz"
        structure.save(tmp, obs)
        os.replace(tmp, job_dir / f"out_{function}.npz")
    (job_dir / "progress").write_text("done")


if __name__ == "__main__":
    run(sys.argv[1])
