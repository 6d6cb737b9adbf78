"""Is the student release what it should be, and does it match a fresh build?"""
import re
from pathlib import Path

import nbformat
import pytest

import rnn_checks
import rnn_utils
from autograder import assignment
from autograder.course import build

ROOT = Path(__file__).resolve().parent.parent
NAME = assignment.ASSIGNMENT
RELEASE = ROOT / "release" / NAME
SOURCE = ROOT / "source" / NAME


def release_nb():
    return nbformat.read(str(RELEASE / f"{NAME}.ipynb"), as_version=4)


def source_nb():
    return nbformat.read(str(SOURCE / f"{NAME}.ipynb"), as_version=4)


def cells_by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def test_release_equals_a_fresh_build():
    """Do the committed source/ and release/ equal what the build makes from notebooks/ now?"""
    problems = build.drift(log=lambda msg: None)
    assert problems == [], "run `python -m autograder build` and commit:\n" + "\n".join(problems)


def test_release_holds_only_the_notebook_helpers_data_and_images():
    """Does the release ship nothing but the notebook, the two helper files, the example data
    and the images, each helper a byte copy of the kit's one copy?"""
    files = sorted(str(p.relative_to(RELEASE)) for p in RELEASE.rglob("*") if p.is_file())
    images = {"images/" + f for f in ("rnn_cell.png", "rnn_unrolled.png", "lstm_cell.png",
                                      "backprop_through_time.png", "vanishing_gradient.png")}
    assert set(files) == {f"{NAME}.ipynb", "rnn_utils.py", "rnn_checks.py",
                          "rnn_example_data.npz"} | images
    for helper in build.HELPERS:
        assert (RELEASE / helper).read_bytes() == (ROOT / helper).read_bytes()
        assert (SOURCE / helper).read_bytes() == (ROOT / helper).read_bytes()
    assert not (ROOT / "rnn_example_data.npz").exists()  # generated into source/ only


def test_release_has_no_solutions_hidden_tests_or_outputs():
    """Is the release free of solution code, hidden tests, the grader and outputs?"""
    nb = release_nb()
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder", " check("):
        assert marker not in text, marker
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    # no line of any reference solution region survives (unless the teacher
    # also wrote it outside the solution regions, as given code)
    teacher = "\n".join(c.source for c in source_nb().cells)
    given = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", teacher, flags=re.S)
    for name, source in assignment.reference_sources().items():
        region = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in region.splitlines():
            code = line.split("#")[0].strip()
            if len(code) > 12 and code not in given:
                assert code not in text, f"solution line of {name} in the release: {code}"


def test_each_graded_function_lives_alone_in_its_solution_cell():
    """Is every function in its own solution cell, named by grade_id, under a GRADED FUNCTION header?"""
    for nb in (source_nb(), release_nb()):
        cells = cells_by_id(nb)
        for name in assignment.FUNCTIONS:
            cell = cells[name]
            meta = cell.metadata["nbgrader"]
            assert meta["solution"] and not meta["grade"]
            assert cell.source.startswith(f"# GRADED FUNCTION: {name}\n")
            assert re.findall(r"^def (\w+)", cell.source, flags=re.M) == [name]
            test = cells[assignment.test_cell_id(name)]
            assert test.metadata["nbgrader"]["grade"] and test.metadata["nbgrader"]["points"] > 0


def test_code_here_markers_and_hints_survive_in_the_release():
    """Do the START/END CODE HERE lines, hint included, frame a stub in every released function?"""
    teacher = cells_by_id(source_nb())
    for name, cell in ((n, c) for n, c in cells_by_id(release_nb()).items() if n in assignment.FUNCTIONS):
        start = re.search(r"^ *### START CODE HERE ### \(≈(\d+) lines?\)$", cell.source, flags=re.M)
        assert start, name
        assert start.group(0) in teacher[name].source
        body = cell.source[start.end():cell.source.index("### END CODE HERE ###")]
        assert "raise NotImplementedError(" in body


@pytest.mark.parametrize("name", assignment.FUNCTIONS)
def test_hint_line_count_is_honest(name):
    """Is the (≈N lines) hint within a factor of two of the reference's line count?"""
    source = assignment.reference_sources()[name]
    hint = int(re.search(r"\(≈(\d+) lines?\)", source).group(1))
    region = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    lines = [l for l in region.splitlines() if l.strip() and not l.strip().startswith("#")]
    assert hint / 2 <= len(lines) <= hint * 2, (name, hint, len(lines))


def test_every_released_code_cell_compiles():
    """Does every code cell of the release compile?"""
    for i, cell in enumerate(release_nb().cells):
        if cell.cell_type == "code":
            compile(cell.source, f"<release cell {i}>", "exec")


@pytest.mark.parametrize("name", assignment.FUNCTIONS)
def test_untouched_release_raises_not_implemented(name):
    """Does each untouched released function stop with a clear 'not implemented' error, not a TypeError?"""
    ns = {}
    exec(compile(cells_by_id(release_nb())["setup"].source, "<setup>", "exec"), ns)
    exec(compile(cells_by_id(release_nb())[name].source, "<cell>", "exec"), ns)
    with pytest.raises(NotImplementedError, match="Not implemented yet"):
        ns[name](*rnn_checks.placeholder_arguments(name))
    with pytest.raises(rnn_utils.CheckFailed, match=f"{name} is not implemented yet"):
        rnn_utils.assert_implemented(name, ns[name])


def test_assert_implemented_ignores_a_stub_in_a_called_function():
    """Does a loop function count as implemented when only the cell function it calls is a stub?"""
    ns = {}
    exec(compile(cells_by_id(release_nb())["setup"].source, "<setup>", "exec"), ns)
    exec(compile(cells_by_id(release_nb())["rnn_cell_forward"].source, "<cell>", "exec"), ns)
    exec(compile(assignment.reference_sources()["rnn_forward"], "<cell>", "exec"), ns)
    rnn_utils.assert_implemented("rnn_forward", ns["rnn_forward"])  # must not raise


def test_markdown_never_mentions_nbgrader_markers():
    """Is no nbgrader delimiter mentioned in markdown (nbgrader matches them as substrings)?"""
    for cell in source_nb().cells:
        if cell.cell_type == "markdown":
            for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
                assert marker not in cell.source


def test_images_are_embedded_with_alt_text():
    """Is every diagram and the gradient plot embedded in the notebook with alt text?"""
    text = "\n".join(c.source for c in release_nb().cells if c.cell_type == "markdown")
    embedded = dict(re.findall(r'<img src="images/([\w.]+)" alt="([^"]+)"', text))
    assert set(embedded) == {"rnn_cell.png", "rnn_unrolled.png", "lstm_cell.png",
                             "backprop_through_time.png", "vanishing_gradient.png"}
    assert all(len(alt) > 30 for alt in embedded.values())
