"""Attacks on the fast paths of the engine-lean change: can student code get past them?

Each test is a question about a shortcut taken on student code or on what it sends back:
a cell run without _quiet, the cell clock and _restore (engine._defined_quietly), the
mutation check's walk (structure.unchanged), and the reworked flatten/dumps.  The answer
asserted is always the one of the slow path the shortcut replaces.
"""
import builtins
import importlib.util
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import engine, structure

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "707039d"  # the commit before the fast paths


def _old_structure(tmp_path):
    """structure.py as it was before the fast paths, loaded as a module of its own."""
    try:
        text = subprocess.run(["git", "show", f"{BEFORE}:autograder/sandbox/structure.py"],
                              cwd=ROOT, capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the commit before the fast paths is not in this checkout")
    path = tmp_path / "old_structure.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_structure", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nested(leaf, depth):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def _odd_objects():
    """Results a student's function may return, chosen where the new code branches."""
    depth = structure.MAX_DEPTH
    return {
        "long tuple (past the cached [i] paths)": tuple(np.arange(3.0) for _ in range(300)),
        "Fortran-order array": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "strided view": (np.arange(10.0)[::2], np.zeros((2, 3))[:, 1]),
        "bool and small ints": [np.array([True, False]), np.zeros(2, np.uint8), np.zeros(2, np.int32)],
        "big-endian floats": (np.arange(3, dtype=">f8"),),
        "float64 with metadata": (np.zeros(2, dtype=np.dtype(np.float64, metadata={"m": 1})),),
        "float32 and float16": {"a": np.arange(3, dtype=np.float32), "b": np.float32(2),
                                "c": np.zeros(2, np.float16)},
        "non-numeric": (np.array(["a"]), np.array([None]), None, "s", 1j, np.zeros(2, complex)),
        "quotes and surrogates in keys": {"é\ud800": np.zeros(2), "'\"": [np.ones(1)], "]['": 1.0},
        "list at the depth limit": _nested(np.zeros(1), depth),
        "list one past the depth limit": _nested(np.zeros(1), depth + 1),
        "list two past the depth limit": _nested(np.zeros(1), depth + 2),
        "dict at the depth limit": _nested({"k": np.zeros(1)}, depth),
        "dict with an int key": {1: np.zeros(1)},
        "0-d array": np.array(3.0),
        "scalars": [True, 2, 2.5, np.int64(3), np.bool_(True), np.float64(-0.0)],
        "ndarray subclass": (np.zeros(2).view(np.recarray),),
    }


def test_flatten_and_dumps_write_what_the_old_structure_module_wrote(tmp_path):
    """For results at every branch of the new flatten (long tuples, views, other dtypes,
    the depth limit, odd keys, subclasses), with and without copy and a key prefix, do
    flatten and dumps give the very keys, markers, dtypes, bytes and file of the code before
    the fast paths?  (Checked to fail with _children's `depth <= MAX_DEPTH` dropped, and
    with dumps writing shapes as tuples.)"""
    old = _old_structure(tmp_path)
    for name, obj in _odd_objects().items():
        for copy in (True, False):
            for prefix in ("", "c0/oracle/"):
                new_flat = structure.flatten(obj, "in", copy=copy, prefix=prefix)
                old_flat = {prefix + k: v for k, v in old.flatten(obj, "in", copy=copy).items()}
                assert list(new_flat) == list(old_flat), name
                for key, value in new_flat.items():
                    before = old_flat[key]
                    assert type(value) is type(before), (name, key)
                    if isinstance(value, str):
                        assert value == before, (name, key)
                    else:
                        assert (value.dtype, value.shape, value.tobytes()) == \
                            (before.dtype, before.shape, before.tobytes()), (name, key)
                        if copy:
                            assert value.flags.c_contiguous and value is not before
                try:
                    written = structure.dumps(new_flat)
                except TypeError as error:  # a dtype neither stores: both must refuse it
                    with pytest.raises(TypeError) as info:
                        old.dumps(old_flat)
                    assert str(info.value) == str(error)
                    continue
                assert written == old.dumps(old_flat), (name, copy, prefix)


def test_dumps_of_odd_flat_dicts_writes_the_old_bytes(tmp_path):
    """Does dumps write the old bytes, or refuse as the old one did, for flat dicts that no
    flatten makes but the oracle's requests or a test might: numpy str markers, str
    subclasses as keys or markers, Python floats and lists as values, big-endian arrays,
    views that are not contiguous?"""
    old = _old_structure(tmp_path)

    class Text(str):
        pass
    flats = [
        {"a#": np.str_("x"), "a": np.float64(1.5)},
        {"a#": Text("x"), "b": np.arange(3)},
        {Text("k"): "v"},
        {"k": 2.5}, {"k": [1.0, 2.0]}, {"k": True},
        {"\u2028é": "\ud800", "x": np.zeros((0, 3))},
        {"x": np.zeros(3, dtype=">f8")},
        {"x": np.zeros((2, 3))[:, ::2]},
        {"x": np.frombuffer(np.arange(3.0).tobytes())},
    ]

    def written(dumps, flat):
        try:
            return dumps(flat)
        except Exception as error:  # noqa: BLE001 -- the refusal is compared
            return type(error), str(error)
    for flat in flats:
        assert written(structure.dumps, flat) == written(old.dumps, flat), flat


def _mutations():
    """(name, change) -- in-place changes a student's function may make to its (copied)
    inputs, ([array], tuple of arrays, {"h": array, "n": 3}), each meant to slip past a
    walk that compares less than a full flattening does."""
    def dtype_reinterpreted(a):
        a[0][0].dtype = np.int64  # the same bytes, read as other numbers

    def reshaped(a):
        a[0][0].shape = (3, 2)  # the same bytes, another shape

    def strides_flipped(a):
        a[0][0] = a[0][0][::-1, ::-1]

    def subclass(a):
        a[0][0] = a[0][0].view(np.matrix)

    def list_to_tuple(a):
        a[0][:] = [tuple(a[0])]

    def equal_looking_list(a):
        class Items(list):
            pass
        a[0][:] = [Items(a[0])] if False else a[0]
        a[2]["h"] = Items([a[2]["h"]])

    def int_to_bool(a):
        a[2]["n"] = True if a[2]["n"] == 1 else a[2]["n"]

    def int_to_float(a):
        a[2]["n"] = float(a[2]["n"])

    def negative_zero(a):
        a[2]["h"][0] = -0.0  # was 0.0

    def nan_payload(a):
        a[1][0].view(np.uint64)[0] = 0x7FF8000000000001

    def one_bit(a):
        a[1][1].view(np.uint64)[0] ^= 1

    def key_added(a):
        a[2][7] = np.zeros(1)

    def str_key_added(a):
        a[2]["zz"] = None

    def swapped(a):
        a[1][0][...], a[1][1][...] = a[1][1].copy(), a[1][0].copy()

    def deepened(a):
        a[0].append(_nested(np.zeros(1), structure.MAX_DEPTH + 3))

    def nothing(a):
        pass
    return [(f.__name__, f) for f in (
        dtype_reinterpreted, reshaped, strides_flipped, subclass, list_to_tuple,
        equal_looking_list, int_to_bool, int_to_float, negative_zero, nan_payload, one_bit,
        key_added, str_key_added, swapped, deepened, nothing)]


def _case():
    return ([np.arange(6.0).reshape(2, 3) + 1],
            (np.array([np.nan, 1.0]), np.array([2.0, np.nan])),
            {"h": np.array([0.0, 1.0]), "n": 1})


def test_unchanged_is_sure_only_of_the_very_flattening_it_was_given():
    """After each in-place change a student may make to its inputs, is structure.unchanged
    True only when flattening the changed inputs gives exactly the dtypes, shapes, bytes and
    markers it was given?  (Checked to fail with the dtype or the shape test of
    _walk_items removed.)"""
    for name, change in _mutations():
        args = structure.copy(_case())
        expected = structure.values(structure.flatten(args, "in"))
        change(args)
        if structure.unchanged(args, expected):
            got = structure.values(structure.flatten(args, "in", copy=False))
            assert len(got) == len(expected), name
            for have, want in zip(got, expected):
                if isinstance(want, str):
                    assert have == want, name
                else:
                    assert have[0] == want[0] and have[1:] == want[1:], name
        else:
            assert name != "nothing"


def test_the_mutation_check_flags_what_the_full_comparison_flags():
    """Does engine._call, with the mutation check the engine gives it (the walk, then the
    full comparison when not sure), say "mutated#" for exactly the in-place changes that a
    full flatten-and-compare of the inputs sees, for changes meant to look unchanged?
    (Checked to fail with structure.unchanged made to answer True always.)"""
    flagged = {}
    for name, change in _mutations():
        case = _case()
        before = structure.flatten(case, "in")

        def student(*inputs, change=change):
            change(inputs)
            return 0.0
        args = structure.copy(case)
        flat, error = engine._call(student, args, engine.SEEDS[0],
                                   mutated_check=engine._inputs(case))
        assert error is None, (name, error)
        full = engine._same(before, structure.flatten(args, "in", copy=False))
        assert ("mutated#" in flat) == (not full), name
        flagged[name] = "mutated#" in flat
    # the changes that alter what flatten sees are caught; -0.0 and another NaN are equal
    # under the comparison (NaN equal to NaN), as they were before the walk
    assert {n for n, f in flagged.items() if f} == {
        "dtype_reinterpreted", "reshaped", "strides_flipped", "subclass", "list_to_tuple",
        "equal_looking_list", "key_added", "str_key_added", "swapped", "deepened", "one_bit"}


def _setup_ns():
    ns = {"__name__": "__submission__"}
    exec(engine._compile("import numpy as np\n", "<setup>"), ns)
    return ns


@pytest.mark.parametrize("source", [
    "__builtins__ = None\n",          # would cut every later cell off from the builtins
    "__name__ = 'builtins'\n",        # the module name of every function made after it
    "np = 0\n",                        # a name the setup bound
    '"""a docstring"""\n',            # __doc__, once a first cell bound it
])
def test_a_defining_cell_that_rebinds_a_bound_name_runs_in_full(source):
    """Is a cell made only of constants and names, but binding a name the namespace holds
    already (__builtins__, __name__, the setup's np, a second module docstring), run in
    full rather than by the shortcut, where dropping the old value could run its __del__?
    (Checked to fail with the `name in ns` test of _defined_quietly removed.)"""
    ns = _setup_ns()
    ns["__doc__"] = "bound by an earlier cell"
    code = engine._compile(source, "<cell rebinds>")
    assert engine._only_defines(code) is not None  # it does look like a defining cell
    assert engine._defined_quietly(ns, source, "<cell rebinds>") is False
    assert ns["__builtins__"] is not None and ns["__name__"] == "__submission__"


def test_a_defining_cell_of_new_names_runs_none_of_its_bodies(capfd):
    """Does a defining cell that makes functions which print, warn, rebind builtins or loop
    forever when called, and names no builtin shadows yet, run by the shortcut without
    running any of their bodies: nothing printed, builtins and numpy as they were?"""
    source = (
        "def print(*a):\n    raise SystemExit\n"
        "def spin():\n    while True:\n        pass\n"
        "def loud():\n    import sys, warnings\n    sys.stderr.write('x')\n"
        "    warnings.warn('w')\n"
        "patch = lambda: setattr(__import__('builtins'), 'sorted', None)\n"
        "LIMIT = 10 ** 10  # folded to a constant by the compiler\n"
    )
    ns = _setup_ns()
    engine._compile(source, "<cell quiet>")
    real_print, real_sorted = builtins.print, builtins.sorted
    assert engine._defined_quietly(ns, source, "<cell quiet>") is True
    assert {"print", "spin", "loud", "patch", "LIMIT"} <= set(ns)
    assert builtins.print is real_print and builtins.sorted is real_sorted
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_cell_not_compiled_beforehand_is_never_run_by_the_shortcut():
    """Is a defining cell that was never compiled (so compiling it now could warn) run in
    full, the shortcut taken only for code compiled earlier, and a cell whose source was
    compiled under another cell name not taken for this one?"""
    source = "def f():\n    return 1 is 1\n"  # compiling it warns (SyntaxWarning)
    engine._COMPILED.pop((source, "<cell a>"), None)
    engine._DEFINES.pop((source, "<cell a>"), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine._compile(source, "<cell b>")
    assert engine._defined_quietly(_setup_ns(), source, "<cell a>") is False
    assert engine._defined_quietly(_setup_ns(), source, "<cell b>") is True


def test_an_oracle_request_is_the_plain_json_for_any_query():
    """Is the request the stand-in sends the json.dumps text of its query for ordinary
    queries and for a position a forged reply made odd (a bool, a float, a huge int)?"""
    got = structure.flatten((np.arange(3.0),), "in")
    for function, case, position, number, names in (
            ("rnn_step", 0, 1, 2, ("x", "h")), ("rnn_step", 3, True, 2, ("x", "h")),
            ("rnn_step", 3, 1.5, 2, ("x",)), ("é\"", 2**70, 0, 0, ()),
            ("rnn_step", -1, 0, 0, ("a\ud800",))):
        want = engine.json.dumps([function, case, position, number, list(names)]).encode()
        request = engine.oracle_request(function, case, position, number, names, got)
        size = engine._QUERY_SIZE.size
        assert request[size:size + len(want)] == want
        assert engine._QUERY_SIZE.unpack(request[:size])[0] == len(want)


def _forged_results(function, extra):
    """The bytes of an honest "oracle" results file of `function` (the reference's results)
    with `extra` entries added, as a child running student code may write them."""
    from autograder.grading import verdict
    obs = {}
    for i, want in enumerate(verdict.expected_flat(function)):
        obs.update({f"c{i}/oracle/{k}": v for k, v in want.items()})
    obs.update(extra)
    return structure.dumps(obs)


def test_a_forged_results_file_cannot_speak_for_the_own_run_or_share_a_writable_entry(
        tmp_path, monkeypatch):
    """Does a results file of the "oracle" run that also carries "own" results, an
    "own/skipped#" note, a zero-length array and an array of a shape never expected give,
    through the parent's memo, observations with none of the other run's keys (so that the
    token's "skipped" part is read from what was merged, never from the file), the same
    verdict with its token as without, and only arrays that no reader can write into?
    (Checked to fail with the screen's run test dropped, and with the results read into a
    bytearray, which makes the memo's arrays writable.)"""
    import types
    from autograder.grading import judge, runner, verdict
    from autograder.sandbox import isolation
    monkeypatch.setattr(runner, "_SCREENED", {})
    monkeypatch.setattr(runner, "_SCREENED_BYTES", [0])
    sandbox = types.SimpleNamespace(read_job_file=isolation.read_job_file)
    function = "rnn_forward"
    honest = _forged_results(function, {})
    forged = _forged_results(function, {
        "own/skipped#": "not needed: both pass with the oracle",
        "c0/own/error#": "forged", "c0/own/out#": "ndarray", "c0/own/out": np.zeros(3),
        "c0/oracle/empty#": "ndarray", "c0/oracle/empty": np.zeros((0, 4)),
        "c0/oracle/out[0]": np.zeros((7, 7, 7)),
    })

    def unit(data):
        (tmp_path / f"out_{function}.oracle.obs").write_bytes(data)
        return runner._read_unit(sandbox, tmp_path, function, "oracle", "ok", 5)
    (a, ta), (b, tb) = unit(honest), unit(forged)
    assert ta != tb
    for obs in (a, b):
        assert not any(k.startswith("own/") or "/own/" in k for k in obs)
    assert runner._token([tb], b)[1] is False  # the own run is not taken as skipped
    for value in b.values():
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable
            with pytest.raises(ValueError):
                value[...] = 1
    judge._JUDGED.clear()
    merged = dict(b)
    plain = verdict.judge(function, merged).as_dict()
    assert judge._judge(function, runner.Observations(merged, runner._token([tb], merged))).as_dict() == plain
    again, _ = unit(forged)  # the memo's entry, read by the next student with these bytes
    assert again is b and runner._SCREENED[tb] is b
