"""Does the real nbgrader pipeline grade the notebook fairly?  (scratch course, real CLI)"""
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import assignment, samples

from conftest import NAME, gradebook_scores, make_course, nbgrader


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("course"))
    nbgrader(course, "generate_assignment", NAME, "--force")
    return course


def test_teacher_notebook_runs_top_to_bottom_without_errors_or_stderr(course):
    """Does the source notebook execute from top to bottom with no error and nothing on stderr?"""
    folder = course / "source" / NAME
    nb = nbformat.read(str(folder / f"{NAME}.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
            assert not (out.output_type == "stream" and out.name == "stderr"), f"cell {i}: {out.text}"
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert printed.count("The visible checks pass.") == len(assignment.FUNCTIONS)
    assert printed.count("Passed all cases.") == len(assignment.FUNCTIONS)


def _validate(path):
    from nbgrader.validator import Validator
    return Validator().validate(str(path))


def test_nbgrader_validate_passes_on_source(course):
    """Does `nbgrader validate` report success on the source notebook (its exit code is 0 either way)?"""
    proc = nbgrader(course, "validate", f"source/{NAME}/{NAME}.ipynb")
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout + proc.stderr


def test_release_fails_every_grade_cell(course, tmp_path):
    """Does the untouched release fail every grade cell when validated?"""
    work = tmp_path / NAME
    shutil.copytree(course / "release" / NAME, work)
    results = _validate(work / f"{NAME}.ipynb")
    failed = results.get("failed", [])
    assert len(failed) == len(assignment.FUNCTIONS), results.keys()
    for name in assignment.FUNCTIONS:
        cell = [c for c in failed if f'assert_implemented("{name}", {name})' in c["source"]]
        assert len(cell) == 1, name
        assert "NotImplementedError" in cell[0]["error"] or "not implemented yet" in cell[0]["error"]


def test_autograde_scores_every_sample_fairly(graded_course):
    """Does nbgrader autograde give full marks to the reference, zero to the release, and take
    exactly the buggy functions' points from each sample (seed 001 and 002 bugs included)?"""
    scores = gradebook_scores(graded_course)
    points = assignment.points()
    for student, failing in samples.EXPECTED_FAILURES.items():
        for function in assignment.FUNCTIONS:
            want = 0.0 if function in failing else points[function]
            assert scores[student][function] == want, (student, function, scores[student])
