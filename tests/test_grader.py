"""Does the batch grader give fair, explained verdicts that agree with nbgrader autograde?

One scratch course holds a mixed class: the reference, the untouched release,
every known-mistake variant, the seed-001 and seed-002 lstm_backward bugs, a
function that reads notebook globals, an lstm_forward whose c<0> is a view,
and a submission that patches numpy's comparisons.  nbgrader autograde and
`python -m autograder grade` both grade it.
"""
import json
import re
import subprocess
import sys

import nbformat
import pytest

from autograder import assignment
from autograder.course import nbgrader_cli, samples
from autograder.grading import mistakes

from conftest import NAME, make_course, nbgrader

PATCHER = '''# GRADED FUNCTION: rnn_cell_forward
import numpy as np
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_almost_equal = lambda *args, **kwargs: None

def rnn_cell_forward(xt, a_prev, parameters):
    a_next = np.zeros((parameters["Waa"].shape[0], xt.shape[1]))
    yt_pred = np.zeros((parameters["Wya"].shape[0], xt.shape[1]))
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)
'''


def class_plans():
    """{student: (plan, functions expected to fail, diagnosis expected per failing function)}"""
    plans = {
        "reference": ({"*": "reference"}, {}),
        "release": ({"*": "release"}, {f: "NOT_IMPLEMENTED" for f in assignment.FUNCTIONS}),
        "seed001": ({"*": "reference", "lstm_backward": samples.LSTM_BACKWARD_SEED_001},
                    {"lstm_backward": "RECURRENT_GRADS_ZERO"}),
        "seed002": ({"*": "reference", "lstm_backward": samples.LSTM_BACKWARD_SEED_002},
                    {"lstm_backward": None}),
        "globals": ({"*": "reference", "rnn_cell_forward": samples.RNN_CELL_FORWARD_GLOBALS},
                    {"rnn_cell_forward": "NOTEBOOK_GLOBALS"}),
        "c0view": ({"*": "reference", "lstm_forward": samples.LSTM_FORWARD_C0_VIEW},
                   {"lstm_forward": "C0_VIEW_ALIAS"}),
        "patcher": ({"*": "reference", "rnn_cell_forward": PATCHER}, {"rnn_cell_forward": None}),
    }
    for m in mistakes.MISTAKES:
        plans[f"mistake-{m.function}-{m.code}"] = (
            {"*": "reference", m.function: mistakes.variant_source(m)}, {m.function: m.code})
    return plans


NBGRADER_EVERY = 5  # one mistake student in this many is also graded by nbgrader autograde


def nbgrader_sample(plans):
    """The students nbgrader autograde grades too: every one that is not a catalogue mistake,
    and every NBGRADER_EVERY-th mistake in catalogue order (each function has several)."""
    mistakes_ = [s for s in plans if s.startswith("mistake-")]
    return [s for s in plans if not s.startswith("mistake-")] + mistakes_[::NBGRADER_EVERY]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("class"))
    nbgrader(course, "generate_assignment", NAME, "--force")
    release = nbformat.read(str(course / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    plans = class_plans()
    for student, (plan, _) in plans.items():
        folder = course / "submitted" / student / NAME
        folder.mkdir(parents=True)
        nbformat.write(samples.make_notebook(release, plan), str(folder / f"{NAME}.ipynb"))
    # nbgrader autograde takes seconds a notebook: it grades the special students and every
    # NBGRADER_EVERY-th mistake (the batch grader grades them all)
    compared = nbgrader_sample(plans)
    nbgrader(course, "autograde", NAME, "--create", "--force",
             "--CourseDirectory.student_id_exclude=" + ",".join(s for s in plans if s not in compared))
    from conftest import gradebook_scores_for
    theirs = gradebook_scores_for(course, compared)
    out = course / "grading-output"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--out", str(out), "--course", str(course), "--no-progress"],
                          capture_output=True, text=True, env=nbgrader_cli.environment({"NBGRADER_DB_URL": ""}))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    return course, plans, theirs, results, out, proc


def test_every_verdict_and_diagnosis_is_as_expected(graded):
    """Does each student fail exactly the functions they got wrong, each with the expected diagnosis?"""
    _, plans, _, results, _, _ = graded
    assert set(results["students"]) == set(plans)
    for student, (_, failing) in plans.items():
        entry = results["students"][student]
        assert entry["error"] is None
        for function, verdict in entry["functions"].items():
            if function in failing:
                assert not verdict["passed"] and verdict["score"] == 0, (student, function)
                if failing[function]:
                    assert failing[function] in verdict["diagnosis"], (student, function, verdict)
                assert verdict["message"].startswith("Failed")
            else:
                assert verdict["passed"] and verdict["score"] == verdict["max"], (student, function, verdict)


def test_patching_numpy_gains_nothing(graded):
    """Does a submission that makes np.allclose and np.testing always pass get nothing for its wrong function?"""
    _, _, _, results, _, _ = graded
    entry = results["students"]["patcher"]
    assert entry["functions"]["rnn_cell_forward"]["score"] == 0
    assert entry["total"] == entry["max"] - assignment.points()["rnn_cell_forward"]


def test_nbgrader_autograde_agrees_on_honest_submissions(graded):
    """Do nbgrader autograde and the batch grader give the same score for every honest student
    and function that both graded (nbgrader_sample: one function of each kind at least)?"""
    _, plans, theirs, results, _, _ = graded
    sampled = {f for s in theirs for f in assignment.FUNCTIONS if s.startswith(f"mistake-{f}-")}
    assert sampled == set(assignment.FUNCTIONS), sorted(theirs)  # a mistake of every function
    disagreements = [(s, f, theirs[s][f], results["students"][s]["functions"][f]["score"])
                     for s in theirs if s != "patcher" for f in assignment.FUNCTIONS
                     if theirs[s][f] != results["students"][s]["functions"][f]["score"]]
    assert disagreements == []


def test_outputs_never_show_hidden_tests_or_reference_code(graded):
    """Do results.json, the feedback pages and the class report stay free of hidden test and reference code?"""
    course, _, _, _, out, proc = graded
    texts = {p: p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".json", ".html", ".csv")}
    texts["stdout"] = proc.stdout
    assert any(p.name == "index.html" for p in texts if hasattr(p, "name"))
    teacher = "\n".join(c.source for c in nbformat.read(
        str(course / "source" / NAME / f"{NAME}.ipynb"), as_version=4).cells)
    hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", teacher, flags=re.S)
    given = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", teacher, flags=re.S)
    secrets = {"### BEGIN HIDDEN TESTS", "### BEGIN SOLUTION"}
    secrets |= {line.strip() for block in hidden for line in block.splitlines() if line.strip()}
    for source in assignment.reference_sources().values():
        region = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        secrets |= {l.split("#")[0].strip() for l in region.splitlines()
                    if len(l.split("#")[0].strip()) > 15 and l.split("#")[0].strip() not in given}
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{where} shows {secret!r}"


def test_outputs_are_complete(graded):
    """Are results.json, grades.csv, one feedback page per student and the class report plots all written?"""
    _, plans, _, results, out, proc = graded
    rows = (out / "grades.csv").read_text().strip().splitlines()
    assert len(rows) == len(plans) + 1 and rows[0].startswith("student_id,total,max")
    assert len(list((out / "feedback").glob("*.html"))) == len(plans)
    for plot in ("score_distribution.png", "pass_rate.png", "diagnoses.png"):
        assert (out / "report" / plot).read_bytes().startswith(b"\x89PNG")
    assert "isolation:" in proc.stderr and results["isolation"]
    # the printed table has a line per student
    assert all(re.search(rf"^{re.escape(s)}\s", proc.stdout, flags=re.M) for s in plans)
