"""Batch grader: python -m autograder grade SUBMITTED_DIR --out OUT_DIR [--jobs N] [--dask ADDRESS]

SUBMITTED_DIR has nbgrader's layout, SUBMITTED_DIR/<student_id>/<assignment>/<notebook>.ipynb.
For every submission, in an explicit order of small steps:

    ReadSubmission   nbformat reads the notebook and takes only the solution
                     cells (grade_id = function name); demo and test cells are ignored
    RunInSandbox     a sandboxed fork server (autograder/forkserver.py, isolated by
                     autograder.sandbox) forks children that run each function on
                     the cases in a clean namespace and return plain arrays
    Judge            the parent compares them with the reference and diagnoses
                     failures (autograder.verdict); it never runs student code

Then, for the batch: results.json, grades.csv, feedback pages and the class
report (autograder.report).  The nbgrader gradebook (autograder.gradebook) has
one writer, a thread that stores each student as soon as they are graded.
A journal in OUT_DIR/.journal keeps each finished submission, so a killed
batch resumes where it stopped and unchanged submissions are not regraded.
"""
import argparse
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import os
import queue
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import assignment, structure, untrusted, verdict

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
FORKSERVER = Path(__file__).resolve().parent / "forkserver.py"
# What the child may read when the course directory is hidden from it.
CHILD_FILES = [Path(__file__).resolve().parent / name for name in
               ("__init__.py", "child.py", "engine.py", "structure.py", "compare.py")] + \
              [assignment.ROOT / "rnn_utils.py"]
# Where they appear in a bubblewrap sandbox (see ForkServer.start): no host path is mounted
# at its own place, so none can show in what a child reports.
KIT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_KIT = Path("/opt/kit")
SANDBOX_CASES = Path("/opt/cases")
GRADER_VERSION = "3"  # part of the journal key: bump when grading changes


@dataclass
class Settings:
    """Every setting of a batch, with its help text (argparse is built from these)."""
    submitted: Path
    out: Path
    course: Path
    assignment: str
    jobs: int
    timeout: float
    memory_mb: int
    db_url: str | None
    gradebook: bool
    progress: bool
    dask: str | None = None
    allow_weak_isolation: bool = False
    case_cache: Path | None = None  # folder of the case cache (autograder.casecache); None: off


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m autograder grade",
                                description="Grade a folder of submissions in sandboxed child processes.")
    p.add_argument("submitted", type=Path, metavar="SUBMITTED_DIR",
                   help="nbgrader layout: SUBMITTED_DIR/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--out", type=Path, required=True, metavar="OUT_DIR",
                   help="where results.json, grades.csv, feedback/ and report/ are written")
    p.add_argument("--course", type=Path, default=None,
                   help="course directory with nbgrader_config.py (default: this kit's root)")
    p.add_argument("--assignment", default=None,
                   help=f"assignment id, the folder name inside each student's folder "
                        f"(default: {assignment.ASSIGNMENT}, the assignment of the kit's teacher notebook)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="submissions graded in parallel (default: number of cores)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="wall-clock seconds allowed per function (default: 5)")
    p.add_argument("--memory-mb", type=int, default=2048,
                   help="address-space limit of a child, in MiB (default: 2048)")
    p.add_argument("--db-url", default=None,
                   help="gradebook URL (default: CourseDirectory.db_url from nbgrader_config.py)")
    p.add_argument("--no-gradebook", action="store_true", help="do not write the nbgrader gradebook")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dask", default=None, metavar="SCHEDULER_ADDRESS",
                   help="run the sandboxed children on the workers of this Dask cluster "
                        "(tcp://HOST:8786; see benchmarks/README.md); --jobs is then ignored")
    p.add_argument("--allow-weak-isolation", action="store_true",
                   help="grade even where no mount namespace can be had (no bubblewrap, or a "
                        "kernel without user namespaces): student code then sees the host's "
                        "files, and every output says WEAKLY ISOLATED")
    p.add_argument("--case-cache", default=None, metavar="DIR",
                   help="folder where the prepared cases and reference answers are kept between "
                        "batches, keyed by the teacher notebook and the grader version "
                        "(default: $RNN_STEP_BY_STEP_CACHE, else ~/.cache/rnn-step-by-step; "
                        "'off': prepare them on every start); see autograder/casecache.py")
    a = p.parse_args(argv)
    from . import casecache
    if a.case_cache is None:
        case_cache = casecache.default_dir()
    else:
        case_cache = None if a.case_cache.strip().lower() in ("", "off") else Path(a.case_cache)
    course = (a.course or assignment.ROOT).resolve()
    config = course_config(course)
    return Settings(
        submitted=a.submitted, out=a.out, course=course,
        assignment=a.assignment or assignment.ASSIGNMENT,
        jobs=max(1, a.jobs), timeout=a.timeout, memory_mb=a.memory_mb,
        db_url=a.db_url or config.get("db_url"), gradebook=not a.no_gradebook,
        progress=not a.no_progress, dask=a.dask, allow_weak_isolation=a.allow_weak_isolation,
        case_cache=case_cache)


def course_config(course):
    """CourseDirectory settings from the course's nbgrader_config.py (db_url, root).

    The assignment is not among them: nbgrader's commands take it as their
    argument, and the batch grader grades the kit's own (assignment.ASSIGNMENT).
    """
    path = Path(course) / "nbgrader_config.py"
    if not path.exists():
        raise SystemExit(f"error: {path} not found: pass --course with the course directory")
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    section = config.get("CourseDirectory", {})
    return {k: section[k] for k in ("db_url", "root") if k in section}


# ---------------------------------------------------------------------------
# ReadSubmission
# ---------------------------------------------------------------------------


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


def read_submission(path):
    """{function: cell source} plus {function: error} for functions that cannot be taken."""
    raw = read_bytes_safely(path)
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
    for name in assignment.FUNCTIONS:
        mine = [c for c in cells if _grade_id(c) == name]
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
    data = json.dumps([GRADER_VERSION, sources, problems], sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# RunInSandbox
# ---------------------------------------------------------------------------


def write_payloads(directory, cache_dir=None):
    """The cases of every function as npz files shared by all children (made once per batch,
    or taken from the case cache in cache_dir: autograder.casecache; None: no cache):
    <function>.npz the inputs, <function>.calls.npz the oracle's recorded calls (read only by
    the oracle process of each fork server, never by a child that runs student code)."""
    from . import casecache
    for function, (inputs, calls) in casecache.ensure(cache_dir).payloads.items():
        (Path(directory) / f"{function}.npz").write_bytes(inputs)
        (Path(directory) / f"{function}.calls.npz").write_bytes(calls)


def make_payload(function):
    """The flat npz payloads of one function: (its cases' arguments, its oracle call tables)."""
    flat = {"params#": json.dumps(verdict.dependency_params(function))}
    payload = verdict.make_cases_payload(function)
    flat["count#"] = np.array(len(payload))
    calls_flat = {"count#": np.array(len(payload))}
    for i, (args, calls, _) in enumerate(payload):
        flat.update(structure.flatten(tuple(args), f"c{i}.args"))
        calls_flat.update(structure.flatten([(a, r) for a, r, _ in calls], f"c{i}.calls"))
        calls_flat[f"c{i}.aliases#"] = json.dumps([alias for _, _, alias in calls])
    return flat, calls_flat


def payload_bytes(function):
    """The bytes of one function's two npz payload files: (inputs, oracle calls)."""
    import io
    out = []
    for flat in make_payload(function):
        buffer = io.BytesIO()
        structure.save(buffer, flat)
        out.append(buffer.getvalue())
    return tuple(out)


class Runner:
    """Runs submissions in sandboxed fork servers, one per parallel slot.

    observe(sources) returns {function: observations} for every function; a
    function whose child could not finish gets an error observation.  A fork
    server that dies or stops answering (a student's doing) is restarted, and
    only the function it was running is charged.
    """

    def __init__(self, settings, payload_dir, slots=None):
        """slots -- a queue of sandbox slot numbers to use (default: claim settings.jobs of them,
                    see sandbox.claim_slots, and release them in close())"""
        from . import sandbox
        self.sandbox = sandbox
        self.settings = settings
        self.payload_dir = Path(payload_dir)
        # the server lives long: CPU time is limited per child, by the server
        self.limits = sandbox.Limits(wall_seconds=settings.timeout, cpu_seconds=10**6,
                                     memory_bytes=settings.memory_mb * 2**20)
        # the course, the kit the grader runs from (its teacher notebook is the reference),
        # every submission and the outputs; the child sees only what `expose` names
        hide = [settings.course, assignment.ROOT, settings.submitted.resolve(), settings.out.resolve()]
        self.hide = sorted({p for p in hide if p.exists()})
        self.expose = CHILD_FILES + [FORKSERVER, self.payload_dir] + sandbox.interpreter_paths()
        self.locks = []
        if slots is None:
            slots = queue.Queue()
            for slot in sandbox.claim_slots(settings.jobs, self.locks):
                slots.put(slot)
        self.slots = slots
        self.servers = {}

    def parallelism(self):
        """How many submissions can be in the sandbox at once (one per slot)."""
        return self.settings.jobs

    def describe(self):
        """One line for the log: how the children are isolated."""
        iso = self.sandbox.detect_isolation()
        text = iso.describe()
        if iso.bubblewrap:
            text += (", per submission: new pid/mount/IPC namespaces, a fresh tmpfs job folder, "
                     "no /proc, no capabilities; oracle answers kept out of the children")
        return text

    def isolation_detail(self):
        """What results.json records of the isolation: the namespaces and the uid obtained."""
        iso = self.sandbox.detect_isolation()
        return {"mount_namespace": iso.bubblewrap, "pid_namespace": iso.pid_namespace,
                "network_namespace": iso.network_namespace, "separate_uid": iso.user is not None,
                "rlimits": iso.rlimits, "per_submission_namespaces": iso.bubblewrap,
                "weak": not iso.bubblewrap}

    def check_isolation(self, allow_weak):
        """Refuse, in one line and before any grading, to run student code without a mount
        namespace, unless allowed (--allow-weak-isolation)."""
        iso = self.sandbox.detect_isolation()
        if iso.bubblewrap or allow_weak:
            # the fork server checks at its start that it can make each job's namespaces (and,
            # weakly isolated, that its user can reach the interpreter): start one now, so
            # that a machine where it cannot fails once, before grading
            slot = self.slots.get()
            try:
                if slot not in self.servers:
                    self.servers[slot] = ForkServer(self, slot)
            except RuntimeError as error:
                raise SystemExit(f"error: {untrusted.shown(str(error))}") from None
            finally:
                self.slots.put(slot)
            return
        why = "; ".join(n for n in iso.notes if "bwrap" in n or "bubblewrap" in n)[:300]
        raise SystemExit(f"error: no mount namespace for student code on this machine "
                         f"({why or 'bubblewrap does not work here'}): "
                         f"{self.sandbox.HOW_TO_GET_BWRAP}; or pass --allow-weak-isolation to "
                         "grade anyway (student code then sees the host's files, and every "
                         "output says WEAKLY ISOLATED)")

    def observe(self, sources):
        slot = self.slots.get()
        try:
            if slot not in self.servers:
                self.servers[slot] = ForkServer(self, slot)
            return self.servers[slot].run(sources)
        finally:
            self.slots.put(slot)

    def close(self):
        for server in self.servers.values():
            server.stop()
            untrusted.remove_tree(server.workdir)  # any depth, any rights the child left
        self.servers.clear()
        for fd in self.locks:
            os.close(fd)
        self.locks.clear()


class ForkServer:
    """The parent's handle on one sandboxed fork server (autograder/forkserver.py)."""

    def __init__(self, runner, slot):
        self.runner, self.slot = runner, slot
        self.workdir = Path(tempfile.mkdtemp(prefix=f"grade-slot{slot}-"))
        self.proc = None
        self.buffer = b""
        self.start()

    def start(self):
        sandbox = self.runner.sandbox
        iso = sandbox.detect_isolation()
        inside = sandbox.sandbox_path(self.workdir)
        if iso.bubblewrap:
            # a minimal root: the interpreter, numpy and the child's modules at neutral paths;
            # each job gets its own namespaces, job folder and (as root) the slot's uid
            exe, binds, env = sandbox.python_layout(SANDBOX_KIT / "site")
            binds += [(f, SANDBOX_KIT / f.relative_to(KIT_ROOT)) for f in CHILD_FILES + [FORKSERVER]]
            binds.append((self.runner.payload_dir, SANDBOX_CASES))
            slot_iso = sandbox.for_slot(iso, self.slot)
            if os.geteuid() == 0 and slot_iso.user is not None:
                import pwd
                entry = pwd.getpwnam(slot_iso.user)
                mode = ["--mode", "root", "--child-id", f"{entry.pw_uid}:{entry.pw_gid}"]
            else:
                mode = ["--mode", "userns"]
            argv = [exe, "-I", "-S", str(SANDBOX_KIT / "autograder" / FORKSERVER.name), str(inside),
                    str(SANDBOX_CASES), *mode]
            expose, hide, self.uid = (), (), None
        else:  # weak isolation (allowed with --allow-weak-isolation): host paths as they are
            argv = [sys.executable, "-I", str(FORKSERVER), str(inside), str(self.runner.payload_dir),
                    "--mode", "plain"]
            binds, env, expose, hide = (), None, self.runner.expose, self.runner.hide
        self.proc, self.iso = sandbox.spawn_isolated(
            argv, self.workdir, self.runner.limits, expose=expose, hide=hide, env=env,
            slot=self.slot, binds=binds, server=iso.bubblewrap)
        if not iso.bubblewrap:
            self.uid = sandbox.sandbox_uid(self.iso)
        self.buffer = b""
        first = self._readline(STARTUP_SECONDS)
        if first != "ready":
            self.stop()
            failed = (_parse(first) or {}).get("failed")
            if failed:
                raise RuntimeError(f"the sandboxed fork server cannot isolate jobs here: {failed}; "
                                   "run the tests in tests/test_sandbox.py to see what this "
                                   "machine allows")
            raise RuntimeError("the sandboxed fork server did not start; run the tests in "
                               "tests/test_sandbox.py to see what this machine allows")

    def stop(self):
        if self.proc is not None:
            self.runner.sandbox.kill_spawned(self.proc)
            self.proc = None

    def _readline(self, timeout):
        """One protocol line from the server, or None if it died or stayed silent."""
        import select
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(self.buffer) > 65536:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def run(self, sources):
        """{function: observations} of one submission.

        First the "oracle" run of every function; then the "own" run of each loop
        function, but only where it can change something: the function failed with
        the oracle (its own cell function may still make it pass), or its cell function
        failed (the "it went wrong only with your own ..." note).  A skipped own run is
        marked "own/skipped#" for verdict.judge."""
        job = os.urandom(8).hex()
        job_dir = self.workdir / job
        job_dir.mkdir()
        (job_dir / "job.json").write_text(json.dumps(
            {"dependencies": assignment.DEPENDS_ON, "setup": assignment.setup_source(), "sources": sources}))
        if self.uid is not None:
            os.chown(job_dir, self.uid, -1)
        results = {function: {} for function in assignment.FUNCTIONS}
        self.deadline = time.monotonic() + budget_seconds(self.runner.settings.timeout)
        try:
            self._run_units(job, [[f, "oracle"] for f in assignment.FUNCTIONS], results)
            own = []
            for function, dependency in assignment.DEPENDS_ON.items():
                if verdict.run_passes(function, results[function], "oracle") and \
                        verdict.run_passes(dependency, results[dependency], "oracle"):
                    results[function]["own/skipped#"] = "not needed: both pass with the oracle"
                else:
                    own.append([function, "own"])
            self._run_units(job, own, results)
        finally:
            # the job folder and whatever student code left next to it (the server's cwd):
            # any depth, any rights; the next submission starts from an empty folder
            untrusted.clear_folder(self.workdir)
        return results

    def _tidy(self, job):
        """Before a restart: delete what student code left in the folder (a folder chain of
        any depth, files without rights), keeping only the job's job.json."""
        try:
            names = os.listdir(self.workdir)
        except OSError:
            return
        for name in names:
            if name != job:
                untrusted.remove_tree(self.workdir / name)
        try:
            names = os.listdir(self.workdir / job)
        except OSError:
            return
        for name in names:
            if name != "job.json":
                untrusted.remove_tree(self.workdir / job / name)

    def _run_units(self, job, remaining, results):
        """Run [function, run] units in the fork server, into results; restart it as needed."""
        timeout = self.runner.settings.timeout
        job_dir = self.workdir / job
        remaining = list(remaining)
        restarts = 0
        while remaining:
            if self.proc is None or self.proc.poll() is not None:
                self.stop()
                self._tidy(job)
                self.start()
            budget = max(0.0, self.deadline - time.monotonic())
            request = {"dir": job, "units": remaining, "timeout": timeout, "budget": budget}
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
            except OSError:
                self.proc.kill()
                continue
            while remaining:
                function, run = remaining[0]
                # the server stops starting units when the budget is spent, so a line comes
                # by then, plus the longest one unit can take
                left = max(0.0, self.deadline - time.monotonic())
                message = _parse(self._readline(left + unit_wait_seconds(timeout)))
                if message is not None and "restart" in message and restarts < 3:
                    # the server found its own limits changed: a new one runs this job again
                    restarts += 1
                    self.stop()
                    break
                remaining.pop(0)
                if message is None or [message.get("function"), message.get("run")] != [function, run]:
                    # the server died or hung while running this unit: only it is charged
                    results[function].update(_error_obs(
                        "Crash: the grading process stopped while running this function", run))
                    self.stop()
                    break
                results[function].update(self._collect(job_dir, function, run,
                                                       message.get("status"), timeout))
            else:
                if _parse(self._readline(REPLY_GRACE_SECONDS)) != {"done": job}:
                    self.stop()

    def _collect(self, job_dir, function, run, status, timeout):
        if status == "ok":
            try:
                return _load_results(self.runner.sandbox.read_job_file(
                    job_dir, f"out_{function}.{run}.obs", MAX_RESULT_BYTES), function, run)
            except FileNotFoundError:
                return _error_obs("Crash: the function ended the process without a result (os._exit?)", run)
            except (OSError, ValueError) as error:  # the child owns these files
                return _error_obs(f"its results could not be read ({error})", run)
        return _error_obs(_status_text(status, timeout), run)


STARTUP_SECONDS = 60
REPLY_GRACE_SECONDS = 5


def unit_wait_seconds(timeout):
    """How long the parent waits for the fork server's line about one unit: longer than the
    server's kill of a batch that ran out of time (twice the limit: the function's own time
    and as much for other cells' top-level code, see forkserver.CellClock), its clean-up,
    and the unit's run alone again, so that an endless loop is reported as a timeout."""
    return 2 * (2 * timeout + 1) + 2 * 2.0 + REPLY_GRACE_SECONDS


def budget_seconds(timeout):
    """The total time one submission may take in the sandbox, whatever it does: units not
    started by then are reported as over budget."""
    return 8 * timeout + 10


def _parse(line):
    try:
        message = json.loads(line) if line else None
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _status_text(status, timeout):
    """Explain how the child that ran a function ended."""
    import signal
    status = str(status)
    if status == "timeout":
        return f"TimeoutError: the function did not finish within {timeout:g} s (an endless loop?)"
    if status == "budget":
        return ("TimeoutError: not run: the submission used up its total time "
                f"({budget_seconds(timeout):g} s) on functions that ran out of time")
    if status == "lost":
        return "Crash: the grading process of this submission stopped before this function"
    if status.startswith("signal "):
        number = int(status.split()[1])
        if number == signal.SIGSEGV:
            return "Crash: the Python process crashed (segmentation fault)"
        if number in (signal.SIGKILL, signal.SIGXCPU):
            return "MemoryError or TimeoutError: the process was killed for using too much memory or CPU time"
        return f"Crash: the process was killed by signal {number}"
    if status == "exit 70":
        return "Crash: the function's results could not be saved (too large, or memory ran out)"
    return f"Crash: the process exited with status {status.split()[-1]} while running this function (os._exit?)"


# One results file (one function, one run): the biggest honest one (lstm_forward, five
# cases) is about 150 KB; a wrong result of a few big arrays still fits.  The parent reads
# at most this much of what one child sent.
MAX_RESULT_BYTES = 16 * 2**20
KEEP_RESULT_BYTES = 2**20  # a results file up to this size stays in memory as it is


def _load_results(data, function, run):
    """The observations of one run from the child's results file, screened
    (verdict.screen): only the keys of this run and of the expected per-case structure,
    copied, so that the bytes the child sent are let go here.  Never raises."""
    try:
        obs = structure.loads(data)
    except structure.TooLarge as error:
        return _error_obs("its results are far larger than what the function has to return "
                          f"({error}): return only the values the notebook asks for", run)
    except Exception as error:  # noqa: BLE001 -- untrusted bytes
        return _error_obs(f"its results could not be read ({type(error).__name__})", run)
    try:
        # a small file (every honest one) is kept as it is; the arrays of a big one are
        # copied, so that its bytes are let go here
        return verdict.screen(function, run, obs, copy=len(data) > KEEP_RESULT_BYTES)
    except Exception as error:  # noqa: BLE001 -- the grader's own fault
        return _error_obs(_grader_fault_text(f"reading the results of {function}", error), run)


def _error_obs(text, run):
    """Observations saying that a whole run ended without results (verdict reads "<run>/error#")."""
    return {f"{run}/error#": text}


# ---------------------------------------------------------------------------
# Judge, and the batch
# ---------------------------------------------------------------------------


_JUDGED = {}  # (function, digest of its observations) -> FunctionResult
JUDGED_MAX = 4096


def _judge(function, obs):
    """verdict.judge(function, obs), remembered by the exact observations: students who
    hand in the same solution (or make the same mistake) return bit-identical results,
    and their verdict is worked out once.

    Guarded: an error inside the judge costs this function only, with a message saying
    that the grader failed (never raises)."""
    try:
        key = (function, _digest(obs))
        found = _JUDGED.get(key)
        if found is None:
            found = verdict.judge(function, obs)
            if len(_JUDGED) >= JUDGED_MAX:
                _JUDGED.clear()
            _JUDGED[key] = found
        return found
    except Exception as error:  # noqa: BLE001 -- one function, not the batch
        return verdict.FunctionResult(function, 0.0, assignment.points()[function], False,
                                      ["GRADER_FAULT"],
                                      _grader_fault_text(f"judging {function}", error))


def _grader_fault_text(step, error):
    """The message of a function whose grading failed inside the grader itself (the
    traceback goes to the grader's log, stderr)."""
    import traceback
    print(f"grader fault while {step}:\n{untrusted.shown(traceback.format_exc(), lines=True)}",
          file=sys.stderr)
    return (f"Scored 0 because the grader itself failed while {step} ({type(error).__name__}): "
            "this is a fault of the grader, not a judgement of your code. Tell the instructor, "
            "who sees the details in the grader's log.")


MESSAGE_CHARS = 8000  # longest text kept in a results entry


def clean_entry(entry, depth=0):
    """A copy of a results entry in which every text encodes to UTF-8 and JSON (lone
    surrogates written out), is at most MESSAGE_CHARS long and names no host path (the
    interpreter's build prefix, readable in any Python's sysconfig, say).  Never raises."""
    if isinstance(entry, str):
        return untrusted.without_host_paths(untrusted.json_text(entry, MESSAGE_CHARS))
    if depth > 6:
        return None
    if isinstance(entry, dict):
        return {untrusted.json_text(k, MESSAGE_CHARS): clean_entry(v, depth + 1) for k, v in entry.items()}
    if isinstance(entry, (list, tuple)):
        return [clean_entry(v, depth + 1) for v in entry]
    if entry is None or isinstance(entry, (bool, int, float)):
        return entry
    return untrusted.json_text(entry, MESSAGE_CHARS)


def _digest(obs):
    """A digest of observations (text, and arrays with their dtype and shape).  Every part
    is length-prefixed, so two different observations (the child's, so untrusted) never
    make the same byte stream."""
    h = hashlib.blake2b(digest_size=20)

    def part(tag, data):
        h.update(tag + len(data).to_bytes(8, "little") + data)
    for key in sorted(obs):
        value = obs[key]
        part(b"k", key.encode(errors="surrogatepass"))
        if isinstance(value, np.ndarray):
            part(b"t", f"{value.dtype.str}{value.shape}".encode())
            # an array that is not contiguous is screen()'s zero stand-in: its dtype and
            # shape say all, and its numbers are never made
            part(b"a", value.tobytes() if value.flags.c_contiguous else b"zeros")
        else:
            part(b"s", str(value).encode(errors="surrogatepass"))
    return h.digest()


def judge_submission(sources, problems, observations):
    """The results.json entry of one student."""
    functions = {}
    pts = assignment.points()
    for name in assignment.FUNCTIONS:
        if name in problems:
            functions[name] = verdict.FunctionResult(
                name, 0.0, pts[name], False, ["CELL_MISSING"],
                untrusted.json_text(problems[name], MESSAGE_CHARS)).as_dict()
        else:
            functions[name] = _judge(name, observations[name]).as_dict()
    return {"total": float(sum(f["score"] for f in functions.values())),
            "max": float(sum(pts.values())), "error": None, "functions": functions}


def error_entry(message):
    return {"total": 0.0, "max": float(sum(assignment.points().values())), "error": message,
            "functions": {}}


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


def grade_one(runner, sources, problems, error):
    """The results entry of one loaded submission; never raises for a bad submission."""
    if error is not None:
        return error_entry(error)
    observations = runner.observe(sources) if sources else {}
    return judge_submission(sources, problems, observations)


class Journal:
    """One file per finished student in OUT_DIR/.journal: resume and skip unchanged work."""

    def __init__(self, out):
        self.dir = Path(out) / ".journal"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, student):
        # any folder name: one that is not UTF-8 comes as lone surrogates (os.fsdecode)
        return self.dir / (untrusted.digest(student, 32) + ".json")

    def get(self, student, key):
        """The kept entry of a student whose submission is unchanged, else None (never raises)."""
        try:
            record = json.loads(self._path(student).read_text())
            if record.get("key") == key and record.get("student") == student and \
                    isinstance(record.get("entry"), dict):
                return record["entry"]
        except Exception:  # noqa: BLE001 -- a damaged journal file means: grade again
            pass
        return None

    def put(self, student, key, entry):
        """Keep one finished entry; False (and nothing kept) if it cannot be written."""
        path = self._path(student)
        tmp = path.with_suffix(".tmp")
        try:
            # ASCII JSON: lone surrogates of a folder name are kept as \\udcff escapes
            tmp.write_text(json.dumps({"student": student, "key": key, "entry": entry}))
            os.replace(tmp, path)
            return True
        except (OSError, ValueError, TypeError):
            return False


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


def grade(settings, log=None, on_entry=None):
    """Grade every submission; return the results dict.

    on_entry(student, entry) is called, in this thread, with each student's results
    entry as soon as it is known (the journal's too), e.g. to feed the gradebook."""
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
        if hasattr(runner, "check_isolation"):
            try:
                runner.check_isolation(settings.allow_weak_isolation)
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
                        students[student] = entry = clean_entry(entry)
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


GRADER_FAULT = ("not graded: the grader itself failed on this submission (see its log); "
                "the instructor runs the same command again to retry it")


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


def main(argv):
    settings = parse_args(argv)
    started = time.time()
    writer, gradebook_error = None, None
    if settings.gradebook:
        # the one writer of the gradebook: checked before any grading, filled as students finish
        try:
            writer, gradebook_error = open_gradebook_writer(settings)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    from . import timestamps
    duedate = writer.duedate if writer else None
    extensions = writer.extensions if writer else {}

    def on_entry(student, entry):
        timestamps.annotate(entry, settings.submitted / student / settings.assignment,
                            duedate, extensions.get(student))
        if writer is not None:  # a valid nbgrader id for any folder name
            writer.put(untrusted.gradebook_id(student), entry)

    try:
        results = grade(settings, on_entry=on_entry)
    except BaseException as error:
        if writer is not None:  # what was graded is saved in any case
            writer.stop()
            writer.thread.join()
        if not isinstance(error, Exception):
            raise
        print(f"error: the grader could not run: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
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
