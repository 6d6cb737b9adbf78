"""Does the batch grader work with a real PostgreSQL gradebook?  (a server the test starts itself)

The server comes from the `pgserver` wheel that the `test` extra installs (PostgreSQL's own
binaries, packaged for pip), else from the system's PostgreSQL when one is installed
(/usr/lib/postgresql/*/bin, or initdb on PATH).  The test skips, saying why, only when
neither exists or SQLAlchemy's PostgreSQL driver (psycopg) cannot be imported.  As root, the server runs
as the unprivileged user `nobody` (PostgreSQL refuses to run as root).
"""
import csv
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import assignment
from autograder.course import nbgrader_cli, samples

from conftest import NAME, ROOT, make_course

SERVER_USER = "nobody"


def _server_bin_dirs():
    """Folders holding initdb, pg_ctl and postgres, best first."""
    import importlib.util
    found = []
    spec = importlib.util.find_spec("pgserver")  # found, not imported: importing it sets up locks
    if spec is not None and spec.origin:
        found.append(Path(spec.origin).parent / "pginstall" / "bin")
    found += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if shutil.which("initdb"):
        found.append(Path(shutil.which("initdb")).resolve().parent)
    return [d for d in found if all((d / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))]


def _reachable_by_others(path):
    """Can a user who is neither owner nor group enter every folder up to `path`?"""
    path = Path(path).resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _copy_installation(bindir, dest):
    """Copy a PostgreSQL installation (bin/, lib/, share/) where another user can run it; the
    pgserver wheel's binaries find their libraries in ../../../pgserver.libs, copied alongside."""
    install = bindir.parent
    shutil.copytree(install, dest / install.parent.name / install.name, symlinks=True)
    libs = install.parent.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name, symlinks=True)
    for folder in [dest, *dest.rglob("*")]:
        if folder.is_dir():
            os.chmod(folder, 0o755)
    return dest / install.parent.name / install.name / "bin"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A running PostgreSQL server on 127.0.0.1: yields a function db_url(name) that creates a
    fresh database and returns its URL."""
    from sqlalchemy.engine import make_url
    try:  # the driver SQLAlchemy uses for postgresql:// URLs (psycopg 3 since SQLAlchemy 2.1)
        driver = make_url("postgresql://").get_dialect().import_dbapi()
    except ImportError as error:
        pytest.skip(f"no PostgreSQL driver ({error}): pip install -e '.[test]' installs it")
    dirs = _server_bin_dirs()
    if not dirs:
        pytest.skip("no PostgreSQL server: neither the pgserver wheel (the test extra) nor a "
                    "system PostgreSQL (/usr/lib/postgresql/*/bin) is installed")
    bindir = dirs[0]
    work = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
    os.chmod(work, 0o755)
    as_root = os.geteuid() == 0
    demote = None
    if as_root:
        user = pwd.getpwnam(SERVER_USER)
        if not _reachable_by_others(bindir):  # e.g. a venv under /root: copy the installation
            bindir = _copy_installation(bindir, work / "copy")

        def demote():
            os.setgid(user.pw_gid)
            os.setgroups([])
            os.setuid(user.pw_uid)
    data, sockets, logs = work / "data", work / "sockets", work / "log"
    for folder in (data, sockets, logs):
        folder.mkdir()
        if as_root:
            os.chown(folder, user.pw_uid, user.pw_gid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-instructions"], check=True, capture_output=True,
                   preexec_fn=demote, env=env, cwd=work, timeout=300)
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    start = subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                            str(logs / "server.log"), "-w", "-t", "120", "start"],
                           capture_output=True, text=True, preexec_fn=demote, env=env, cwd=work)
    if start.returncode != 0:
        log = (logs / "server.log").read_text() if (logs / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {start.stdout}{start.stderr}{log}")
    admin = driver.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    admin.autocommit = True

    def db_url(name):
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"
    try:
        yield db_url
    finally:
        admin.close()
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, preexec_fn=demote, env=env, cwd=work, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def _env(db_url=""):
    env = nbgrader_cli.environment({"NBGRADER_DB_URL": db_url})
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _grade_cmd(submitted, out, course, *extra):
    return [sys.executable, "-m", "autograder", "grade", str(submitted), "--out", str(out),
            "--course", str(course), "--jobs", "1", "--no-progress", *extra]


def _export(course, db_url):
    """The real `nbgrader export` against the PostgreSQL gradebook: the rows of its CSV."""
    env = _env(db_url)
    env["HOME"] = str(course)
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(course / "export.csv", newline="") as fh:
        return list(csv.DictReader(fh))


CLASS = [f"{sample}{i}" for i in (1, 2) for sample in samples.SAMPLES]  # 12 students


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    """A course (no gradebook anywhere yet) with a class of 12, split in two halves."""
    course = make_course(tmp_path_factory.mktemp("pg-course"))
    release = course / "release" / NAME / f"{NAME}.ipynb"
    whole = course / "all-submitted"
    samples.write_submissions(whole, release)
    halves = {"first": course / "half-1", "second": course / "half-2"}
    for n, student in enumerate(CLASS):
        half = halves["first" if n % 2 == 0 else "second"]
        shutil.copytree(whole / student[:-1], half / student)
    return course, halves


def _expected_total(student):
    """Points of a sample student: every function but the ones it was written to lose."""
    points = assignment.points()
    return sum(p for f, p in points.items() if f not in samples.EXPECTED_FAILURES[student[:-1]])


@pytest.fixture(scope="module")
def concurrent_run(postgres, class_course):
    """Two grader processes, started together, each grading one half of the class into one
    fresh (empty) PostgreSQL gradebook."""
    course, halves = class_course
    db_url = postgres("gradebook_concurrent")
    procs = {name: subprocess.Popen(_grade_cmd(half, course / f"out-{name}", course, "--db-url", db_url),
                                    cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, half in halves.items()}
    done = {name: (proc.wait(900), *proc.communicate()) for name, proc in procs.items()}
    return course, halves, db_url, done


def test_two_graders_at_once_give_each_student_once(concurrent_run):
    """When two graders grade the two halves of a class into one PostgreSQL gradebook at the
    same time, does `nbgrader export` show every student exactly once, with the right score?"""
    course, halves, db_url, done = concurrent_run
    for name, (status, out, err) in done.items():
        assert status == 0, f"{name} half: {err}"
    rows = _export(course, db_url)
    assert sorted(row["student_id"] for row in rows) == sorted(CLASS)
    for row in rows:
        assert float(row["score"]) == pytest.approx(_expected_total(row["student_id"])), row
        assert float(row["max_score"]) == pytest.approx(sum(assignment.points().values()))
    from nbgrader.api import Gradebook
    with Gradebook(db_url, course_id="") as gb:  # and one assignment, one notebook
        assert [a.name for a in gb.assignments] == [NAME]
        assert [nb.name for nb in gb.find_assignment(NAME).notebooks] == [NAME]
        gb.engine.dispose()


def test_manual_formgrader_scores_survive_a_regrade(concurrent_run):
    """Does a manual score set as formgrader sets it (Gradebook API: manual_score, then
    needs_manual_grade cleared) survive grading the same half again, and count in the export?"""
    from nbgrader.api import Gradebook
    course, halves, db_url, _ = concurrent_run
    student = "carol1"  # loses lstm_backward (0 of 10) in the batch grader
    with Gradebook(db_url, course_id="") as gb:
        grade = gb.find_grade("test_lstm_backward", NAME, NAME, student)
        assert grade.auto_score == 0.0
        grade.manual_score = 7.0
        grade.needs_manual_grade = False
        gb.db.commit()
        gb.engine.dispose()
    regrade = subprocess.run(_grade_cmd(halves["first"], course / "out-first", course, "--db-url", db_url),
                             cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert regrade.returncode == 0, regrade.stderr
    with Gradebook(db_url, course_id="") as gb:
        grade = gb.find_grade("test_lstm_backward", NAME, NAME, student)
        assert (grade.auto_score, grade.manual_score) == (0.0, 7.0)
        gb.engine.dispose()
    rows = {row["student_id"]: row for row in _export(course, db_url)}
    assert len(rows) == len(CLASS)
    assert float(rows[student]["score"]) == pytest.approx(_expected_total(student) + 7.0)


def test_bad_db_url_is_one_clear_error_and_loses_nothing(postgres, class_course, tmp_path):
    """With a gradebook URL that cannot be reached, is there exactly one error line (password
    hidden, no traceback), a non-zero exit, every output still written, and does the same
    command with a good URL then store everyone?"""
    course, halves = class_course
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens there once the socket is closed
    bad = f"postgresql://grader:VerySecret42@127.0.0.1:{closed_port}/gradebook"
    out = tmp_path / "out"
    proc = subprocess.run(_grade_cmd(halves["second"], out, course, "--db-url", bad), cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 4, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "gradebook" in errors[0] and "127.0.0.1" in errors[0] and "results.json" in errors[0]
    assert "Traceback" not in proc.stderr and "VerySecret42" not in proc.stderr + proc.stdout
    results = json.loads((out / "results.json").read_text())
    half = sorted(p.name for p in halves["second"].iterdir())
    assert sorted(results["students"]) == half
    assert all(results["students"][s]["total"] == _expected_total(s) for s in half)
    assert (out / "grades.csv").is_file() and (out / "report" / "index.html").is_file()
    assert len(list((out / "feedback").glob("*.html"))) == len(half)

    good = postgres("gradebook_after_bad_url")
    again = subprocess.run(_grade_cmd(halves["second"], out, course, "--db-url", good), cwd=ROOT,
                           env=_env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert f"{len(half)} unchanged submission(s) kept from the journal" in again.stderr
    rows = _export(course, good)
    assert sorted(row["student_id"] for row in rows) == half


def test_unknown_database_scheme_is_one_clear_error(class_course, tmp_path):
    """A URL no database driver knows: one error line, exit 4, outputs written (no server needed)."""
    course, halves = class_course
    out = tmp_path / "out"
    proc = subprocess.run(_grade_cmd(halves["first"], out, course, "--db-url", "nosuchdb://x/y"),
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 4, proc.stderr
    assert len([l for l in proc.stderr.splitlines() if l.startswith("error:")]) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "results.json").is_file()
