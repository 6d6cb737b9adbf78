"""Known mistakes: what real students get wrong, as runnable variants of the reference.

Each entry rewrites the teacher's solution of one function (read from the
teacher notebook, never copied here) by exact text replacements.  The
diagnosis runs the variants of a failing function on the failing case and
reports the ones whose results equal the student's.  A test grades every
variant as a submission and checks that it fails and is diagnosed as itself.
"""
from dataclasses import dataclass

from . import assignment


@dataclass(frozen=True)
class Mistake:
    code: str
    function: str
    edits: tuple          # ((old text, new text), ...), each old text must occur exactly once
    hint: str             # what the student did and what to do instead


M = Mistake
MISTAKES = (
    # rnn_cell_forward
    M("Y_FROM_APREV", "rnn_cell_forward",
      (("softmax(np.dot(Wya, a_next) + by)", "softmax(np.dot(Wya, a_prev) + by)"),),
      "the prediction is computed from a_prev: it must use the new state a_next"),
    M("NO_BIAS_BA", "rnn_cell_forward",
      (("np.dot(Wax, xt) + ba)", "np.dot(Wax, xt))"),),
      "ba is never added: the hidden state is tanh(Waa a_prev + Wax xt + ba)"),
    # rnn_forward
    M("A0_EVERY_STEP", "rnn_forward",
      (("rnn_cell_forward(x[:, :, t], a_next, parameters)", "rnn_cell_forward(x[:, :, t], a0, parameters)"),),
      "a0 is passed to the cell at every step: each step must receive the state left by the step before"),
    M("A0_IGNORED", "rnn_forward",
      (("rnn_cell_forward(x[:, :, t], a_next, parameters)",
        "rnn_cell_forward(x[:, :, t], a[:, :, t - 1], parameters)"),),
      "the first step starts from zeros instead of a0: use a0 as the state before step 0"),
    M("SKIP_FIRST_STEP", "rnn_forward",
      (("for t in range(T_x):", "for t in range(1, T_x):"),),
      "the loop starts at t = 1, so step 0 is never computed: loop over range(T_x)"),
    M("CACHES_OVERWRITTEN", "rnn_forward",
      (("caches.append(cache)", "caches = cache"),),
      "caches is replaced by the last step's cache: append every step's cache to the list"),
    # lstm_cell_forward
    M("OUTPUT_GATE_OMITTED", "lstm_cell_forward",
      (("a_next = ot * np.tanh(c_next)", "a_next = np.tanh(c_next)"),),
      "a_next ignores the output gate: a_next = ot * tanh(c_next)"),
    M("CCT_SIGMOID", "lstm_cell_forward",
      (("cct = np.tanh(", "cct = sigmoid("),),
      "the candidate uses a sigmoid: the candidate value c~ uses tanh, only the gates use sigmoid"),
    M("Y_SIGMOID", "lstm_cell_forward",
      (("yt_pred = softmax(", "yt_pred = sigmoid("),),
      "the prediction uses a sigmoid: it is softmax(Wy a_next + by)"),
    M("FORGET_UPDATE_SWAPPED", "lstm_cell_forward",
      (("c_next = ft * c_prev + it * cct", "c_next = it * c_prev + ft * cct"),),
      "the forget and update gates are swapped: the forget gate Γf scales the old memory c_prev, "
      "the update gate Γi scales the candidate c̃"),
    # lstm_forward
    M("C0_VIEW_ALIAS", "lstm_forward",
      (("c_next = np.zeros((n_a, m))", "c_next = c[:, :, 0]"),),
      "c<0> is a view into c: writing c[:, :, 0] later changes the memory saved in the first "
      "cache. Start from a new array, np.zeros((n_a, m))"),
    M("C_ALIASED_TO_A", "lstm_forward",
      (("c = np.zeros((n_a, m, T_x))", "c = a"),),
      "c and a are the same array, so storing one overwrites the other: create c with its own np.zeros"),
    M("C0_EQUALS_A0", "lstm_forward",
      (("c_next = np.zeros((n_a, m))", "c_next = a0"),),
      "the initial memory is a0: c<0> must be zeros"),
    M("SKIP_FIRST_STEP", "lstm_forward",
      (("for t in range(T_x):", "for t in range(1, T_x):"),),
      "the loop starts at t = 1, so step 0 is never computed: loop over range(T_x)"),
    M("CACHES_OVERWRITTEN", "lstm_forward",
      (("caches.append(cache)", "caches = cache"),),
      "caches is replaced by the last step's cache: append every step's cache to the list"),
    # rnn_cell_backward
    M("NO_TANH_DERIV", "rnn_cell_backward",
      (("dz = da_next * (1 - a_next ** 2)", "dz = da_next"),),
      "the derivative of tanh is missing: dz = da_next * (1 - a_next**2)"),
    M("TANH_TWICE", "rnn_cell_backward",
      (("dz = da_next * (1 - a_next ** 2)", "dz = da_next * (1 - np.tanh(a_next) ** 2)"),),
      "tanh is applied to a_next again: a_next already is tanh(z), so tanh'(z) = 1 - a_next**2"),
    M("WAA_NOT_T", "rnn_cell_backward",
      (("da_prev = np.dot(Waa.T, dz)", "da_prev = np.dot(Waa, dz)"),),
      "Waa is not transposed: da_prev = Waa.T dz"),
    M("DBA_NO_KEEPDIMS", "rnn_cell_backward",
      (("dba = np.sum(dz, axis=1, keepdims=True)", "dba = np.sum(dz, axis=1)"),),
      "dba has lost its second axis: use np.sum(..., axis=1, keepdims=True) to keep shape (n_a, 1)"),
    # rnn_backward
    M("RNN_DA_PREVT_NOT_ADDED", "rnn_backward",
      (("rnn_cell_backward(da[:, :, t] + da_prevt, step_caches[t])",
        "rnn_cell_backward(da[:, :, t], step_caches[t])"),),
      "da_prevt is never added to da[:, :, t]: the gradient from later steps is lost"),
    M("SELF_ACCUMULATE", "rnn_backward",
      (('dWaa += step["dWaa"]', "dWaa += dWaa"),),
      "dWaa is added to itself, so it stays zero: add the step's gradient, dWaa += step['dWaa']"),
    M("DA0_IS_DA", "rnn_backward",
      (("da0 = da_prevt", "da0 = da"),),
      "da0 is the whole upstream gradient da: it is the gradient carried back past step 0 (da_prevt)"),
    M("CACHES1_INDEX", "rnn_backward",
      (("n_a = da.shape[0]", "n_a = step_caches[1][0].shape[0]"),),
      "sizes are read from caches[1], which does not exist when T_x = 1: read them from caches[0] or da"),
    M("WHOLE_CACHES_PASSED", "rnn_backward",
      (("rnn_cell_backward(da[:, :, t] + da_prevt, step_caches[t])",
        "rnn_cell_backward(da[:, :, t] + da_prevt, caches)"),),
      "the whole caches tuple is passed to the cell: pass the cache of step t"),
    # lstm_cell_backward
    M("NO_GATE_DERIVS", "lstm_cell_backward",
      (("dot = da_next * tanh_c * ot * (1 - ot)", "dot = da_next * tanh_c"),
       ("dcct = dc * it * (1 - cct ** 2)", "dcct = dc * it"),
       ("dit = dc * cct * it * (1 - it)", "dit = dc * cct"),
       ("dft = dc * c_prev * ft * (1 - ft)", "dft = dc * c_prev")),
      "the sigmoid and tanh derivatives are missing: every gate gradient must go back through its "
      "activation, e.g. the forget gate's carries the factor Γf(1 − Γf)"),
    M("DFT_COPYPASTE", "lstm_cell_backward",
      (("dft = dc * c_prev * ft * (1 - ft)", "dft = dc * it * (1 - cct ** 2)"),),
      "dft uses the candidate's formula: the forget gate scales c_prev, so its gradient is "
      "dc times c_prev times the sigmoid derivative Γf(1 − Γf)"),
    M("DW_FOR_W", "lstm_cell_backward",
      (('np.dot(parameters["Wf"].T, dft) + np.dot(parameters["Wi"].T, dit)', "np.dot(dWf.T, dft) + np.dot(dWi.T, dit)"),
       ('np.dot(parameters["Wc"].T, dcct) + np.dot(parameters["Wo"].T, dot)', "np.dot(dWc.T, dcct) + np.dot(dWo.T, dot)")),
      "da_prev and dxt use the gradients dW instead of the weights W: gradients flow back through W"),
    M("DCPREV_NO_OT", "lstm_cell_backward",
      (("dc_prev = dc * ft", "dc_prev = (dc_next + da_next * (1 - tanh_c ** 2)) * ft"),),
      "dc_prev misses the output gate on the da_next path: dc_prev = (dc_next + da_next * ot * (1 - tanh(c_next)**2)) * ft"),
    M("DOT_TANH_A", "lstm_cell_backward",
      (("dot = da_next * tanh_c * ot * (1 - ot)", "dot = da_next * np.tanh(a_next) * ot * (1 - ot)"),),
      "dot uses tanh(a_next): the output gate multiplies tanh(c_next)"),
    M("DB_NO_KEEPDIMS", "lstm_cell_backward",
      (("dbf = np.sum(dft, axis=1, keepdims=True)", "dbf = np.sum(dft, axis=1)"),
       ("dbi = np.sum(dit, axis=1, keepdims=True)", "dbi = np.sum(dit, axis=1)"),
       ("dbc = np.sum(dcct, axis=1, keepdims=True)", "dbc = np.sum(dcct, axis=1)"),
       ("dbo = np.sum(dot, axis=1, keepdims=True)", "dbo = np.sum(dot, axis=1)")),
      "the bias gradients have shape (n_a,): use keepdims=True to keep (n_a, 1)"),
    M("DB_FROM_DW", "lstm_cell_backward",
      (("dbf = np.sum(dft, axis=1, keepdims=True)", "dbf = np.sum(dWf, axis=1, keepdims=True)"),),
      "dbf is summed from dWf: a bias gradient is the gate gradient summed over the batch, np.sum(dft, axis=1, keepdims=True)"),
    M("PRECEDENCE", "lstm_cell_backward",
      (("dc = dc_next + da_next * ot * (1 - tanh_c ** 2)",
        "dc = dc_next + da_next * ot * (1 - np.tanh(c_next ** 2))"),),
      "tanh(c**2) is not tanh(c)**2: check the parentheses in 1 - tanh(c_next)**2"),
    M("DCCT_WRONG", "lstm_cell_backward",
      (("dcct = dc * it * (1 - cct ** 2)",
        "dcct = (dc_next + da_next * ot * (1 - tanh_c ** 2) * cct) * it * (1 - np.tanh(cct) ** 2)"),),
      "dcct has an extra c~ factor and applies tanh to c~ again: dcct = dc * it * (1 - cct**2)"),
    # lstm_backward
    M("RECURRENT_GRADS_ZERO", "lstm_backward",
      (("lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, step_caches[t])",
        "lstm_cell_backward(da[:, :, t], dc_prevt, step_caches[t])"),
       ('dc_prevt = step["dc_prev"]', "pass")),
      "da_prevt and dc_prevt are never carried back: each step must receive da[:, :, t] + da_prevt "
      "and dc_prevt from the step after it, then update both"),
    M("LSTM_DA_PREVT_NOT_ADDED", "lstm_backward",
      (("lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, step_caches[t])",
        "lstm_cell_backward(da[:, :, t], dc_prevt, step_caches[t])"),),
      "da_prevt is never added to da[:, :, t]: the gradient from later steps is lost"),
    M("DW_OVERWRITTEN", "lstm_backward",
      (("sums[key] += step[key]", "sums[key] = step[key]"),),
      "the weight gradients are overwritten at each step: add them up with +="),
    M("DBO_TYPO", "lstm_backward",
      (('sums["dWo"], sums["dbo"]', 'sums["dWo"], sums["dbc"]'),),
      "dbo is taken from the 'dbc' gradient: check the key"),
    M("SIGNATURE_CHANGED", "lstm_backward",
      (("def lstm_backward(da, caches):", "def lstm_backward(da, caches, T_x):"),),
      "the signature was changed: keep lstm_backward(da, caches)"),
)


def for_function(function):
    return [m for m in MISTAKES if m.function == function]


def variant_source(mistake):
    """The teacher's solution cell with the mistake written into it."""
    source = assignment.reference_sources()[mistake.function]
    for old, new in mistake.edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"{mistake.code}: {old!r} occurs {count} times in the reference "
                             f"{mistake.function}; update autograder/mistakes.py")
        source = source.replace(old, new)
    return source


# Error messages that have their own plain-language hint.
def error_hint(function, error):
    """(code, hint) for an exception text, or None."""
    import re
    params = {"Waa", "Wax", "Wya", "ba", "by", "Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy"}
    demo = {"parameters", "inputs", "results", "cache", "caches", "gradients", "x", "a0", "da",
            "xt", "a_prev", "c_prev", "a_next", "c_next", "n_a", "n_x", "n_y", "m", "T_x"}
    match = re.match(r"NameError: name '(\w+)' is not defined", error)
    if match:
        name = match.group(1)
        if name in params:
            return ("NOTEBOOK_GLOBALS", f"reads `{name}` from global variables: take it from "
                    f"`parameters` (or from the cache) inside {function}")
        if name in demo:
            return ("NOTEBOOK_GLOBALS", f"reads `{name}`, a variable left behind by another cell: "
                    f"{function} must only use its own arguments")
        return ("UNDEFINED_NAME", f"uses `{name}`, which is not defined: check its spelling "
                "(numpy functions are written np.zeros, np.tanh, ...)")
    if error.startswith("NotImplementedError"):
        return ("NOT_IMPLEMENTED", f"{function} is still the stub of the release: write your code "
                "between START CODE HERE and END CODE HERE")
    if error.startswith("OracleMismatch"):
        return ("WRONG_CELL_CALL", error.split(": ", 1)[1])
    if error.startswith("TypeError") and re.search(r"positional argument|takes \d+|unexpected keyword", error):
        return ("SIGNATURE_CHANGED", f"{function} or a function it calls is called with the wrong "
                "arguments: keep the signatures given in the notebook")
    if error.startswith("the cell does not run"):
        return ("CELL_ERROR", "the cell itself fails to run (" + error.split(": ", 1)[1] +
                "): run it in the notebook and fix the error")
    if error.startswith("no function named"):
        return ("MISSING_FUNCTION", f"{error}: keep the name {function} and its cell")
    if re.match(r"ValueError: (operands could not be broadcast|shapes .* not aligned|matmul)", error):
        return ("SHAPE_ERROR", "two arrays with incompatible shapes meet in a product or a sum: "
                "write the shape of each array next to your code and check them")
    if error.startswith("IndexError"):
        return ("INDEX_ERROR", "an index is out of range: check your loop bounds and the sizes "
                "you read (they must also work for T_x = 1, n_a = 1 and m = 1)")
    if error.startswith(("SystemExit", "KeyboardInterrupt")):
        return ("EXITS", "the function tries to stop the program: remove exit() calls")
    return None
