"""Is the kit packaged as a real package, and do nbgrader's own commands work on it as typed
from nbgrader's documentation?  (scratch course, real command lines)"""
import ast
import csv
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from autograder import assignment
from autograder.course import samples
from autograder.grading.settings import parse_args

from conftest import NAME, ROOT, make_course

DIST = "rnn-step-by-step"
TWO_STUDENTS = ("alice", "carol")  # full marks, and one function wrong


def installed_metadata():
    """The kit's installed metadata, or skip: these tests check what `pip install` made."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed here; install it with: pip install -e '.[test]'")
    return dist


def nbgrader_command(course, *args):
    """Run the `nbgrader` console script of this environment in the course, as a user types it."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=str(bin_dir) + os.pathsep + os.environ.get("PATH", ""),
               NBGRADER_DB_URL="", JUPYTER_CONFIG_DIR=str(course / ".jupyter"))
    proc = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} exited {proc.returncode}:\n" \
                                 f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory):
    """A scratch course run through nbgrader's documented commands, two students submitted."""
    course = make_course(tmp_path_factory.mktemp("docs-course"))
    nbgrader_command(course, "generate_assignment", NAME)
    picked = {s: samples.SAMPLES[s] for s in TWO_STUDENTS}
    samples.write_submissions(course / "submitted", course / "release" / NAME / f"{NAME}.ipynb",
                              samples=picked)
    nbgrader_command(course, "autograde", NAME, "--create")
    nbgrader_command(course, "generate_feedback", NAME)
    nbgrader_command(course, "export")
    return course


def test_config_pins_no_assignment():
    """Does nbgrader_config.py leave the assignment to the command line (nbgrader refuses an
    assignment given both in config and as an argument)?"""
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config()
    assert "assignment_id" not in config.get("CourseDirectory", {})


def test_documented_nbgrader_commands_release_grade_feed_back_and_export(nbgrader_course):
    """Do `nbgrader generate_assignment NAME`, `autograde NAME --create`, `generate_feedback NAME`
    and `export` all succeed, and does the export carry each student's right score?"""
    course = nbgrader_course
    assert (course / "release" / NAME / f"{NAME}.ipynb").is_file()
    for student in TWO_STUDENTS:
        assert (course / "autograded" / student / NAME / f"{NAME}.ipynb").is_file(), student
        assert (course / "feedback" / student / NAME / f"{NAME}.html").is_file(), student
    with open(course / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(TWO_STUDENTS)
    points = assignment.points()
    total = sum(points.values())
    for student in TWO_STUDENTS:
        lost = sum(points[f] for f in samples.EXPECTED_FAILURES[student])
        assert rows[student]["assignment"] == NAME
        assert float(rows[student]["max_score"]) == total
        assert float(rows[student]["score"]) == total - lost, (student, rows[student])


def test_batch_grader_finds_the_assignment_untold(tmp_path):
    """Does `python -m autograder grade` know the assignment without --assignment or config?"""
    course = make_course(tmp_path / "course")
    settings = parse_args([str(course / "submitted"), "--out", str(tmp_path / "out"),
                                  "--course", str(course)])
    assert settings.assignment == NAME == assignment.ASSIGNMENT
    assert (course / "source" / settings.assignment).is_dir()  # the folder nbgrader reads
    told = parse_args([str(course / "submitted"), "--out", str(tmp_path / "out"),
                              "--course", str(course), "--assignment", "other"])
    assert told.assignment == "other"


# --------------------------------------------------------------------------- package metadata

def _top_level_imports(paths):
    """Top-level module names imported (at any depth in the code) by the Python files under paths."""
    names = set()
    for path in paths:
        for file in ([path] if path.is_file() else sorted(path.rglob("*.py"))):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names


def _third_party(names):
    local = {"autograder", "rnn_utils", "rnn_checks", "notebooks", "benchmarks", "conftest", "helper",
             *(p.stem for p in (ROOT / "tests").glob("*.py"))}  # the tests' own modules
    return {n for n in names if n not in sys.stdlib_module_names and n not in local
            and not n.startswith("test_")}


def _requirement_names(dist, extra=None):
    """Normalised distribution names the kit requires (with `extra`: only that extra's)."""
    out = set()
    for req in dist.requires or []:
        name = re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]
        in_extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", req)
        if (in_extra.group(1) if in_extra else None) == extra:
            out.add(re.sub(r"[-_.]+", "-", name).lower())
    return out


def _providers(module):
    return {re.sub(r"[-_.]+", "-", d).lower()
            for d in metadata.packages_distributions().get(module, [])}


def test_every_imported_package_is_a_declared_dependency():
    """Is every third-party module the kit imports provided by a dependency it declares itself
    (not only pulled in by chance through another one), the tests' tools in the `test` extra?"""
    dist = installed_metadata()
    runtime = _requirement_names(dist) | _requirement_names(dist, "dask")  # --dask is optional
    test = runtime | _requirement_names(dist, "test")
    kit = _third_party(_top_level_imports([ROOT / "autograder", ROOT / "rnn_utils.py",
                                           ROOT / "notebooks" / "figures", ROOT / "nbgrader_config.py"]))
    # playwright drives a browser that the test command does not install: the browser test
    # imports it where it is present and otherwise skips, saying so
    optional = {"playwright"}
    dev = _third_party(_top_level_imports([ROOT / "tests", ROOT / "benchmarks"])) - kit - optional
    assert {"numpy", "nbformat", "nbgrader", "jupytext"} <= kit  # the scan sees the imports
    for module, declared in [(m, runtime) for m in sorted(kit)] + [(m, test) for m in sorted(dev)]:
        providers = _providers(module)
        assert providers, f"{module} is imported but no installed distribution provides it"
        assert providers & declared, f"{module} (from {sorted(providers)}) is not declared in pyproject.toml"


def test_supported_pythons_are_declared_and_named():
    """Do requires-python, the classifiers and the README name the same Pythons, 3.10 to 3.13,
    and is this Python one of them?"""
    dist = installed_metadata()
    assert set(dist.metadata["Requires-Python"].replace(" ", "").split(",")) == {">=3.10", "<3.14"}
    versions = sorted(c.rsplit(" :: ", 1)[1] for c in dist.metadata.get_all("Classifier")
                      if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert versions == ["3.10", "3.11", "3.12", "3.13"]
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in versions
    first_screen = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    assert "Python 3.10 to 3.13" in first_screen


def test_kit_imports_from_any_directory(tmp_path):
    """After `pip install -e .`, do autograder and rnn_utils import from another folder, without
    PYTHONPATH (the notebook's hidden tests import autograder wherever the notebook lies)?"""
    installed_metadata()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", "import autograder, rnn_utils; "
                           "print(autograder.__file__); print(rnn_utils.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = [Path(line) for line in proc.stdout.split()]
    assert files == [ROOT / "autograder" / "__init__.py", ROOT / "rnn_utils.py"]


def test_readme_first_screen_has_exactly_the_two_commands():
    """Does the README's first screen hold exactly two commands, the main job and the tests, both
    installing the kit from pyproject.toml, and is the second the one CI runs?"""
    text = (ROOT / "README.md").read_text()
    first_screen = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", first_screen, re.S)
    assert len(blocks) == 2, blocks
    main_job, tests = blocks
    assert all("\n" not in b and b.startswith("python3 -m venv .venv && ") for b in blocks), blocks
    assert ".venv/bin/pip install -e . && " in main_job
    assert ".venv/bin/pip install -e '.[test]' && " in tests
    assert main_job.endswith("python -m autograder demo")
    assert re.search(r"python -m pytest\b", tests)
    assert re.search(r"<!-- test command -->\n```bash\n" + re.escape(tests) + "\n```", text)
