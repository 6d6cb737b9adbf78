"""The case payloads that the sandboxed children read, made from the reference.

Per function, two npz files (autograder.sandbox.structure, read without pickle):
<function>.npz holds the cases' arguments, <function>.calls.npz the oracle's recorded calls
(the calls a correct loop makes to its cell function, with the reference's answers), which
only the oracle process of a fork server reads.  autograder.grading.casecache keeps their
bytes between batches.
"""
import json

import numpy as np

from ..sandbox import structure
from . import verdict


def make_payload(function):
    """The flat npz payloads of one function: (its cases' arguments, its oracle call tables)."""
    flat = {"params#": json.dumps(verdict.dependency_params(function))}
    payload = verdict.make_cases_payload(function)
    flat["count#"] = np.array(len(payload))
    calls_flat = {"count#": np.array(len(payload))}
    for i, (args, calls, _) in enumerate(payload):
        flat.update(structure.flatten(tuple(args), f"c{i}.args"))
        calls_flat.update(structure.flatten([(a, r) for a, r, _ in calls], f"c{i}.calls"))
        calls_flat[f"c{i}.aliases#"] = json.dumps([alias for _, _, alias in calls])
    return flat, calls_flat


def payload_bytes(function):
    """The bytes of one function's two npz payload files: (inputs, oracle calls)."""
    import io
    out = []
    for flat in make_payload(function):
        buffer = io.BytesIO()
        structure.save(buffer, flat)
        out.append(buffer.getvalue())
    return tuple(out)
