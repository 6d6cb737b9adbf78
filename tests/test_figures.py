"""Tests of the figure scripts in notebooks/figures.

Run from the repository root:  .venv/bin/python -m pytest tests/test_figures.py -q

The small RNN/LSTM implementation at the top of this file is TEST-ONLY: it
stands in for the teacher notebook's reference functions so that the
vanishing-gradient helpers can be exercised without running a notebook.
It is not shipped to students and nothing outside this file imports it.
"""
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rnn_utils import sigmoid, softmax  # noqa: E402

import notebooks.figures as figures  # noqa: E402

DIAGRAM_FILES = ("rnn_cell.png", "rnn_unrolled.png", "lstm_cell.png",
                 "backprop_through_time.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------
# TEST-ONLY reference implementation (forward and backward, RNN and LSTM)
# ---------------------------------------------------------------------------


def _rnn_cell_forward(xt, a_prev, p):
    a_next = np.tanh(p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"])
    yt = softmax(p["Wya"] @ a_next + p["by"])
    return a_next, yt, (a_next, a_prev, xt, p)


def _rnn_forward(x, a0, p):
    n_x, m, T_x = x.shape
    n_a, n_y = p["Waa"].shape[0], p["Wya"].shape[0]
    a = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    steps = []
    state = a0
    for t in range(T_x):
        state, y[:, :, t], cache = _rnn_cell_forward(x[:, :, t], state, p)
        a[:, :, t] = state
        steps.append(cache)
    return a, y, (steps, x)


def _rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, p = cache
    dz = da_next * (1.0 - a_next ** 2)
    return {
        "dxt": p["Wax"].T @ dz,
        "da_prev": p["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }


def _rnn_backward(da, caches):
    steps, x = caches
    n_x, m, T_x = x.shape
    p = steps[0][3]
    dx = np.zeros_like(x)
    out = {"dWax": np.zeros_like(p["Wax"]), "dWaa": np.zeros_like(p["Waa"]),
           "dba": np.zeros_like(p["ba"])}
    carried = np.zeros(da.shape[:2])
    for t in reversed(range(T_x)):
        g = _rnn_cell_backward(da[:, :, t] + carried, steps[t])
        dx[:, :, t] = g["dxt"]
        carried = g["da_prev"]
        for k in out:
            out[k] += g[k]
    out["dx"] = dx
    out["da0"] = carried
    return out


def _lstm_cell_forward(xt, a_prev, c_prev, p):
    stacked = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(p["Wf"] @ stacked + p["bf"])
    it = sigmoid(p["Wi"] @ stacked + p["bi"])
    cct = np.tanh(p["Wc"] @ stacked + p["bc"])
    ot = sigmoid(p["Wo"] @ stacked + p["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * np.tanh(c_next)
    yt = softmax(p["Wy"] @ a_next + p["by"])
    return a_next, c_next, yt, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p)


def _lstm_forward(x, a0, p):
    n_x, m, T_x = x.shape
    n_a, n_y = p["Wy"].shape[1], p["Wy"].shape[0]
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    steps = []
    a_t, c_t = a0, np.zeros_like(a0)
    for t in range(T_x):
        a_t, c_t, y[:, :, t], cache = _lstm_cell_forward(x[:, :, t], a_t, c_t, p)
        a[:, :, t], c[:, :, t] = a_t, c_t
        steps.append(cache)
    return a, y, c, (steps, x)


def _lstm_cell_backward(da_next, dc_next, cache):
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_next.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1.0 - tanh_c ** 2)
    dzo = da_next * tanh_c * ot * (1.0 - ot)
    dzc = dc * it * (1.0 - cct ** 2)
    dzi = dc * cct * it * (1.0 - it)
    dzf = dc * c_prev * ft * (1.0 - ft)
    stacked = np.concatenate([a_prev, xt], axis=0)
    out = {}
    d_stacked = 0.0
    for gate, dz in (("f", dzf), ("i", dzi), ("c", dzc), ("o", dzo)):
        out["dW" + gate] = dz @ stacked.T
        out["db" + gate] = dz.sum(axis=1, keepdims=True)
        d_stacked = d_stacked + p["W" + gate].T @ dz
    out["da_prev"] = d_stacked[:n_a]
    out["dxt"] = d_stacked[n_a:]
    out["dc_prev"] = dc * ft
    return out


def _lstm_backward(da, caches):
    steps, x = caches
    n_x, m, T_x = x.shape
    p = steps[0][9]
    names = [k + g for g in "fico" for k in ("dW", "db")]
    out = {k: np.zeros_like(p[k[1:]]) for k in names}
    dx = np.zeros_like(x)
    da_carried = np.zeros(da.shape[:2])
    dc_carried = np.zeros(da.shape[:2])
    for t in reversed(range(T_x)):
        g = _lstm_cell_backward(da[:, :, t] + da_carried, dc_carried, steps[t])
        dx[:, :, t] = g["dxt"]
        da_carried, dc_carried = g["da_prev"], g["dc_prev"]
        for k in names:
            out[k] += g[k]
    out["dx"] = dx
    out["da0"] = da_carried
    return out


REFERENCE = {
    "rnn_forward": _rnn_forward,
    "rnn_cell_backward": _rnn_cell_backward,
    "rnn_backward": _rnn_backward,
    "lstm_forward": _lstm_forward,
    "lstm_cell_backward": _lstm_cell_backward,
    "lstm_backward": _lstm_backward,
}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _png_chunks(data):
    """(type, payload) of every chunk; fails on a bad signature or CRC."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        payload = data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append((kind, payload))
        i += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    return chunks


def _build_with_cli(out_dir):
    import subprocess
    result = subprocess.run([sys.executable, "-m", "notebooks.figures", str(out_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out_dir


@pytest.fixture(scope="module")
def cli_build(tmp_path_factory):
    """The four diagrams, built by the command-line entry point."""
    return _build_with_cli(tmp_path_factory.mktemp("cli_build"))


@pytest.fixture(scope="module")
def vanishing():
    """The vanishing-gradient data with the default settings."""
    return figures.vanishing_gradient_data(**REFERENCE)


# ---------------------------------------------------------------------------
# the diagrams
# ---------------------------------------------------------------------------


def test_entry_point_writes_the_four_diagrams(cli_build):
    """Does `python -m notebooks.figures OUT_DIR` write exactly the four diagrams?"""
    assert sorted(p.name for p in cli_build.iterdir()) == sorted(DIAGRAM_FILES)


def test_two_builds_are_byte_identical(cli_build, tmp_path):
    """Do two builds (another process, then in-process) give byte-identical PNGs?"""
    second = _build_with_cli(tmp_path / "second")
    third = tmp_path / "third"
    figures.build(third)
    for name in DIAGRAM_FILES:
        first = (cli_build / name).read_bytes()
        assert (second / name).read_bytes() == first, f"{name} differs between two CLI builds"
        assert (third / name).read_bytes() == first, f"{name} differs in an in-process build"


def test_build_ignores_the_callers_matplotlib_settings(cli_build, tmp_path):
    """Does a changed rcParams in the caller (e.g. a notebook kernel) leave the files unchanged?"""
    import matplotlib
    with matplotlib.rc_context({"font.size": 25, "lines.linewidth": 7,
                                "savefig.dpi": 33, "figure.facecolor": "red"}):
        figures.build(tmp_path)
        assert matplotlib.rcParams["font.size"] == 25, "the build leaked its own style"
    for name in DIAGRAM_FILES:
        assert (tmp_path / name).read_bytes() == (cli_build / name).read_bytes(), name


@pytest.mark.parametrize("name", DIAGRAM_FILES)
def test_diagram_is_a_sound_png(cli_build, name):
    """Is each diagram a valid PNG of notebook width, reasonable size, without metadata?"""
    data = (cli_build / name).read_bytes()
    chunks = _png_chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert width == 1200, "8 in at 150 dpi"
    assert 400 <= height <= 1100, f"unexpected height {height}"
    assert 10_000 <= len(data) <= 1_000_000, f"{len(data)} bytes"
    kinds = {kind for kind, _ in chunks}
    assert not kinds & {b"tEXt", b"iTXt", b"zTXt", b"tIME"}, \
        f"metadata chunks {kinds & {b'tEXt', b'iTXt', b'zTXt', b'tIME'}} make builds differ"


@pytest.mark.parametrize("name", DIAGRAM_FILES)
def test_diagram_is_not_blank(cli_build, name):
    """Does each diagram decode and actually contain a drawing (ink and colour)?"""
    import matplotlib.image as mpimg
    pixels = mpimg.imread(cli_build / name)
    rgb = pixels[..., :3]
    ink = (rgb.mean(axis=2) < 0.5).mean()
    assert 0.005 < ink < 0.3, f"fraction of dark pixels {ink:.4f}"
    # the border is white: nothing is cut off at the edges of the canvas
    border = np.concatenate([rgb[:3].reshape(-1, 3), rgb[-3:].reshape(-1, 3),
                             rgb[:, :3].reshape(-1, 3), rgb[:, -3:].reshape(-1, 3)])
    assert border.min() > 0.9, "something is drawn on the very edge of the image"


def test_alt_text_covers_every_figure():
    """Does ALT_TEXT describe every diagram and the vanishing-gradient plot?"""
    expected = set(DIAGRAM_FILES) | {figures.VANISHING_FILE}
    assert set(figures.ALT_TEXT) == expected
    for name, text in figures.ALT_TEXT.items():
        assert isinstance(text, str) and len(text) > 80, name
    assert "update gate" in figures.ALT_TEXT["lstm_cell.png"]
    assert "da_prevt" in figures.ALT_TEXT["backprop_through_time.png"]


# ---------------------------------------------------------------------------
# the test-only reference itself
# ---------------------------------------------------------------------------


def test_reference_backward_matches_numerical_gradients():
    """Is the test-only reference right (backward vs. centred differences)?"""
    from rnn_checks import numerical_gradient
    from rnn_utils import relative_error
    rng = np.random.default_rng(3)
    n_x, n_a, n_y, m, T_x = 3, 4, 2, 2, 5
    x = rng.standard_normal((n_x, m, T_x))
    a0 = rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, T_x))

    p = {"Waa": rng.standard_normal((n_a, n_a)), "Wax": rng.standard_normal((n_a, n_x)),
         "Wya": rng.standard_normal((n_y, n_a)), "ba": rng.standard_normal((n_a, 1)),
         "by": rng.standard_normal((n_y, 1))}
    g = _rnn_backward(da, _rnn_forward(x, a0, p)[2])
    assert relative_error(g["dx"], numerical_gradient(lambda v: _rnn_forward(v, a0, p)[0], x, da)) < 1e-6
    assert relative_error(g["da0"], numerical_gradient(lambda v: _rnn_forward(x, v, p)[0], a0, da)) < 1e-6
    assert relative_error(g["dWaa"], numerical_gradient(
        lambda v: _rnn_forward(x, a0, {**p, "Waa": v})[0], p["Waa"], da)) < 1e-6

    q = {}
    for gate in "fico":
        q["W" + gate] = rng.standard_normal((n_a, n_a + n_x))
        q["b" + gate] = rng.standard_normal((n_a, 1))
    q["Wy"], q["by"] = rng.standard_normal((n_y, n_a)), rng.standard_normal((n_y, 1))
    g = _lstm_backward(da, _lstm_forward(x, a0, q)[3])
    assert relative_error(g["dx"], numerical_gradient(lambda v: _lstm_forward(v, a0, q)[0], x, da)) < 1e-6
    assert relative_error(g["da0"], numerical_gradient(lambda v: _lstm_forward(x, v, q)[0], a0, da)) < 1e-6
    for name in ("Wf", "Wi", "Wc", "Wo", "bf"):
        assert relative_error(g["d" + name], numerical_gradient(
            lambda v: _lstm_forward(x, a0, {**q, name: v})[0], q[name], da)) < 1e-6, name


# ---------------------------------------------------------------------------
# the vanishing-gradient data and plot
# ---------------------------------------------------------------------------


def test_vanishing_data_are_plain_arrays(vanishing):
    """Does vanishing_gradient_data return three float arrays of length T_x, normalised at the end?"""
    t, rnn_norms, lstm_norms = vanishing
    for arr in (t, rnn_norms, lstm_norms):
        assert isinstance(arr, np.ndarray) and arr.shape == (50,) and arr.dtype == float
        assert np.all(np.isfinite(arr))
    assert np.array_equal(t, np.arange(50))
    assert rnn_norms[-1] == pytest.approx(1.0) and lstm_norms[-1] == pytest.approx(1.0)
    short = figures.vanishing_gradient_data(**REFERENCE, T_x=7)
    assert all(len(v) == 7 for v in short)


# Measured with the defaults (T_x=50, n_x=8, n_a=64, m=32, weight_scale=1,
# forget_bias=2): seed 0 gives an RNN ratio norm[T_x-1]/norm[0] of 2.6e9 and
# an LSTM ratio of 3.5.  Over seeds 0..39 the RNN ratio stays within
# [1.5e8, 4.6e10], the LSTM ratio within [1.2, 4.5], every LSTM norm above
# 0.075, and over the first half of the sequence the LSTM norm is at least
# 2e3 times the RNN norm.  The thresholds below leave a wide margin.
SEEDS = (0, 1, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_rnn_gradient_vanishes(seed):
    """Does the RNN gradient reaching t=0 shrink by far more than 1e3 (here >= 1e6) over 50 steps?"""
    _, rnn_norms, _ = figures.vanishing_gradient_data(**REFERENCE, seed=seed)
    assert rnn_norms[-1] / rnn_norms[0] >= 1e6
    assert np.all(np.diff(rnn_norms) > 0), "the RNN gradient should shrink at every step back"


@pytest.mark.parametrize("seed", SEEDS)
def test_lstm_gradient_survives(seed):
    """Does the LSTM gradient reaching t=0 stay within a factor 20 of the last step's?"""
    _, _, lstm_norms = figures.vanishing_gradient_data(**REFERENCE, seed=seed)
    assert lstm_norms[-1] / lstm_norms[0] <= 20
    assert lstm_norms.min() >= 0.02
    assert lstm_norms.max() <= 1.0 + 1e-12, "no exploding gradient either"


@pytest.mark.parametrize("seed", SEEDS)
def test_lstm_and_rnn_are_far_apart(seed):
    """Over the first half of the sequence, does the LSTM carry >= 100x more gradient than the RNN?"""
    _, rnn_norms, lstm_norms = figures.vanishing_gradient_data(**REFERENCE, seed=seed)
    half = len(rnn_norms) // 2
    assert np.all(lstm_norms[:half] >= 100 * rnn_norms[:half])
    rnn_ratio = rnn_norms[-1] / rnn_norms[0]
    lstm_ratio = lstm_norms[-1] / lstm_norms[0]
    assert rnn_ratio >= 1e5 * lstm_ratio


def test_forget_bias_matters():
    """Does a small forget-gate bias make the LSTM gradient fade too (so bf is what keeps it alive)?"""
    _, _, weak = figures.vanishing_gradient_data(**REFERENCE, forget_bias=-2.0)
    _, _, strong = figures.vanishing_gradient_data(**REFERENCE, forget_bias=2.0)
    assert weak[-1] / weak[0] > 100 * (strong[-1] / strong[0])


def test_step_walk_agrees_with_whole_sequence_backward():
    """Does the step-by-step walk agree with rnn_backward / lstm_backward on da0, and catch a mismatch?"""
    # REFERENCE holds rnn_backward and lstm_backward, so the check runs here
    assert "rnn_backward" in REFERENCE and "lstm_backward" in REFERENCE
    figures.vanishing_gradient_data(**REFERENCE)
    required = {k: REFERENCE[k] for k in figures.REQUIRED_FUNCTIONS}
    figures.vanishing_gradient_data(**required)  # the check is optional

    def broken_backward(da, caches):
        out = _lstm_backward(da, caches)
        out["da0"] = 2 * out["da0"]
        return out

    with pytest.raises(ValueError):
        figures.vanishing_gradient_data(**{**REFERENCE, "lstm_backward": broken_backward})


def test_vanishing_data_leave_global_random_state_alone():
    """Does vanishing_gradient_data neither read nor change numpy's global random state?"""
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = figures.vanishing_gradient_data(**REFERENCE, T_x=10)
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(999)
    second = figures.vanishing_gradient_data(**REFERENCE, T_x=10)
    for u, v in zip(first, second):
        assert np.array_equal(u, v)


def test_vanishing_plot_is_a_deterministic_png(vanishing, tmp_path):
    """Does plot_vanishing_gradient write a valid PNG, identical when written twice?"""
    a = figures.plot_vanishing_gradient(vanishing, tmp_path / "a.png")
    b = figures.plot_vanishing_gradient(vanishing, tmp_path / "b.png")
    data = Path(a).read_bytes()
    assert data == Path(b).read_bytes()
    chunks = _png_chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert width == 1200 and 500 <= height <= 900
    assert not {kind for kind, _ in chunks} & {b"tEXt", b"iTXt", b"zTXt", b"tIME"}
    assert 10_000 <= len(data) <= 1_000_000


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_diagrams_number_the_steps_as_the_code_does():
    """Do the unrolled RNN and the backward pass count steps t = 0 .. T_x-1, as the loops do,
    with the initial state named a0 as in the code?"""
    from notebooks.figures import diagrams
    for draw in (diagrams.draw_rnn_unrolled, diagrams.draw_backprop_through_time):
        texts = " ".join(_texts(draw()))
        assert r"\langle 0 \rangle" in texts and r"\langle T_x-1 \rangle" in texts
        assert r"\langle T_x \rangle" not in texts
    unrolled = _texts(diagrams.draw_rnn_unrolled())
    assert "a0" in unrolled and r"$a^{\langle 0 \rangle}$" in unrolled
    assert r"$x^{\langle 0 \rangle}$" in unrolled and r"$x^{\langle T_x-1 \rangle}$" in unrolled


def test_vanishing_ratio_is_step_zero_over_the_last_step_in_matching_colours(vanishing):
    """Does the figure print how much of the last step's gradient reaches step 0 (a number
    below 1 for the RNN), and does the notebook's own plot use the figure's colours?"""
    from notebooks.figures import _draw, vanishing as plot
    _, rnn_norms, lstm_norms = vanishing
    fig = plot.draw_vanishing_gradient(vanishing)
    texts = {t.get_text(): t.get_color() for ax in fig.axes for t in ax.texts}
    rnn = plot._factor(rnn_norms[0] / rnn_norms[-1])
    assert rnn_norms[0] / rnn_norms[-1] < 1e-5
    assert texts[f"basic RNN:  {rnn}"] == _draw.RED
    assert texts[f"LSTM:  {plot._factor(lstm_norms[0] / lstm_norms[-1])}"] == _draw.BLUE
    lines = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    assert lines == {"basic RNN": _draw.RED, "LSTM": _draw.BLUE}
    notebook = (ROOT / "notebooks" / "rnn_step_by_step.py").read_text()
    assert f'plt.semilogy(t, rnn_norms, color="{_draw.RED}", label="basic RNN")' in notebook
    assert f'plt.semilogy(t, lstm_norms, color="{_draw.BLUE}", label="LSTM")' in notebook
    assert "rnn_norms[0] / rnn_norms[-1]" in notebook and "rnn_norms[-1] / rnn_norms[0]" not in notebook
