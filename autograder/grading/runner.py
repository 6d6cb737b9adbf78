"""RunInSandbox: the parent's side of the sandboxed fork servers.

A fork server (autograder/sandbox/forkserver.py, isolated by autograder.sandbox.isolation)
runs in each parallel slot; for every submission it forks children that run each
function on the cases in a clean namespace and send back plain arrays.  Runner hands out
the slots; ForkServer speaks the server's line protocol, restarts a server that dies or
hangs and charges only the function it was running; _load_results screens what a child
sent.  Judging is the next stage (autograder.grading.judge): nothing here compares.
"""
import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import assignment
from ..sandbox import isolation, structure
from . import casecache, untrusted, verdict
from .faults import grader_fault_text

SANDBOX_DIR = Path(__file__).resolve().parent.parent / "sandbox"
FORKSERVER = SANDBOX_DIR / "forkserver.py"
# What the child may read when the course directory is hidden from it.
CHILD_FILES = [SANDBOX_DIR.parent / "__init__.py"] + \
              [SANDBOX_DIR / name for name in
               ("__init__.py", "child.py", "engine.py", "structure.py", "compare.py")] + \
              [assignment.ROOT / "rnn_utils.py"]
# Where they appear in a bubblewrap sandbox (see ForkServer.start): no host path is mounted
# at its own place, so none can show in what a child reports.
KIT_ROOT = SANDBOX_DIR.parent.parent
SANDBOX_KIT = Path("/opt/kit")
SANDBOX_CASES = Path("/opt/cases")


# The slots' folders hold files that live a few milliseconds (job.json, the results the
# job's init copies out): on a disk file system each costs an inode allocation, a large
# part of the kernel's work per submission.  In memory when that is safe (scratch_root).
SHM = Path("/dev/shm")
# a margin, not a derived bound: a job holds job.json and at most one results file per
# unit (forkserver.MAX_RESULT_BYTES each, deleted once read), for each slot at once
SHM_MIN_FREE = 4 * 2**30


def scratch_root(bubblewrap, shm=SHM):
    """Where the slots' folders are made: $TMPDIR when it is set; else /dev/shm when the
    children are isolated by bubblewrap (only trusted code writes the slot folder: the
    job's init copies out results of at most forkserver.MAX_RESULT_BYTES, and the parent
    deletes each once read), it is a writable tmpfs and it has SHM_MIN_FREE bytes free;
    else the system's temporary folder.  None means tempfile's default.  Weakly isolated
    children write in the slot folder themselves, so it stays on disk."""
    if os.environ.get("TMPDIR") or not bubblewrap:
        return None
    try:
        info = os.statvfs(shm)
        if info.f_bavail * info.f_frsize < SHM_MIN_FREE or not os.access(shm, os.W_OK | os.X_OK):
            return None
        with open("/proc/self/mounts") as mounts:
            if not any(line.split()[1:3] == [str(shm), "tmpfs"] for line in mounts):
                return None
    except OSError:
        return None
    return str(shm)


def write_payloads(directory, cache_dir=None):
    """The cases of every function as npz files shared by all children (made once per batch,
    or taken from the case cache in cache_dir: autograder.grading.casecache; None: no cache):
    <function>.npz the inputs, <function>.calls.npz the oracle's recorded calls (read only by
    the oracle process of each fork server, never by a child that runs student code)."""
    for function, (inputs, calls) in casecache.ensure(cache_dir).payloads.items():
        (Path(directory) / f"{function}.npz").write_bytes(inputs)
        (Path(directory) / f"{function}.calls.npz").write_bytes(calls)


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
        self.sandbox = sandbox = isolation
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
            text += (", per slot: a pid namespace emptied after each submission; per child: new "
                     "mount/IPC namespaces, a fresh tmpfs job folder, no /proc, no capabilities; "
                     "oracle answers kept out of the children")
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
    """The parent's handle on one sandboxed fork server (autograder/sandbox/forkserver.py)."""

    def __init__(self, runner, slot):
        self.runner, self.slot = runner, slot
        self.workdir = Path(tempfile.mkdtemp(
            prefix=f"grade-slot{slot}-",
            dir=scratch_root(runner.sandbox.detect_isolation().bubblewrap)))
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
            argv = [exe, "-I", "-S", str(SANDBOX_KIT / FORKSERVER.relative_to(KIT_ROOT)), str(inside),
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
        parts = {function: [] for function in assignment.FUNCTIONS}  # what each was made of
        self.deadline = time.monotonic() + budget_seconds(self.runner.settings.timeout)
        try:
            # the job's init is held for the "own" runs, which are known only once the
            # "oracle" runs are judged: one init (namespaces, job folder) per submission
            self._run_units(job, [[f, "oracle"] for f in assignment.FUNCTIONS], results, parts, hold=True)
            self._run_units(job, own_runs(results, parts), results, parts, cont=True)
        finally:
            # the job folder and whatever student code left next to it (the server's cwd):
            # any depth, any rights; the next submission starts from an empty folder
            untrusted.clear_folder(self.workdir)
        return {function: Observations(obs, _token(parts[function], obs))
                for function, obs in results.items()}

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

    def _run_units(self, job, remaining, results, parts, hold=False, cont=False):
        """Run [function, run] units in the fork server, into results; restart it as needed.
        parts -- {function: [the token of each part merged into results[function]]}

        hold -- keep the job's init for a later call with cont (the server then ends with
                {"held": job}); cont -- run these units in the init held for this job, if
                the server still holds it.  A held init that is not continued is ended by
                the server at its next request."""
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
            request = {"dir": job, "units": remaining, "timeout": timeout, "budget": budget,
                       "hold": hold, "continue": cont,
                       # the own runs a parked batch child may be handed (at most one a
                       # function with a cell function); the init does not read job.json
                       "room": len(assignment.DEPENDS_ON),
                       "oracle": any(r == "oracle" and f in assignment.DEPENDS_ON for f, r in remaining)}
            if not self._request(request):
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
                    crash = _error_obs("Crash: the grading process stopped while running this function", run)
                    results[function].update(crash)
                    parts[function].append(_error_token(crash))
                    self.stop()
                    break
                part, token = _read_unit(self.runner.sandbox, job_dir, function, run,
                                         message.get("status"), timeout)
                results[function].update(part)
                parts[function].append(token)
            else:
                end = _parse(self._readline(REPLY_GRACE_SECONDS))
                if end != {"done": job} and not (hold and end == {"held": job}):
                    self.stop()

    def _request(self, request):
        """Send one request line to the server; False when it cannot take it (dead)."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except OSError:
            return False


def _read_unit(sandbox, job_dir, function, run, status, timeout):
    """(observations, token) of one unit the server reported with `status` (see _token)."""
    if status == "ok":
        name = f"out_{function}.{run}.obs"
        try:
            data = sandbox.read_job_file(job_dir, name, MAX_RESULT_BYTES)
        except FileNotFoundError:
            obs = _error_obs("Crash: the function ended the process without a result (os._exit?)", run)
            return obs, _error_token(obs)
        except (OSError, ValueError) as error:  # the child owns these files
            obs = _error_obs(f"its results could not be read ({error})", run)
            return obs, _error_token(obs)
        _unlink_in(job_dir, name)  # read: its room is freed at once
        return _screened_file(data, function, run)
    obs = _error_obs(_status_text(status, timeout), run)
    return obs, _error_token(obs)


class Observations(dict):
    """The observations of one function of one submission, and `token`: what they were made
    of, which determines them (see _token), or None.  The judge knows two submissions'
    identical observations by their tokens without reading them (judge._judge)."""
    __slots__ = ("token",)

    def __init__(self, obs, token):
        super().__init__(obs)
        self.token = token


def _token(parts, obs):
    """The token of a function's observations (Observations) merged from `parts`, in that
    order: each part is a results file, known by _screened_file's key (the same bytes screen
    to the same observations), or an error text (_error_token); own_runs may then have
    added its fixed "own/skipped#" note.  None when a part has no token (a file too large
    to be kept in the memo)."""
    if any(part is None for part in parts):
        return None
    return tuple(parts), "own/skipped#" in obs


def _error_token(obs):
    return ("error", tuple(sorted(obs.items())))


def _unlink_in(folder, name):
    """Delete the file `name` of `folder`, not following a symlink on the folder (in plain
    mode the child can rename what it finds there)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        os.unlink(name, dir_fd=fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def own_runs(results, parts=None):
    """The [function, "own"] units worth running once the "oracle" runs are in results: a
    loop function's own run can change something only where it or its cell function failed
    with the oracle.  Each one skipped is marked "own/skipped#" in results (verdict.judge
    reads it).  parts -- the tokens of what results holds (ForkServer.run), by which the
    answer for observations seen before is remembered"""
    def passes(function):
        token = _token(parts[function], results[function]) if parts is not None else None
        if token is None:
            return verdict.run_passes(function, results[function], "oracle")
        key = (function, token)
        found = _PASSES.get(key)
        if found is None:
            found = verdict.run_passes(function, results[function], "oracle")
            if len(_PASSES) >= 4096:
                _PASSES.clear()
            _PASSES[key] = found
        return found
    own = []
    for function, dependency in assignment.DEPENDS_ON.items():
        if passes(function) and passes(dependency):
            results[function]["own/skipped#"] = "not needed: both pass with the oracle"
        else:
            own.append([function, "own"])
    return own


STARTUP_SECONDS = 60
REPLY_GRACE_SECONDS = 5


def unit_wait_seconds(timeout):
    """How long the parent waits for the fork server's line about one unit: longer than the
    server's kill of a batch that ran out of time (twice the limit, the function's own time
    and as much for other cells' top-level code, and a margin: forkserver.UNIT_KILL_FACTOR
    and UNIT_KILL_MARGIN, see forkserver.CellClock), its clean-up, and the unit's run alone
    again, so that an endless loop is reported as a timeout."""
    return 2 * (2 * timeout + 2.5) + 2 * 2.0 + REPLY_GRACE_SECONDS


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


# Students who hand in the same solution, or make the same mistake, send bit-identical
# results files: each distinct file of this process is parsed and screened once.  The
# screened observations of a small file are read-only views of its bytes, so a shared entry
# cannot be changed by whoever receives it; what is kept is bounded in bytes, not in count.
_SCREENED = {}  # (function, run, blake2b of the file) -> screened observations
_SCREENED_BYTES = [0]  # the sizes of the files behind _SCREENED's entries, added up
_SCREENED_LOCK = threading.Lock()  # the judging threads of every slot share the memo
SCREENED_MAX_BYTES = 64 * 2**20


_PASSES = {}  # (function, token of its oracle run) -> verdict.run_passes, for own_runs


def _load_results(data, function, run):
    """The observations of one run from the child's results file, screened
    (verdict.screen): only the keys of this run and of the expected per-case structure,
    copied, so that the bytes the child sent are let go here.  Never raises.

    The same bytes give the same observations: a small file already screened in this
    process is not read again (_SCREENED).  The dict returned may be shared: read it only."""
    return _screened_file(data, function, run)[0]


def _screened_file(data, function, run):
    """(_load_results(data, function, run), its key in _SCREENED, or None for a file too
    large to be kept there)."""
    if len(data) > KEEP_RESULT_BYTES:
        return _screen_results(data, function, run), None
    key = (function, run, hashlib.blake2b(data, digest_size=32).digest())
    obs = _SCREENED.get(key)
    if obs is None:
        obs = _screen_results(data, function, run)
        with _SCREENED_LOCK:
            if _SCREENED_BYTES[0] + len(data) > SCREENED_MAX_BYTES:
                _SCREENED.clear()
                _SCREENED_BYTES[0] = 0
            if key not in _SCREENED:
                _SCREENED[key] = obs
                _SCREENED_BYTES[0] += len(data)
    return obs, key


def _screen_results(data, function, run):
    """_load_results without the memo."""
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
        return _error_obs(grader_fault_text(f"reading the results of {function}", error), run)


def _error_obs(text, run):
    """Observations saying that a whole run ended without results (verdict reads "<run>/error#")."""
    return {f"{run}/error#": text}
