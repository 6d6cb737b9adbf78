"""Helpers shared by the notebook, its tests and the grader.

Everything here is public: students get this file with the release.

Dimension letters used throughout the course:
    n_x -- size of one input vector x<t>
    n_a -- size of the hidden state a<t> (and of the LSTM memory c<t>)
    n_y -- size of one prediction y<t>
    m   -- number of examples in the batch (columns)
    T_x -- number of time steps
A sequence is stored with layout (n_x, m, T_x).
"""
import numpy as np

# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# The example inputs of each function, drawn in the published order
# ---------------------------------------------------------------------------

FUNCTIONS = (
    "rnn_cell_forward",
    "rnn_forward",
    "lstm_cell_forward",
    "lstm_forward",
    "rnn_cell_backward",
    "rnn_backward",
    "lstm_cell_backward",
    "lstm_backward",
)

# The forward function whose cache a backward function consumes.
FORWARD_OF = {
    "rnn_cell_backward": "rnn_cell_forward",
    "rnn_backward": "rnn_forward",
    "lstm_cell_backward": "lstm_cell_forward",
    "lstm_backward": "lstm_forward",
}

DEFAULT_T_X = {"rnn": 4, "lstm": 7}


def _rnn_params(draw, n_x, n_a, n_y, wax_first):
    # the published forward tests draw Waa first; the backward ones Wax first
    if wax_first:
        Wax = draw(n_a, n_x)
        Waa = draw(n_a, n_a)
    else:
        Waa = draw(n_a, n_a)
        Wax = draw(n_a, n_x)
    Wya = draw(n_y, n_a)
    ba = draw(n_a, 1)
    by = draw(n_y, 1)
    return {"Waa": Waa, "Wax": Wax, "Wya": Wya, "ba": ba, "by": by}


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
        x = draw(n_x, m, T_x)
        inputs = {"x": x, "a0": draw(n_a, m)}
    else:
        inputs = {"xt": draw(n_x, m), "a_prev": draw(n_a, m)}
        if family == "lstm":
            inputs["c_prev"] = draw(n_a, m)
    if family == "rnn":
        inputs["parameters"] = _rnn_params(draw, n_x, n_a, n_y, wax_first=backward)
    else:
        inputs["parameters"] = _lstm_params(draw, n_x, n_a, n_y)
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


# ---------------------------------------------------------------------------
# What each function returns, and the values the notebook prints
# ---------------------------------------------------------------------------

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


def expected_shapes(function, n_x, n_a, n_y, m, T_x=None):
    """Shape of every array a function returns (caches excluded).

    returns a dict: output or gradient name -> shape tuple
    """
    n_g = n_a + n_x  # columns of a stacked LSTM weight matrix
    table = {
        "rnn_cell_forward": {"a_next": (n_a, m), "yt_pred": (n_y, m)},
        "rnn_forward": {"a": (n_a, m, T_x), "y_pred": (n_y, m, T_x)},
        "lstm_cell_forward": {"a_next": (n_a, m), "c_next": (n_a, m), "yt_pred": (n_y, m)},
        "lstm_forward": {"a": (n_a, m, T_x), "y": (n_y, m, T_x), "c": (n_a, m, T_x)},
        "rnn_cell_backward": {"dxt": (n_x, m), "da_prev": (n_a, m), "dWax": (n_a, n_x),
                              "dWaa": (n_a, n_a), "dba": (n_a, 1)},
        "rnn_backward": {"dx": (n_x, m, T_x), "da0": (n_a, m), "dWax": (n_a, n_x),
                         "dWaa": (n_a, n_a), "dba": (n_a, 1)},
        "lstm_cell_backward": {"dxt": (n_x, m), "da_prev": (n_a, m), "dc_prev": (n_a, m)},
        "lstm_backward": {"dx": (n_x, m, T_x), "da0": (n_a, m)},
    }[function]
    if function.startswith("lstm") and function.endswith("backward"):
        for gate in "fico":
            table["dW" + gate] = (n_a, n_g)
            table["db" + gate] = (n_a, 1)
    return table


# For each function, the values shown in its Expected Output table:
# (label, path into the results).  A path is a tuple of keys and indices
# applied one after the other; "len" takes the length.
SHOWN_VALUES = {
    "rnn_cell_forward": (("a_next[4]", (0, 4)), ("a_next.shape", (0, "shape")),
                         ("yt_pred[1]", (1, 1)), ("yt_pred.shape", (1, "shape"))),
    "rnn_forward": (("a[4][1]", (0, 4, 1)), ("a.shape", (0, "shape")),
                    ("y_pred[1][3]", (1, 1, 3)), ("y_pred.shape", (1, "shape")),
                    ("caches[1][1][3]", (2, 1, 1, 3)), ("len(caches)", (2, "len"))),
    "lstm_cell_forward": (("a_next[4]", (0, 4)), ("a_next.shape", (0, "shape")),
                          ("c_next[2]", (1, 2)), ("c_next.shape", (1, "shape")),
                          ("yt[1]", (2, 1)), ("yt.shape", (2, "shape")),
                          ("cache[1][3]", (3, 1, 3)), ("len(cache)", (3, "len"))),
    "lstm_forward": (("a[4][3][6]", (0, 4, 3, 6)), ("a.shape", (0, "shape")),
                     ("y[1][4][3]", (1, 1, 4, 3)), ("y.shape", (1, "shape")),
                     ("c[1][2][1]", (2, 1, 2, 1)), ("caches[1][1][1]", (3, 1, 1, 1)),
                     ("len(caches)", (3, "len"))),
}
_GRADIENT_PICKS = {"dxt": (1, 2), "dx": (1, 2), "da_prev": (2, 3), "da0": (2, 3),
                   "dc_prev": (2, 3), "dba": (4,), "dWax": (3, 1), "dWaa": (1, 2)}
for _g in "fico":
    _GRADIENT_PICKS["dW" + _g] = (3, 1) if _g in "fc" else (1, 2)
    _GRADIENT_PICKS["db" + _g] = (4,)
for _name, _keys in GRADIENT_KEYS.items():
    _rows = []
    for _key in _keys:
        _pick = _GRADIENT_PICKS[_key]
        _rows.append((f'gradients["{_key}"]' + "".join(f"[{i}]" for i in _pick), (_key,) + _pick))
        _rows.append((f'gradients["{_key}"].shape', (_key, "shape")))
    SHOWN_VALUES[_name] = tuple(_rows)


def pick(results, path):
    """Follow a SHOWN_VALUES path into a function's results."""
    value = results
    for step in path:
        if step == "shape":
            return tuple(np.shape(value))
        if step == "len":
            return len(value)
        value = value[step]
    return value


def format_value(value):
    """The text the notebook shows for one value."""
    if isinstance(value, tuple) or isinstance(value, int):
        return str(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.12g}"
    return np.array2string(arr, precision=8, separator=" ", max_line_width=10_000)


def show_values(function, results):
    """Print the values of the Expected Output table from your own results.

    function -- name of the function, e.g. "rnn_cell_forward"
    results  -- what your function returned (a tuple, or the gradients dict)
    """
    for label, path in SHOWN_VALUES[function]:
        try:
            text = format_value(pick(results, path))
        except Exception as error:  # show what is missing rather than stop
            text = f"<cannot read: {type(error).__name__}: {error}>"
        print(f"{label} = {text}")


# ---------------------------------------------------------------------------
# Checks a student can run (used by the visible test cells)
# ---------------------------------------------------------------------------


class CheckFailed(AssertionError):
    """A visible test found something wrong; its message says what."""


def _fail(message):
    raise CheckFailed(message)


def check_results(function, results, n_x=3, n_a=5, n_y=2, m=10, T_x=None):
    """Check the types, shapes and finiteness of everything a function returned.

    function -- name of the function
    results  -- what it returned
    n_x, n_a, n_y, m, T_x -- the sizes of the inputs it was given
    raises CheckFailed with a message naming the first problem found
    """
    family = "lstm" if function.startswith("lstm") else "rnn"
    if T_x is None:
        T_x = DEFAULT_T_X[family]
    shapes = expected_shapes(function, n_x, n_a, n_y, m, T_x)
    if function in GRADIENT_KEYS:
        if not isinstance(results, dict):
            _fail(f"{function} should return the gradients dictionary, got {type(results).__name__}")
        missing = [k for k in GRADIENT_KEYS[function] if k not in results]
        if missing:
            _fail(f"the gradients dictionary has no key {', '.join(map(repr, missing))}")
        named = results
    else:
        names = OUTPUT_NAMES[function]
        if not isinstance(results, tuple) or len(results) != len(names):
            _fail(f"{function} should return a tuple ({', '.join(names)}), got "
                  f"{type(results).__name__}" + (f" of length {len(results)}" if isinstance(results, (tuple, list)) else ""))
        named = dict(zip(names, results))
    for name, shape in shapes.items():
        value = named[name]
        if not isinstance(value, np.ndarray):
            _fail(f"{name} should be a numpy array, got {type(value).__name__}")
        if value.shape != shape:
            _fail(f"{name} has shape {value.shape}, expected {shape}")
        if not np.all(np.isfinite(value)):
            _fail(f"{name} contains NaN or inf")
    if "cache" in named:
        expected_len = 4 if family == "rnn" else 10
        if not isinstance(named["cache"], tuple) or len(named["cache"]) != expected_len:
            _fail(f"cache should be a tuple of {expected_len} items")
    if "caches" in named:
        caches = named["caches"]
        if not isinstance(caches, tuple) or len(caches) != 2:
            _fail("caches should be the pair (list of caches, x)")
        if not isinstance(caches[0], list) or len(caches[0]) != T_x:
            _fail(f"caches[0] should be a list with one cache per time step ({T_x})")


def check_rnn_cell_bias(rnn_cell_forward):
    """With every weight zero, a_next must be tanh(ba) and yt_pred softmax(by)."""
    n_x, n_a, n_y, m = 3, 4, 2, 5
    draw = np.random.RandomState(7).randn
    ba, by = draw(n_a, 1), draw(n_y, 1)
    parameters = {"Waa": np.zeros((n_a, n_a)), "Wax": np.zeros((n_a, n_x)),
                  "Wya": np.zeros((n_y, n_a)), "ba": ba, "by": by}
    a_next, yt_pred, _ = rnn_cell_forward(draw(n_x, m), draw(n_a, m), parameters)
    if not np.allclose(a_next, np.tanh(ba) * np.ones((1, m))):
        _fail("only ba is non-zero and a_next != tanh(ba): check the bias term")
    if not np.allclose(yt_pred, softmax(by * np.ones((1, m)))):
        _fail("only by is non-zero and yt_pred != softmax(by): check the output layer")


def check_lstm_cell_gates(lstm_cell_forward):
    """With every weight zero, each gate is sigmoid(its bias): check the cell state."""
    n_x, n_a, n_y, m = 3, 4, 2, 5
    draw = np.random.RandomState(7).randn
    p = {}
    for gate in "fioc":
        p["W" + gate] = np.zeros((n_a, n_a + n_x))
        p["b" + gate] = draw(n_a, 1)
    p["Wy"], p["by"] = np.zeros((n_y, n_a)), draw(n_y, 1)
    c_prev = draw(n_a, m)
    a_next, c_next, _, _ = lstm_cell_forward(draw(n_x, m), draw(n_a, m), c_prev, p)
    ft, it, ot = sigmoid(p["bf"]), sigmoid(p["bi"]), sigmoid(p["bo"])
    cct = np.tanh(p["bc"])
    if not np.allclose(c_next, ft * c_prev + it * cct):
        _fail("only the biases are non-zero and c_next != forget*c_prev + update*candidate: "
              "check the cell-state update")
    if not np.allclose(a_next, ot * np.tanh(c_next)):
        _fail("a_next != output_gate * tanh(c_next): check the output gate")


# ---------------------------------------------------------------------------
# Numerical gradient checking
# ---------------------------------------------------------------------------


def numerical_gradient(f, x, df, eps=1e-5):
    """Centred-difference estimate of the gradient of sum(f(x) * df) with respect to x.

    f   -- function of one array, returning an array
    x   -- point at which to differentiate, any shape; changed during the
           call and restored before it returns
    df  -- upstream gradient, same shape as f(x)
    eps -- step size

    returns an array shaped like x: for each entry i,
        (sum(f(x + eps e_i) * df) - sum(f(x - eps e_i) * df)) / (2 eps)
    """
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + eps
        plus = np.sum(f(x) * df)
        x[i] = saved - eps
        minus = np.sum(f(x) * df)
        x[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
        it.iternext()
    return grad


def relative_error(analytic, numeric):
    """Relative difference between two gradients, in [0, 1].

    analytic -- gradient from your backward pass, any shape
    numeric  -- gradient from numerical_gradient, same shape

    returns ||analytic - numeric|| / (||analytic|| + ||numeric||), with
    Euclidean norms over all entries.  With float64 and eps = 1e-5, a
    correct backward pass gives about 1e-8 or less (the rounding error of
    the centred differences); 1e-4 or more means a bug.
    """
    analytic = np.asarray(analytic, dtype=float)
    numeric = np.asarray(numeric, dtype=float)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shapes differ: {analytic.shape} vs {numeric.shape}")
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / scale)


# ---------------------------------------------------------------------------
# The visible line of every graded cell
# ---------------------------------------------------------------------------


def _placeholder_arguments(function, n_x=3, n_a=5, n_y=2, m=4, T_x=3):
    """Arguments of the right types and shapes, all zero, for a quick call."""
    z = np.zeros
    rnn = {"Waa": z((n_a, n_a)), "Wax": z((n_a, n_x)), "Wya": z((n_y, n_a)),
           "ba": z((n_a, 1)), "by": z((n_y, 1))}
    lstm = {k: z((n_a, n_a + n_x)) for k in ("Wf", "Wi", "Wc", "Wo")}
    lstm.update({k: z((n_a, 1)) for k in ("bf", "bi", "bc", "bo")})
    lstm.update({"Wy": z((n_y, n_a)), "by": z((n_y, 1))})
    rnn_cache = (z((n_a, m)), z((n_a, m)), z((n_x, m)), rnn)
    lstm_cache = (z((n_a, m)),) * 8 + (z((n_x, m)), lstm)
    x = z((n_x, m, T_x))
    return {
        "rnn_cell_forward": (z((n_x, m)), z((n_a, m)), rnn),
        "rnn_forward": (x, z((n_a, m)), rnn),
        "lstm_cell_forward": (z((n_x, m)), z((n_a, m)), z((n_a, m)), lstm),
        "lstm_forward": (x, z((n_a, m)), lstm),
        "rnn_cell_backward": (z((n_a, m)), rnn_cache),
        "rnn_backward": (z((n_a, m, T_x)), ([rnn_cache] * T_x, x)),
        "lstm_cell_backward": (z((n_a, m)), z((n_a, m)), lstm_cache),
        "lstm_backward": (z((n_a, m, T_x)), ([lstm_cache] * T_x, x)),
    }[function]


def assert_implemented(name, function):
    """Fail if `function` still raises NotImplementedError.

    name -- the function's name, e.g. "rnn_forward"
    function -- your function

    The function is called once on small all-zero inputs.  Any other problem
    is left to the tests, which say more about it.
    """
    import warnings
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            function(*_placeholder_arguments(name))
        except NotImplementedError as error:
            # only the function's own stub counts, not one in a function it calls
            tb = error.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            if tb.tb_frame.f_code is getattr(function, "__code__", None):
                raise CheckFailed(f"{name} is not implemented yet: write your code between "
                                  "START CODE HERE and END CODE HERE") from None
        except Exception:
            pass


# Which input each gradient belongs to: gradient key -> (where, name).
_GRADIENT_OF = {"dxt": ("input", "xt"), "dx": ("input", "x"), "da_prev": ("input", "a_prev"),
                "da0": ("input", "a0"), "dc_prev": ("input", "c_prev")}


def _loss(function, forward, inputs, upstream):
    """The scalar whose gradient `function` computes: sum(a * da) (+ sum(c * dc))."""
    results = forward(**inputs)
    if function == "lstm_cell_backward":
        return np.sum(results[0] * upstream["da_next"]) + np.sum(results[1] * upstream["dc_next"])
    return np.sum(results[0] * upstream["da_next" if "da_next" in upstream else "da"])


def gradient_check(function, forward, backward, seed=2, n_x=3, n_a=4, n_y=2, m=3, T_x=4,
                   eps=1e-5, verbose=True):
    """Compare every gradient of a backward function with a numerical estimate.

    function -- name of the backward function, e.g. "rnn_cell_backward"
    forward  -- the matching forward function (e.g. your rnn_cell_forward)
    backward -- the backward function to check (e.g. your rnn_cell_backward)
    seed, n_x, n_a, n_y, m, T_x -- the small random case to check on
    eps -- step of the centred differences

    The loss is L = sum(a * da) over the hidden states the forward function
    returns (plus sum(c_next * dc_next) for one LSTM step), so its gradient
    with respect to the states is exactly the upstream gradient `backward`
    receives.  Each input and parameter is nudged by +-eps, one entry at a
    time, and the change of L gives the numerical gradient.

    returns {gradient name: relative error}; with verbose, prints a table.
    """
    case = example_inputs(function, seed=seed, n_x=n_x, n_a=n_a, n_y=n_y, m=m, T_x=T_x)
    inputs = case.pop("forward")
    upstream = case
    cache = forward(**inputs)[-1]
    analytic = backward(*upstream.values(), cache)
    errors = {}
    for key in GRADIENT_KEYS[function]:
        where, name = _GRADIENT_OF.get(key, ("parameters", key[1:]))
        target = inputs[name] if where == "input" else inputs["parameters"][name]
        numeric = numerical_gradient(lambda _: _loss(function, forward, inputs, upstream),
                                     target, 1.0, eps)
        errors[key] = relative_error(analytic[key], numeric)
    if verbose:
        for key, err in errors.items():
            verdict = "ok" if err < 1e-7 else ("suspicious" if err < 1e-4 else "WRONG")
            print(f"{key:>8}: relative error {err:9.2e}  {verdict}")
    return errors


# ---------------------------------------------------------------------------
# Why LSTMs: how much gradient reaches each step of a long sequence
# ---------------------------------------------------------------------------
# Why LSTMs -- how much gradient reaches each step of a long sequence.
#
# The loss depends on the LAST hidden state only, so the upstream gradient
# ``da`` is zero everywhere except at t = T_x - 1.  Walking the backward pass
# from the end to the start gives dL/da<t> for every t, and its size shows
# how much the prediction at the end can still teach the early steps.
#
# Nothing here implements an RNN or an LSTM: the forward and backward
# functions are passed in (the notebook build passes the teacher's reference
# implementation), with the signatures used in the notebook.
#
# Parameter scales (one setting for both networks, so the comparison is fair):
#
# * inputs x ~ N(0, 1), initial state a0 = 0, batch of ``m`` sequences;
# * every weight matrix W is drawn N(0, 1) and multiplied by
#   ``weight_scale / sqrt(fan_in)`` (fan_in = n_a for Waa, n_x for Wax,
#   n_a + n_x for the stacked LSTM matrices), biases 0 ...
# * ... except the LSTM forget-gate bias ``bf = forget_bias`` (+2 by default,
#   a common initialisation: Gamma_f starts near sigmoid(2) = 0.88, so the
#   memory c is mostly carried over);
# * the upstream gradient dL/da<T_x - 1> is drawn N(0, 1) and rescaled to
#   norm 1, so every curve starts at 1.
#
# With ``weight_scale = 1`` each RNN step multiplies the gradient by
# Waa^T diag(1 - a^2), whose size is below 1 (the tanh saturates a little),
# and the RNN curve falls by several orders of magnitude over 50 steps.  The
# LSTM also passes its gradient back through the memory line, where each step
# only multiplies it by Gamma_f, so it falls far more slowly.

# names of the functions vanishing_gradient_data needs (keyword arguments)
REQUIRED_FUNCTIONS = ("rnn_forward", "rnn_cell_backward", "lstm_forward",
                      "lstm_cell_backward")
# optional: used only to cross-check the step-by-step walk
OPTIONAL_FUNCTIONS = ("rnn_backward", "lstm_backward")


def _scaled_weights(rng, rows, fan_in, scale):
    return rng.standard_normal((rows, fan_in)) * (scale / np.sqrt(fan_in))


def _check_da0(name, walked, backward, da, caches):
    """The walk must agree with the whole-sequence backward on dL/da0."""
    full = backward(da, caches)["da0"]
    if not np.allclose(walked, full, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(full).max())):
        raise ValueError(f"{name}: the step-by-step walk and the whole-sequence backward "
                         "disagree on da0; are the functions from the same implementation?")


def vanishing_gradient_data(*, rnn_forward, rnn_cell_backward, lstm_forward,
                            lstm_cell_backward, rnn_backward=None, lstm_backward=None,
                            T_x=50, seed=0, n_x=8, n_a=64, m=32,
                            weight_scale=1.0, forget_bias=2.0):
    """Norm of dL/da<t> at every step t when L depends on the last step only.

    rnn_forward, rnn_cell_backward, lstm_forward, lstm_cell_backward --
        implementations with the notebook's signatures (keyword arguments)
    rnn_backward, lstm_backward -- optional; when given, their da0 is
        compared with the step-by-step walk (ValueError if they disagree)
    T_x          -- length of the sequence
    seed         -- seed of the private random stream (the global numpy
                    random state is neither read nor changed)
    n_x, n_a, m  -- input size, hidden size, batch size
    weight_scale -- gain of every weight matrix (see the module docstring)
    forget_bias  -- value of every entry of the LSTM forget-gate bias bf

    returns (t, rnn_norms, lstm_norms): three float arrays of length T_x;
    t = 0 .. T_x-1 indexes a[:, :, t] and the norms are Frobenius norms of
    the (n_a, m) gradient, 1 at t = T_x - 1.
    """
    rng = np.random.RandomState(seed)  # legacy stream: the same on every numpy version
    n_y = 2  # the output layer plays no part in dL/da, any size will do
    x = rng.standard_normal((n_x, m, T_x))
    a0 = np.zeros((n_a, m))
    da_last = rng.standard_normal((n_a, m))
    da_last /= np.linalg.norm(da_last)
    da = np.zeros((n_a, m, T_x))
    da[:, :, -1] = da_last

    rnn_p = {
        "Waa": _scaled_weights(rng, n_a, n_a, weight_scale),
        "Wax": _scaled_weights(rng, n_a, n_x, weight_scale),
        "Wya": _scaled_weights(rng, n_y, n_a, weight_scale),
        "ba": np.zeros((n_a, 1)),
        "by": np.zeros((n_y, 1)),
    }
    lstm_p = {}
    for gate in "fico":
        lstm_p["W" + gate] = _scaled_weights(rng, n_a, n_a + n_x, weight_scale)
        lstm_p["b" + gate] = np.zeros((n_a, 1))
    lstm_p["bf"] += forget_bias
    lstm_p["Wy"] = _scaled_weights(rng, n_y, n_a, weight_scale)
    lstm_p["by"] = np.zeros((n_y, 1))

    # RNN: dL/da<t-1> = da_prev of step t, walking from the end
    _, _, caches = rnn_forward(x, a0, rnn_p)
    rnn_norms = np.zeros(T_x)
    grad = da_last
    for t in reversed(range(T_x)):
        rnn_norms[t] = np.linalg.norm(grad)
        grad = rnn_cell_backward(grad, caches[0][t])["da_prev"]
    if rnn_backward is not None:
        _check_da0("RNN", grad, rnn_backward, da, caches)

    # LSTM: the memory gradient dc travels along with da
    _, _, _, caches = lstm_forward(x, a0, lstm_p)
    lstm_norms = np.zeros(T_x)
    grad, grad_c = da_last, np.zeros_like(da_last)
    for t in reversed(range(T_x)):
        lstm_norms[t] = np.linalg.norm(grad)
        step = lstm_cell_backward(grad, grad_c, caches[0][t])
        grad, grad_c = step["da_prev"], step["dc_prev"]
    if lstm_backward is not None:
        _check_da0("LSTM", grad, lstm_backward, da, caches)

    return np.arange(T_x, dtype=float), rnn_norms, lstm_norms
