"""Does grading on a Dask cluster give exactly the results of grading on this machine?

A local cluster of two worker processes (one thread each) grades the bundled
samples plus two extra students, through autograder.grading.distributed.DaskRunner;
a local Runner grades the same sources.  Observations, verdicts and
whole batches must be identical.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from autograder import assignment
from autograder.course import samples
from autograder.grading import submissions, verdict
from autograder.grading.runner import Runner, write_payloads
from autograder.grading.settings import parse_args

distributed = pytest.importorskip("distributed")

from autograder.grading.distributed import (DaskRunner, KitMismatch, observe_on_worker,  # noqa: E402
                                    worker_slots)

# A cell that only works when it runs inside the Dask worker process itself.
IN_WORKER_PROCESS = ("from distributed import get_worker\n"
                     "get_worker()  # raises ValueError anywhere but in a Dask worker\n"
                     + assignment.reference_sources()["rnn_cell_forward"])
# A function that kills the process running it: the worker's child must restart.
KILLS_ITS_PROCESS = '''# GRADED FUNCTION: rnn_forward

def rnn_forward(x, a0, parameters):
    import os
    os._exit(3)
'''
STUDENTS = dict(samples.SAMPLES,
                mallory={"*": "reference", "rnn_cell_forward": IN_WORKER_PROCESS},
                oscar={"*": "reference", "rnn_forward": KILLS_ITS_PROCESS})
EXPECTED_FAILURES = dict(samples.EXPECTED_FAILURES, mallory={"rnn_cell_forward"},
                         oscar={"rnn_forward"})
NAME = assignment.ASSIGNMENT


@pytest.fixture(scope="module")
def cluster():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    yield cluster
    cluster.close()


def make_settings(submitted, out, jobs=2):
    # built by the grader's own argument parser, so new settings get their defaults
    return parse_args([str(submitted), "--out", str(out), "--jobs", str(jobs),
                              "--no-gradebook", "--no-progress"])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Submissions on disk, the settings of a batch and the case payloads."""
    base = tmp_path_factory.mktemp("dask-batch")
    submitted = base / "submitted"
    samples.write_submissions(submitted, assignment.ROOT / "release" / NAME / f"{NAME}.ipynb", STUDENTS)
    payload_dir = base / "payloads"
    payload_dir.mkdir()
    os.chmod(payload_dir, 0o755)
    write_payloads(payload_dir)
    for f in payload_dir.iterdir():
        os.chmod(f, 0o644)
    sources = {}
    for student in STUDENTS:
        found, problems = submissions.read_submission(submitted / student / NAME / f"{NAME}.ipynb")
        assert not problems, (student, problems)
        sources[student] = found
    return {"base": base, "submitted": submitted, "payload_dir": payload_dir, "sources": sources,
            "settings": make_settings(submitted, base / "out")}


def observe_all(runner, sources):
    """Every student's observations, two submissions at a time (as grade()'s thread pool does)."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {s: pool.submit(runner.observe, src) for s, src in sources.items()}
        return {s: f.result() for s, f in futures.items()}


@pytest.fixture(scope="module")
def local_observations(batch):
    runner = Runner(batch["settings"], batch["payload_dir"])
    try:
        return observe_all(runner, batch["sources"])
    finally:
        getattr(runner, "close", lambda: None)()  # stop its sandboxed servers before the cluster's start


@pytest.fixture(scope="module")
def dask_runner(batch, cluster, local_observations):
    with DaskRunner(batch["settings"], batch["payload_dir"], cluster.scheduler_address) as runner:
        yield runner


@pytest.fixture(scope="module")
def dask_observations(batch, dask_runner):
    return observe_all(dask_runner, batch["sources"])


def same_value(a, b):
    """Identical type, and for arrays identical dtype, shape and bytes (NaNs included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b


def test_cluster_observations_are_identical_to_local_ones(local_observations, dask_observations):
    """Does a Dask worker return, for every student and function, exactly the observations a
    local Runner returns: same keys, same types, same dtypes, shapes and bytes?"""
    assert set(dask_observations) == set(local_observations) == set(STUDENTS)
    for student, local in local_observations.items():
        remote = dask_observations[student]
        assert set(remote) == set(local) == set(assignment.FUNCTIONS), student
        for function in assignment.FUNCTIONS:
            assert set(remote[function]) == set(local[function]), (student, function)
            for key, value in local[function].items():
                assert same_value(value, remote[function][key]), (student, function, key)


def test_cluster_verdicts_are_identical_to_local_ones_and_as_expected(local_observations,
                                                                      dask_observations):
    """Does autograder.grading.verdict.judge give the same score, diagnosis and message from the cluster's
    observations as from the local ones, and does every student lose exactly the functions they
    were written to lose?"""
    for student in STUDENTS:
        lost = set()
        for function in assignment.FUNCTIONS:
            local = verdict.judge(function, local_observations[student][function]).as_dict()
            remote = verdict.judge(function, dask_observations[student][function]).as_dict()
            assert remote == local, (student, function)
            if not remote["passed"]:
                lost.add(function)
        assert lost == EXPECTED_FAILURES[student], student


def test_student_code_does_not_run_in_the_worker_process(dask_observations):
    """Does a cell that only works inside the Dask worker process fail on the cluster, showing
    that the student's code ran in the sandboxed child and not in the worker?"""
    result = verdict.judge("rnn_cell_forward", dask_observations["mallory"]["rnn_cell_forward"])
    assert not result.passed
    assert result.score == 0.0
    # get_worker() found no worker (or distributed could not even be imported there)
    assert "No worker found" in result.message or "ModuleNotFoundError" in result.message, result.message


def test_a_function_that_kills_its_process_is_charged_alone_on_the_cluster(dask_observations):
    """Does a function that kills its own process on a worker cost only that function, with the
    functions graded after it still observed normally?"""
    results = {f: verdict.judge(f, dask_observations["oscar"][f]) for f in assignment.FUNCTIONS}
    assert [f for f, r in results.items() if not r.passed] == ["rnn_forward"]


def test_grade_command_with_dask_gives_the_local_results(batch, cluster):
    """Does `python -m autograder grade --dask ADDRESS` (the real command) write the same
    results.json entries as the same command without --dask, and say where it ran?"""
    outputs = {}
    for name, extra in (("local", []), ("dask", ["--dask", cluster.scheduler_address])):
        out = batch["base"] / f"out-cli-{name}"
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(batch["submitted"]),
                               "--out", str(out), "--jobs", "2", "--no-gradebook", "--no-progress",
                               *extra], cwd=assignment.ROOT, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[name] = (json.loads((out / "results.json").read_text()), proc.stderr)
    (local, _), (remote, log) = outputs["local"], outputs["dask"]
    assert remote["students"] == local["students"]
    assert set(remote["students"]) == set(STUDENTS)
    assert {s for s, e in remote["students"].items() if e["total"] < e["max"]} == \
        {s for s, failing in EXPECTED_FAILURES.items() if failing}
    assert f"dask cluster {cluster.scheduler_address}: 2 worker(s)" in log
    assert remote["isolation"].startswith("dask cluster")


def test_worker_with_other_cases_refuses_to_grade(batch, dask_runner):
    """Does a worker refuse to grade (KitMismatch) when the grader's cases differ from the
    worker's own, as they would with another version of the kit installed there?"""
    future = dask_runner.client.submit(observe_on_worker, dask_runner.settings,
                                       batch["sources"]["alice"], "0" * 64, pure=False)
    with pytest.raises(KitMismatch, match="same version of the kit"):
        future.result()


def test_worker_processes_of_one_machine_hold_different_sandbox_slots(dask_runner):
    """Do two worker processes on the same machine hold different sandbox slots (uids), so their
    children never share one?"""
    held = dask_runner.client.run(worker_slots)
    assert len(held) == 2
    slots = [slot for worker in held.values() for slot in worker]
    assert all(len(worker) == 1 for worker in held.values()), held  # one thread each
    assert len(set(slots)) == len(slots), held


def test_runner_sizes_the_pool_and_keeps_the_database_url_home(batch, dask_runner):
    """Does DaskRunner report the cluster's two worker threads as its parallelism, name the
    workers' isolation, and keep the gradebook URL (it may hold a password) away from workers?"""
    assert dask_runner.parallelism() == 2
    assert "2 worker(s)" in dask_runner.describe()
    assert dask_runner.settings.db_url is None
    assert dask_runner.settings.submitted.is_absolute() and dask_runner.settings.out.is_absolute()
