"""The four diagrams of the notebook, each drawn by one function.

Each ``draw_*`` function returns a matplotlib ``Figure``; ``build`` writes all
of them as PNG files.  Symbols follow the notebook: a<t-1>, x<t>, the
forget gate Gamma_f, the update gate Gamma_i, the candidate c~<t>, the
output gate Gamma_o.
"""
from pathlib import Path

from . import _draw as d
from ._draw import (BLUE, CELL_EDGE, CELL_FILL, FS_BOX, FS_LABEL, FS_NOTE,
                    FS_TITLE, GREEN, GREY, INK, ORANGE, RED)

# mathtext for the symbols used again and again
A_PREV = r"$a^{\langle t-1 \rangle}$"
A_T = r"$a^{\langle t \rangle}$"
X_T = r"$x^{\langle t \rangle}$"
Y_T = r"$\hat{y}^{\langle t \rangle}$"
C_PREV = r"$c^{\langle t-1 \rangle}$"
C_T = r"$c^{\langle t \rangle}$"
C_TILDE = r"$\tilde{c}^{\langle t \rangle}$"


def _step(t):
    """mathtext superscript <t> for a step given as text, e.g. "1" or "T_x"."""
    return r"^{\langle " + t + r" \rangle}"


# ---------------------------------------------------------------------------
# (a) the RNN cell
# ---------------------------------------------------------------------------


def draw_rnn_cell():
    """One RNN cell: a<t-1> and x<t> in, a<t> and y_hat<t> out."""
    fig, ax = d.new_canvas(16, 10.2)
    y0 = 5.0  # height of the line a<t-1> -> a<t>
    # the cell itself
    d.box(ax, (7.7, 5.1), 10.2, 5.4, fc=CELL_FILL, ec=CELL_EDGE, lw=2,
          rounding=0.35, zorder=1)
    d.label(ax, (2.95, 7.4), "RNN cell", fontsize=FS_NOTE, color=CELL_EDGE,
            ha="left", fontweight="bold")

    waa = d.box(ax, (4.6, y0), 2.3, 0.95, r"$W_{aa}\,a^{\langle t-1 \rangle}$")
    wax = d.box(ax, (7.6, 3.25), 2.3, 0.95, r"$W_{ax}\,x^{\langle t \rangle}$")
    plus = d.node(ax, (7.6, y0), "+")
    tanh = d.box(ax, (9.75, y0), 1.4, 0.95, "tanh", fc="#fff4dc", ec=ORANGE)
    soft = d.box(ax, (10.4, 6.85), 4.2, 0.95,
                 r"softmax$(W_{ya}\,a^{\langle t \rangle} + b_y)$",
                 fc="#e6f1f8", ec=BLUE)

    # inputs
    d.label(ax, (0.85, y0), A_PREV)
    d.arrow(ax, (1.6, y0), waa["left"])
    d.label(ax, (7.6, 1.35), X_T)
    d.arrow(ax, (7.6, 1.8), wax["bottom"])
    d.label(ax, (6.55, 6.35), r"$b_a$", fontsize=FS_LABEL - 1)
    d.arrow(ax, (6.8, 6.1), (7.38, 5.23))

    # inside the cell
    d.arrow(ax, waa["right"], plus["left"])
    d.arrow(ax, wax["top"], plus["bottom"])
    d.arrow(ax, plus["right"], tanh["left"])

    # a<t>: to the right (next step) and up to the prediction
    j = (11.55, y0)
    d.polyline(ax, [tanh["right"], j], head=False)
    d.dot(ax, j)
    d.arrow(ax, j, (14.5, y0))
    d.label(ax, (15.2, y0), A_T)
    d.label(ax, (15.05, y0 - 0.45), "to step t+1", fontsize=FS_NOTE - 1,
            color=GREY, va="top")
    d.arrow(ax, j, (j[0], soft["bottom"][1]))
    d.arrow(ax, soft["top"], (10.4, 8.95))
    d.label(ax, (10.4, 9.55), Y_T)

    # the two equations of the cell, under the drawing
    d.label(ax, (8.0, 0.2),
            r"$a^{\langle t \rangle} = \tanh(W_{aa}\,a^{\langle t-1 \rangle}"
            r" + W_{ax}\,x^{\langle t \rangle} + b_a)$" "       "
            r"$\hat{y}^{\langle t \rangle} = \mathrm{softmax}(W_{ya}\,"
            r"a^{\langle t \rangle} + b_y)$",
            fontsize=FS_NOTE, va="bottom")
    return fig


# ---------------------------------------------------------------------------
# (b) the RNN unrolled over T_x steps
# ---------------------------------------------------------------------------


def draw_rnn_unrolled():
    """The same cell applied at every step, the hidden state passed along."""
    fig, ax = d.new_canvas(16.6, 8.6)
    cells_x = [2.75, 5.85, 8.95, 13.85]   # step 0, 1, 2 and T_x - 1, as in the code
    steps = ["0", "1", "2", "T_x-1"]
    y_cell = 4.3
    w, h = 1.9, 1.6
    dots_x = 11.4   # "..." stands for the steps between 2 and T_x - 1

    boxes = []
    for cx in cells_x:
        boxes.append(d.box(ax, (cx, y_cell), w, h, "RNN\ncell", fc=CELL_FILL,
                           ec=CELL_EDGE, lw=2, rounding=0.2, fontsize=FS_BOX,
                           linespacing=1.1))

    for b, t in zip(boxes, steps):
        cx = b["center"][0]
        d.label(ax, (cx, 0.95), r"$x" + _step(t) + "$")
        d.arrow(ax, (cx, 1.45), b["bottom"])
        d.arrow(ax, b["top"], (cx, 6.7))
        d.label(ax, (cx, 7.3), r"$\hat{y}" + _step(t) + "$")

    # hidden state carried from left to right
    lab = FS_LABEL - 1
    d.label(ax, (0.55, y_cell), "a0", family="DejaVu Sans Mono")
    d.arrow(ax, (1.1, y_cell), boxes[0]["left"])
    for left, right, t in zip(boxes[:2], boxes[1:3], ["0", "1"]):
        d.arrow(ax, left["right"], right["left"])
        mid = (left["right"][0] + right["left"][0]) / 2
        d.label(ax, (mid, y_cell + 0.45), r"$a" + _step(t) + "$", fontsize=lab)
    d.arrow(ax, boxes[2]["right"], (dots_x - 0.45, y_cell))
    d.label(ax, ((boxes[2]["right"][0] + dots_x - 0.45) / 2, y_cell + 0.45),
            r"$a^{\langle 2 \rangle}$", fontsize=lab)
    d.label(ax, (dots_x, y_cell + 0.05), r"$\cdots$", fontsize=FS_LABEL + 4)
    d.arrow(ax, (dots_x + 0.45, y_cell), boxes[3]["left"])
    d.arrow(ax, boxes[3]["right"], (16.1, y_cell))
    d.label(ax, ((boxes[3]["right"][0] + 16.1) / 2, y_cell + 0.45), r"$a^{\langle T_x-1 \rangle}$",
            fontsize=lab)

    # one set of parameters, shared by every step
    d.label(ax, (8.3, 8.2),
            r"the same cell, with the same $W_{aa}, W_{ax}, W_{ya}, b_a, b_y$,"
            " is used at every step",
            fontsize=FS_NOTE, color=CELL_EDGE)
    d.label(ax, (8.3, 0.1), "time  \u2192", fontsize=FS_NOTE, color=GREY,
            va="bottom")
    return fig


# ---------------------------------------------------------------------------
# (c) the LSTM cell
# ---------------------------------------------------------------------------


# one colour per gate, used for its box, its arrow and its equation
GATE_COLOURS = {"f": RED, "i": GREEN, "c": BLUE, "o": ORANGE}
GATE_FILLS = {"f": "#fbe6da", "i": "#dcf1ea", "c": "#dcebf5", "o": "#fbefd6"}
STACKED = r"[a^{\langle t-1 \rangle};\, x^{\langle t \rangle}]"


def _hop(ax, x, y_low, y_high, y_cross, color=INK, gap=0.18):
    """A vertical arrow from y_low to y_high that jumps over a horizontal line.

    The line is drawn in two pieces with a gap around ``y_cross`` so that the
    crossing reads as "passes behind", not as a junction.
    """
    d.polyline(ax, [(x, y_low), (x, y_cross - gap)], color=color, head=False)
    d.arrow(ax, (x, y_cross + gap), (x, y_high), color=color)


def draw_lstm_cell():
    """One LSTM cell with its forget, update and output gates."""
    fig, ax = d.new_canvas(17.6, 13.2, ymin=-0.45)
    y_c = 9.8      # the memory line c<t-1> -> c<t>
    y_bus = 4.75   # the line carrying [a<t-1>; x<t>] to the gates
    y_gate = 6.1   # centre of the gate boxes
    gw, gh = 1.15, 0.8

    d.box(ax, (8.65, 7.0), 13.3, 6.9, fc=CELL_FILL, ec=CELL_EDGE, lw=2,
          rounding=0.35, zorder=1)
    d.label(ax, (2.0, 10.55), "LSTM cell", fontsize=FS_NOTE, color=CELL_EDGE,
            ha="left", va="bottom", fontweight="bold")

    # ---- inputs and the bus feeding the gates
    x_join = 2.9
    d.label(ax, (0.85, y_bus), A_PREV)
    d.arrow(ax, (1.6, y_bus), (2.45, y_bus))
    d.polyline(ax, [(2.45, y_bus), (x_join, y_bus)], head=False)
    d.label(ax, (x_join, 2.85), X_T)
    d.arrow(ax, (x_join, 3.3), (x_join, 4.1))
    d.polyline(ax, [(x_join, 4.1), (x_join, y_bus)], head=False)
    d.dot(ax, (x_join, y_bus))
    gates_x = {"f": 4.3, "i": 6.5, "c": 8.7, "o": 10.9}
    d.polyline(ax, [(x_join, y_bus), (gates_x["o"], y_bus)], head=False)
    d.label(ax, (7.6, y_bus - 0.22), "$" + STACKED + "$", fontsize=FS_NOTE,
            color=GREY, va="top")
    gate = {}
    for g, gx in gates_x.items():
        text = "tanh" if g == "c" else r"$\sigma$"
        gate[g] = d.box(ax, (gx, y_gate), gw, gh, text, fc=GATE_FILLS[g],
                        ec=GATE_COLOURS[g], fontsize=FS_BOX + (0 if g == "c" else 2))
        if g != "o":
            d.dot(ax, (gx, y_bus))
        d.arrow(ax, (gx, y_bus), gate[g]["bottom"])

    # ---- the memory line
    d.label(ax, (0.85, y_c), C_PREV)
    forget = d.node(ax, (gates_x["f"], y_c), r"$\times$")
    add = d.node(ax, (7.6, y_c), "+")
    d.arrow(ax, (1.6, y_c), forget["left"])
    d.arrow(ax, forget["right"], add["left"])
    x_branch = 12.75
    d.polyline(ax, [add["right"], (x_branch, y_c)], head=False)
    d.dot(ax, (x_branch, y_c))
    d.arrow(ax, (x_branch, y_c), (16.0, y_c))
    d.label(ax, (16.75, y_c), C_T)

    # forget gate -> x on the memory line
    d.arrow(ax, gate["f"]["top"], forget["bottom"], color=RED)
    d.label(ax, (gates_x["f"] + 0.25, 7.85), r"$\Gamma_f$", color=RED, ha="left")

    # update gate and candidate -> x -> + on the memory line
    y_mul = 8.1
    mul = d.node(ax, (7.6, y_mul), r"$\times$")
    d.polyline(ax, [gate["i"]["top"], (gates_x["i"], y_mul), mul["left"]],
               color=GREEN)
    d.polyline(ax, [gate["c"]["top"], (gates_x["c"], y_mul), mul["right"]],
               color=BLUE)
    d.arrow(ax, mul["top"], add["bottom"])
    d.label(ax, (gates_x["i"] - 0.22, 7.2), r"$\Gamma_i$", color=GREEN, ha="right")
    d.label(ax, (gates_x["c"] + 0.22, 7.2), C_TILDE, color=BLUE, ha="left")

    # output: a<t> = Gamma_o * tanh(c<t>)
    tanh_c = d.box(ax, (x_branch, 8.1), 1.15, 0.7, "tanh", fc="#ffffff")
    out = d.node(ax, (x_branch, y_gate), r"$\times$")
    d.arrow(ax, (x_branch, y_c), tanh_c["top"])
    d.arrow(ax, tanh_c["bottom"], out["top"])
    d.arrow(ax, gate["o"]["right"], out["left"], color=ORANGE)
    d.label(ax, ((gate["o"]["right"][0] + out["left"][0]) / 2, y_gate + 0.2),
            r"$\Gamma_o$", color=ORANGE, va="bottom")

    # a<t>: to the next step, and up to the prediction (over the memory line)
    x_y = 14.35
    d.polyline(ax, [out["bottom"], (x_branch, y_bus), (x_y, y_bus)], head=False)
    d.dot(ax, (x_y, y_bus))
    d.arrow(ax, (x_y, y_bus), (16.0, y_bus))
    d.label(ax, (16.75, y_bus), A_T)
    soft = d.box(ax, (x_y, 11.45), 3.9, 0.8,
                 r"softmax$(W_y\,a^{\langle t \rangle} + b_y)$",
                 fc="#e6f1f8", ec=BLUE, fontsize=FS_BOX - 1)
    _hop(ax, x_y, y_bus, soft["bottom"][1], y_c)
    d.arrow(ax, soft["top"], (x_y, 12.35))
    d.label(ax, (x_y, 12.8), Y_T)

    # ---- the equations, one colour per gate
    rows = [
        ("forget gate", r"$\Gamma_f = \sigma(W_f" + STACKED + r" + b_f)$", RED),
        ("update gate", r"$\Gamma_i = \sigma(W_i" + STACKED + r" + b_i)$", GREEN),
        ("candidate", r"$\tilde{c}^{\langle t \rangle} = \tanh(W_c" + STACKED
         + r" + b_c)$", BLUE),
        ("output gate", r"$\Gamma_o = \sigma(W_o" + STACKED + r" + b_o)$", ORANGE),
    ]
    right = [
        r"$c^{\langle t \rangle} = \Gamma_f * c^{\langle t-1 \rangle}"
        r" + \Gamma_i * \tilde{c}^{\langle t \rangle}$",
        r"$a^{\langle t \rangle} = \Gamma_o * \tanh(c^{\langle t \rangle})$",
        r"$\hat{y}^{\langle t \rangle} = \mathrm{softmax}(W_y\,"
        r"a^{\langle t \rangle} + b_y)$",
        r"$*$ : element-wise product",
    ]
    for k, (name, eq, colour) in enumerate(rows):
        y = 1.85 - 0.62 * k
        d.label(ax, (0.3, y), name, fontsize=FS_NOTE, color=colour, ha="left")
        d.label(ax, (2.55, y), eq, fontsize=FS_NOTE, color=colour, ha="left")
    for k, eq in enumerate(right):
        y = 1.85 - 0.62 * k
        d.label(ax, (10.6, y), eq, fontsize=FS_NOTE,
                color=GREY if k == 3 else INK, ha="left")
    return fig


# ---------------------------------------------------------------------------
# (d) the backward pass through time
# ---------------------------------------------------------------------------


def draw_backprop_through_time():
    """Where each gradient comes from and where it goes, step by step."""
    from matplotlib.lines import Line2D

    fig, ax = d.new_canvas(17.6, 10.9, ymin=-0.9)
    y_cell = 5.6
    w, h = 1.7, 1.6
    y_da, y_dc = y_cell + 0.4, y_cell - 0.4
    cells = {"0": 2.6, "t-1": 6.5, "t": 10.9, "T_x-1": 14.9}  # numbered as in the code
    dots = [4.55, 12.9]
    DA, DC, DW, DX = RED, BLUE, GREEN, ORANGE
    mono = {"family": "DejaVu Sans Mono"}

    d.label(ax, (8.8, 10.35),
            "Backward pass: the gradients travel from the last step back to the first",
            fontsize=FS_TITLE - 1)
    d.label(ax, (8.8, 9.65),
            r"step $t$ receives $da^{\langle t \rangle} + \mathtt{da\_prevt}$"
            r" (and $\mathtt{dc\_prevt}$), then sends new $\mathtt{da\_prevt}$,"
            r" $\mathtt{dc\_prevt}$ to step $t-1$",
            fontsize=FS_NOTE, color=GREY)

    boxes = {}
    for t, cx in cells.items():
        boxes[t] = d.box(ax, (cx, y_cell), w, h, "step\n$" + t + "$",
                         fc=CELL_FILL, ec=CELL_EDGE, lw=2, rounding=0.2,
                         linespacing=1.25)

    # from the loss of each step, down into the cell
    for t, cx in cells.items():
        d.label(ax, (cx, 8.75), r"$\mathcal{L}" + _step(t) + "$")
        d.arrow(ax, (cx, 8.3), boxes[t]["top"], color=DA)
        d.label(ax, (cx + 0.12, 7.35), r"$da" + _step(t) + "$", color=DA,
                ha="left", fontsize=FS_LABEL - 1)

    # carried from step t to step t-1 (right to left)
    def carry(x_from, x_to):
        d.arrow(ax, (x_from, y_da), (x_to, y_da), color=DA)
        d.arrow(ax, (x_from, y_dc), (x_to, y_dc), color=DC, ls="--")

    right = {t: b["right"][0] for t, b in boxes.items()}
    left = {t: b["left"][0] for t, b in boxes.items()}
    carry(dots[0] - 0.4, right["0"])
    carry(left["t-1"], dots[0] + 0.4)
    carry(left["t"], right["t-1"])
    carry(dots[1] - 0.4, right["t"])
    carry(left["T_x-1"], dots[1] + 0.4)
    for x in dots:
        d.label(ax, (x, y_cell), r"$\cdots$", fontsize=FS_LABEL + 4)
    mid = (left["t"] + right["t-1"]) / 2
    d.label(ax, (mid, y_da + 0.12), "da_prevt", color=DA, va="bottom",
            fontsize=FS_NOTE, **mono)
    d.label(ax, (mid, y_dc - 0.12), "dc_prevt", color=DC, va="top",
            fontsize=FS_NOTE, **mono)
    # start values on the right, result on the left
    x_end = 16.95
    d.arrow(ax, (x_end, y_da), (right["T_x-1"], y_da), color=DA)
    d.arrow(ax, (x_end, y_dc), (right["T_x-1"], y_dc), color=DC, ls="--")
    d.label(ax, (x_end + 0.12, y_da), "0", color=DA, ha="left", fontsize=FS_NOTE)
    d.label(ax, (x_end + 0.12, y_dc), "0", color=DC, ha="left", fontsize=FS_NOTE)
    d.arrow(ax, (left["0"], y_da), (1.05, y_da), color=DA)
    d.label(ax, (0.6, y_da), "da0", color=DA, fontsize=FS_NOTE, **mono)

    # out of each step: dx<t> down, its share of dW into the running sum
    y_bar = 1.25
    bar = d.box(ax, (8.8, y_bar), 15.6, 0.95, "", fc="#e3f4ee", ec=DW)
    d.label(ax, (8.8, y_bar),
            r"parameter gradients, summed over the steps:  $dW$ += (share of step $t$)",
            fontsize=FS_NOTE, color=INK)
    for t, b in boxes.items():
        cx = b["center"][0]
        d.arrow(ax, (cx - 0.45, b["bottom"][1]), (cx - 0.45, 3.85), color=DX)
        d.label(ax, (cx - 0.45, 3.45), r"$dx" + _step(t) + "$", color=DX,
                fontsize=FS_LABEL - 1)
        d.arrow(ax, (cx + 0.45, b["bottom"][1]), (cx + 0.45, bar["top"][1]),
                color=DW, ls="--")

    handles = [
        Line2D([], [], color=DA, lw=1.8, label=r"$da$: gradient of the hidden state $a$"),
        Line2D([], [], color=DC, lw=1.8, ls="--",
               label=r"$dc$: gradient of the memory $c$ (LSTM only)"),
        Line2D([], [], color=DX, lw=1.8, label=r"$dx$: gradient of the input"),
        Line2D([], [], color=DW, lw=1.8, ls="--",
               label=r"$dW$: RNN $dW_{ax}, dW_{aa}, db_a$ / LSTM $dW_f, db_f, \ldots, db_o$"),
    ]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0),
              ncol=2, frameon=False, fontsize=FS_NOTE - 1, handlelength=2.2,
              columnspacing=1.5)
    return fig


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------

DIAGRAMS = {
    "rnn_cell.png": draw_rnn_cell,
    "rnn_unrolled.png": draw_rnn_unrolled,
    "lstm_cell.png": draw_lstm_cell,
    "backprop_through_time.png": draw_backprop_through_time,
}


def build(out_dir):
    """Write the four diagram PNGs into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in DIAGRAMS.items():
        with d.rc_context():
            fig = draw()
            written.append(d.save(fig, out_dir / name))
    return written
