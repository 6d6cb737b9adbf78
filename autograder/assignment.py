"""What the assignment is, read from the teacher notebook.

The teacher notebook (notebooks/<assignment>.py, jupytext py:percent) is the
only place where the reference solutions, the points and the setup code are
written down.  Everything else in the grader asks this module.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

import rnn_utils

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "rnn_step_by_step"
TEACHER_NOTEBOOK = ROOT / "notebooks" / f"{ASSIGNMENT}.py"

# The functions in the order the notebook introduces them.
FUNCTIONS = rnn_utils.FUNCTIONS

# The one other graded function each function calls, if any.  The grader
# replaces it with a correct one, so a mistake there is not charged twice.
DEPENDS_ON = {
    "rnn_forward": "rnn_cell_forward",
    "lstm_forward": "lstm_cell_forward",
    "rnn_backward": "rnn_cell_backward",
    "lstm_backward": "lstm_cell_backward",
}

SETUP_CELL = "setup"


def test_cell_id(function):
    """grade_id of the graded test cell of `function`."""
    return f"test_{function}"


@dataclass(frozen=True)
class GradedFunction:
    name: str
    points: float
    reference_source: str  # the teacher's whole solution cell


@functools.lru_cache(maxsize=None)
def teacher_notebook(path=TEACHER_NOTEBOOK):
    """The teacher notebook as an nbformat notebook (jupytext: imported only here)."""
    import jupytext
    return jupytext.read(str(path), fmt="py:percent")


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def parse_teacher_notebook(path=TEACHER_NOTEBOOK):
    """(setup cell source or None, graded functions in notebook order with points and
    reference code)."""
    nb = teacher_notebook(path)
    cells = {_grade_id(c): c for c in nb.cells if _grade_id(c)}
    out = []
    for name in FUNCTIONS:
        solution = cells.get(name)
        test = cells.get(test_cell_id(name))
        if solution is None or not solution.metadata["nbgrader"].get("solution"):
            raise LookupError(f"{path}: no solution cell with grade_id {name!r}")
        if test is None or not test.metadata["nbgrader"].get("grade"):
            raise LookupError(f"{path}: no graded test cell with grade_id {test_cell_id(name)!r}")
        out.append(GradedFunction(name, float(test.metadata["nbgrader"]["points"]), solution.source))
    setup = next((c.source for c in nb.cells if _grade_id(c) == SETUP_CELL), None)
    return setup, tuple(out)


# path -> parse_teacher_notebook(path); the batch grader fills it from its case cache
# (autograder.grading.casecache) so that a warm start never imports jupytext.
_FACTS = {}


def use_facts(setup, functions):
    """Take the teacher notebook's facts from the batch grader's case cache."""
    _FACTS[TEACHER_NOTEBOOK] = (setup, tuple(functions))


def notebook_facts(path=TEACHER_NOTEBOOK):
    if path not in _FACTS:
        _FACTS[path] = parse_teacher_notebook(path)
    return _FACTS[path]


def graded_functions(path=TEACHER_NOTEBOOK):
    """The graded functions, in notebook order, with points and reference code."""
    return notebook_facts(path)[1]


def points():
    """function name -> points."""
    return {f.name: f.points for f in graded_functions()}


def setup_source(path=TEACHER_NOTEBOOK):
    """Source of the locked setup cell that every submission starts from."""
    setup = notebook_facts(path)[0]
    if setup is None:
        raise LookupError(f"{path}: no setup cell with grade_id {SETUP_CELL!r}")
    return setup


def reference_sources():
    """function name -> the teacher's solution cell source."""
    return {f.name: f.reference_source for f in graded_functions()}


def new_namespace():
    """A fresh module namespace with the setup cell run in it."""
    ns = {"__name__": "__submission__", "__builtins__": __builtins__}
    exec(compile(setup_source(), "<setup>", "exec"), ns)
    return ns


@functools.lru_cache(maxsize=None)
def _reference_namespace():
    ns = new_namespace()
    for name, source in reference_sources().items():
        exec(compile(source, f"<reference {name}>", "exec"), ns)
    return ns


def reference(name):
    """The teacher's implementation of one graded function."""
    return _reference_namespace()[name]
