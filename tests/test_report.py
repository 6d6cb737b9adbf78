"""Tests for autograder.grading.report: the files the batch grader leaves behind."""
from __future__ import annotations

import copy
import csv
import html
import json
import os
import re
import struct
from pathlib import Path

import pytest

from autograder.grading import mistakes, report
from autograder.grading.report import feedback_filename, FUNCTIONS, PLOT_FILES, write_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fn(score, passed, diagnosis=(), message="All checks passed."):
    return {"score": score, "max": 5.0, "passed": passed,
            "diagnosis": list(diagnosis), "message": message}


RNN_BACKWARD_MSG = (
    "Case 'small' (n_x=3, n_a=5, m=4, T_x=6, seed=2): output 'da0' has the expected "
    "shape (5, 4) but every entry is 0.\nLargest error 1.37 at index (3, 1).\n"
    "Likely mistake: the gradient from the next time step is not added to da[:, :, t]."
)


def _results():
    alice = {name: _fn(5.0, True) for name in FUNCTIONS}
    alice["rnn_backward"] = _fn(2.5, False, ["RECURRENT_GRADS_ZERO"], RNN_BACKWARD_MSG)
    bob = {name: _fn(5.0, True) for name in FUNCTIONS}
    return {
        "assignment": "rnn_step_by_step",
        "isolation": "subprocess per notebook, no network",
        "students": {
            "alice": {"total": 37.5, "max": 40.0, "error": None, "functions": alice},
            "bob": {"total": 40.0, "max": 40.0, "error": None, "functions": bob},
            "carol": {"total": 0.0, "max": 40.0, "error": "notebook is not valid JSON",
                      "functions": {}},
        },
    }


@pytest.fixture
def out(tmp_path):
    results = _results()
    write_outputs(results, tmp_path / "out")
    return tmp_path / "out"


def _text(page: str) -> str:
    """What a reader sees of an HTML page: the text without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_all_outputs_exist_and_parse(out):
    """Are results.json, grades.csv, one page per student and the report all there and readable?"""
    assert json.loads((out / "results.json").read_text()) == _results()
    assert len(_read_csv(out / "grades.csv")) == 3
    for sid in ("alice", "bob", "carol"):
        page = (out / "feedback" / feedback_filename(sid)).read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert (out / "report" / "index.html").is_file()
    for name in PLOT_FILES:
        assert (out / "report" / name).is_file()


def test_results_json_is_indented_with_sorted_keys(out):
    """Is results.json written with indent 2 and sorted keys?"""
    text = (out / "results.json").read_text()
    assert text == json.dumps(_results(), indent=2, sort_keys=True) + "\n"


def test_no_temporary_files_are_left_behind(out):
    """Does an ordinary run leave no half-written temporary files anywhere?"""
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    """If the final rename fails, is the old file kept intact and the temp file removed?"""
    out = tmp_path / "out"
    write_outputs(_results(), out)
    before = (out / "results.json").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    changed = _results()
    changed["students"]["bob"]["total"] = 1.0
    with pytest.raises(OSError):
        write_outputs(changed, out)
    monkeypatch.undo()
    assert (out / "results.json").read_bytes() == before
    assert [p for p in out.rglob("*.tmp")] == []


def test_csv_columns_follow_canonical_order(out):
    """Does grades.csv have student_id, total, max, the eight functions in notebook order, then
    error, the submission time and the late flag?"""
    with open(out / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["student_id", "total", "max", *FUNCTIONS, "error", "submitted_at", "late"]


def test_csv_values(out):
    """Do the CSV rows hold each student's total, per-function scores and error?"""
    rows = {r["student_id"]: r for r in _read_csv(out / "grades.csv")}
    assert list(rows) == ["alice", "bob", "carol"]
    alice = rows["alice"]
    assert float(alice["total"]) == 37.5 and float(alice["max"]) == 40
    assert float(alice["rnn_backward"]) == 2.5
    assert all(float(alice[f]) == 5 for f in FUNCTIONS if f != "rnn_backward")
    assert alice["error"] == ""
    carol = rows["carol"]
    assert carol["error"] == "notebook is not valid JSON"
    assert float(carol["total"]) == 0
    assert all(float(carol[f]) == 0 for f in FUNCTIONS)


def test_csv_error_text_cannot_become_a_formula(tmp_path):
    """Is an error string starting with '=' kept from being read as a spreadsheet formula?"""
    results = _results()
    results["students"]["carol"]["error"] = '=HYPERLINK("http://evil","x")'
    write_outputs(results, tmp_path)
    rows = {r["student_id"]: r for r in _read_csv(tmp_path / "grades.csv")}
    assert not rows["carol"]["error"].startswith("=")


def test_feedback_page_shows_message_score_and_diagnosis(out):
    """Does a student's page show the grader's message, the scores and the diagnosis hint?"""
    page = (out / "feedback" / "alice.html").read_text(encoding="utf-8")
    assert "every entry is 0." in page
    assert "Largest error 1.37 at index (3, 1)." in page
    assert "37.5 / 40" in page
    assert "RECURRENT_GRADS_ZERO" in page
    info = mistakes.describe("RECURRENT_GRADS_ZERO", "rnn_backward")
    assert info.title and info.hint
    assert f"RECURRENT_GRADS_ZERO — {info.title}: {info.advice}" in _text(page)
    for name in FUNCTIONS:
        assert name in page
    assert "not passed" in page and "passed" in page


def test_feedback_page_contains_no_test_or_reference_code(out):
    """Given clean input, is a feedback page free of hidden-test markers and code-like text?"""
    for page_path in (out / "feedback").glob("*.html"):
        page = page_path.read_text(encoding="utf-8")
        for forbidden in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION",
                          "def ", "import ", "assert ", "np.testing", "<script"):
            assert forbidden not in page, (page_path.name, forbidden)


def test_hidden_test_block_in_a_message_is_cut_out(tmp_path):
    """If a message carries an nbgrader hidden-test block by mistake, is the block removed?"""
    results = _results()
    leaked = ("Wrong values.\n### BEGIN HIDDEN TESTS\ndef _secret_check():\n"
              "    assert secret_answer == 42\n### END HIDDEN TESTS\nTry again.")
    results["students"]["bob"]["functions"]["lstm_forward"]["message"] = leaked
    write_outputs(results, tmp_path)
    page = (tmp_path / "feedback" / "bob.html").read_text(encoding="utf-8")
    assert "Wrong values." in page and "Try again." in page
    assert "HIDDEN TESTS" not in page
    assert "secret_answer" not in page and "def " not in page


def test_whole_submission_error_is_shown(out):
    """Does a student whose notebook could not be graded see the reason and a zero total?"""
    page = (out / "feedback" / "carol.html").read_text(encoding="utf-8")
    assert "notebook is not valid JSON" in page
    assert "0 / 40" in page
    assert "not graded" in page


def test_malicious_student_id_and_message_are_escaped(tmp_path):
    """Does a student id with HTML in it, and a message with HTML in it, come out escaped?"""
    evil_id = '<img src=x onerror="alert(1)">'
    evil_msg = "</div><script>alert('pwned')</script> & more"
    results = _results()
    results["students"][evil_id] = {
        "total": 1.0, "max": 40.0, "error": "<b>broken</b>",
        "functions": {"rnn_forward": _fn(1.0, False, ["<i>CODE</i>"], evil_msg)},
    }
    write_outputs(results, tmp_path)

    page_path = tmp_path / "feedback" / feedback_filename(evil_id)
    assert page_path.parent == tmp_path / "feedback"
    page = page_path.read_text(encoding="utf-8")
    for raw in ("<img src=x", "<script>", "<b>broken</b>", "<i>CODE</i>"):
        assert raw not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "&lt;/div&gt;&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; more" in page

    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "<img src=x" not in index and "<b>broken</b>" not in index
    assert "&lt;img src=x" in index


def test_feedback_filenames_stay_inside_the_feedback_folder():
    """Can a student id climb out of feedback/ or collide with another id's page?"""
    ids = ["../../etc/passwd", "..", ".", "", "a/b", "a_b", "a b", "A\\B", "alice", ".hidden"]
    names = [feedback_filename(i) for i in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert "/" not in name and "\\" not in name
        assert not name.startswith(".")
        assert name.endswith(".html")
    assert feedback_filename("alice") == "alice.html"
    assert feedback_filename("s-01.x_y") == "s-01.x_y.html"


def test_plots_are_pngs_of_fixed_size(out):
    """Are the three plots real PNG files of a sensible size?"""
    for name in PLOT_FILES:
        width, height = _png_size(out / "report" / name)
        assert 400 <= width <= 2000 and 200 <= height <= 2000, name


def test_outputs_are_byte_for_byte_reproducible(tmp_path):
    """Does running twice on the same results give identical files, PNGs included?"""
    write_outputs(_results(), tmp_path / "a")
    write_outputs(_results(), tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_png_metadata_has_no_software_tag(out):
    """Do the PNGs omit matplotlib's 'Software' text chunk?"""
    for name in PLOT_FILES:
        assert b"Software" not in (out / "report" / name).read_bytes()


def test_class_report_embeds_plots_and_tabulates_functions(out):
    """Does the class report show the three plots and a table in canonical function order?"""
    index = (out / "report" / "index.html").read_text(encoding="utf-8")
    for name in PLOT_FILES:
        assert f'src="{name}"' in index
    positions = [index.index(f"<code>{name}</code>") for name in FUNCTIONS]
    assert positions == sorted(positions)
    assert "subprocess per notebook, no network" in index
    assert "RECURRENT_GRADS_ZERO" in index
    assert "notebook is not valid JSON" in index
    # pass counts: bob passes everything, alice all but one, carol nothing
    assert "2 / 3" in index and "1 / 3" in index


def test_zero_students(tmp_path):
    """With no students at all, are all files still written and well-formed?"""
    results = {"assignment": "rnn_step_by_step", "isolation": "none", "students": {}}
    write_outputs(results, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text()) == results
    with open(tmp_path / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["student_id", "total", "max", *FUNCTIONS, "error", "submitted_at", "late"]]
    assert (tmp_path / "feedback").is_dir()
    assert list((tmp_path / "feedback").iterdir()) == []
    for name in PLOT_FILES:
        _png_size(tmp_path / "report" / name)
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "No students" in index


def test_malformed_entries_do_not_crash(tmp_path):
    """Are missing fields, None scores and unknown functions tolerated?"""
    results = {
        "assignment": "rnn_step_by_step",
        "students": {
            "dave": {"total": None, "max": 40, "error": None,
                     "functions": {"rnn_forward": {"score": None, "passed": False},
                                   "bonus_fn": _fn(1.0, True)}},
            "erin": None,
        },
    }
    write_outputs(copy.deepcopy(results), tmp_path)
    with open(tmp_path / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["student_id", "total", "max", *FUNCTIONS, "bonus_fn", "error", "submitted_at", "late"]
    assert (tmp_path / "feedback" / "dave.html").is_file()
    assert (tmp_path / "feedback" / "erin.html").is_file()


def test_outputs_are_readable_by_others(out):
    """Are the files created world-readable rather than mkstemp's private 0600?"""
    for path in (out / "results.json", out / "grades.csv", out / "report" / "index.html"):
        assert os.stat(path).st_mode & 0o044 == 0o044


def _class_with_diagnoses():
    """Four students: two with the same lstm_backward mistake, one failing without a
    diagnosis, one passing with a note (INHERITS)."""
    results = _results()
    fns = {name: _fn(5.0, True) for name in FUNCTIONS}
    students = results["students"]
    for sid in ("dan", "eve"):
        students[sid] = {"total": 35.0, "max": 40.0, "error": None, "functions": dict(
            fns, lstm_backward=_fn(0.0, False, ["DW_OVERWRITTEN"], "Failed 5 of 5 cases."))}
    students["fay"] = {"total": 35.0, "max": 40.0, "error": None, "functions": dict(
        fns, rnn_forward=_fn(0.0, False, [], "Failed 1 of 5 cases."),
        rnn_backward=_fn(5.0, True, ["INHERITS"], "Passed all cases."))}
    return results


def test_every_diagnosis_code_has_words_and_a_hint():
    """Does every code the grader can give (known mistakes, crashes, notes) have a meaning in
    words and a hint, all written in autograder/grading/mistakes.py?"""
    errors = ["NameError: name 'Waa' is not defined", "NameError: name 'foo' is not defined",
              "NotImplementedError: stub", "OracleMismatch: x called y: call 2 differs in a_prev",
              "TypeError: f() takes 2 positional arguments but 3 were given",
              "the cell does not run: SyntaxError: bad", "no function named f is defined",
              "ValueError: operands could not be broadcast together with shapes (5,5) (5,10)",
              "ValueError: not enough values to unpack (expected 4, got 2)",
              "IndexError: list index out of range", "KeyError: 'dx'",
              "UnboundLocalError: cannot access local variable 'a'",
              "AttributeError: 'tuple' object has no attribute 'shape'",
              "TypeError: 'tuple' object is not callable", "SystemExit: 0",
              "TimeoutError: too slow", "MemoryError or TimeoutError: killed",
              "Crash: the process crashed", "ZeroDivisionError: division by zero"]
    codes = {mistakes.error_hint("rnn_backward", e)[0] for e in errors}
    codes |= {m.code for m in mistakes.MISTAKES} | set(mistakes.OTHER)
    assert len(codes) > 70
    for code in codes:
        info = report.diagnosis_info(code, "rnn_backward")
        assert info["title"] and info["hint"], code
        assert info["title"] != code.replace("_", " ").lower(), code  # not the fallback


def test_feedback_shows_each_code_with_its_meaning_and_hint(tmp_path):
    """Does the feedback page show each diagnosis's words and hint, and mark notes as notes?"""
    write_outputs(_class_with_diagnoses(), tmp_path)
    page = _text((tmp_path / "feedback" / "dan.html").read_text())
    info = mistakes.describe("DW_OVERWRITTEN", "lstm_backward")
    assert f"DW_OVERWRITTEN — {info.title}: {info.advice}" in page
    fay = _text((tmp_path / "feedback" / "fay.html").read_text())
    assert "INHERITS — " in fay and "(a note, not a mistake)" in fay


def test_report_lists_mistakes_by_function_with_students_and_keeps_notes_apart(tmp_path):
    """Does the report's diagnosis section show each mistake with its function, meaning and
    links to its students, list notes apart, and count failures without a diagnosis?"""
    write_outputs(_class_with_diagnoses(), tmp_path)
    index = html.unescape((tmp_path / "report" / "index.html").read_text())
    section = index.split("<h2>Most frequent mistakes</h2>", 1)[1].split("<h2>", 1)[0]
    mistakes_table, _, rest = section.partition("<h3>")
    rows = re.findall(r"<tr><td><code>(\w+)</code></td><td><code>(\w+)</code></td>(.*?)</tr>",
                      mistakes_table, re.S)
    # the most frequent first; INHERITS is not among the mistakes
    assert [(f, c) for f, c, _ in rows] == [("lstm_backward", "DW_OVERWRITTEN"),
                                            ("rnn_backward", "RECURRENT_GRADS_ZERO")]
    info = mistakes.describe("DW_OVERWRITTEN", "lstm_backward")
    assert f"<strong>{info.title}</strong>: {info.advice}" in rows[0][2]
    assert '<a href="../feedback/dan.html#lstm_backward">dan</a>' in rows[0][2]
    assert '<a href="../feedback/eve.html#lstm_backward">eve</a>' in rows[0][2]
    # failing functions: alice rnn_backward, dan and eve lstm_backward, fay rnn_forward
    assert "Failing functions without a diagnosis: 1 of 4 (25%)" in section
    assert '<a href="../feedback/fay.html#rnn_forward">fay</a>' in rest
    notes = rest.split("Notes (not counted as mistakes)", 1)[1]
    assert "INHERITS" in notes and '<a href="../feedback/fay.html#rnn_backward">fay</a>' in notes
