"""Why LSTMs -- how much gradient reaches each step of a long sequence.

The loss depends on the LAST hidden state only, so the upstream gradient
``da`` is zero everywhere except at t = T_x - 1.  Walking the backward pass
from the end to the start gives dL/da<t> for every t, and its size shows
how much the prediction at the end can still teach the early steps.

Nothing here implements an RNN or an LSTM: the forward and backward
functions are passed in (the notebook build passes the teacher's reference
implementation), with the signatures used in the notebook.

Parameter scales (one setting for both networks, so the comparison is fair):

* inputs x ~ N(0, 1), initial state a0 = 0, batch of ``m`` sequences;
* every weight matrix W is drawn N(0, 1) and multiplied by
  ``weight_scale / sqrt(fan_in)`` (fan_in = n_a for Waa, n_x for Wax,
  n_a + n_x for the stacked LSTM matrices), biases 0 ...
* ... except the LSTM forget-gate bias ``bf = forget_bias`` (+2 by default,
  a common initialisation: Gamma_f starts near sigmoid(2) = 0.88, so the
  memory c is mostly carried over);
* the upstream gradient dL/da<T_x - 1> is drawn N(0, 1) and rescaled to
  norm 1, so every curve starts at 1.

With ``weight_scale = 1`` each RNN step multiplies the gradient by
Waa^T diag(1 - a^2), whose size is below 1 (the tanh saturates a little),
and the RNN curve falls by several orders of magnitude over 50 steps.  The
LSTM also passes its gradient back through the memory line, where each step
only multiplies it by Gamma_f, so it falls far more slowly.
"""
from pathlib import Path

import numpy as np

from . import _draw as d

from rnn_checks import (OPTIONAL_FUNCTIONS, REQUIRED_FUNCTIONS,  # noqa: F401
                        vanishing_gradient_data)


def _factor(ratio):
    """A ratio as mathtext: 3.5, or 2.6 x 10^9 when it is large or tiny."""
    if not np.isfinite(ratio) or ratio <= 0:
        return str(ratio)
    exponent = int(np.floor(np.log10(ratio)))
    if -2 <= exponent <= 2:
        return f"{ratio:.2g}"
    mantissa = ratio / 10.0 ** exponent
    return rf"${mantissa:.1f} \times 10^{{{exponent}}}$"


def draw_vanishing_gradient(data):
    """Log-scale plot of the two curves of ``vanishing_gradient_data``."""
    from matplotlib.figure import Figure

    t, rnn_norms, lstm_norms = (np.asarray(v, dtype=float) for v in data)
    T_x = len(t)
    fig = Figure(figsize=(d.FIG_WIDTH, 4.6))
    ax = fig.add_subplot()
    ax.semilogy(t, lstm_norms, "-", color=d.BLUE, lw=2.2, label="LSTM")
    ax.semilogy(t, rnn_norms, "-", color=d.RED, lw=2.2, label="basic RNN")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel(r"time step $t$ (the loss is computed at the last step, "
                  rf"$t = {T_x - 1}$)", fontsize=d.FS_NOTE)
    ax.set_ylabel(r"$\| \partial \mathcal{L} / \partial a^{\langle t \rangle} \|$"
                  "  (log scale)", fontsize=d.FS_NOTE)
    ax.set_title("Why LSTMs: how much gradient reaches each earlier step",
                 fontsize=d.FS_TITLE - 1)
    ax.grid(True, which="major", color="#dddddd", lw=0.8)
    ax.legend(loc="lower right", fontsize=d.FS_NOTE, frameon=False)
    ax.tick_params(labelsize=d.FS_NOTE - 1)
    # how much of the gradient at the last step is left when it reaches t = 0
    ax.text(0.03, 0.80, rf"$\|\partial \mathcal{{L}} / \partial a^{{\langle 0 \rangle}}\|"
            rf"\ /\ \|\partial \mathcal{{L}} / \partial a^{{\langle {T_x - 1} \rangle}}\|$ :",
            transform=ax.transAxes, fontsize=d.FS_NOTE, va="top", color=d.INK)
    for k, (name, norms, colour) in enumerate((("basic RNN", rnn_norms, d.RED),
                                               ("LSTM", lstm_norms, d.BLUE))):
        ax.text(0.05, 0.70 - 0.09 * k, f"{name}:  {_factor(norms[0] / norms[-1])}",
                transform=ax.transAxes, fontsize=d.FS_NOTE, va="top", color=colour)
    fig.tight_layout()
    return fig


def plot_vanishing_gradient(data, path):
    """Write the plot of ``data`` = (t, rnn_norms, lstm_norms) to ``path`` (PNG).

    returns the path written.  Rebuilding from the same data gives the same
    bytes.
    """
    with d.rc_context():
        return d.save(draw_vanishing_gradient(data), Path(path))
