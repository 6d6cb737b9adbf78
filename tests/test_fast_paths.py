"""The grader's fast paths: do they give exactly the answers of the slow ones?

Issue 12 made the comparisons and the oracle's messages cheaper: a bit-for-bit check before
the tolerance test (compare._agrees, engine._same), arrays flattened without a copy where
they are compared or sent at once, and oracle replies that the child reads back with
pickle.  Each is checked here against the plain computation it replaces, on the inputs
where a shortcut could go wrong (NaN, -0.0, other dtypes, one bit off), and the trusted side
of the oracle is checked never to unpickle what a child sends.
"""
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


def test_dict_markers_are_the_sorted_keys():
    """Is the cached marker of a dict the JSON list of its sorted keys, for each key set?"""
    assert structure.flatten({"b": 1.0, "a": 2.0})["out#"] == 'dict:["a", "b"]'
    assert structure.flatten({"c": 1.0})["out#"] == 'dict:["c"]'


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
    import types
    from autograder.grading import runner
    from autograder.sandbox import isolation
    server = types.SimpleNamespace(runner=types.SimpleNamespace(sandbox=isolation))
    good = structure.dumps({"c0/oracle/out#": "scalar", "c0/oracle/out": np.array(1.0)})
    for data in (good, b"not a results file"):
        (tmp_path / "out_rnn_cell_forward.oracle.obs").write_bytes(data)
        obs = runner.ForkServer._collect(server, tmp_path, "rnn_cell_forward", "oracle", "ok", 5)
        assert isinstance(obs, dict) and obs
        assert not (tmp_path / "out_rnn_cell_forward.oracle.obs").exists()
    obs = runner.ForkServer._collect(server, tmp_path, "rnn_cell_forward", "oracle", "ok", 5)
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
