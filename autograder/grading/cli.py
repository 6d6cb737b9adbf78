"""Command line of the batch grader: python -m autograder grade SUBMITTED_DIR --out OUT_DIR [--jobs N] [--dask ADDRESS]

main() reads the settings (autograder.grading.settings), opens the one writer of the
nbgrader gradebook (autograder.grading.gradebook, a thread that stores each student as
soon as they are graded, with the autograded notebooks of autograder.grading.autograded),
grades the batch (autograder.grading.batch), writes results.json, grades.csv, the
feedback pages and the class report (autograder.grading.report) and prints the score
table.
"""
import datetime
import sys
import time

from .. import assignment
from . import untrusted
from .batch import grade
from .settings import parse_args


def print_table(results, file=sys.stdout):
    """Per-student, per-function scores as a text table.

    Student ids and errors are shown with every control, format (bidi) and surrogate
    character written out as an escape (untrusted.shown): a folder name cannot move the
    cursor, recolour the terminal or reverse the columns that follow it."""
    names = list(assignment.FUNCTIONS)
    short = [n.replace("_forward", "_fwd").replace("_backward", "_bwd") for n in names]
    ids = {student: untrusted.shown(student, ID_CHARS) for student in results["students"]}
    width = max([7] + [len(s) for s in ids.values()])
    print("student".ljust(width) + "  " + "  ".join(s.rjust(max(len(s), 5)) for s in short) +
          "   total", file=file)
    for student, entry in results["students"].items():
        cells = []
        for n, s in zip(names, short):
            f = entry["functions"].get(n)
            cells.append(("-" if f is None else f"{f['score']:g}").rjust(max(len(s), 5)))
        line = ids[student].ljust(width) + "  " + "  ".join(cells) + \
            f"  {entry['total']:g}/{entry['max']:g}"
        if entry["error"]:
            line += f"   ({untrusted.shown(entry['error'][:60])})"
        print(line, file=file)


ID_CHARS = 60  # longest student id shown in the score table


def open_gradebook_writer(settings):
    """(BackgroundWriter or None, why the gradebook cannot be written or None).

    A gradebook that cannot be reached (a bad URL, a server that is down) does not stop
    the batch: the grades are still graded and written to OUT_DIR, and main() ends with
    one line saying so.  A gradebook whose assignment does not match the notebook, or a
    course with neither gradebook nor source notebook, stops it (ValueError)."""
    from . import autograded, gradebook
    try:
        notebooks = autograded.AutogradedWriter(settings.course, settings.submitted, settings.assignment)
    except ValueError as error:  # no release: the gradebook is still written, formgrader warned
        print(f"warning: {error}; formgrader will not open these submissions", file=sys.stderr)
        notebooks = None
    try:
        return gradebook.BackgroundWriter(settings.course, settings.db_url, settings.assignment,
                                          autograded=notebooks), None
    except gradebook.GradebookUnavailable as error:
        return None, str(error)


GRADEBOOK_NOT_WRITTEN = 4  # exit status: grades written to OUT_DIR, not to the gradebook


class GradebookMismatch(Exception):
    """The gradebook cannot take these grades (ValueError of open_gradebook_writer): stop
    before grading; the message says what to do."""


class OpeningGradebook:
    """open_gradebook_writer(settings) in a thread of its own, started at once: the gradebook
    (its imports, its tables, its checks) opens while the fork servers start.  wait() is
    called before the first submission is graded (autograder.grading.batch.grade's `ready`)."""

    def __init__(self, settings):
        import threading
        self.writer, self.error, self.mismatch = None, None, None
        self.thread = threading.Thread(target=self._open, args=(settings,), name="gradebook-open",
                                       daemon=True)
        self.thread.start()

    def _open(self, settings):
        try:
            self.writer, self.error = open_gradebook_writer(settings)
        except Exception as error:  # noqa: BLE001 -- raised by wait(), in the grader's thread
            self.mismatch = error

    def wait(self):
        """The writer (or None) once the gradebook is open; GradebookMismatch if it cannot take
        these grades."""
        self.thread.join()
        if isinstance(self.mismatch, ValueError):
            raise GradebookMismatch(str(self.mismatch))
        if self.mismatch is not None:
            raise self.mismatch
        return self.writer


def main(argv):
    settings = parse_args(argv)
    started = time.time()
    # the one writer of the gradebook: it opens while the fork servers start, is checked
    # before any grading, and is filled as students finish
    opening = OpeningGradebook(settings) if settings.gradebook else None
    from . import timestamps
    gradebook = {"writer": None, "duedate": None, "extensions": {}}

    def ready():
        if opening is not None:
            writer = gradebook["writer"] = opening.wait()
            if writer is not None:
                gradebook["duedate"], gradebook["extensions"] = writer.duedate, writer.extensions

    def on_entry(student, entry):
        student_id = untrusted.gradebook_id(student)  # a valid nbgrader id for any folder name
        timestamps.annotate(entry, settings.submitted / student / settings.assignment,
                            gradebook["duedate"], gradebook["extensions"].get(student_id))  # by id
        if gradebook["writer"] is not None:
            # stored under the id; the autograded notebook is made from the folder itself
            gradebook["writer"].put(student_id, entry, folder=student)

    try:
        results = grade(settings, on_entry=on_entry, ready=ready)
    except BaseException as error:
        writer = gradebook["writer"]
        if writer is None and opening is not None:
            opening.thread.join()  # opened after all (the grader stopped before it was needed)
            writer = opening.writer
        if writer is not None:  # what was graded is saved in any case
            writer.stop()
            writer.thread.join()
        if isinstance(error, GradebookMismatch):
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not isinstance(error, Exception):
            raise
        print(f"error: the grader could not run: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    writer, duedate = gradebook["writer"], gradebook["duedate"]
    gradebook_error = opening.error if opening is not None else None
    results["duedate"] = duedate.replace(tzinfo=datetime.timezone.utc).isoformat() if duedate else None
    if writer is not None:
        writer.stop()  # it saves the last students while the report is written
    from . import report
    report.write_outputs(results, settings.out, figure_cache=settings.case_cache)
    if writer is not None:
        try:
            writer.finish()
        except Exception as error:  # noqa: BLE001 -- the server went away while writing
            from .gradebook import GradebookUnavailable, _one_line
            gradebook_error = str(error) if isinstance(error, GradebookUnavailable) else \
                f"writing it failed: {type(error).__name__}: {_one_line(error)}"
    print_table(results)
    if (results.get("isolation_detail") or {}).get("weak"):
        print(f"WEAKLY ISOLATED: {results['isolation']}", file=sys.stderr)
    if gradebook_error:
        print(f"error: the gradebook was not written ({gradebook_error}); every grade is in "
              f"{settings.out / 'results.json'} and grades.csv: fix --db-url or NBGRADER_DB_URL and run "
              "the same command again (the journal keeps the grading, only the gradebook is written)",
              file=sys.stderr)
        return GRADEBOOK_NOT_WRITTEN
    if results["not_graded"]:
        print(f"error: {len(results['not_graded'])} submission(s) were not graded because the grader "
              f"failed on them ({', '.join(map(untrusted.shown, results['not_graded'][:5]))}...): run the same command "
              "again to retry them (the others are kept)", file=sys.stderr)
        return 3
    n = len(results["students"])
    print(f"\nGraded {n} submission(s) in {time.time() - started:.1f} s. "
          f"Results: {settings.out / 'results.json'}, {settings.out / 'grades.csv'}, "
          f"feedback in {settings.out / 'feedback'}, class report in {settings.out / 'report' / 'index.html'}",
          file=sys.stderr)
    return 0
