"""Copy the batch grader's scores into the nbgrader gradebook.

After ``write_gradebook`` has run, ``nbgrader export`` and formgrader show
the batch grader's scores as if ``nbgrader autograde`` had produced them.

What must already be in the database (``nbgrader generate_assignment``
puts it there): the assignment, a notebook of the same name, and one grade
cell ``test_<function>`` per graded function.  This module never creates
or changes those; if one is missing it raises ``ValueError`` before writing
anything.

For each student in the results it:

* creates the student if the gradebook does not know them yet;
* creates the submission, or reuses the existing one;
* sets ``auto_score`` of every ``test_<function>`` grade to the function's
  score (0 for a function missing from the results, and 0 for every
  function when the whole submission failed, i.e. ``error`` is set).

Manual scores and extra credit a grader entered in formgrader are left
untouched (nbgrader lets a manual score override the automatic one), and
``needs_manual_grade`` follows the rule ``nbgrader autograde`` uses: a grade
needs review only if someone has already scored it by hand.  Running the
function twice on the same results leaves the database as after one run.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from .report import FUNCTIONS

__all__ = ["grade_cell_name", "default_db_url", "write_gradebook"]

log = logging.getLogger(__name__)


def grade_cell_name(function: str) -> str:
    """Name of the nbgrader grade cell holding a function's tests."""
    return f"test_{function}"


def default_db_url(course_root: Path) -> str:
    """The SQLite gradebook nbgrader uses by default for ``course_root``."""
    return "sqlite:///" + str(Path(course_root).resolve() / "gradebook.db")


@contextlib.contextmanager
def _venv_on_path() -> Iterator[None]:
    """Let nbgrader find the ``alembic`` command of this interpreter's environment.

    ``Gradebook()`` runs ``alembic`` as a subprocess when it meets a database
    without tables; with the venv's python called by full path (not
    activated), that command is not on PATH.
    """
    bindir = os.path.dirname(sys.executable)
    old = os.environ.get("PATH")
    os.environ["PATH"] = bindir + os.pathsep + (old or "")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


def _open_gradebook(db_url: str, course_id: str) -> Gradebook:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            # Opening it would create an empty gradebook, which helps nobody.
            raise ValueError(
                f"no gradebook at {url.database}; run 'nbgrader generate_assignment' "
                "in the course directory first"
            )
    with _venv_on_path():
        return Gradebook(db_url, course_id=course_id)


def _score(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _functions(students: dict) -> list[str]:
    extra = set()
    for entry in students.values():
        extra.update((entry or {}).get("functions") or {})
    return list(FUNCTIONS) + sorted(extra - set(FUNCTIONS))


def write_gradebook(results: dict, course_root: Path, db_url: str | None = None, *,
                    notebook: str | None = None, course_id: str = "") -> None:
    """Store every student's per-function scores as nbgrader autograde scores.

    ``results`` is the batch grader's results dict.  ``db_url`` defaults to
    ``sqlite:///<course_root>/gradebook.db``.  ``notebook`` is the notebook's
    name in the gradebook and defaults to the assignment name.
    ``course_id`` is only passed on to :class:`nbgrader.api.Gradebook`; the
    default ``""`` keeps it from adding a course row that the assignment does
    not belong to.
    """
    assignment = str(results.get("assignment") or "")
    if not assignment:
        raise ValueError("results has no 'assignment' name")
    notebook = notebook or assignment
    students = results.get("students") or {}
    functions = _functions(students)
    if db_url is None:
        db_url = default_db_url(course_root)

    gb = _open_gradebook(db_url, course_id)
    try:
        # Check the assignment's structure first, so a mismatch writes nothing.
        try:
            gb.find_notebook(notebook, assignment)
        except MissingEntry as exc:
            raise ValueError(
                f"the gradebook at {db_url} has no notebook {notebook!r} in assignment "
                f"{assignment!r}; run 'nbgrader generate_assignment {assignment}' first"
            ) from exc
        cell_max = {}
        missing = []
        for name in functions:
            try:
                cell = gb.find_grade_cell(grade_cell_name(name), notebook, assignment)
            except MissingEntry:
                missing.append(grade_cell_name(name))
            else:
                cell_max[name] = float(cell.max_score)
        if missing:
            raise ValueError(
                f"assignment {assignment!r} in {db_url} lacks the grade cells "
                f"{', '.join(missing)}"
            )

        for student_id in sorted(students, key=str):
            entry = students[student_id] or {}
            given = {} if entry.get("error") else (entry.get("functions") or {})
            gb.update_or_create_student(str(student_id))
            with warnings.catch_warnings():
                # nbgrader's add_submission builds objects in an order that makes
                # SQLAlchemy warn "... not in session, add operation ... will not
                # proceed"; the rows are saved all the same (as in autograde).
                warnings.filterwarnings("ignore", message=r".*not in session",
                                        category=sa_exc.SAWarning)
                gb.update_or_create_submission(assignment, str(student_id))
            for name in functions:
                score = _score((given.get(name) or {}).get("score"))
                if not 0.0 <= score <= cell_max[name]:
                    log.warning("%s: score %s for %s is outside [0, %s]",
                                student_id, score, name, cell_max[name])
                grade = gb.find_grade(grade_cell_name(name), notebook, assignment,
                                      str(student_id))
                grade.auto_score = score
                grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
    except BaseException:
        gb.db.rollback()
        raise
    finally:
        gb.close()
        gb.engine.dispose()
