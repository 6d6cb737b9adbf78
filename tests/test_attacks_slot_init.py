"""Attacks on the slot's init that is kept from submission to submission (slot-init).

The fork server now keeps one init, pid 1 of the slot's pid namespace, for every
submission of the slot, where each submission used to get an init (and namespaces) of its
own.  These tests ask whether what one student does to that init, or leaves in the
slot, reaches the student graded next in the same slot.

Every batch is graded by the real command line with --jobs 1, so that all its
submissions share one slot and one init, in the order of their folder names: an attacker
("a1_...") is followed at once by the student it aims at ("a2_...").  The student aimed
at is either an honest sample student, who must get exactly the result of their plan graded
on its own (the baseline), or a probe: a reference notebook whose one function reports
what it sees of the slot (its own scheduling, a store left by the student before, what
its own memory holds) in a RuntimeError message, which must say the same as when the
probe is graded after an honest student.  The attacker must lose the function it
attacked and nothing else.

Two modes are tried: as root (the init runs as root, the children as the slot's
uid) and as an ordinary user (--mode userns: the children share the init's uid in a
nested user namespace, so they may reach it where only the uid is checked), which the
tests run as themselves, or as root through RUNNER_USER when this machine allows it.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder import assignment

from conftest import make_course
from test_attacks import HONEST_PLANS, POINTS, grade_cmd, grader_env, processes_named, write_student

KIT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_hex(6)
COMM = ("sl" + TOKEN)[:15]      # the process name every lingering process of these attacks takes
TIMEOUT = 2.0
RUNNER_USER = "nobody"          # who runs the grader in userns mode

# ---------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------


def function_cell(function: str, body: str) -> str:
    """A whole cell defining `function` with `body` (indented here)."""
    return (f"# GRADED FUNCTION: {function}\nimport numpy as np\n\n"
            f"def {function}(*args, **kwargs):\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")


def fill(text: str) -> str:
    return text.replace("@TOKEN@", TOKEN).replace("@COMM@", COMM)


# The function every attack and probe below takes the place of: its points are the ones
# an attacker must lose, and a probe's message is compared with the probe's baseline.
TARGET = "lstm_cell_backward"

# What a child sees of its own scheduling: nice value, policy, CPUs, I/O priority.  A probe
# that reports it; the same seen after an honest student and after an attacker, or the
# attacker reached the init, from which every later child is forked.
SCHED_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
io = libc.syscall(252, 1, 0)   # ioprio_get(IOPRIO_WHO_PROCESS, self)
seen = (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0),
        sorted(os.sched_getaffinity(0)), io)
raise RuntimeError("SEEN " + repr(seen))
"""

# Lower the init's scheduling (pid 1, the parent of every child): nice 19, SCHED_IDLE, one
# CPU, idle I/O class.  Only the uid is checked by the kernel: as root the children have
# another uid than the init and every call is refused; in userns mode they share it.
SCHED_INIT = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
done = []
for pid in sorted({1, os.getppid()}):
    for name, change in (
            ("nice", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19)),
            ("idle", lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))),
            ("cpu", lambda: os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))})),
            ("io", lambda: libc.syscall(251, 1, pid, 3 << 13) == 0 or 1 / 0)):
        try:
            change()
            done.append(f"{name}:{pid}")
        except (OSError, ZeroDivisionError):
            pass
raise RuntimeError("SCHEDULED " + " ".join(done) if done else "NOTHING-SCHEDULED")
"""

# The kernel's key rings: per uid, not per namespace of the job, and kept after the last
# process of the uid ends.  A planter stores a secret in every ring it can reach; a reader
# looks for it.  (Each key expires after a few minutes, so that nothing stays on the host
# for long when the attack works.)
KEYS = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = 248, 250
RINGS = {"user": -4, "user-session": -5, "session": -3, "process": -2, "thread": -1}
NAME = b"sl-@TOKEN@"

def rings():
    found = dict(RINGS)
    persistent = libc.syscall(KEYCTL, 22, ctypes.c_long(-1), ctypes.c_long(0))  # KEYCTL_GET_PERSISTENT
    if persistent > 0:
        found["persistent"] = persistent
    return found
"""

KEY_PLANTER = KEYS + """
stored = []
for label, ring in rings().items():
    secret = ("ANSWER-FROM-THE-STUDENT-BEFORE-" + label).encode()
    key = libc.syscall(ADD_KEY, b"user", NAME, secret, ctypes.c_size_t(len(secret)), ctypes.c_long(ring))
    if key > 0:
        libc.syscall(KEYCTL, 15, ctypes.c_long(key), ctypes.c_long(300))   # KEYCTL_SET_TIMEOUT
        libc.syscall(KEYCTL, 5, ctypes.c_long(key), ctypes.c_long(0x3f3f3f3f))  # KEYCTL_SETPERM: all
        stored.append(label)
raise RuntimeError("PLANTED " + " ".join(stored))
"""

KEY_READER = KEYS + """
found = []
for label, ring in rings().items():
    key = libc.syscall(KEYCTL, 10, ctypes.c_long(ring), b"user", NAME, ctypes.c_long(0))  # KEYCTL_SEARCH
    if key > 0:
        buf = ctypes.create_string_buffer(256)
        n = libc.syscall(KEYCTL, 11, ctypes.c_long(key), buf, ctypes.c_long(256))  # KEYCTL_READ
        found.append(label + "=" + buf.raw[:max(n, 0)].decode(errors="replace"))
raise RuntimeError("FOUND " + " ".join(found) if found else "NOTHING-LEFT")
"""

# A process left behind that kills, for a minute, every process it may signal: as root the
# children of the next student share its uid.  It hides as well as it can: its own session,
# a pid namespace of its own in a user namespace of its own (its processes are still in
# the slot's pid namespace), a blocked SIGTERM/SIGINT/SIGHUP, several copies.
KILLER = """
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)

def killer():
    libc.prctl(15, b"@COMM@", 0, 0, 0)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    signal.setitimer(signal.ITIMER_REAL, 0)
    time.sleep(1.5)   # past this unit and the rest of this submission
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.005)
    os._exit(0)

def leave(nest):
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if nest:
            libc.unshare(0x10000000 | 0x20000000)   # CLONE_NEWUSER | CLONE_NEWPID
        if os.fork() == 0:
            killer()
    finally:
        os._exit(0)

for nest in (False, True, False):
    try:
        leave(nest)
    except OSError:
        pass
raise RuntimeError("LEFT KILLERS")
"""

# The same killer, started later: from a POSIX timer the unit arms and that fires once its
# batch child has parked (every submission is held for its "own" runs), on no unit's clock.
TIMER_KILLER = KILLER.replace('raise RuntimeError("LEFT KILLERS")', '') + """
import threading
libc.timer_create.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]

class Sigevent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("pad", ctypes.c_byte * 48)]

class Itimerspec(ctypes.Structure):
    _fields_ = [("interval_s", ctypes.c_long), ("interval_ns", ctypes.c_long),
                ("value_s", ctypes.c_long), ("value_ns", ctypes.c_long)]

def fire(*_):
    for nest in (False, True):
        try:
            leave(nest)
        except OSError:
            pass

signal.signal(signal.SIGUSR2, fire)
event = Sigevent(None, signal.SIGUSR2, 0)   # SIGEV_SIGNAL
timer = ctypes.c_void_p()
libc.timer_create(7, ctypes.byref(event), ctypes.byref(timer))   # CLOCK_BOOTTIME
libc.timer_settime(timer, 0, ctypes.byref(Itimerspec(0, 0, 0, 600_000_000)), None)
raise RuntimeError("TIMER ARMED")
"""

# Every signal to the init (pid 1, the parent), twice.  As root the children have another
# uid (refused); in userns mode the init, pid 1 of its namespace, must ignore them all.
SIGNAL_INIT = """
import os, signal
sent = []
for sig in list(range(1, 32)) + list(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)):
    for pid in sorted({1, os.getppid()}):
        try:
            os.kill(pid, sig)
            os.kill(pid, sig)
            sent.append(sig)
        except OSError:
            pass
raise RuntimeError("SIGNALLED " + str(len(sent)))
"""

# Lower the limits of the init (pid 1, the parent) that reach every child forked from it
# later, and a few that no unit needs: the hard CPU limit (5 s) below what any child sets
# for itself, a batch or one unit alone (it then cannot, and exits before any unit: an init
# kept with this limit would cost the next student every function).  (Limits that stop the
# init itself, as RLIMIT_NPROC, RLIMIT_FSIZE or RLIMIT_NOFILE would, only end this
# submission: the next one gets a new init either way.)
PRLIMIT_INIT = """
import os, resource
done = []
for name, value in (("RLIMIT_CPU", 5), ("RLIMIT_SIGPENDING", 1), ("RLIMIT_MEMLOCK", 0),
                    ("RLIMIT_MSGQUEUE", 0), ("RLIMIT_NICE", 0), ("RLIMIT_RTTIME", 1),
                    ("RLIMIT_CORE", 0)):
    for pid in sorted({1, os.getppid()}):
        try:
            resource.prlimit(pid, getattr(resource, name), (value, value))
            done.append(name)
        except (OSError, ValueError):
            pass
raise RuntimeError("PRLIMITED " + " ".join(sorted(set(done))) if done else "NOTHING-PRLIMITED")
"""

# Fill the oracle's side of this job's socket: requests, never a reply read, so that the
# oracle (one for the whole slot) blocks writing to this job and serves nobody after it.
ORACLE_FLOOD = """
import os, socket, threading
sent = 0
for fd in range(3, 256):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    try:
        if s.type != socket.SOCK_SEQPACKET:
            continue
        s.setblocking(False)
        request = b"\\0" * 8 + (8).to_bytes(4, "little") + b'["x",0]' + b" " + b"\\0" * 60000
        while True:
            try:
                s.send(request)
                sent += 1
            except OSError:
                break
    finally:
        s.detach()
raise RuntimeError("FLOODED " + str(sent > 0))
"""

# Search this child's own memory (the init's memory at the fork, and what the child has
# made since) for what the student before wrote: a comment of their cells (their source,
# which only their children may read) and a message of their results (the init copies
# results file to file).  Where to look: every 64 KiB block near a live object, and the
# brk heap, read through a pipe (write() of an unmapped address fails with EFAULT rather
# than crashing).  The two halves of each marker are searched apart, so that the markers
# this code makes itself are never found.
MEMORY_PROBE = """
import ctypes, gc, os
r, w = os.pipe()
os.set_blocking(r, False)
BLOCK = 1 << 16

def block(addr):
    try:
        n = os.write(w, (ctypes.c_char * BLOCK).from_address(addr))
    except OSError:
        return None
    data = b""
    while len(data) < n:
        data += os.read(r, n - len(data))
    return data

starts = set()
for obj in gc.get_objects():
    base = id(obj) & ~(BLOCK - 1)
    for k in range(-16, 17):
        starts.add(base + k * BLOCK)
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
top = libc.sbrk(0) & ~(BLOCK - 1)
addr, misses = top, 0
while misses < 64 and addr > 0:
    starts.add(addr)
    addr -= BLOCK
    misses = misses + 1 if block(addr) is None else 0
heads = [("SLOT-SOURCE", "-@TOKEN@"[::-1][::-1]), ("SLOT-RESULT", "-@TOKEN@"[::-1][::-1])]
heads = [(a.encode(), b.encode()) for a, b in heads]
found = set()
for start in sorted(starts):
    data = block(start)
    if data is None:
        continue
    for a, b in heads:
        i = data.find(a)
        while i >= 0:
            if data[i + len(a):i + len(a) + len(b)] == b:
                found.add(a.decode())
            i = data.find(a, i + 1)
raise RuntimeError("FOUND " + " ".join(sorted(found)) if found else "NOTHING-FOUND")
"""

# The student before a memory probe: the reference, with a comment in every cell (their
# source) and one function whose message carries a marker (their results).
SOURCE_MARK = f"SLOT-SOURCE-{TOKEN}"
RESULT_MARK = f"SLOT-RESULT-{TOKEN}"


def marked_plan() -> dict:
    plan = {f: src + f"\n# {SOURCE_MARK} of the student before\n"
            for f, src in assignment.reference_sources().items()}
    plan["rnn_cell_backward"] = function_cell("rnn_cell_backward",
                                              f'raise RuntimeError("{RESULT_MARK}")')
    plan["*"] = "reference"
    plan[CLOCK] = CLOCK_CELL
    return plan


# A second function of every attacker and probe says when the submission ran: a slot takes
# submissions from two threads (autograder.grading.batch.THREADS_PER_SLOT), not always in
# the order of their folders, and a probe proves something only if it ran after the attacker.
CLOCK = "lstm_cell_forward"
CLOCK_CELL = function_cell(CLOCK, 'import time\nraise RuntimeError(f"CLOCK {time.time():.6f} CLOCK")')


def clock_of(entry: dict) -> float:
    message = entry["functions"][CLOCK]["message"]
    assert "CLOCK " in message, ("a clocked submission lost the function that tells when it "
                                 f"ran: {message[:300]}")
    return float(message.split("CLOCK ")[1].split(" CLOCK")[0])


def without_clock(entry: dict) -> dict:
    entry = json.loads(json.dumps(entry))
    entry["functions"].pop(CLOCK)
    for key in ("total", "score", "percent"):
        entry.pop(key, None)
    return entry


ZOE_CLOCKED = {"*": "reference", CLOCK: CLOCK_CELL}   # the reference, with a clock


def probe_plan(body: str) -> dict:
    return {"*": "reference", TARGET: function_cell(TARGET, fill(body)), CLOCK: CLOCK_CELL}


# ---------------------------------------------------------------------------
# running a batch
# ---------------------------------------------------------------------------


def userns_runner():
    """How to run the grader as RUNNER_USER here, or None.  The venv's interpreter lives
    under /root (not readable by others): the grader runs in a mount namespace of its own,
    in which /root is an empty tmpfs holding a bind mount of the interpreter's folder."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return None
    try:
        entry = pwd.getpwnam(RUNNER_USER)
    except KeyError:
        return None
    probe = subprocess.run(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                            "--clear-groups", "unshare", "--user", "--pid", "--fork", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return entry


def _wrap_as_user(cmd: list[str], entry, scratch: Path) -> list[str]:
    real = os.path.realpath(sys.executable)
    under_root = real.startswith("/root/")
    script = ["set -e"]
    if under_root:
        top = "/root/" + real.split("/")[2]           # /root/.pyenv
        keep = scratch / "interpreter"
        keep.mkdir(exist_ok=True)
        script += [f"mount --bind {top} {keep}", "mount -t tmpfs -o mode=0755 tmpfs /root",
                   f"mkdir -p {top}", f"mount --bind {keep} {top}"]
    script.append('exec setpriv --reuid="$1" --regid="$2" --clear-groups --inh-caps=-all '
                  '--bounding-set=-all -- "${@:3}"')
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", "\n".join(script),
            "wrap", str(entry.pw_uid), str(entry.pw_gid), *cmd]


def _own(path: Path, entry) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


def lingering():
    """The pids of processes named COMM on this machine (none, if the init killed them)."""
    return processes_named(COMM)


def keys_left() -> list[str]:
    """The keys of this module's planters that the kernel still holds (any uid: /proc/keys
    lists every key root may view, and a planter lets everyone view it); invalidated."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        lines = Path("/proc/keys").read_text().splitlines()
    except OSError:
        return []
    left = [line.split()[0] for line in lines if f"sl-{TOKEN}" in line and "R" not in line.split()[1]]
    for key in left:
        libc.syscall(250, 21, ctypes.c_long(int(key, 16)))   # KEYCTL_INVALIDATE
    return left


def grade(env, label: str, entries: list[tuple[str, dict]]) -> dict:
    """Grade `entries` ([(folder, plan)], graded in folder order) with --jobs 1 in one slot;
    return results.json's "students"."""
    scratch = env["scratch"] / label
    submitted, out, tmpdir = scratch / "submitted", scratch / "out", scratch / "tmp"
    for d in (submitted, tmpdir):
        d.mkdir(parents=True)
    for folder, plan in entries:
        write_student(submitted, folder, plan)
    cmd = grade_cmd(submitted, out, env["course"], "--no-gradebook", jobs=1, timeout=TIMEOUT)
    run_env = grader_env(scratch)
    run_env["TMPDIR"] = str(tmpdir)
    # the grader of this checkout (an editable install of another one would win otherwise)
    run_env["PYTHONPATH"] = str(KIT)
    user = env["user"]
    if user is not None:
        run_env["HOME"] = str(scratch)
        _own(scratch, user)
        cmd = _wrap_as_user(cmd, user, scratch)
    proc = subprocess.run(cmd, cwd=KIT, env=run_env, capture_output=True, text=True, timeout=900)
    left = lingering()
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    (scratch / "grader-stderr.txt").write_text(proc.stderr[-5000:])
    assert proc.returncode == 0, f"{label}: grader exit {proc.returncode}\n{proc.stderr[-3000:]}"
    results = json.loads((out / "results.json").read_text())
    assert not results.get("not_graded"), results.get("not_graded")
    assert results["isolation"] and "WEAK" not in str(results["isolation"]).upper(), results["isolation"]
    students = results["students"]
    students["__lingering__"] = left
    students["__keys__"] = keys_left()
    return students


def _scratch_root(tmp_path_factory, user) -> Path:
    if user is None:
        return tmp_path_factory.mktemp("slot_init")
    # pytest's folders are root's alone: the user's runs go to a folder it can reach
    path = Path(tempfile.mkdtemp(prefix="slot-init-"))
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="module", params=["root", "userns"])
def slot(request, tmp_path_factory):
    """A scratch course, the mode, and the baseline of every probe and honest student."""
    if request.param == "root":
        if os.geteuid() != 0:
            pytest.skip("root mode needs the tests to run as root")
        user = None
    elif os.geteuid() != 0:
        user = None  # an ordinary user already: the grader it runs makes the nested namespace
    else:
        user = userns_runner()
        if user is None:
            pytest.skip(f"cannot run the grader as {RUNNER_USER} in a user namespace here")
    scratch = _scratch_root(tmp_path_factory, user)
    course = make_course(scratch / "course")
    env = {"mode": request.param, "scratch": scratch, "course": course, "user": user, "runs": {}}
    # the baseline: each probe graded after an honest student (as in the attacked batches),
    # and the honest students themselves
    entries = [("a0_alice", HONEST_PLANS["alice"])]
    for name, body in PROBES.items():
        entries += [(f"b_{name}_1honest", HONEST_PLANS["carol"]), (f"b_{name}_2probe", probe_plan(body))]
    entries += [(f"c_{p}", HONEST_PLANS[p]) for p in ("carol", "erin", "frank", "zoe")]
    entries.append(("c_zoeclock", ZOE_CLOCKED))
    base = grade(env, "baseline", entries)
    env["baseline"] = {name: base[f"b_{name}_2probe"] for name in PROBES}
    env["honest"] = {p: base[f"c_{p}"] for p in ("carol", "erin", "frank", "zoe", "zoeclock")}
    yield env
    if user is not None:
        shutil.rmtree(scratch, ignore_errors=True)


PROBES = {"sched": SCHED_PROBE, "keys": KEY_READER, "memory": MEMORY_PROBE}


def attacked(slot, name: str, attacker: dict, after: list[tuple[str, dict]]) -> dict:
    """Grade: the attacker, an honest student, then `after` ([(suffix, plan)]) and a clocked
    reference twice over; memoised.  A slot takes submissions from two threads
    (autograder.grading.batch.THREADS_PER_SLOT), and not in folder order: the thread that
    has just finished one submission tends to take the slot again for its next one, and
    the second submission of the batch often runs last.  So the attacker goes first (the
    clocks say which submissions ran after it)."""
    if name not in slot["runs"]:
        after = list(after) + [("zoeclock", ZOE_CLOCKED)]
        entries = [("a0_attacker", attacker), ("a1_alice", HONEST_PLANS["alice"])]
        entries += [(f"a{r}{i}_{suffix}", plan) for r in (2, 3)
                    for i, (suffix, plan) in enumerate(after)]
        slot["runs"][name] = grade(slot, name, entries)
    return slot["runs"][name]


def after_attacker(students: dict, suffix: str) -> list[str]:
    """The folders of `suffix` graded after the attacker (both rounds)."""
    return sorted(f for f in students if f[:2] in ("a2", "a3") and f.split("_", 1)[1] == suffix)


def assert_lost_only(students: dict, folder: str, function: str, also=()):
    """The attacker lost `function` (and its clock) and kept every other one but `also`."""
    entry = students[folder]
    assert entry["functions"][function]["score"] == 0.0, entry["functions"][function]["message"][:300]
    lost = {f: r["message"][:200] for f, r in entry["functions"].items()
            if f not in (function, CLOCK, *also) and not (r["passed"] and r["score"] == POINTS[f])}
    assert not lost, f"the attack cost other functions too: {json.dumps(lost, indent=1)}"


def assert_probe_unchanged(slot, students: dict, suffix: str, probe: str):
    """Every probe graded after the attacker (one at least) saw what it sees alone."""
    want = without_clock(slot["baseline"][probe])
    attacker = clock_of(students["a0_attacker"])
    after = [f for f in after_attacker(students, suffix) if clock_of(students[f]) > attacker]
    assert after, "no probe was graded after the attacker"
    for folder in after:
        got = without_clock(students[folder])
        assert got == want, (f"[{slot['mode']}] the probe saw something else after the attacker:\n"
                             f"  after: {got['functions'][TARGET]['message'][:400]}\n"
                             f"  alone: {want['functions'][TARGET]['message'][:400]}")


def assert_honest(slot, students: dict, plans: list[str]):
    """The honest students graded after the attacker keep their baseline, and a clocked
    reference graded after the attacker (one at least) keeps every other function."""
    changed = {}
    for plan in plans:
        for folder in after_attacker(students, plan):
            got, want = students[folder], slot["honest"][plan]
            if got != want:
                changed[folder] = {f: r["message"][:200] for f, r in got["functions"].items()
                                   if r != want["functions"][f]} or got.get("error")
    attacker = clock_of(students["a0_attacker"])
    clocked = [f for f in after_attacker(students, "zoeclock") if clock_of(students[f]) > attacker]
    assert clocked, "no clocked student was graded after the attacker"
    want = without_clock(slot["honest"]["zoeclock"])
    for folder in clocked:
        got = without_clock(students[folder])
        if got != want:
            changed[folder] = {f: r["message"][:200] for f, r in got["functions"].items()
                               if r != want["functions"][f]} or got.get("error")
    assert not changed, f"[{slot['mode']}] honest students changed: {json.dumps(changed, indent=1)[:3000]}"


# ---------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------


def test_scheduling_of_the_init_does_not_reach_the_next_student(slot):
    """Does a student who renices the slot's init (pid 1, the parent of every child), makes it
    SCHED_IDLE, pins it to one CPU or gives it the idle I/O class leave the next student's
    children, forked from that init, with the scheduling every child gets after an honest
    student?  (A child forked from an init made SCHED_IDLE runs only when no other work of
    the machine wants the CPU: under load its units run out of time.)"""
    students = attacked(slot, "sched", probe_plan(SCHED_INIT),
                        [("probe", probe_plan(SCHED_PROBE)), ("zoe", HONEST_PLANS["zoe"])])
    assert_probe_unchanged(slot, students, "probe", "sched")
    assert_honest(slot, students, ["zoe"])
    assert_lost_only(students, "a0_attacker", TARGET)


def test_a_key_left_in_the_kernels_key_rings_does_not_reach_the_next_student(slot):
    """Does a secret a student stores in the kernel's key rings (the uid's user and user
    session rings, the persistent ring, the process's own), which outlive processes and
    namespaces of the job, stay out of the reach of the student graded next in the slot,
    and is none of it left on the host after the batch?  (Fails on slot-init: see the
    attack report.  As root the user rings are the slot uid's, on the host, kept after the
    batch; in userns mode they belong to the init's user namespace, now kept for the slot.)"""
    students = attacked(slot, "keys", probe_plan(KEY_PLANTER),
                        [("reader", probe_plan(KEY_READER)), ("zoe", HONEST_PLANS["zoe"])])
    assert_probe_unchanged(slot, students, "reader", "keys")
    assert students["__keys__"] == [], "keys a student stored outlive the batch on the host"
    assert_honest(slot, students, ["zoe"])
    assert_lost_only(students, "a0_attacker", TARGET)


@pytest.mark.parametrize("name,attack", [("killer", KILLER), ("timer_killer", TIMER_KILLER)])
def test_a_process_left_behind_dies_before_the_next_student_runs(slot, name, attack):
    """Does a process a student leaves behind (its own session, a nested pid namespace, the
    usual signals blocked), whether left by a unit or by a timer that fires once the
    batch child has parked, die before the next student runs?  Left alive, it kills
    every process of its uid: as root, the next student's children."""
    students = attacked(slot, name, probe_plan(attack),
                        [("zoe", HONEST_PLANS["zoe"]), ("erin", HONEST_PLANS["erin"])])
    assert students["__lingering__"] == []
    assert_honest(slot, students, ["zoe", "erin"])
    assert_lost_only(students, "a0_attacker", TARGET)


@pytest.mark.parametrize("name,attack,also", [
    ("signals", SIGNAL_INIT, ()),
    # the init of the attacker's own job cannot fork, or the oracle is blocked writing to the
    # attacker's socket: the function after the attacked one may go with it (its own loss)
    ("prlimit", PRLIMIT_INIT, ("lstm_backward",)),
    ("oracle_flood", ORACLE_FLOOD, ("lstm_backward",))])
def test_what_a_student_does_to_the_init_and_the_oracle_does_not_reach_the_next(slot, name, attack, also):
    """Does the next student keep every point after a student who sends every signal to the
    init twice, lowers each of its limits (and a CPU limit it would reach later), or fills
    the slot's oracle with requests it never reads the replies of?"""
    students = attacked(slot, name, probe_plan(attack),
                        [("zoe", HONEST_PLANS["zoe"]), ("frank", HONEST_PLANS["frank"])])
    assert_honest(slot, students, ["zoe", "frank"])
    assert_lost_only(students, "a0_attacker", TARGET, also)


def test_the_next_students_child_holds_none_of_the_source_or_results_before(slot):
    """Does the child of the student graded next, forked from the slot's init, find in its
    own memory none of the source of the student before (a comment in each of their cells)
    nor of their results (a message), which the init is never to read?"""
    students = attacked(slot, "memory", marked_plan(),
                        [("probe", probe_plan(MEMORY_PROBE)), ("zoe", HONEST_PLANS["zoe"])])
    assert_probe_unchanged(slot, students, "probe", "memory")
    assert "NOTHING-FOUND" in slot["baseline"]["memory"]["functions"][TARGET]["message"]
    assert_honest(slot, students, ["zoe"])
    assert_lost_only(students, "a0_attacker", "rnn_cell_backward")
