"""What the sandboxed children of the batch grader load: case payloads and the timer.

The fork server (autograder/sandbox/forkserver.py) imports this before any student
code runs.  A child never sees the reference, the expected results or the
oracle's answers: the payload of a function holds only its case inputs, and
the answers of the oracle (the reference's results of the calls a correct loop
makes) are in a separate file that only the oracle process reads.  Payloads
are npz files read without pickle.

The timer is cooperative: it stops most runaway functions early with a clear
TimeoutError; the fork server's wall-clock kill is the real bound.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.setrecursionlimit(3000)

from autograder.sandbox import engine, structure  # noqa: E402


class FunctionTimeout(engine.Interrupt):
    pass


def _on_alarm(signum, frame):
    raise FunctionTimeout("the function ran longer than the time limit")


def load_payload(path):
    """[(args, None, dependency parameter names)] of one function, from its npz payload: the
    case inputs only.  The oracle's answers are in a file of their own (load_calls) that
    only the oracle process reads."""
    flat = structure.load(path)
    params = tuple(json.loads(str(flat["params#"])))
    return [(structure.unflatten(flat, f"c{i}.args"), None, params)
            for i in range(int(flat["count#"]))]


def load_calls(path):
    """[calls of each case] of one function, from its .calls.npz: [(args, result, aliases)]."""
    flat = structure.load(path)
    out = []
    for i in range(int(flat["count#"])):
        aliases = json.loads(str(flat[f"c{i}.aliases#"]))
        out.append([(a, r, [(tuple(path), index) for path, index in alias])
                    for (a, r), alias in zip(structure.unflatten(flat, f"c{i}.calls"), aliases)])
    return out
