"""Judge observations against the reference, and explain failures.

This is the trusted side: it never runs student code.  It runs only the
reference and the known-mistake variants (autograder.grading.mistakes).
"""
import copy
import functools
import json
import re
import types
from dataclasses import dataclass, field

import numpy as np

from .. import assignment, cases
from . import mistakes
from ..sandbox import structure
from ..sandbox.compare import _same_bits, compare, matches


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
        # the mode given as diagnose() gives it, so that both share one cache entry
        flats = [want] + [_variant_result(function, i, (m.code,), "oracle")[0]
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
        if rest in ("error#", "mutated#", "where#"):
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
    """Turn the observations of one function into a FunctionResult.

    A failure is explained on its first failing case: the differences, or the error with
    the line of the student's cell that raised it and a likely cause; then the known
    mistakes that give the student's results (see diagnose), each with its hint."""
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
    # the run to explain: the oracle run (the loop with a correct cell function), unless it
    # stopped at a wrong call to the oracle and the student's own run has something to show
    mode = "oracle"
    if "own" in outcome and outcome["oracle"][1] is not None and \
            outcome["oracle"][1].startswith("OracleMismatch") and \
            _own_explains(function, outcome["own"][1], runs.get(f"c{i}/own", {}).get("where#")):
        mode = "own"
    diffs, error = outcome[mode]
    lines = [f"Failed {len(failures)} of {len(expected)} cases. First failure: the case with {case.describe()}."]
    if error:
        where = _where(runs.get(f"c{i}/{mode}", {}).get("where#"))
        said = error.split(": ", 1)[1] if error.startswith("OracleMismatch: ") else f"It raised {error}"
        said = said[0].upper() + said[1:] + (f" (at {where[0]})" if where else "")
        lines.append(said if said.endswith(".") else said + ".")
        printing = bool(where) and where[1] == "print"
        if printing:
            diagnosis.append("DEBUG_PRINT")
            lines.append("Likely cause: " + mistakes.OTHER["DEBUG_PRINT"].hint + ".")
        hint = mistakes.error_hint(function, error)
        if hint:
            diagnosis.append(hint[0])
            if not printing:
                lines.append("Likely cause: " + hint[1] + _small_sizes(case, error) + ".")
    else:
        shown = diffs[:3]
        lines += [d.message() for d in shown]
        if len(diffs) > len(shown):
            lines.append(f"... and {len(diffs) - len(shown)} more differences.")
    if mode == "own":
        # the own run is explained; what the run with a correct cell function showed still counts
        hint = mistakes.error_hint(function, outcome["oracle"][1])
        diagnosis.append(hint[0])
        lines.append(f"With a correct {assignment.DEPENDS_ON[function]}: " + hint[1] + ".")
    found, unexplained = _diagnose_runs(function, i, obs, runs, outcome)
    for m in found:
        if m.code not in diagnosis:
            diagnosis.append(m.code)
    if len(found) == 1:
        lines.append("Likely mistake: " + found[0].hint + ".")
    elif found:
        lines.append("Likely mistakes:")
        lines += [f"- {m.hint}." for m in found]
    if found and unexplained:
        lines.append("Not explained by a known mistake: " + ", ".join(unexplained) + ".")
    lines += notes
    return FunctionResult(function, 0.0, points, False, diagnosis, "\n".join(lines))


def _own_explains(function, error, where):
    """Does the student's own run say more than the oracle's mismatch?  Only when it has
    results: a crash there may come from the student's cell function (graded separately),
    even when the line that fails is in this function's cell."""
    return error is None


def _where(text):
    """("line N of your <cell> cell, in <function>", kind) from a where# observation, or None."""
    parts = str(text).split(":") if text is not None else []
    if len(parts) != 4 or not parts[1].isdigit() or parts[0] not in assignment.FUNCTIONS:
        return None
    cell, line, name, kind = parts
    inside = f", in {name[:80]}" if name.isidentifier() else ""
    return f"line {line} of your {cell} cell{inside}", kind


def _small_sizes(case, error):
    """A sentence on the sizes of size 1 in the case, for an index that went past the end."""
    if not error.startswith("IndexError"):
        return ""
    ones = [k for k, v in case.sizes.items() if v == 1]
    if "T_x" in ones:
        return ("; this case has T_x=1, so there is only one step and one cache: an index such as "
                "caches[1], t + 1 or t - 1 goes past the end")
    if ones:
        return f"; this case has {', '.join(k + '=1' for k in ones)}: check the indices along that axis"
    return ""


def _diagnose_runs(function, i, obs, runs, outcome):
    """(known mistakes, outputs they leave unexplained) for the first failing case: the oracle
    run is matched against variants run with the same oracle, the own run against variants
    run with the reference cell function; where both find something, what both find."""
    found = {}
    for mode in outcome:
        flat, error, _ = _mode(obs, i, mode, runs)
        mistakes_, unexplained = diagnose(function, i, flat, error, mode=mode)
        if len(mistakes_) > 1 and not unexplained:
            mistakes_ = _consistent(function, obs, runs, mode, mistakes_)
        found[mode] = (mistakes_, unexplained)
    oracle, own = found.get("oracle", ([], [])), found.get("own", ([], []))
    complete = [p for p in ((own, oracle) if outcome["oracle"][1] else (oracle, own))
                if p[0] and not p[1]]
    if complete:
        return complete[0]
    partial = [p for p in (oracle, own) if p[0]]
    return partial[0] if partial else ([], [])


def _consistent(function, obs, runs, mode, candidates):
    """Of several mistakes that each explain the first failing case alone, those that also
    give the student's error or results on every other case (all of them if none does)."""
    kept = []
    for m in candidates:
        for j in range(len(prepared(function))):
            flat, error, _ = _mode(obs, j, mode, runs)
            result = _variant_result(function, j, (m.code,), mode)
            theirs, their_error = result if result is not None else (None, None)
            if error is not None:
                same = their_error is not None and _same_error(their_error, error)
            else:
                same = flat is not None and theirs is not None and matches(theirs, flat)
            if not same:
                break
        else:
            kept.append(m)
    return kept or candidates


_TOP = re.compile(r"out(\[[^\]]*\])?")


@functools.lru_cache(maxsize=8192)
def _top(key):
    """The top-level output of a flat key: "out[2]" of "out[2][0]['Wax']" (the same few
    hundred keys come back for every student: matched once)."""
    return _TOP.match(key).group(0)


def _outputs(flat):
    """{top-level output: its part of a flat result}: out[0], out['dWf'], ..."""
    groups = {}
    for key, value in flat.items():
        top = _top(key)
        group = groups.get(top)
        if group is None:
            group = groups[top] = {}
        group[key] = value
    return groups


@functools.lru_cache(maxsize=None)
def _expected_outputs(function, case_index):
    """_outputs of the reference's results on one case (fixed: grouped once)."""
    return _outputs(expected_flat(function)[case_index])


@functools.lru_cache(maxsize=None)
def _variant_outputs(function, case_index, codes, mode):
    """(_outputs of what known mistakes give on one case, the outputs among them that are
    the reference's bit for bit), or None when they give no results.  Worked out once per
    variant, not once per student."""
    result = _variant_result(function, case_index, codes, mode)
    if result is None or result[0] is None:
        return None
    theirs = _outputs(result[0])
    want = _expected_outputs(function, case_index)
    return theirs, frozenset(o for o, part in theirs.items() if o in want and _same_part(want[o], part))


def _same_part(a, b):
    """Are two parts of flat results the same keys, markers and array bits?  matches()
    then says the same of each against any third."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if type(value) is str or type(other) is str:
            if type(value) is not type(other) or value != other:
                return False
        elif value.shape != other.shape or not _same_bits(value, other):
            return False
    return True


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


def _run_variant(source, function, case_index, mode):
    """Run a known-mistake variant (trusted code) on a copy of one case's arguments: with an
    oracle for its cell function, as the student's function ran, or with the reference's."""
    from ..sandbox import engine
    ns = assignment.new_namespace()
    for code in _compiled_references():
        exec(code, ns)
    exec(_compiled_variant(source, function), ns)
    case = prepared(function)[case_index]
    dependency = assignment.DEPENDS_ON.get(function)
    if mode == "oracle" and dependency:
        ns[dependency] = engine.make_oracle(function, dependency, dependency_params(function), case.calls)
    with np.errstate(all="ignore"):
        try:
            return structure.flatten(ns[function](*copy.deepcopy(case.args))), None
        except Exception as error:  # noqa: BLE001
            return None, engine._describe(error)


@functools.lru_cache(maxsize=None)
def _compiled_variant(source, function):
    """A variant's code, compiled once: it runs on every case, in every mode."""
    return compile(source, f"<variant of {function}>", "exec")


@functools.lru_cache(maxsize=None)
def _compiled_references():
    return tuple(compile(source, f"<reference {name}>", "exec")
                 for name, source in assignment.reference_sources().items())


@functools.lru_cache(maxsize=None)
def _variant_result(function, case_index, codes, mode="oracle"):
    """What known mistakes (one, or two together) give on one case: (flat, error), or None
    when their edits do not fit together.  Computed once per batch: the cases are fixed.
    A single mistake's result is taken from the stored ones when there are (see
    use_stored_variants), and run only when there are none."""
    if len(codes) == 1:
        found = _stored_variants().get((function, case_index, codes[0], mode), _NOT_STORED)
        if found is not _NOT_STORED:
            return found
    chosen = [next(m for m in mistakes.for_function(function) if m.code == c) for c in codes]
    source = mistakes.combined_source(chosen)
    if source is None:
        return None
    return _run_variant(source, function, case_index, mode)


def single_variant_keys():
    """(function, case index, mistake code, mode) of every single-mistake run the judge may
    need: each known mistake alone on each case, with the oracle, and for a function that
    calls another also with the reference's (the "own" run)."""
    return tuple((f, i, m.code, mode)
                 for f in assignment.FUNCTIONS
                 for mode in (("oracle", "own") if assignment.DEPENDS_ON.get(f) else ("oracle",))
                 for m in mistakes.for_function(f)
                 for i in range(len(cases.cases_for(f))))


def single_variant_results():
    """{single_variant_keys(): _variant_result}: every single-mistake result, run here (and
    so also remembered by _variant_result).  The batch grader's case cache stores them."""
    return {k: _variant_result(k[0], k[1], (k[2],), k[3]) for k in single_variant_keys()}


_NOT_STORED = object()
_stored = {"load": None, "results": None}  # see use_stored_variants


def use_stored_variants(load):
    """Answer single-mistake results from load() (a dict as single_variant_results gives,
    or None when there is none to use) instead of running the variants.  load is called
    once, when the first result is needed: a batch whose verdicts are all remembered, or an
    empty class, never pays for it.  None: run every variant (the default)."""
    _stored["load"], _stored["results"] = load, None
    _variant_result.cache_clear()
    _variant_outputs.cache_clear()


def _stored_variants():
    results = _stored["results"]
    if results is None:
        load = _stored["load"]
        results = _stored["results"] = (load() if load is not None else None) or {}
    return results


def diagnose(function, case_index, student_flat, student_error, mode="oracle"):
    """(known mistakes that explain the student's result on this case, outputs left unexplained).

    A crash is explained by the variants that raise the same error.  Wrong results are
    explained by the variants that give exactly the student's results; failing that, output
    by output (each wrong output by a variant, or a pair of variants, that gives the student's
    value there), so that a function with two mistakes gets two names."""
    singles = mistakes.for_function(function)

    def run(ms):
        return _variant_result(function, case_index, tuple(m.code for m in ms), mode)
    if student_error is not None:
        return [m for m in singles if run((m,))[1] is not None and
                _same_error(run((m,))[1], student_error)], []
    if student_flat is None:
        return [], []
    exact = [m for m in singles if run((m,))[0] is not None and matches(run((m,))[0], student_flat)]
    if exact:
        return exact, []
    want = _expected_outputs(function, case_index)
    got = _outputs(student_flat)
    wrong = [o for o in want if o not in got or not matches(want[o], got[o])]

    def explained(ms):
        found = _variant_outputs(function, case_index, tuple(m.code for m in ms), mode)
        if found is None:
            return set()
        theirs, unchanged = found
        # an output the variant leaves as the reference's cannot match a wrong one: the
        # comparison would be the one that found it wrong
        return {o for o in wrong if o in got and o in theirs and o not in unchanged
                and matches(theirs[o], got[o])}
    candidates = [((m,), explained((m,))) for m in singles]
    cover, left = _cover(wrong, candidates)
    if left:
        pairs = [(a, b) for j, a in enumerate(singles) for b in singles[j + 1:]]
        for pair in pairs:
            found = _variant_outputs(function, case_index, tuple(m.code for m in pair), mode)
            # a pair that leaves a wrong output as the reference's cannot give the student's results
            if found is not None and found[1].isdisjoint(wrong) and matches(run(pair)[0], student_flat):
                return list(pair), []
        cover, left = _cover(wrong, candidates + [(p, explained(p)) for p in pairs])
    found = []
    for ms in cover:
        found += [m for m in ms if m not in found]
    from ..sandbox.compare import label
    return found, [label(function, o) for o in wrong if o in left]


def _cover(wrong, candidates):
    """Greedy cover of the wrong outputs by candidates [(mistakes, outputs explained)]:
    (chosen mistake tuples, outputs left)."""
    left, chosen = set(wrong), []
    while left:
        best = max(candidates, key=lambda c: (len(c[1] & left), -len(c[0])), default=None)
        if best is None or not best[1] & left:
            break
        chosen.append(best[0])
        left -= best[1]
    return chosen, left


def _same_error(a, b):
    """Do two error texts tell the same error (the same text; for a NameError, the same name)?"""
    import re
    if a == b:
        return True
    kind = lambda e: e.split(":", 1)[0]  # noqa: E731
    name = lambda e: re.findall(r"name '(\w+)'", e)  # noqa: E731
    return kind(a) == kind(b) == "NameError" and name(a) == name(b)


def make_cases_payload(function):
    """What the engine needs to run a function: [(args, calls, dependency params)]."""
    params = dependency_params(function)
    return [(p.args, p.calls, params) for p in prepared(function)]
