"""The fork server of the batch grader: one per parallel slot, inside the sandbox.

    python -I -S forkserver.py WORKDIR PAYLOAD_DIR [--mode root|userns|plain] [--child-id UID:GID]

It starts once, with numpy, the engine and every function's case inputs already
loaded, and prints "ready".  Then it reads one job per line on stdin:

    {"dir": "<folder under WORKDIR>", "units": [[function, run], ...], "timeout": seconds,
     "budget": seconds, "hold": true | false, "continue": true | false, "oracle": true | false}

The folder holds job.json (setup cell and the student's cell sources), which only the
children read: neither the server nor the slot's init ever does, since children are forked
from their memory, so no student's cells may ever be in it, not even let go.  "oracle" says
whether a unit needs the stand-in; "room" how many units a held job's continue may bring.
A unit is one run of one function ("oracle" or "own", see autograder.sandbox.engine).  The
server prints one line per unit, in order:
{"function": name, "run": run, "status": "ok" | "timeout" | "budget" | "signal N" | "exit N" | "lost"},
with the unit's results in out_<function>.<run>.obs in the folder
(autograder.sandbox.structure.dumps).  After the job it prints {"done": folder}.  When
its own limits were lowered it prints {"restart": why} instead and exits.

With "hold" the job is kept open once its units are reported, and the server prints
{"held": folder} instead of {"done": folder}: the next request, with "continue" and the
same folder, runs its units (the "own" runs the parent found it needs) in the same job, on
the same budget.  A "continue" with no job held for its folder (the server was restarted,
the init died) starts a new job as any request does; any other request first ends the
held job.

Who holds what (trusted code only, from top to bottom):

server     the long-lived process.  It never runs student code and never holds
           an answer of the oracle (its payloads are the case inputs only).
oracle     forked by the server at start; it alone reads the recorded calls
           (PAYLOAD_DIR/*.calls.npz) and answers, over a socket, the calls that
           student code makes of the stand-in (engine.remote_oracle).  Student
           code cannot see it (another pid namespace) nor read its memory.
init       one per slot, kept from job to job (one job is one submission): pid 1 of a
           pid namespace of its own, in new mount, IPC and UTS namespaces, with a fresh,
           size-limited tmpfs as the job folder (it hides WORKDIR and PAYLOAD_DIR),
           made anew for each child it forks (so a unit that fills or litters it harms
           only itself).  The server hands it each job's folder and oracle socket as
           descriptors.  It gives each child a descriptor of job.json, never reading it,
           copies each unit's results out to WORKDIR/<dir> from file to file in the
           kernel (so no student's answers pass through its memory), and at the end of
           each job kills everything else in its namespace: no process, file or System
           V object of one submission outlives it (each child has an IPC namespace of its
           own).  After each job it checks its own limits, which a child of the same uid
           could lower, and ends if they changed; the server then starts a new one, as
           it does when the init has gone or was killed at a deadline.
child      runs the student's code: in mount and IPC namespaces of its own, with an
           empty /proc (no mount table, no process list), no capabilities, no_new_privs,
           rlimits, and as root a uid other than the server's (--child-id); it
           cannot see, signal or change the limits of the server, the oracle or
           another job.

--mode root     the server runs as root in the sandbox (capabilities kept by
                bwrap); children drop to --child-id.
--mode userns   an unprivileged grader: the init is made in a nested user
                namespace (uid 1000 inside), where it may mount.
--mode plain    no namespaces can be made (weak isolation): the children are
                forked directly and share the server's uid and job folder.

Every verdict comes from a unit run as if alone.  The init first forks ONE child
for all the units left, a batch, because forking costs as much as a unit's work.
The batch reports each finished unit on a progress pipe (each unit gets the time
limit anew); a byte that comes before the unit's results file is a forgery of student
code and stops the batch.  It stops by itself after a unit that ran out of time; the init
stops it after a unit that left a thread or a process behind.  When a batch ends
any other way (a crash, a kill at the time limit, a stop), the unit it was on is
run again alone, in a fresh child, and its verdict comes from that run; the batch
then resumes with the next unit.  So a student's cell function that kills its
process in the "own" run of a loop function cannot take the "oracle" results, or
any other function, with it.

In a held job the batch child that reports its last unit does not exit but parks: it
waits on a pipe that only it and the init hold, and the units of the "continue" are
handed to it there and run as the rest of its batch (a progress byte each, the census,
the tampering check, the early stop, a unit run again alone when the batch goes wrong).
A submission that needs "own" runs so costs one batch child, not two.  A batch stopped
for a leftover thread or process or a tampered module, or stopped early, never parks.
A parked child that is gone, wrote on its progress pipe or left a thread or process
while parked (student code's handlers and timers may still fire), or has no room for
the units (its CPU limit covers at most the "own" runs a job can have), is ended, and
the units run in fresh children as in a job not held.  A "continue" with no units, or
the end of the held job, kills it with every other process of the job; so does a
continue that has not come within a unit's time (student code may still run in the
parked child, on no unit's clock).

Time is charged where it is spent: a unit has `timeout` seconds for its own
function; the top-level code of the other functions' cells has its own clock
(engine.CELL_CLOCK) and, when it runs out, fails only that cell.  A job has
`budget` seconds in all; units not started by then are reported as "budget".
"""
import contextlib
import ctypes
import json
import mmap
import os
import resource
import select
import signal
import socket
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]  # the folder that holds autograder/
sys.path.insert(0, str(KIT))
if (KIT / "site").is_dir():  # the sandbox's minimal root: numpy is bound there (sandbox.python_layout)
    sys.path.insert(1, str(KIT / "site"))

from autograder.sandbox import child, engine, structure  # noqa: E402

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000
FORK_ATTEMPTS = 50  # a fork that fails (process limit) is retried while the last kill settles
JOB_TMPFS = "size=64m,nr_inodes=4096,mode=0700"  # the job folder of one submission
MAX_RESULT_BYTES = 64 * 2**20
MNT_DETACH = 2
ORACLE_TAG = 8  # bytes of the random tag that pairs an oracle request with its reply
USERNS_ID = 1000  # uid and gid of the init and the children in a nested user namespace
CLEAN_UP_SECONDS = 2.0
# Once the other cells of a unit have spent their pool of time, each later one still gets
# a floor of at most CELL_FLOOR (see CellClock).  The parent sends one cell per graded
# function, eight: beside the unit's own, seven others, the first of which never runs on
# the floor.
CELL_FLOOR = 0.25
CELLS_AFTER_POOL = 6
# A batch unit may spend up to `timeout` on its own function, as much again on the
# top-level code of other cells and a floor for each cell after that (see CellClock),
# before the init kills it.  The margin holds the floors, and a second for the fork, the
# interrupts' lag and the results.
UNIT_KILL_FACTOR = 2.0
UNIT_KILL_MARGIN = 1.0 + CELLS_AFTER_POOL * CELL_FLOOR

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):
    return _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))


def _check(rc, what):
    if rc != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(source, target, fstype, flags, data=None):
    enc = lambda v: v.encode() if v is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _umount(target):
    _check(_libc.umount2(target.encode(), ctypes.c_int(MNT_DETACH)), f"umount {target}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


# The kernel's key rings belong to a uid (and a user namespace), not to a process or a job:
# a key a child stores would outlive it, for the next submission of the slot to read, and
# as root on the host.  No child needs them: add_key, request_key and keyctl fail (EPERM).
# {audit arch: (its numbers of those calls, the lowest number of another ABI on it)}
_KEY_CALLS = {0xC000003E: ((248, 249, 250), 0x40000000),  # x86_64 (x32 calls above 2**30)
              0xC00000B7: ((217, 218, 219), None)}        # aarch64
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_SECCOMP_ALLOW, _SECCOMP_EPERM = 0x7FFF0000, 0x00050000 | 1


def _key_filter():
    """The seccomp program of _KEY_CALLS: a list of (code, jt, jf, k)."""
    deny = "deny"
    program = [(_BPF_LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
    for arch, (numbers, other_abi) in _KEY_CALLS.items():
        body = [(_BPF_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
        if other_abi is not None:
            body.append((_BPF_JGE_K, deny, 0, other_abi))
        body += [(_BPF_JEQ_K, deny, 0, n) for n in numbers]
        body.append((_BPF_RET_K, 0, 0, _SECCOMP_ALLOW))
        program.append((_BPF_JEQ_K, 0, len(body), arch))  # another arch: skip this body
        program += body
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_ALLOW))
    program.append((_BPF_RET_K, 0, 0, _SECCOMP_EPERM))
    out = []
    for i, (code, jt, jf, k) in enumerate(program):
        # a jump to "deny" goes to the last instruction; jt and jf count from the next one
        jt = len(program) - 1 - (i + 1) if jt == deny else jt
        out.append((code, jt, jf, k))
    return out


def _deny_key_rings():
    """Install _key_filter() in this process (no_new_privs is set already)."""
    program = _key_filter()
    filters = (_SockFilter * len(program))(*[_SockFilter(*f) for f in program])
    prog = _SockFprog(len(program), filters)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def _drop_capabilities():
    """No capability left, none to regain: empty bounding set, sets and no_new_privs."""
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


# --------------------------------------------------------------------------
# the oracle process
# --------------------------------------------------------------------------


def _oracle_main(control, payload_dir):
    """Answer remote_oracle requests on the sockets the server hands over `control`."""
    _libc.prctl(15, b"ag-oracle", 0, 0, 0)
    _prctl(PR_SET_DUMPABLE, 0)
    tables = {}
    for path in Path(payload_dir).glob("*.calls.npz"):
        function = path.name[:-len(".calls.npz")]
        tables[function] = [engine.oracle_case(calls) for calls in child.load_calls(path)]
    try:  # it needs no privilege at all
        header = _CapHeader(0x20080522, 0)
        _libc.capset(ctypes.byref(header), (_CapData * 2)())
    except (OSError, AttributeError):
        pass
    conns = {}
    into = _buffer()
    while True:
        ready, _, _ = select.select([control, *conns.values()], [], [])
        for sock in ready:
            if sock is control:
                try:
                    message, fds, _, _ = socket.recv_fds(control, 16, 4)
                except OSError:
                    message, fds = b"", []
                if not message and not fds:
                    os._exit(0)  # the server is gone
                for fd in fds:
                    conn = socket.socket(fileno=fd)
                    conns[conn.fileno()] = conn
                continue
            try:
                request = _recv(sock, into)
                if not request:
                    raise OSError("closed")
                tag, request = request[:ORACLE_TAG], request[ORACLE_TAG:]
                sock.send(tag + engine.serve_oracle_request(tables, request))
            except OSError:
                conns.pop(sock.fileno(), None)
                sock.close()


def _buffer():
    """A buffer for _recv that holds the largest oracle message (and one byte more, so that
    a longer one is seen as too long rather than cut to fit)."""
    buf = bytearray(ORACLE_TAG + engine.MAX_ORACLE_MESSAGE + 1)
    return buf, memoryview(buf)


def _recv(sock, into):
    """One message of a SOCK_SEQPACKET socket, read into the buffer `into` (_buffer()).
    sock.recv(size) would allocate `size` bytes at each call and shrink them: for the 150 KB
    an oracle message may take, that costs about 40 us, far more than a message of a few
    kilobytes does to read."""
    buf, view = into
    return bytes(view[:sock.recv_into(buf)])


def _start_oracle(payload_dir):
    """(pid, control socket) of a new oracle process."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = _fork()
    if pid == 0:
        try:
            ours.close()
            _oracle_main(theirs, payload_dir)
        finally:
            os._exit(0)
    theirs.close()
    return pid, ours


def _ask(sock):
    """ask(request) -> reply over the job's oracle socket.  The socket is shared by every
    child of the job: a child killed between a request and its reply (a batch stopped after
    a unit) leaves that reply waiting.  Each request carries a random tag, which the oracle
    sends back: a reply without this request's tag is someone else's and is skipped.  The
    socket's blocking mode is shared too (an earlier unit's code may have made it
    non-blocking): it is set again at each request, and a read that would block waits."""
    into = _buffer()

    def ask(request):
        tag = os.urandom(ORACLE_TAG)
        sock.setblocking(True)
        sock.send(tag + request)
        while True:
            try:
                reply = _recv(sock, into)
            except BlockingIOError:
                select.select([sock], [], [])
                continue
            if not reply or reply[:ORACLE_TAG] == tag:
                return reply[ORACLE_TAG:]
    return ask


# --------------------------------------------------------------------------
# the children
# --------------------------------------------------------------------------


SLOW_CELL = ("TimeoutError: the cell's top-level code (outside any function) ran longer than "
             "the time limit")


class CellMarker:
    """The name of the other function's cell whose top-level code is running, in a page of
    memory that the init shares with the children it forks (no file, so no system call a
    cell): when such code cannot be interrupted and the child is killed, the init reads
    which cell it was (see _Job.slow_cell).  Student code can write it too, which only
    makes one of its own cells fail."""

    SIZE = 256

    def __init__(self):
        self.page = mmap.mmap(-1, self.SIZE)  # anonymous and shared with forked children

    def set(self, name):
        data = name.encode(errors="replace")[:200]
        self.page[1:1 + len(data)] = data
        self.page[0] = len(data)

    def clear(self):
        self.page[0] = 0

    def take(self):
        """The name set and not cleared since, or None; cleared."""
        n = self.page[0]
        self.page[0] = 0
        return self.page[1:1 + n].decode(errors="replace") if n else None


class CellClock:
    """engine.CELL_CLOCK of a child: the top-level code of another function's cell does not
    run on the unit's clock but on its own.  Such cells of one unit share `timeout` seconds;
    once a slow one has spent them, each later cell still gets a floor (a quarter of
    `timeout`, at most CELL_FLOOR), so that a cell of a few defs is not failed for a moment
    of machine load.  A cell that runs out of its time fails (engine.CellTimeout).  Its
    name is in the job's CellMarker while it runs."""

    def __init__(self, timeout, marker=None):
        self.left, self.marker = timeout, marker
        self.floor = max(min(CELL_FLOOR, timeout / 4), 0.001)  # 0 would stop the timer

    def _mark(self, name):
        try:
            if name is None:
                self.marker.clear()
            else:
                self.marker.set(name)
        except Exception:  # noqa: BLE001 -- no marker, or student code closed or broke it
            pass

    @contextlib.contextmanager
    def __call__(self, name, function):
        if name == function:
            yield
            return
        self._mark(name)
        unit_left, _ = signal.getitimer(signal.ITIMER_REAL)
        start = time.monotonic()
        fired = False
        # re-fires every 50 ms: student code that swallows one interrupt gets the next
        signal.setitimer(signal.ITIMER_REAL, max(self.left, self.floor), 0.05)
        try:
            yield
        except child.FunctionTimeout:
            fired = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.left -= time.monotonic() - start
            if unit_left:
                signal.setitimer(signal.ITIMER_REAL, unit_left)
            self._mark(None)
        if fired:
            raise engine.CellTimeout("the cell's top-level code (outside any function) ran "
                                     "longer than the time limit")


def _enter_child(ctx, keep):
    """In a newly forked child, before any student code: its own process group, stdio on
    /dev/null, no other descriptor but `keep`, and (in namespace modes) an empty /proc
    in a mount namespace of its own, no capabilities, the children's uid."""
    os.setpgid(0, 0)
    _libc.prctl(15, b"ag-child", 0, 0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if ctx["mode"] == "plain":
        os.chdir(ctx["cwd"])
        return
    # a mount namespace of its own, and System V objects of its own: what it leaves in
    # either ends with it, not with the slot's init, which outlives the submission
    _unshare(CLONE_NEWNS | CLONE_NEWIPC)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "size=4k,nr_inodes=1,mode=0555")
    if ctx["mode"] == "root":
        uid, gid = ctx["child_id"]
        for cap in range(64):
            if _prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == 22:
                break
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root to another uid: every capability is gone
        if os.getuid() != uid or os.geteuid() != uid:
            os._exit(71)
        _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    else:
        _drop_capabilities()
    _deny_key_rings()


def _run_child(ctx, units, progress=None, more=None):
    """In the forked child: compute the units in order, write each one's results, exit.

    With `progress` (a pipe to the init) the child is a batch: after each unit it writes
    one byte there, and it stops early (exit 0) after a unit that ran out of time, so
    that the units after it start in a fresh process.  With `more` too (the read end of a
    pipe from the init, in a held job) a batch that finished all its units parks: it waits
    there for the units of the job's "continue" request and runs them as it ran the first
    ones; it exits at end of file or when what comes is not units it has room for."""
    try:
        keep = {ctx["oracle_fd"]} if ctx["oracle_fd"] is not None else set()
        if progress is not None:
            keep.add(progress)
        if more is not None:
            keep.add(more)
        if ctx.get("job_fd") is not None:
            keep.add(ctx["job_fd"])
        _enter_child(ctx, keep)
        _load_job(ctx)
        timeout = ctx["timeout"]
        # RLIMIT_CPU counts the whole life of the process: a batch that may park must have
        # room for the units it may be handed later, at most _parked_room of them (the init
        # hands it no more than that, and it refuses more below)
        room = _parked_room(ctx) if more is not None else 0
        cpu = int((UNIT_KILL_FACTOR * timeout + CELLS_AFTER_POOL * CELL_FLOOR) *
                  (len(units) + room)) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        signal.signal(signal.SIGALRM, child._on_alarm)
        remote = None
        if ctx["oracle_fd"] is not None:
            remote = engine.remote_oracle(_ask(socket.socket(fileno=ctx["oracle_fd"])))
        trusted = _snapshot() if progress is not None else None
        while units:
            for function, run in units:
                obs = _compute(ctx, function, run, remote)
                if progress is not None:
                    os.write(progress, b".")
                    if any(str(v).startswith("TimeoutError") for k, v in obs.items()
                           if k.endswith("error#")):
                        os._exit(0)
                    if _tampered(trusted):
                        os._exit(0)  # the next unit starts in a fresh child, as if alone
            if more is None:
                break
            # parked: no unit is running, so no timer of ours is set.  Whatever student code
            # left to fire now (a handler, a timer) ends only this child (an exception is
            # caught below), and the init then runs the units in fresh children.
            units = _more_units(more)
            os.close(more)
            more = None
            if len(units) > room or _tampered(trusted):
                break
        os._exit(0)
    except BaseException:  # noqa: BLE001 -- never return into the init's loop
        os._exit(70)


def _load_job(ctx):
    """In a child, before any student code: the job (setup cell, the student's cells), read
    from the job.json the init opened for it (the init itself never reads it, see
    _slot_main), compiled, and the cells found slow earlier in the job (by name, from the
    init) marked so.  In plain mode the server read the job already."""
    if ctx["job"] is None:
        fd = ctx.pop("job_fd", None)
        if fd is None:
            raise OSError("no job.json")
        ctx["job"] = _read_job(fd)
    job = ctx["job"]
    engine.precompile(job["setup"], job["sources"])
    for name in ctx.get("slow", ()):
        if name in job["sources"]:
            engine._SLOW_CELLS[(name, job["sources"][name])] = SLOW_CELL


def _parked_room(ctx):
    """How many units a parked batch may be handed: those of a "continue" request, which are
    "own" runs, made only of a function that calls another graded one (job.json's
    dependencies), one each.  The init, which does not read job.json, has the number from
    the server's request ("room"), and hands no more; the child checks it against its job."""
    job = ctx.get("job")
    if job is None:
        room = ctx.get("room", 0)
        return room if type(room) is int and 0 <= room <= 64 else 0
    dependencies = job.get("dependencies")
    return len(dependencies) if type(dependencies) is dict else 0


_WATCHED = ("builtins", "numpy", "numpy.testing")


def _snapshot():
    """What the units of a batch share and student code can rebind: the attributes of the
    kit's modules (autograder.sandbox.structure.dumps, say), of builtins and numpy, and which
    module object each name of sys.modules is."""
    names = [n for n in list(sys.modules) if n.split(".")[0] == "autograder"] + list(_WATCHED)
    return {name: (sys.modules[name], dict(vars(sys.modules[name])))
            for name in names if name in sys.modules}


def _tampered(snapshot):
    """Did a unit rebind anything of _snapshot() (a name added later is not counted)?  Then
    the state it leaves must not reach the next unit of the batch."""
    try:
        for name, (module, before) in snapshot.items():
            if sys.modules.get(name) is not module:
                return True
            now = vars(module)
            for key, value in before.items():
                if now.get(key, _tampered) is not value:
                    return True
        return False
    except Exception:  # noqa: BLE001 -- whatever student code made of these objects
        return True


def _compute(ctx, function, run, remote):
    """One unit: run the engine under the timer and write out_<function>.<run>.obs."""
    timeout = ctx["timeout"]
    engine.CELL_CLOCK[0] = CellClock(timeout, ctx.get("marker"))
    job = ctx["job"]
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        obs = engine.observe(function, job["dependencies"].get(function), job["setup"],
                             job["sources"], ctx["payloads"][function], modes=(run,),
                             oracle=remote)
    except child.FunctionTimeout as error:
        obs = {f"{run}/error#": f"TimeoutError: {error}"}
    signal.setitimer(signal.ITIMER_REAL, 0)
    tmp = f".out_{function}.{run}.tmp"
    data = structure.dumps(obs)
    try:
        os.unlink(tmp)  # whatever student code left there (a link, say) is not written through
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, f"out_{function}.{run}.obs")
    return obs


# --------------------------------------------------------------------------
# the init of one job
# --------------------------------------------------------------------------


def _census(batch_pid):
    """What a unit could leave behind: the batch's threads, and the other processes of the
    job's pid namespace (seen in the init's /proc)."""
    try:
        threads = len(os.listdir(f"/proc/{batch_pid}/task"))
    except OSError:
        threads = None
    others = sorted(p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, batch_pid))
    return threads, others


def _wait(pid, timeout, progress=None, limit=0, on_progress=None, park=False):
    """Wait for pid; return (status text, bytes read from `progress`).

    The clock restarts with each of the first `limit` bytes on `progress`: each
    unit of a batch has `timeout` seconds.  on_progress(n) is called as each byte
    arrives, with the number of bytes so far; when it returns False the child is
    killed (status "stopped").  With `park`, a child that has sent all `limit` bytes
    is left running (status "parked")."""
    deadline = time.monotonic() + timeout
    count = 0
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    watch = [fd for fd in (pidfd, progress) if fd is not None]
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if progress is not None:  # what the child wrote just before it ended
                    count = _count(progress, limit, count, on_progress) or count
                if os.WIFSIGNALED(status):
                    return f"signal {os.WTERMSIG(status)}", count
                code = os.WEXITSTATUS(status)
                return ("ok" if code == 0 else f"exit {code}"), count
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(pid)
                return "timeout", count
            ready, _, _ = select.select(watch, [], [], min(left, 0.002) if pidfd is None else left)
            if progress is not None and progress in ready:
                before = count
                count = _count(progress, limit, count, on_progress)
                if count is False:
                    _kill(pid)
                    return "stopped", before + 1
                if count is None:  # the child closed its end: only its exit is left to watch
                    count = before
                    watch.remove(progress)
                    progress = None
                elif count > before:
                    if park and count == limit:
                        return "parked", count
                    deadline = time.monotonic() + timeout
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _count(fd, limit, count, on_progress):
    """Read what is waiting on a progress pipe; return the new count (at most `limit`), None
    at end of file, False when on_progress asks to stop the child."""
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return count
    if not data:
        return None
    for _ in range(min(len(data), limit - count)):
        count += 1
        if on_progress is not None and on_progress(count) is False:
            return False
    return count


def _clean_up(pid, kill_all):
    """Kill whatever the child left running, and reap all of it, zombies included.

    With kill_all (the init of a job's pid namespace) every other process is killed;
    otherwise the child's process group, and a process that left it is given up on after
    CLEAN_UP_SECONDS (RLIMIT_CPU still bounds it)."""
    deadline = time.monotonic() + CLEAN_UP_SECONDS
    while time.monotonic() < deadline:
        try:
            if kill_all:
                os.kill(-1, signal.SIGKILL)
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            while os.waitpid(-1, os.WNOHANG) != (0, 0):
                pass
        except ChildProcessError:
            return  # nothing is left
        time.sleep(0.001)


def _fork():
    """os.fork(), retried while the processes of the last child are still being reaped."""
    for attempt in range(FORK_ATTEMPTS):
        try:
            return os.fork()
        except BlockingIOError:
            time.sleep(0.01 * (attempt + 1))
    return os.fork()


class _Job:
    """The init's side of one job: runs its units, copies their results out, reports."""

    def __init__(self, ctx, units, write, host_fd, hold=False):
        """write(text) -- reports one unit line; host_fd -- the folder the parent reads, when
        it is not the job folder itself; hold -- the job is held for a "continue": a batch
        child that finishes its units may park for those of the continue (see resume)"""
        self.ctx, self.units, self.write, self.host_fd = ctx, units, write, host_fd
        self.hold = hold
        self.parked = None  # a _Parked batch child, waiting for more units
        # the init of a job's pid namespace kills all in it; a plain server only the child's
        # process group (a kill of all of its uid would take the oracle too)
        self.kill_all = ctx["mode"] != "plain"
        self.started = time.monotonic()
        self.used = False  # has a child run in the job folder yet?
        self.marker = ctx["marker"] = CellMarker()  # shared with every child forked next
        # the cells whose top level ran out of time in this job, by name (a name is all the
        # init knows of them): the children forked next mark them (_load_job)
        self.slow = ctx["slow"] = set()

    def fork(self):
        """_fork() a child, in a job folder that no earlier child of this job has written in
        (namespace modes): what one unit leaves there (files filling the tmpfs, a planted
        results file) cannot reach the next unit.  Every earlier child is gone by now and
        the results of the units reported are copied out."""
        if self.kill_all:
            if self.used:
                os.chdir("/")
                _umount(self.ctx["workdir"])
                _mount_job_folder(self.ctx)
            self.used = True
        return _fork()

    def line(self, function, run, status):
        if status == "ok":
            self.copy_out(f"out_{function}.{run}.obs")
        self.write(json.dumps({"function": function, "run": run, "status": status}) + "\n")

    def copy_out(self, name):
        """The results file the child wrote in the job folder, copied to the folder the
        parent reads (plain mode: the same folder, nothing to do).  Only a regular file of
        at most MAX_RESULT_BYTES; anything else is left behind (the parent then reports no
        results)."""
        if self.host_fd is None:
            return
        try:
            os.unlink(name, dir_fd=self.host_fd)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return
        try:
            info = os.fstat(fd)
            if not (info.st_mode & 0o170000 == 0o100000 and info.st_size <= MAX_RESULT_BYTES):
                return
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                          dir_fd=self.host_fd)
            try:
                # from file to file in the kernel: a student's results never pass through
                # the init's memory, which the children of later submissions are forked from
                sent = 0
                while sent < info.st_size:
                    n = os.sendfile(out, fd, sent, info.st_size - sent)
                    if n == 0:
                        break
                    sent += n
            finally:
                os.close(out)
        finally:
            os.close(fd)

    def slow_cell(self, function):
        """After a child was killed: was it running the top level of another function's cell
        (the CellMarker)?  Then that cell is not run again in this job (it fails with
        SLOW_CELL) and True is returned: the unit was not to blame."""
        name = self.marker.take()
        if name is None:
            return False
        if name == function or name not in self.ctx["payloads"] or name in self.slow:
            return False
        self.slow.add(name)  # the children forked next mark it (_load_job)
        return True

    def over_budget(self):
        return time.monotonic() - self.started >= self.ctx["budget"]

    def run(self):
        job = self.ctx["job"]
        if job is not None:  # plain mode: the server read it; compiled once for its children
            engine.precompile(job["setup"], job["sources"])
        units, timeout = self.units, self.ctx["timeout"]
        unit_kill = UNIT_KILL_FACTOR * timeout + UNIT_KILL_MARGIN
        i = 0
        while i < len(units):
            if self.over_budget():
                for function, run in units[i:]:
                    self.line(function, run, "budget")
                return
            done = self.resume(units[i:], unit_kill) if self.parked is not None else None
            if done is None and self.kill_all and len(units) - i > 1:
                done = self.batch(units[i:], unit_kill)
            i += done or 0
            if i < len(units) and not self.over_budget():
                # alone in a fresh child: a unit whose batch went wrong (its verdict comes
                # from this run only), the one after an early stop, or the last unit left
                function, run = units[i]
                pid = self.fork()
                if pid == 0:
                    _run_child(self.ctx, [units[i]])
                status, _ = _wait(pid, unit_kill)
                _clean_up(pid, self.kill_all)
                if status != "ok" and self.slow_cell(function):
                    continue  # killed in another cell's top-level code: run it again without
                self.line(function, run, status)
                i += 1

    def batch(self, units, unit_kill):
        """Run units in one child; return how many it finished (each reported).  In a held
        job the child is given a pipe to park on once it has finished them all (see
        resume); a child that parks is kept in self.parked."""
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        more_r, more_w = os.pipe() if self.hold else (None, None)
        pid = self.fork()
        if pid == 0:
            os.close(read_end)
            _run_child(self.ctx, units, progress=write_end, more=more_r)
        os.close(write_end)
        if more_r is not None:
            os.close(more_r)
        baseline = _census(pid) if self.kill_all else None
        try:
            status, count = self.follow(pid, units, unit_kill, read_end, baseline,
                                        park=more_w is not None)
        except BaseException:
            if more_w is not None:
                os.close(more_w)
            raise
        if status == "parked":
            self.parked = _Parked(pid, read_end, more_w, baseline, _parked_room(self.ctx))
        elif more_w is not None:
            os.close(more_w)
        return count

    def resume(self, units, unit_kill):
        """Hand units to the parked batch child and follow it as a batch from there; return
        how many it finished (each reported), or None when it cannot take them: it is then
        ended, and the units are run as if no child had parked (fresh children)."""
        parked, self.parked = self.parked, None
        pid, read_end = parked.pid, parked.read_end
        usable = len(units) <= parked.room and _alive(pid)
        if usable:
            # nothing may come on the progress pipe while no unit runs: a byte (or the end
            # of the pipe) there is student code's doing, say a signal handler it left
            try:
                os.read(read_end, 1)
                usable = False
            except BlockingIOError:  # empty, and the child still holds its end
                pass
        # what the child may have left while parked (a thread or process made by a handler,
        # say) is seen as after a unit: against the census taken when it was forked
        usable = usable and _census(pid) == parked.census
        if usable:
            for function, run in units:  # no results file planted before the unit runs
                try:
                    os.unlink(f"out_{function}.{run}.obs")
                except OSError:
                    pass
            self.marker.clear()
            data = (json.dumps(units) + "\n").encode()
            try:
                # a few units, less than PIPE_BUF, into an empty pipe: written whole, at once
                usable = os.write(parked.more_w, data) == len(data)
            except OSError:  # the child closed its end (EPIPE)
                usable = False
        os.close(parked.more_w)
        if not usable:
            os.close(read_end)
            _clean_up(pid, self.kill_all)
            return None
        _, count = self.follow(pid, units, unit_kill, read_end, parked.census)
        return count

    def follow(self, pid, units, unit_kill, read_end, census, park=False):
        """Follow batch child pid through `units` on its progress pipe read_end: report each
        unit it finishes, stop it after a unit that left a thread or a process (its census
        differs from `census`, taken when it was forked) or at a byte that comes before the
        unit's results; return (status, how many it finished).  Unless it parked (`park`:
        it finished them all), it is gone and read_end is closed afterwards."""
        reported = [0]

        def finished(n):
            function, run = units[n - 1]
            if not os.path.lexists(f"out_{function}.{run}.obs"):
                # a byte the child wrote before its results, so not the real one (student
                # code can write on the pipe): stop it, the unit is run again alone
                return False
            self.line(function, run, "ok")
            reported[0] = n
            now = _census(pid) if self.kill_all else None
            # a unit left a thread or a process: the next unit starts in a fresh child
            # (and a child that may park does not: the last unit is checked too)
            return now == census

        try:
            status, _ = _wait(pid, unit_kill, progress=read_end, limit=len(units),
                              on_progress=finished, park=park)
        except BaseException:
            os.close(read_end)
            raise
        if status == "parked":
            return status, reported[0]
        os.close(read_end)
        _clean_up(pid, self.kill_all)
        if status == "stopped":
            # stopped by this init (a leftover process, a false progress byte), not for
            # time: a cell whose top level was running just then is not to blame
            self.marker.clear()
        elif status != "ok" and reported[0] < len(units):
            self.slow_cell(units[reported[0]][0])  # so that the unit's run alone skips it
        return status, reported[0]

    def end_parked_after(self, control, seconds):
        """Wait up to `seconds` (a unit's time) for the continue on `control`; a child still
        parked then is ended.  Student code may run in it while parked (a handler, a timer),
        on no unit's clock: it must not take CPU from the other slots for long, as it
        would where the parent needs no own run and the held job waits for the next
        request (the last submission of a slot waits for the end of the run)."""
        if self.parked is None:
            return
        ready, _, _ = select.select([control], [], [], seconds)
        if not ready:
            parked, self.parked = self.parked, None
            os.close(parked.read_end)
            os.close(parked.more_w)
            _clean_up(parked.pid, self.kill_all)


class _Parked:
    """A batch child of a held job that finished its units and waits for more: its pid, the
    init's ends of its progress pipe and of the pipe it waits on, the census taken when it
    was forked, and how many units it has room for (_parked_room)."""

    def __init__(self, pid, read_end, more_w, census, room):
        self.pid, self.read_end, self.more_w = pid, read_end, more_w
        self.census, self.room = census, room


MAX_JOB_BYTES = 64 * 2**20


def _read_job(fd):
    """The job.json the parent wrote in the job's folder, from a descriptor of it (closed
    here): the setup cell, the student's cells and the functions' dependencies.  Read from
    the start with pread: the descriptor the init opened, and its offset, are shared by
    every child it forks."""
    data = b""
    try:
        while len(data) <= MAX_JOB_BYTES:
            chunk = os.pread(fd, MAX_JOB_BYTES + 1 - len(data), len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_JOB_BYTES:
        raise ValueError("job.json is too large")
    return json.loads(data)


def _mount_job_folder(ctx):
    """A fresh, empty, size-limited tmpfs on the job folder, made the cwd."""
    options = JOB_TMPFS
    if ctx["mode"] == "root":
        options += ",uid={},gid={}".format(*ctx["child_id"])
    _mount("tmpfs", ctx["workdir"], "tmpfs", MS_NOSUID | MS_NODEV, options)
    os.chdir(ctx["workdir"])


def _more_units(control):
    """The units of the server's "continue" request for a held job ([] at end of file, or
    when what came is not a list of [function, run] pairs)."""
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = os.read(control, 65536)
        except InterruptedError:
            continue
        if not chunk or len(data) > 2**20:
            return []
        data += chunk
    try:
        units = json.loads(data)
    except ValueError:
        return []
    if type(units) is not list or not all(type(u) is list and len(u) == 2 for u in units):
        return []
    return units


MAX_REQUEST_BYTES = 2**20
# How long the server waits for the end line of a job whose units are all reported: the
# init's clean-up (at most CLEAN_UP_SECONDS) and a margin.
END_WAIT_SECONDS = CLEAN_UP_SECONDS + 10


def _receive(chan):
    """(request dict, [fds]) of the server's next message on the slot's channel, or None when
    the server has gone (end of file) or sent something that is not a request."""
    try:
        data, fds, _, _ = socket.recv_fds(chan, MAX_REQUEST_BYTES, 4)
    except OSError:
        return None
    try:
        request = json.loads(data) if data else None
    except ValueError:
        request = None
    if type(request) is not dict or type(request.get("units")) is not list:
        for fd in fds:
            os.close(fd)
        return None
    return request, fds


def _slot_main(ctx, report, chan):
    """pid 1 of the slot's pid namespace (namespace modes), kept from submission to submission:
    make the slot's file system once, then run each job the server sends on `chan`.

    A job is one submission: a request (units, time limit, budget, held or not) with two or
    three descriptors, the job's folder under WORKDIR (which the job folder's tmpfs hides
    here), and the job's oracle socket.  What one submission could leave for the next is
    ended with it: every process of the namespace is killed once the job is over (a held
    job: once its continue has run, or the next job has come); every child works in a
    fresh tmpfs and in mount and IPC namespaces of its own; the init holds none of the
    job's data, since it never reads job.json (it hands the children a descriptor of it)
    and copies results from file to file in the kernel.  Its own limits are checked after
    each job: if student code lowered them (a child may share its uid), it says so on the
    end line and exits, and the server starts a new one."""
    _libc.prctl(15, b"ag-init", 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores signals it has no handler for
    chan = socket.socket(fileno=chan)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # what student code must not see: the payloads and the server's folder (which the job
    # folder covers: a fresh tmpfs, the child's cwd and only writable place)
    _mount("tmpfs", ctx["payload_dir"], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "size=4k,nr_inodes=1,mode=0555")
    _mount_job_folder(ctx)
    limits = _limits()
    fresh = True  # is the job folder as mounted, unused?
    waiting = _receive(chan)
    while waiting is not None:
        request, fds = waiting
        ending = request["dir"]
        waiting = None
        try:
            if not fresh:
                os.chdir("/")
                _umount(ctx["workdir"])
                _mount_job_folder(ctx)
            fresh = False
            waiting = _slot_job(ctx, request, fds, report, chan)
        finally:
            _clean_up(0, True)  # every process of the namespace but this one
            for fd in fds:
                os.close(fd)
        restart = _limits() != limits
        os.write(report, (json.dumps({"end": ending, "restart": restart}) + "\n").encode())
        if restart:
            break
        while waiting is None or waiting[0].get("release"):
            if waiting is not None:  # the held job is over (ended above): nothing to run
                for fd in waiting[1]:
                    os.close(fd)
            waiting = _receive(chan)
            if waiting is None:
                os._exit(0)
    os._exit(0)


def _slot_job(ctx, request, fds, report, chan):
    """Run one job's units in the slot's init; with "hold", wait for its continue and run its
    units too.  Return the server's next request when it came instead of the continue (the
    job is then over; the caller runs it next), else None."""
    host_fd = fds[0] if fds else None
    oracle_fd = fds[1] if len(fds) > 1 else None
    try:
        job_fd = os.open("job.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=host_fd) \
            if host_fd is not None else None
    except OSError:
        job_fd = None  # a child then cannot run: its units end "exit 70"
    try:
        job_ctx = dict(ctx, timeout=float(request["timeout"]),
                       budget=float(request.get("budget", 1e9)), job=None, job_fd=job_fd,
                       oracle_fd=oracle_fd, room=request.get("room", 0))
        job = _Job(job_ctx, request["units"], lambda text: os.write(report, text.encode()),
                   host_fd, hold=bool(request.get("hold")))
        job.run()
        if not request.get("hold"):
            return None
        job.hold = False
        job.end_parked_after(chan, UNIT_KILL_FACTOR * job_ctx["timeout"] + UNIT_KILL_MARGIN)
        nxt = _receive(chan)
        if nxt is None:
            return None
        following, more = nxt
        if not (following.get("continue") and following["dir"] == request["dir"]):
            return nxt  # not this job's continue: the job ends, that request is run next
        for fd in more:
            os.close(fd)
        job.units = following["units"]
        job.run()  # in the parked batch child, if there is one that can take them
        return None
    finally:
        if job_fd is not None:
            os.close(job_fd)


def _make_namespaces(ctx):
    """In the intermediate process: new pid (for its children), mount, IPC and UTS
    namespaces, and in userns mode a user namespace (uid USERNS_ID inside) that owns them."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if ctx["mode"] != "userns":
        _unshare(flags)
        return
    uid, gid = os.getuid(), os.getgid()
    _unshare(flags | CLONE_NEWUSER)
    # /proc/self of a process that is not dumpable belongs to root: writable for a moment
    # (nothing that runs student code exists in this pid namespace)
    _prctl(PR_SET_DUMPABLE, 1)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{USERNS_ID} {uid} 1"),
                       ("gid_map", f"{USERNS_ID} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    _prctl(PR_SET_DUMPABLE, 0)


def _start_slot(ctx, report, chan):
    """Fork the slot's init in new namespaces (_slot_main); return its pid (a child of the
    server, which is a subreaper, once the intermediate process has ended)."""
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:  # the intermediate: makes the namespaces, forks the init, says its pid, ends
        try:
            os.close(r)
            _libc.prctl(15, b"ag-inter", 0, 0, 0)
            _make_namespaces(ctx)
            init = os.fork()
            if init == 0:
                os.close(w)
                try:
                    _slot_main(ctx, report, chan)  # ends with exit status 0
                finally:
                    os._exit(1)
            os.write(w, str(init).encode())
        except BaseException as error:  # noqa: BLE001 -- said to the server, which reports it
            os.write(w, f"!{error}".encode()[:500])
        finally:
            os._exit(0)
    os.close(w)
    text = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        text += chunk
    os.close(r)
    os.waitpid(pid, 0)
    if text.startswith(b"!"):
        raise OSError(f"cannot make the job's namespaces: {text[1:].decode(errors='replace')}")
    return int(text) if text else None


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


def _alive(pid):
    """Is our child pid still running (it is reaped when it is not)?"""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return not done


def _self_test(slot):
    """None when the slot's init could make its namespaces and mounts and run an empty job,
    else why not."""
    if slot.pid is None:
        return slot.problem or "cannot make the job's namespaces (unshare failed)"
    if not slot.send({"dir": ".", "units": [], "timeout": 1.0, "budget": 1.0}, []):
        return "cannot mount the job's /proc and tmpfs in its namespaces"
    end = slot.wait_end(time.monotonic() + 30)
    if end is None or end.get("restart"):
        return "cannot mount the job's /proc and tmpfs in its namespaces"
    return None

_LIMITS = [getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")]


def _limits():
    return {res: resource.getrlimit(res) for res in _LIMITS}


class _Slot:
    """The server's side of the slot's init (_slot_main): its pid, the channel requests go
    down, the pipe its lines come up.  One init serves job after job; it is started again
    when it has gone (killed at a deadline, ended for changed limits, crashed)."""

    def __init__(self, ctx):
        self.problem = None
        report_r, report_w = os.pipe()
        self.chan, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.pid = _start_slot(ctx, report_w, theirs.fileno())
        except OSError as error:
            self.pid, self.problem = None, str(error)
        finally:
            os.close(report_w)
            theirs.close()
        self.report_r = report_r
        os.set_blocking(report_r, False)
        self.buffer = b""
        self.ends = 0  # end lines still to come, of jobs sent and not yet seen to end

    def alive(self):
        return self.pid is not None and _alive(self.pid)

    def send(self, request, fds, ends=True):
        """Hand a request (and descriptors) to the init; False if it has gone.  ends -- the
        init will write an end line for it (a new job); not for a release or the continue
        of the job it holds, whose end line was counted with that job."""
        if self.chan is None:
            return False
        try:
            socket.send_fds(self.chan, [json.dumps(request).encode()], fds)
        except OSError:
            return False
        self.ends += bool(ends)
        return True

    def _line(self, deadline):
        """The init's next line (bytes, without its newline), or None when it has gone or the
        deadline passed (it is then killed)."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.end()
                return None
            ready, _, _ = select.select([self.report_r], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                chunk = os.read(self.report_r, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self.end()
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def relay(self, out, units, deadline):
        """Pass the init's unit lines on to the parent until every unit is reported; return
        how many were (fewer when the init has gone or the deadline passed).  The end line
        of an earlier job that the init ended on seeing this request comes first."""
        seen = 0
        while seen < len(units):
            line = self._line(deadline)
            if line is None:
                break
            if line.startswith(b'{"end"'):
                self._ended(line)
                continue
            out.write(line.decode() + "\n")
            seen += 1
        return seen

    def wait_end(self, deadline):
        """The end line of the job sent last ({"end": folder, "restart": bool}), every end line
        before it read; None when the init has gone or the deadline passed."""
        end = None
        while self.ends > 0:
            line = self._line(deadline)
            if line is None:
                return None
            if line.startswith(b'{"end"'):
                end = self._ended(line)
        return end

    def _ended(self, line):
        self.ends -= 1
        try:
            end = json.loads(line)
        except ValueError:
            end = {}
        if end.get("restart"):
            self.end()
        return end

    def end(self):
        """Kill the init (its whole namespace goes with it) and let go of its pipes."""
        if self.pid is not None:
            if _alive(self.pid):  # not reaped yet, so its pid is still its own
                _kill(self.pid)
            self.pid = None
        if self.chan is not None:
            self.chan.close()
            self.chan = None
            os.close(self.report_r)


def load_payloads(payload_dir):
    """{function: its cases} from PAYLOAD_DIR/<function>.npz (the inputs only), flattened once
    (engine.warm) so that every child forked afterwards shares them."""
    payloads = {p.name[:-len(".npz")]: child.load_payload(p) for p in Path(payload_dir).glob("*.npz")
                if not p.name.endswith(".calls.npz")}
    for cases in payloads.values():
        engine.warm(cases)
    return payloads


def serve(workdir, payload_dir, mode, child_id):
    _libc.prctl(15, b"ag-server", 0, 0, 0)
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    oracle_pid, control = _start_oracle(payload_dir)
    payloads = load_payloads(payload_dir)
    # What is loaded now is shared with every child.  Keep the children's garbage collector
    # from walking it (and so from writing to, and copying, those shared pages).
    import gc
    gc.collect()
    gc.freeze()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing but the protocol may reach the parent
    limits = _limits()
    # what every job's context starts from (the rest comes with its request)
    base = {"mode": mode, "child_id": child_id, "payloads": payloads, "workdir": str(workdir),
            "payload_dir": str(payload_dir), "cwd": None, "job": None, "oracle_fd": None}
    slot = None
    if mode != "plain":
        slot = _Slot(base)  # started now, and kept for the first job
        problem = _self_test(slot)
        if problem:
            slot.end()
            out.write(json.dumps({"failed": problem}) + "\n")
            os._exit(76)
    out.write("ready\n")
    held = None  # the folder of the job the slot's init holds for a continue
    for line in sys.stdin:
        request = json.loads(line)
        if _limits() != limits:
            out.write(json.dumps({"restart": "the fork server's limits were changed"}) + "\n")
            os._exit(75)
        timeout, units = float(request["timeout"]), request["units"]
        budget = float(request.get("budget", 1e9))
        if held is not None:
            folder, held = held, None
            if request.get("continue") and request["dir"] == folder and slot.alive():
                _continue(slot, folder, units, _relay_deadline(timeout, budget, units), out)
                continue
            # any other request first ends the held job (its processes, its folder)
            if slot.send({"dir": folder, "units": [], "release": True}, [], ends=False):
                slot.wait_end(time.monotonic() + END_WAIT_SECONDS)
        if not _alive(oracle_pid):  # (in plain mode student code can kill it: a new one)
            control.close()
            oracle_pid, control = _start_oracle(payload_dir)
        job_dir = Path(workdir) / request["dir"]
        # The server never reads job.json: what it reads stays in its memory after it is let
        # go, and every later job's children are forked from that memory.  Nor does the
        # slot's init, which hands the children a descriptor of it.
        job = _read_plain_job(job_dir) if mode == "plain" else None
        theirs = None
        if request.get("oracle"):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            socket.send_fds(control, [b"c"], [ours.fileno()])
            ours.close()
        if mode == "plain":  # weak isolation: the server itself forks the children
            ctx = dict(base, timeout=timeout, budget=budget, job=job, cwd=str(job_dir),
                       oracle_fd=theirs.fileno() if theirs is not None else None)
            try:
                _Job(ctx, units, out.write, None).run()
            finally:
                if theirs is not None:
                    theirs.close()
                engine._COMPILED.clear()  # (slow cells are the _Job's, by name)
            out.write(json.dumps({"done": request["dir"]}) + "\n")
            continue
        if slot is None or not slot.alive():
            if slot is not None:
                slot.end()
            slot = _Slot(base)
        deadline = _relay_deadline(timeout, budget, units)
        seen, sent = 0, False
        try:
            host_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            host_fd = None  # every unit is reported "lost" below
        if host_fd is not None:
            fds = [host_fd] + ([theirs.fileno()] if theirs is not None else [])
            job_request = {"dir": request["dir"], "units": units, "timeout": timeout,
                           "budget": budget, "hold": bool(request.get("hold")),
                           "room": request.get("room", 0)}
            sent = slot.send(job_request, fds)
            os.close(host_fd)
        if theirs is not None:
            theirs.close()
        if sent:
            seen = slot.relay(out, units, deadline)
        if sent and request.get("hold") and seen == len(units) and slot.alive():
            held = request["dir"]
            out.write(json.dumps({"held": request["dir"]}) + "\n")
            continue
        if sent and seen == len(units):
            slot.wait_end(time.monotonic() + END_WAIT_SECONDS)
        _report_lost(out, units[seen:])
        out.write(json.dumps({"done": request["dir"]}) + "\n")
    if slot is not None:
        slot.end()


def _read_plain_job(job_dir):
    """job.json, read by the server itself (plain mode: weak isolation, no init)."""
    dir_fd = os.open(job_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _read_job(os.open("job.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd))
    finally:
        os.close(dir_fd)


def _relay_deadline(timeout, budget, units):
    """When the server stops waiting for an init's lines about `units` (and kills it)."""
    unit_kill = UNIT_KILL_FACTOR * timeout + UNIT_KILL_MARGIN
    return time.monotonic() + min(budget, len(units) * 2 * unit_kill) + \
        len(units) * (2 * unit_kill + 2 * CLEAN_UP_SECONDS) + 5


def _report_lost(out, units):
    for function, run in units:  # the init died before reporting these
        out.write(json.dumps({"function": function, "run": run, "status": "lost"}) + "\n")


def _continue(slot, folder, units, deadline, out):
    """Run the units of a "continue" request in the job the slot's init holds, then end it."""
    seen = slot.relay(out, units, deadline) if slot.send(
        {"dir": folder, "units": units, "continue": True}, [], ends=False) else 0
    if seen == len(units):
        slot.wait_end(time.monotonic() + END_WAIT_SECONDS)
    _report_lost(out, units[seen:])
    out.write(json.dumps({"done": folder}) + "\n")


def _parse_args(argv):
    workdir, payload_dir, rest = argv[0], argv[1], argv[2:]
    mode, child_id = "plain", None
    if "--mode" in rest:
        mode = rest[rest.index("--mode") + 1]
    if "--child-id" in rest:
        uid, gid = rest[rest.index("--child-id") + 1].split(":")
        child_id = (int(uid), int(gid))
    if mode not in ("root", "userns", "plain") or (mode == "root" and child_id is None):
        raise SystemExit("usage: forkserver.py WORKDIR PAYLOAD_DIR [--mode root|userns|plain] "
                         "[--child-id UID:GID]")
    return workdir, payload_dir, mode, child_id


if __name__ == "__main__":
    serve(*_parse_args(sys.argv[1:]))
