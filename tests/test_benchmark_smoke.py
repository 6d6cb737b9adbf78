"""Does the grading benchmark run end to end and check the two graders against each other?

Only correctness is asserted: that both graders agree on every verdict, that
the submissions were the intended mix, and that every figure of the report
is a number.  Timings are never judged: they depend on the machine.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import assignment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_grading, mix  # noqa: E402


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and value > 0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    out = base / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_grading.py"),
                           "--sizes", "6", "--nbgrader-max", "6", "--jobs", "2",
                           "--mix", "6", "--mix-nbgrader", "2", "--startup-runs", "1",
                           "--floor-repeats", "20",
                           "--out", str(out), "--work", str(base / "work")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return {"json": json.loads(out.read_text()), "markdown": out.with_suffix(".md").read_text(),
            "stdout": proc.stdout}


def test_both_graders_agree_on_every_verdict(report):
    """Do the batch grader and nbgrader autograde give every student the same score for every
    function, the broken files included?"""
    [row] = report["json"]["sizes"]
    assert row["n"] == 6
    assert row["verdicts"]["agree"], row["verdicts"]["mismatches"]
    assert row["verdicts"]["mismatches"] == []
    assert row["verdicts"]["compared"] == 6 * len(assignment.FUNCTIONS)


def test_every_student_lost_what_their_submission_should_lose(report):
    """Did each of the six kinds of submission (reference, release, the two seed samples, an
    invalid and an empty file) lose exactly its intended functions, and could nbgrader not
    process exactly the two broken files?"""
    [row] = report["json"]["sizes"]
    assert row["expected_mismatches"] == []
    broken = sorted(s for s, k in mix.student_ids(6) if k.failing == mix.BROKEN)
    assert len(broken) == 2
    assert row["nbgrader_could_not_process"] == broken


def test_the_report_has_numbers(report):
    """Does the report give a number for every throughput, memory and latency figure, and
    print them as a markdown table?"""
    data = report["json"]
    [row] = data["sizes"]
    for key in ("ours", "nbgrader"):
        figures = row[key]
        assert figures["how"] == "measured"
        for name in ("seconds", "seconds_per_submission", "submissions_per_second", "peak_rss_mb"):
            assert is_number(figures[name]), (key, name, figures[name])
    assert is_number(row["speed_ratio"])
    assert is_number(data["startup"]["ours"]["seconds"]) and is_number(data["startup"]["nbgrader"]["seconds"])
    latency = data["student_latency"]
    assert latency["validate_release"]["verdict"].startswith("VALIDATION FAILED ON 8 CELL(S)")
    assert latency["validate_completed"]["verdict"] == "passes all the tests"
    assert is_number(latency["validate_release"]["seconds"])
    for function in assignment.FUNCTIONS:
        assert is_number(latency["completed_notebook"]["cells"][f"example_{function}"]), function
        assert is_number(latency["source_notebook"]["cells"][f"test_{function}"]), function
    for text in (report["markdown"], report["stdout"]):
        assert "| N | grader |" in text and "| 6 | nbgrader autograde | measured |" in text


def test_the_first_round_mix_is_graded_and_compared(report):
    """Does the first-round mix of issue 12 (one correct notebook, then buggy ones with a
    mistake in every function) lose exactly what each submission should, do nbgrader and
    the batch grader agree on the students both graded, and are the floor, start-up and
    ratios reported as numbers?"""
    data = report["json"]["issue12"]
    row = data["mix"]
    assert row["n"] == 6 and row["nbgrader_n"] == 2
    assert row["expected_mismatches"] == []
    assert row["verdicts"]["agree"], row["verdicts"]["mismatches"]
    assert row["verdicts"]["compared"] == 2 * len(assignment.FUNCTIONS)
    assert is_number(row["ours"]["submissions_per_minute"])
    assert data["floor"]["cases"] == 40 and is_number(data["floor"]["min_seconds"])
    assert data["floor"]["min_seconds"] <= data["floor"]["median_seconds"]
    for label in ("gradebook", "no_gradebook"):
        startup = data["startup"][label]
        assert is_number(startup["cold_seconds"]) and len(startup["warm_seconds"]) == 1
        assert all(is_number(x) for x in startup["warm_seconds"])
    summary = data["summary"]
    assert is_number(summary["distance_to_floor"]) and is_number(summary["speed_ratio_vs_nbgrader"])
    assert "### Issue 12" in report["markdown"]


def test_the_first_round_mix_has_a_mistake_in_every_function():
    """Is every buggy kind of the first-round mix a known mistake in each of the eight
    functions, with one correct notebook for every 19 buggy ones?"""
    kinds = mix.first_round_kinds()
    assert len(kinds) == 1 + mix.BUGGY_PER_CORRECT
    assert kinds[0].failing == frozenset() and kinds[0].plan == {"*": "reference"}
    for kind in kinds[1:]:
        assert kind.failing == frozenset(assignment.FUNCTIONS)
        assert set(kind.plan) == {"*", *assignment.FUNCTIONS}
        assert all(kind.plan[f] != assignment.reference_sources()[f] for f in assignment.FUNCTIONS)
    assert len({tuple(sorted(k.plan.items())) for k in kinds}) == len(kinds)


def test_a_disagreement_would_be_reported():
    """Would the comparison catch a function the two graders scored differently (so that
    'agree' can be trusted)?"""
    students = dict(mix.student_ids(1))
    [student] = students
    entry = {"error": None, "functions": {f: {"score": 10.0, "passed": True} for f in assignment.FUNCTIONS}}
    theirs = {student: {f: 10.0 for f in assignment.FUNCTIONS}}
    assert bench_grading.check_verdicts(students, {student: entry}, theirs)["agree"]
    theirs[student]["lstm_backward"] = 0.0
    result = bench_grading.check_verdicts(students, {student: entry}, theirs)
    assert not result["agree"]
    assert result["mismatches"] == [f"{student} lstm_backward: batch grader 10, nbgrader 0.0"]


def test_the_gradebook_benchmark_finds_both_writers_leave_the_same_rows(tmp_path):
    """Does bench_gradebook.py run end to end, with the writer and nbgrader's own API leaving
    the same rows in the gradebook, and report a number for every phase?"""
    out = tmp_path / "gradebook.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gradebook.py"),
                           "--students", "6", "--rounds", "1", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    figures = json.loads(out.read_text())
    assert figures["same_rows"] is True
    for label in ("nbgrader_api", "writer"):
        for phase in ("first", "regrade"):
            assert is_number(figures[label][phase]["wall_s"]), (label, phase)
    assert "same rows left by both (every column but the ids): yes" in proc.stdout


def test_the_gradebook_benchmark_would_see_different_rows(tmp_path):
    """Would the gradebook benchmark notice a writer that left a different score?"""
    from benchmarks import bench_gradebook
    from autograder.grading import gradebook
    template = bench_gradebook.make_template(tmp_path)
    results = bench_gradebook.class_results(3)
    ours = bench_gradebook.empty_course(template, tmp_path / "ours")
    theirs = bench_gradebook.empty_course(template, tmp_path / "theirs")
    bench_gradebook.nbgrader_api(results, theirs)
    changed = json.loads(json.dumps(results))
    changed["students"]["student0001"]["functions"]["rnn_forward"]["score"] = 0.0
    gradebook.write_gradebook(changed, ours)
    assert bench_gradebook.rows(ours / "gradebook.db") != bench_gradebook.rows(theirs / "gradebook.db")
    gradebook.write_gradebook(results, ours)
    assert bench_gradebook.rows(ours / "gradebook.db") == bench_gradebook.rows(theirs / "gradebook.db")


def test_the_sandbox_profiler_runs_the_real_units():
    """Does profile_sandbox.py run the units of the first-round mix in one process, judge
    every submission as the mix says it must be judged, and print a number of ms?"""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_sandbox.py"),
                           "--n", "3", "--top", "5"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith("3 submissions of the first-round mix: ") and "ms of CPU a submission" in first
    assert is_number(float(first.split(": ")[1].split()[0]))


def test_the_sandbox_profiler_would_notice_units_that_are_not_the_real_ones(monkeypatch, capsys):
    """If the profiler ran the units without the students' cells (as a wrong path to the
    notebook would), would it say so and exit 1 rather than print a figure of nothing?"""
    from benchmarks import profile_sandbox
    real = profile_sandbox.run_units
    monkeypatch.setattr(profile_sandbox, "run_units",
                        lambda sources, *rest: real({}, *rest))
    assert profile_sandbox.main(["--n", "2", "--top", "3"]) == 1
    assert "not judged as the mix says" in capsys.readouterr().err
