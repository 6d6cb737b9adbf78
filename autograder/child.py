"""What the sandboxed children of the batch grader load: case payloads and the timer.

The fork server (autograder/forkserver.py) imports this before any student
code runs.  A child never sees the reference or the expected results: the
payload of a function holds only its case inputs and, for a loop function,
the answers of the oracle (autograder.engine.make_oracle).  Payloads are npz
files read without pickle.

The timer is cooperative: it stops most runaway functions early with a clear
TimeoutError; the fork server's wall-clock kill is the real bound.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.setrecursionlimit(3000)

from autograder import engine, structure  # noqa: E402


class FunctionTimeout(engine.Interrupt):
    pass


def _on_alarm(signum, frame):
    raise FunctionTimeout("the function ran longer than the time limit")


def load_payload(path):
    """[(args, calls, dependency parameter names)] of one function, from its npz payload."""
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
