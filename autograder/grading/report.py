"""Turn the batch grader's results into files people read.

``write_outputs(results, out_dir)`` produces, inside ``out_dir``::

    results.json              the results dict, verbatim (indent 2, sorted keys)
    grades.csv                one row per student, one column per function
    feedback/<student>.html   one self-contained page per student
    report/index.html         class overview for the instructor
    report/score_distribution.png
    report/pass_rate.png
    report/diagnoses.png

Every file is written atomically: the bytes go to a temporary file in the
destination directory, which then replaces the destination with
``os.replace``.  A reader never sees a half-written file, and a crash leaves
the previous version in place.

Student ids, messages and error strings come from student work and are
treated as untrusted: all HTML goes through a Jinja2 environment with
autoescaping switched on, and feedback file names are derived from student
ids by :func:`feedback_filename`, which cannot produce a path outside
``feedback/``.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any, Iterable

# jinja2 and matplotlib are imported where they are used (_env, the plots): a batch
# pays for them only when it writes the report, never while it grades.

from rnn_utils import FUNCTIONS as _FUNCTIONS

from . import mistakes, untrusted

__all__ = [
    "FUNCTIONS",
    "FEEDBACK_FIELDS",
    "diagnosis_info",
    "PLOT_FILES",
    "feedback_filename",
    "write_outputs",
]

FUNCTIONS: tuple[str, ...] = _FUNCTIONS
"""The graded functions, in the order the notebook introduces them.

CSV columns, feedback tables and the pass-rate plot all follow this order.
A function name that appears in the results but not here is appended after
these, alphabetically, so nothing the grader reports is dropped."""

FEEDBACK_FIELDS: tuple[str, ...] = ("score", "max", "passed", "diagnosis", "message")
"""The only per-function fields a student's feedback page shows.

A feedback page is built from the results dict alone, and from it only these
fields (plus the student id, the submission-level ``error`` and the totals).
The report module never opens the hidden tests, the reference solution or
the source notebook, so none of that can leak into a page: whatever the
student reads is what the grader chose to put in ``message``.  The grader is
therefore responsible for keeping test code and reference source out of its
messages.  As a second line of defence, any block fenced by nbgrader's
``### BEGIN HIDDEN TESTS`` / ``### BEGIN SOLUTION`` markers that does turn up
in a message is cut out before rendering (see ``_redact``)."""

def diagnosis_info(code: str, function: str | None = None) -> dict:
    """What a diagnosis code means, for a page: {code, title, hint (what to do), note}.

    The words come from autograder/grading/mistakes.py, the one place where each mistake and its
    hint are written down.  ``note`` is true for codes that are notes, not mistakes
    (INHERITS: right, but failed with the student's own cell function), which the class
    report lists apart and never counts as mistakes."""
    info = mistakes.describe(code, function)
    return {"code": code, "title": info.title, "hint": info.advice, "note": code in mistakes.NOTES}


PLOT_FILES: tuple[str, ...] = ("score_distribution.png", "pass_rate.png", "diagnoses.png")
"""The PNG files written to ``report/``."""

TOP_DIAGNOSES = 15
PNG_DPI = 100
_PNG_METADATA = {"Software": None}  # keeps the PNG bytes free of version strings

_MARKER_BLOCK = re.compile(
    r"#+\s*BEGIN\s+(HIDDEN\s+TESTS|SOLUTION)\b.*?(#+\s*END\s+\1\b[^\n]*|\Z)",
    re.DOTALL | re.IGNORECASE,
)
_REDACTED = "[hidden content removed]"


# --------------------------------------------------------------------------
# small helpers


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    # a lone surrogate that got this far is written out as \udcff, never an error
    _atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


def _flush_file_system(folder: Path, temporaries: list) -> None:
    """Bring the written temporaries to disk: one syncfs(2) of the folder's file system
    where Linux offers it (one disk wait for all of them), else one fsync each."""
    try:
        import ctypes
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        syncfs = None
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for tmp in temporaries:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _AtomicBatch:
    """Many files written as _atomic_write_bytes writes one, with one flush for the batch.

    Each file goes to a temporary file in its destination's folder; every BATCH files
    (and at the end) the file system is flushed once and each temporary then replaces its
    destination.  A reader or a crash still sees the old or the new whole file, never a
    part; only the number of disk waits changes (one per batch, not one per file: a class
    of 300 feedback pages waited about 12 ms per page on fsync)."""

    BATCH = 200

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[str, Path]] = []

    def write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        self.pending.append((tmp, path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        if len(self.pending) >= self.BATCH:
            self.commit()

    def commit(self) -> None:
        if self.pending:
            _flush_file_system(self.folder, [tmp for tmp, _ in self.pending])
            while self.pending:
                tmp, path = self.pending[0]
                os.replace(tmp, path)
                self.pending.pop(0)

    def discard(self) -> None:
        for tmp, _ in self.pending:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self.pending.clear()


def _number(value: Any) -> float:
    """A score as a finite float; anything unusable counts as 0."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _fmt(x: float, digits: int = 4) -> str:
    """``3`` for 3.0, ``2.5`` for 2.5, at most ``digits`` decimals."""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _redact(text: str) -> str:
    return _MARKER_BLOCK.sub(_REDACTED, text)


def _csv_safe(text: Any) -> str:
    """A CSV cell a spreadsheet shows as plain text: no formula start (=, +, -, @, tab,
    CR), no control, bidi or surrogate character (see autograder.grading.untrusted.csv_field)."""
    return untrusted.csv_field(text)


def feedback_filename(student_id: str) -> str:
    """File name of a student's feedback page, safe to join under ``feedback/``.

    Plain ids (letters, digits, ``.``, ``_``, ``-``) map to ``<id>.html``.
    Anything else has the offending characters replaced by ``_`` and a short
    hash of the original id appended, so two different ids never share a
    page and no id can climb out of the directory.
    """
    sid = str(student_id)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sid).lstrip(".")[:80]
    if safe != sid or not safe:
        digest = hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = (safe + "-" if safe else "") + digest
    return safe + ".html"


def _function_order(students: dict) -> list[str]:
    extra = set()
    for entry in students.values():
        extra.update((entry or {}).get("functions") or {})
    return list(FUNCTIONS) + sorted(extra - set(FUNCTIONS))


def _student_view(student_id: str, entry: dict | None, functions: list[str]) -> dict:
    """Flatten one student's results into what the templates and CSV need."""
    entry = entry or {}
    given = entry.get("functions") or {}
    rows = []
    for name in functions:
        f = given.get(name)
        if f is None:
            rows.append({"name": name, "present": False, "score": 0.0, "max": None,
                         "passed": False, "diagnosis": [], "message": ""})
            continue
        codes = [str(c) for c in (f.get("diagnosis") or [])]
        rows.append({
            "name": name,
            "present": True,
            "score": _number(f.get("score")),
            "max": _number(f.get("max")),
            "passed": bool(f.get("passed")),
            "diagnosis": [diagnosis_info(c, name) for c in codes],
            "message": _redact(str(f.get("message") or "")),
        })
    error = entry.get("error")
    total = _number(entry.get("total"))
    max_total = _number(entry.get("max"))
    return {
        "id": untrusted.json_text(student_id),
        "file": feedback_filename(student_id),
        "total": total,
        "max": max_total,
        "percent": (100.0 * total / max_total) if max_total > 0 else None,
        "error": _redact(str(error)) if error not in (None, "") else None,
        "functions": rows,
        # when it was handed in (autograder.grading.timestamps), and how late
        "submitted_at": str(entry.get("submitted_at") or ""),
        "late": bool(entry.get("late")),
        "late_by": _late_by(entry.get("seconds_late")) if entry.get("late") else "",
    }


def _late_by(seconds: Any) -> str:
    from .timestamps import describe_lateness
    return describe_lateness(_number(seconds))


# --------------------------------------------------------------------------
# HTML

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b;
       line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; }
.sub { color: #555; margin-top: 0; }
.total { font-size: 1.3rem; font-weight: 600; }
.error { background: #fdecea; border-left: 5px solid #b3261e; padding: .7rem 1rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1.2rem; }
th, td { border: 1px solid #d0d0d0; padding: .45rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.pass { color: #1e6b2e; font-weight: 600; white-space: nowrap; }
.fail { color: #b3261e; font-weight: 600; white-space: nowrap; }
.fn { border: 1px solid #d0d0d0; border-radius: 6px; padding: .4rem 1rem .8rem;
      margin: 1rem 0; }
.fn h3 { font-size: 1.1rem; margin: .5rem 0; font-family: "DejaVu Sans Mono", monospace; }
.fn h3 span { margin-left: .8rem; font-family: system-ui, "DejaVu Sans", sans-serif;
              font-size: 1rem; }
.msg { white-space: pre-wrap; overflow-wrap: anywhere; background: #f7f7f7;
       padding: .6rem .8rem; border-radius: 4px;
       font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9rem; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.diag code { background: #fff4d6; padding: 0 .25rem; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0 1.5rem; }
.muted { color: #666; }
"""

_FEEDBACK_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feedback: {{ assignment }} ({{ s.id }})</title>
<style>{{ style }}</style>
</head>
<body>
<h1>Feedback for {{ assignment }}</h1>
<p class="sub">Student: <strong>{{ s.id }}</strong></p>
{% if weak %}<p class="sub">WEAKLY ISOLATED: graded without a mount namespace ({{ isolation }})</p>{% endif %}
<p class="total">Total: {{ fmt(s.total) }} / {{ fmt(s.max) }}{% if s.percent is not none %} ({{ "%.0f" % s.percent }}%){% endif %}</p>
{% if s.submitted_at %}<p class="sub">Submitted: {{ s.submitted_at }}{% if s.late %} &mdash; <strong class="fail">late by {{ s.late_by }}</strong>{% endif %}</p>{% endif %}
{% if s.error %}
<div class="error" role="alert"><strong>Your notebook could not be graded:</strong>
<div class="msg">{{ s.error }}</div>
so every function scores 0.</div>
{% endif %}
<h2>Summary</h2>
<table>
<thead><tr><th>Function</th><th>Score</th><th>Result</th></tr></thead>
<tbody>
{% for f in s.functions %}
<tr><td>{% if f.present %}<a href="#{{ f.name }}"><code>{{ f.name }}</code></a>{% else %}<code>{{ f.name }}</code>{% endif %}</td>
<td class="num">{{ fmt(f.score) }}{% if f.max is not none %} / {{ fmt(f.max) }}{% endif %}</td>
<td>{% if not f.present %}<span class="fail">not graded</span>{% elif f.passed %}<span class="pass">&#10003; passed</span>{% else %}<span class="fail">&#10007; not passed</span>{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% set graded = s.functions|selectattr("present")|list %}
{% if graded %}
<h2>Details</h2>
{% for f in graded %}
<section class="fn" id="{{ f.name }}">
<h3>{{ f.name }} &mdash; {{ fmt(f.score) }} / {{ fmt(f.max) }}
{% if f.passed %}<span class="pass">&#10003; passed</span>{% else %}<span class="fail">&#10007; not passed</span>{% endif %}</h3>
{% if f.message %}<div class="msg">{{ f.message }}</div>{% elif f.passed %}<p class="muted">All checks passed.</p>{% endif %}
{% if f.diagnosis %}
<p class="diag"><strong>What the grader noticed:</strong></p>
<ul class="diag">
{% for d in f.diagnosis %}<li><code>{{ d.code }}</code> &mdash; <strong>{{ d.title }}</strong>{% if d.note %} (a note, not a mistake){% endif %}{% if d.hint %}: {{ d.hint }}{% endif %}</li>
{% endfor %}</ul>
{% endif %}
</section>
{% endfor %}
{% endif %}
</body>
</html>
"""

_REPORT_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {{ assignment }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>Class report: {{ assignment }}</h1>
{% if isolation %}<p class="sub">Grading sandbox: {{ isolation }}</p>{% endif %}
<table>
<tbody>
<tr><th>Students graded</th><td class="num">{{ n }}</td></tr>
<tr><th>Whole-submission errors</th><td class="num">{{ n_errors }}</td></tr>
{% if n %}
<tr><th>Mean total</th><td class="num">{{ fmt(mean, 2) }} / {{ fmt(max_total) }}</td></tr>
<tr><th>Median total</th><td class="num">{{ fmt(median, 2) }} / {{ fmt(max_total) }}</td></tr>
<tr><th>Full marks</th><td class="num">{{ n_full }}</td></tr>
{% endif %}
</tbody>
</table>
{% if not n %}<p class="muted">No students in these results, so the plots below are empty.</p>{% endif %}

<h2>Score distribution</h2>
<img src="score_distribution.png" alt="Histogram of total scores">

<h2>Pass rate per function</h2>
<img src="pass_rate.png" alt="Share of students passing each function">
<table>
<thead><tr><th>Function</th><th>Passed</th><th>Pass rate</th><th>Mean score</th></tr></thead>
<tbody>
{% for r in function_rows %}
<tr><td><code>{{ r.name }}</code></td><td class="num">{{ r.passed }} / {{ n }}</td>
<td class="num">{% if n %}{{ "%.0f" % r.rate }}%{% else %}&ndash;{% endif %}</td>
<td class="num">{% if n %}{{ fmt(r.mean, 2) }}{% if r.max is not none %} / {{ fmt(r.max) }}{% endif %}{% else %}&ndash;{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>

<h2>Most frequent mistakes</h2>
<p>What the grader recognised in the functions that failed, most frequent first: reteach from the top.
Failing functions without a diagnosis: {{ n_undiagnosed }} of {{ n_failing }}{% if n_failing %} ({{ "%.0f" % (100 * n_undiagnosed / n_failing) }}%){% endif %}.</p>
<img src="diagnoses.png" alt="Most frequent mistakes, by function">
{% if diagnosis_rows %}
<table>
<thead><tr><th>Function</th><th>Mistake</th><th>What it means</th><th>Students</th></tr></thead>
<tbody>
{% for d in diagnosis_rows %}<tr><td><code>{{ d.function }}</code></td><td><code>{{ d.code }}</code></td><td><strong>{{ d.title }}</strong>{% if d.hint %}: {{ d.hint }}{% endif %}</td><td>{{ d.students|length }}: {% for s in d.students %}<a href="../feedback/{{ s.file }}#{{ d.function }}">{{ s.id }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody>
</table>
{% else %}<p class="muted">No mistakes were recognised.</p>{% endif %}
{% if undiagnosed_rows %}
<h3>Failing functions without a diagnosis</h3>
<table>
<thead><tr><th>Function</th><th>Students</th></tr></thead>
<tbody>
{% for d in undiagnosed_rows %}<tr><td><code>{{ d.function }}</code></td><td>{{ d.students|length }}: {% for s in d.students %}<a href="../feedback/{{ s.file }}#{{ d.function }}">{{ s.id }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
{% if note_rows %}
<h3>Notes (not counted as mistakes)</h3>
<table>
<thead><tr><th>Function</th><th>Note</th><th>What it means</th><th>Students</th></tr></thead>
<tbody>
{% for d in note_rows %}<tr><td><code>{{ d.function }}</code></td><td><code>{{ d.code }}</code></td><td><strong>{{ d.title }}</strong>{% if d.hint %}: {{ d.hint }}{% endif %}</td><td>{{ d.students|length }}: {% for s in d.students %}<a href="../feedback/{{ s.file }}#{{ d.function }}">{{ s.id }}</a>{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}

{% if error_rows %}
<h2>Submissions that could not be graded</h2>
<table>
<thead><tr><th>Student</th><th>Error</th></tr></thead>
<tbody>
{% for s in error_rows %}<tr><td><a href="../feedback/{{ s.file }}">{{ s.id }}</a></td><td>{{ s.error }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}

{% if students %}
<h2>Students</h2>
<table>
<thead><tr><th>Student</th><th>Total</th><th>Passed</th></tr></thead>
<tbody>
{% for s in students %}<tr><td><a href="../feedback/{{ s.file }}">{{ s.id }}</a></td>
<td class="num">{{ fmt(s.total) }} / {{ fmt(s.max) }}</td>
<td class="num">{{ s.n_passed }} / {{ s.functions|length }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
</body>
</html>
"""

@functools.lru_cache(maxsize=None)
def _template(source: str):
    """The compiled Jinja2 template of `source` (compiled once per process)."""
    import jinja2
    import markupsafe
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.globals["fmt"] = _fmt
    # The stylesheet is our own constant.  Marked safe, because entities are not
    # decoded inside <style> and escaping its quotes would break the CSS.
    env.globals["style"] = markupsafe.Markup(_STYLE)
    return env.from_string(source)


# --------------------------------------------------------------------------
# plots


def _new_figure(width: float, height: float) -> Figure:
    # Figures are drawn on the Agg canvas directly, without pyplot, so the
    # process-wide backend is never switched and no GUI is ever needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=PNG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, metadata=_PNG_METADATA)
    return buf.getvalue()


def _empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, color="#555",
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _plot_scores(totals: list[float], max_total: float) -> bytes:
    from matplotlib.ticker import MaxNLocator
    fig = _new_figure(8, 4.5)
    ax = fig.add_subplot()
    n = len(totals)
    ax.set_title(f"Distribution of total scores ({n} student{'s' if n != 1 else ''})",
                 fontsize=14)
    if not totals:
        _empty_note(ax, "No students graded")
        return _png_bytes(fig)
    top = max(max_total, max(totals), 1.0)
    if top <= 40 and all(float(t).is_integer() for t in [top, *totals]):
        edges = [i - 0.5 for i in range(int(top) + 2)]  # one bar per whole point
    else:
        edges = [min(0.0, min(totals)) + (top - min(0.0, min(totals))) * i / 20
                 for i in range(21)]
    ax.hist(totals, bins=edges, color="#3b6ea8", edgecolor="white", linewidth=1)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"Total score (out of {_fmt(max_total)})", fontsize=12)
    ax.set_ylabel("Students", fontsize=12)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    ax.tick_params(labelsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png_bytes(fig)


def _plot_pass_rate(rows: list[dict], n: int) -> bytes:
    fig = _new_figure(8, 0.45 * len(rows) + 1.6)
    ax = fig.add_subplot()
    ax.set_title(f"Pass rate per function ({n} student{'s' if n != 1 else ''})", fontsize=14)
    names = [r["name"] for r in rows]
    rates = [r["rate"] for r in rows]
    ys = list(range(len(rows)))
    ax.barh(ys, rates, color="#3b8a55", height=0.65)
    ax.set_yticks(ys, names, fontsize=11, family="DejaVu Sans Mono")
    ax.invert_yaxis()  # first function of the notebook at the top
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 20, 40, 60, 80, 100], ["0%", "20%", "40%", "60%", "80%", "100%"])
    ax.tick_params(axis="x", labelsize=11)
    ax.set_xlabel("Students who passed", fontsize=12)
    if n:
        for y, r in zip(ys, rows):
            ax.text(r["rate"] + 1.5, y, f"{r['rate']:.0f}%  ({r['passed']}/{n})",
                    va="center", fontsize=10)
    else:
        ax.text(50, (len(rows) - 1) / 2, "No students graded", ha="center", va="center",
                fontsize=13, color="#555")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png_bytes(fig)


def _plot_diagnoses(rows: list[dict]) -> bytes:
    from matplotlib.ticker import MaxNLocator
    fig = _new_figure(8, 0.42 * max(len(rows), 3) + 1.6)
    ax = fig.add_subplot()
    ax.set_title(f"Most frequent mistakes (top {TOP_DIAGNOSES})", fontsize=14)
    if not rows:
        _empty_note(ax, "No mistakes recognised")
        return _png_bytes(fig)
    ys = list(range(len(rows)))
    counts = [len(r["students"]) for r in rows]
    ax.barh(ys, counts, color="#c07a2c", height=0.65)
    ax.set_yticks(ys, [f"{r['function']}: {r['code']}" for r in rows], fontsize=9,
                  family="DejaVu Sans Mono")
    ax.invert_yaxis()  # most frequent at the top
    ax.set_xlim(0, max(counts) * 1.15 + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelsize=11)
    ax.set_xlabel("Students", fontsize=12)
    for y, c in zip(ys, counts):
        ax.text(c + max(counts) * 0.01 + 0.05, y, str(c), va="center", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png_bytes(fig)


# --------------------------------------------------------------------------
# outputs


def _grades_csv(views: Iterable[dict], functions: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_csv_safe(name) for name in ("student_id", "total", "max", *functions, "error", "submitted_at", "late")])
    for s in views:
        # every field, the numbers too: none may start a formula or hold a control character
        writer.writerow([_csv_safe(field) for field in (
            s["id"], _fmt(s["total"]), _fmt(s["max"]),
            *(_fmt(f["score"]) for f in s["functions"]),
            s["error"] or "", s["submitted_at"] or "", "yes" if s["late"] else "",
        )])
    return buf.getvalue()


def _diagnosis_tables(views: list[dict]) -> tuple:
    """What the class report's diagnosis section shows, from the students' views.

    A code that only says how a function failed (mistakes.SYMPTOMS: a shape error, a wrong
    call to the cell function) is listed for a function only when no mistake was recognised
    in it.  returns (mistake rows, note rows, rows of failing functions without a mistake,
    number of failing functions, number of those without a mistake); a row is
    {function, code, title, hint, students}, students being the views of the students
    whose result carries it, most frequent first."""
    by_code: dict[tuple, list] = {}
    undiagnosed: dict[str, list] = {}
    n_failing = n_undiagnosed = 0
    for s in views:
        for f in s["functions"]:
            named = [d for d in f["diagnosis"] if not d["note"]]
            # a symptom (how it crashed) only where no mistake was recognised
            shown = [d for d in named if d["code"] not in mistakes.SYMPTOMS] or named
            for d in shown + [d for d in f["diagnosis"] if d["note"]]:
                entry = by_code.setdefault((f["name"], d["code"]), [d, []])
                if s not in entry[1]:
                    entry[1].append(s)
            if f["present"] and not f["passed"]:
                n_failing += 1
                if not named:
                    n_undiagnosed += 1
                    undiagnosed.setdefault(f["name"], []).append(s)

    def row(key, value):
        (function, code), (d, students) = key, value
        return {"function": function, "code": code, "title": d["title"], "hint": d["hint"],
                "students": students}
    ranked = sorted(by_code.items(), key=lambda kv: (-len(kv[1][1]), kv[0]))
    mistake_rows = [row(k, v) for k, v in ranked if not v[0]["note"]]
    note_rows = [row(k, v) for k, v in ranked if v[0]["note"]]
    undiagnosed_rows = [{"function": f, "students": ss} for f, ss in undiagnosed.items()]
    return mistake_rows, note_rows, undiagnosed_rows, n_failing, n_undiagnosed


def _class_summary(views: list[dict], functions: list[str]) -> dict:
    n = len(views)
    totals = [s["total"] for s in views]
    max_total = max((s["max"] for s in views), default=0.0)

    function_rows = []
    for i, name in enumerate(functions):
        cells = [s["functions"][i] for s in views]
        passed = sum(1 for c in cells if c["present"] and c["passed"])
        maxes = [c["max"] for c in cells if c["max"] is not None]
        function_rows.append({
            "name": name,
            "passed": passed,
            "rate": 100.0 * passed / n if n else 0.0,
            "mean": statistics.fmean(c["score"] for c in cells) if n else 0.0,
            "max": max(maxes) if maxes else None,
        })

    diagnosis_rows, note_rows, undiagnosed_rows, n_failing, n_undiagnosed = _diagnosis_tables(views)

    for s in views:
        s["n_passed"] = sum(1 for f in s["functions"] if f["present"] and f["passed"])

    return {
        "n": n,
        "n_errors": sum(1 for s in views if s["error"]),
        "n_full": sum(1 for s in views if s["max"] > 0 and s["total"] >= s["max"]),
        "mean": statistics.fmean(totals) if n else 0.0,
        "median": statistics.median(totals) if n else 0.0,
        "max_total": max_total,
        "totals": totals,
        "function_rows": function_rows,
        "diagnosis_rows": diagnosis_rows,
        "note_rows": note_rows,
        "undiagnosed_rows": undiagnosed_rows,
        "n_failing": n_failing,
        "n_undiagnosed": n_undiagnosed,
        "error_rows": [s for s in views if s["error"]],
        "students": views,
    }


def write_outputs(results: dict, out_dir: Path, figure_cache: Path | None = None) -> None:
    """Write results.json, grades.csv, feedback pages and the class report.

    ``figure_cache`` -- folder where drawn figures are kept and reused while their data
    do not change (autograder.grading.figurecache); None: always draw.

    ``results`` is the grader's results dict (see the module docstring of the
    grader for its shape).  ``out_dir`` is created if needed.  Existing files
    of the same names are replaced atomically; files from earlier runs for
    students no longer in ``results`` are left alone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    assignment = str(results.get("assignment") or "")
    isolation = str(results.get("isolation") or "")
    weak = bool((results.get("isolation_detail") or {}).get("weak"))
    students = results.get("students") or {}
    functions = _function_order(students)
    views = [_student_view(sid, students[sid], functions) for sid in sorted(students, key=str)]

    _atomic_write_text(out_dir / "results.json",
                       json.dumps(results, indent=2, sort_keys=True) + "\n")
    _atomic_write_text(out_dir / "grades.csv", _grades_csv(views, functions))

    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(exist_ok=True)
    page = _template(_FEEDBACK_TEMPLATE)
    batch = _AtomicBatch(feedback_dir)
    try:
        for s in views:
            batch.write(feedback_dir / s["file"], page.render(assignment=assignment, s=s, weak=weak,
                                                            isolation=isolation).encode("utf-8", "backslashreplace"))
        batch.commit()
    finally:
        batch.discard()

    report_dir = out_dir / "report"
    report_dir.mkdir(exist_ok=True)
    summary = _class_summary(views, functions)
    from .figurecache import png
    plots = {
        "score_distribution.png": png(figure_cache, _plot_scores, summary["totals"], summary["max_total"]),
        "pass_rate.png": png(figure_cache, _plot_pass_rate, summary["function_rows"], summary["n"]),
        "diagnoses.png": png(figure_cache, _plot_diagnoses, summary["diagnosis_rows"][:TOP_DIAGNOSES]),
    }
    for name, data in plots.items():
        _atomic_write_bytes(report_dir / name, data)
    index = _template(_REPORT_TEMPLATE).render(
        assignment=assignment, isolation=isolation, **summary)
    _atomic_write_text(report_dir / "index.html", index)
