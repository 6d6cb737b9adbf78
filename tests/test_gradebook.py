"""Tests for autograder.grading.gradebook: scores land in nbgrader's gradebook."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder.grading.gradebook import default_db_url, grade_cell_name, write_gradebook
from autograder.grading.report import FUNCTIONS

ASSIGNMENT = "rnn_step_by_step"
COURSE_ID = "rnn-step-by-step"
VENV_BIN = Path(sys.executable).parent
POINTS = {name: 5.0 for name in FUNCTIONS}
POINTS["lstm_backward"] = 10.0
MAX_TOTAL = sum(POINTS.values())


@pytest.fixture(autouse=True)
def _venv_bin_on_path(monkeypatch):
    """nbgrader runs the `alembic` command when it creates a gradebook."""
    monkeypatch.setenv("PATH", str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))


def _write_config(root: Path) -> str:
    db_url = default_db_url(root)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
    )
    return db_url


def _build_gradebook(db_url: str, functions) -> None:
    """A gradebook as ``nbgrader generate_assignment`` leaves it."""
    with Gradebook(db_url, course_id=COURSE_ID) as gb:
        gb.update_or_create_assignment(ASSIGNMENT)
        gb.update_or_create_notebook(ASSIGNMENT, ASSIGNMENT)
        for name in functions:
            gb.add_solution_cell(name, ASSIGNMENT, ASSIGNMENT)
            gb.add_grade_cell(grade_cell_name(name), ASSIGNMENT, ASSIGNMENT,
                              max_score=POINTS[name], cell_type="code")
        gb.engine.dispose()


@pytest.fixture(scope="module")
def _template_db(tmp_path_factory) -> Path:
    # Creating a gradebook runs `alembic` (a few seconds), so build it once and copy.
    root = tmp_path_factory.mktemp("template")
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = str(VENV_BIN) + os.pathsep + old_path
    try:
        _build_gradebook(default_db_url(root), FUNCTIONS)
    finally:
        os.environ["PATH"] = old_path
    return root / "gradebook.db"


@pytest.fixture
def make_course(_template_db):
    def make(root: Path, functions=FUNCTIONS) -> str:
        root.mkdir(parents=True, exist_ok=True)
        db_url = _write_config(root)
        if tuple(functions) == FUNCTIONS:
            shutil.copyfile(_template_db, root / "gradebook.db")
        else:
            _build_gradebook(db_url, functions)
        return db_url
    return make


def _fn(score, passed=True):
    return {"score": score, "max": 0.0, "passed": passed, "diagnosis": [], "message": ""}


def _results():
    alice = {name: _fn(POINTS[name]) for name in FUNCTIONS}
    alice["rnn_backward"] = _fn(2.5, False)
    alice["lstm_backward"] = _fn(0.0, False)
    bob = {name: _fn(POINTS[name]) for name in FUNCTIONS}
    return {
        "assignment": ASSIGNMENT,
        "isolation": "test",
        "students": {
            "alice": {"total": MAX_TOTAL - 12.5, "max": MAX_TOTAL, "error": None,
                      "functions": alice},
            "bob": {"total": MAX_TOTAL, "max": MAX_TOTAL, "error": None, "functions": bob},
        },
    }


def _nbgrader_export(course: Path) -> dict[str, dict]:
    """Run the real ``nbgrader export`` CLI in ``course`` and read its CSV."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBGRADER_", "JUPYTER_"))}
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    # keep a developer's own ~/.jupyter settings out of the test
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")
    env["HOME"] = str(course)
    proc = subprocess.run(["nbgrader", "export", "--to", "export.csv"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(course / "export.csv", newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def _db_state(db_url: str) -> dict:
    """Everything write_gradebook may touch, as plain data."""
    with Gradebook(db_url, course_id="") as gb:
        state = {
            "students": sorted(s.id for s in gb.students),
            "submissions": sorted((s.student.id, s.assignment.name)
                                  for s in gb.assignment_submissions(ASSIGNMENT)),
            "grades": {},
        }
        for sid in state["students"]:
            for name in FUNCTIONS:
                g = gb.find_grade(grade_cell_name(name), ASSIGNMENT, ASSIGNMENT, sid)
                state["grades"][sid, name] = (g.auto_score, g.manual_score,
                                              g.extra_credit, g.needs_manual_grade)
        gb.engine.dispose()
    return state


def test_nbgrader_export_sees_the_scores(tmp_path, make_course):
    """Does the real `nbgrader export` report each student's summed score and the max?"""
    course = tmp_path / "course"
    make_course(course)
    write_gradebook(_results(), course)

    rows = _nbgrader_export(course)
    assert set(rows) == {"alice", "bob"}
    assert float(rows["alice"]["score"]) == pytest.approx(MAX_TOTAL - 12.5)
    assert float(rows["bob"]["score"]) == pytest.approx(MAX_TOTAL)
    for row in rows.values():
        assert row["assignment"] == ASSIGNMENT
        assert float(row["max_score"]) == pytest.approx(MAX_TOTAL)


def test_each_grade_cell_gets_its_function_score(tmp_path, make_course):
    """Is every test_<function> grade's auto_score the function's score, ready for formgrader?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook(_results(), course, db_url)
    grades = _db_state(db_url)["grades"]
    assert grades["alice", "rnn_backward"] == (2.5, None, None, False)
    assert grades["alice", "lstm_backward"] == (0.0, None, None, False)
    assert grades["alice", "rnn_cell_forward"] == (5.0, None, None, False)
    assert grades["bob", "lstm_backward"] == (10.0, None, None, False)


def test_whole_submission_error_scores_zero_everywhere(tmp_path, make_course):
    """Does a student whose notebook failed as a whole get 0 for every function?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    results = _results()
    # scores present but the submission as a whole failed: the error wins
    results["students"]["bob"]["error"] = "notebook is not valid JSON"
    results["students"]["carol"] = {"total": 0.0, "max": MAX_TOTAL,
                                    "error": "kernel died", "functions": {}}
    write_gradebook(results, course)

    grades = _db_state(db_url)["grades"]
    for sid in ("bob", "carol"):
        assert all(grades[sid, name][0] == 0.0 for name in FUNCTIONS)
    rows = _nbgrader_export(course)
    assert float(rows["carol"]["score"]) == 0.0
    assert float(rows["bob"]["score"]) == 0.0
    assert float(rows["alice"]["score"]) == pytest.approx(MAX_TOTAL - 12.5)


def test_running_twice_gives_the_same_database(tmp_path, make_course):
    """Does a second run on the same results leave the database exactly as the first did?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook(_results(), course)
    first = _db_state(db_url)
    write_gradebook(_results(), course)
    assert _db_state(db_url) == first
    assert first["students"] == ["alice", "bob"]
    assert first["submissions"] == [("alice", ASSIGNMENT), ("bob", ASSIGNMENT)]


def test_regrading_updates_scores_in_place(tmp_path, make_course):
    """After a regrade with new scores, is the old submission reused and its scores replaced?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook(_results(), course)
    regraded = _results()
    regraded["students"]["alice"]["functions"]["rnn_backward"] = _fn(5.0)
    write_gradebook(regraded, course)
    state = _db_state(db_url)
    assert state["submissions"] == [("alice", ASSIGNMENT), ("bob", ASSIGNMENT)]
    assert state["grades"]["alice", "rnn_backward"][0] == 5.0


def test_manual_scores_from_formgrader_are_kept(tmp_path, make_course):
    """Is a manual score a grader entered left alone, and flagged for review as nbgrader does?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook(_results(), course)
    with Gradebook(db_url, course_id="") as gb:
        grade = gb.find_grade("test_rnn_backward", ASSIGNMENT, ASSIGNMENT, "alice")
        grade.manual_score = 4.0
        gb.db.commit()
        gb.engine.dispose()
    write_gradebook(_results(), course)
    assert _db_state(db_url)["grades"]["alice", "rnn_backward"] == (2.5, 4.0, None, True)
    assert float(_nbgrader_export(course)["alice"]["score"]) == pytest.approx(MAX_TOTAL - 11.0)


def test_existing_student_is_reused(tmp_path, make_course):
    """Is a student already in the gradebook (with a name) reused rather than duplicated?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    with Gradebook(db_url, course_id="") as gb:
        gb.add_student("alice", first_name="Alice", last_name="Liddell")
        gb.engine.dispose()
    write_gradebook(_results(), course)
    with Gradebook(db_url, course_id="") as gb:
        alice = gb.find_student("alice")
        assert (alice.first_name, alice.last_name) == ("Alice", "Liddell")
        assert len(gb.students) == 2
        gb.engine.dispose()


def test_missing_grade_cell_is_an_error_and_writes_nothing(tmp_path, make_course):
    """If the gradebook lacks a test_<function> cell, does it refuse before writing anything?"""
    course = tmp_path / "course"
    db_url = make_course(course, functions=FUNCTIONS[:-1])
    with pytest.raises(ValueError, match="test_lstm_backward"):
        write_gradebook(_results(), course)
    with Gradebook(db_url, course_id="") as gb:
        assert gb.students == []
        gb.engine.dispose()


def test_missing_gradebook_is_an_error_and_not_created(tmp_path):
    """Without a gradebook file, is there a clear error, and no empty gradebook left behind?"""
    course = tmp_path / "course"
    course.mkdir()
    with pytest.raises(ValueError, match="generate_assignment"):
        write_gradebook(_results(), course)
    assert not (course / "gradebook.db").exists()


def test_missing_assignment_is_an_error(tmp_path):
    """With a gradebook that lacks the assignment, is there a clear error?"""
    course = tmp_path / "course"
    course.mkdir()
    with Gradebook(default_db_url(course), course_id=COURSE_ID) as gb:
        gb.update_or_create_assignment("some_other_assignment")
        gb.engine.dispose()
    with pytest.raises(ValueError, match="generate_assignment"):
        write_gradebook(_results(), course)


def test_zero_students_is_a_no_op(tmp_path, make_course):
    """Do results with no students leave the gradebook without students or submissions?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook({"assignment": ASSIGNMENT, "isolation": "", "students": {}}, course)
    state = _db_state(db_url)
    assert state["students"] == [] and state["submissions"] == []


def test_no_stray_course_row_is_added(tmp_path, make_course):
    """Does writing grades leave the course table as generate_assignment made it?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    write_gradebook(_results(), course)
    with Gradebook(db_url, course_id="") as gb:
        from nbgrader.api import Course
        assert [c.id for c in gb.db.query(Course).all()] == [COURSE_ID]
        with pytest.raises(MissingEntry):
            gb.find_submission(ASSIGNMENT, "nobody")
        gb.engine.dispose()


# ---------------------------------------------------------------------------
# a course with no gradebook yet, comments, timestamps
# ---------------------------------------------------------------------------

KIT = Path(__file__).resolve().parent.parent
SOURCE = KIT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _course_with_source(root: Path) -> Path:
    """A course directory with its config and the nbgrader source notebook, and no gradebook."""
    root.mkdir(parents=True, exist_ok=True)
    _write_config(root)
    (root / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, root / "source" / ASSIGNMENT / SOURCE.name)
    return root


def test_missing_gradebook_is_created_from_the_source_notebook(tmp_path):
    """With no gradebook yet, are the assignment, notebook, grade cells (with the source
    notebook's points), solution cells and students created, in the configured course, and does
    `nbgrader export` then see the scores?"""
    from autograder import assignment
    course = _course_with_source(tmp_path / "course")
    results = _results()
    write_gradebook(results, course)
    with Gradebook(default_db_url(course), course_id="") as gb:
        notebook = gb.find_notebook(ASSIGNMENT, ASSIGNMENT)
        assert {c.name: c.max_score for c in notebook.grade_cells} == \
            {grade_cell_name(f): p for f, p in assignment.points().items()}
        assert {c.name for c in notebook.solution_cells} == set(FUNCTIONS)
        assert gb.find_assignment(ASSIGNMENT).course_id == COURSE_ID
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]
        gb.engine.dispose()
    rows = _nbgrader_export(course)
    assert float(rows["alice"]["score"]) == pytest.approx(MAX_TOTAL - 12.5)


def test_existing_assignment_is_not_recreated(tmp_path, make_course):
    """When the gradebook already has the assignment, is it used as it is (its own points kept)?"""
    course = tmp_path / "course"
    db_url = make_course(course)
    _course_with_source(course)
    write_gradebook(_results(), course)
    with Gradebook(db_url, course_id="") as gb:
        assert gb.find_grade_cell("test_lstm_backward", ASSIGNMENT, ASSIGNMENT).max_score == 10.0
        assert gb.find_grade_cell("test_rnn_forward", ASSIGNMENT, ASSIGNMENT).max_score == 5.0
        gb.engine.dispose()


def test_solution_cell_comments_carry_the_verdict_and_a_graders_comment_wins(tmp_path):
    """Is each solution cell's automatic comment the grader's verdict (score, message), and does
    a comment a grader typed in formgrader stay what formgrader shows after a regrade?"""
    course = _course_with_source(tmp_path / "course")
    results = _results()
    results["students"]["alice"]["functions"]["rnn_backward"]["message"] = "Failed on case 3: da0 is wrong"
    write_gradebook(results, course)
    db_url = default_db_url(course)
    with Gradebook(db_url, course_id="") as gb:
        comment = gb.find_comment("rnn_backward", ASSIGNMENT, ASSIGNMENT, "alice")
        assert comment.auto_comment.startswith("Batch grader: 2.5 / 0, not passed.")
        assert "Failed on case 3: da0 is wrong" in comment.auto_comment
        assert gb.find_comment("rnn_forward", ASSIGNMENT, ASSIGNMENT, "bob").auto_comment \
            .startswith("Batch grader: 5 / 0, passed.")
        comment.manual_comment = "See me about the loop."
        gb.db.commit()
        gb.engine.dispose()
    write_gradebook(results, course)
    with Gradebook(db_url, course_id="") as gb:
        comment = gb.find_comment("rnn_backward", ASSIGNMENT, ASSIGNMENT, "alice")
        assert comment.comment == "See me about the loop."
        gb.engine.dispose()


def test_submission_time_is_stored_and_nbgrader_sees_it_late(tmp_path):
    """Is an entry's submitted_at stored as the submission's timestamp, so that nbgrader's own
    lateness (due date plus extension) is right?"""
    import datetime
    course = _course_with_source(tmp_path / "course")
    results = _results()
    results["students"]["alice"]["submitted_at"] = "2026-12-02T18:00:00+00:00"
    results["students"]["bob"]["submitted_at"] = "2026-12-02T18:00:00+01:00"
    write_gradebook(results, course)
    with Gradebook(default_db_url(course), course_id="") as gb:
        gb.find_assignment(ASSIGNMENT).duedate = datetime.datetime(2026, 12, 2, 17, 30)
        gb.db.commit()
        gb.grant_extension(ASSIGNMENT, "bob", hours=1)
        alice = gb.find_submission(ASSIGNMENT, "alice")
        bob = gb.find_submission(ASSIGNMENT, "bob")
        assert alice.timestamp == datetime.datetime(2026, 12, 2, 18, 0)
        assert bob.timestamp == datetime.datetime(2026, 12, 2, 17, 0)
        assert alice.total_seconds_late == 1800 and bob.total_seconds_late == 0
        gb.engine.dispose()
    # and the batch grader reads the due date and extensions back to mark late work
    from autograder.grading.gradebook import GradebookWriter
    with GradebookWriter(course, None, ASSIGNMENT) as writer:
        assert writer.duedate == datetime.datetime(2026, 12, 2, 17, 30)
        assert writer.extensions == {"bob": datetime.timedelta(hours=1)}


def test_unreachable_gradebook_is_one_line_without_the_password(tmp_path):
    """Does a gradebook URL that cannot be opened raise GradebookUnavailable with a single line
    that names the URL but hides its password?"""
    from autograder.grading.gradebook import GradebookUnavailable
    course = _course_with_source(tmp_path / "course")
    for url in ("nosuchdb://user:Secret123@host/db", "sqlite:////nonexistent-dir/sub/gradebook.db"):
        with pytest.raises(GradebookUnavailable) as caught:
            write_gradebook(_results(), course, url)
        message = str(caught.value)
        assert "\n" not in message and "Secret123" not in message and "could not be opened" in message


# ---------------------------------------------------------------------------
# timestamp.txt (autograder.grading.timestamps)
# ---------------------------------------------------------------------------


def test_timestamp_in_nbgraders_format_is_read(tmp_path):
    """Is the timestamp nbgrader collect writes read as UTC, and is lateness counted as nbgrader
    counts it (after the due date plus extension, never negative)?"""
    import datetime
    from autograder.grading import timestamps
    (tmp_path / "timestamp.txt").write_text("2026-12-01 18:15:30.250000 UTC\n")
    when, problem = timestamps.read_timestamp(tmp_path)
    assert (when, problem) == (datetime.datetime(2026, 12, 1, 18, 15, 30, 250000), None)
    due = datetime.datetime(2026, 12, 1, 17, 0)
    assert timestamps.seconds_late(when, due) == 4530.25
    assert timestamps.seconds_late(when, due, datetime.timedelta(hours=2)) == 0.0
    assert timestamps.seconds_late(when, None) is None
    entry = timestamps.annotate({}, tmp_path, due)
    assert entry == {"submitted_at": "2026-12-01T18:15:30.250000+00:00", "seconds_late": 4530.25,
                     "late": True}


def test_hostile_or_broken_timestamp_files_are_refused(tmp_path):
    """Is a timestamp.txt that is a link, a pipe, a folder, huge, empty or not a time refused
    with a reason (never followed, never blocking), and a missing one simply absent?"""
    from autograder.grading import timestamps
    secret = tmp_path / "secret.txt"
    secret.write_text("2026-12-01 10:00:00 UTC")
    cases = {
        "link": lambda p: p.symlink_to(secret),
        "pipe": lambda p: os.mkfifo(p),
        "folder": lambda p: p.mkdir(),
        "huge": lambda p: p.write_text("2026-12-01 10:00:00 UTC" + " " * 10_000),
        "empty": lambda p: p.write_text(""),
        "garbage": lambda p: p.write_text("next tuesday-ish"),
    }
    for name, make in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        make(folder / "timestamp.txt")
        when, problem = timestamps.read_timestamp(folder)
        assert when is None and problem, name
        entry = timestamps.annotate({}, folder, None)
        assert entry["submitted_at"] is None and entry["late"] is False and entry["timestamp_problem"]
    assert timestamps.read_timestamp(tmp_path / "nothing-here") == (None, None)


def _class_results(n: int) -> dict:
    """n students, student k scoring k % 6 points on rnn_cell_forward, full marks elsewhere."""
    students = {}
    for k in range(n):
        functions = {name: _fn(POINTS[name]) for name in FUNCTIONS}
        functions["rnn_cell_forward"] = _fn(float(k % 6), k % 6 == 5)
        students[f"s{k:03d}"] = {"total": 0.0, "max": MAX_TOTAL, "error": None, "functions": functions}
    return {"assignment": ASSIGNMENT, "isolation": "test", "students": students}


def test_a_class_is_saved_in_a_few_transactions_not_two_per_student(tmp_path, make_course):
    """Does writing 40 students commit a handful of database transactions (nbgrader's own
    commits became savepoints), and are all 40 students' scores saved all the same?"""
    from sqlalchemy import event
    from sqlalchemy.engine import Connection

    course = tmp_path / "course"
    db_url = make_course(course)
    commits = []

    def count(conn):
        commits.append(conn)
    event.listen(Connection, "commit", count)
    try:
        write_gradebook(_class_results(40), course, db_url)
    finally:
        event.remove(Connection, "commit", count)
    assert 1 <= len(commits) <= 10, len(commits)
    grades = _db_state(db_url)["grades"]
    for k in range(40):
        assert grades[f"s{k:03d}", "rnn_cell_forward"][0] == float(k % 6)
        assert grades[f"s{k:03d}", "lstm_backward"][0] == POINTS["lstm_backward"]


def test_a_failure_after_some_students_keeps_the_students_before_it(tmp_path, make_course, monkeypatch):
    """When writing one student fails half way, are the students written before it saved,
    and is the failing one's submission undone, not left half written?"""
    from autograder.grading import gradebook

    course = tmp_path / "course"
    db_url = make_course(course)
    results = _class_results(5)
    real = gradebook.verdict_comment

    def failing(entry, function):
        if entry is results["students"]["s003"]:
            raise RuntimeError("the disk is full")
        return real(entry, function)
    monkeypatch.setattr(gradebook, "verdict_comment", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        write_gradebook(results, course, db_url)
    with Gradebook(db_url, course_id="") as gb:
        for k in range(3):
            grade = gb.find_grade(grade_cell_name("rnn_cell_forward"), ASSIGNMENT, ASSIGNMENT, f"s{k:03d}")
            assert grade.auto_score == float(k % 6)
        # the failing student's submission went back with its scores; the next one never came
        with pytest.raises(MissingEntry):
            gb.find_submission(ASSIGNMENT, "s003")
        assert "s004" not in {student.id for student in gb.students}
        gb.engine.dispose()
