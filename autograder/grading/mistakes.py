"""Known mistakes: what real students get wrong, as runnable variants of the reference.

Each entry rewrites the teacher's solution of one function (read from the
teacher notebook, never copied here) by exact text replacements.  The
diagnosis (autograder.grading.verdict.diagnose) runs the variants of a failing
function on the failing case, with the same oracle for the cell function as
the student's run had, and names those whose results equal the student's:
whole results first, then output by output (one variant, or two together,
for each wrong output), so that a function with two mistakes gets two names.
A crash is named by the variants that raise the same error, and by what it
raised and where (error_hint).

The meaning and hint of every diagnosis code is written here, once: a
Mistake's hint (its first clause is its title), or OTHER for the codes that
are not variants (crashes, notes).  Feedback pages and the class report read
them with describe().  A test grades every variant as a submission and checks
that it fails and is diagnosed as itself; tests/test_diagnoses.py grades a
corpus of buggy functions written the way students write them.
"""
from dataclasses import dataclass

from .. import assignment


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
    M("STATE_SIGMOID", "rnn_cell_forward",
      (("a_next = np.tanh(", "a_next = sigmoid("),),
      "the hidden state uses a sigmoid: the basic RNN's state is tanh(Waa a_prev + Wax xt + ba)"),
    M("Y_NO_SOFTMAX", "rnn_cell_forward",
      (("softmax(np.dot(Wya, a_next) + by)", "(np.dot(Wya, a_next) + by)"),),
      "the prediction is not passed through softmax: yt_pred = softmax(Wya a_next + by), "
      "so that each column is a probability distribution"),
    M("NO_BIAS_BY", "rnn_cell_forward",
      (("np.dot(Wya, a_next) + by)", "np.dot(Wya, a_next))"),),
      "by is never added: the prediction is softmax(Wya a_next + by)"),
    M("Y_SOFTMAX_WHOLE", "rnn_cell_forward",
      (("softmax(np.dot(Wya, a_next) + by)",
        "np.exp(np.dot(Wya, a_next) + by) / np.sum(np.exp(np.dot(Wya, a_next) + by))"),),
      "the softmax divides by the sum over the whole array: each example (each column) is "
      "normalised on its own, a sum over axis 0 (or use the softmax of rnn_utils)"),
    M("WEIGHTS_SWAPPED", "rnn_cell_forward",
      (("np.dot(Waa, a_prev) + np.dot(Wax, xt)", "np.dot(Wax, a_prev) + np.dot(Waa, xt)"),),
      "Waa and Wax are swapped: Waa (n_a, n_a) multiplies a_prev and Wax (n_a, n_x) multiplies xt"),
    M("ELEMENTWISE_PRODUCT", "rnn_cell_forward",
      (("np.dot(Waa, a_prev) + np.dot(Wax, xt)", "Waa * a_prev + Wax * xt"),),
      "the weights are multiplied element by element (*): a layer is a matrix product, np.dot(W, x)"),
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
    M("START_AT_1", "rnn_forward",
      (("for t in range(T_x):", "for t in range(1, T_x):"),
       ("rnn_cell_forward(x[:, :, t], a_next, parameters)",
        "rnn_cell_forward(x[:, :, t], a[:, :, t - 1], parameters)")),
      "the loop starts at t = 1 and takes a[:, :, t-1] as the previous state: step 0 is never "
      "computed (nothing at all when T_x = 1) and step 1 starts from zeros; start at t = 0 from a0"),
    M("Y_NOT_STORED", "rnn_forward",
      (("        y_pred[:, :, t] = yt_pred\n", ""),),
      "y_pred is never filled: store each step's prediction in y_pred[:, :, t]"),
    M("A_STORED_BEFORE_STEP", "rnn_forward",
      (("        a[:, :, t] = a_next\n", ""),
       ("    for t in range(T_x):\n", "    for t in range(T_x):\n        a[:, :, t] = a_next\n")),
      "a[:, :, t] receives the state from before step t: store the state the cell returns"),
    M("X_WRONG_AXIS", "rnn_forward",
      (("rnn_cell_forward(x[:, :, t],", "rnn_cell_forward(x[:, t, :],"),),
      "x[:, t, :] slices the batch axis: the input of step t is x[:, :, t], shape (n_x, m)"),
    M("LOOP_REVERSED", "rnn_forward",
      (("for t in range(T_x):", "for t in reversed(range(T_x)):"),),
      "the loop runs backwards in time: the forward pass goes from t = 0 up to T_x - 1"),
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
    M("CONCAT_ORDER", "lstm_cell_forward",
      (("np.concatenate((a_prev, xt), axis=0)", "np.concatenate((xt, a_prev), axis=0)"),),
      "xt is stacked above a_prev: the gate weights expect a_prev first, then xt"),
    M("CONCAT_AXIS", "lstm_cell_forward",
      (("np.concatenate((a_prev, xt), axis=0)", "np.concatenate((a_prev, xt), axis=1)"),),
      "a_prev and xt are joined along the batch axis: stack them along axis 0, "
      "shape (n_a + n_x, m)"),
    M("A_NO_TANH", "lstm_cell_forward",
      (("a_next = ot * np.tanh(c_next)", "a_next = ot * c_next"),),
      "tanh is missing on the memory: a_next = ot * tanh(c_next)"),
    M("A_SIGMOID", "lstm_cell_forward",
      (("a_next = ot * np.tanh(c_next)", "a_next = ot * sigmoid(c_next)"),),
      "the memory goes through a sigmoid: a_next = ot * tanh(c_next); only the gates use sigmoid"),
    M("A_FROM_CPREV", "lstm_cell_forward",
      (("a_next = ot * np.tanh(c_next)", "a_next = ot * np.tanh(c_prev)"),),
      "a_next uses the old memory c_prev: it is the output gate times tanh of the new memory c_next"),
    M("NO_FORGET_PATH", "lstm_cell_forward",
      (("c_next = ft * c_prev + it * cct", "c_next = it * cct"),),
      "the memory forgets everything: c_next keeps Γf times the old memory c_prev, "
      "plus Γi times the candidate"),
    M("GATE_WEIGHT_COPYPASTE", "lstm_cell_forward",
      (("sigmoid(np.dot(Wi, concat) + bi)", "sigmoid(np.dot(Wf, concat) + bi)"),),
      "the update gate uses the forget gate's weights Wf: each gate has its own W and b"),
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
      "a holds the memory instead of the hidden state: store a_next in a[:, :, t], and give c an "
      "array of its own (after c = a, storing c overwrites a)"),
    M("C0_EQUALS_A0", "lstm_forward",
      (("c_next = np.zeros((n_a, m))", "c_next = a0"),),
      "the initial memory is a0: c<0> must be zeros"),
    M("C_NOT_STORED", "lstm_forward",
      (("        c[:, :, t] = c_next\n", ""),),
      "c is never filled: store each step's memory in c[:, :, t]"),
    M("C_RESET_EVERY_STEP", "lstm_forward",
      (("lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)",
        "lstm_cell_forward(x[:, :, t], a_next, np.zeros((n_a, m)), parameters)"),),
      "each step starts from an empty memory: pass the memory c_next left by the step before"),
    M("A0_EVERY_STEP", "lstm_forward",
      (("lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)",
        "lstm_cell_forward(x[:, :, t], a0, c_next, parameters)"),),
      "a0 is passed to the cell at every step: each step must receive the state left by the step before"),
    M("UNPACK_ORDER", "lstm_forward",
      (("a_next, c_next, yt, cache = lstm_cell_forward(", "a_next, yt, c_next, cache = lstm_cell_forward("),),
      "the results of lstm_cell_forward are unpacked in the wrong order: it returns "
      "a_next, c_next, yt_pred, cache"),
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
    M("DBA_MEAN", "rnn_cell_backward",
      (("dba = np.sum(dz, axis=1, keepdims=True)", "dba = np.mean(dz, axis=1, keepdims=True)"),),
      "dba is averaged over the batch: the gradient of a bias is the sum of dz over the m examples"),
    M("DBA_NOT_SUMMED", "rnn_cell_backward",
      (("dba = np.sum(dz, axis=1, keepdims=True)", "dba = dz"),),
      "dba is not summed over the batch: ba is shared by all m examples, so add dz up along "
      "axis 1, keeping shape (n_a, 1)"),
    M("DBA_AXIS0", "rnn_cell_backward",
      (("dba = np.sum(dz, axis=1, keepdims=True)", "dba = np.sum(dz, axis=0, keepdims=True)"),),
      "dba is summed over the wrong axis: sum over the examples, axis 1, to get shape (n_a, 1)"),
    M("DW_INPUTS_SWAPPED", "rnn_cell_backward",
      (("dWax = np.dot(dz, xt.T)", "dWax = np.dot(dz, a_prev.T)"),
       ("dWaa = np.dot(dz, a_prev.T)", "dWaa = np.dot(dz, xt.T)")),
      "dWax and dWaa use each other's inputs: Wax multiplies xt, so dWax = dz xtᵀ; "
      "Waa multiplies a_prev, so dWaa = dz a_prevᵀ"),
    M("TANH_DERIV_APREV", "rnn_cell_backward",
      (("dz = da_next * (1 - a_next ** 2)", "dz = da_next * (1 - a_prev ** 2)"),),
      "the tanh derivative uses a_prev: tanh made a_next, so its derivative is 1 - a_next**2"),
    M("WAX_NOT_T", "rnn_cell_backward",
      (("dxt = np.dot(Wax.T, dz)", "dxt = np.dot(Wax, dz)"),),
      "Wax is not transposed: dxt = Waxᵀ dz, shape (n_x, m)"),
    # rnn_backward
    M("RNN_DA_PREVT_NOT_ADDED", "rnn_backward",
      (("rnn_cell_backward(da[:, :, t] + da_prevt, step_caches[t])",
        "rnn_cell_backward(da[:, :, t], step_caches[t])"),),
      "the gradient from later steps never reaches step t: pass da[:, :, t] + da_prevt to the "
      "cell, and update da_prevt with each step's da_prev"),
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
    M("LOOP_FORWARD", "rnn_backward",
      (("for t in reversed(range(T_x)):", "for t in range(T_x):"),),
      "the loop runs forward in time: backpropagation starts at the last step, t = T_x - 1, "
      "and goes down to 0"),
    M("DW_OVERWRITTEN", "rnn_backward",
      (('dWax += step["dWax"]', 'dWax = step["dWax"]'), ('dWaa += step["dWaa"]', 'dWaa = step["dWaa"]'),
       ('dba += step["dba"]', 'dba = step["dba"]')),
      "the weight gradients are overwritten at each step: add them up with +="),
    M("DX_FROM_DA_PREV", "rnn_backward",
      (('dx[:, :, t] = step["dxt"]', 'dx[:, :, t] = step["da_prev"]'),),
      "dx[:, :, t] is filled with da_prev: it holds the gradient with respect to the input, dxt"),
    M("DA0_FROM_DA", "rnn_backward",
      (("da0 = da_prevt", "da0 = da[:, :, 0]"),),
      "da0 is read from da: it is the gradient carried back past step 0 (da_prevt after the loop)"),
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
      (("dbf = np.sum(dft, axis=1, keepdims=True)", "dbf = np.sum(dWf, axis=1, keepdims=True)"),
       ("dbi = np.sum(dit, axis=1, keepdims=True)", "dbi = np.sum(dWi, axis=1, keepdims=True)"),
       ("dbc = np.sum(dcct, axis=1, keepdims=True)", "dbc = np.sum(dWc, axis=1, keepdims=True)"),
       ("dbo = np.sum(dot, axis=1, keepdims=True)", "dbo = np.sum(dWo, axis=1, keepdims=True)")),
      "the bias gradients are summed from the weight gradients dW: a bias gradient is the gate "
      "gradient (dft, dit, dcct, dot) summed over the batch, axis 1"),
    M("DB_MEAN", "lstm_cell_backward",
      (("dbf = np.sum(dft, axis=1, keepdims=True)", "dbf = np.mean(dft, axis=1, keepdims=True)"),
       ("dbi = np.sum(dit, axis=1, keepdims=True)", "dbi = np.mean(dit, axis=1, keepdims=True)"),
       ("dbc = np.sum(dcct, axis=1, keepdims=True)", "dbc = np.mean(dcct, axis=1, keepdims=True)"),
       ("dbo = np.sum(dot, axis=1, keepdims=True)", "dbo = np.mean(dot, axis=1, keepdims=True)")),
      "the bias gradients are averaged over the batch: a bias gradient is the sum over the m examples"),
    M("DA_PREV_GATES", "lstm_cell_backward",
      (("da_prev = dconcat[:n_a, :]",
        "da_prev = (np.dot(ft[:, :n_a].T, dft) + np.dot(it[:, :n_a].T, dit) "
        "+ np.dot(cct[:, :n_a].T, dcct) + np.dot(ot[:, :n_a].T, dot))"),),
      "da_prev multiplies by the gate activations: the gradient flows back through the weights, "
      "the a_prev columns W[:, :n_a] of each gate, transposed"),
    M("DCPREV_NO_FT", "lstm_cell_backward",
      (("dc_prev = dc * ft", "dc_prev = dc"),),
      "dc_prev misses the forget gate: the old memory reaches c_next through Γf, so dc_prev is dc times Γf"),
    M("DC_NO_DA_PATH", "lstm_cell_backward",
      (("dc = dc_next + da_next * ot * (1 - tanh_c ** 2)", "dc = dc_next"),),
      "dc misses the path through a_next: a_next = Γo tanh(c_next) depends on c_next too, so add "
      "da_next times Γo (1 − tanh²(c_next)) to dc_next"),
    M("DB_NOT_SUMMED", "lstm_cell_backward",
      (("dbf = np.sum(dft, axis=1, keepdims=True)", "dbf = dft"),
       ("dbi = np.sum(dit, axis=1, keepdims=True)", "dbi = dit"),
       ("dbc = np.sum(dcct, axis=1, keepdims=True)", "dbc = dcct"),
       ("dbo = np.sum(dot, axis=1, keepdims=True)", "dbo = dot")),
      "the bias gradients are not summed over the batch: each bias is shared by all m examples, "
      "so add its gate gradient up along axis 1, keeping shape (n_a, 1)"),
    M("SLICES_SWAPPED", "lstm_cell_backward",
      (("da_prev = dconcat[:n_a, :]", "da_prev = dconcat[n_a:, :]"),
       ("dxt = dconcat[n_a:, :]", "dxt = dconcat[:n_a, :]")),
      "da_prev and dxt take each other's rows: the first n_a rows of the stacked gradient belong "
      "to a_prev, the others to xt"),
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
    M("DC_PREVT_NOT_CARRIED", "lstm_backward",
      (('        dc_prevt = step["dc_prev"]\n', ""),),
      "dc_prevt is never updated: carry each step's dc_prev back to the step before"),
    M("CACHES1_INDEX", "lstm_backward",
      (("n_a = da.shape[0]", "n_a = step_caches[1][0].shape[0]"),),
      "sizes are read from caches[1], which does not exist when T_x = 1: read them from caches[0] or da"),
    M("WHOLE_CACHES_PASSED", "lstm_backward",
      (("lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, step_caches[t])",
        "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches)"),),
      "the whole caches tuple is passed to the cell: pass the cache of step t"),
    M("LOOP_FORWARD", "lstm_backward",
      (("for t in reversed(range(T_x)):", "for t in range(T_x):"),),
      "the loop runs forward in time: backpropagation starts at the last step, t = T_x - 1, "
      "and goes down to 0"),
    M("DA0_IS_DA", "lstm_backward",
      (("da0 = da_prevt", "da0 = da"),),
      "da0 is the whole upstream gradient da: it is the gradient carried back past step 0 (da_prevt)"),
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
                             f"{mistake.function}; update autograder/grading/mistakes.py")
        source = source.replace(old, new)
    return source


def combined_source(chosen):
    """The teacher's solution cell with several mistakes written into it, or None when their
    edits do not fit together (one changes the text another one rewrites)."""
    source = assignment.reference_sources()[chosen[0].function]
    for mistake in chosen:
        for old, new in mistake.edits:
            if source.count(old) != 1:
                return None
            source = source.replace(old, new)
    return source


# Diagnoses that are not variants of the reference: how a function crashed, and notes.
# code -> (title, hint).  The hint is what feedback and the class report show.
@dataclass(frozen=True)
class Other:
    title: str
    hint: str


OTHER = {
    "NOTEBOOK_GLOBALS": Other("reads a variable of the notebook",
        "the function reads a variable that another cell defined instead of its own arguments: it "
        "works while the notebook is open but fails when the function is called on its own; use "
        "only the parameters passed in"),
    "UNDEFINED_NAME": Other("uses a name that is not defined",
        "check its spelling; numpy functions are written np.zeros, np.tanh, ..."),
    "NOT_IMPLEMENTED": Other("not written yet",
        "the function is still the stub of the release: write your code between START CODE HERE "
        "and END CODE HERE"),
    "WRONG_CELL_CALL": Other("calls the cell function with the wrong arguments",
        "a correct loop never passes these arguments at this call: check the input slice, the "
        "state and the cache you give the cell function at each step"),
    "SIGNATURE_CHANGED": Other("signature changed",
        "a function is called with arguments it does not take: keep the signatures given in the notebook"),
    "CELL_ERROR": Other("the cell does not run",
        "the cell itself fails (a syntax or indentation error, say): run it in the notebook and fix the error"),
    "CELL_MISSING": Other("the solution cell is missing",
        "the graded cell of this function was not found in the notebook: keep it, with its name"),
    "MISSING_FUNCTION": Other("the function is not defined",
        "keep the function's name and its cell"),
    "SHAPE_ERROR": Other("arrays of incompatible shapes",
        "two arrays with incompatible shapes meet in a product, a sum or an assignment: write the "
        "shape of each array next to your code and check them"),
    "INDEX_ERROR": Other("an index out of range",
        "an index goes past the end of a list, a tuple or an array: check loop bounds and the "
        "sizes you read; they must also work for T_x = 1, n_a = 1 and m = 1"),
    "KEY_ERROR": Other("a key that the dict does not have",
        "a dict is read with a key it does not have: check the spelling of the gradient and "
        "parameter names (dxt, da_prev, dWax, ...)"),
    "UNPACK_ERROR": Other("unpacks the wrong number of values",
        "a tuple is unpacked into the wrong number of names: check what the cache (or the "
        "caches pair) holds and in which order"),
    "ATTRIBUTE_ERROR": Other("uses an attribute the object does not have",
        "an attribute or method is used on an object that does not have it (a tuple has no "
        ".shape, a shape is not called with ()): check what the variable holds"),
    "TYPE_ERROR": Other("an operation on the wrong type",
        "an operation is applied to a value of the wrong type: check what each variable holds "
        "at that line"),
    "UNBOUND_LOCAL": Other("a variable is used before it gets a value",
        "a variable is read before any line has given it a value: check the order of your lines"),
    "DEBUG_PRINT": Other("a print left from debugging raises",
        "the line that fails is a print() call: remove it, or fix what it prints"),
    "EXITS": Other("tries to stop the program",
        "remove exit() and similar calls"),
    "TIMEOUT": Other("too slow or endless",
        "the function did not finish in time: look for a loop that never ends"),
    "MEMORY": Other("too much memory or CPU time",
        "the process was stopped for using too much memory or CPU time: look for huge arrays "
        "or a loop that never ends"),
    "CRASH": Other("the process crashed",
        "the process running the function ended without a result: remove os._exit and calls "
        "that end the process"),
    "RAISES": Other("raises an exception",
        "the function raises an exception: run it in the notebook and read the traceback"),
    "RANDOM_STATE": Other("draws random numbers",
        "the results change with the global random state: the function must not draw random numbers"),
    "MUTATES_INPUT": Other("changes its input arrays (a note)",
        "the function writes into the arrays it was given: work on new arrays instead"),
    "INHERITS": Other("right, but fails with your own cell function (a note)",
        "the function itself is right; it went wrong only with your own cell function, "
        "which is graded separately"),
}

# Codes that are notes, not mistakes: the class report does not count them.
NOTES = frozenset({"INHERITS", "MUTATES_INPUT"})
# Codes that say how a function failed rather than which mistake it makes: the class
# report shows them for a function only when no mistake was recognised in it.
SYMPTOMS = frozenset({"WRONG_CELL_CALL", "SHAPE_ERROR", "INDEX_ERROR", "KEY_ERROR", "UNPACK_ERROR",
                      "ATTRIBUTE_ERROR", "TYPE_ERROR", "UNBOUND_LOCAL", "RAISES"})


def title_of(mistake):
    """A mistake's meaning in a few words: the first clause of its hint."""
    return mistake.hint.split(": ", 1)[0]


@dataclass(frozen=True)
class Description:
    code: str
    title: str    # the meaning in a few words
    hint: str     # the whole hint, as feedback messages give it
    advice: str   # the hint without the title: what to do instead


def describe(code, function=None):
    """What a diagnosis code means, in words, with its hint (the one place for both)."""
    found = [m for m in MISTAKES if m.code == code and m.function == function] or \
        [m for m in MISTAKES if m.code == code]
    if found:
        hint = found[0].hint
        return Description(code, title_of(found[0]), hint, hint.split(": ", 1)[-1])
    other = OTHER.get(code)
    if other is not None:
        return Description(code, other.title, other.hint, other.hint)
    return Description(code, code.replace("_", " ").lower(), "", "")


PARAMS = {"Waa", "Wax", "Wya", "ba", "by", "Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy"}
DEMO_NAMES = {"parameters", "inputs", "results", "cache", "caches", "gradients", "x", "a0", "da",
              "xt", "a_prev", "c_prev", "a_next", "c_next", "n_a", "n_x", "n_y", "m", "T_x"}
_SHAPE_ERRORS = r"ValueError: (operands could not be broadcast|shapes .* not aligned|matmul|" \
                r"could not broadcast|all the input array dimensions|all the input arrays must have" \
                r"|non-broadcastable)"


def error_hint(function, error):
    """(code, hint) for an exception text, or None."""
    import re
    match = re.match(r"NameError: name '(\w+)' is not defined", error)
    if match:
        name = match.group(1)
        if name in PARAMS:
            return ("NOTEBOOK_GLOBALS", f"reads `{name}` from global variables: take it from "
                    f"`parameters` (or from the cache) inside {function}")
        if name in DEMO_NAMES:
            return ("NOTEBOOK_GLOBALS", f"reads `{name}`, a variable left behind by another cell: "
                    f"{function} must only use its own arguments")
        return ("UNDEFINED_NAME", f"uses `{name}`, which is not defined: check its spelling "
                "(numpy functions are written np.zeros, np.tanh, ...)")
    if error.startswith("NotImplementedError"):
        return ("NOT_IMPLEMENTED", f"{function} is still the stub of the release: write your code "
                "between START CODE HERE and END CODE HERE")
    if error.startswith("OracleMismatch"):
        match = re.search(r"call (\d+) differs in (.+)$", error)
        if match:
            dependency = assignment.DEPENDS_ON.get(function, "the cell function")
            return ("WRONG_CELL_CALL", f"call {match.group(1)} to {dependency} "
                    f"gets a wrong {match.group(2)}: check the input slice, the state and the cache "
                    "you give it at each step")
        return ("WRONG_CELL_CALL", error.split(": ", 1)[1])
    if error.startswith("TypeError") and re.search(r"positional argument|takes \d+|unexpected keyword", error):
        return ("SIGNATURE_CHANGED", f"{function} or a function it calls is called with the wrong "
                "arguments: keep the signatures given in the notebook")
    if error.startswith("the cell does not run"):
        return ("CELL_ERROR", "the cell itself fails to run (" + error.split(": ", 1)[1] +
                "): run it in the notebook and fix the error")
    if error.startswith("no function named"):
        return ("MISSING_FUNCTION", f"{error}: keep the name {function} and its cell")
    if re.match(_SHAPE_ERRORS, error):
        return ("SHAPE_ERROR", OTHER["SHAPE_ERROR"].hint)
    if re.match(r"ValueError: (not enough|too many) values to unpack", error):
        return ("UNPACK_ERROR", OTHER["UNPACK_ERROR"].hint)
    if error.startswith("IndexError"):
        return ("INDEX_ERROR", OTHER["INDEX_ERROR"].hint)
    if error.startswith("KeyError"):
        return ("KEY_ERROR", f"reads the key {error.split(': ', 1)[-1]}, which the dict does not "
                "have: check the spelling of the gradient and parameter names")
    if error.startswith("UnboundLocalError"):
        return ("UNBOUND_LOCAL", OTHER["UNBOUND_LOCAL"].hint)
    if error.startswith("AttributeError"):
        return ("ATTRIBUTE_ERROR", OTHER["ATTRIBUTE_ERROR"].hint)
    if error.startswith("TypeError"):
        return ("TYPE_ERROR", OTHER["TYPE_ERROR"].hint)
    if error.startswith(("SystemExit", "KeyboardInterrupt")):
        return ("EXITS", "the function tries to stop the program: remove exit() calls")
    if error.startswith("TimeoutError"):
        return ("TIMEOUT", OTHER["TIMEOUT"].hint)
    if error.startswith("MemoryError"):
        return ("MEMORY", OTHER["MEMORY"].hint)
    if error.startswith("Crash"):
        return ("CRASH", OTHER["CRASH"].hint)
    match = re.match(r"(\w+(Error|Exception|Warning))\b", error)
    if match:
        return ("RAISES", f"it raises {match.group(1)}: run it in the notebook and read the traceback")
    return None
