"""Does `nbgrader validate` fail what the batch grader scores 0, and only that?

One notebook holds the reference everywhere except three functions, each lost
for a reason the published example shows: retyped in a new cell (its graded
cell keeps the stub), its graded cell deleted and the function written in a
new cell, and a wrong value on the example.  A second one has a graded cell
duplicated (nbgrader's Validator refuses it outright; the visible check says
so when run in Jupyter).  nbgrader's own Validator (the exit code of
`nbgrader validate` is 0 either way) and the batch grader's real command line
both see them.
"""
import copy
import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import assignment
from autograder.course import nbgrader_cli, samples

from conftest import NAME, make_course, nbgrader

RETYPED, DUPLICATED, DELETED, WRONG = ("rnn_forward", "lstm_cell_backward", "rnn_cell_backward",
                                       "lstm_cell_forward")


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def broken_notebook(release, duplicate=False):
    """The reference notebook with the three problems written in (or only the duplicate)."""
    reference = assignment.reference_sources()
    plan = {"*": "reference", RETYPED: "release",
            WRONG: reference[WRONG].replace("np.concatenate((a_prev, xt), axis=0)",
                                            "np.concatenate((xt, a_prev), axis=0)")}
    nb = samples.make_notebook(release, {"*": "reference"} if duplicate else plan)
    cells = []
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        if grade_id == DUPLICATED and duplicate:
            twin = copy.deepcopy(cell)
            twin["id"] = "a-copied-cell"
            cells += [cell, twin]
            continue
        if duplicate:
            cells.append(cell)
            continue
        if grade_id == DELETED:
            cells.append(nbformat.v4.new_code_cell(reference[DELETED]))
            continue
        cells.append(cell)
        if grade_id == RETYPED:
            cells.append(nbformat.v4.new_code_cell(reference[RETYPED]))
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("validate"))
    nbgrader(course, "generate_assignment", NAME, "--force")
    release = nbformat.read(str(course / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    for student, nb in (("broken", broken_notebook(release)),
                        ("duplicated", broken_notebook(release, duplicate=True)),
                        ("correct", samples.make_notebook(release, {"*": "reference"}))):
        folder = course / "submitted" / student / NAME
        shutil.copytree(course / "release" / NAME, folder)
        nbformat.write(nb, str(folder / f"{NAME}.ipynb"))
    return course


def _failed_functions(results):
    failed = set()
    for cell in results.get("failed", []):
        hits = [f for f in assignment.FUNCTIONS if f'assert_implemented("{f}", {f})' in cell["source"]]
        assert len(hits) == 1, cell["source"]
        failed.add(hits[0])
    return failed


@pytest.fixture(scope="module")
def validated(course):
    from nbgrader.validator import Validator
    return {student: Validator().validate(str(course / "submitted" / student / NAME / f"{NAME}.ipynb"))
            for student in ("broken", "correct")}


def test_validate_fails_exactly_the_lost_functions(validated, course):
    """Does the Validator fail the graded cells of the three functions and no other, pass the
    correct notebook, and refuse the one with a duplicated graded cell?"""
    from nbformat import ValidationError  # jsonschema's, as nbformat re-exports it
    from nbgrader.validator import Validator
    assert _failed_functions(validated["broken"]) == {RETYPED, DELETED, WRONG}
    assert validated["correct"] == {}
    with pytest.raises(ValidationError):
        Validator().validate(str(course / "submitted" / "duplicated" / NAME / f"{NAME}.ipynb"))


def test_validate_says_why_in_words(validated):
    """Does each failed cell's error say what is wrong and what to do?"""
    errors = {f: cell["raw_error"] for f in assignment.FUNCTIONS
              for cell in validated["broken"].get("failed", [])
              if f'assert_implemented("{f}", {f})' in cell["source"]}
    assert "last defined in another cell" in errors[RETYPED]  # the kernel keeps the copy
    assert "has no graded cell for rnn_cell_backward" in errors[DELETED]
    assert "lstm_cell_forward is wrong on this example" in errors[WRONG]
    for error in errors.values():
        assert "HIDDEN" not in error and "autograder" not in error


def test_validate_fails_a_function_retyped_below_its_implemented_cell(course, tmp_path):
    """When the graded cell holds one version and a later cell another (the one the kernel
    keeps), does validate say the function was last defined elsewhere?"""
    from nbgrader.validator import Validator
    folder = tmp_path / NAME
    shutil.copytree(course / "submitted" / "correct" / NAME, folder)
    nb = nbformat.read(str(folder / f"{NAME}.ipynb"), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == "rnn_cell_forward")
    later = assignment.reference_sources()["rnn_cell_forward"].replace("# GRADED FUNCTION", "# my copy")
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(later))
    nbformat.write(nb, str(folder / f"{NAME}.ipynb"))
    results = Validator().validate(str(folder / f"{NAME}.ipynb"))
    assert _failed_functions(results) == {"rnn_cell_forward"}
    assert "last defined in another cell" in results["failed"][0]["raw_error"]


def test_the_batch_grader_scores_zero_exactly_where_validate_fails(course, validated):
    """Does `python -m autograder grade` give 0 to the functions validate failed, full marks to
    the others, and full marks to the correct notebook?"""
    out = course / "grading-output"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--out", str(out), "--course", str(course), "--no-progress"],
                          capture_output=True, text=True,
                          env=nbgrader_cli.environment({"NBGRADER_DB_URL": ""}), timeout=900)
    assert proc.returncode == 0, proc.stderr
    students = json.loads((out / "results.json").read_text())["students"]
    wanted = {"broken": _failed_functions(validated["broken"]), "duplicated": {DUPLICATED},
              "correct": set()}
    for student, lost in wanted.items():
        zero = {f for f, v in students[student]["functions"].items() if v["score"] == 0}
        assert zero == lost, student
        full = {f for f, v in students[student]["functions"].items() if v["score"] == v["max"]}
        assert full == set(assignment.FUNCTIONS) - zero


def test_the_visible_check_finds_a_duplicated_graded_cell(course, tmp_path, monkeypatch):
    """Run as Jupyter runs a cell (its text registered in linecache), does the graded cell's
    visible check fail a function whose graded cell was copied, and pass it otherwise?"""
    import linecache

    import rnn_checks
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    source = assignment.reference_sources()[DUPLICATED]
    filename = str(tmp_path / "ipykernel_cell.py")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = assignment.new_namespace()
    exec(compile(source, filename, "exec"), ns)
    try:
        for student, problem in (("duplicated", "2 cells"), ("correct", None)):
            folder = course / "submitted" / student / NAME
            found = rnn_checks.cell_problem(DUPLICATED, ns[DUPLICATED], folder)
            assert (found is None) if problem is None else (problem in found and "delete the copies" in found)
    finally:
        linecache.cache.pop(filename, None)
