"""Does the grading core judge fairly and explain failures?  (in-process, no sandbox)"""
import pytest

from autograder import assignment
from autograder.course import samples
from autograder.grading import mistakes, verdict
from autograder.sandbox import engine, structure


def grade_in_process(function, sources):
    obs = engine.observe(function, assignment.DEPENDS_ON.get(function), assignment.setup_source(),
                         sources, verdict.make_cases_payload(function))
    return obs, verdict.judge(function, obs)


def with_cell(function, source):
    sources = assignment.reference_sources()
    sources[function] = source
    return sources


@pytest.mark.parametrize("function", assignment.FUNCTIONS)
def test_reference_passes_with_the_oracle(function):
    """Does the reference pass every case, with the oracle answering every call it makes?"""
    obs, result = grade_in_process(function, assignment.reference_sources())
    assert result.passed and result.score == result.max and result.diagnosis == []
    assert not [k for k in obs if k.endswith("error#")], obs.keys()


def _solution_lines():
    """Lines of reference solution code (comments dropped) that the release does not show."""
    import nbformat
    release = "\n".join(c.source for c in nbformat.read(
        str(assignment.ROOT / "release" / assignment.ASSIGNMENT / f"{assignment.ASSIGNMENT}.ipynb"),
        as_version=4).cells)
    lines = set()
    for source in assignment.reference_sources().values():
        region = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        lines |= {code for code in (line.split("#")[0].strip() for line in region.splitlines())
                  if len(code) > 10 and code not in release}
    return lines


@pytest.mark.parametrize("mistake", mistakes.MISTAKES, ids=lambda m: f"{m.function}-{m.code}")
def test_hint_teaches_without_giving_the_solution(mistake):
    """Does the hint of each known mistake avoid quoting a line of the reference solution?"""
    quoted = [line for line in _solution_lines() if line in mistake.hint]
    assert not quoted, f"{mistake.code} hint quotes the solution: {quoted}"


@pytest.mark.parametrize("mistake", mistakes.MISTAKES, ids=lambda m: f"{m.function}-{m.code}")
def test_every_known_mistake_fails_and_is_diagnosed_as_itself(mistake):
    """Graded as a submission, does each known-mistake variant fail and get its own diagnosis?"""
    _, result = grade_in_process(mistake.function, with_cell(mistake.function, mistakes.variant_source(mistake)))
    assert not result.passed and result.score == 0
    assert mistake.code in result.diagnosis
    assert mistake.hint in result.message


def test_a_buggy_cell_costs_points_once():
    """Does a correct loop keep its points when the student's own cell function is wrong?"""
    bad_cell = mistakes.variant_source(mistakes.for_function("lstm_cell_backward")[0])
    sources = with_cell("lstm_cell_backward", bad_cell)
    _, cell = grade_in_process("lstm_cell_backward", sources)
    _, loop = grade_in_process("lstm_backward", sources)
    assert not cell.passed
    assert loop.passed and loop.diagnosis == ["INHERITS"]


def test_seed_bugs_are_diagnosed():
    """Are the lstm_backward bugs of seeds 001 and 002 caught, with a hint that teaches?"""
    _, r1 = grade_in_process("lstm_backward", with_cell("lstm_backward", samples.LSTM_BACKWARD_SEED_001))
    assert not r1.passed and "RECURRENT_GRADS_ZERO" in r1.diagnosis
    assert "never carried back" in r1.message
    _, r2 = grade_in_process("lstm_backward", with_cell("lstm_backward", samples.LSTM_BACKWARD_SEED_002))
    assert not r2.passed


def test_globals_reader_gets_a_plain_hint():
    """Is a function that reads weights from notebook globals told to take them from parameters?"""
    _, result = grade_in_process("rnn_cell_forward", with_cell("rnn_cell_forward", samples.RNN_CELL_FORWARD_GLOBALS))
    assert not result.passed and "NOTEBOOK_GLOBALS" in result.diagnosis
    assert "take it from `parameters`" in result.message


def test_c0_view_is_caught_in_the_cache():
    """Is an lstm_forward whose c<0> is a view into c failed on its cache, with a, y and c right?"""
    _, result = grade_in_process("lstm_forward", with_cell("lstm_forward", samples.LSTM_FORWARD_C0_VIEW))
    assert not result.passed and "C0_VIEW_ALIAS" in result.diagnosis
    assert "c_prev in the cache of step 0" in result.message
    assert "a is wrong" not in result.message and "y is wrong" not in result.message


def test_messages_name_the_case_but_never_show_code():
    """Does a failure message give the seed and sizes, and no line of reference or test code?"""
    m = mistakes.for_function("rnn_backward")[0]
    _, result = grade_in_process("rnn_backward", with_cell("rnn_backward", mistakes.variant_source(m)))
    assert "seed 1, n_x=3, n_a=5, n_y=2, m=10, T_x=4" in result.message
    reference = assignment.reference_sources()["rnn_backward"]
    for line in reference.splitlines():
        if len(line.strip()) > 15:
            assert line.strip() not in result.message
    for word in ("def ", "BEGIN HIDDEN", "check(", "import "):
        assert word not in result.message


def test_mutating_inputs_is_flagged_but_not_failed():
    """Is a correct function that changes its input arrays flagged, without losing points?"""
    source = assignment.reference_sources()["rnn_cell_forward"].replace(
        "    cache = (a_next, a_prev, xt, parameters)",
        "    xt_copy = xt.copy()\n    xt *= 1.0\n    xt[...] = xt_copy\n    a_prev += 0.0\n"
        "    parameters['Wax'][0, 0] += 0.0\n    cache = (a_next, a_prev, xt, parameters)")
    _, ok = grade_in_process("rnn_cell_forward", with_cell("rnn_cell_forward", source))
    assert ok.passed and "MUTATES_INPUT" not in ok.diagnosis  # same values: not a mutation
    bad = assignment.reference_sources()["rnn_cell_forward"].replace(
        "    cache = (a_next, a_prev, xt, parameters)",
        "    cache = (a_next, a_prev.copy(), xt, parameters)\n    a_prev[...] = 0.0")
    _, flagged = grade_in_process("rnn_cell_forward", with_cell("rnn_cell_forward", bad))
    assert flagged.passed and "MUTATES_INPUT" in flagged.diagnosis


def test_global_random_state_dependence_is_flagged():
    """Is a function whose results follow the global random state flagged and failed?"""
    source = assignment.reference_sources()["rnn_cell_forward"].replace(
        "    cache = (a_next, a_prev, xt, parameters)",
        "    a_next = a_next + 1e-3 * np.random.randn(*a_next.shape)\n    cache = (a_next, a_prev, xt, parameters)")
    _, result = grade_in_process("rnn_cell_forward", with_cell("rnn_cell_forward", source))
    assert not result.passed and "RANDOM_STATE" in result.diagnosis


def test_remembered_verdicts_are_the_verdicts_of_those_observations():
    """Does the batch grader's remembered verdict (one per exact set of observations) equal
    verdict.judge for the reference and for a wrong result, and can no two different
    observations, text that embeds the next key included, share a digest?"""
    import numpy as np

    from autograder.grading import judge, verdict as v
    function = "rnn_cell_forward"
    right, _ = grade_in_process(function, assignment.reference_sources())
    wrong = {k: (x * 2 if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x)
             for k, x in right.items()}
    judge._JUDGED.clear()
    for obs in (right, wrong, right, wrong):
        assert judge._judge(function, obs).as_dict() == v.judge(function, obs).as_dict()
    assert judge._judge(function, right).passed and not judge._judge(function, wrong).passed
    assert len(judge._JUDGED) == 2
    a = {"c0/oracle/error#": "x", "c1/oracle/error#": "y"}
    b = {"c0/oracle/error#": "x" + "\0" * 9 + "c1/oracle/error#" + "y"}
    c = {"c0/oracle/out#": np.zeros(2), "c1": np.zeros(1)}
    d = {"c0/oracle/out#": np.zeros(3)}
    digests = {judge._digest(o) for o in (a, b, c, d, right, wrong)}
    assert len(digests) == 6


def two_mistakes(function):
    """A cell with the first two known mistakes of `function` that fit together."""
    singles = mistakes.for_function(function)
    for i, a in enumerate(singles):
        for b in singles[i + 1:]:
            source = mistakes.combined_source([a, b])
            if source is not None:
                return source
    return None


@pytest.mark.parametrize("function", assignment.FUNCTIONS)
def test_outputs_a_variant_leaves_alone_are_skipped_without_changing_a_diagnosis(function, monkeypatch):
    """Does the judge know which outputs each known mistake leaves as the reference's, bit for
    bit, and does skipping them give the same verdict on a cell with two mistakes as
    comparing every output does?"""
    source = two_mistakes(function)
    obs, result = grade_in_process(function, with_cell(function, source))
    assert not result.passed
    want = verdict._outputs(verdict.expected_flat(function)[0])
    found = [verdict._variant_outputs(function, 0, (m.code,), "oracle")
             for m in mistakes.for_function(function)]
    assert any(found)
    for theirs, same in filter(None, found):
        assert same == {o for o in theirs if o in want and
                        structure.values(theirs[o]) == structure.values(want[o])}
    real = verdict._variant_outputs
    monkeypatch.setattr(verdict, "_variant_outputs",
                        lambda *args: real(*args) and (real(*args)[0], frozenset()))
    assert verdict.judge(function, obs).as_dict() == result.as_dict()


def test_an_array_with_the_expected_bits_passes_unless_it_is_not_finite():
    """Is an array that is the expected one bit for bit found equal, and one that holds NaN
    where the expected one does too still found not finite?"""
    import numpy as np

    from autograder.sandbox.compare import compare
    for dtype in (np.float64, np.float32):
        want = {"out#": "ndarray", "out": np.array([0.5, -2.0, 1e-30], dtype)}
        assert compare("rnn_cell_forward", want, {k: (v.copy() if k == "out" else v)
                                                  for k, v in want.items()}) == []
    nan = {"out#": "ndarray", "out": np.array([np.nan, 1.0])}
    [difference] = compare("rnn_cell_forward", nan, {"out#": "ndarray", "out": nan["out"].copy()})
    assert difference.kind == "not finite"
