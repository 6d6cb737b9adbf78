"""Diagrams and plots of the RNN / LSTM notebook, drawn with matplotlib.

Build the four diagrams (run from the repository root):

    python -m notebooks.figures OUT_DIR

writes rnn_cell.png, rnn_unrolled.png, lstm_cell.png and
backprop_through_time.png into OUT_DIR.  The files are byte-identical from
one build to the next (fixed dpi, no "Software" or date metadata).

The "Why LSTMs" plot needs working forward/backward functions, so it is not
part of that build; the notebook build calls

    data = vanishing_gradient_data(rnn_forward=..., rnn_cell_backward=...,
                                   lstm_forward=..., lstm_cell_backward=...)
    plot_vanishing_gradient(data, OUT_DIR / VANISHING_FILE)

ALT_TEXT maps each file name to a text alternative for embedding.
"""
from .diagrams import (DIAGRAMS, build, draw_backprop_through_time,
                       draw_lstm_cell, draw_rnn_cell, draw_rnn_unrolled)
from .vanishing import (OPTIONAL_FUNCTIONS, REQUIRED_FUNCTIONS,
                        draw_vanishing_gradient, plot_vanishing_gradient,
                        vanishing_gradient_data)

VANISHING_FILE = "vanishing_gradient.png"

ALT_TEXT = {
    "rnn_cell.png": (
        "Diagram of one RNN cell. The previous hidden state a<t-1> is multiplied "
        "by Waa and the input x<t> by Wax; the two products and the bias ba are "
        "added and passed through tanh, giving the new hidden state a<t>. "
        "a<t> leaves the cell towards the next time step and also goes through "
        "softmax(Wya a<t> + by) to give the prediction y-hat<t>."
    ),
    "rnn_unrolled.png": (
        "Diagram of an RNN unrolled over time. The same RNN cell, with the same "
        "parameters Waa, Wax, Wya, ba, by, is repeated for steps t = 0, 1, 2 up to "
        "T_x-1, numbered as in the code. Each copy reads its input x<t> = x[:, :, t] "
        "from below and outputs a prediction y-hat<t> above; the hidden state "
        "starts as a0 and is passed from each step to the next (a<0>, a<1>, a<2>, "
        "..., a<T_x-1>)."
    ),
    "lstm_cell.png": (
        "Diagram of one LSTM cell. The previous hidden state a<t-1> and the input "
        "x<t> are stacked and fed to four blocks: the forget gate Gamma_f "
        "(sigmoid), the update gate Gamma_i (sigmoid), the candidate c-tilde<t> "
        "(tanh) and the output gate Gamma_o (sigmoid). Along the top, the memory "
        "c<t-1> is multiplied by Gamma_f, then Gamma_i times c-tilde<t> is added, "
        "giving c<t>. The new hidden state a<t> is Gamma_o times tanh(c<t>); it "
        "leaves the cell and also goes through softmax(Wy a<t> + by) to give "
        "y-hat<t>. The equations are listed below the drawing."
    ),
    "backprop_through_time.png": (
        "Diagram of backpropagation through time, with the steps 0, ..., t-1, t, "
        "..., T_x-1 side by side, numbered as in the code. Every step receives da<t>, the gradient coming "
        "from its own loss, from above. Gradients move from right to left: step t "
        "sends da_prevt (and, for the LSTM, dc_prevt) to step t-1; they start at "
        "zero at the last step, and what leaves step 0 is da0. Each step also "
        "outputs dx<t>, the gradient of its input, and adds its share of the "
        "parameter gradients dW to a running sum over all steps."
    ),
    VANISHING_FILE: (
        "Line plot with a logarithmic vertical axis: the size of the gradient of "
        "a loss computed at the last of 50 steps with respect to the hidden state "
        "a<t>, for every step t. For the basic RNN the gradient shrinks steadily "
        "going back in time, by many orders of magnitude by step 0; for the LSTM "
        "it stays within about one order of magnitude of its final value."
    ),
}

__all__ = [
    "ALT_TEXT", "DIAGRAMS", "VANISHING_FILE", "REQUIRED_FUNCTIONS",
    "OPTIONAL_FUNCTIONS", "build", "draw_rnn_cell", "draw_rnn_unrolled",
    "draw_lstm_cell", "draw_backprop_through_time", "vanishing_gradient_data",
    "draw_vanishing_gradient", "plot_vanishing_gradient",
]
