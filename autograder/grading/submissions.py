"""ReadSubmission: find the submitted notebooks and take the solution cells out of them.

SUBMITTED_DIR has nbgrader's layout, SUBMITTED_DIR/<student_id>/<assignment>/<notebook>.ipynb.
Only the solution cells (grade_id = function name) are taken; demo and test cells are
ignored.  The notebook is plain JSON read with the instructor's rights, so links, pipes,
huge files and broken JSON are refused with a message for the student
(SubmissionError), never followed or read without bound.
"""
import hashlib
import json
import os
import threading

from .. import assignment
from . import untrusted
from . import version

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class SubmissionError(Exception):
    """The whole submission cannot be graded; the message tells the student why."""


def find_submissions(settings):
    if not settings.submitted.is_dir():
        raise SystemExit(f"error: {settings.submitted} is not a directory of submissions")
    found = {}
    for student in sorted(settings.submitted.iterdir()):
        try:
            is_folder = student.is_dir()
        except OSError:  # a folder the grader cannot even look at: load_submission says so
            is_folder = True
        if is_folder:
            found[student.name] = student / settings.assignment
    return found


def notebook_path(folder, assignment_id):
    """The submitted notebook of one student, or a SubmissionError.

    Links are refused at every level (student folder, assignment folder,
    notebook): the grader reads with the instructor's rights, so a submitted
    link to the teacher's notebook must not be followed."""
    for level in (folder.parent, folder):
        if level.is_symlink():
            raise SubmissionError(f"{level.name}/ is a link, not a folder: submit the folder "
                                  "itself with the notebook inside")
    if not folder.is_dir():
        raise SubmissionError(f"no folder {assignment_id}/ in the submission")
    preferred = folder / f"{assignment_id}.ipynb"
    if os.path.lexists(preferred):
        return preferred
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) == 1:
        return notebooks[0]
    if not notebooks:
        raise SubmissionError(f"no notebook in {assignment_id}/: submit {assignment_id}.ipynb")
    raise SubmissionError(f"several notebooks in {assignment_id}/ and none is named "
                          f"{assignment_id}.ipynb")


def read_bytes_safely(path):
    """The bytes of a regular file that is not a link, or a SubmissionError (never blocks on a
    pipe, never reads more than the size limit)."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if os.path.islink(path):
            raise SubmissionError(f"{path.name} is a link, not a notebook file: submit the "
                                  "notebook file itself") from None
        raise SubmissionError(f"{path.name} cannot be opened ({error.strerror}): submit the "
                              "notebook file again") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = "folder" if stat.S_ISDIR(info.st_mode) else "pipe or device"
            raise SubmissionError(f"{path.name} is not a regular file (it is a {kind}): submit "
                                  "the notebook file itself")
        if info.st_size == 0:
            raise SubmissionError("the notebook file is empty: save the notebook and submit it again")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"the notebook is {info.st_size / 2**20:.0f} MB, more than the "
                                  f"{MAX_NOTEBOOK_BYTES // 2**20} MB limit: clear the outputs "
                                  "(Kernel > Restart & Clear Output) and submit again")
        return fh.read(MAX_NOTEBOOK_BYTES + 1)


def _grade_id(cell):
    """The nbgrader grade_id of a cell, or None when its metadata is missing or malformed."""
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


# The cells taken from the last few notebooks read, by a digest of their bytes: each
# notebook is read twice, to grade it and then to write its autograded notebook
# (autograded.py), a few submissions later.  Read again each time, parsed once.
_TAKEN = {}
_TAKEN_MAX = 64
_TAKEN_LOCK = threading.Lock()


def read_submission(path):
    """{function: cell source} plus {function: error} for functions that cannot be taken."""
    raw = read_bytes_safely(path)
    key = hashlib.blake2b(raw, digest_size=16).digest()
    with _TAKEN_LOCK:
        taken = _TAKEN.get(key)
    if taken is not None:
        return dict(taken[0]), dict(taken[1])
    sources, problems = _take_cells(raw)
    with _TAKEN_LOCK:
        if len(_TAKEN) >= _TAKEN_MAX:
            del _TAKEN[next(iter(_TAKEN))]  # the oldest
        _TAKEN[key] = (dict(sources), dict(problems))
    return sources, problems


def _take_cells(raw):
    """read_submission's work on the notebook's bytes (a SubmissionError when it has none)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(f"the notebook is not UTF-8 text (byte {error.start}): open it in "
                              "Jupyter, save it and submit again") from None
    try:
        nb = json.loads(text)
        if not isinstance(nb, dict):
            raise ValueError("the file holds no notebook object")
        if nb.get("nbformat") != 4:  # older formats: let nbformat convert them
            import nbformat  # seconds to import: only for these
            nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # json and nbformat raise several kinds
        raise SubmissionError("the notebook is not valid notebook JSON "
                              f"({type(error).__name__}: {str(error)[:200]}): open it in Jupyter, "
                              "save it and submit again, or start again from the release") from None
    sources, problems = {}, {}
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)] \
        if isinstance(nb.get("cells"), list) else []
    by_id = {}
    for cell in cells:
        by_id.setdefault(_grade_id(cell), []).append(cell)
    for name in assignment.FUNCTIONS:
        mine = by_id.get(name, [])
        if not mine:
            problems[name] = (f"no cell with the id of {name}: the cell was deleted or replaced; "
                              f"copy it back from the release and write your code in it")
        elif len(mine) > 1:
            problems[name] = (f"{len(mine)} cells carry the id of {name}: a copied cell keeps the "
                              "id of the original; delete the copies and keep one")
        elif mine[0].get("cell_type") != "code":
            kind = untrusted.json_text(mine[0].get("cell_type"), 40)  # metadata: any text
            problems[name] = (f"the cell of {name} was changed into a {kind} "
                              "cell: change it back to a code cell")
        else:
            source = mine[0].get("source", "")
            if isinstance(source, list) and all(isinstance(line, str) for line in source):
                source = "".join(source)
            if not isinstance(source, str):
                problems[name] = f"the cell of {name} holds no text: copy it back from the release"
            else:
                sources[name] = source
    return sources, problems


def fingerprint(sources, problems):
    data = json.dumps([version.GRADER_VERSION, sources, problems], sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def load_submission(settings, folder):
    """(fingerprint, sources, problems, whole-submission error or None) of one folder."""
    try:
        sources, problems = read_submission(notebook_path(folder, settings.assignment))
    except SubmissionError as error:
        return fingerprint(str(error), {}), {}, {}, str(error)
    except Exception as error:  # noqa: BLE001 -- one odd file must not stop the batch
        message = (f"the notebook could not be read ({type(error).__name__}): open it in Jupyter, "
                   "save it and submit again, or start again from the release")
        return fingerprint(message, {}), {}, {}, message
    return fingerprint(sources, problems), sources, problems, None
