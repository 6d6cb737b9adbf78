"""The autograded notebooks that formgrader and ``nbgrader generate_feedback`` read.

Formgrader opens a submission from ``<course>/autograded/<student>/<assignment>/<notebook>.ipynb``
and looks up, for every grade cell and solution cell in it, the grade and the
comment in the gradebook; ``nbgrader generate_feedback`` turns the same files
into ``feedback/`` and ``nbgrader release_feedback`` copies that to the
exchange.  ``nbgrader autograde`` writes these files; the batch grader, which
never runs a whole notebook, writes them with :class:`AutogradedWriter`:

    TakeRelease     the release notebook is the skeleton: its cells, their order
                    and their nbgrader metadata are exactly what the gradebook
                    knows, so every grade and comment formgrader asks for exists
    PutSolutions    each solution cell gets the student's code, as the batch
                    grader read and graded it (a cell it could not take says why)
    ShowVerdicts    each test cell's output is the grader's verdict on its
                    function: score, message, diagnosis; a notebook that could not
                    be read at all gets a note at the top saying why
    CopyStamps      timestamp.txt and submission_secret.txt are copied from the
                    submission (release_feedback needs both)

The release holds no solutions and no hidden tests, so neither formgrader nor a
student's generated feedback shows any.  Scores are not stored in the notebook:
formgrader and generate_feedback read them from the gradebook.  The student's
other cells (notes, scratch work) and outputs are left out: their outputs were
never run by the grader, and HTML in them would run in the instructor's browser.
"""
from __future__ import annotations

import contextlib
import html
import json
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["AutogradedWriter", "autograded_path", "STAMP_FILES"]

STAMP_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_STAMP_BYTES = 4096


def autograded_path(course: Path, student: str, assignment: str, notebook: str) -> Path:
    """Where nbgrader (and formgrader) expect a student's autograded notebook."""
    return Path(course) / "autograded" / student / assignment / f"{notebook}.ipynb"


def _grade_id(cell: dict) -> str | None:
    nbgrader = (cell.get("metadata") or {}).get("nbgrader") or {}
    return nbgrader.get("grade_id")


def _stream(name: str, text: str) -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _verdict_output(entry: dict, function: str) -> dict:
    """The output of test_<function>: the batch grader's verdict, as a stream."""
    from .gradebook import verdict_comment
    result = (entry.get("functions") or {}).get(function)
    text = verdict_comment(entry, function) + "\n"
    return _stream("stdout" if result and result.get("passed") else "stderr", text)


def _note_cell(text: str) -> dict:
    """A markdown cell with no nbgrader metadata, its text escaped."""
    return {"cell_type": "markdown", "metadata": {},
            "source": "<pre>" + html.escape(text) + "</pre>"}


def _read_small_regular_file(path: Path) -> bytes | None:
    """The bytes of a small regular file that is not a link, else None (submissions are untrusted)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses folders
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_STAMP_BYTES + 1)
    return data if len(data) <= MAX_STAMP_BYTES else None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class AutogradedWriter:
    """Writes one student's autograded notebook at a time (see the module docstring)."""

    def __init__(self, course: Path, submitted: Path, assignment: str, notebook: str | None = None) -> None:
        self.course = Path(course)
        self.submitted = Path(submitted)
        self.assignment = assignment
        self.notebook = notebook or assignment
        release = self.course / "release" / assignment / f"{self.notebook}.ipynb"
        if not release.is_file():
            raise ValueError(f"no release notebook at {release}, which the autograded notebooks for "
                             "formgrader are made from; run 'python -m autograder build' first")
        self.release = json.loads(release.read_text(encoding="utf-8"))

    def build(self, entry: dict, sources: dict, problems: dict) -> dict:
        """The autograded notebook of one student, as a JSON-ready dict."""
        from .. import assignment as kit
        # a copy of each cell's top level, which is all that changes; what lies below it is
        # the release's own and shared by every student (nothing writes into it)
        nb = dict(self.release)
        nb["cells"] = [dict(cell) for cell in self.release["cells"]]
        functions = set(kit.FUNCTIONS)
        for cell in nb["cells"]:
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
            grade_id = _grade_id(cell)
            if grade_id in functions:
                if grade_id in sources:
                    cell["source"] = sources[grade_id]
                elif grade_id in problems:
                    cell["source"] = f"# The batch grader could not take this cell:\n# {problems[grade_id]}\n"
            elif grade_id and grade_id.startswith("test_") and grade_id[5:] in functions:
                cell["outputs"] = [_verdict_output(entry, grade_id[5:])]
        notes = []
        if entry.get("error"):
            notes.append(f"The batch grader could not read this notebook: {entry['error']}")
        if entry.get("late"):
            from .timestamps import describe_lateness
            notes.append(f"Submitted {entry.get('submitted_at')}, "
                         f"{describe_lateness(float(entry.get('seconds_late') or 0))} after the due date.")
        if notes:
            nb["cells"].insert(0, _note_cell("\n".join(notes)))
        return nb

    def write(self, student: str, entry: dict, folder: str | None = None) -> Path:
        """Write autograded/<student>/<assignment>/<notebook>.ipynb from the submission in
        submitted/<folder>/<assignment>/ and copy its stamp files.

        student -- the student's id in the gradebook, by which formgrader finds the notebook
        folder -- the student's folder in submitted/, when the id is not the folder name
                  itself (a name that is no valid id is escaped: untrusted.gradebook_id)"""
        from .. import assignment as kit
        from . import submissions
        folder = student if folder is None else folder
        for name in (student, folder):
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"not a student folder name: {name!r}")
        submission = self.submitted / folder / self.assignment
        sources, problems = {}, {}
        if not entry.get("error"):
            try:
                sources, problems = submissions.read_submission(submissions.notebook_path(submission, self.assignment))
            except submissions.SubmissionError as error:  # changed since it was graded
                problems = {name: str(error) for name in kit.FUNCTIONS}
        path = autograded_path(self.course, student, self.assignment, self.notebook)
        # not indented: json.dumps with an indent runs in Python, without one in C, several
        # times faster (Jupyter, formgrader and nbgrader read either)
        data = json.dumps(self.build(entry, sources, problems), ensure_ascii=False) + "\n"
        _atomic_write(path, data.encode("utf-8"))
        for name in STAMP_FILES:
            stamp = _read_small_regular_file(submission / name)
            if stamp is not None:
                _atomic_write(path.parent / name, stamp)
        return path
