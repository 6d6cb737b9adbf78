"""Do the release notebook's visible checks tell students the truth?

Twenty-two typical mistakes, each written into one function of an otherwise
correct notebook, are run through the release's own example cells, graded
cells (visible lines) and gradient-check cells, from a copy of the release
folder alone (no kit on the path).  None may be told "The visible checks
pass", and each must be blamed on the function that holds it, and only there.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnn_checks
import rnn_utils
from autograder import assignment, cases
from autograder.sandbox import compare

ROOT = Path(__file__).resolve().parent.parent
NAME = assignment.ASSIGNMENT
RELEASE = ROOT / "release" / NAME
FUNCTIONS = assignment.FUNCTIONS
PASS = "The visible checks pass."

# (name, function, text of the reference solution, what the student wrote instead)
MISTAKES = [
    ("prediction from a_prev", "rnn_cell_forward",
     "softmax(np.dot(Wya, a_next) + by)", "softmax(np.dot(Wya, a_prev) + by)"),
    ("no ba", "rnn_cell_forward", "np.dot(Wax, xt) + ba)", "np.dot(Wax, xt))"),
    ("sigmoid for tanh", "rnn_cell_forward", "a_next = np.tanh(", "a_next = sigmoid("),
    ("no by", "rnn_cell_forward", "np.dot(Wya, a_next) + by)", "np.dot(Wya, a_next))"),
    ("a0 at every step", "rnn_forward", "rnn_cell_forward(x[:, :, t], a_next, parameters)",
     "rnn_cell_forward(x[:, :, t], a0, parameters)"),
    ("first input at every step", "rnn_forward",
     "rnn_cell_forward(x[:, :, t], a_next, parameters)",
     "rnn_cell_forward(x[:, :, 0], a_next, parameters)"),
    ("xt stacked on top of a_prev", "lstm_cell_forward",
     "np.concatenate((a_prev, xt), axis=0)", "np.concatenate((xt, a_prev), axis=0)"),
    ("tanh forget gate", "lstm_cell_forward", "ft = sigmoid(", "ft = np.tanh("),
    ("sigmoid candidate", "lstm_cell_forward", "cct = np.tanh(", "cct = sigmoid("),
    ("memory kept whole", "lstm_cell_forward", "c_next = ft * c_prev + it * cct",
     "c_next = c_prev + it * cct"),
    ("no tanh on the memory", "lstm_cell_forward", "a_next = ot * np.tanh(c_next)",
     "a_next = ot * c_next"),
    ("no bo", "lstm_cell_forward", "np.dot(Wo, concat) + bo)", "np.dot(Wo, concat))"),
    ("memory reset at every step", "lstm_forward",
     "lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)",
     "lstm_cell_forward(x[:, :, t], a_next, np.zeros((n_a, m)), parameters)"),
    ("initial memory a view into c", "lstm_forward", "c_next = np.zeros((n_a, m))",
     "c_next = c[:, :, 0]"),
    ("tanh applied again to a_next", "rnn_cell_backward", "dz = da_next * (1 - a_next ** 2)",
     "dz = da_next * (1 - np.tanh(a_next) ** 2)"),
    ("dba averaged over the batch", "rnn_cell_backward", "dba = np.sum(dz, axis=1, keepdims=True)",
     "dba = np.mean(dz, axis=1, keepdims=True)"),
    ("dWaa from a_next", "rnn_cell_backward", "dWaa = np.dot(dz, a_prev.T)",
     "dWaa = np.dot(dz, a_next.T)"),
    ("da_prevt not carried", "rnn_backward", "rnn_cell_backward(da[:, :, t] + da_prevt, step_caches[t])",
     "rnn_cell_backward(da[:, :, t], step_caches[t])"),
    ("dWax overwritten", "rnn_backward", 'dWax += step["dWax"]', 'dWax = step["dWax"]'),
    ("dc_prev without the forget gate", "lstm_cell_backward", "dc_prev = dc * ft", "dc_prev = dc"),
    ("dc without the da path", "lstm_cell_backward",
     "dc = dc_next + da_next * ot * (1 - tanh_c ** 2)", "dc = dc_next"),
    ("dc_prevt not carried", "lstm_backward", 'dc_prevt = step["dc_prev"]',
     "dc_prevt = np.zeros((n_a, m))"),
]

# Runs in a copy of the release folder, with nothing of the kit on its path.
DRIVER = r'''
import contextlib, io, json, sys
job = json.load(sys.stdin)
out = []
for run in job["runs"]:
    ns = {"__name__": "__main__"}
    exec(job["setup"], ns)
    for name, source in run["sources"].items():
        exec(compile(source, "<solution " + name + ">", "exec"), ns)
    cells = {}
    for key, source in job["cells"].items():
        text = io.StringIO()
        error = None
        with contextlib.redirect_stdout(text):
            try:
                exec(compile(source, "<" + key + ">", "exec"), ns)
            except Exception as exc:
                error = type(exc).__name__ + ": " + str(exc)
        cells[key] = {"out": text.getvalue(), "error": error}
    out.append(cells)
print(json.dumps(out))
'''


def release_cells():
    """{kind/function: source} of the release's example, graded and gradient-check cells."""
    nb = json.loads((RELEASE / f"{NAME}.ipynb").read_text())
    cells = {}
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("example_"):
            cells["example/" + grade_id[len("example_"):]] = source
        elif grade_id.startswith("test_"):
            cells["graded/" + grade_id[len("test_"):]] = source
        elif cell["cell_type"] == "code" and source.startswith("errors = gradient_check("):
            cells["gradient/" + source.split('"')[1]] = source
    return cells


def mutated(function, old, new):
    sources = dict(assignment.reference_sources())
    assert sources[function].count(old) == 1, (function, old)
    sources[function] = sources[function].replace(old, new)
    return sources


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The release's cells run on the reference and on each of the mistakes."""
    folder = tmp_path_factory.mktemp("student") / NAME
    shutil.copytree(RELEASE, folder)
    (folder / "driver.py").write_text(DRIVER)
    cells = release_cells()
    assert {k.split("/")[0] for k in cells} == {"example", "graded", "gradient"}
    job = {"setup": assignment.setup_source(), "cells": cells,
           "runs": [{"sources": dict(assignment.reference_sources())}] +
                   [{"sources": mutated(f, old, new)} for _, f, old, new in MISTAKES]}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBGRADER_EXECUTION")}
    proc = subprocess.run([sys.executable, "driver.py"], cwd=folder, input=json.dumps(job),
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    return results[0], dict(zip([m[0] for m in MISTAKES], results[1:]))


def test_the_set_holds_22_mistakes_in_every_function():
    """Are there 22 distinct mistakes, spread over all eight functions?"""
    assert len(MISTAKES) == 22 and len({m[0] for m in MISTAKES}) == 22
    assert {m[1] for m in MISTAKES} == set(FUNCTIONS)


def test_the_reference_passes_every_visible_check(runs):
    """Does a correct notebook pass every example cell, graded cell and gradient check?"""
    reference, _ = runs
    for function in FUNCTIONS:
        example = reference["example/" + function]
        assert example["error"] is None and PASS in example["out"], example
        assert "differ" not in example["out"]
        assert reference["graded/" + function]["error"] is None
    for function in rnn_utils.FORWARD_OF:
        check = reference["gradient/" + function]
        assert check["error"] is None and "WRONG" not in check["out"] and "Note" not in check["out"]
        assert check["out"].count(" ok") == len(rnn_utils.GRADIENT_KEYS[function])


@pytest.mark.parametrize("mistake", [m[0] for m in MISTAKES])
def test_a_mistake_is_never_told_it_passes_and_is_blamed_on_its_function(runs, mistake):
    """Is the mistake's own example check failed with a message naming its function, while
    every other function's check still passes?"""
    _, by_mistake = runs
    function = next(m[1] for m in MISTAKES if m[0] == mistake)
    cells = by_mistake[mistake]
    own = cells["example/" + function]
    assert PASS not in own["out"], own
    assert own["error"] is not None and own["error"].startswith("CheckFailed"), own
    assert function in own["error"] and ("differs" in own["error"] or "passed" in own["error"])
    graded = cells["graded/" + function]
    assert graded["error"] is not None and function in graded["error"]
    for other in FUNCTIONS:
        if other != function:
            assert cells["example/" + other]["error"] is None, (other, cells["example/" + other])
            assert PASS in cells["example/" + other]["out"]
            assert cells["graded/" + other]["error"] is None, (other, cells["graded/" + other])


@pytest.mark.parametrize("mistake", [m[0] for m in MISTAKES])
def test_gradient_checks_blame_only_a_backward_mistake(runs, mistake):
    """Does a backward mistake show as WRONG in its own gradient check only, and does a forward
    mistake leave every gradient check ok, with a note naming the forward function?"""
    _, by_mistake = runs
    function = next(m[1] for m in MISTAKES if m[0] == mistake)
    cells = by_mistake[mistake]
    for backward, forward in rnn_utils.FORWARD_OF.items():
        check = cells["gradient/" + backward]
        if backward == function:
            assert "WRONG" in check["out"] or (check["error"] and function in check["error"]), check
        else:
            assert check["error"] is None and "WRONG" not in check["out"], (backward, check)
            assert "suspicious" not in check["out"]
        if forward == function:
            assert f"Note: your {function} does not give the correct results" in check["out"], check
            assert f"judged {backward} alone" in check["out"]


def test_a_loop_with_a_broken_cell_is_judged_alone_and_told_so(runs):
    """When only rnn_cell_forward is wrong, does rnn_forward's check pass and say that its
    own cell function changes the values?"""
    _, by_mistake = runs
    out = by_mistake["no ba"]["example/rnn_forward"]["out"]
    assert PASS in out and "With your own rnn_cell_forward the values differ" in out


def test_messages_name_the_wrong_value_in_a_students_words(runs):
    """Do the messages say which entry differs, its expected and actual value, and what it
    should be computed from?"""
    _, by_mistake = runs
    msg = by_mistake["prediction from a_prev"]["example/rnn_cell_forward"]["error"]
    assert "yt_pred[" in msg and "expected" in msg and "got" in msg and "a_next" in msg
    msg = by_mistake["a0 at every step"]["example/rnn_forward"]["error"]
    assert "step t = 1" in msg and "a_prev" in msg and "a0 only at step 0" in msg
    msg = by_mistake["tanh forget gate"]["example/lstm_cell_forward"]["error"]
    assert "is wrong on this example: ft[" in msg and "sigmoid" in msg
    msg = by_mistake["initial memory a view into c"]["example/lstm_forward"]["error"]
    assert "c_prev in the cache of step 0" in msg


# ---------------------------------------------------------------------------
# The saved data: one source of the published values, proved against the reference
# ---------------------------------------------------------------------------

DATA = RELEASE / rnn_checks.DATA_NAME


def _same(a, b):
    return rnn_checks.difference(a, b, "value") is None and rnn_checks.difference(b, a, "value") is None


def test_saved_examples_are_the_references_results_on_the_published_example():
    """Does the data file hold the reference's results on the published (seed 1) example, and
    do the Expected output tables show exactly those numbers?"""
    data = rnn_checks.load_data(DATA)
    notebook = (RELEASE / f"{NAME}.ipynb").read_text()
    for function in FUNCTIONS:
        published = cases.cases_for(function)[0]
        assert published.seed == 1
        fresh = cases.prepare(published)
        saved = data[function]["example"]
        assert _same(saved["expected"], fresh.expected), function
        assert _same(saved["args"], tuple(fresh.args)), function
        for label, text in rnn_checks.shown_values(function, fresh.expected,
                                                   rnn_utils.GRADIENT_KEYS.get(function)):
            assert json.dumps(f"| `{label}` | `{text}` |")[1:-1] in notebook, (function, label)


def test_saved_numerical_gradients_are_finite_differences_of_a_correct_forward():
    """Is every saved numerical gradient what centred differences of the reference forward
    give (recomputed here), and does the reference backward agree with it to 1e-7?"""
    data = rnn_checks.load_data(DATA)
    eps = 1e-5
    for backward, forward_name in rnn_utils.FORWARD_OF.items():
        saved = data[backward]["gradient_check"]
        forward = assignment.reference(forward_name)
        inputs = saved["inputs"]
        sizes = {k: v for k, v in rnn_utils.GRADIENT_CASE.items() if k != "seed"}
        if "cell" in backward:
            sizes.pop("T_x")
        drawn = rnn_utils.example_inputs(backward, rnn_utils.GRADIENT_CASE["seed"], **sizes)
        assert _same(drawn["forward"], inputs)
        upstream = {k: v for k, v in drawn.items() if k != "forward"}

        def loss():
            out = forward(**inputs)
            total = np.sum(out[0] * upstream.get("da_next", upstream.get("da")))
            return total + (np.sum(out[1] * upstream["dc_next"]) if "dc_next" in upstream else 0.0)

        analytic = assignment.reference(backward)(*saved["args"])
        for key in rnn_utils.GRADIENT_KEYS[backward]:
            target = rnn_checks.gradient_target(key, inputs)
            estimate = np.zeros(target.shape)
            for i in np.ndindex(target.shape):
                keep = target[i]
                target[i] = keep + eps
                up = loss()
                target[i] = keep - eps
                down = loss()
                target[i] = keep
                estimate[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(saved["numeric"][key], estimate, rtol=1e-9, atol=1e-12)
            assert rnn_utils.relative_error(analytic[key], estimate) < 1e-7, (backward, key)


def test_release_data_holds_no_hidden_case():
    """Are the saved cases only the published example and the gradient-check case, which is
    none of the graded cases?"""
    data = rnn_checks.load_data(DATA)
    for function in FUNCTIONS:
        assert set(data[function]) <= {"example", "gradient_check"}
        graded = [(c.seed, c.n_x, c.n_a, c.n_y, c.m) for c in cases.cases_for(function)]
        g = rnn_utils.GRADIENT_CASE
        assert (g["seed"], g["n_x"], g["n_a"], g["n_y"], g["m"]) not in graded
    text = (RELEASE / f"{NAME}.ipynb").read_text()
    assert "HIDDEN" not in text and "autograder" not in text


def test_check_tolerances_are_the_batch_graders():
    """Do the visible checks use the tolerances of the batch grader's comparison?"""
    assert (rnn_checks.RTOL, rnn_checks.ATOL) == (compare.RTOL, compare.ATOL)


def test_gradient_check_judges_the_backward_on_a_correct_cache_only(monkeypatch, capsys):
    """With a forward that forgets ba and a correct backward, are all gradients ok (and the
    forward named), and with a correct forward and a spoiled dba, is only dba flagged?"""
    monkeypatch.setattr(rnn_checks, "DATA_FILE", DATA)
    ns = assignment.new_namespace()
    bad = mutated("rnn_cell_forward", "np.dot(Wax, xt) + ba)", "np.dot(Wax, xt))")
    exec(bad["rnn_cell_forward"], ns)
    correct = assignment.reference("rnn_cell_backward")
    errors = rnn_utils.gradient_check("rnn_cell_backward", ns["rnn_cell_forward"], correct)
    assert set(errors) == set(rnn_utils.GRADIENT_KEYS["rnn_cell_backward"])
    assert max(errors.values()) < 1e-7
    assert "Note: your rnn_cell_forward does not give the correct results" in capsys.readouterr().out

    def spoiled(da_next, cache):
        gradients = correct(da_next, cache)
        gradients["dba"] = gradients["dba"] * 1.1
        return gradients
    errors = rnn_utils.gradient_check("rnn_cell_backward", assignment.reference("rnn_cell_forward"),
                                      spoiled)
    assert errors["dba"] > 1e-4 and all(v < 1e-7 for k, v in errors.items() if k != "dba")
    out = capsys.readouterr().out
    assert "dba: relative error" in out and "WRONG" in out and "Note" not in out


def test_student_helper_is_short_and_the_release_carries_both_helpers():
    """Is rnn_utils.py under 250 lines, and do source/ and release/ carry byte copies of both
    helper files?"""
    assert len((ROOT / "rnn_utils.py").read_text().splitlines()) < 250
    for stage in ("source", "release"):
        for helper in ("rnn_utils.py", "rnn_checks.py"):
            assert (ROOT / stage / NAME / helper).read_bytes() == (ROOT / helper).read_bytes()


def test_the_limited_kernel_is_installed_once_as_a_user_kernelspec(tmp_path, monkeypatch):
    """Does install_user write the kernelspec where Jupyter looks for user kernels, leave it
    alone when it is already right, and can jupyter_client then find it?"""
    from jupyter_client.kernelspec import KernelSpecManager

    from autograder.course import kernel as limited_kernel
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    folder, written = limited_kernel.install_user()
    assert written and folder == tmp_path / "kernels" / limited_kernel.KERNEL_NAME
    before = (folder / "kernel.json").stat().st_mtime_ns
    assert limited_kernel.install_user() == (folder, False)
    assert (folder / "kernel.json").stat().st_mtime_ns == before
    spec = KernelSpecManager().get_kernel_spec(limited_kernel.KERNEL_NAME)
    assert spec.argv[:3] == [sys.executable, "-m", "autograder.course.kernel"]


def test_the_limited_kernel_can_start_threads_while_its_user_runs_many():
    """When the user already runs many threads (the grader's own, pytest's), does the limited
    kernel's RLIMIT_NPROC, set relative to what the user runs, still let the kernel start
    threads of its own?  (It counts threads as well as processes.)"""
    import threading

    from autograder.course import kernel as limited_kernel
    release = threading.Event()
    held = [threading.Thread(target=release.wait, daemon=True)
            for _ in range(2 * limited_kernel.EXTRA_PROCESSES)]
    for t in held:
        t.start()
    code = ("import threading\n"
            "from autograder.course.kernel import apply_limits\n"
            "apply_limits()\n"
            "e = threading.Event()\n"
            "ts = [threading.Thread(target=e.wait) for _ in range(16)]\n"
            "[t.start() for t in ts]\n"
            "e.set()\n"
            "[t.join() for t in ts]\n"
            "print('started', len(ts))\n")
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
    finally:
        release.set()
        for t in held:
            t.join()
    assert (run.returncode, run.stdout) == (0, "started 16\n"), run.stderr
