"""Does the real nbgrader pipeline grade the notebook fairly?  (scratch course, real CLI)"""
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import assignment
from autograder.course import nbgrader_cli, samples

from conftest import NAME, ROOT, gradebook_scores, make_course, nbgrader


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


# ---------------------------------------------------------------------------
# The instructor's path after the batch grader: a course with no gradebook yet,
# formgrader, nbgrader's feedback commands, timestamps and late work.
# ---------------------------------------------------------------------------


DUE = "2026-12-01 17:00:00 UTC"
ON_TIME = "2026-12-01 16:59:00.000000 UTC"
STAMPS = {"alice": ON_TIME, "bob": ON_TIME, "carol": "2026-12-03 19:30:00.000000 UTC",
          "dave": ON_TIME, "erin": "2026-12-01 17:05:00.000000 UTC"}  # frank: no timestamp.txt
LATE = {"carol", "erin"}
BROKEN = "zed"  # hands in a notebook that is not JSON, and a link for a submission secret
GRADED = sorted([*samples.SAMPLES, BROKEN])
FORMGRADER_ERROR = "Sorry, the formgrader encountered an error"


def _scratch_config(course):
    """The scratch course's config without CourseDirectory.assignment_id, so that nbgrader's
    commands take the assignment as an argument (as nbgrader's docs type them)."""
    path = course / "nbgrader_config.py"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.lstrip().startswith("c.CourseDirectory.assignment_id")))


def _run_batch(course, out, *extra):
    env = nbgrader_cli.environment({"NBGRADER_DB_URL": ""})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--out", str(out), "--course", str(course), "--no-progress", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def batch_course(tmp_path_factory):
    """A fresh course with NO gradebook.db, graded by the batch grader only: first with no due
    date, then again after `nbgrader db assignment add --duedate` (as nbgrader collect leaves
    them, every submission but frank's has timestamp.txt and submission_secret.txt)."""
    course = make_course(tmp_path_factory.mktemp("batch-course"))
    _scratch_config(course)
    samples.write_submissions(course / "submitted", course / "release" / NAME / f"{NAME}.ipynb")
    for student in samples.SAMPLES:
        folder = course / "submitted" / student / NAME
        if student in STAMPS:
            (folder / "timestamp.txt").write_text(STAMPS[student])
            (folder / "submission_secret.txt").write_text(f"secret-of-{student}-" + "0" * 40)
    zed = course / "submitted" / BROKEN / NAME
    zed.mkdir(parents=True)
    (zed / f"{NAME}.ipynb").write_text('{"cells": [ not json')
    (zed / "timestamp.txt").write_text(ON_TIME)
    (course / "instructor-only.txt").write_text("INSTRUCTOR SECRET")
    (zed / "submission_secret.txt").symlink_to(course / "instructor-only.txt")
    assert not (course / "gradebook.db").exists()
    first = _run_batch(course, course / "out-first")
    nbgrader(course, "db", "assignment", "add", NAME, f"--duedate={DUE}")
    second = _run_batch(course, course / "out")
    return course, first, second


def _results(course, name="out"):
    return json.loads((course / name / "results.json").read_text())


def test_batch_grader_creates_the_gradebook_it_needs(batch_course):
    """On a course with no gradebook, does `python -m autograder grade` create the assignment,
    notebook, grade cells (with the source notebook's points) and students, as
    `nbgrader autograde --create` would, and store every score?"""
    from nbgrader.api import Gradebook
    course, first, second = batch_course
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    results = _results(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_notebook(NAME, NAME)
        cells = {c.name: c.max_score for c in notebook.grade_cells}
        assert cells == {assignment.test_cell_id(f): p for f, p in assignment.points().items()}
        assert {c.name for c in notebook.solution_cells} == set(assignment.FUNCTIONS)
        assert sorted(s.id for s in gb.students) == GRADED
        for student, entry in results["students"].items():
            for function in assignment.FUNCTIONS:
                grade = gb.find_grade(assignment.test_cell_id(function), NAME, NAME, student)
                want = 0.0 if entry["error"] else entry["functions"][function]["score"]
                assert grade.score == want, (student, function)


def test_nbgrader_autograde_accepts_the_gradebook_the_batch_grader_made(batch_course, tmp_path):
    """Is the gradebook the batch grader created one that nbgrader itself works with
    (`nbgrader autograde` of one student scores as the batch grader did)?"""
    course, _, _ = batch_course
    copy = tmp_path / "course"
    shutil.copytree(course, copy, ignore=shutil.ignore_patterns("out*", "autograded", "feedback"))
    (copy / "nbgrader_config.py").write_text((copy / "nbgrader_config.py").read_text().replace(
        str(course), str(copy)))
    nbgrader(copy, "autograde", NAME, "--student=carol", "--force")
    results = _results(course)
    from conftest import gradebook_scores_for
    theirs = gradebook_scores_for(copy, ["carol"])["carol"]
    assert theirs == {f: r["score"] for f, r in results["students"]["carol"]["functions"].items()}


@pytest.fixture(scope="module")
def formgrader(batch_course, tmp_path_factory):
    """A real `jupyter server` with nbgrader's formgrader extension, serving the batch course."""
    from conftest import jupyter_server
    course, _, _ = batch_course
    home = tmp_path_factory.mktemp("formgrader-home")
    with jupyter_server("jupyter_server", course, home, token="formgrader-test-token", extra_args=[
            "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"]) as server:
        yield server


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", errors="replace")


def test_formgrader_opens_every_submission(batch_course, formgrader):
    """Does formgrader's submission page open (200, no formgrader error) for every student the
    batch grader graded, showing each function's verdict and score?"""
    from nbgrader.api import Gradebook
    course, _, _ = batch_course
    base, token = formgrader
    results = _results(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        ids = {nb.student.id: nb.id for nb in gb.notebook_submissions(NAME, NAME)}
    assert sorted(ids) == GRADED
    for student, submission_id in ids.items():
        status, page = _get(f"{base}/formgrader/submissions/{submission_id}/?token={token}")
        assert status == 200, (student, page[:2000])
        assert FORMGRADER_ERROR not in page, student
        entry = results["students"][student]
        if student == BROKEN:  # every function 0, and the page says why
            assert entry["error"] and "could not read this notebook" in page
            assert page.count("Batch grader: the notebook could not be graded") == len(assignment.FUNCTIONS)
            continue
        for function, result in entry["functions"].items():
            verdict = f"Batch grader: {result['score']:g} / {result['max']:g}, " + \
                ("passed." if result["passed"] else "not passed.")
            assert verdict in page, (student, function)
        # the student's own solution code is what formgrader shows in the solution cells
        assert "BEGIN HIDDEN TESTS" not in page and "check(&quot;" not in page


def test_formgrader_lists_the_submissions_with_scores(batch_course, formgrader):
    """Does formgrader's API list every submission of the notebook with the batch grader's score?"""
    course, _, _ = batch_course
    base, token = formgrader
    status, body = _get(f"{base}/formgrader/api/submitted_notebooks/{NAME}/{NAME}?token={token}")
    assert status == 200, body[:2000]
    listed = {row["student"]: row for row in json.loads(body)}
    results = _results(course)
    assert sorted(listed) == GRADED
    for student, row in listed.items():
        assert row["score"] == pytest.approx(results["students"][student]["total"]), student


def test_feedback_is_generated_and_released_with_nbgraders_commands(batch_course, tmp_path):
    """Do `nbgrader generate_feedback` and `nbgrader release_feedback` work on what the batch
    grader wrote: one page per student in the exchange, under the name `nbgrader fetch_feedback`
    looks for, with the right score and no hidden test code?"""
    from nbgrader.utils import notebook_hash
    course, _, _ = batch_course
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    nbgrader(course, "generate_feedback", NAME, "--force")
    # frank's notebook was placed by hand, not collected: there is no submission secret to
    # release his feedback under (nbgrader's release_feedback stops on such a folder)
    nbgrader(course, "release_feedback", NAME, f"--Exchange.root={exchange}",
             f"--CourseDirectory.student_id_exclude=frank,{BROKEN}")
    # a linked submission secret was not copied (it would have leaked the file it points to)
    assert not (course / "autograded" / BROKEN / NAME / "submission_secret.txt").exists()
    assert (course / "autograded" / BROKEN / NAME / "timestamp.txt").read_text() == ON_TIME
    released = exchange / "rnn-step-by-step" / "feedback"
    results = _results(course)
    for student in STAMPS:  # the ones with a submission secret, as `nbgrader submit` leaves it
        secret = (course / "submitted" / student / NAME / "submission_secret.txt").read_text()
        page = (released / f"{notebook_hash(secret=secret, notebook_id=NAME)}.html").read_text()
        total = results["students"][student]["total"]
        assert f"Score: {total:.1f} / 80.0" in page, student
        assert "BEGIN HIDDEN TESTS" not in page and "check(&quot;" not in page, student
    assert len(list(released.glob("*.html"))) == len(STAMPS)


def test_late_work_is_marked_everywhere(batch_course):
    """Is timestamp.txt read, and is late work (against the assignment's due date in the
    gradebook) marked in results.json, grades.csv, the student's feedback page, the
    autograded notebook and `nbgrader export`?"""
    from autograder.grading.report import feedback_filename
    course, _, _ = batch_course
    results = _results(course)
    assert results["duedate"] == "2026-12-01T17:00:00+00:00"
    with open(course / "out" / "grades.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    due = datetime.datetime(2026, 12, 1, 17, 0, 0)
    for student in GRADED:
        entry = results["students"][student]
        page = (course / "out" / "feedback" / feedback_filename(student)).read_text()
        notebook = (course / "autograded" / student / NAME / f"{NAME}.ipynb").read_text()
        if student == BROKEN:  # a notebook that cannot be read was still handed in on time
            assert entry["error"] and entry["submitted_at"] and entry["late"] is False
            continue
        if student not in STAMPS:
            assert entry["submitted_at"] is None and entry["late"] is False and rows[student]["late"] == ""
            continue
        stamp = datetime.datetime.strptime(STAMPS[student], "%Y-%m-%d %H:%M:%S.%f UTC")
        assert entry["submitted_at"] == stamp.replace(tzinfo=datetime.timezone.utc).isoformat()
        assert entry["seconds_late"] == max(0.0, (stamp - due).total_seconds())
        assert entry["late"] is (student in LATE), student
        assert rows[student]["late"] == ("yes" if student in LATE else ""), student
        assert ("late by" in page) is (student in LATE), student
        assert ("after the due date" in notebook) is (student in LATE), student
    # the first run, before a due date was set, knew the times but not lateness
    first = _results(course, "out-first")["students"]
    assert first["carol"]["seconds_late"] is None and first["carol"]["late"] is False
    assert "late by 2 days 2 h 30 min" in (course / "out" / "feedback" / "carol.html").read_text()

    nbgrader(course, "export", "--to", "export.csv")
    with open(course / "export.csv", newline="") as fh:
        exported = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert sorted(exported) == GRADED
    for student in samples.SAMPLES:
        row = exported[student]
        assert row["duedate"].startswith("2026-12-01 17:00:00")
        if student in STAMPS:
            when = datetime.datetime.fromisoformat(row["timestamp"])
            assert (when > due) is (student in LATE), (student, row)
        else:
            assert row["timestamp"] == ""
