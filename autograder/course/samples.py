"""Sample submissions bundled with the kit, for the demo and the tests.

Each sample is the student release with some solution cells filled in.  A
cell is either the teacher's solution ("reference"), left untouched
("release"), or code written here in a student's style.  The two buggy
lstm_backward cells reproduce the bugs of real submissions (seeds 001 and
002 of the material this kit grew from), written afresh from their
descriptions.
"""
import copy
from pathlib import Path

import nbformat

from .. import assignment

# lstm_backward of a student who never carries da_prevt or dc_prevt back to
# the previous step (seed 001): each step only sees da[:, :, t].
LSTM_BACKWARD_SEED_001 = '''# GRADED FUNCTION: lstm_backward

def lstm_backward(da, caches):
    """Backward pass of the LSTM over the whole sequence."""
    ### START CODE HERE ### (≈20 lines)
    step_caches, x = caches
    first = step_caches[0]
    xt1 = first[8]
    n_a, m, T_x = da.shape
    n_x = xt1.shape[0]
    dx = np.zeros((n_x, m, T_x))
    dc_prevt = np.zeros((n_a, m))
    dWf = np.zeros((n_a, n_a + n_x))
    dWi = np.zeros((n_a, n_a + n_x))
    dWc = np.zeros((n_a, n_a + n_x))
    dWo = np.zeros((n_a, n_a + n_x))
    dbf = np.zeros((n_a, 1))
    dbi = np.zeros((n_a, 1))
    dbc = np.zeros((n_a, 1))
    dbo = np.zeros((n_a, 1))
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t], dc_prevt, step_caches[t])
        dx[:, :, t] = g["dxt"]
        dWf = dWf + g["dWf"]
        dWi = dWi + g["dWi"]
        dWc = dWc + g["dWc"]
        dWo = dWo + g["dWo"]
        dbf = dbf + g["dbf"]
        dbi = dbi + g["dbi"]
        dbc = dbc + g["dbc"]
        dbo = dbo + g["dbo"]
    da0 = g["da_prev"]
    ### END CODE HERE ###

    gradients = {"dx": dx, "da0": da0, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
                 "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}
    return gradients
'''

# lstm_backward of a student who adds da_prevt but never updates it (nor
# dc_prevt), and overwrites the weight gradients at every step (seed 002).
LSTM_BACKWARD_SEED_002 = '''# GRADED FUNCTION: lstm_backward

def lstm_backward(da, caches):
    """Backward pass of the LSTM over the whole sequence."""
    ### START CODE HERE ### (≈20 lines)
    step_caches, x = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        grads = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, step_caches[t])
        dx[:, :, t] = grads["dxt"]
        dWf, dbf = grads["dWf"], grads["dbf"]
        dWi, dbi = grads["dWi"], grads["dbi"]
        dWc, dbc = grads["dWc"], grads["dbc"]
        dWo, dbo = grads["dWo"], grads["dbo"]
    da0 = grads["da_prev"]
    ### END CODE HERE ###

    gradients = {"dx": dx, "da0": da0, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
                 "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}
    return gradients
'''

# rnn_cell_forward that reads its weights from variables a demo cell left behind.
RNN_CELL_FORWARD_GLOBALS = '''# GRADED FUNCTION: rnn_cell_forward

def rnn_cell_forward(xt, a_prev, parameters):
    """One forward step of the basic RNN."""
    ### START CODE HERE ### (≈2 lines)
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    ### END CODE HERE ###

    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache
'''

# lstm_forward whose initial memory is a view into c: outputs right, first cache wrong.
LSTM_FORWARD_C0_VIEW = '''# GRADED FUNCTION: lstm_forward

def lstm_forward(x, a0, parameters):
    """Forward pass of the LSTM over T_x steps."""
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape

    ### START CODE HERE ### (≈11 lines)
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = c[:, :, 0]
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    ### END CODE HERE ###

    caches = (caches, x)
    return a, y, c, caches
'''

# Which cells each sample student fills, and how.
SAMPLES = {
    "alice": {"*": "reference"},
    "bob": {"*": "release"},
    "carol": {"*": "reference", "lstm_backward": LSTM_BACKWARD_SEED_001},
    "dave": {"*": "reference", "lstm_backward": LSTM_BACKWARD_SEED_002},
    "erin": {"*": "reference", "rnn_cell_forward": RNN_CELL_FORWARD_GLOBALS,
             "lstm_forward": LSTM_FORWARD_C0_VIEW},
    "frank": {"*": "reference", "rnn_forward": "release", "rnn_backward": "release"},
}
# What each sample should lose, for the tests and the demo's summary.
EXPECTED_FAILURES = {
    "alice": set(), "bob": set(assignment.FUNCTIONS), "carol": {"lstm_backward"},
    "dave": {"lstm_backward"}, "erin": {"rnn_cell_forward", "lstm_forward"},
    "frank": {"rnn_forward", "rnn_backward"},
}


def make_notebook(release_nb, plan):
    """The release notebook with solution cells filled according to plan."""
    nb = copy.deepcopy(release_nb)
    reference = assignment.reference_sources()
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in assignment.FUNCTIONS:
            continue
        how = plan.get(grade_id, plan.get("*", "release"))
        if how == "reference":
            cell.source = reference[grade_id]
        elif how != "release":
            cell.source = how
    return nb


def write_submissions(submitted_dir, release_notebook, samples=SAMPLES):
    """Write nbgrader-layout submissions: submitted/<student>/<assignment>/<assignment>.ipynb."""
    release_nb = nbformat.read(str(release_notebook), as_version=4)
    for student, plan in samples.items():
        folder = Path(submitted_dir) / student / assignment.ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(make_notebook(release_nb, plan), str(folder / f"{assignment.ASSIGNMENT}.ipynb"))
