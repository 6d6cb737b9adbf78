"""The batch: grade every submission of a folder, in an explicit order of small steps.

For every submission:

    ReadSubmission   autograder.grading.submissions
    RunInSandbox     autograder.grading.runner (or .distributed, on a Dask cluster)
    Judge            autograder.grading.judge
    Journal          autograder.grading.journal

Submissions are read as the batch goes, a few ahead of the sandbox, so memory does not
grow with the class.  grade() returns the results dict; on_entry passes each student's
entry on as soon as it is known (to the gradebook, see autograder.grading.cli).
"""
import concurrent.futures
import os
import sys
import tempfile
from pathlib import Path

from . import untrusted
from .faults import GRADER_FAULT
from .journal import Journal
from .judge import clean_entry, error_entry, grade_one
from .runner import Runner, write_payloads
from .submissions import find_submissions, load_submission


def make_runner(settings, payload_dir):
    """Where the children run: sandboxed fork servers here, or the workers of a Dask cluster."""
    if settings.dask:
        from .distributed import DaskRunner
        return DaskRunner(settings, payload_dir, settings.dask)
    return Runner(settings, payload_dir)


# Submissions in flight per sandbox slot: while the parent judges one submission, the
# slot's fork server already runs the next.
THREADS_PER_SLOT = 2
IN_FLIGHT_PER_THREAD = 2  # submissions read ahead, per thread


def grade(settings, log=None, on_entry=None, ready=None):
    """Grade every submission; return the results dict.

    on_entry(student, entry) is called, in this thread, with each student's results
    entry as soon as it is known (the journal's too), e.g. to feed the gradebook.
    ready() is called once the sandbox is up, before the first submission (the gradebook
    opens meanwhile, see autograder.grading.cli); what it raises stops the batch."""
    on_entry = on_entry or (lambda student, entry: None)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    submissions = find_submissions(settings)
    journal = Journal(settings.out)
    students, failed, kept = {}, [], 0

    def finished(future, student, key):
        try:
            entry = clean_entry(future.result())
        except Exception:  # noqa: BLE001 -- a fault of the grader, not of the student
            import traceback
            log(f"{untrusted.shown(student)}: the grader failed on this submission; it is not "
                "saved, so running the same command again retries it:\n"
                f"{untrusted.shown(traceback.format_exc(), lines=True)}")
            failed.append(student)
            students[student] = error_entry(GRADER_FAULT)
        else:
            if not journal.put(student, key, entry):
                log(f"{untrusted.shown(student)}: could not be kept in the journal; the next "
                    "run grades it again")
            try:
                on_entry(student, entry)
            except Exception as error:  # noqa: BLE001 -- e.g. the gradebook: the batch goes on
                log(f"{untrusted.shown(student)}: not passed on ({type(error).__name__}: "
                    f"{untrusted.shown(error, 300)})")
            students[student] = entry
        bar.update(1)

    with tempfile.TemporaryDirectory(prefix="grade-cases-") as payload_dir:
        os.chmod(payload_dir, 0o755)
        write_payloads(payload_dir, settings.case_cache)
        for f in Path(payload_dir).iterdir():
            os.chmod(f, 0o644)
        runner = make_runner(settings, payload_dir)
        try:
            if hasattr(runner, "check_isolation"):
                runner.check_isolation(settings.allow_weak_isolation)
            if ready is not None:
                ready()
        except BaseException:
            runner.close()
            raise
        isolation = runner.describe()
        detail = runner.isolation_detail() if hasattr(runner, "isolation_detail") else {}
        if detail.get("weak"):
            isolation = "WEAKLY ISOLATED (--allow-weak-isolation): " + isolation
        log(f"isolation: {isolation}")
        bar = _progress(len(submissions), settings.progress)
        try:
            threads = THREADS_PER_SLOT * runner.parallelism()
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                # Submissions are read as the batch goes, a few ahead of the children, so
                # that memory does not grow with the class (only the small entries are kept).
                pending = {}
                for student, folder in submissions.items():
                    key, sources, problems, error = load_submission(settings, folder)
                    entry = journal.get(student, key)
                    if entry is not None:
                        # as finished() cleaned it before journaling it: cleaned again, a
                        # message cut for length would be cut a second time
                        students[student] = entry
                        on_entry(student, entry)
                        kept += 1
                        bar.update(1)
                        continue
                    while len(pending) >= IN_FLIGHT_PER_THREAD * threads:
                        done, _ = concurrent.futures.wait(
                            pending, return_when=concurrent.futures.FIRST_COMPLETED)
                        for future in done:
                            finished(future, *pending.pop(future))
                    pending[pool.submit(grade_one, runner, sources, problems, error)] = (student, key)
                for future in concurrent.futures.as_completed(list(pending)):
                    finished(future, *pending.pop(future))
        finally:
            runner.close()
            bar.close()
    if kept:
        log(f"{kept} unchanged submission(s) kept from the journal")
    return {"assignment": settings.assignment, "isolation": isolation, "isolation_detail": detail,
            "students": {s: students[s] for s in sorted(students)}, "not_graded": sorted(failed)}


class _NoProgress:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled or total == 0:
        return _NoProgress()
    from tqdm import tqdm
    return tqdm(total=total, unit="submission", disable=not enabled or total == 0, file=sys.stderr)
