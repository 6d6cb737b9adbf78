"""Is the reference right?  Finite differences, published values, and the helpers students use."""
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

import rnn_checks
import rnn_utils
from autograder import assignment, cases

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads((Path(__file__).parent / "data" / "published_expected.json").read_text())
BACKWARD = ("rnn_cell_backward", "rnn_backward", "lstm_cell_backward", "lstm_backward")


def reference_results(function, **sizes):
    """What the reference returns on the example inputs of `function`."""
    inputs = rnn_utils.example_inputs(function, **sizes)
    if function in rnn_utils.FORWARD_OF:
        cache = assignment.reference(rnn_utils.FORWARD_OF[function])(**inputs["forward"])[-1]
        upstream = [inputs[k] for k in ("da_next", "dc_next", "da") if k in inputs]
        return assignment.reference(function)(*upstream, cache)
    return assignment.reference(function)(**inputs)


# -- finite differences ------------------------------------------------------

SIZES = [dict(seed=1, n_x=3, n_a=5, n_y=2, m=10, T_x=4), dict(seed=3, n_x=2, n_a=1, n_y=3, m=1, T_x=1),
         dict(seed=5, n_x=4, n_a=6, n_y=3, m=2, T_x=3)]


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"seed{s['seed']}")
@pytest.mark.parametrize("function", BACKWARD)
def test_reference_backward_matches_central_differences(function, sizes):
    """Does every gradient of the reference backward pass agree with central differences (rel. error < 1e-6)?"""
    sizes = dict(sizes)
    seed = sizes.pop("seed")
    if function not in ("rnn_backward", "lstm_backward"):
        sizes.pop("T_x")
    upstream = rnn_utils.example_inputs(function, seed, **sizes)
    inputs = upstream.pop("forward")
    forward = assignment.reference(rnn_utils.FORWARD_OF[function])
    analytic = assignment.reference(function)(*upstream.values(), forward(**inputs)[-1])
    errors = {}
    for key in rnn_utils.GRADIENT_KEYS[function]:
        numeric = rnn_checks.numerical_gradient(
            lambda _: rnn_checks.loss(function, forward, inputs, upstream),
            rnn_checks.gradient_target(key, inputs), 1.0)
        errors[key] = rnn_utils.relative_error(analytic[key], numeric)
    assert set(errors) == set(rnn_utils.GRADIENT_KEYS[function])
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{function}: {worst} has relative error {errors[worst]:.2e}"


def test_numerical_gradient_of_a_known_function():
    """Does numerical_gradient reproduce the gradient of a function we can differentiate by hand?"""
    rng = np.random.RandomState(0)
    x = rng.randn(3, 4)
    df = rng.randn(3, 4)
    before = x.copy()
    numeric = rnn_checks.numerical_gradient(lambda v: np.sin(v) * v ** 2, x, df)
    exact = (np.cos(x) * x ** 2 + 2 * x * np.sin(x)) * df
    assert rnn_utils.relative_error(exact, numeric) < 1e-8
    assert np.array_equal(x, before), "x must be restored after the check"


def test_relative_error_flags_a_wrong_gradient():
    """Does relative_error expose a gradient with a missing factor?"""
    rng = np.random.RandomState(1)
    x, df = rng.randn(5), rng.randn(5)
    numeric = rnn_checks.numerical_gradient(lambda v: np.tanh(v), x, df)
    wrong = df  # the tanh derivative forgotten
    assert rnn_utils.relative_error(wrong, numeric) > 1e-2
    assert rnn_utils.relative_error(numeric, numeric) == 0.0
    with pytest.raises(ValueError):
        rnn_utils.relative_error(np.zeros(2), np.zeros(3))


def test_gradient_check_flags_only_the_spoiled_gradient(capsys, monkeypatch):
    """Does gradient_check point at the one gradient that is wrong, and pass the others?"""
    monkeypatch.setattr(rnn_checks, "DATA_FILE",
                        ROOT / "release" / assignment.ASSIGNMENT / rnn_checks.DATA_NAME)
    forward = assignment.reference("lstm_cell_forward")
    right = assignment.reference("lstm_cell_backward")

    def spoiled(da_next, dc_next, cache):
        grads = right(da_next, dc_next, cache)
        grads["dbo"] = grads["dbo"] * 1.1
        return grads
    errors = rnn_utils.gradient_check("lstm_cell_backward", forward, spoiled)
    assert errors["dbo"] > 1e-3
    assert all(err < 1e-7 for key, err in errors.items() if key != "dbo")
    printed = capsys.readouterr().out
    assert re.search(r"dbo: relative error .* WRONG", printed)


# -- published values and the notebook's Expected Output tables ----------------

def _resolve(function, results, label):
    """Read a value such as 'dWax[3][1]' or 'len(caches)' from results."""
    m = re.fullmatch(r"(len\()?(\w+)((?:\[\d+\])*)\)?", label)
    length, name, idx = m.group(1), m.group(2), [int(i) for i in re.findall(r"\d+", m.group(3))]
    if function in rnn_utils.GRADIENT_KEYS:
        value = results[name]
    else:
        names = list(rnn_utils.OUTPUT_NAMES[function])
        names = [{"yt_pred": "yt"}.get(n, n) if function == "lstm_cell_forward" else n for n in names]
        value = results[names.index(name)]
    for i in idx:
        value = value[i]
    return len(value) if length else value


@pytest.mark.parametrize("function", assignment.FUNCTIONS)
def test_reference_reproduces_published_values(function):
    """Does the reference give every published seed-1 value of this function?

    Published arrays are printed with 8 decimals, hence atol = 1e-8.
    """
    results = reference_results(function)
    for label, text in PUBLISHED[function].items():
        published = np.array([float(v) for v in text.strip("[]").split()])
        got = np.atleast_1d(np.asarray(_resolve(function, results, label), dtype=float))
        assert np.allclose(got, published, rtol=1e-7, atol=1e-8), f"{function} {label}: {got} vs {published}"


def _expected_tables():
    nb = nbformat.read(str(ROOT / "source" / assignment.ASSIGNMENT / f"{assignment.ASSIGNMENT}.ipynb"), 4)
    tables, current = {}, None
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("example_"):
            current = grade_id[len("example_"):]
        if cell.cell_type == "markdown" and "**Expected output**" in cell.source:
            rows = re.findall(r"^\| `(.+?)` \| `(.+?)` \|$", cell.source, flags=re.M)
            tables[current] = dict(rows)
    return tables


def test_every_function_has_an_expected_output_table():
    """Does the notebook show an Expected Output table after every function's example?"""
    assert set(_expected_tables()) == set(assignment.FUNCTIONS)


@pytest.mark.parametrize("function", assignment.FUNCTIONS)
def test_expected_output_tables_are_true(function):
    """Is every value in the notebook's Expected Output table what the reference computes, and the published value?"""
    table = _expected_tables()[function]
    results = reference_results(function)
    shown = dict(rnn_checks.shown_paths(function, rnn_utils.GRADIENT_KEYS.get(function)))
    assert list(table) == list(shown)
    for label, text in table.items():
        value = rnn_checks.pick(results, shown[label])
        if label.endswith(".shape") or label.startswith("len("):
            assert text == str(value)
            continue
        numbers = np.array([float(v) for v in text.strip("[]").split()])
        assert np.allclose(numbers, np.atleast_1d(value), rtol=1e-7, atol=1e-8), label
    # and the table agrees with the published values wherever they overlap
    published = {re.sub(r'gradients\["(\w+)"\]', r"\1", k): v for k, v in table.items()}
    for label, text in PUBLISHED[function].items():
        if label in published:
            a = np.array([float(v) for v in published[label].strip("[]").split()])
            b = np.array([float(v) for v in text.strip("[]").split()])
            assert np.allclose(a, b, rtol=1e-7, atol=1e-8), label


# -- the cases ---------------------------------------------------------------

@pytest.mark.parametrize("function", assignment.FUNCTIONS)
def test_cases_cover_the_shapes_that_reveal_mistakes(function):
    """Do the hidden cases include seed 1, other seeds, T_x = 1 and > 1, n_a = 1, m = 1 and n_x != n_a != n_y?"""
    cs = cases.cases_for(function)
    assert cs[0].seed == 1 and (cs[0].n_x, cs[0].n_a, cs[0].n_y, cs[0].m) == (3, 5, 2, 10)
    assert len({c.seed for c in cs}) == len(cs)
    assert any(c.n_a == 1 for c in cs) and any(c.m == 1 for c in cs)
    assert any(len({c.n_x, c.n_a, c.n_y}) == 3 for c in cs)
    if function in ("rnn_forward", "lstm_forward", "rnn_backward", "lstm_backward"):
        assert {c.T_x == 1 for c in cs} == {True, False}


def test_softmax_is_stable_per_column():
    """Does softmax stay finite when one column is far below the global maximum?"""
    z = np.array([[1000.0, -1000.0], [999.0, -1001.0]])
    p = rnn_utils.softmax(z)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=0), 1.0)
    assert np.allclose(p[:, 1], p[:, 0])


def test_example_inputs_leave_global_random_state_alone():
    """Does drawing a case leave numpy's global random stream untouched?"""
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    rnn_utils.example_inputs("lstm_backward", seed=4)
    assert np.array_equal(np.random.get_state()[1], before)
