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

__all__ = ["grade_cell_name", "default_db_url", "write_gradebook", "GradebookWriter", "BackgroundWriter"]

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


class GradebookWriter:
    """Writes students' scores into the gradebook one at a time (see the module docstring).

    Opening it checks the assignment's structure, so a mismatch raises ValueError before
    anything is written.  Use it from one thread only, and close() it: that saves what
    was written (or, with commit=False, throws away what the last student had unsaved).
    """

    def __init__(self, course_root: Path, db_url: str | None, assignment: str, *,
                 notebook: str | None = None, course_id: str = "",
                 functions: list[str] | None = None) -> None:
        if not assignment:
            raise ValueError("results has no 'assignment' name")
        self.assignment = assignment
        self.notebook = notebook or assignment
        self.functions = list(functions or FUNCTIONS)
        self.db_url = db_url or default_db_url(course_root)
        self.gb = _open_gradebook(self.db_url, course_id)
        try:
            self.cell_max = self._check()
            self.known = {student.id for student in self.gb.students}
        except BaseException:
            self.close(commit=False)
            raise
        # nbgrader commits after each student and submission it adds.  By default every
        # commit expires every object the session has loaded, and the assignment, its
        # notebook and grade cells would be read again for each student.  Nothing else
        # writes them while this runs, so they stay loaded.
        self.gb.db().expire_on_commit = False
        self.written = 0

    FORGET_EVERY = 200  # students

    def _check(self) -> dict[str, float]:
        """{function: max score of its grade cell}; ValueError if the gradebook lacks one."""
        try:
            self.gb.find_notebook(self.notebook, self.assignment)
        except MissingEntry as exc:
            raise ValueError(
                f"the gradebook at {self.db_url} has no notebook {self.notebook!r} in assignment "
                f"{self.assignment!r}; run 'nbgrader generate_assignment {self.assignment}' first"
            ) from exc
        cell_max, missing = {}, []
        for name in self.functions:
            try:
                cell = self.gb.find_grade_cell(grade_cell_name(name), self.notebook, self.assignment)
            except MissingEntry:
                missing.append(grade_cell_name(name))
            else:
                cell_max[name] = float(cell.max_score)
        if missing:
            raise ValueError(
                f"assignment {self.assignment!r} in {self.db_url} lacks the grade cells "
                f"{', '.join(missing)}"
            )
        return cell_max

    def write(self, student_id: str, entry: dict | None) -> None:
        """Store one student's results entry (their scores are saved by the next commit)."""
        student_id = str(student_id)
        entry = entry or {}
        given = {} if entry.get("error") else (entry.get("functions") or {})
        if student_id not in self.known:
            self.gb.add_student(student_id)
            self.known.add(student_id)
        with warnings.catch_warnings():
            # nbgrader's add_submission builds objects in an order that makes
            # SQLAlchemy warn "... not in session, add operation ... will not
            # proceed"; the rows are saved all the same (as in autograde).
            warnings.filterwarnings("ignore", message=r".*not in session",
                                    category=sa_exc.SAWarning)
            submission = self.gb.update_or_create_submission(self.assignment, student_id)
        # the submission's grades, read through its relationships (one query, not one
        # find_grade query per function); nbgrader mirrored every grade cell into them
        grades = {grade.name: grade for nb in submission.notebooks if nb.name == self.notebook
                  for grade in nb.grades}
        for name in self.functions:
            score = _score((given.get(name) or {}).get("score"))
            if not 0.0 <= score <= self.cell_max[name]:
                log.warning("%s: score %s for %s is outside [0, %s]",
                            student_id, score, name, self.cell_max[name])
            grade = grades[grade_cell_name(name)]
            grade.auto_score = score
            grade.needs_manual_grade = grade.manual_score is not None
        # nbgrader commits as it adds each student and finds or adds each submission, which
        # also saves the scores set just before; the last student's are saved by close()
        self.written += 1
        if self.written % self.FORGET_EVERY == 0:
            # What the session loaded (every submission and grade so far, also through the
            # assignment's and grade cells' collections) would grow with the class: save it
            # and let it go.  The assignment is read again once for the next students.
            self.gb.db.commit()
            self.gb.db.expunge_all()

    def close(self, commit: bool = True) -> None:
        if self.gb is None:
            return
        try:
            if commit:
                self.gb.db.commit()
            else:
                self.gb.db.rollback()
        finally:
            self.gb.close()
            self.gb.engine.dispose()
            self.gb = None

    def __enter__(self) -> "GradebookWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.close(commit=kind is None)


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
    students = results.get("students") or {}
    with GradebookWriter(course_root, db_url, str(results.get("assignment") or ""),
                         notebook=notebook, course_id=course_id,
                         functions=_functions(students)) as writer:
        for student_id in sorted(students, key=str):
            writer.write(student_id, students[student_id])


class BackgroundWriter:
    """A GradebookWriter in a thread of its own, fed while the batch is still grading.

    The gradebook is opened and checked in that thread before this returns (so a
    missing gradebook stops the batch before any grading); put() queues an entry;
    finish() waits until everything queued is saved and raises what the thread met.
    """

    _DONE = object()

    def __init__(self, course_root: Path, db_url: str | None, assignment: str) -> None:
        import queue
        import threading
        self.queue: "queue.Queue" = queue.Queue()
        self.error: BaseException | None = None
        self.stopped = False
        opened = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(course_root, db_url, assignment, opened),
                                       name="gradebook-writer", daemon=True)
        self.thread.start()
        opened.wait()
        if self.error is not None:
            self.thread.join()
            raise self.error

    def _run(self, course_root, db_url, assignment, opened) -> None:
        try:
            writer = GradebookWriter(course_root, db_url, assignment)
        except BaseException as error:  # noqa: BLE001 -- handed to the caller
            self.error = error
            opened.set()
            return
        opened.set()
        try:
            while True:
                item = self.queue.get()
                if item is self._DONE:
                    break
                writer.write(*item)
        except BaseException as error:  # noqa: BLE001 -- handed to finish()
            self.error = error
        finally:
            try:
                writer.close(commit=self.error is None)
            except BaseException as error:  # noqa: BLE001
                self.error = self.error or error

    def put(self, student_id: str, entry: dict) -> None:
        self.queue.put((student_id, entry))

    def stop(self) -> None:
        """No more entries: the thread saves what is queued and ends (finish() waits for it)."""
        if not self.stopped:
            self.stopped = True
            self.queue.put(self._DONE)

    def finish(self) -> None:
        self.stop()
        self.thread.join()
        if self.error is not None:
            raise self.error
