"""Shared fixtures: scratch course directories and the real nbgrader command line."""
import contextlib
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import assignment  # noqa: E402
from autograder.course import build, nbgrader_cli, samples  # noqa: E402

NAME = assignment.ASSIGNMENT
COURSE_FILES = build.INPUTS + ("source", "release")  # what a scratch course copies of the kit


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite golden files under tests/golden/ from the current output")


def pytest_terminal_summary(terminalreporter):
    """Say which sandbox the grading tests ran in, and what the hostile corpus cost honest
    students (tests record both with record_property)."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])]
    levels = sorted({v for r in reports for k, v in r.user_properties if k == "isolation"})
    corpus = [v for r in reports for k, v in r.user_properties if k == "corpus"]
    if levels:
        terminalreporter.write_line("sandbox isolation of the grading tests: " + " | ".join(levels))
    for c in corpus:
        terminalreporter.write_line(
            f"hostile corpus, {c['kind']}: {c['tried']} tried next to {c['honest']} honest students; "
            f"points the honest students lost: {c['points_lost']:g}; honest results changed: "
            f"{c['results_changed']}")


@pytest.fixture(scope="session", autouse=True)
def limited_kernel():
    """nbgrader_config.py runs notebooks in the limited kernel: make sure it is installed."""
    from autograder.course import kernel as limited_kernel
    limited_kernel.install()


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


def make_course(path):
    """Copy the kit's course files into `path` (a scratch course directory)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, path / name)
    return path


def nbgrader(course, *args, check=True):
    """Run the real nbgrader CLI in `course`, with a scratch gradebook."""
    return nbgrader_cli.run(list(args), course, check=check, env={"NBGRADER_DB_URL": ""})


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """A scratch course in which nbgrader has autograded every sample submission."""
    course = make_course(tmp_path_factory.mktemp("course"))
    nbgrader(course, "generate_assignment", NAME, "--force")
    samples.write_submissions(course / "submitted", course / "release" / NAME / f"{NAME}.ipynb")
    nbgrader(course, "autograde", NAME, "--create", "--force")
    return course


def gradebook_scores(course):
    """{student: {function: score}} of the sample students, from the course's gradebook."""
    return gradebook_scores_for(course, samples.SAMPLES)


def gradebook_scores_for(course, students):
    """{student: {function: score}} from the course's gradebook for the given students."""
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            scores[student] = {f: gb.find_grade(assignment.test_cell_id(f), NAME, NAME, student).score
                               for f in assignment.FUNCTIONS}
    return scores


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_server(module, root, home, extra_args=(), token="test-token"):
    """A real Jupyter server (`python -m <module>`: jupyter_server or jupyterlab) on a free
    port of 127.0.0.1, serving root, its state in home; yields (base URL, token) once
    /api/status answers, and stops it afterwards.  Its log is home/server.log."""
    import os
    import subprocess
    import time
    import urllib.error
    import urllib.request
    port = free_port()
    env = nbgrader_cli.environment({"NBGRADER_DB_URL": "", "HOME": str(home),
                                    "JUPYTER_CONFIG_DIR": str(home / "config"),
                                    "JUPYTER_RUNTIME_DIR": str(home / "runtime")})
    args = [sys.executable, "-m", module, "--no-browser", f"--port={port}",
            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", *extra_args]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log_path = home / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert server.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, f"{module} did not start: {log_path.read_text()}"
                    time.sleep(0.5)
            yield base, token
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
