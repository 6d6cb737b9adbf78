"""Small drawing toolkit shared by the diagrams.

Every diagram is drawn on a bare ``matplotlib.figure.Figure`` (pyplot is
never imported), so building the figures neither changes nor depends on the
backend of a running notebook kernel.

All diagrams use data coordinates with an equal aspect ratio: one unit on
the x axis is as long as one unit on the y axis, so circles stay round.
"""
from contextlib import contextmanager
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

# Width of every figure in inches.  At the notebook width (~800 px) one
# typographic point is then drawn ~1.4 px tall, so 11 pt text is ~15 px.
FIG_WIDTH = 8.0
# Pixels per inch of the written PNG files (8 in -> 1200 px: sharp when the
# browser shrinks it to the cell width, still a small file).
DPI = 150

# Font sizes, in points.
FS_LABEL = 14   # variables entering or leaving a diagram: a<t-1>, x<t> ...
FS_BOX = 12     # text inside boxes and nodes
FS_NOTE = 11    # explanatory notes and equations
FS_TITLE = 14

# Colours (colour-blind friendly palette, Okabe & Ito).
INK = "#222222"
GREY = "#777777"
CELL_FILL = "#f3f6fa"
CELL_EDGE = "#4a6a8a"
BOX_FILL = "#ffffff"
BLUE = "#0072b2"
ORANGE = "#e69f00"
GREEN = "#009e73"
RED = "#d55e00"
PURPLE = "#cc79a7"
SKY = "#56b4e9"

STYLE = {
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": FS_NOTE,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}


def new_canvas(xmax, ymax, width=FIG_WIDTH, ymin=0.0):
    """A figure whose single axes spans [0, xmax] x [ymin, ymax] with no frame.

    The height of the figure follows from the width so that the aspect
    ratio of the data units is exactly 1.
    """
    height = width * (ymax - ymin) / xmax
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax, center, width, height, text="", fc=BOX_FILL, ec=INK, lw=1.4,
        fontsize=FS_BOX, color=INK, rounding=0.12, zorder=3, **text_kw):
    """A rounded rectangle centred on ``center`` with optional centred text.

    returns a dict with the anchor points of the four sides:
    "left", "right", "top", "bottom" (each an (x, y) pair) and "center".
    """
    cx, cy = center
    patch = FancyBboxPatch((cx - width / 2, cy - height / 2), width, height,
                           boxstyle=f"round,pad=0,rounding_size={rounding}",
                           fc=fc, ec=ec, lw=lw, zorder=zorder)
    ax.add_patch(patch)
    if text:
        ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize,
                color=color, zorder=zorder + 1, **text_kw)
    return {
        "center": (cx, cy),
        "left": (cx - width / 2, cy),
        "right": (cx + width / 2, cy),
        "top": (cx, cy + height / 2),
        "bottom": (cx, cy - height / 2),
    }


def node(ax, center, text, radius=0.32, fc=BOX_FILL, ec=INK, lw=1.4,
         fontsize=FS_BOX + 2, zorder=3):
    """A small circle holding an operator such as + or x.

    returns the same anchor dict as ``box``.
    """
    cx, cy = center
    ax.add_patch(Circle(center, radius, fc=fc, ec=ec, lw=lw, zorder=zorder))
    ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize,
            color=INK, zorder=zorder + 1)
    return {
        "center": (cx, cy),
        "left": (cx - radius, cy),
        "right": (cx + radius, cy),
        "top": (cx, cy + radius),
        "bottom": (cx, cy - radius),
    }


def arrow(ax, start, end, color=INK, lw=1.6, style="-|>", ls="-",
          head=14, zorder=2, connection=None):
    """An arrow from ``start`` to ``end`` (the head is at ``end``).

    style      -- matplotlib arrow style; "-" draws a plain line
    ls         -- line style, e.g. "--" for dashed
    connection -- optional matplotlib connection style, e.g. "angle,angleA=0,angleB=90"
    """
    kw = {}
    if connection is not None:
        kw["connectionstyle"] = connection
    patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=head,
                            color=color, lw=lw, linestyle=ls, shrinkA=0,
                            shrinkB=0, zorder=zorder, capstyle="butt",
                            joinstyle="miter", **kw)
    ax.add_patch(patch)
    return patch


def polyline(ax, points, color=INK, lw=1.6, ls="-", zorder=2, head=True):
    """A path through ``points``; an arrow head on the last segment if ``head``."""
    xs = [p[0] for p in points[:-1]]
    ys = [p[1] for p in points[:-1]]
    ax.plot(xs, ys, color=color, lw=lw, ls=ls, zorder=zorder,
            solid_capstyle="butt", solid_joinstyle="miter")
    if head:
        arrow(ax, points[-2], points[-1], color=color, lw=lw, ls=ls, zorder=zorder)
    else:
        ax.plot([points[-2][0], points[-1][0]], [points[-2][1], points[-1][1]],
                color=color, lw=lw, ls=ls, zorder=zorder, solid_capstyle="butt")


def dot(ax, xy, color=INK, size=5, zorder=4):
    """A junction dot where a line splits in two."""
    ax.plot([xy[0]], [xy[1]], "o", color=color, ms=size, zorder=zorder)


def label(ax, xy, text, fontsize=FS_LABEL, color=INK, ha="center", va="center",
          zorder=5, **kw):
    """Free text, centred on ``xy`` unless told otherwise."""
    return ax.text(xy[0], xy[1], text, fontsize=fontsize, color=color, ha=ha,
                   va=va, zorder=zorder, **kw)


def save(fig, path):
    """Write ``fig`` as a PNG that is byte-identical from one build to the next.

    The dpi is fixed and the "Software" entry (which names the matplotlib
    version) is dropped; matplotlib writes no date into PNG files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path


@contextmanager
def rc_context():
    """Matplotlib's built-in defaults plus STYLE, restored on exit.

    Starting from the built-in defaults (not from the current rcParams) keeps
    the output the same whatever a matplotlibrc file or a notebook kernel
    has changed.
    """
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield
