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

The rows are nbgrader's, in nbgrader's schema (reflected from the database), with
nbgrader's defaults, but they are written as rows with SQLAlchemy Core (a submission's
at once, the scores straight to their columns), each student in a SAVEPOINT of its own,
and saved in one transaction a second rather than two a student; through nbgrader's
per-object API a student cost about 10 ms of CPU and nine disk syncs.  nbgrader itself
(about a second of imports) is loaded only when the gradebook lacks something that
opening it with nbgrader would make: its tables, the named course, the assignment.

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

import uuid

from sqlalchemy import Interval, MetaData, bindparam, create_engine, event, insert, inspect, select, type_coerce, update
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


def _checked_url(db_url: str, creatable: Path | None = None):
    """The parsed URL; a ValueError for a SQLite file that is not there when ``creatable``
    (the source notebook the assignment would be made from) is not there either, and
    GradebookUnavailable for what is not a database URL."""
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
    return url


def _open_gradebook(db_url: str, course_id: str, creatable: Path | None = None):
    """nbgrader's Gradebook at db_url, creating a SQLite file only when ``creatable`` (the
    source notebook the assignment will be made from) exists; GradebookUnavailable when the
    database cannot be reached."""
    _checked_url(db_url, creatable)
    from nbgrader.api import Gradebook  # about a second of imports: only to set a gradebook up
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


def ensure_assignment(gb, source: Path, assignment: str, notebook: str,
                      course_id: str = DEFAULT_COURSE_ID) -> bool:
    """Create the assignment, its notebook and cells from the source notebook if the
    gradebook (nbgrader's Gradebook) lacks the notebook, as ``nbgrader generate_assignment``
    records them (its SaveCells step), in the course ``course_id``.  True if something was
    created."""
    from nbgrader.api import MissingEntry
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


#: The tables of nbgrader's schema that the writer reads or writes (reflected from the
#: database, so that the rows are in nbgrader's own layout; nbgrader's models are imported
#: only when the gradebook has to be set up, see _set_up).
_TABLES = ("student", "course", "assignment", "notebook", "base_cell", "grade_cells", "solution_cells",
           "task_cells", "submitted_assignment", "submitted_notebook", "grade", "comment")


def new_uuid() -> str:
    """A new row id, as nbgrader makes them (nbgrader.api.new_uuid)."""
    return uuid.uuid4().hex


def _engine(url):
    """A SQLAlchemy engine for the gradebook.  pysqlite begins and ends transactions by itself,
    which breaks SAVEPOINTs: on SQLite, SQLAlchemy emits BEGIN instead (its documented
    workaround)."""
    engine = create_engine(url, echo=False)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", lambda dbapi, _record: setattr(dbapi, "isolation_level", None))
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    return engine


def _reflect(connection):
    """{name: Table} of the tables the writer uses, as the database has them."""
    metadata = MetaData()
    metadata.reflect(connection, only=list(_TABLES))
    return metadata.tables


def _needs_setup(connection, assignment: str, notebook: str, course_id: str):
    """(why nbgrader must set the gradebook up before the writer can use it, None) or (None,
    its reflected tables) when it has what opening it with nbgrader's Gradebook and
    ensure_assignment would make: nbgrader's tables, the course ``course_id`` (if one is
    named) and the assignment's notebook."""
    names = set(inspect(connection).get_table_names())
    missing = [name for name in (*_TABLES, "alembic_version") if name not in names]
    if missing:
        return f"it has no table {missing[0]}", None
    tables = _reflect(connection)
    course, found, nb = (tables[name] for name in ("course", "assignment", "notebook"))
    if course_id and connection.scalar(select(course.c.id).where(course.c.id == course_id)) is None:
        return f"it has no course {course_id!r}", None
    if connection.scalar(select(nb.c.id).join(found, found.c.id == nb.c.assignment_id).where(
            found.c.name == assignment, nb.c.name == notebook)) is None:
        return f"it has no notebook {notebook!r} in assignment {assignment!r}", None
    return None, tables


def _set_up(db_url: str, course_id: str, source: Path, assignment: str, notebook: str,
            course_root: Path) -> bool:
    """Let nbgrader's own Gradebook make what the gradebook lacks (its tables and their
    alembic version, the course, the assignment with its notebook and cells); True if the
    assignment's notebook was created."""
    gb = _open_gradebook(db_url, course_id, creatable=source)
    try:
        return ensure_assignment(gb, source, assignment, notebook, config_course_id(course_root))
    finally:
        gb.close()


class GradebookWriter:
    """Writes students' scores into the gradebook one at a time (see the module docstring).

    Opening it checks the assignment's structure, so a mismatch raises ValueError before
    anything is written.  Use it from one thread only, and close() it: that saves what
    was written.  A student whose write() fails leaves no row behind (each student is a
    SAVEPOINT); the students before it are saved by close() all the same.
    """

    COMMIT_SECONDS = 1.0  # longest time a written student waits to be saved

    def __init__(self, course_root: Path, db_url: str | None, assignment: str, *,
                 notebook: str | None = None, course_id: str = "",
                 functions: list[str] | None = None, autograded=None) -> None:
        """course_id -- passed on to nbgrader's Gradebook when the gradebook is set up (its
                        course row is made when it is named and missing);
        autograded -- an object whose write(student_id, entry, folder) is called after each
                      student (autograder.grading.autograded.AutogradedWriter), or None"""
        if not assignment:
            raise ValueError("results has no 'assignment' name")
        self.assignment = assignment
        self.notebook = notebook or assignment
        self.functions = list(functions or FUNCTIONS)
        self.db_url = db_url or default_db_url(course_root)
        self.autograded = autograded
        self.engine = self.connection = self.transaction = None
        self.created, self.written = False, 0
        source = source_notebook(course_root, assignment, self.notebook)
        url = _checked_url(self.db_url, creatable=source)
        with _setup_lock(self.db_url):
            try:
                self.engine = _engine(url)
                with self.engine.connect() as probe:
                    why, tables = _needs_setup(probe, assignment, self.notebook, course_id)
            except Exception as exc:  # noqa: BLE001 -- driver, network and URL errors of every kind
                self.close(commit=False)
                raise GradebookUnavailable(f"the gradebook at {describe_url(self.db_url)} could not be "
                                           f"opened: {type(exc).__name__}: {_one_line(exc)}") from None
            try:
                if why is not None:
                    log.info("setting the gradebook up with nbgrader: %s", why)
                    self.created = _set_up(self.db_url, course_id, source, assignment, self.notebook,
                                           course_root)
                self.connection = self.engine.connect()
                self.transaction = self.connection.begin()
                self._read(tables if why is None else _reflect(self.connection))
            except BaseException:
                self.close(commit=False)
                raise
        self.saved_at = time.monotonic()

    def _read(self, tables) -> None:
        """Read, once, what write() needs from the gradebook (tables: nbgrader's, reflected):
        the assignment's id, due date and extensions, the ids of each notebook's grade,
        solution and task cells, each function's grade cell (its max score) and solution
        cell, the known students.  ValueError if the notebook or a function's grade cell is
        missing."""
        t = self.tables = tables
        db = self.connection
        found, nb, cell = t["assignment"], t["notebook"], t["base_cell"]
        self.assignment_id, self.duedate = db.execute(  # duedate: naive UTC, as nbgrader stores it
            select(found.c.id, found.c.duedate).where(found.c.name == self.assignment)).one()
        notebooks = dict(db.execute(select(nb.c.name, nb.c.id).where(nb.c.assignment_id == self.assignment_id)).all())
        if self.notebook not in notebooks:
            raise ValueError(
                f"the gradebook at {self.db_url} has no notebook {self.notebook!r} in assignment "
                f"{self.assignment!r}; run 'nbgrader generate_assignment {self.assignment}' first"
            )
        self.notebook_id = notebooks[self.notebook]
        cells = {}  # kind -> [(cell id, name, notebook id, max score or None)]
        for kind in ("grade_cells", "solution_cells", "task_cells"):
            sub = t[kind]
            score = sub.c.max_score if "max_score" in sub.c else None
            cells[kind] = db.execute(select(cell.c.id, cell.c.name, cell.c.notebook_id, score).join(
                sub, sub.c.id == cell.c.id).where(cell.c.notebook_id.in_(list(notebooks.values())))).all()
        # what a new submission has rows for: (notebook id, grade, solution and task cell ids)
        self.layout = [(nid, *([c[0] for c in cells[kind] if c[2] == nid]
                               for kind in ("grade_cells", "solution_cells", "task_cells")))
                       for nid in notebooks.values()]
        mine = {kind: {c[1]: c for c in cells[kind] if c[2] == self.notebook_id} for kind in cells}
        missing = [grade_cell_name(name) for name in self.functions
                   if grade_cell_name(name) not in mine["grade_cells"]]
        if missing:
            raise ValueError(f"assignment {self.assignment!r} in {self.db_url} lacks the grade cells "
                             f"{', '.join(missing)}")
        graded = {name: mine["grade_cells"][grade_cell_name(name)] for name in self.functions}
        self.cell_max = {name: float(c[3]) for name, c in graded.items()}
        self.grade_cells = {name: c[0] for name, c in graded.items()}
        self.solution_cells = {name: mine["solution_cells"][name][0] for name in self.functions
                               if name in mine["solution_cells"]}
        self.known = set(db.scalars(select(t["student"].c.id)))
        submitted = t["submitted_assignment"]
        # {student: extension} in one query of two columns, not the whole class's rows
        # (nbgrader's column is an Interval, which SQLite stores as a time after 1970: read as one)
        self.extensions = dict(db.execute(select(submitted.c.student_id, type_coerce(
            submitted.c.extension, Interval)).where(
            submitted.c.assignment_id == self.assignment_id, submitted.c.extension.isnot(None))).all())
        grade, comment = t["grade"], t["comment"]
        #: The automatic score of one grade row; it needs a manual look only if someone scored it by hand.
        self.set_score = update(grade).where(grade.c.notebook_id == bindparam("nb"),
                                             grade.c.cell_id == bindparam("cell")).values(
            auto_score=bindparam("value"), needs_manual_grade=grade.c.manual_score.isnot(None))
        #: The automatic comment of one comment row.
        self.set_comment = update(comment).where(comment.c.notebook_id == bindparam("nb"),
                                                 comment.c.cell_id == bindparam("cell")).values(
            auto_comment=bindparam("text"))

    def _commit(self) -> None:
        """Save every student written so far (one transaction), and begin the next."""
        self.transaction.commit()
        self.transaction = self.connection.begin()
        self.saved_at = time.monotonic()

    def _submitted_notebook(self, student_id: str) -> tuple[str, str, datetime.datetime | None]:
        """(submission id, its notebook's id, its timestamp) of the student's submission, which
        _add_submission makes, with every grade and comment row, when the gradebook has none
        yet.  Read as three columns: nbgrader's own lookup loads every score total of the
        submission, each a query of its own."""
        submitted, sn = self.tables["submitted_assignment"], self.tables["submitted_notebook"]
        row = self.connection.execute(select(submitted.c.id, submitted.c.timestamp).where(
            submitted.c.assignment_id == self.assignment_id, submitted.c.student_id == student_id)).first()
        if row is None:
            submission_id, notebooks = self._add_submission(student_id)
            return submission_id, notebooks[self.notebook_id], None
        notebook_id = self.connection.scalar(select(sn.c.id).where(
            sn.c.assignment_id == row[0], sn.c.notebook_id == self.notebook_id))
        if notebook_id is None:
            raise ValueError(f"the gradebook's submission of {student_id!r} has no notebook "
                             f"{self.notebook!r}; remove the submission in formgrader and grade again")
        return row[0], notebook_id, row[1]

    def _add_submission(self, student_id: str) -> tuple[str, dict[str, str]]:
        """The rows nbgrader's add_submission makes for a new submission, inserted at once:
        for each notebook of the assignment a submitted notebook, a grade for each grade and
        task cell, a comment for each solution and task cell.  The columns with a default in
        nbgrader's models (which a reflected table does not know) get it here: the ids,
        ``flagged`` False, ``needs_manual_grade`` True; every other column is NULL, as there.
        Returns (submission id, {notebook id: submitted notebook id})."""
        t, db = self.tables, self.connection
        submission_id = new_uuid()
        db.execute(insert(t["submitted_assignment"]).values(
            id=submission_id, assignment_id=self.assignment_id, student_id=student_id))
        made = {}
        for notebook_id, grade_cells, solution_cells, task_cells in self.layout:
            made[notebook_id] = submitted = new_uuid()
            db.execute(insert(t["submitted_notebook"]).values(
                id=submitted, notebook_id=notebook_id, assignment_id=submission_id, flagged=False))
            grades = [{"id": new_uuid(), "cell_id": cell, "notebook_id": submitted, "needs_manual_grade": True}
                      for cell in grade_cells + task_cells]
            comments = [{"id": new_uuid(), "cell_id": cell, "notebook_id": submitted}
                        for cell in solution_cells + task_cells]
            if grades:
                db.execute(insert(t["grade"]), grades)
            if comments:
                db.execute(insert(t["comment"]), comments)
        return submission_id, made

    def write(self, student_id: str, entry: dict | None, folder: str | None = None) -> None:
        """Store one student's results entry (their scores are saved by the next commit).

        folder -- the student's folder in submitted/ (for the autograded notebook), when it
                  is not named student_id (untrusted.gradebook_id escaped its name)"""
        student_id = str(student_id)
        entry = entry or {}
        given = {} if entry.get("error") else (entry.get("functions") or {})
        db = self.connection
        with db.begin_nested():  # one student: every row or none
            if student_id not in self.known:
                db.execute(insert(self.tables["student"]).values(id=student_id))  # as add_student
            submission_id, notebook_id, timestamp = self._submitted_notebook(student_id)
            # the scores and comments go straight to their columns, one statement for all rows
            scores = []
            for name in self.functions:
                score = _score((given.get(name) or {}).get("score"))
                if not 0.0 <= score <= self.cell_max[name]:
                    log.warning("%s: score %s for %s is outside [0, %s]",
                                student_id, score, name, self.cell_max[name])
                scores.append({"nb": notebook_id, "cell": self.grade_cells[name], "value": score})
            changed = db.execute(self.set_score, scores).rowcount
            if db.dialect.supports_sane_multi_rowcount and changed != len(scores):
                raise ValueError(f"the gradebook's submission of {student_id!r} lacks some of its "
                                 f"{len(scores)} grades; remove the submission in formgrader and grade again")
            if self.solution_cells:
                db.execute(self.set_comment, [{"nb": notebook_id, "cell": cell_id,
                                               "text": verdict_comment(entry, name)}
                                              for name, cell_id in self.solution_cells.items()])
            submitted_at = _timestamp(entry.get("submitted_at"))
            if submitted_at is not None and timestamp != submitted_at:  # nbgrader's lateness counts from it
                submitted = self.tables["submitted_assignment"]
                db.execute(update(submitted).where(submitted.c.id == submission_id).values(timestamp=submitted_at))
        self.known.add(student_id)
        self.written += 1
        if self.autograded is not None:
            try:
                self.autograded.write(student_id, entry, folder)
            except Exception as error:  # noqa: BLE001 -- the scores are saved all the same
                log.warning("%s: no autograded notebook for formgrader: %s: %s",
                            student_id, type(error).__name__, error)
        if time.monotonic() - self.saved_at >= self.COMMIT_SECONDS:
            self._commit()

    def close(self, commit: bool = True) -> None:
        """Save what was written and let the database go.  With commit=False (after an error)
        the students written before it are still saved, if the database lets them be, and a
        failure to save is not raised: the error that led here is the one to report."""
        if self.engine is None:
            return
        try:
            if self.transaction is not None and self.transaction.is_active:
                try:
                    self.transaction.commit()
                except Exception:
                    if commit:
                        raise
                    log.warning("the gradebook could not save the students written before the error",
                                exc_info=True)
        finally:
            self.transaction = None
            try:
                if self.connection is not None:
                    self.connection.close()
            finally:
                self.connection = None
                self.engine.dispose()
                self.engine = None

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
