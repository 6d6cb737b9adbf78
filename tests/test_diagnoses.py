"""Do real students' mistakes get a named diagnosis, in the feedback and in the class report?

The corpus (tests/data/mistakes/, see its README) holds buggy functions written the way
students write them, each with the diagnoses it must get.  They are packed into a class
(student k hands in the k-th buggy version of every function, the teacher's solution
where a function has fewer), and graded with the real command line in a scratch course.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import assignment
from autograder.course import nbgrader_cli, samples
from autograder.grading import mistakes

from conftest import NAME, make_course

CORPUS = Path(__file__).resolve().parent / "data" / "mistakes"
TARGET = 0.90   # share of the failing corpus functions that must get a named diagnosis
_REGION = re.compile(r"(### START CODE HERE ###[^\n]*\n)(.*?)(\n[ \t]*### END CODE HERE ###)", re.S)


def corpus():
    """[(function, slug, expected codes, student code)] of the whole corpus, in a fixed order."""
    entries = []
    for function in assignment.FUNCTIONS:
        for path in sorted((CORPUS / function).glob("*.py")):
            text = path.read_text()
            first, _, code = text.partition("\n")
            assert first.startswith("# expect:"), f"{path}: the first line must be '# expect: CODE ...'"
            entries.append((function, path.stem, first[len("# expect:"):].split(), code))
    return entries


def alone(code):
    """Is this entry handed in by a student whose other functions are all right?  (A loop
    with two mistakes that both change its calls to the cell function can only be told
    apart on the student's own run, so with a right cell function.)"""
    return code.startswith("# alone")


def cell_source(release_cell, code):
    """The release cell with the student's code in its START/END CODE HERE region
    (or the student's whole cell, when the code defines the function itself)."""
    if code.lstrip().startswith("def "):
        return "# GRADED FUNCTION\n\n" + code
    body = "".join("    " + line if line.strip() else line for line in code.rstrip().splitlines(True))
    new, count = _REGION.subn(lambda m: m.group(1) + body + m.group(3), release_cell, count=1)
    assert count == 1, "the release cell has no START/END CODE HERE region"
    return new


def class_plans(release_nb, entries):
    """{student: plan for samples.make_notebook}, {(function, slug): student}."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in release_nb.cells}
    plans, owner = {}, {}
    for function, slug, _, code in entries:
        if alone(code):
            plans[f"alone-{function}-{slug}"] = {"*": "reference",
                                                  function: cell_source(cells[function], code)}
            owner[(function, slug)] = f"alone-{function}-{slug}"
    entries = [e for e in entries if not alone(e[3])]
    by_function = {f: [e for e in entries if e[0] == f] for f in assignment.FUNCTIONS}
    for k in range(max(len(v) for v in by_function.values())):
        student = f"student{k:02d}"
        plan = {"*": "reference"}
        for function, items in by_function.items():
            if k < len(items):
                _, slug, _, code = items[k]
                plan[function] = cell_source(cells[function], code)
                owner[(function, slug)] = student
        plans[student] = plan
    return plans, owner


def grade_corpus(course, entries):
    """Write the corpus class into `course` and grade it with the command line: (results, out dir)."""
    release = nbformat.read(str(course / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    plans, owner = class_plans(release, entries)
    for student, plan in plans.items():
        folder = course / "submitted" / student / NAME
        folder.mkdir(parents=True)
        nbformat.write(samples.make_notebook(release, plan), str(folder / f"{NAME}.ipynb"))
    out = course / "grading-output"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--out", str(out), "--course", str(course), "--no-progress", "--no-gradebook"],
                          capture_output=True, text=True,
                          env=nbgrader_cli.environment({"NBGRADER_DB_URL": ""}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), owner, out


def named(verdict):
    """The diagnosis codes of a verdict that name a mistake (notes such as INHERITS do not)."""
    return [c for c in verdict["diagnosis"] if c not in mistakes.NOTES]


def measure(results, owner, entries):
    """(failing entries, entries with a named diagnosis, entries whose expected codes are all
    named, [(function, slug, expected, got)] of the misses)."""
    failing = diagnosed = exact = 0
    misses = []
    for function, slug, expected, _ in entries:
        verdict = results["students"][owner[(function, slug)]]["functions"][function]
        if verdict["passed"]:
            misses.append((function, slug, expected, "PASSED"))
            continue
        failing += 1
        got = named(verdict)
        diagnosed += bool(got)
        if set(expected) <= set(got):
            exact += 1
        else:
            misses.append((function, slug, expected, got))
    return failing, diagnosed, exact, misses


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("corpus"))
    entries = corpus()
    results, owner, out = grade_corpus(course, entries)
    return entries, results, owner, out


def test_the_corpus_is_large_and_covers_every_function():
    """Does the corpus hold at least ten buggy versions of every graded function?"""
    entries = corpus()
    for function in assignment.FUNCTIONS:
        assert len([e for e in entries if e[0] == function]) >= 10, function


def test_every_corpus_mistake_fails(graded):
    """Does every buggy function of the corpus lose its points?"""
    entries, results, owner, _ = graded
    passed = [(f, s) for f, s, _, _ in entries
              if results["students"][owner[(f, s)]]["functions"][f]["passed"]]
    assert passed == []


def test_at_least_90_percent_get_a_named_diagnosis(graded, record_property):
    """Do at least 90% of the failing corpus functions get a diagnosis that names the mistake?"""
    entries, results, owner, _ = graded
    failing, diagnosed, exact, misses = measure(results, owner, entries)
    record_property("diagnosis_rate", f"{diagnosed}/{failing}")
    print(f"\nnamed diagnoses: {diagnosed} of {failing} failing functions "
          f"({100 * diagnosed / failing:.0f}%); the expected codes: {exact} of {failing}")
    assert diagnosed >= TARGET * failing, misses


@pytest.mark.parametrize("entry", corpus(), ids=lambda e: f"{e[0]}-{e[1]}")
def test_each_mistake_gets_its_expected_diagnoses(graded, entry):
    """Does each buggy function get every diagnosis its corpus file names (one per mistake)?"""
    _, results, owner, _ = graded
    function, slug, expected, _ = entry
    verdict = results["students"][owner[(function, slug)]]["functions"][function]
    assert not verdict["passed"]
    missing = set(expected) - set(verdict["diagnosis"])
    assert not missing, (verdict["diagnosis"], verdict["message"])


def test_feedback_shows_each_diagnosis_in_words_with_its_hint(graded):
    """Does each student's feedback page show, for each named diagnosis, its meaning and hint?"""
    entries, results, owner, out = graded
    import html
    for (function, slug), student in owner.items():
        verdict = results["students"][student]["functions"][function]
        page = html.unescape((out / "feedback" / f"{student}.html").read_text())
        for code in named(verdict):
            assert code in page
            info = mistakes.describe(code, function)
            assert info.title in page, (student, function, code)


def test_crashes_say_where_and_why(graded):
    """Does a crash name the exception, the line and function of the student's code, and a cause?"""
    _, results, owner, _ = graded
    for function, slug in [("rnn_backward", "caches1"), ("rnn_cell_forward", "debug_print"),
                           ("lstm_forward", "debug_print"), ("rnn_cell_backward", "wax_not_t")]:
        message = results["students"][owner[(function, slug)]]["functions"][function]["message"]
        assert re.search(r"It raised \w+(Error|Exception)", message), message
        assert re.search(rf"line \d+ of your {function} cell", message), message
        assert "Likely cause:" in message or "Likely mistake:" in message, message
    message = results["students"][owner[("rnn_backward", "caches1")]]["functions"]["rnn_backward"]["message"]
    assert "T_x=1" in message and "IndexError" in message


def test_report_diagnosis_section_helps_decide_what_to_reteach(graded):
    """Does the class report list mistakes (not notes) with function, meaning and students, and
    say how many failures have no diagnosis?"""
    entries, results, owner, out = graded
    import html
    index = html.unescape((out / "report" / "index.html").read_text())
    section = index.split("<h2>Most frequent mistakes</h2>", 1)[1].split("<h2>", 1)[0]
    assert "INHERITS" not in section.split("Notes", 1)[0]
    row = re.search(r"<tr><td><code>rnn_backward</code></td><td><code>CACHES1_INDEX</code>(.*?)</tr>",
                    section, re.S)
    assert row, section[:2000]
    assert mistakes.describe("CACHES1_INDEX", "rnn_backward").title in row.group(1)
    assert f'href="../feedback/{owner[("rnn_backward", "caches1")]}.html#rnn_backward"' in row.group(1)
    assert re.search(r"Failing functions without a diagnosis: \d+ of \d+ \(\d+%\)", section)
