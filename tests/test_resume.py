"""A killed batch resumes from its journal; unchanged work is never redone.

OUT_DIR/.journal holds one file per finished student.  These tests kill a real
batch (SIGKILL, --jobs 1) once at least 3 students are in the journal, start it
again, and check that the students already graded were kept (their journal
files untouched), that every student is graded, and that the final results
equal those of a clean run.  Then: a rerun on unchanged submissions is
idempotent (a message cut for length included), and changing one submission
regrades exactly that one.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course import samples

from conftest import NAME, make_course
from test_attacks import KIT, grade_cmd, grader_env, run_grader

PLANS = ["alice", "bob", "carol", "dave", "erin", "frank"]
STUDENTS = {f"s{i:02d}": samples.SAMPLES[PLANS[i % len(PLANS)]] for i in range(12)}
CHANGED = "s05"  # frank's plan, then given the seed-001 bug in lstm_backward as well


def write_all(root: Path) -> None:
    release = nbformat.read(str(KIT / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    for student, plan in STUDENTS.items():
        folder = root / student / NAME
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(samples.make_notebook(release, plan), str(folder / f"{NAME}.ipynb"))


def journal_state(out: Path) -> dict:
    """{journal file name: (inode, mtime_ns, student)} of every finished entry."""
    state = {}
    for path in sorted((out / ".journal").glob("*.json")):
        st = path.stat()
        state[path.name] = (st.st_ino, st.st_mtime_ns, json.loads(path.read_text())["student"])
    return state


def wait_for_journal(proc, out: Path, entries: int) -> None:
    """Return once the batch `proc` has at least `entries` students in its journal."""
    deadline = time.monotonic() + 300
    while not (out / ".journal").is_dir() or len(journal_state(out)) < entries:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline, "no journal entries after 300 s"
        time.sleep(0.02)


def kept(stderr: str) -> int:
    found = re.findall(r"(\d+) unchanged submission\(s\) kept from the journal", stderr)
    return int(found[-1]) if found else 0


def survivors(scratch: Path) -> list:
    """Pids of processes whose command line names the scratch directory (the batch's TMPDIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(scratch).encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("resume")
    course = make_course(scratch / "course")
    submitted = scratch / "submitted"
    write_all(submitted)

    # a clean run, for comparison
    clean, _ = run_grader(submitted, scratch / "clean-out", course, "--no-gradebook", scratch=scratch)

    # a run killed after at least 3 students are in the journal
    out = scratch / "out"
    proc = subprocess.Popen(grade_cmd(submitted, out, course, "--no-gradebook", jobs=1), cwd=KIT,
                            env=grader_env(scratch), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_journal(proc, out, 3)
    finally:
        proc.send_signal(signal.SIGKILL)  # only the grader itself: its sandbox must die with it
        proc.wait()
        proc.stderr.close()
    time.sleep(0.5)  # anything the killed grader left running would write now
    leftovers = survivors(scratch)
    for pid in leftovers:  # started (indirectly) by this test: end them, by pid
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    after_kill = journal_state(out)
    results_after_kill = (out / "results.json").exists()

    second, second_proc = run_grader(submitted, out, course, "--no-gradebook", scratch=scratch, jobs=1)
    return {"scratch": scratch, "course": course, "submitted": submitted, "out": out, "clean": clean,
            "after_kill": after_kill, "results_after_kill": results_after_kill, "second": second,
            "second_stderr": second_proc.stderr, "second_journal": journal_state(out),
            "leftovers": leftovers}


def test_kill_left_a_partial_journal(resumed):
    """Was the batch killed part-way: at least 3 students journaled, not all, no results.json?"""
    n = len(resumed["after_kill"])
    assert 3 <= n < len(STUDENTS), n
    assert not resumed["results_after_kill"]


def test_killed_grader_leaves_no_process_behind(resumed):
    """Did the sandboxed processes of the killed grader die with it?"""
    assert resumed["leftovers"] == []


def test_resume_keeps_the_journaled_students(resumed):
    """Does the second run say it kept exactly the students of the killed run, and leave their
    journal files untouched (not graded twice)?"""
    before, after = resumed["after_kill"], resumed["second_journal"]
    assert kept(resumed["second_stderr"]) == len(before), resumed["second_stderr"][-2000:]
    for name, state in before.items():
        assert after[name] == state, f"{state[2]} was graded again"
    assert sorted(s for _, _, s in after.values()) == sorted(STUDENTS)  # one entry per student


def test_resumed_results_equal_a_clean_run(resumed):
    """Are the final results of the killed-then-resumed batch those of an uninterrupted run?"""
    assert resumed["second"]["students"] == resumed["clean"]["students"]
    assert set(resumed["second"]["students"]) == set(STUDENTS)


def test_rerun_is_idempotent_and_regrades_only_what_changed(resumed):
    """Does a rerun on unchanged submissions keep everyone from the journal and write the same
    results.json; and after one submission changes, is exactly that one regraded?"""
    out, course, submitted, scratch = resumed["out"], resumed["course"], resumed["submitted"], resumed["scratch"]
    before_bytes = (out / "results.json").read_bytes()
    journal = journal_state(out)
    _, proc = run_grader(submitted, out, course, "--no-gradebook", scratch=scratch)
    assert kept(proc.stderr) == len(STUDENTS), proc.stderr[-2000:]
    assert (out / "results.json").read_bytes() == before_bytes
    assert journal_state(out) == journal

    # change one submission: its lstm_backward gets the seed-001 bug
    release = nbformat.read(str(KIT / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    plan = dict(STUDENTS[CHANGED], lstm_backward=samples.LSTM_BACKWARD_SEED_001)
    nbformat.write(samples.make_notebook(release, plan), str(submitted / CHANGED / NAME / f"{NAME}.ipynb"))
    old = json.loads(before_bytes)["students"]
    new, proc = run_grader(submitted, out, course, "--no-gradebook", scratch=scratch)
    assert kept(proc.stderr) == len(STUDENTS) - 1, proc.stderr[-2000:]
    changed_journal = {n for n, st in journal_state(out).items() if journal.get(n) != st}
    assert [journal_state(out)[n][2] for n in changed_journal] == [CHANGED]
    assert {s for s in STUDENTS if new["students"][s] != old[s]} == {CHANGED}
    assert new["students"][CHANGED]["functions"]["lstm_backward"]["passed"] is False
    assert old[CHANGED]["functions"]["lstm_backward"]["passed"] is True


def test_a_grader_fault_costs_no_grade_and_is_retried(tmp_path, monkeypatch):
    """When the grader itself fails on one submission (a bug of ours, not the student's), are
    the others graded and journaled, is that one reported as not graded and kept out of the
    journal, and does the next run grade it?"""
    from autograder.grading import batch, faults, judge, submissions
    from autograder.grading.settings import parse_args
    submitted = tmp_path / "submitted"
    write_all(submitted)
    argv = [str(submitted), "--out", str(tmp_path / "out"), "--jobs", "2", "--no-gradebook",
            "--no-progress"]
    real = judge.judge_submission
    victim = STUDENTS["s03"]

    def faulty(sources, problems, observations):
        if sources == faulty.target:
            raise RuntimeError("a bug in the judge")
        return real(sources, problems, observations)
    faulty.target = submissions.read_submission(submitted / "s03" / NAME / f"{NAME}.ipynb")[0]
    assert victim == STUDENTS["s09"]  # the same plan: both students meet the fault
    monkeypatch.setattr(judge, "judge_submission", faulty)
    logged = []
    first = batch.grade(parse_args(argv), log=logged.append)
    assert first["not_graded"] == ["s03", "s09"]
    assert first["students"]["s03"]["error"] == faults.GRADER_FAULT
    assert any("s03: the grader failed" in line and "a bug in the judge" in line for line in logged)
    assert len(list((tmp_path / "out" / ".journal").glob("*.json"))) == len(STUDENTS) - 2

    monkeypatch.setattr(judge, "judge_submission", real)
    logged.clear()
    second = batch.grade(parse_args(argv), log=logged.append)
    assert second["not_graded"] == []
    assert f"{len(STUDENTS) - 2} unchanged submission(s) kept from the journal" in logged
    assert second["students"]["s03"]["error"] is None
    assert second["students"]["s03"] == second["students"]["s09"]
    assert second["students"]["s03"]["total"] > 0


# The grader's command line with a lower MESSAGE_CHARS: the child keeps 500 characters of an
# exception's text (engine._describe) and the parent at most 2000 of any text a child sends
# (verdict.screen), so no message of a real batch reaches 8000 characters; below the length
# of the message below, the cut of a long message is met all the same.
SHORT_MESSAGE_CHARS = 200
_SHORT_MESSAGES = ("import sys; from autograder.grading import cli, judge; "
                   f"judge.MESSAGE_CHARS = {SHORT_MESSAGE_CHARS}; sys.exit(cli.main(sys.argv[1:]))")
RAISES_AT_LENGTH = """# GRADED FUNCTION: rnn_cell_forward

def rnn_cell_forward(xt, a_prev, parameters):
    raise ValueError("much too long " * 2000)
"""


def test_a_kept_entry_is_not_cut_again(tmp_path):
    """Does a rerun that keeps a student from the journal write the same results.json entry
    as the run that graded them, when one of its messages was cut for length (a function
    that raises an exception with a very long message)?"""
    course = make_course(tmp_path / "course")
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    release = nbformat.read(str(KIT / "release" / NAME / f"{NAME}.ipynb"), as_version=4)
    folder = submitted / "verbose" / NAME
    folder.mkdir(parents=True)
    nbformat.write(samples.make_notebook(release, {"*": "reference", "rnn_cell_forward": RAISES_AT_LENGTH}),
                   str(folder / f"{NAME}.ipynb"))
    command = [sys.executable, "-c", _SHORT_MESSAGES,
               *grade_cmd(submitted, out, course, "--no-gradebook")[4:]]
    runs = []
    for _ in range(2):
        proc = subprocess.run(command, cwd=KIT, env=grader_env(tmp_path), capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, f"grader exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        runs.append((json.loads((out / "results.json").read_text())["students"]["verbose"], proc.stderr))
    (first, _), (second, second_stderr) = runs
    message = first["functions"]["rnn_cell_forward"]["message"]
    assert "more characters cut]" in message and "much too long" in message, message
    assert kept(second_stderr) == 1, second_stderr[-2000:]
    assert second["functions"]["rnn_cell_forward"]["message"][-60:] == message[-60:]
    assert second == first


def test_a_grader_killed_while_writing_the_gradebook_leaves_it_whole_after_the_rerun(tmp_path):
    """The gradebook writer saves its students once a second, so a grader killed mid-batch
    may not have saved the last ones.  Does the rerun (which keeps the graded students from
    the journal) leave every student in the gradebook, with the scores of results.json?"""
    from nbgrader.api import Gradebook

    from autograder.grading.gradebook import default_db_url, grade_cell_name
    course = make_course(tmp_path / "course")
    submitted = tmp_path / "submitted"
    write_all(submitted)
    out = tmp_path / "out"
    proc = subprocess.Popen(grade_cmd(submitted, out, course, jobs=1), cwd=KIT,
                            env=grader_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_journal(proc, out, 4)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    results, _ = run_grader(submitted, out, course, scratch=tmp_path, jobs=1)
    assert set(results["students"]) == set(STUDENTS)
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env_path
    try:
        with Gradebook(default_db_url(course), course_id="") as gb:
            assert {student.id for student in gb.students} == set(STUDENTS)
            for student, entry in results["students"].items():
                for function, result in entry["functions"].items():
                    grade = gb.find_grade(grade_cell_name(function), NAME, NAME, student)
                    assert grade.auto_score == result["score"], (student, function)
            gb.engine.dispose()
    finally:
        os.environ["PATH"] = env_path
