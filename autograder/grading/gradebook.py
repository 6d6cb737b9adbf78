"""Copy the batch grader's scores into the nbgrader gradebook.

After ``write_gradebook`` has run, ``nbgrader export`` and formgrader show
the batch grader's scores as if ``nbgrader autograde`` had produced them.

What the gradebook needs first: the assignment, a notebook of the same name,
and its cells (one grade cell ``test_<function>`` per graded function, the
solution cells, the locked cells).  ``nbgrader generate_assignment`` puts
them there; on a course that has no gradebook yet (or whose gradebook lacks
the assignment) the writer creates them itself from the nbgrader source
notebook, ``<course>/source/<assignment>/<notebook>.ipynb``, as
``nbgrader autograde --create`` expects to find them.  An assignment that is
there but lacks a grade cell is a ValueError before anything is written.

For each student in the results it:

* creates the student if the gradebook does not know them yet;
* creates the submission, or reuses the existing one, with the time of
  ``timestamp.txt`` when there is one (``nbgrader export`` then shows how
  late it was);
* sets ``auto_score`` of every ``test_<function>`` grade to the function's
  score (0 for a function missing from the results, and 0 for every
  function when the whole submission failed, i.e. ``error`` is set);
* sets the automatic comment of every solution cell ``<function>`` to the
  grader's verdict on it (formgrader shows it; a grader's own comment wins).

Manual scores and extra credit a grader entered in formgrader are left
untouched (nbgrader lets a manual score override the automatic one), and
``needs_manual_grade`` follows the rule ``nbgrader autograde`` uses: a grade
needs review only if someone has already scored it by hand.  Running the
function twice on the same results leaves the database as after one run.

The rows are nbgrader's, in nbgrader's schema, with nbgrader's defaults, but they
are written as rows (a submission's at once, the scores straight to their
columns) and saved in one transaction a second rather than two a student;
through nbgrader's per-object API a student cost about 10 ms of CPU and nine disk syncs.

A gradebook that cannot be opened (a bad URL, a server that is down) raises
:class:`GradebookUnavailable`, whose message is one line with the URL's
password hidden.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from nbgrader.api import (Comment, Grade, Gradebook, MissingEntry, SubmittedAssignment, SubmittedNotebook,
                          new_uuid)
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import make_url

from .report import FUNCTIONS

__all__ = ["grade_cell_name", "default_db_url", "write_gradebook", "ensure_assignment", "GradebookWriter",
           "BackgroundWriter", "GradebookUnavailable", "describe_url"]

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


class GradebookUnavailable(ValueError):
    """The gradebook could not be opened or written; the message is one line."""


def describe_url(db_url: str) -> str:
    """The URL as it may be printed: the password hidden."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- not even a URL: show where it goes wrong, nothing more
        return repr(str(db_url)[:60])


def _one_line(error: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's background link."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def source_notebook(course_root: Path, assignment: str, notebook: str) -> Path:
    """The nbgrader source notebook the assignment's cells are read from."""
    return Path(course_root) / "source" / assignment / f"{notebook}.ipynb"


@contextlib.contextmanager
def _setup_lock(db_url: str) -> Iterator[None]:
    """Only one grader at a time creates tables and the assignment in a shared database.

    Two graders that start together on an empty PostgreSQL gradebook would otherwise both
    create the tables and the same cells, and one of them would fail.  A session-level
    advisory lock, held on a connection of its own, serialises them; SQLite needs none (the
    batch grader writes a SQLite gradebook from one process)."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        yield
        return
    from sqlalchemy import create_engine, text
    try:
        engine = create_engine(url)
        conn = engine.connect()
    except Exception as exc:  # noqa: BLE001 -- driver, network and URL errors of every kind
        raise GradebookUnavailable(f"the gradebook at {describe_url(db_url)} could not be opened: "
                                   f"{type(exc).__name__}: {_one_line(exc)}") from None
    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
    finally:
        conn.close()
        engine.dispose()


_LOCK_KEY = 0x6E62677264  # any fixed number; the same in every grader process


def _open_gradebook(db_url: str, course_id: str, creatable: Path | None = None) -> Gradebook:
    """Open the gradebook at db_url, creating a SQLite file only when ``creatable`` (the
    source notebook the assignment will be made from) exists; GradebookUnavailable when the
    database cannot be reached."""
    try:
        url = make_url(db_url)
    except Exception as exc:  # noqa: BLE001 -- sqlalchemy raises ArgumentError and others
        raise GradebookUnavailable(f"the gradebook URL {describe_url(db_url)} is not a database "
                                   f"URL ({_one_line(exc)}); fix --db-url or NBGRADER_DB_URL") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file() and (creatable is None or not creatable.is_file()):
            # an empty gradebook with nothing to put in it helps nobody
            where = f" nor a source notebook at {creatable}" if creatable else ""
            raise ValueError(
                f"no gradebook at {url.database}{where}; run 'python -m autograder build' "
                "(or 'nbgrader generate_assignment') in the course directory first"
            )
    try:
        with _venv_on_path():
            return Gradebook(db_url, course_id=course_id)
    except Exception as exc:  # noqa: BLE001 -- driver, network and URL errors of every kind
        raise GradebookUnavailable(f"the gradebook at {describe_url(db_url)} could not be opened: "
                                   f"{type(exc).__name__}: {_one_line(exc)}") from None


def config_course_id(course_root: Path) -> str:
    """CourseDirectory.course_id of the course's nbgrader_config.py, or nbgrader's default."""
    path = Path(course_root) / "nbgrader_config.py"
    if path.is_file():
        from traitlets.config.loader import PyFileConfigLoader
        section = PyFileConfigLoader(path.name, str(path.parent)).load_config().get("CourseDirectory", {})
        if section.get("course_id"):
            return str(section["course_id"])
    return DEFAULT_COURSE_ID


DEFAULT_COURSE_ID = "default_course"  # what nbgrader's Gradebook uses when it is given none


def ensure_assignment(gb: Gradebook, source: Path, assignment: str, notebook: str,
                      course_id: str = DEFAULT_COURSE_ID) -> bool:
    """Create the assignment, its notebook and cells from the source notebook if the
    gradebook lacks the notebook, as ``nbgrader generate_assignment`` records them
    (its SaveCells step), in the course ``course_id``.  True if something was created."""
    try:
        gb.find_notebook(notebook, assignment)
        return False
    except MissingEntry:
        pass
    if not Path(source).is_file():
        raise ValueError(
            f"the gradebook has no notebook {notebook!r} in assignment {assignment!r}, and there is "
            f"no source notebook at {source} to create it from; run 'python -m autograder build' "
            f"or 'nbgrader generate_assignment {assignment}' first"
        )
    import nbformat
    from nbgrader import utils
    nb = nbformat.read(str(source), as_version=4)
    try:
        gb.find_assignment(assignment)
    except MissingEntry:
        gb.check_course(course_id)  # the assignment's course must exist (PostgreSQL checks it)
        gb.update_or_create_assignment(assignment, course_id=course_id)
    gb.add_notebook(notebook, assignment, kernelspec=json.dumps(nb.metadata.get("kernelspec", {})))
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if utils.is_grade(cell):
            gb.update_or_create_grade_cell(grade_id, notebook, assignment, cell_type=cell.cell_type,
                                           max_score=float(cell.metadata.nbgrader["points"]))
        if utils.is_solution(cell):
            gb.update_or_create_solution_cell(grade_id, notebook, assignment)
        if utils.is_task(cell):
            gb.update_or_create_task_cell(grade_id, notebook, assignment, cell_type=cell.cell_type,
                                          max_score=float(cell.metadata.nbgrader["points"]))
        if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell) or utils.is_task(cell):
            gb.update_or_create_source_cell(grade_id, notebook, assignment, cell_type=cell.cell_type,
                                            locked=utils.is_locked(cell), source=cell.source,
                                            checksum=utils.compute_checksum(cell))
    gb.db.commit()
    log.info("created assignment %s (notebook %s) in the gradebook from %s", assignment, notebook, source)
    return True


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


def _timestamp(value: Any) -> datetime.datetime | None:
    """A results entry's ``submitted_at`` (ISO 8601, UTC) as the naive UTC datetime nbgrader stores."""
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


def verdict_comment(entry: dict, function: str) -> str:
    """The automatic comment on a function's solution cell: the grader's verdict in words."""
    if entry.get("error"):
        return f"Batch grader: the notebook could not be graded: {entry['error']}"
    result = (entry.get("functions") or {}).get(function)
    if not result:
        return "Batch grader: this function was not graded."
    head = (f"Batch grader: {_score(result.get('score')):g} / {_score(result.get('max')):g}, "
            + ("passed." if result.get("passed") else "not passed."))
    parts = [head]
    if result.get("message"):
        parts.append(str(result["message"]))
    codes = [str(c) for c in result.get("diagnosis") or []]
    if codes:
        parts.append("Diagnosis: " + ", ".join(codes))
    return "\n".join(parts)


_GRADE, _COMMENT = Grade.__table__, Comment.__table__
#: The automatic score of one grade row; it needs a manual look only if someone scored it by hand.
_SET_SCORE = update(_GRADE).where(_GRADE.c.notebook_id == bindparam("nb"), _GRADE.c.cell_id == bindparam("cell")) \
    .values(auto_score=bindparam("value"), needs_manual_grade=_GRADE.c.manual_score.isnot(None))
#: The automatic comment of one comment row.
_SET_COMMENT = update(_COMMENT).where(_COMMENT.c.notebook_id == bindparam("nb"), _COMMENT.c.cell_id == bindparam("cell")) \
    .values(auto_comment=bindparam("text"))


class GradebookWriter:
    """Writes students' scores into the gradebook one at a time (see the module docstring).

    Opening it checks the assignment's structure, so a mismatch raises ValueError before
    anything is written.  Use it from one thread only, and close() it: that saves what
    was written (or, with commit=False, throws away what the last student had unsaved).
    """

    def __init__(self, course_root: Path, db_url: str | None, assignment: str, *,
                 notebook: str | None = None, course_id: str = "",
                 functions: list[str] | None = None, autograded=None) -> None:
        """autograded -- an object whose write(student_id, entry, folder) is called after each
                         student (autograder.grading.autograded.AutogradedWriter), or None"""
        if not assignment:
            raise ValueError("results has no 'assignment' name")
        self.assignment = assignment
        self.notebook = notebook or assignment
        self.functions = list(functions or FUNCTIONS)
        self.db_url = db_url or default_db_url(course_root)
        self.autograded = autograded
        source = source_notebook(course_root, assignment, self.notebook)
        self.gb = None
        with _setup_lock(self.db_url):
            self.gb = _open_gradebook(self.db_url, course_id, creatable=source)
            try:
                self.created = ensure_assignment(self.gb, source, assignment, self.notebook,
                                                 config_course_id(course_root))
                self.cell_max = self._check()
                self.known = {student.id for student in self.gb.students}
                found = self.gb.find_assignment(assignment)
                self.assignment_id = found.id
                # what a submission has rows for: (notebook id, grade, solution and task cell ids)
                self.layout = [(nb.id, [c.id for c in nb.grade_cells], [c.id for c in nb.solution_cells],
                                [c.id for c in nb.task_cells]) for nb in found.notebooks]
                self.duedate = found.duedate  # naive UTC, as nbgrader stores it, or None
                # {student: extension} in one query of two columns, not the whole class's rows
                self.extensions = dict(self.gb.db.query(
                    SubmittedAssignment.student_id, SubmittedAssignment.extension).filter(
                    SubmittedAssignment.assignment_id == found.id,
                    SubmittedAssignment.extension.isnot(None)).all())
            except BaseException:
                self.close(commit=False)
                raise
        self._group_commits()
        self.written = 0

    FORGET_EVERY = 200  # students
    COMMIT_SECONDS = 1.0  # longest time a written student waits to be saved

    def _group_commits(self) -> None:
        """Save the students in groups, one database transaction a second, not two a student.

        nbgrader commits as it adds each student and each submission.  On SQLite each
        commit waits for the disk (four to five fsyncs: about nine a student, 2,644 for a
        class of 300 where this makes 288).  From here on, nbgrader's session is bound to
        a connection whose transaction this writer begins and commits: nbgrader's commits
        and rollbacks become SAVEPOINTs (SQLAlchemy's "join an external transaction"), so a
        failed step still undoes only itself, and _commit() saves everything written so
        far.  A student written but not yet saved when the grader is killed is written
        again by the next run, from the journal."""
        from sqlalchemy import create_engine, event
        from sqlalchemy.orm import scoped_session, sessionmaker
        url = make_url(self.db_url)
        engine = create_engine(url, echo=False)
        if url.get_backend_name() == "sqlite":
            # pysqlite begins and ends transactions by itself, which breaks SAVEPOINTs:
            # let SQLAlchemy emit BEGIN instead (its documented workaround)
            event.listen(engine, "connect", lambda dbapi, _record: setattr(dbapi, "isolation_level", None))
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        try:
            connection = engine.connect()
            transaction = connection.begin()
        except Exception as exc:  # noqa: BLE001 -- driver and network errors of every kind
            engine.dispose()
            self.close(commit=False)
            raise GradebookUnavailable(f"the gradebook at {describe_url(self.db_url)} could not be "
                                       f"opened: {type(exc).__name__}: {_one_line(exc)}") from None
        self.gb.db.remove()
        self.gb.engine.dispose()
        self.gb.engine, self.connection, self.transaction = engine, connection, transaction
        # expire_on_commit=False: the assignment, its notebook and grade cells, read once,
        # stay loaded across nbgrader's commits (nothing else writes them while this runs)
        self.gb.db = scoped_session(sessionmaker(bind=connection, autoflush=True, expire_on_commit=False,
                                                 join_transaction_mode="create_savepoint"))
        self.saved_at = time.monotonic()

    def _commit(self) -> None:
        """Save every student written so far (one transaction), and begin the next."""
        self.gb.db.commit()  # the last SAVEPOINT, into the transaction
        self.transaction.commit()
        self.transaction = self.connection.begin()
        self.saved_at = time.monotonic()

    def _check(self) -> dict[str, float]:
        """{function: max score of its grade cell}; ValueError if the gradebook lacks one.
        Also keeps the ids that write() needs: the notebook's, and those of each function's
        grade cell and (where there is one) solution cell."""
        try:
            self.notebook_id = self.gb.find_notebook(self.notebook, self.assignment).id
        except MissingEntry as exc:
            raise ValueError(
                f"the gradebook at {self.db_url} has no notebook {self.notebook!r} in assignment "
                f"{self.assignment!r}; run 'nbgrader generate_assignment {self.assignment}' first"
            ) from exc
        cell_max, missing = {}, []
        self.grade_cells, self.solution_cells = {}, {}
        for name in self.functions:
            try:
                cell = self.gb.find_grade_cell(grade_cell_name(name), self.notebook, self.assignment)
            except MissingEntry:
                missing.append(grade_cell_name(name))
            else:
                cell_max[name] = float(cell.max_score)
                self.grade_cells[name] = cell.id
            with contextlib.suppress(MissingEntry):
                self.solution_cells[name] = self.gb.find_solution_cell(name, self.notebook, self.assignment).id
        if missing:
            raise ValueError(
                f"assignment {self.assignment!r} in {self.db_url} lacks the grade cells "
                f"{', '.join(missing)}"
            )
        return cell_max

    def _submitted_notebook(self, student_id: str) -> tuple[str, str, datetime.datetime | None]:
        """(submission id, its notebook's id, its timestamp) of the student's submission,
        which nbgrader's add_submission makes, with every grade and comment row, when the
        gradebook has none yet.  Read as three columns: nbgrader's own lookup loads every
        score total of the submission, each a query of its own."""
        db = self.gb.db
        row = db.execute(select(SubmittedAssignment.id, SubmittedAssignment.timestamp).where(
            SubmittedAssignment.assignment_id == self.assignment_id,
            SubmittedAssignment.student_id == student_id)).first()
        if row is None:
            row = (self._add_submission(student_id), None)
        notebook_id = db.scalar(select(SubmittedNotebook.id).where(
            SubmittedNotebook.assignment_id == row[0], SubmittedNotebook.notebook_id == self.notebook_id))
        if notebook_id is None:
            raise ValueError(f"the gradebook's submission of {student_id!r} has no notebook "
                             f"{self.notebook!r}; remove the submission in formgrader and grade again")
        return row[0], notebook_id, row[1]

    def _add_submission(self, student_id: str) -> str:
        """The rows nbgrader's add_submission makes for a new submission, inserted at once;
        its id.  For each notebook of the assignment: a submitted notebook, a grade for each
        grade and task cell, a comment for each solution and task cell; every other column
        takes nbgrader's own default.  (add_submission loads the assignment and the student
        with every total it computes over the class: a cost that grows with the class.)"""
        connection = self.gb.db.connection()
        submission_id = new_uuid()
        connection.execute(insert(SubmittedAssignment.__table__).values(
            id=submission_id, assignment_id=self.assignment_id, student_id=student_id))
        for notebook_id, grade_cells, solution_cells, task_cells in self.layout:
            submitted = new_uuid()
            connection.execute(insert(SubmittedNotebook.__table__).values(
                id=submitted, notebook_id=notebook_id, assignment_id=submission_id))
            grades = [{"cell_id": cell, "notebook_id": submitted} for cell in grade_cells + task_cells]
            comments = [{"cell_id": cell, "notebook_id": submitted} for cell in solution_cells + task_cells]
            if grades:
                connection.execute(insert(Grade.__table__), grades)
            if comments:
                connection.execute(insert(Comment.__table__), comments)
        return submission_id

    def write(self, student_id: str, entry: dict | None, folder: str | None = None) -> None:
        """Store one student's results entry (their scores are saved by the next commit).

        folder -- the student's folder in submitted/ (for the autograded notebook), when it
                  is not named student_id (untrusted.gradebook_id escaped its name)"""
        student_id = str(student_id)
        entry = entry or {}
        given = {} if entry.get("error") else (entry.get("functions") or {})
        if student_id not in self.known:
            self.gb.add_student(student_id)
            self.known.add(student_id)
        submission_id, notebook_id, timestamp = self._submitted_notebook(student_id)
        # the scores and comments go straight to their columns, one statement for all rows:
        # loading the rows as objects costs a query per row for the totals nbgrader adds
        scores = []
        for name in self.functions:
            score = _score((given.get(name) or {}).get("score"))
            if not 0.0 <= score <= self.cell_max[name]:
                log.warning("%s: score %s for %s is outside [0, %s]",
                            student_id, score, name, self.cell_max[name])
            scores.append({"nb": notebook_id, "cell": self.grade_cells[name], "value": score})
        self.gb.db.flush()
        connection = self.gb.db.connection()
        changed = connection.execute(_SET_SCORE, scores).rowcount
        if connection.dialect.supports_sane_multi_rowcount and changed != len(scores):
            raise ValueError(f"the gradebook's submission of {student_id!r} lacks some of its "
                             f"{len(scores)} grades; remove the submission in formgrader and grade again")
        if self.solution_cells:
            connection.execute(_SET_COMMENT, [{"nb": notebook_id, "cell": cell_id,
                                               "text": verdict_comment(entry, name)}
                                              for name, cell_id in self.solution_cells.items()])
        submitted_at = _timestamp(entry.get("submitted_at"))
        if submitted_at is not None and timestamp != submitted_at:  # nbgrader's lateness counts from it
            connection.execute(update(SubmittedAssignment.__table__).where(
                SubmittedAssignment.__table__.c.id == submission_id).values(timestamp=submitted_at))
        # nbgrader's commits (SAVEPOINTs, see _group_commits) as it adds the next student and
        # submission also take in the scores set just before; the transaction that saves
        # them is committed once a second (below) and by close()
        self.written += 1
        if self.autograded is not None:
            try:
                self.autograded.write(student_id, entry, folder)
            except Exception as error:  # noqa: BLE001 -- the scores are saved all the same
                log.warning("%s: no autograded notebook for formgrader: %s: %s",
                            student_id, type(error).__name__, error)
        if self.written % self.FORGET_EVERY == 0:
            # What the session loaded (every submission and grade so far, also through the
            # assignment's and grade cells' collections) would grow with the class: save it
            # and let it go.  The assignment is read again once for the next students.
            self._commit()
            self.gb.db.expunge_all()
        elif time.monotonic() - self.saved_at >= self.COMMIT_SECONDS:
            self._commit()

    def close(self, commit: bool = True) -> None:
        """Save what was written; with commit=False, first undo the last student's unsaved
        step (the students before it are saved all the same)."""
        if self.gb is None:
            return
        try:
            if commit:
                self.gb.db.commit()
            else:
                self.gb.db.rollback()
            if getattr(self, "transaction", None) is not None:
                self.transaction.commit()
                self.transaction = None
        finally:
            try:
                self.gb.close()
                if getattr(self, "connection", None) is not None:
                    self.connection.close()
            finally:
                self.gb.engine.dispose()
                self.gb = None

    def __enter__(self) -> "GradebookWriter":
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.close(commit=kind is None)


def write_gradebook(results: dict, course_root: Path, db_url: str | None = None, *,
                    notebook: str | None = None, course_id: str = "", autograded=None) -> None:
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
                         functions=_functions(students), autograded=autograded) as writer:
        for student_id in sorted(students, key=str):
            writer.write(student_id, students[student_id])


class BackgroundWriter:
    """A GradebookWriter in a thread of its own, fed while the batch is still grading.

    The gradebook is opened and checked in that thread before this returns (so a
    gradebook that cannot be opened is known before any grading, and the caller
    decides); put() queues an entry; finish() waits until everything queued is saved
    and raises what the thread met.  ``duedate`` and ``extensions`` are the
    assignment's, as the gradebook had them when it was opened.
    """

    _DONE = object()

    def __init__(self, course_root: Path, db_url: str | None, assignment: str, *,
                 autograded=None) -> None:
        import queue
        import threading
        self.queue: "queue.Queue" = queue.Queue()
        self.error: BaseException | None = None
        self.stopped = False
        self.duedate = None
        self.extensions: dict = {}
        opened = threading.Event()
        self.thread = threading.Thread(target=self._run,
                                       args=(course_root, db_url, assignment, autograded, opened),
                                       name="gradebook-writer", daemon=True)
        self.thread.start()
        opened.wait()
        if self.error is not None:
            self.thread.join()
            raise self.error

    def _run(self, course_root, db_url, assignment, autograded, opened) -> None:
        try:
            writer = GradebookWriter(course_root, db_url, assignment, autograded=autograded)
        except BaseException as error:  # noqa: BLE001 -- handed to the caller
            self.error = error
            opened.set()
            return
        self.duedate, self.extensions = writer.duedate, dict(writer.extensions)
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

    def put(self, student_id: str, entry: dict, folder: str | None = None) -> None:
        """Queue one entry for GradebookWriter.write(student_id, entry, folder)."""
        self.queue.put((student_id, entry, folder))

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
