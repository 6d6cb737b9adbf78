"""Helpers for the notebook: activations, the example inputs, the checks.

Everything here is public: students get this file with the release, next to
rnn_checks.py (bookkeeping you need not read) and rnn_example_data.npz (what
a correct implementation gives on the example, saved when the assignment was
built).

Dimension letters used throughout the course:
    n_x -- size of one input vector x<t>
    n_a -- size of the hidden state a<t> (and of the LSTM memory c<t>)
    n_y -- size of one prediction y<t>
    m   -- number of examples in the batch (columns)
    T_x -- number of time steps
A sequence is stored with layout (n_x, m, T_x).
"""
import numpy as np

# --- Activations -------------------------------------------------------------


def sigmoid(z):
    """Logistic function, element-wise.

    z -- any array
    returns an array of the same shape with values in (0, 1)
    """
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    """Column-wise softmax.

    z -- scores, shape (n_y, m): one column per example
    returns probabilities, shape (n_y, m); every column sums to 1

    The largest score of each column is subtracted first, so that exp()
    never overflows and no column turns into 0/0.
    """
    shifted = z - np.max(z, axis=0, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=0, keepdims=True)


# --- The example inputs of each function, drawn in the published order -------

FUNCTIONS = ("rnn_cell_forward", "rnn_forward", "lstm_cell_forward", "lstm_forward",
             "rnn_cell_backward", "rnn_backward", "lstm_cell_backward", "lstm_backward")

# The forward function whose cache a backward function consumes.
FORWARD_OF = {
    "rnn_cell_backward": "rnn_cell_forward",
    "rnn_backward": "rnn_forward",
    "lstm_cell_backward": "lstm_cell_forward",
    "lstm_backward": "lstm_forward",
}

DEFAULT_T_X = {"rnn": 4, "lstm": 7}

# The small case of the gradient checks (not one of the graded cases).
GRADIENT_CASE = {"seed": 2, "n_x": 3, "n_a": 4, "n_y": 2, "m": 3, "T_x": 4}


def _rnn_params(draw, n_x, n_a, n_y, wax_first):
    # the published forward tests draw Waa first; the backward ones Wax first
    if wax_first:
        Wax, Waa = draw(n_a, n_x), draw(n_a, n_a)
    else:
        Waa, Wax = draw(n_a, n_a), draw(n_a, n_x)
    Wya = draw(n_y, n_a)
    return {"Waa": Waa, "Wax": Wax, "Wya": Wya, "ba": draw(n_a, 1), "by": draw(n_y, 1)}


def _lstm_params(draw, n_x, n_a, n_y):
    p = {}
    for gate in ("f", "i", "o", "c"):
        p["W" + gate] = draw(n_a, n_a + n_x)
        p["b" + gate] = draw(n_a, 1)
    p["Wy"] = draw(n_y, n_a)
    p["by"] = draw(n_y, 1)
    return p


def example_inputs(function, seed=1, n_x=3, n_a=5, n_y=2, m=10, T_x=None):
    """Draw the inputs of one function from a seeded legacy random stream.

    function -- one of FUNCTIONS
    seed     -- seed of the stream; seed 1 with the default sizes gives the
                published example whose Expected Output the notebook shows
    n_x, n_a, n_y, m, T_x -- sizes (T_x only for whole-sequence functions;
                default 4 for the RNN and 7 for the LSTM)

    returns a dict.  For a forward function it maps argument names to values,
    ready for ``function(**inputs)``.  For a backward function it holds
    "forward" (the arguments of the matching forward function) and the
    upstream gradient(s): "da_next" (and "dc_next") or "da".

    The global numpy random state is neither read nor changed.
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {', '.join(FUNCTIONS)}")
    draw = np.random.RandomState(seed).randn
    family = "lstm" if function.startswith("lstm") else "rnn"
    whole_sequence = function in ("rnn_forward", "lstm_forward", "rnn_backward", "lstm_backward")
    backward = function.endswith("backward")
    if whole_sequence:
        T_x = DEFAULT_T_X[family] if T_x is None else T_x
        inputs = {"x": draw(n_x, m, T_x), "a0": draw(n_a, m)}
    else:
        inputs = {"xt": draw(n_x, m), "a_prev": draw(n_a, m)}
        if family == "lstm":
            inputs["c_prev"] = draw(n_a, m)
    inputs["parameters"] = (_rnn_params(draw, n_x, n_a, n_y, wax_first=backward)
                            if family == "rnn" else _lstm_params(draw, n_x, n_a, n_y))
    if not backward:
        return inputs
    out = {"forward": inputs}
    if whole_sequence:
        out["da"] = draw(n_a, m, T_x)
    else:
        out["da_next"] = draw(n_a, m)
        if family == "lstm":
            out["dc_next"] = draw(n_a, m)
    return out


# --- What each function returns ----------------------------------------------

GRADIENT_KEYS = {
    "rnn_cell_backward": ("dxt", "da_prev", "dWax", "dWaa", "dba"),
    "rnn_backward": ("dx", "da0", "dWax", "dWaa", "dba"),
    "lstm_cell_backward": ("dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi",
                           "dWc", "dbc", "dWo", "dbo"),
    "lstm_backward": ("dx", "da0", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"),
}

OUTPUT_NAMES = {
    "rnn_cell_forward": ("a_next", "yt_pred", "cache"),
    "rnn_forward": ("a", "y_pred", "caches"),
    "lstm_cell_forward": ("a_next", "c_next", "yt_pred", "cache"),
    "lstm_forward": ("a", "y", "c", "caches"),
}

# --- The checks of the test cells --------------------------------------------


class CheckFailed(AssertionError):
    """A visible check found something wrong; its message says what."""


def show_values(function, results):
    """Print the values of the Expected output table, read from your results."""
    import rnn_checks
    for label, text in rnn_checks.shown_values(function, results, GRADIENT_KEYS.get(function)):
        print(f"{label} = {text}")


def check_example(function, implementation):
    """Run your function on the published example, print the values of its
    Expected output table, and compare every result with the expected one.

    Prints "The visible checks pass." only when all of them match; otherwise
    raises CheckFailed naming the first wrong value.
    """
    import rnn_checks
    results, problem = rnn_checks.run_saved_case(function, implementation)
    if results is not None:
        show_values(function, results)
    if problem:
        raise CheckFailed(problem)
    print("\nThe visible checks pass." + rnn_checks.own_cell_note(function, implementation))


def check_submission(function, implementation):
    """What the grader would give 0 for, as far as the published example shows:
    the function not defined in its graded cell, or wrong on the example."""
    import warnings

    import rnn_checks
    problem = rnn_checks.cell_problem(function, implementation)
    if problem is None:
        with warnings.catch_warnings():  # a warning on stderr would cost the graded cell its points
            warnings.simplefilter("ignore")
            _, problem = rnn_checks.run_saved_case(function, implementation)
    if problem:
        raise CheckFailed(problem)
    print(f"{function}: in its graded cell and right on the published example.")


def assert_implemented(name, function):
    """Fail if `function` still raises its NotImplementedError (called once on small
    all-zero inputs; any other problem is left to the tests, which say more about it)."""
    import rnn_checks
    if rnn_checks.raises_own_stub(function, rnn_checks.placeholder_arguments(name)):
        raise CheckFailed(f"{name} is not implemented yet: write your code between "
                          "START CODE HERE and END CODE HERE")


# --- Numerical gradient checking ---------------------------------------------


def relative_error(analytic, numeric):
    """||analytic - numeric|| / (||analytic|| + ||numeric||), in [0, 1].

    With float64 and eps = 1e-5 a correct backward pass gives about 1e-8 or
    less (the rounding error of the centred differences); 1e-4 or more is a bug.
    """
    analytic, numeric = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: {analytic.shape} vs {numeric.shape}")
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if scale == 0.0 else float(np.linalg.norm(analytic - numeric) / scale)


def gradient_check(function, forward, backward, verbose=True):
    """Compare every gradient of `backward` with a numerical estimate.

    function -- name of the backward function, e.g. "rnn_cell_backward"
    forward  -- your matching forward function (or None): only used to tell
                you whether it agrees with a correct forward on this case
    backward -- the backward function to check

    The case is GRADIENT_CASE, with the cache of a correct forward pass.  Its
    numerical gradients were computed when the assignment was built: every
    input and parameter of a correct forward pass was nudged by +-1e-5, one
    entry at a time, and numerical_gradient turned the change of the loss
    L = sum(a * da) (+ sum(c_next * dc_next) for one LSTM step) into a
    gradient.  So the check judges `backward` alone, even if your forward has a bug.
    returns {gradient name: relative error}; verbose prints a table.
    """
    import rnn_checks
    saved = rnn_checks.load_data()[function]["gradient_check"]
    analytic, problem = rnn_checks.run_saved_case(function, backward, "gradient_check")
    if analytic is None:
        raise CheckFailed(problem)
    errors = {}
    for key in GRADIENT_KEYS[function]:
        if not isinstance(analytic, dict) or key not in analytic:
            raise CheckFailed(f"{function} returned no gradient {key!r}")
        got, numeric = np.asarray(analytic[key], dtype=float), saved["numeric"][key]
        if got.shape != numeric.shape:
            raise CheckFailed(f"{key} has shape {got.shape}, expected {numeric.shape}")
        errors[key] = relative_error(got, numeric)
        verdict = "ok" if errors[key] < 1e-7 else ("suspicious" if errors[key] < 1e-4 else "WRONG")
        if verbose:
            print(f"{key:>8}: relative error {errors[key]:9.2e}  {verdict}")
    if forward is not None and verbose:
        print(rnn_checks.forward_note(function, forward), end="")
    return errors
