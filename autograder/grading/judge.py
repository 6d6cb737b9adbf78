"""Judge: turn one submission's observations into its results entry.

verdict.judge compares each function's observations with the reference and diagnoses
failures; this stage remembers verdicts of identical observations, guards each function
(an error inside the judge costs that function only), and cleans every text that goes
into results.json.  It never runs student code.
"""
import hashlib

import numpy as np

from .. import assignment
from . import untrusted, verdict
from .faults import grader_fault_text


_JUDGED = {}  # (function, digest of its observations) -> FunctionResult
JUDGED_MAX = 4096


def _judge(function, obs):
    """verdict.judge(function, obs), remembered by the exact observations: students who
    hand in the same solution (or make the same mistake) return bit-identical results,
    and their verdict is worked out once.

    Guarded: an error inside the judge costs this function only, with a message saying
    that the grader failed (never raises)."""
    try:
        # Observations from the sandbox carry a token that determines them (runner._token):
        # no need to read them.  A token is a tuple, a digest bytes: the two never meet.
        token = getattr(obs, "token", None)
        key = (function, _digest(obs) if token is None else token)
        found = _JUDGED.get(key)
        if found is None:
            found = verdict.judge(function, obs)
            if len(_JUDGED) >= JUDGED_MAX:
                _JUDGED.clear()
            _JUDGED[key] = found
        return found
    except Exception as error:  # noqa: BLE001 -- one function, not the batch
        return verdict.FunctionResult(function, 0.0, assignment.points()[function], False,
                                      ["GRADER_FAULT"],
                                      grader_fault_text(f"judging {function}", error))


MESSAGE_CHARS = 8000  # longest text kept in a results entry


def clean_entry(entry, depth=0):
    """A copy of a results entry in which every text encodes to UTF-8 and JSON (lone
    surrogates written out), is at most MESSAGE_CHARS long and names no host path (the
    interpreter's build prefix, readable in any Python's sysconfig, say).  Never raises."""
    if isinstance(entry, str):
        return untrusted.without_host_paths(untrusted.json_text(entry, MESSAGE_CHARS))
    if depth > 6:
        return None
    if isinstance(entry, dict):
        return {untrusted.json_text(k, MESSAGE_CHARS): clean_entry(v, depth + 1) for k, v in entry.items()}
    if isinstance(entry, (list, tuple)):
        return [clean_entry(v, depth + 1) for v in entry]
    if entry is None or isinstance(entry, (bool, int, float)):
        return entry
    return untrusted.json_text(entry, MESSAGE_CHARS)


def _digest(obs):
    """A digest of observations (text, and arrays with their dtype and shape).  The child's
    observations are untrusted, so two different ones must never make the same byte
    stream: a header, the repr of a list of (key, text) and (key, dtype, shape, contiguous)
    entries, which can be read back unambiguously, goes first with its length, then the
    bytes of each contiguous array in the header's order, whose lengths the header fixes."""
    head, arrays = [], []
    for key in sorted(obs):
        value = obs[key]
        if isinstance(value, np.ndarray):
            # an array that is not contiguous is screen()'s zero stand-in: its dtype and
            # shape say all, and its numbers are never made
            contiguous = value.flags.c_contiguous
            head.append((key, value.dtype.str, value.shape, contiguous))
            if contiguous:
                arrays.append(value)
        else:
            head.append((key, str(value)))
    header = repr(head).encode(errors="surrogatepass")
    h = hashlib.blake2b(len(header).to_bytes(8, "little"), digest_size=20)
    h.update(header)
    for value in arrays:
        h.update(value)  # its buffer: no copy
    return h.digest()


def judge_submission(sources, problems, observations):
    """The results.json entry of one student."""
    functions = {}
    pts = assignment.points()
    for name in assignment.FUNCTIONS:
        if name in problems:
            functions[name] = verdict.FunctionResult(
                name, 0.0, pts[name], False, ["CELL_MISSING"],
                untrusted.json_text(problems[name], MESSAGE_CHARS)).as_dict()
        else:
            functions[name] = _judge(name, observations[name]).as_dict()
    return {"total": float(sum(f["score"] for f in functions.values())),
            "max": float(sum(pts.values())), "error": None, "functions": functions}


def error_entry(message):
    return {"total": 0.0, "max": float(sum(assignment.points().values())), "error": message,
            "functions": {}}


def grade_one(runner, sources, problems, error):
    """The results entry of one loaded submission; never raises for a bad submission."""
    if error is not None:
        return error_entry(error)
    observations = runner.observe(sources) if sources else {}
    return judge_submission(sources, problems, observations)
