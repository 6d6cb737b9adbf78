# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Building a recurrent neural network step by step
#
# In this assignment you write, in plain numpy, the forward and backward passes of two
# sequence models: a basic recurrent neural network (RNN) and a long short-term memory
# network (LSTM). You build them the way they are built in real libraries: first one
# time step (a *cell*), then a loop that applies the cell along the whole sequence.
#
# **What you will write**, in this order:
#
# | part | function | what it does |
# |---|---|---|
# | 1 | `rnn_cell_forward` | one step of the RNN |
# | 1 | `rnn_forward` | the RNN over a whole sequence |
# | 2 | `lstm_cell_forward` | one step of the LSTM |
# | 2 | `lstm_forward` | the LSTM over a whole sequence |
# | 3 | `rnn_cell_backward`, `rnn_backward` | gradients of the RNN |
# | 4 | `lstm_cell_backward`, `lstm_backward` | gradients of the LSTM |
#
# **How to work.** Write your code only between the lines
# `### START CODE HERE ###` and `### END CODE HERE ###` of each function. The hint
# `(≈N lines)` says how long our solution is; yours may be longer or shorter. After
# each function, run the cell below it: it runs your function on the published example,
# prints the values of the *Expected output* table, and compares **every** output with
# the expected one. It says "The visible checks pass." only when they all match;
# otherwise it stops and names the first wrong value. A loop such as `rnn_forward` is
# checked with a correct cell function standing in for yours, and a backward function
# with the cache of a correct forward pass, so each check judges one function only.
# The graded cell after it runs the same comparison (this is what `nbgrader validate`
# reports) and also checks that your code is in the function's own graded cell, the only
# cell the grader reads. When you submit, every function is graded separately on new
# inputs you have not seen, so make sure it works for any sizes, not only the example.
#
# **Notation.** These letters name sizes everywhere in the notebook:
#
# - $n_x$: length of one input vector $x^{\langle t \rangle}$,
# - $n_a$: length of the hidden state $a^{\langle t \rangle}$ (and of the LSTM memory $c^{\langle t \rangle}$),
# - $n_y$: length of one prediction $\hat{y}^{\langle t \rangle}$,
# - $m$: number of examples processed together (one per column),
# - $T_x$: number of time steps.
#
# A superscript $\langle t \rangle$ means "at time step $t$". A whole input sequence is an
# array of shape $(n_x, m, T_x)$: `x[:, :, t]` is the input at step $t$, with one column
# per example. The symbol $*$ means element-wise multiplication; writing two matrices
# side by side means a matrix product (`np.dot`).

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
from rnn_utils import *

# %% [markdown]
# `rnn_utils` gives you `sigmoid` and `softmax` (applied column by column), the helper
# that builds the example inputs of every test (`example_inputs`), and the checks the
# test cells run. Its bookkeeping lives in `rnn_checks.py`, and `rnn_example_data.npz`
# holds what a correct implementation gives on the examples; keep the three files next
# to this notebook.
#
# ## Part 1: the basic RNN
#
# ### 1.1 One step of the RNN
#
# <!-- figure: rnn_cell -->
#
# At each step the cell reads the new input $x^{\langle t \rangle}$ and the hidden state
# left by the previous step, $a^{\langle t-1 \rangle}$. It mixes them into a new hidden
# state and makes a prediction from that state:
#
# $$a^{\langle t \rangle} = \tanh\left(W_{aa}\, a^{\langle t-1 \rangle} + W_{ax}\, x^{\langle t \rangle} + b_a\right)$$
#
# $$\hat{y}^{\langle t \rangle} = \mathrm{softmax}\left(W_{ya}\, a^{\langle t \rangle} + b_y\right)$$
#
# The same weights are used at every step; that sharing is what makes the network
# *recurrent*. The shapes are $W_{aa}: (n_a, n_a)$, $W_{ax}: (n_a, n_x)$,
# $W_{ya}: (n_y, n_a)$, $b_a: (n_a, 1)$ and $b_y: (n_y, 1)$. The biases are single
# columns; numpy broadcasting adds them to every column of the batch.
#
# **Exercise.** Implement `rnn_cell_forward`:
#
# 1. compute the new hidden state with `np.tanh`;
# 2. compute the prediction with the `softmax` from `rnn_utils`.
#
# The function also returns a *cache*, the tuple
# $(a^{\langle t \rangle}, a^{\langle t-1 \rangle}, x^{\langle t \rangle}, \text{parameters})$.
# The backward pass in part 3 reads everything it needs from it.

# %% nbgrader={"grade": false, "grade_id": "rnn_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: rnn_cell_forward

def rnn_cell_forward(xt, a_prev, parameters):
    """One forward step of the basic RNN.

    Arguments:
    xt -- input at step t, shape (n_x, m)
    a_prev -- hidden state at step t-1, shape (n_a, m)
    parameters -- dict with
        Waa -- hidden-to-hidden weights, shape (n_a, n_a)
        Wax -- input-to-hidden weights, shape (n_a, n_x)
        Wya -- hidden-to-output weights, shape (n_y, n_a)
        ba -- hidden bias, shape (n_a, 1)
        by -- output bias, shape (n_y, 1)

    Returns:
    a_next -- hidden state at step t, shape (n_a, m)
    yt_pred -- prediction at step t, shape (n_y, m)
    cache -- tuple (a_next, a_prev, xt, parameters) for the backward pass
    """
    Waa = parameters["Waa"]
    Wax = parameters["Wax"]
    Wya = parameters["Wya"]
    ba = parameters["ba"]
    by = parameters["by"]

    ### START CODE HERE ### (≈2 lines)
    ### BEGIN SOLUTION
    # (n_a, n_a) @ (n_a, m) + (n_a, n_x) @ (n_x, m) + (n_a, 1) -> (n_a, m)
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    # (n_y, n_a) @ (n_a, m) + (n_y, 1) -> (n_y, m)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    ### END SOLUTION
    ### END CODE HERE ###

    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache

# %% nbgrader={"grade": false, "grade_id": "example_rnn_cell_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run rnn_cell_forward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
check_example("rnn_cell_forward", rnn_cell_forward)

# %% [markdown]
# <!-- expected-output: rnn_cell_forward -->

# %% nbgrader={"grade": true, "grade_id": "test_rnn_cell_forward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run rnn_cell_forward on new sizes and seeds.
assert_implemented("rnn_cell_forward", rnn_cell_forward)
check_submission("rnn_cell_forward", rnn_cell_forward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("rnn_cell_forward", globals())
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 The RNN over a whole sequence
#
# <!-- figure: rnn_unrolled -->
#
# A sequence of $T_x$ inputs is processed by calling the cell $T_x$ times. Step $t$
# receives the hidden state produced by step $t-1$; the very first step, $t = 0$, receives
# the initial state `a0`, which the caller passes in. The figure numbers the steps as the
# code does, $t = 0, \dots, T_x - 1$, with $a^{\langle t \rangle}$ = `a[:, :, t]`.
#
# **Exercise.** Implement `rnn_forward`:
#
# 1. create `a` of shape $(n_a, m, T_x)$ and `y_pred` of shape $(n_y, m, T_x)$, filled with zeros;
# 2. start from `a_next = a0`;
# 3. for every step `t` from `0` to `T_x - 1`: call `rnn_cell_forward` on `x[:, :, t]` and
#    the current hidden state, store the new state in `a[:, :, t]`, the prediction in
#    `y_pred[:, :, t]`, and append the step's cache to the list `caches`.
#
# The function returns `caches` as the pair `(list of step caches, x)`.

# %% nbgrader={"grade": false, "grade_id": "rnn_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: rnn_forward

def rnn_forward(x, a0, parameters):
    """Forward pass of the basic RNN over T_x steps.

    Arguments:
    x -- inputs for every step, shape (n_x, m, T_x)
    a0 -- initial hidden state, shape (n_a, m)
    parameters -- dict with Waa (n_a, n_a), Wax (n_a, n_x), Wya (n_y, n_a),
                  ba (n_a, 1) and by (n_y, 1)

    Returns:
    a -- hidden state of every step, shape (n_a, m, T_x)
    y_pred -- prediction of every step, shape (n_y, m, T_x)
    caches -- tuple (list of the T_x step caches, x) for the backward pass
    """
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape

    ### START CODE HERE ### (≈7 lines)
    ### BEGIN SOLUTION
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    ### END SOLUTION
    ### END CODE HERE ###

    caches = (caches, x)
    return a, y_pred, caches

# %% nbgrader={"grade": false, "grade_id": "example_rnn_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run rnn_forward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# A correct rnn_cell_forward stands in for yours here, so this judges the loop alone.
check_example("rnn_forward", rnn_forward)

# %% [markdown]
# <!-- expected-output: rnn_forward -->

# %% nbgrader={"grade": true, "grade_id": "test_rnn_forward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run rnn_forward on new sizes and seeds.
assert_implemented("rnn_forward", rnn_forward)
check_submission("rnn_forward", rnn_forward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("rnn_forward", globals())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2: the LSTM
#
# A basic RNN has trouble carrying information across many steps: during training the
# gradient that reaches early steps tends to shrink towards zero (you will see this
# happen at the end of the notebook). The LSTM adds a second state, the *memory*
# $c^{\langle t \rangle}$, and three *gates* that decide what the memory forgets, what it
# takes in, and what it shows to the rest of the network.
#
# ### 2.1 One step of the LSTM
#
# <!-- figure: lstm_cell -->
#
# Every gate looks at the same stacked vector: the previous hidden state on top of the
# current input, $\left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right]$, of shape
# $(n_a + n_x, m)$. Each gate has its own weights of shape $(n_a, n_a + n_x)$ and bias of
# shape $(n_a, 1)$. A gate passes its result through a sigmoid, so its values lie
# between 0 (closed) and 1 (open).
#
# - **Forget gate** $\Gamma_f$: how much of each entry of the old memory to keep.
# $$\Gamma_f^{\langle t \rangle} = \sigma\left(W_f \left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right] + b_f\right)$$
# - **Candidate** $\tilde{c}$: new content that could be written to memory, between −1 and 1.
# $$\tilde{c}^{\langle t \rangle} = \tanh\left(W_c \left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right] + b_c\right)$$
# - **Update gate** $\Gamma_i$: how much of the candidate to write.
# $$\Gamma_i^{\langle t \rangle} = \sigma\left(W_i \left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right] + b_i\right)$$
# - **New memory**: keep part of the old memory and add part of the candidate.
# $$c^{\langle t \rangle} = \Gamma_f^{\langle t \rangle} * c^{\langle t-1 \rangle} + \Gamma_i^{\langle t \rangle} * \tilde{c}^{\langle t \rangle}$$
# - **Output gate** $\Gamma_o$: how much of the memory to show as the new hidden state.
# $$\Gamma_o^{\langle t \rangle} = \sigma\left(W_o \left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right] + b_o\right), \qquad a^{\langle t \rangle} = \Gamma_o^{\langle t \rangle} * \tanh\left(c^{\langle t \rangle}\right)$$
# - **Prediction**, as in the RNN:
# $$\hat{y}^{\langle t \rangle} = \mathrm{softmax}\left(W_y\, a^{\langle t \rangle} + b_y\right)$$
#
# In code the four results are called `ft`, `it`, `cct` and `ot` (the update gate is `it`,
# with weights `Wi` and `bi`).
#
# **Exercise.** Implement `lstm_cell_forward`:
#
# 1. stack `a_prev` on top of `xt` (for example with `np.concatenate(..., axis=0)`);
# 2. compute `ft`, `it`, `cct`, `c_next`, `ot` and `a_next` with the equations above;
# 3. compute the prediction `yt_pred`.

# %% nbgrader={"grade": false, "grade_id": "lstm_cell_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: lstm_cell_forward

def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """One forward step of the LSTM.

    Arguments:
    xt -- input at step t, shape (n_x, m)
    a_prev -- hidden state at step t-1, shape (n_a, m)
    c_prev -- memory at step t-1, shape (n_a, m)
    parameters -- dict with
        Wf, Wi, Wc, Wo -- weights of the forget gate, update gate, candidate and
                          output gate, each of shape (n_a, n_a + n_x)
        bf, bi, bc, bo -- their biases, each of shape (n_a, 1)
        Wy -- hidden-to-output weights, shape (n_y, n_a)
        by -- output bias, shape (n_y, 1)

    Returns:
    a_next -- hidden state at step t, shape (n_a, m)
    c_next -- memory at step t, shape (n_a, m)
    yt_pred -- prediction at step t, shape (n_y, m)
    cache -- tuple (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    """
    Wf = parameters["Wf"]
    bf = parameters["bf"]
    Wi = parameters["Wi"]
    bi = parameters["bi"]
    Wc = parameters["Wc"]
    bc = parameters["bc"]
    Wo = parameters["Wo"]
    bo = parameters["bo"]
    Wy = parameters["Wy"]
    by = parameters["by"]

    ### START CODE HERE ### (≈8 lines)
    ### BEGIN SOLUTION
    concat = np.concatenate((a_prev, xt), axis=0)  # (n_a + n_x, m)
    # each gate: (n_a, n_a + n_x) @ (n_a + n_x, m) + (n_a, 1) -> (n_a, m)
    ft = sigmoid(np.dot(Wf, concat) + bf)
    it = sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    # (n_y, n_a) @ (n_a, m) + (n_y, 1) -> (n_y, m)
    yt_pred = softmax(np.dot(Wy, a_next) + by)
    ### END SOLUTION
    ### END CODE HERE ###

    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache

# %% nbgrader={"grade": false, "grade_id": "example_lstm_cell_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run lstm_cell_forward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
check_example("lstm_cell_forward", lstm_cell_forward)

# %% [markdown]
# <!-- expected-output: lstm_cell_forward -->

# %% nbgrader={"grade": true, "grade_id": "test_lstm_cell_forward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run lstm_cell_forward on new sizes and seeds.
assert_implemented("lstm_cell_forward", lstm_cell_forward)
check_submission("lstm_cell_forward", lstm_cell_forward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("lstm_cell_forward", globals())
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 The LSTM over a whole sequence
#
# The loop is the same as for the RNN, with one more state to carry: the memory. The
# caller gives the initial hidden state `a0`; the initial memory
# is always zero, and you create it yourself.
#
# **Exercise.** Implement `lstm_forward`:
#
# 1. create `a` and `c` of shape $(n_a, m, T_x)$ and `y` of shape $(n_y, m, T_x)$, filled with zeros;
# 2. start from `a_next = a0` and a fresh zero memory `c_next` of shape $(n_a, m)$;
# 3. for every step: call `lstm_cell_forward`, store `a_next`, `c_next` and the
#    prediction at index `t`, and append the cache.
#
# A word of warning about step 2: `c[:, :, 0]` is a *view* into `c`, not a copy. If you
# used it as the initial memory, the value saved in the first cache would change as
# soon as you write `c[:, :, 0]`, and the backward pass would read the wrong memory.

# %% nbgrader={"grade": false, "grade_id": "lstm_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: lstm_forward

def lstm_forward(x, a0, parameters):
    """Forward pass of the LSTM over T_x steps.

    Arguments:
    x -- inputs for every step, shape (n_x, m, T_x)
    a0 -- initial hidden state, shape (n_a, m)
    parameters -- dict with Wf, Wi, Wc, Wo (n_a, n_a + n_x), bf, bi, bc, bo (n_a, 1),
                  Wy (n_y, n_a) and by (n_y, 1)

    Returns:
    a -- hidden state of every step, shape (n_a, m, T_x)
    y -- prediction of every step, shape (n_y, m, T_x)
    c -- memory of every step, shape (n_a, m, T_x)
    caches -- tuple (list of the T_x step caches, x) for the backward pass
    """
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape

    ### START CODE HERE ### (≈11 lines)
    ### BEGIN SOLUTION
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros((n_a, m))
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    ### END SOLUTION
    ### END CODE HERE ###

    caches = (caches, x)
    return a, y, c, caches

# %% nbgrader={"grade": false, "grade_id": "example_lstm_forward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run lstm_forward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# A correct lstm_cell_forward stands in for yours here, so this judges the loop alone.
check_example("lstm_forward", lstm_forward)

# %% [markdown]
# <!-- expected-output: lstm_forward -->

# %% nbgrader={"grade": true, "grade_id": "test_lstm_forward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run lstm_forward on new sizes and seeds.
assert_implemented("lstm_forward", lstm_forward)
check_submission("lstm_forward", lstm_forward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("lstm_forward", globals())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3: backpropagation through the RNN
#
# Deep-learning frameworks compute gradients for you. Writing them by hand once is the
# best way to understand where they come from, and why some of them vanish.
#
# <!-- figure: backprop_through_time -->
#
# The backward pass walks the sequence from the last step to the first. At step $t$ two
# gradients arrive at the hidden state $a^{\langle t \rangle}$: the one from the loss at
# that step (`da[:, :, t]`, given to you) and the one flowing back from step $t+1$
# through $a^{\langle t \rangle}$'s use as "previous state" there (`da_prevt`). Their sum
# is the total gradient the cell at step $t$ must push further back. The weights are
# shared by all steps, so their gradients are *sums* over the steps.
#
# ### 3.1 One step backward
#
# Write $z = W_{aa} a^{\langle t-1 \rangle} + W_{ax} x^{\langle t \rangle} + b_a$, so that
# $a^{\langle t \rangle} = \tanh(z)$. Given the gradient `da_next` of the loss with respect
# to $a^{\langle t \rangle}$, the chain rule gives, in order:
#
# $$dz = \text{da\_next} * \left(1 - \left(a^{\langle t \rangle}\right)^2\right) \qquad \text{(because } \tanh'(z) = 1 - \tanh(z)^2\text{)}$$
#
# $$dW_{ax} = dz\, {x^{\langle t \rangle}}^T, \qquad dW_{aa} = dz\, {a^{\langle t-1 \rangle}}^T, \qquad db_a = \sum_{\text{columns}} dz$$
#
# $$dx^{\langle t \rangle} = W_{ax}^T\, dz, \qquad da^{\langle t-1 \rangle} = W_{aa}^T\, dz$$
#
# The bias gradient sums over the batch: `np.sum(dz, axis=1, keepdims=True)` keeps its
# shape $(n_a, 1)$. Notice that $1 - (a^{\langle t \rangle})^2$ uses the *output* of the
# tanh, which the cache already holds: there is no need to apply `np.tanh` again.
#
# **Exercise.** Implement `rnn_cell_backward`. It returns a dictionary with the keys
# `dxt`, `da_prev`, `dWax`, `dWaa` and `dba`.

# %% nbgrader={"grade": false, "grade_id": "rnn_cell_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: rnn_cell_backward

def rnn_cell_backward(da_next, cache):
    """Backward pass of one RNN step.

    Arguments:
    da_next -- gradient of the loss with respect to a_next, shape (n_a, m)
    cache -- tuple (a_next, a_prev, xt, parameters) from rnn_cell_forward

    Returns:
    gradients -- dict with
        dxt -- gradient with respect to xt, shape (n_x, m)
        da_prev -- gradient with respect to a_prev, shape (n_a, m)
        dWax -- gradient with respect to Wax, shape (n_a, n_x)
        dWaa -- gradient with respect to Waa, shape (n_a, n_a)
        dba -- gradient with respect to ba, shape (n_a, 1)
    """
    (a_next, a_prev, xt, parameters) = cache
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]

    ### START CODE HERE ### (≈6 lines)
    ### BEGIN SOLUTION
    # backprop through tanh: tanh'(z) = 1 - a_next**2
    dz = da_next * (1 - a_next ** 2)              # (n_a, m)
    dWax = np.dot(dz, xt.T)                       # (n_a, m) @ (m, n_x) -> (n_a, n_x)
    dWaa = np.dot(dz, a_prev.T)                   # (n_a, m) @ (m, n_a) -> (n_a, n_a)
    dba = np.sum(dz, axis=1, keepdims=True)       # (n_a, 1)
    dxt = np.dot(Wax.T, dz)                       # (n_x, n_a) @ (n_a, m) -> (n_x, m)
    da_prev = np.dot(Waa.T, dz)                   # (n_a, n_a) @ (n_a, m) -> (n_a, m)
    ### END SOLUTION
    ### END CODE HERE ###

    gradients = {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}
    return gradients

# %% nbgrader={"grade": false, "grade_id": "example_rnn_cell_backward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run rnn_cell_backward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# Its cache comes from a correct forward pass saved with the assignment, so this
# judges rnn_cell_backward alone.
check_example("rnn_cell_backward", rnn_cell_backward)

# %% [markdown]
# <!-- expected-output: rnn_cell_backward -->

# %% nbgrader={"grade": true, "grade_id": "test_rnn_cell_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run rnn_cell_backward on new sizes and seeds, with caches
# made by a correct forward pass.
assert_implemented("rnn_cell_backward", rnn_cell_backward)
check_submission("rnn_cell_backward", rnn_cell_backward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("rnn_cell_backward", globals())
### END HIDDEN TESTS

# %% [markdown]
# #### Check your gradients numerically (not graded)
#
# A derivative is a limit: $\frac{\partial L}{\partial \theta} \approx \frac{L(\theta + \varepsilon) - L(\theta - \varepsilon)}{2\varepsilon}$
# for a small $\varepsilon$. This *centred difference* estimates every gradient your backward function
# returns, one entry at a time, on a small random case. The loss is
# $L = \sum a^{\langle t \rangle} * \text{da\_next}$, whose gradient with respect to $a^{\langle t \rangle}$ is exactly
# the `da_next` your function receives. The estimate was made with a **correct** forward pass when the
# assignment was built, and `gradient_check` runs your backward function on the cache of that same
# correct forward pass: so it judges your backward function alone, even if your forward function has
# a bug (it tells you, in a note, when your forward function disagrees with the correct one on this
# case). It then prints the relative error
# $\frac{\lVert g_{\text{yours}} - g_{\text{numerical}} \rVert}{\lVert g_{\text{yours}} \rVert + \lVert g_{\text{numerical}} \rVert}$.
#
# What to expect: a correct function gives errors around $10^{-10}$ to $10^{-8}$ (the rounding error of the
# estimate). Anything above $10^{-4}$ is a bug in your backward function's computation of that gradient.

# %%
errors = gradient_check("rnn_cell_backward", rnn_cell_forward, rnn_cell_backward)

# %% [markdown]
# And this is what a failing check looks like. The function below takes your gradients and spoils one of
# them by 10%, as a forgotten factor would. Only `dWaa` should be flagged:

# %%
def spoiled_rnn_cell_backward(da_next, cache):
    gradients = rnn_cell_backward(da_next, cache)
    gradients["dWaa"] = 1.1 * gradients["dWaa"]
    return gradients

errors = gradient_check("rnn_cell_backward", rnn_cell_forward, spoiled_rnn_cell_backward)

# %% [markdown]
# ### 3.2 The RNN backward over a whole sequence
#
# **Exercise.** Implement `rnn_backward`:
#
# 1. unpack `caches` into the list of step caches and `x`, and read the sizes;
# 2. create zero arrays for `dx` $(n_x, m, T_x)$, `dWax`, `dWaa`, `dba`, and for the
#    gradient carried back in time, `da_prevt` $(n_a, m)$;
# 3. loop over the steps **backwards**, `for t in reversed(range(T_x))`:
#    - call `rnn_cell_backward` with the total gradient `da[:, :, t] + da_prevt` and the
#      cache of step `t`;
#    - store the step's `dxt` in `dx[:, :, t]`;
#    - **add** the step's weight and bias gradients to the running sums (`+=`);
#    - keep the step's `da_prev` as the new `da_prevt`, for step `t - 1`;
# 4. after the loop, `da_prevt` is the gradient with respect to `a0`: return it as `da0`.

# %% nbgrader={"grade": false, "grade_id": "rnn_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: rnn_backward

def rnn_backward(da, caches):
    """Backward pass of the basic RNN over the whole sequence.

    Arguments:
    da -- gradient of the loss with respect to every hidden state, shape (n_a, m, T_x)
    caches -- tuple (list of step caches, x) from rnn_forward

    Returns:
    gradients -- dict with
        dx -- gradient with respect to the inputs, shape (n_x, m, T_x)
        da0 -- gradient with respect to the initial hidden state, shape (n_a, m)
        dWax -- gradient with respect to Wax, shape (n_a, n_x)
        dWaa -- gradient with respect to Waa, shape (n_a, n_a)
        dba -- gradient with respect to ba, shape (n_a, 1)
    """
    ### START CODE HERE ### (≈15 lines)
    ### BEGIN SOLUTION
    (step_caches, x) = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        # the state at step t feeds the loss at t and the step t + 1
        step = rnn_cell_backward(da[:, :, t] + da_prevt, step_caches[t])
        dx[:, :, t] = step["dxt"]
        dWax += step["dWax"]
        dWaa += step["dWaa"]
        dba += step["dba"]
        da_prevt = step["da_prev"]
    da0 = da_prevt
    ### END SOLUTION
    ### END CODE HERE ###

    gradients = {"dx": dx, "da0": da0, "dWax": dWax, "dWaa": dWaa, "dba": dba}
    return gradients

# %% nbgrader={"grade": false, "grade_id": "example_rnn_backward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run rnn_backward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# Its cache comes from a correct forward pass saved with the assignment, so this
# judges rnn_backward alone.
# A correct rnn_cell_backward stands in for yours here, so this judges the loop alone.
check_example("rnn_backward", rnn_backward)

# %% [markdown]
# <!-- expected-output: rnn_backward -->

# %% nbgrader={"grade": true, "grade_id": "test_rnn_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run rnn_backward on new sizes and seeds, with caches made by a
# correct forward pass.
assert_implemented("rnn_backward", rnn_backward)
check_submission("rnn_backward", rnn_backward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("rnn_backward", globals())
### END HIDDEN TESTS

# %% [markdown]
# #### Check your gradients numerically (not graded)
#
# The same check for the whole sequence. Here the loss is $L = \sum_t \sum a^{\langle t \rangle} * \text{da}[:, :, t]$:
# every weight is nudged once and the change of the loss sums the effect over all steps, so a gradient
# that is not carried back through time shows up as a large error. Inside the loop a correct
# `rnn_cell_backward` stands in for yours, so this judges `rnn_backward` alone.

# %%
errors = gradient_check("rnn_backward", rnn_forward, rnn_backward)

# %% [markdown]
# ## Part 4: backpropagation through the LSTM
#
# ### 4.1 One step backward
#
# The LSTM step has two outputs that matter for the past, $a^{\langle t \rangle}$ and
# $c^{\langle t \rangle}$, so it receives two gradients: `da_next` and `dc_next`. The memory
# influences the loss in two ways: directly, through the next step's memory (`dc_next`),
# and through $a^{\langle t \rangle} = \Gamma_o * \tanh(c^{\langle t \rangle})$. Adding both
# gives the total gradient of the memory:
#
# $$dc = \text{dc\_next} + \text{da\_next} * \Gamma_o^{\langle t \rangle} * \left(1 - \tanh^2\left(c^{\langle t \rangle}\right)\right)$$
#
# From there we go back through each gate. The gradients below are taken with respect
# to each gate's value **before** its sigmoid or tanh (its *pre-activation*), which is why
# every line ends with the derivative of that activation: $\sigma'(z) = \sigma(z)(1 - \sigma(z))$
# and $\tanh'(z) = 1 - \tanh^2(z)$.
#
# $$d\Gamma_o = \text{da\_next} * \tanh\left(c^{\langle t \rangle}\right) * \Gamma_o (1 - \Gamma_o)$$
#
# $$d\tilde{c} = dc * \Gamma_i * \left(1 - \tilde{c}^2\right)$$
#
# $$d\Gamma_i = dc * \tilde{c} * \Gamma_i (1 - \Gamma_i)$$
#
# $$d\Gamma_f = dc * c^{\langle t-1 \rangle} * \Gamma_f (1 - \Gamma_f)$$
#
# Each gate's weights saw the stacked input, so (shown for the forget gate; the other
# three follow the same pattern with $d\Gamma_i$, $d\tilde{c}$ and $d\Gamma_o$):
#
# $$dW_f = d\Gamma_f \left[a^{\langle t-1 \rangle}; x^{\langle t \rangle}\right]^T, \qquad db_f = \sum_{\text{columns}} d\Gamma_f$$
#
# The stacked input is split again to send gradients back: its first $n_a$ rows were
# $a^{\langle t-1 \rangle}$ and the remaining $n_x$ rows were $x^{\langle t \rangle}$. So the
# *columns* `W[:, :n_a]` of each weight matrix act on the hidden state and `W[:, n_a:]`
# on the input:
#
# $$da^{\langle t-1 \rangle} = W_f[:, :n_a]^T d\Gamma_f + W_i[:, :n_a]^T d\Gamma_i + W_c[:, :n_a]^T d\tilde{c} + W_o[:, :n_a]^T d\Gamma_o$$
#
# $$dx^{\langle t \rangle} = W_f[:, n_a:]^T d\Gamma_f + W_i[:, n_a:]^T d\Gamma_i + W_c[:, n_a:]^T d\tilde{c} + W_o[:, n_a:]^T d\Gamma_o$$
#
# $$dc^{\langle t-1 \rangle} = dc * \Gamma_f$$
#
# **Exercise.** Implement `lstm_cell_backward`. In code the four pre-activation
# gradients are `dft`, `dit`, `dcct` and `dot`. The function returns a dictionary with
# the keys `dxt`, `da_prev`, `dc_prev`, `dWf`, `dbf`, `dWi`, `dbi`, `dWc`, `dbc`, `dWo`
# and `dbo`.

# %% nbgrader={"grade": false, "grade_id": "lstm_cell_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: lstm_cell_backward

def lstm_cell_backward(da_next, dc_next, cache):
    """Backward pass of one LSTM step.

    Arguments:
    da_next -- gradient of the loss with respect to a_next, shape (n_a, m)
    dc_next -- gradient of the loss with respect to c_next, shape (n_a, m)
    cache -- tuple (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
             from lstm_cell_forward

    Returns:
    gradients -- dict with
        dxt -- gradient with respect to xt, shape (n_x, m)
        da_prev -- gradient with respect to a_prev, shape (n_a, m)
        dc_prev -- gradient with respect to c_prev, shape (n_a, m)
        dWf, dWi, dWc, dWo -- gradients of the gate weights, shape (n_a, n_a + n_x)
        dbf, dbi, dbc, dbo -- gradients of the gate biases, shape (n_a, 1)
    """
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_a, m = a_next.shape

    ### START CODE HERE ### (≈20 lines)
    ### BEGIN SOLUTION
    tanh_c = np.tanh(c_next)
    # total gradient of the memory: direct path plus the path through a_next
    dc = dc_next + da_next * ot * (1 - tanh_c ** 2)       # (n_a, m)
    # backprop through each gate's activation to its pre-activation
    dot = da_next * tanh_c * ot * (1 - ot)                # (n_a, m)
    dcct = dc * it * (1 - cct ** 2)                       # (n_a, m)
    dit = dc * cct * it * (1 - it)                        # (n_a, m)
    dft = dc * c_prev * ft * (1 - ft)                     # (n_a, m)
    concat = np.concatenate((a_prev, xt), axis=0)         # (n_a + n_x, m)
    # (n_a, m) @ (m, n_a + n_x) -> (n_a, n_a + n_x)
    dWf = np.dot(dft, concat.T)
    dWi = np.dot(dit, concat.T)
    dWc = np.dot(dcct, concat.T)
    dWo = np.dot(dot, concat.T)
    dbf = np.sum(dft, axis=1, keepdims=True)              # (n_a, 1)
    dbi = np.sum(dit, axis=1, keepdims=True)
    dbc = np.sum(dcct, axis=1, keepdims=True)
    dbo = np.sum(dot, axis=1, keepdims=True)
    # split the stacked input: W[:, :n_a] acts on a_prev, W[:, n_a:] on xt
    dconcat = (np.dot(parameters["Wf"].T, dft) + np.dot(parameters["Wi"].T, dit)
               + np.dot(parameters["Wc"].T, dcct) + np.dot(parameters["Wo"].T, dot))  # (n_a + n_x, m)
    da_prev = dconcat[:n_a, :]
    dxt = dconcat[n_a:, :]
    dc_prev = dc * ft
    ### END SOLUTION
    ### END CODE HERE ###

    gradients = {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev,
                 "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
                 "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}
    return gradients

# %% nbgrader={"grade": false, "grade_id": "example_lstm_cell_backward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run lstm_cell_backward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# Its cache comes from a correct forward pass saved with the assignment, so this
# judges lstm_cell_backward alone.
check_example("lstm_cell_backward", lstm_cell_backward)

# %% [markdown]
# <!-- expected-output: lstm_cell_backward -->

# %% nbgrader={"grade": true, "grade_id": "test_lstm_cell_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run lstm_cell_backward on new sizes and seeds, with caches made
# by a correct forward pass.
assert_implemented("lstm_cell_backward", lstm_cell_backward)
check_submission("lstm_cell_backward", lstm_cell_backward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("lstm_cell_backward", globals())
### END HIDDEN TESTS

# %% [markdown]
# #### Check your gradients numerically (not graded)
#
# For one LSTM step the loss also has a memory term, $L = \sum a^{\langle t \rangle} * \text{da\_next} + \sum c^{\langle t \rangle} * \text{dc\_next}$,
# so `dc_next` is checked too.

# %%
errors = gradient_check("lstm_cell_backward", lstm_cell_forward, lstm_cell_backward)

# %% [markdown]
# ### 4.2 The LSTM backward over a whole sequence
#
# This loop is like `rnn_backward`, with **two** gradients carried back in time instead of
# one: `da_prevt` for the hidden state and `dc_prevt` for the memory. Both start at zero
# after the last step and both must be updated at every step; forgetting either one
# silently cuts the sequence into independent steps.
#
# **Exercise.** Implement `lstm_backward`:
#
# 1. unpack the caches and read the sizes;
# 2. create zero arrays for `dx`, the eight weight and bias gradients, `da_prevt` and `dc_prevt`;
# 3. for `t` in `reversed(range(T_x))`: call `lstm_cell_backward` with
#    `da[:, :, t] + da_prevt`, `dc_prevt` and the cache of step `t`; store `dxt`;
#    add every weight and bias gradient to its running sum; and set `da_prevt` and
#    `dc_prevt` to the step's `da_prev` and `dc_prev`;
# 4. return the final `da_prevt` as `da0`.

# %% nbgrader={"grade": false, "grade_id": "lstm_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
# GRADED FUNCTION: lstm_backward

def lstm_backward(da, caches):
    """Backward pass of the LSTM over the whole sequence.

    Arguments:
    da -- gradient of the loss with respect to every hidden state, shape (n_a, m, T_x)
    caches -- tuple (list of step caches, x) from lstm_forward

    Returns:
    gradients -- dict with
        dx -- gradient with respect to the inputs, shape (n_x, m, T_x)
        da0 -- gradient with respect to the initial hidden state, shape (n_a, m)
        dWf, dWi, dWc, dWo -- gradients of the gate weights, shape (n_a, n_a + n_x)
        dbf, dbi, dbc, dbo -- gradients of the gate biases, shape (n_a, 1)
    """
    ### START CODE HERE ### (≈20 lines)
    ### BEGIN SOLUTION
    (step_caches, x) = caches
    n_x, m, T_x = x.shape
    n_a = da.shape[0]
    dx = np.zeros((n_x, m, T_x))
    sums = {}
    for gate in ("f", "i", "c", "o"):
        sums["dW" + gate] = np.zeros((n_a, n_a + n_x))
        sums["db" + gate] = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        step = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, step_caches[t])
        dx[:, :, t] = step["dxt"]
        for key in sums:
            sums[key] += step[key]
        # carry both gradients to step t - 1
        da_prevt = step["da_prev"]
        dc_prevt = step["dc_prev"]
    da0 = da_prevt
    dWf, dbf, dWi, dbi = sums["dWf"], sums["dbf"], sums["dWi"], sums["dbi"]
    dWc, dbc, dWo, dbo = sums["dWc"], sums["dbc"], sums["dWo"], sums["dbo"]
    ### END SOLUTION
    ### END CODE HERE ###

    gradients = {"dx": dx, "da0": da0, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
                 "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}
    return gradients

# %% nbgrader={"grade": false, "grade_id": "example_lstm_backward", "locked": true, "schema_version": 3, "solution": false, "task": false}
# Run lstm_backward on the published example: it prints the values of the table below,
# then compares every output with the expected one.
# Its cache comes from a correct forward pass saved with the assignment, so this
# judges lstm_backward alone.
# A correct lstm_cell_backward stands in for yours here, so this judges the loop alone.
check_example("lstm_backward", lstm_backward)

# %% [markdown]
# <!-- expected-output: lstm_backward -->

# %% nbgrader={"grade": true, "grade_id": "test_lstm_backward", "locked": true, "points": 10, "schema_version": 3, "solution": false, "task": false}
# Graded. Visible lines: implemented, in its graded cell, right on the published example.
# Hidden tests then run lstm_backward on new sizes and seeds, with caches made by a
# correct forward pass.
assert_implemented("lstm_backward", lstm_backward)
check_submission("lstm_backward", lstm_backward)
### BEGIN HIDDEN TESTS
from autograder.notebook import check
check("lstm_backward", globals())
### END HIDDEN TESTS

# %% [markdown]
# #### Check your gradients numerically (not graded)

# %%
errors = gradient_check("lstm_backward", lstm_forward, lstm_backward)

# %% [markdown]
# ## Why LSTMs? Watching the gradient vanish (not graded)
#
# Take a sequence of 50 steps where only the last step has a loss. During training, the early steps learn
# only from the gradient $\partial L / \partial a^{\langle t \rangle}$ that travels all the way back to them.
# The cell below walks your backward functions from the last step to the first and measures the size
# of that gradient at every step, for the basic RNN and for the LSTM with the same weight scale.
#
# In the basic RNN each step multiplies the gradient by $W_{aa}^T$ and by the tanh derivative, which is
# at most 1, so over many steps it shrinks geometrically: it *vanishes*. The LSTM has a second path
# back, through the memory, where each step multiplies the gradient only by the forget gate
# $\Gamma_f$. With the forget gate mostly open (its bias starts at $+2$), that path keeps the gradient
# alive over the whole sequence.
#
# This is the picture the reference solution gives:
#
# <!-- figure: vanishing_gradient -->
#
# Run the cell to draw the same picture with your own functions. (The random weights come from a fixed
# seed, so your curves should match the picture.)

# %%
import matplotlib.pyplot as plt
from rnn_checks import vanishing_gradient_data

t, rnn_norms, lstm_norms = vanishing_gradient_data(
    rnn_forward=rnn_forward, rnn_cell_backward=rnn_cell_backward, rnn_backward=rnn_backward,
    lstm_forward=lstm_forward, lstm_cell_backward=lstm_cell_backward, lstm_backward=lstm_backward)
plt.figure(figsize=(8, 4))
plt.semilogy(t, lstm_norms, color="#0072b2", label="LSTM")      # the colours of the picture above
plt.semilogy(t, rnn_norms, color="#d55e00", label="basic RNN")
plt.xlabel("time step t (the loss is at the last step)")
plt.ylabel("size of dL/da<t> (log scale)")
plt.legend()
plt.show()
# how much of the gradient at the last step is left when it reaches step 0
print(f"gradient at step 0 / gradient at the last step: RNN {rnn_norms[0] / rnn_norms[-1]:.1e}, "
      f"LSTM {lstm_norms[0] / lstm_norms[-1]:.1e}")

# %% [markdown]
# ## Congratulations
#
# You have written the forward and backward passes of an RNN and an LSTM by hand. Run
# the whole notebook once more from the top (*Kernel → Restart & Run All*) before you
# submit: the grader runs each function on its own, so a function must not rely on
# variables that only exist because you ran some other cell.
