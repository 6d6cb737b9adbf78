"""Judge observations against the reference, and explain failures.

This is the trusted side: it never runs student code.  It runs only the
reference and the known-mistake variants (autograder.mistakes).
"""
import copy
import functools
import json
import re
import types
from dataclasses import dataclass, field

import numpy as np

from . import assignment, cases, mistakes, structure
from .compare import compare, matches


@dataclass
class FunctionResult:
    name: str
    score: float
    max: float
    passed: bool
    diagnosis: list = field(default_factory=list)
    message: str = ""

    def as_dict(self):
        return {"score": self.score, "max": self.max, "passed": self.passed,
                "diagnosis": list(self.diagnosis), "message": self.message}


@functools.lru_cache(maxsize=None)
def prepared(function):
    """The function's cases with inputs, reference results and recorded calls (computed once)."""
    return tuple(cases.prepare(c) for c in cases.cases_for(function))


@functools.lru_cache(maxsize=None)
def expected_flat(function):
    return tuple(structure.flatten(p.expected) for p in prepared(function))


def dependency_params(function):
    import inspect
    dep = assignment.DEPENDS_ON.get(function)
    return tuple(inspect.signature(assignment.reference(dep)).parameters) if dep else ()


def _by_case(obs):
    """{"c{i}/{mode}": {rest of the key: value}} of the observations of one function."""
    runs = {}
    for key, value in obs.items():
        head, _, rest = key.partition("/")
        mode, _, rest = rest.partition("/")
        if rest:
            runs.setdefault(f"{head}/{mode}", {})[rest] = value
    return runs


def _mode(obs, i, mode, runs):
    """(flat results or None, error text or None, mutated?) of one run.

    "c{i}/{mode}/error#" is an error of one case; "{mode}/error#" says that the
    whole run ended without results (a crash, a kill at the time limit).
    runs -- _by_case(obs), grouped once by the caller"""
    run = runs.get(f"c{i}/{mode}", {})
    if "error#" in run:
        return None, str(run["error#"]), False
    flat = {k: v for k, v in run.items() if k.startswith("out")}
    if not flat:
        whole = obs.get(f"{mode}/error#")
        return None, (None if whole is None else str(whole)), False
    return flat, None, "mutated#" in run


@functools.lru_cache(maxsize=None)
def _allowed(function):
    """Per case, {key: the shapes its array may have (None for a marker)} of every result
    the grader can judge: the reference's and those of each known mistake (a mistake may
    change the structure, e.g. caches overwritten by one cache)."""
    allowed = []
    for i, want in enumerate(expected_flat(function)):
        keys = {}
        flats = [want] + [_variant_result(function, i, m.code)[0]
                          for m in mistakes.for_function(function)]
        for flat in flats:
            for key, value in (flat or {}).items():
                if key.endswith("#"):
                    keys.setdefault(key, None)
                else:
                    keys.setdefault(key, set()).add(np.shape(value))
        allowed.append({k: (None if v is None else frozenset(v)) for k, v in keys.items()})
    return tuple(allowed)


_COUNT_MARKER = re.compile(r"(tuple|list):\d{1,6}")
SCREEN_TEXT_CHARS = 2000


def _marker_ok(marker):
    """Is a structure marker one the comparison can read (dict: needs a JSON list of str)?"""
    if marker.startswith(("tuple:", "list:")):
        return _COUNT_MARKER.fullmatch(marker) is not None
    if marker.startswith("dict:"):
        try:
            keys = json.loads(marker[5:])
        except (ValueError, RecursionError):
            return False
        return isinstance(keys, list) and all(isinstance(k, str) for k in keys)
    return True


@functools.lru_cache(maxsize=4096)
def _screened_marker(marker):
    """A marker as screen() keeps it (markers repeat from case to case: worked out once)."""
    from . import untrusted
    return untrusted.json_text(marker, SCREEN_TEXT_CHARS) if _marker_ok(marker) \
        else "a malformed structure marker"


def _stand_in(value):
    """An array of the same dtype and shape as `value` that holds no memory (zeros, every
    stride 0): enough to say "has shape (10**7,), expected (5, 10)"."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, value.dtype), value.shape,
                                           (0,) * value.ndim, writeable=False)


def screen(function, run, obs, copy=True):
    """The observations of one run of `function` that a child sent, cut down to what can be
    judged: only the keys of the expected per-case structure (those of the reference or
    of a known mistake) and the run's notes (error#, mutated#, random#); markers are
    text (cut, UTF-8 safe) and well formed; arrays of a shape that is never expected
    keep their shape but not their numbers.  copy -- copy the arrays kept, so that the
    child's results file can be let go (the caller may skip it for a small file).
    Never raises on any obs of str keys."""
    from . import untrusted
    allowed = _allowed(function)
    cases = {f"c{i}": i for i in range(len(allowed))}
    out = {}
    if run == "oracle" and isinstance(obs.get("random#"), str):
        out["random#"] = untrusted.json_text(obs["random#"], SCREEN_TEXT_CHARS)
    for key, value in obs.items():
        parts = key.split("/", 2)
        if len(parts) != 3 or parts[1] != run:
            continue
        i = cases.get(parts[0])
        if i is None:
            continue
        rest = parts[2]
        if rest in ("error#", "mutated#"):
            if isinstance(value, str):
                out[key] = untrusted.json_text(value, SCREEN_TEXT_CHARS)
            continue
        shapes = allowed[i].get(rest, False)
        if shapes is False:
            continue
        if shapes is None:
            if isinstance(value, str):
                out[key] = _screened_marker(value)
        elif type(value) is np.ndarray and value.dtype.kind in "biuf":
            if value.shape not in shapes:
                out[key] = _stand_in(value)
            else:
                out[key] = np.array(value) if copy else value
    for key, value in list(out.items()):  # a marker "ndarray" needs its numbers
        if key.endswith("#") and value in ("ndarray", "scalar") and key[:-1] not in out:
            out[key] = "an array marker without its numbers"
    return out


def judge(function, obs, points=None):
    """Turn the observations of one function into a FunctionResult."""
    points = assignment.points()[function] if points is None else points
    expected = expected_flat(function)
    case_list = [p.case for p in prepared(function)]
    own = assignment.DEPENDS_ON.get(function) and "own/skipped#" not in obs
    modes = ("oracle", "own") if own else ("oracle",)
    failures = []        # (case index, mode, diffs, error)
    own_failed = False
    mutated = False
    runs = _by_case(obs)
    for i, want in enumerate(expected):
        outcome = {}
        for mode in modes:
            flat, error, mut = _mode(obs, i, mode, runs)
            mutated |= mut
            if flat is None:
                outcome[mode] = ([], error or "no result was returned")
            else:
                outcome[mode] = (compare(function, want, flat), None)
        ok = {m: (not d and e is None) for m, (d, e) in outcome.items()}
        if not any(ok.values()):
            failures.append((i, outcome))
        elif "own" in ok and not ok["own"]:
            own_failed = True
    diagnosis, notes = [], []
    if mutated:
        diagnosis.append("MUTATES_INPUT")
        notes.append(f"{function} changes the arrays it was given; work on new arrays instead")
    if "random#" in obs:
        diagnosis.append("RANDOM_STATE")
        notes.append(f"{function} gives different results when the global random state changes: "
                     "it must not draw random numbers")
    if not failures:
        if own_failed:
            dep = assignment.DEPENDS_ON[function]
            diagnosis.append("INHERITS")
            notes.append(f"{function} itself is right; it went wrong only with your own {dep}, "
                         f"which is graded separately")
        message = "Passed all cases." + (" Note: " + " ".join(notes) if notes else "")
        return FunctionResult(function, points, points, True, diagnosis, message)

    i, outcome = failures[0]
    case = case_list[i]
    # the run to explain: with the correct dependency if it produced results
    mode = "oracle" if outcome["oracle"][1] is None or "own" not in outcome else "own"
    diffs, error = outcome[mode]
    lines = [f"Failed {len(failures)} of {len(expected)} cases. First failure: the case with {case.describe()}."]
    if error:
        lines.append(f"It raised {error}")
        hint = mistakes.error_hint(function, error)
        if hint:
            diagnosis.append(hint[0])
            lines.append("Likely cause: " + hint[1] + ".")
    else:
        shown = diffs[:3]
        lines += [d.message() for d in shown]
        if len(diffs) > len(shown):
            lines.append(f"... and {len(diffs) - len(shown)} more differences.")
    flat, _, _ = _mode(obs, i, mode, runs)
    found = diagnose(function, i, flat, error)
    for m in found:
        if m.code not in diagnosis:
            diagnosis.append(m.code)
    if found:
        lines.append("Likely mistake: " + found[0].hint + ".")
    lines += notes
    return FunctionResult(function, 0.0, points, False, diagnosis, "\n".join(lines))


def run_passes(function, obs, mode):
    """Does one run ("oracle" or "own") of a function give the expected results on every case?"""
    try:
        runs = _by_case(obs)
        for i, want in enumerate(expected_flat(function)):
            flat, error, _ = _mode(obs, i, mode, runs)
            if flat is None or error is not None or compare(function, want, flat):
                return False
        return True
    except Exception:  # noqa: BLE001 -- never stops the batch; judge() says what went wrong
        return False


def _run_variant(mistake, args):
    """Run one known-mistake variant (trusted code) on a copy of the case's arguments."""
    ns = assignment.new_namespace()
    for name, source in assignment.reference_sources().items():
        exec(compile(source, f"<reference {name}>", "exec"), ns)
    exec(compile(mistakes.variant_source(mistake), f"<variant {mistake.code}>", "exec"), ns)
    fn = ns[mistake.function]
    with np.errstate(all="ignore"):
        try:
            return structure.flatten(fn(*copy.deepcopy(args))), None
        except Exception as error:  # noqa: BLE001
            return None, f"{type(error).__name__}: {error}"


@functools.lru_cache(maxsize=None)
def _variant_result(function, case_index, code):
    """What a known mistake gives on one case (computed once per batch: the cases are fixed).
    Callers only read the result."""
    mistake = next(m for m in mistakes.for_function(function) if m.code == code)
    return _run_variant(mistake, prepared(function)[case_index].args)


def diagnose(function, case_index, student_flat, student_error):
    """The known mistakes whose results on this case equal the student's."""
    found = []
    for mistake in mistakes.for_function(function):
        flat, error = _variant_result(function, case_index, mistake.code)
        if student_error is not None:
            if error is not None and _same_error(error, student_error):
                found.append(mistake)
        elif flat is not None and student_flat is not None and matches(flat, student_flat):
            found.append(mistake)
    return found


def _same_error(a, b):
    import re
    kind = lambda e: e.split(":", 1)[0]  # noqa: E731
    name = lambda e: re.findall(r"name '(\w+)'", e)  # noqa: E731
    return kind(a) == kind(b) and name(a) == name(b)


def make_cases_payload(function):
    """What the engine needs to run a function: [(args, calls, dependency params)]."""
    params = dependency_params(function)
    return [(p.args, p.calls, params) for p in prepared(function)]
