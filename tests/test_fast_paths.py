"""The grader's fast paths: do they give exactly the answers of the slow ones?

Issue 12 made the comparisons and the oracle's messages cheaper: a bit-for-bit check before
the tolerance test (compare._agrees, engine._same), arrays flattened without a copy where
they are compared or sent at once, and oracle replies that the child reads back with
pickle.  Each is checked here against the plain computation it replaces, on the inputs
where a shortcut could go wrong (NaN, -0.0, other dtypes, one bit off), and the trusted side
of the oracle is checked never to unpickle what a child sends.
"""
import json
import os
import pickle

import numpy as np
import pytest

from autograder.sandbox import compare, engine, structure


def _plain_matches(expected, got, rtol=compare.RTOL, atol=compare.ATOL):
    """What compare.matches means, written out with no shortcut."""
    if expected.keys() != got.keys():
        return False
    for key, want in expected.items():
        have = got[key]
        if key.endswith("#"):
            if str(want) != str(have):
                return False
            continue
        if not isinstance(have, np.ndarray) or want.shape != have.shape:
            return False
        have, want = have.astype(float), want.astype(float)
        if not np.all(np.isfinite(have)) or not np.all(np.abs(have - want) <= atol + rtol * np.abs(want)):
            return False
    return True


def _flat(*arrays):
    return structure.flatten(tuple(arrays), "in")


def _variants(rng):
    """(expected, got) pairs around one expected result: the same bits, a copy, one ulp off,
    far off, another dtype, NaN and inf, -0.0 for 0.0, another shape."""
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(5)
    expected = _flat(a, b)
    yield expected, expected
    yield expected, _flat(a.copy(), b.copy())
    yield expected, _flat(np.nextafter(a, np.inf), b)
    yield expected, _flat(a + 1e-3, b)
    yield expected, _flat(a.astype(np.float32), b)
    yield expected, _flat(a, b.astype(np.float32).astype(np.float64))
    bad = a.copy()
    bad[1, 2] = np.nan
    yield expected, _flat(bad, b)
    bad[1, 2] = np.inf
    yield expected, _flat(bad, b)
    yield expected, _flat(a, b[:4])
    zeros = _flat(np.zeros(3), b)
    yield zeros, _flat(-np.zeros(3), b)
    with_nan = _flat(bad, b)
    yield with_nan, with_nan  # the same bits, but not finite: never a match
    yield with_nan, _flat(bad.copy(), b)


def test_matches_agrees_with_the_plain_definition():
    """Does compare.matches (with its bit-for-bit shortcut) say what the plain tolerance
    test says, on every variant, including NaN compared with itself?"""
    rng = np.random.RandomState(0)
    seen = set()
    for _ in range(20):
        for expected, got in _variants(rng):
            plain = _plain_matches(expected, got)
            assert compare.matches(expected, got) == plain
            differences = compare.compare("rnn_forward", expected, got)
            assert (differences == []) == plain
            seen.add(plain)
    assert seen == {True, False}


def test_a_non_finite_expected_result_is_not_matched_by_its_own_bits():
    """Does an expected value holding NaN fail against the very same object (the shortcut
    must not skip the finiteness test)?"""
    want = np.array([1.0, np.nan])
    flat = _flat(want)
    assert not compare.matches(flat, flat)
    assert not compare.matches(flat, _flat(want.copy()))


def test_same_is_array_equal_with_nan():
    """Does engine._same (bits first) say what np.array_equal(equal_nan=True) says: -0.0 equal
    to 0.0, NaN equal to NaN, one ulp different, another dtype with equal values?"""
    x = np.array([0.0, 1.0, np.nan])
    cases = [x.copy(), np.array([-0.0, 1.0, np.nan]), np.array([0.0, np.nextafter(1.0, 2), np.nan]),
             x.astype(np.float32), np.array([0.0, 1.0, 2.0])]
    for y in cases:
        assert engine._same({"k": x}, {"k": y}) == np.array_equal(x, y, equal_nan=True)
    assert not engine._same({"k": x}, {"k": x[:2]})
    assert not engine._same({"k": "a"}, {"k": "b"})


def _plain_same(a, b):
    """What engine._same means, written out with no shortcut."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def test_same_agrees_with_the_plain_definition():
    """Does engine._same (keys compared as lists, bits first) say what the plain definition
    says, for keys in another order, other keys, markers, arrays of another dtype, NaN,
    -0.0 and arrays that are not exactly ndarray?"""
    x = np.array([0.0, 1.0, np.nan])
    sub = type("Sub", (np.ndarray,), {})
    a = {"k#": "ndarray", "k": x, "m#": "scalar", "m": np.array(1.0)}
    variants = [dict(a), dict(reversed(list(a.items()))), {**a, "k": -x}, {**a, "k": x.copy()},
                {**a, "k": np.array([-0.0, 1.0, np.nan])}, {**a, "k": x.astype(np.float32)},
                {**a, "k": x.view(sub)}, {**a, "m#": "ndarray"}, {**a, "extra#": "scalar"},
                {k: v for k, v in a.items() if k != "m"}, {**a, "k": x[:2]}]
    for b in variants:
        assert engine._same(a, b) == _plain_same(a, b)
        assert engine._same(b, a) == _plain_same(b, a)


def _mutations():
    """Functions that change (or do not change) their inputs (x, parameters) in every way."""
    def keep(x, p): return x
    def scale(x, p): x *= 2
    def same_values(x, p): x[...] = x.copy()
    def nan(x, p): x[0, 0] = np.nan
    def negative_zero(x, p): p["b"][...] = -0.0
    def add_key(x, p): p["new"] = np.zeros(2)
    def drop_key(x, p): del p["W"]
    def swap_key(x, p): p["W"] = np.ones((2, 3))
    def retype(x, p): p["W"] = p["W"].astype(np.float32)
    def list_in(x, p): p["W"] = [p["W"]]
    def tuple_in(x, p): p["b"] = (p["b"],)
    def none_in(x, p): p["b"] = None
    def scalar_in(x, p): p["b"] = 1.5
    def subclass_in(x, p): p["W"] = p["W"].view(type("Sub", (np.ndarray,), {}))
    def non_str_key(x, p): p[1] = 2
    def huge(x, p): p["W"] = np.zeros(structure.MAX_ELEMENTS + 1)
    def deep(x, p):
        for _ in range(structure.MAX_DEPTH):
            p["W"] = [p["W"]]
    def strings(x, p): p["W"] = np.array(["a"])
    return [keep, scale, same_values, nan, negative_zero, add_key, drop_key, swap_key, retype,
            list_in, tuple_in, none_in, scalar_in, subclass_in, non_str_key, huge, deep, strings]


def test_the_mutation_check_walks_to_the_answer_of_the_full_comparison(monkeypatch):
    """Does engine._call, which walks the inputs' copy (structure.unchanged) before it
    flattens and compares it, report what the full comparison reports, for every way of
    changing the inputs and for a function that changes nothing, inputs holding a scalar,
    None and NaN included?"""
    args = (np.arange(6.0).reshape(2, 3),
            {"W": np.linspace(0, 1, 6).reshape(2, 3), "b": np.zeros(2), "n": None, "s": 0.5,
             "t": (np.array([np.nan, 1.0]), [np.arange(3)])})
    seen = set()
    for fn in _mutations():
        walked = engine._call(fn, structure.copy(args), 0, mutated_check=engine._inputs(args))
        with monkeypatch.context() as m:
            m.setattr(structure, "unchanged", lambda obj, expected: False)
            full = engine._call(fn, structure.copy(args), 0, mutated_check=engine._inputs(args))
        assert walked[1] == full[1], fn.__name__
        assert (walked[0] or {}).keys() == (full[0] or {}).keys(), fn.__name__
        seen.add("mutated#" in (walked[0] or {}))
    assert seen == {True, False}
    expected = engine._inputs(args)[1]
    assert structure.unchanged(structure.copy(args), expected)  # the walk answers the plain case


def test_flatten_without_copy_gives_the_same_markers_and_values():
    """Does flatten(copy=False) give the markers and values of flatten(), holding the
    object's own arrays rather than copies?"""
    a = np.arange(6.0).reshape(2, 3)
    obj = (a, [np.ones(2), 3.0], {"Wax": a, "ba": np.zeros(1)})
    copied, shared = structure.flatten(obj), structure.flatten(obj, copy=False)
    assert copied.keys() == shared.keys()
    for key, value in copied.items():
        if isinstance(value, str):
            assert shared[key] == value
        else:
            assert np.array_equal(shared[key], value)
    assert shared["out[0]"] is a and copied["out[0]"] is not a


def _plain_flatten(obj, path, out, depth, budget, copy):
    """What structure.flatten means, written out with no shortcut (one call a node)."""
    kind = type(obj)
    if depth > structure.MAX_DEPTH:
        out[path + "#"] = "too deeply nested"
    elif kind is np.ndarray:
        if obj.dtype.kind in "biuf":
            budget[0] -= obj.size
            if budget[0] < 0:
                raise structure.TooLarge(f"{path} makes the results larger than "
                                         f"{structure.MAX_ELEMENTS} numbers")
            out[path + "#"] = "ndarray"
            out[path] = obj.copy(order="C") if copy else obj
        else:
            out[path + "#"] = f"ndarray of dtype {obj.dtype.name}"
    elif kind in (tuple, list):
        out[path + "#"] = f"{kind.__name__}:{len(obj)}"
        for i, item in enumerate(obj):
            _plain_flatten(item, f"{path}[{i}]", out, depth + 1, budget, copy)
    elif kind is dict:
        if not all(type(k) is str for k in obj):
            out[path + "#"] = "dict with keys that are not strings"
            return
        keys = sorted(obj)
        out[path + "#"] = "dict:" + json.dumps(keys)
        for key in keys:
            _plain_flatten(obj[key], f"{path}[{key!r}]", out, depth + 1, budget, copy)
    elif kind in structure._SCALARS:
        out[path + "#"] = "scalar"
        out[path] = np.array(float(obj))
    else:
        out[path + "#"] = f"object of type {kind.__name__}"


def _objects_to_flatten():
    """Results of every shape flatten() meets, and of shapes it should never meet."""
    a = np.arange(6.0).reshape(2, 3)
    unpickled = pickle.loads(pickle.dumps(a))  # float64, but not numpy's own dtype object
    yield a
    yield (a, [a.T, 2.5, True, np.float32(1.5), np.int64(2), None, "text"], {"Wax": a[:, 1]})
    yield {"b": unpickled, "a": [np.arange(3), np.array([True]), np.zeros(2, np.float16)],
           "it's": a, 'say "hi"': a, "\u00e9\n": a, "": a}
    yield [np.zeros(2, complex), np.array(["x"]), np.array([None]), a.astype(np.uint8)]
    yield {1: a, "a": a}
    yield [type("Sub", (np.ndarray,), {})((2,)), type("T", (tuple,), {})((a,)),
           type("D", (dict,), {})(a=a), type("L", (list,), {})([a])]
    yield [a] * 300  # more items than the precomputed index paths
    yield (), [], {}
    deep = a
    for level in range(structure.MAX_DEPTH + 3):  # arrays at, and past, the depth limit
        deep = (deep, a, {"k": deep, "z": a}) if level % 2 else [deep, a]
    yield deep


def test_flatten_gives_the_plain_markers_paths_and_values():
    """Does structure.flatten (arrays in a tuple, list or dict flattened without a call of
    their own, cached paths) give the very dict the plain one-call-a-node version gives,
    keys in the same order, for odd keys, unknown types, subclasses and the depth limit?"""
    for obj in _objects_to_flatten():
        for copy in (True, False):
            want = {}
            _plain_flatten(obj, "in", want, 0, [structure.MAX_ELEMENTS], copy)
            got = structure.flatten(obj, "in", copy=copy)
            assert list(got) == list(want)
            prefixed = structure.flatten(obj, "in", copy=copy, prefix="c3/own/")
            assert list(prefixed) == ["c3/own/" + key for key in want]
            for key, value in want.items():
                if isinstance(value, str):
                    assert type(got[key]) is str and got[key] == value
                else:
                    assert type(got[key]) is np.ndarray and got[key].dtype == value.dtype
                    assert got[key].shape == value.shape and got[key].tobytes() == value.tobytes()
                    if want[key + "#"] == "ndarray":
                        assert (got[key] is value) == (not copy)  # the object's own, or a copy


def test_flatten_refuses_too_many_numbers_where_the_plain_one_does(monkeypatch):
    """Is the same TooLarge raised, naming the same path (without the keys' prefix), when
    the numbers run over the limit in an array at the top, in a tuple, in a list or in a
    dict?"""
    monkeypatch.setattr(structure, "MAX_ELEMENTS", 10)
    a = np.zeros(4)
    for obj in (np.zeros(11), (a, a, a), [a, [a, a]], {"x": a, "y": {"z": a, "w": a}}):
        with pytest.raises(structure.TooLarge) as plain:
            _plain_flatten(obj, "out", {}, 0, [10], True)
        for prefix in ("", "c0/oracle/"):  # the path named without the prefix
            with pytest.raises(structure.TooLarge) as fast:
                structure.flatten(obj, prefix=prefix)
            assert str(fast.value) == str(plain.value)


def test_dict_markers_are_the_sorted_keys():
    """Is the cached marker of a dict the JSON list of its sorted keys, for each key set?"""
    assert structure.flatten({"b": 1.0, "a": 2.0})["out#"] == 'dict:["a", "b"]'
    assert structure.flatten({"c": 1.0})["out#"] == 'dict:["c"]'


class _Text(str):
    pass


def _flats_to_store():
    """Flat dicts of every kind dumps() meets, and of kinds it should never meet."""
    a = np.arange(12.0).reshape(3, 4)
    nested = (a, [a.T, 2.5, True, np.float32(1.5)], {"Wax": a[:, 1], "b\"a": np.int64(3)})
    yield structure.flatten(nested)
    yield structure.flatten(nested, "in", copy=False)  # views, not C-contiguous
    yield {f"x{i}": np.ones((2, 3), dtype=name) for i, name in enumerate(sorted(structure._DTYPES))}
    yield {"p": pickle.loads(pickle.dumps(a)), "q": np.asfortranarray(a), "r": a[::-1, ::2]}
    yield {"zero-d": np.array(2.0), "empty": np.zeros((0, 3)), "scalar": np.float64(1.0), "int": 3,
           "list": [1.0, 2.0]}
    yield {"c0/oracle/error#": 'ValueError: "quoted" \\ back\nslash \u00e9\u4e2d\ud800 \x00',
           "c0/oracle/out#": 'dict:["a", "b"]', "k\u00e9y": a}
    yield {}
    yield {"only#": "markers"}
    yield {1: a, "a#": "ndarray"}  # a key that is not a str
    yield {_Text("k"): a, "m#": _Text("marker")}  # str subclasses
    yield {"good": a, "bad": np.zeros(2, dtype=complex), "later": np.zeros(2, dtype=">f8")}
    yield {"big-endian": a.astype(">f8")}
    yield {"objects": np.array([None, 1])}


def test_dumps_writes_the_bytes_of_the_plain_json_header():
    """Does structure.dumps (its header put together by hand, arrays joined without a copy)
    write exactly the bytes of the plain json.dumps version, or raise the same error, for
    views, unpickled arrays, every stored dtype, odd text and keys that are not str?"""
    for flat in _flats_to_store():
        try:
            want = structure._dumps_plain(flat)
        except TypeError as error:
            with pytest.raises(TypeError) as raised:
                structure.dumps(flat)
            assert str(raised.value) == str(error)
            continue
        assert structure.dumps(flat) == want
        if all(type(k) is str for k in flat):
            back = structure.loads(want)
            assert back.keys() == flat.keys()


_DEFINING_CELLS = {
    "plain": '# GRADED FUNCTION: f\n\ndef f(x):\n    """doc"""\n    return x\n',
    "docstring_and_constants": '"""cell doc"""\nLIMIT = 3\nNAMES = ("a", "b")\ndef g(x):\n    return x\n',
    "two_functions": "def h(x):\n    return x\n\ndef k(x):\n    import builtins\n    builtins.len = None\n",
}
_OTHER_CELLS = {
    "default": "def f(x=[]):\n    return x\n",
    "annotation": "def f(x: int):\n    return x\n",
    "decorator": "def d(f):\n    return f\n@d\ndef f(x):\n    return x\n",
    "closure": "y = 1\ndef f(x):\n    return x\nprint('hello')\n",
    "import": "import numpy as np\ndef f(x):\n    return x\n",
    "class": "class A:\n    pass\n",
    "call": "x = len('abc')\n",
    "patch": "import builtins\nbuiltins.sorted = None\n",
    "name": "x = np\n",
}


def test_only_defining_cells_are_known_as_such():
    """Does the engine take for a cell that only defines functions exactly the cells made of
    plain defs, docstrings and constants, naming what they bind, and no cell with a default,
    an annotation, a decorator, a call, an import, a class or a name read?"""
    for name, source in _DEFINING_CELLS.items():
        assert engine._only_defines(compile(source, "<cell x>", "exec")) is not None, name
    names = engine._only_defines(compile(_DEFINING_CELLS["docstring_and_constants"], "<c>", "exec"))
    assert names == ("__doc__", "LIMIT", "NAMES", "g")
    for name, source in _OTHER_CELLS.items():
        assert engine._only_defines(compile(source, "<cell x>", "exec")) is None, name


def _guarded_intact():
    return all(live.get(key, live) is value for live, saved in engine._GUARDED
               for key, value in saved.items())


def _namespaces(sources, monkeypatch):
    """build_namespace's (names bound, errors) with the cells compiled beforehand, as the fork
    server does, and the same without the defining cells' shortcut."""
    setup = "import numpy as np\n"
    out = []
    for quietly in (True, False):
        engine._COMPILED.clear()
        engine.precompile(setup, sources)
        with monkeypatch.context() as m:
            if not quietly:
                m.setattr(engine, "_defined_quietly", lambda *a: False)
            ns, errors = engine.build_namespace(setup, sources)
        assert _guarded_intact()
        out.append((sorted(k for k in ns if type(k) is str and k != "__builtins__"), errors))
    return out


def test_defining_cells_run_quietly_as_they_run_in_full(monkeypatch):
    """Does a namespace built with the defining cells run without _quiet, clock and _restore
    bind the same names and report the same errors as one built with every cell run in
    full, for a mix of defining cells and others?"""
    sources = dict(_DEFINING_CELLS)
    sources.update({f"other_{k}": v for k, v in _OTHER_CELLS.items()})
    sources["fails"] = "raise ValueError('no')\n"
    quick, full = _namespaces(sources, monkeypatch)
    assert quick == full
    calls = []
    monkeypatch.setattr(engine, "_restore", lambda real=engine._restore: calls.append(1) or real())
    engine.build_namespace("import numpy as np\n", _DEFINING_CELLS)
    assert calls == []  # the shortcut was taken


_DROPS_A_PATCHER = """
import builtins
class Patcher:
    def __del__(self):
        builtins.sorted = lambda *a, **k: ["PATCHED"]
f = Patcher()
"""
_PATCHING_KEY = """
import builtins
class Key:
    def __hash__(self):
        return hash("f")
    def __eq__(self, other):
        builtins.sorted = lambda *a, **k: ["PATCHED"]
        return False
globals()[Key()] = 1
"""


def test_a_defining_cell_that_could_run_student_code_runs_in_full(monkeypatch):
    """Is a defining cell run in full, its _restore after it, when binding its name would
    drop an object whose __del__ patches builtins, or when the namespace holds a key whose
    __eq__ does?"""
    real_sorted = sorted
    for first in (_DROPS_A_PATCHER, _PATCHING_KEY):
        sources = {"first": first, "plain": _DEFINING_CELLS["plain"]}
        calls = []
        with monkeypatch.context() as m:
            m.setattr(engine, "_restore", lambda real=engine._restore: calls.append(1) or real())
            engine._COMPILED.clear()
            engine.precompile("import numpy as np\n", sources)
            ns, errors = engine.build_namespace("import numpy as np\n", sources)
        import builtins
        assert builtins.sorted is real_sorted and _guarded_intact()
        assert len(calls) == 2  # after each cell
        # (read without a lookup: ns["f"] would meet the key's __eq__)
        assert errors == {} and [callable(v) for k, v in ns.items() if type(k) is str and k == "f"] == [True]


def test_an_oracle_reply_reads_back_as_sent():
    """Does a child read an oracle reply back as the trusted side made it, and a refusal,
    garbage or a wrong shape of reply as a refusal?"""
    answer = (np.arange(3.0), [np.ones((2, 2))], {"Wax": np.zeros(1)})
    kind, got, detail = engine._read_reply(engine._reply("ok", answer, ([], 1)))
    assert kind == "ok" and detail == ([], 1)
    assert structure.flatten(got).keys() == structure.flatten(answer).keys()
    assert engine._read_reply(engine._NO_ANSWER) == ("e#", "mismatch", None)
    for forged in (b"", b"not a pickle", pickle.dumps([1, 2, 3]), pickle.dumps(("ok", 1))):
        assert engine._read_reply(forged)[0] == "e#"


class _Planted:
    """Unpickling this would write a file: the proof that a request was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_the_oracle_never_unpickles_a_request(tmp_path):
    """Does the trusted side of the oracle refuse a request made of pickle bytes (one that
    would write a file when unpickled) without running it?"""
    planted = tmp_path / "unpickled"
    request = pickle.dumps(_Planted(planted))
    tables = {"rnn_forward": [([], [], [])]}
    reply = engine.serve_oracle_request(tables, request)
    assert engine._read_reply(reply)[0] == "e#"
    assert not planted.exists()
    # and the bytes a child sends are read as structure.dumps bytes only
    with pytest.raises(ValueError):
        structure.loads(request)


def _oracle_reply(tables, position, number, args):
    got = structure.flatten(tuple(args), "in", copy=False)
    request = engine.oracle_request("f", 0, position, number, ("x", "a"), got)
    return engine.serve_oracle_request(tables, request)


def test_an_oracle_request_is_the_plain_json_query_and_arguments():
    """Is a request's query the text json.dumps writes for it, with the ends made once, also
    when a forged reply made the position a bool, a float, a string or None?"""
    got = structure.flatten((np.arange(3.0)[::2], {"W": np.ones(2)}), "in", copy=False)
    for function, case, position, number, names in [
            ("rnn_forward", 0, 3, 4, ("xt", "a_prev", "parameters")), ("f", 2, 0, 1, ()),
            ("f\u00e9\"", 10**20, -1, 0, ("x",)), ("f", 0, True, 1, ("x",)),
            ("f", 0, 1.5, 1, ("x",)), ("f", 0, "p", 1, ["x"]), ("f", 0, None, 1, ("x",))]:
        for _ in range(2):  # the ends made, then reused
            query = json.dumps([function, case, position, number, list(names)]).encode()
            plain = engine._QUERY_SIZE.pack(len(query)) + query + structure.dumps(got)
            assert engine.oracle_request(function, case, position, number, names, got) == plain


def test_the_oracle_answers_the_same_with_and_without_the_digest(monkeypatch):
    """Does the trusted side give the same reply to the very bits of a recorded call (known
    by their digest) as to arguments within the tolerance (read and matched), and refuse
    arguments outside it, or a call whose recorded arguments are not finite?"""
    x, a = np.linspace(0.0, 1.0, 6).reshape(2, 3), np.ones(3)
    calls = [((x, a), np.full(3, 2.0), []), ((x + 1, a), np.full(3, 3.0), [])]
    tables = {"f": [engine.oracle_case(calls)]}
    _, replies, exact = tables["f"][0]
    assert all(d is not None for d in exact)
    assert _oracle_reply(tables, 0, 1, (x, a)) == replies[0]           # by the digest
    with monkeypatch.context() as m:  # ... without reading the arguments at all
        m.setattr(structure, "loads", lambda data: 1 / 0)
        assert _oracle_reply(tables, 0, 1, (x, a)) == replies[0]
        assert _oracle_reply(tables, 0, 1, (x + 1e-12, a)) == engine._NO_ANSWER
    assert _oracle_reply(tables, 0, 1, (x + 1e-12, a)) == replies[0]   # read and matched
    assert _oracle_reply(tables, 0, 1, (x.T.copy().T, a)) == replies[0]  # other memory order
    assert _oracle_reply(tables, 1, 2, (x, a)) == replies[0]           # out of order: searched
    assert engine._read_reply(_oracle_reply(tables, 0, 1, (x + 1.0, a + 1.0)))[0] == "e#"
    assert engine._read_reply(_oracle_reply(tables, 0, 1, (x, a, a)))[0] == "e#"
    nan = [((np.full(3, np.nan), a), np.zeros(3), [])]
    tables = {"f": [engine.oracle_case(nan)]}
    assert tables["f"][0][2] == [None]  # NaN is not equal to NaN: never answered by bits
    assert engine._read_reply(_oracle_reply(tables, 0, 1, (np.full(3, np.nan), a)))[0] == "e#"


def _is_tmpfs(path):
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1:3] == [str(path), "tmpfs"] for line in mounts)


def test_slot_folders_go_to_memory_only_when_the_children_cannot_write_there(monkeypatch, tmp_path):
    """Are the slots' folders made in /dev/shm only under bubblewrap, without $TMPDIR, on a
    writable tmpfs with room to spare, and on disk otherwise?"""
    from autograder.grading import runner
    monkeypatch.delenv("TMPDIR", raising=False)
    assert runner.scratch_root(False) is None  # weakly isolated: the children write there
    assert runner.scratch_root(True, shm=tmp_path) is None  # not a tmpfs mount
    shm = runner.SHM
    usable = shm.is_dir() and _is_tmpfs(shm) and os.access(shm, os.W_OK | os.X_OK)
    if usable:
        info = os.statvfs(shm)
        usable = info.f_bavail * info.f_frsize >= runner.SHM_MIN_FREE
    assert runner.scratch_root(True) == (str(shm) if usable else None)
    monkeypatch.setattr(runner, "SHM_MIN_FREE", 2**62)
    assert runner.scratch_root(True) is None  # too little room
    monkeypatch.setattr(runner, "SHM_MIN_FREE", 0)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert runner.scratch_root(True) is None  # the user's choice wins


def test_the_parent_deletes_a_results_file_once_read(tmp_path):
    """Is a results file gone from the job folder once the parent has read it, whatever
    it held, and is a missing one reported as a crash?"""
    from autograder.grading import runner
    from autograder.sandbox import isolation
    good = structure.dumps({"c0/oracle/out#": "scalar", "c0/oracle/out": np.array(1.0)})
    for data in (good, b"not a results file"):
        (tmp_path / "out_rnn_cell_forward.oracle.obs").write_bytes(data)
        obs, _ = runner._read_unit(isolation, tmp_path, "rnn_cell_forward", "oracle", "ok", 5)
        assert isinstance(obs, dict) and obs
        assert not (tmp_path / "out_rnn_cell_forward.oracle.obs").exists()
    obs, _ = runner._read_unit(isolation, tmp_path, "rnn_cell_forward", "oracle", "ok", 5)
    assert "Crash" in obs["oracle/error#"]


def _results_file(function, run="oracle", scale=1.0):
    """The bytes a child sends for one run of `function` that returns the reference's results
    (times `scale`)."""
    from autograder.grading import verdict
    obs = {}
    for i, want in enumerate(verdict.expected_flat(function)):
        obs.update({f"c{i}/{run}/{k}": (v * scale if isinstance(v, np.ndarray) else v)
                    for k, v in want.items()})
    return structure.dumps(obs)


def _same_obs(a, b):
    return a.keys() == b.keys() and all(
        (type(x) is str and x == y) or (type(x) is np.ndarray and x.dtype == y.dtype and
                                        x.shape == y.shape and x.tobytes() == y.tobytes())
        for x, y in ((a[k], b[k]) for k in a))


def test_a_results_file_read_again_gives_what_reading_it_afresh_gives(monkeypatch):
    """Does the parent's memo of screened results files (runner._load_results) give, for bytes
    it has seen, exactly what screening them afresh gives, for other bytes their own
    observations, and only arrays that no reader can change (they are shared)?"""
    from autograder.grading import runner
    monkeypatch.setattr(runner, "_SCREENED", {})
    monkeypatch.setattr(runner, "_SCREENED_BYTES", [0])
    right, wrong = _results_file("lstm_forward"), _results_file("lstm_forward", scale=2.0)
    first = runner._load_results(right, "lstm_forward", "oracle")
    again = runner._load_results(bytes(bytearray(right)), "lstm_forward", "oracle")  # equal, not the same object
    assert again is first and len(runner._SCREENED) == 1
    assert _same_obs(again, runner._screen_results(right, "lstm_forward", "oracle"))
    other = runner._load_results(wrong, "lstm_forward", "oracle")
    assert other is not first and not _same_obs(other, first)
    assert _same_obs(other, runner._screen_results(wrong, "lstm_forward", "oracle"))
    # the same bytes under another function or run are screened for that one
    assert runner._load_results(right, "lstm_forward", "own") is not first
    arrays = [v for v in first.values() if isinstance(v, np.ndarray)]
    assert arrays and not any(v.flags.writeable for v in arrays)


def test_the_memo_of_results_files_is_bounded_in_bytes(monkeypatch):
    """Does the memo let go of what it holds once the files behind it pass
    SCREENED_MAX_BYTES, and never keep a file larger than KEEP_RESULT_BYTES?"""
    from autograder.grading import runner
    monkeypatch.setattr(runner, "_SCREENED", {})
    monkeypatch.setattr(runner, "_SCREENED_BYTES", [0])
    data = _results_file("rnn_forward")
    monkeypatch.setattr(runner, "SCREENED_MAX_BYTES", 2 * len(data) + 1)
    for scale in (1.0, 2.0, 3.0):
        runner._load_results(_results_file("rnn_forward", scale=scale), "rnn_forward", "oracle")
    assert len(runner._SCREENED) == 1 and runner._SCREENED_BYTES[0] == len(data)
    monkeypatch.setattr(runner, "KEEP_RESULT_BYTES", len(data) - 1)
    runner._load_results(data, "rnn_forward", "own")
    assert len(runner._SCREENED) == 1


def test_a_token_stands_for_the_observations_it_was_made_of(tmp_path, monkeypatch):
    """Do the tokens of two units read from the same bytes agree and those of other bytes or
    other errors differ, does a function's token say whether its own run was skipped, is
    there none when a part has none, and does the judge give the same verdict for
    observations with a token as for the same observations without one?"""
    import types
    from autograder.grading import judge, runner, verdict
    from autograder.sandbox import isolation
    monkeypatch.setattr(runner, "_SCREENED", {})
    monkeypatch.setattr(runner, "_SCREENED_BYTES", [0])
    sandbox = types.SimpleNamespace(read_job_file=isolation.read_job_file)

    def unit(data, status="ok"):
        (tmp_path / "out_rnn_forward.oracle.obs").write_bytes(data)
        return runner._read_unit(sandbox, tmp_path, "rnn_forward", "oracle", status, 5)
    right, wrong = _results_file("rnn_forward"), _results_file("rnn_forward", scale=2.0)
    (a, ta), (b, tb), (c, tc) = unit(right), unit(bytes(bytearray(right))), unit(wrong)
    assert ta == tb and ta != tc and _same_obs(a, b) and not _same_obs(a, c)
    (d, td), (e, te) = unit(b"", status="timeout"), unit(b"", status="signal 9")
    assert td != te and td != ta and td == unit(b"", status="timeout")[1]
    assert runner._token([ta, td], {}) != runner._token([ta, td], {"own/skipped#": "x"})
    assert runner._token([ta, td], {}) != runner._token([td, ta], {})  # merged in that order
    assert runner._token([ta, None], {}) is None
    judge._JUDGED.clear()
    for obs, token in ((a, ta), (c, tc), (d, td)):
        plain = verdict.judge("rnn_forward", obs).as_dict()
        tokened = runner.Observations(obs, runner._token([token], obs))
        assert judge._judge("rnn_forward", tokened).as_dict() == plain
        assert judge._judge("rnn_forward", dict(obs)).as_dict() == plain
    assert len(judge._JUDGED) == 6  # a token and a digest are never the same key


def test_a_notebook_read_again_gives_its_cells_and_a_changed_one_its_new_cells(tmp_path, monkeypatch):
    """Is a notebook read a second time (for its autograded copy) parsed only once, and does a
    notebook changed in between give its new cells, not the ones taken before?"""
    from autograder import assignment
    from autograder.grading import submissions

    def notebook(body):
        cells = [{"cell_type": "code", "source": f"def {name}():\n    return {body!r}\n",
                  "metadata": {"nbgrader": {"grade_id": name}}, "outputs": [],
                  "execution_count": None} for name in assignment.FUNCTIONS]
        return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})

    path = tmp_path / "nb.ipynb"
    path.write_text(notebook("first"))
    parsed = []
    take = submissions._take_cells
    monkeypatch.setattr(submissions, "_take_cells", lambda raw: parsed.append(1) or take(raw))
    first = submissions.read_submission(path)
    first[0][assignment.FUNCTIONS[0]] = "changed by the caller"  # a copy: the memo keeps its own
    again = submissions.read_submission(path)
    assert len(parsed) == 1
    assert again == take(path.read_bytes())
    path.write_text(notebook("second"))
    changed = submissions.read_submission(path)
    assert len(parsed) == 2
    assert all("second" in source for source in changed[0].values()), changed
