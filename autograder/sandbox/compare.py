"""Compare a function's results with the reference's, and say where they differ.

Both sides are flattened (autograder.sandbox.structure), so the same code compares
results inside the notebook kernel and results sent back by a sandboxed child.
"""
import functools
from dataclasses import dataclass

import numpy as np

import rnn_utils

# Tolerances of every comparison, stated once: |got - expected| <= ATOL + RTOL * |expected|.
RTOL = 1e-5
ATOL = 1e-7

# Bound at import, before any student code runs: a student cell that replaces
# np.allclose (say) in the child cannot change what the oracle accepts.
_allclose, _isfinite, _all, _abs = np.allclose, np.isfinite, np.all, np.abs
_concatenate, _errstate, _ndarray = np.concatenate, np.errstate, np.ndarray
# ... and so are the builtins the oracle's check uses (a student's loop calls the oracle
# while its own patches of builtins are still in place).
_str, _bool, _type, _map, _every = str, bool, type, map, all

_RNN_CACHE = ("a_next", "a_prev", "xt", "parameters")
_LSTM_CACHE = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt", "parameters")


@dataclass
class Difference:
    path: str              # flattened path, e.g. "out[2][0][3]"
    label: str             # how a student reads it, e.g. "caches[0][3] (a_prev of step 3)"
    kind: str              # missing | type | shape | not finite | value
    expected: str = ""
    got: str = ""
    max_error: float = 0.0
    where: tuple = ()

    def message(self):
        if self.kind == "value":
            where = "[" + ", ".join(map(str, self.where)) + "]"
            return (f"{self.label} is wrong: largest error {self.max_error:.3g} at index {where} "
                    f"(expected {self.expected}, got {self.got})")
        if self.kind == "shape":
            return f"{self.label} has shape {self.got}, expected {self.expected}"
        if self.kind == "missing":
            return f"{self.label} is missing"
        if self.kind == "not finite":
            return f"{self.label} contains NaN or inf"
        return f"{self.label} should be {self.expected}, got {self.got}"


def _indices(path):
    """'out[2][0]['Wax']' -> [2, 0, 'Wax']"""
    import ast
    if "[" not in path:
        return []
    return [ast.literal_eval(part) for part in path[path.index("[") + 1:-1].split("][")]


@functools.lru_cache(maxsize=4096)
def label(function, path):
    """Name a flattened path the way the notebook names things (the same paths come back
    from student to student: named once)."""
    idx = _indices(path)
    if not idx:
        return "the result"
    cache_names = _LSTM_CACHE if function.startswith("lstm") else _RNN_CACHE
    if function in rnn_utils.GRADIENT_KEYS:
        return f'gradients["{idx[0]}"]' + "".join(f"[{i!r}]" for i in idx[1:])
    names = rnn_utils.OUTPUT_NAMES[function]
    head = names[idx[0]] if isinstance(idx[0], int) and idx[0] < len(names) else f"result[{idx[0]!r}]"
    rest = idx[1:]
    text = head + "".join(f"[{i!r}]" for i in rest)
    if head == "cache" and rest and isinstance(rest[0], int) and rest[0] < len(cache_names):
        text += f" ({cache_names[rest[0]]})"
    if head == "caches" and len(rest) >= 3 and rest[0] == 0 and isinstance(rest[2], int) \
            and rest[2] < len(cache_names):
        text += f" ({cache_names[rest[2]]} in the cache of step {rest[1]})"
    return text


def _short(marker):
    m = str(marker)
    if m.startswith("dict:"):
        return "a dict with keys " + ", ".join(__import__("json").loads(m[5:]))
    if m.startswith(("tuple:", "list:")):
        kind, n = m.split(":")
        return f"a {kind} of length {n}"
    return {"ndarray": "a numpy array", "scalar": "a number"}.get(m, m)


def _agrees(expected, got, rtol, atol):
    """The fast path of compare(): True when every marker is the same and every array agrees
    (the same test as _compare_arrays, made once on all the numbers together)."""
    wants, haves = [], []
    for key, want in expected.items():
        have = got.get(key)
        if have is None:
            return False
        if key.endswith("#"):
            if _str(want) != _str(have):
                return False
        elif _type(have) is not _ndarray or want.shape != have.shape:
            return False
        else:
            wants.append(want.ravel())
            haves.append(have.ravel())
    if not wants:
        return True
    if _all_finite(expected, wants) and \
            _every(_map(_same_bits, wants, haves)):
        return True  # the same bits as a finite expected result (a correct loop's calls)
    want, have = _concatenate(wants).astype(float), _concatenate(haves).astype(float)
    with _errstate(all="ignore"):
        return _bool(_all(_isfinite(have)) and _all(_abs(have - want) <= atol + rtol * _abs(want)))


def _same_bits(want, have):
    """Are two arrays the same bits (dtype and bytes)?  Equal then, whatever the tolerance."""
    return want.dtype == have.dtype and want.tobytes() == have.tobytes()


_FINITE = {}  # id(expected) -> (expected, are all its arrays finite?)


def _all_finite(expected, wants):
    """Are all the arrays of `expected` finite?  Worked out once per expected dict (the
    oracle's recorded calls and the reference's results are made once and kept)."""
    hit = _FINITE.get(id(expected))
    if hit is None or hit[0] is not expected:
        if len(_FINITE) > 4096:
            _FINITE.clear()
        hit = _FINITE[id(expected)] = (expected, _bool(_all(_isfinite(_concatenate(wants)))))
    return hit[1]


def compare(function, expected, got, rtol=RTOL, atol=ATOL):
    """All differences between two flattened results, in path order."""
    if _agrees(expected, got, rtol, atol):
        return []
    diffs = []
    skip = ()
    for key in expected:
        if not key.endswith("#"):
            continue
        path = key[:-1]
        if skip and path.startswith(skip):
            continue
        if key not in got:
            diffs.append(Difference(path, label(function, path), "missing"))
            skip += (path,)
            continue
        want, have = str(expected[key]), str(got[key])
        if want != have:
            if want.startswith("dict:") and have.startswith("dict:"):
                import json
                missing = sorted(set(json.loads(want[5:])) - set(json.loads(have[5:])))
                if missing:
                    diffs.append(Difference(path, label(function, path), "type", _short(want),
                                            "no key " + ", ".join(map(repr, missing))))
                    skip += (path,)
                continue  # extra keys are allowed
            diffs.append(Difference(path, label(function, path), "type", _short(want), _short(have)))
            skip += (path,)
            continue
        if want in ("ndarray", "scalar"):
            d = _compare_arrays(function, path, expected[path], got[path], rtol, atol)
            if d:
                diffs.append(d)
    return diffs


def _compare_arrays(function, path, want, have, rtol, atol):
    if want.shape != have.shape:
        return Difference(path, label(function, path), "shape", str(want.shape), str(have.shape))
    same = _same_bits(want, have)  # then close, once finite: cheaper than allclose
    have = have.astype(float)
    if not _isfinite(have).all():
        return Difference(path, label(function, path), "not finite")
    if same or _allclose(have, want, rtol=rtol, atol=atol):
        return None
    name = label(function, path)
    err = _abs(have - want)
    where = np.unravel_index(int(np.argmax(err - rtol * np.abs(want))), want.shape) if want.ndim else ()
    return Difference(path, name, "value", f"{float(want[where]):.6g}", f"{float(have[where]):.6g}",
                      float(err[where]), tuple(int(i) for i in where))


def matches(expected, got, rtol=RTOL, atol=ATOL):
    """True when two flattened results agree everywhere (what compare() finds nothing in),
    and neither has a key the other lacks."""
    return expected.keys() == got.keys() and _agrees(expected, got, rtol, atol)
