"""Broken submission files: each costs only its own student, with a message they can act on.

One batch (module fixture, the real command line, scratch course) holds every
broken submission next to honest students.  A file that cannot be read at all
becomes an `error` entry in results.json; a notebook with one damaged cell
loses that function only.  Submissions that could stop a whole batch are graded
in batches of their own, so that one of them cannot hide the others.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder import assignment
from autograder.course import samples

from conftest import NAME, make_course
from test_attacks import KIT, grader_env, grade_cmd, run_grader

POINTS = assignment.points()
FULL = sum(POINTS.values())
RELEASE = KIT / "release" / NAME / f"{NAME}.ipynb"


def reference_nb():
    return samples.make_notebook(nbformat.read(str(RELEASE), as_version=4), {"*": "reference"})


def reference_text():
    return nbformat.writes(reference_nb())


def cell_of(nb, function):
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == function:
            return index
    raise LookupError(function)


def folder(root: Path, student: str) -> Path:
    path = root / student / NAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_nb(root, student, nb, name=f"{NAME}.ipynb"):
    nbformat.write(nb, str(folder(root, student) / name))


def write_bytes(root, student, data, name=f"{NAME}.ipynb"):
    (folder(root, student) / name).write_bytes(data)


# ---------------------------------------------------------------------------
# the broken submissions
# ---------------------------------------------------------------------------


def make_deleted(root, student):
    nb = reference_nb()
    del nb.cells[cell_of(nb, "rnn_forward")]
    write_nb(root, student, nb)


def make_duplicated(root, student):
    nb = reference_nb()
    i = cell_of(nb, "lstm_cell_forward")
    duplicate = copy.deepcopy(nb.cells[i])
    duplicate["id"] = "copy-of-lstm-cell-forward"  # Jupyter gives a copied cell a new id, not a new grade_id
    nb.cells.insert(i + 1, duplicate)
    write_nb(root, student, nb)


def make_reordered(root, student):
    nb = reference_nb()
    nb.cells = list(reversed(nb.cells))  # every cell, solution cells included, in reverse
    write_nb(root, student, nb)


def make_markdown(root, student):
    nb = reference_nb()
    i = cell_of(nb, "rnn_backward")
    cell = nb.cells[i]
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    write_nb(root, student, nb)


def make_renamed(root, student):
    nb = reference_nb()
    i = cell_of(nb, "rnn_forward")
    nb.cells[i].source = nb.cells[i].source.replace("def rnn_forward(", "def rnn_forward2(")
    write_nb(root, student, nb)


def make_v3(root, student):
    text = nbformat.writes(nbformat.convert(reference_nb(), 3), version=3)
    assert json.loads(text)["nbformat"] == 3
    write_bytes(root, student, text.encode())


def make_non_utf8(root, student):
    data = reference_text().encode()  # one Latin-1 byte (0xE9, "é") in the middle of UTF-8
    assert b"START CODE HERE" in data
    write_bytes(root, student, data.replace(b"START CODE HERE", b"START CODE H\xe9RE", 1))


def make_huge(root, student):
    nb = reference_nb()
    i = cell_of(nb, "rnn_cell_forward")
    nb.cells[i].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (50 * 2**20))]
    write_nb(root, student, nb)


def make_missing_folder(root, student):
    (root / student).mkdir(parents=True)
    nbformat.write(reference_nb(), str(root / student / f"{NAME}.ipynb"))  # no assignment folder


def make_unexpected_name(root, student):
    write_nb(root, student, reference_nb(), name=f"{NAME} (1).ipynb")


def make_two_wrong_names(root, student):
    write_nb(root, student, reference_nb(), name="Untitled.ipynb")
    write_nb(root, student, reference_nb(), name=f"{NAME}-Copy1.ipynb")


def make_no_notebook(root, student):
    (folder(root, student) / "notes.txt").write_text("I ran out of time")


def make_truncated(root, student):
    text = reference_text()
    write_bytes(root, student, text[: len(text) // 2].encode())


def make_not_a_notebook(root, student):
    write_bytes(root, student, b'{"hello": "world"}')


def make_bom(root, student):
    write_bytes(root, student, b"\xef\xbb\xbf" + reference_text().encode())


def make_fifo(root, student):
    os.mkfifo(folder(root, student) / f"{NAME}.ipynb")


def make_symlink_to_teacher(root, student):
    # the teacher's source notebook (solutions in every cell) of the kit the grader runs from
    (folder(root, student) / f"{NAME}.ipynb").symlink_to(KIT / "source" / NAME / f"{NAME}.ipynb")


def make_folder_link(root, student):
    # the whole assignment folder is a link to the teacher's source folder
    (root / student).mkdir(parents=True, exist_ok=True)
    (root / student / NAME).symlink_to(KIT / "source" / NAME, target_is_directory=True)


def _with_cell(student_nb_edit):
    """A maker that edits the reference notebook as JSON (any value, lone surrogates as
    \\udcff escapes) and writes it as ASCII JSON."""
    def make(root, student):
        nb = json.loads(reference_text())
        student_nb_edit(nb)
        write_bytes(root, student, json.dumps(nb).encode("ascii"))
    return make


def _cell(nb, function):
    return next(c for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == function)


def _set_cell_type(function, value):
    return _with_cell(lambda nb: _cell(nb, function).__setitem__("cell_type", value))


def _add_to_source(function, text):
    def edit(nb):
        cell = _cell(nb, function)
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell["source"] = source + text
    return _with_cell(edit)


def make_escape_named(root, student):
    write_nb(root, student, reference_nb(), name="\x1b[31m=cmd()\u202e.ipynb")


def make_escape_named_link(root, student):
    link = folder(root, student) / "\x1b[2J=HYPERLINK(1)\u202e.ipynb"
    link.symlink_to(KIT / "source" / NAME / f"{NAME}.ipynb")


# student -> (how to make it, what results.json must say)
#   ("error", substrings of the error, all required)        the whole file is refused
#   ("cell", function, substrings of its message)           only that function fails
#   ("full",)                                               graded as if nothing were wrong
BROKEN = {
    "invalid_json": (lambda r, s: write_bytes(r, s, b"{ this is not json"),
                     ("error", "not valid notebook JSON", "save it and submit again")),
    "empty_file": (lambda r, s: write_bytes(r, s, b""),
                   ("error", "empty", "submit it again")),
    "truncated": (make_truncated, ("error", "not valid notebook JSON", "save it and submit again")),
    "not_a_notebook": (make_not_a_notebook, ("error", "not valid notebook JSON")),
    "utf8_bom": (make_bom, ("error", "save it and submit again")),
    "non_utf8_byte": (make_non_utf8, ("error", "not UTF-8", "save it and submit again")),
    "huge_50mb": (make_huge, ("error", "MB limit", "clear the outputs")),
    "missing_folder": (make_missing_folder, ("error", f"no folder {NAME}/")),
    "no_notebook": (make_no_notebook, ("error", "no notebook", f"submit {NAME}.ipynb")),
    "two_wrong_names": (make_two_wrong_names, ("error", "several notebooks", f"{NAME}.ipynb")),
    "fifo": (make_fifo, ("error", "not a regular file", "submit the notebook file itself")),
    "symlink_to_teacher": (make_symlink_to_teacher, ("error", "is a link", "submit the notebook file itself")),
    "folder_link_to_teacher": (make_folder_link, ("error", "is a link", "submit the folder itself")),
    "cell_deleted": (make_deleted, ("cell", "rnn_forward", "no cell with the id of rnn_forward",
                                    "copy it back from the release")),
    "cell_duplicated": (make_duplicated, ("cell", "lstm_cell_forward",
                                          "2 cells carry the id of lstm_cell_forward",
                                          "delete the copies")),
    "cell_markdown": (make_markdown, ("cell", "rnn_backward", "markdown",
                                      "change it back to a code cell")),
    "function_renamed": (make_renamed, ("cell", "rnn_forward", "no function named rnn_forward")),
    "cells_reordered": (make_reordered, ("full",)),
    "nbformat_v3": (make_v3, ("full",)),
    "unexpected_name": (make_unexpected_name, ("full",)),
    # metadata and names that used to reach the parent's outputs as they were (issue 11)
    "cell_type_not_text": (_set_cell_type("lstm_forward", {"not": ["a", "text"]}),
                           ("cell", "lstm_forward", "change it back to a code cell")),
    "cell_type_escapes": (_set_cell_type("rnn_forward", "\x1b]0;owned\x07\u202e\udcff" + "x" * 100000),
                          ("cell", "rnn_forward", "change it back to a code cell")),
    "source_lone_surrogate": (_add_to_source("rnn_cell_backward", "\n# a lone \udcff surrogate\n"),
                              ("cell", "rnn_cell_backward")),
    "notebook_named_escapes": (make_escape_named, ("full",)),
    "link_named_escapes": (make_escape_named_link, ("error", "is a link", "submit the notebook file itself")),
}
HONEST = {"alice": {"*": "reference"}, "zoe": {"*": "reference"}, "frank": samples.SAMPLES["frank"]}


@pytest.fixture(scope="module")
def broken_batch(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("broken")
    course = make_course(scratch / "course")
    submitted = scratch / "submitted"
    release = nbformat.read(str(RELEASE), as_version=4)
    for student, plan in HONEST.items():
        write_nb(submitted, student, samples.make_notebook(release, plan))
    baseline, _ = run_grader(submitted, scratch / "baseline-out", course, "--no-gradebook",
                             scratch=scratch)
    for student, (make, _) in BROKEN.items():
        make(submitted, student)
    results, proc = run_grader(submitted, scratch / "out", course, "--no-gradebook", scratch=scratch)
    return results, baseline, scratch / "out", proc


def test_every_student_is_in_the_results(broken_batch, record_property):
    """Did the batch go on past every broken file and grade everybody?"""
    results, _, _, _ = broken_batch
    record_property("isolation", results["isolation"])
    assert set(results["students"]) == set(BROKEN) | set(HONEST)


def test_honest_students_are_unaffected(broken_batch, record_property):
    """Does each honest student get exactly the result they get without the broken files?"""
    results, baseline, _, _ = broken_batch
    lost = sum(baseline["students"][s]["total"] - results["students"][s]["total"] for s in HONEST)
    changed = [s for s in HONEST if results["students"][s] != baseline["students"][s]]
    record_property("corpus", {"kind": "broken files", "tried": len(BROKEN) + len(ALONE),
                               "honest": len(HONEST), "points_lost": lost,
                               "results_changed": len(changed)})
    for student in HONEST:
        assert results["students"][student] == baseline["students"][student], \
            f"{student} ({results['isolation']})"


def test_outputs_hold_only_plain_text(broken_batch):
    """Does every field of grades.csv and every line of the printed table read as plain text
    (no formula start, no control, bidi or surrogate character), and is every message of
    results.json valid UTF-8 and at most a few thousand characters?"""
    import csv
    import unicodedata
    results, _, out, proc = broken_batch
    hidden = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for field in row:
                assert field[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
                assert not [ch for ch in field if unicodedata.category(ch) in hidden], row
    table = proc.stdout.replace("\n", "")
    assert not [ch for ch in table if unicodedata.category(ch) in hidden]
    for entry in results["students"].values():
        for text in [entry["error"] or ""] + [f["message"] for f in entry["functions"].values()]:
            text.encode("utf-8")
            assert len(text) <= 10000


@pytest.mark.parametrize("student", sorted(BROKEN))
def test_broken_submission_gets_an_actionable_outcome(broken_batch, student):
    """Is the broken file refused as a whole (an `error` entry, 0 points) or does it cost only
    the damaged function, with a message saying what to do?"""
    results, _, out, _ = broken_batch
    entry = results["students"][student]
    kind, *want = BROKEN[student][1]
    if kind == "error":
        assert entry["error"], f"{student}: expected an error entry, got {entry}"
        for text in want:
            assert text.lower() in entry["error"].lower(), f"{student}: {entry['error']!r}"
        assert entry["total"] == 0.0 and entry["max"] == FULL
        page = (out / "feedback" / f"{student}.html").read_text()
        assert want[0].split("/")[0].lower() in page.lower(), f"{student}: error not in feedback page"
    elif kind == "cell":
        function, *texts = want
        assert entry["error"] is None, entry["error"]
        got = entry["functions"][function]
        assert got["passed"] is False and got["score"] == 0.0, got
        for text in texts:
            assert text.lower() in got["message"].lower(), f"{student}: {got['message']!r}"
        others = {f: r["score"] for f, r in entry["functions"].items() if f != function}
        assert others == {f: POINTS[f] for f in others}, f"{student}: {others}"
    else:
        assert entry["error"] is None, entry["error"]
        assert entry["total"] == FULL, {f: r["message"][:200] for f, r in entry["functions"].items()
                                        if not r["passed"]}


# ---------------------------------------------------------------------------
# submissions that could stop the whole batch: one batch each
# ---------------------------------------------------------------------------


def make_metadata_not_dict(root, student):
    nb = json.loads(reference_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "lstm_forward":
            cell["metadata"]["nbgrader"] = "oops"  # valid JSON, wrong shape
    write_bytes(root, student, json.dumps(nb).encode())


def make_directory(root, student):
    (folder(root, student) / f"{NAME}.ipynb").mkdir()


ALONE = {
    "metadata_not_dict": make_metadata_not_dict,
    "notebook_is_a_directory": make_directory,
}


@pytest.mark.parametrize("student", list(ALONE))
def test_batch_survives(tmp_path, student):
    """Does a batch holding this submission finish, grade the honest student, and give the
    broken one an error entry?"""
    course = make_course(tmp_path / "course")
    submitted = tmp_path / "submitted"
    write_nb(submitted, "alice", reference_nb())
    ALONE[student](submitted, student)
    out = tmp_path / "out"
    proc = subprocess.run(grade_cmd(submitted, out, course, "--no-gradebook"), cwd=KIT,
                          env=grader_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["students"]["alice"]["total"] == FULL
    entry = results["students"][student]
    assert entry["error"] or any(not r["passed"] for r in entry["functions"].values()), entry
