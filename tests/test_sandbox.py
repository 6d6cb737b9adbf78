"""Attacks on autograder.sandbox.isolation, the isolation layer of the batch grader.

Every test is a question about one attack or guarantee and asserts the exact
outcome.  Whatever this machine cannot provide is skipped with a reason that
names the isolation level actually obtained (see ``pytest -ra``); the level
is also stored with ``record_property("isolation", ...)``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import isolation as sb
from autograder.sandbox.isolation import (
    ChildResult,
    Isolation,
    Limits,
    SandboxError,
    detect_isolation,
    interpreter_paths,
    read_job_file,
    run_isolated,
    sandbox_path,
)

COURSE_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def iso() -> Isolation:
    try:
        return detect_isolation()
    except SandboxError as exc:  # pragma: no cover - machine without any way
        pytest.skip(f"no sandbox can run on this machine: {exc}")


def _require(condition: bool, what: str, iso: Isolation) -> None:
    if not condition:
        pytest.skip(f"needs {what}; this machine gives: {iso.describe()}")


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="sandbox-test-work-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def secret_dir():
    """A world-readable directory outside /tmp (so only `hide` can protect it)."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-test-secret-", dir="/var/tmp"))
    path.chmod(0o755)
    (path / "secret.txt").write_text("TOP-SECRET-ANSWER-KEY\n")
    (path / "secret.txt").chmod(0o644)
    (path / "helper.py").write_text("VALUE = 42\n")
    (path / "helper.py").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_py(code: str, workdir: Path, limits: Limits = Limits(), *, expose=(), hide=(), env=None,
           isolation: Isolation | None = None) -> ChildResult:
    """Run Python source in the sandbox the way the grader does: the course
    directory (holding the venv) hidden, the interpreter exposed."""
    try:
        return run_isolated(
            [sys.executable, "-I", "-c", textwrap.dedent(code)],
            workdir,
            limits,
            expose=[*interpreter_paths(), *expose],
            hide=[COURSE_DIR, *hide],
            env=env,
            isolation=isolation,
        )
    except SandboxError as exc:
        if "not reachable" in str(exc):
            pytest.skip(f"the interpreter cannot run as the sandbox user here: {exc}")
        raise


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if token.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def _wait_gone(token: str, seconds: float = 3.0) -> list[int]:
    end = time.monotonic() + seconds
    while True:
        left = _processes_with(token)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# what do we have
# ---------------------------------------------------------------------------


def test_isolation_level_is_reported_truthfully(iso, record_property):
    """Which isolation does this machine give, and is every claim backed by a tool that exists?"""
    record_property("isolation", iso.describe())
    record_property("isolation_notes", "; ".join(iso.notes))
    level = iso.describe()
    if iso.bubblewrap:
        assert sb.bwrap_binary() and os.access(sb.bwrap_binary(), os.X_OK), level
        assert level.startswith("bubblewrap mount"), level
    else:
        assert "NO mount namespace" in level, level
    if os.geteuid() != 0:
        assert iso.user is None, level
    if iso.user is not None:
        assert f"uid {iso.user!r}" in level, level
    assert detect_isolation() is iso, "detection must be cached"
    # The level this suite ran with, visible in the -ra summary of a run:
    print(f"sandbox isolation: {level}")


def test_degrades_truthfully_without_bubblewrap(iso, monkeypatch):
    """When bwrap is not installed, does detection say so instead of claiming a mount namespace?"""
    monkeypatch.setattr(sb, "bwrap_binary", lambda: None)
    sb._reset_detection_cache()
    try:
        degraded = detect_isolation()
    finally:
        monkeypatch.undo()
        sb._reset_detection_cache()
    assert degraded.bubblewrap is False
    assert any("bwrap not found" in n for n in degraded.notes), degraded.notes
    assert "NO mount namespace" in degraded.describe()
    assert degraded.user == iso.user
    # The real detection comes back once bwrap is visible again.
    assert detect_isolation() == iso


# ---------------------------------------------------------------------------
# ordinary runs
# ---------------------------------------------------------------------------


def test_numpy_imports_and_computes(iso, workdir):
    """Can a child import numpy from the hidden venv and compute with it?"""
    r = run_py(
        """
        import numpy as np
        a = np.arange(12, dtype=float).reshape(3, 4)
        x = np.linalg.solve(np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([3.0, 5.0]))
        print(np.tanh(a @ a.T).sum().round(6), x.round(6).tolist(), np.__version__, sep="|")
        """,
        workdir,
    )
    assert (r.returncode, r.signal, r.timed_out) == (0, None, False), r.stderr
    total, solution, version = r.stdout.decode().split("|")
    a = np.arange(12, dtype=float).reshape(3, 4)
    assert float(total) == pytest.approx(np.tanh(a @ a.T).sum().round(6))
    assert json.loads(solution) == [0.8, 1.4]
    assert version.strip() == np.__version__


def test_exposed_file_under_hidden_dir_is_readable(iso, workdir, secret_dir):
    """Is an exposed module inside a hidden directory importable while its sibling stays hidden?"""
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    r = run_py(
        f"""
        import sys
        sys.path.insert(0, {str(secret_dir)!r})
        import helper
        print(helper.VALUE)
        try:
            open({str(secret_dir / 'secret.txt')!r}).read()
            print("SECRET-READ")
        except FileNotFoundError:
            print("secret hidden")
        """,
        workdir,
        expose=[secret_dir / "helper.py"],
        hide=[secret_dir],
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["42", "secret", "hidden"]


def test_hidden_dir_inside_exposed_dir_stays_hidden(iso, workdir, secret_dir):
    """If a whole directory is exposed but a subdirectory of it is hidden, does the subdirectory stay hidden?"""
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    inner = secret_dir / "answers"
    inner.mkdir(mode=0o755)
    (inner / "key.txt").write_text("INNER-KEY")
    (inner / "key.txt").chmod(0o644)
    r = run_py(
        f"""
        import os
        print(sorted(os.listdir({str(secret_dir)!r})), os.listdir({str(inner)!r}))
        """,
        workdir,
        expose=[secret_dir],
        hide=[inner],
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "['answers', 'helper.py', 'secret.txt'] []"


def test_workdir_is_cwd_home_and_writable(iso, workdir):
    """Does the child start in its job directory, with HOME there, and can it write results there?"""
    (workdir / "input.json").write_text('{"x": 1}')
    inside = sandbox_path(workdir)
    r = run_py(
        """
        import json, os
        data = json.load(open("input.json"))
        with open("result.json", "w") as fh:
            json.dump({"cwd": os.getcwd(), "home": os.environ["HOME"], "x": data["x"] + 1}, fh)
        """,
        workdir,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(read_job_file(workdir, "result.json"))
    assert result == {"cwd": str(inside), "home": str(inside), "x": 2}
    if iso.bubblewrap:
        assert inside == Path("/tmp/work")


def test_exit_code_is_reported(iso, workdir):
    """Does os._exit(3) come back as returncode 3 and no signal?"""
    r = run_py("import os; print('bye', flush=True); os._exit(3)", workdir)
    assert (r.returncode, r.signal, r.timed_out) == (3, None, False)
    assert r.stdout == b"bye\n"
    assert r.describe() == "exited with status 3"


def test_segfault_is_reported_as_sigsegv(iso, workdir):
    """Does a segfault through ctypes come back as SIGSEGV rather than a crash of the grader?"""
    r = run_py("import ctypes; ctypes.string_at(0)", workdir)
    assert (r.returncode, r.signal, r.timed_out) == (None, signal.SIGSEGV, False)
    assert r.describe() == "killed by SIGSEGV"
    assert list(workdir.iterdir()) == [], "no core file may be left behind"


def test_environment_is_scrubbed(iso, workdir, monkeypatch):
    """Are the grader's environment variables (a fake SECRET) invisible to the child?"""
    monkeypatch.setenv("SECRET", "hunter2-parent-secret")
    r = run_py("import json, os; print(json.dumps(dict(os.environ)))", workdir, env={"EXTRA": "given"})
    assert r.returncode == 0, r.stderr
    child_env = json.loads(r.stdout)
    expected = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(sandbox_path(workdir)),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "EXTRA": "given",
    }
    # bwrap always sets PWD to the directory it changed to; nothing else may appear.
    assert child_env.pop("PWD", str(sandbox_path(workdir))) == str(sandbox_path(workdir))
    assert child_env == expected
    assert b"hunter2" not in r.stdout


def test_stdin_is_empty(iso, workdir):
    """Does the child read EOF from stdin instead of blocking on the grader's terminal?"""
    r = run_py("import sys; print(repr(sys.stdin.read()))", workdir, Limits(wall_seconds=5))
    assert (r.returncode, r.timed_out, r.stdout) == (0, False, b"''\n")


def test_child_runs_as_unprivileged_user(iso, workdir):
    """Does the child run as the dedicated unprivileged user, with no capabilities?"""
    _require(iso.user is not None, "root and a dedicated sandbox user", iso)
    import pwd

    r = run_py(
        """
        import os
        caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm'))]
        print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), caps)
        """,
        workdir,
    )
    assert r.returncode == 0, r.stderr
    expected = pwd.getpwnam(sb.slot_user(r.slot))  # the uid of the slot the run claimed
    assert r.stdout.decode().strip() == (
        f"{expected.pw_uid} {expected.pw_uid} {expected.pw_gid} [] "
        "['0000000000000000', '0000000000000000']"
    )


# ---------------------------------------------------------------------------
# resource attacks
# ---------------------------------------------------------------------------


def test_infinite_loop_is_killed_at_wall_clock_limit(iso, workdir):
    """Does an infinite loop get killed at the wall-clock limit, promptly?"""
    token = secrets.token_hex(8)
    r = run_py(f"# {token}\nwhile True: pass", workdir, Limits(wall_seconds=1.0, cpu_seconds=60))
    assert r.timed_out is True
    assert (r.returncode, r.signal) == (None, signal.SIGKILL)
    assert 1.0 <= r.wall_seconds < 2.5, r.wall_seconds
    assert _wait_gone(token) == []


def test_sleeping_child_is_killed_at_wall_clock_limit(iso, workdir):
    """Is a child that sleeps (using no CPU) also killed at the wall-clock limit?"""
    r = run_py("import time; time.sleep(60)", workdir, Limits(wall_seconds=0.5))
    assert r.timed_out is True
    assert r.wall_seconds < 2.0, r.wall_seconds


def test_cpu_limit_kills_busy_child(iso, workdir):
    """Does RLIMIT_CPU stop a busy loop even when the wall-clock limit is generous?"""
    _require(iso.rlimits, "rlimits", iso)
    r = run_py("while True: pass", workdir, Limits(wall_seconds=20, cpu_seconds=1))
    assert r.timed_out is False
    assert r.signal in (signal.SIGXCPU, signal.SIGKILL), r
    assert r.wall_seconds < 5, r.wall_seconds


def test_memory_exhaustion_fails_inside_child(iso, workdir):
    """Does allocating 50 GB with numpy fail inside the child with MemoryError while the grader is fine?"""
    _require(iso.rlimits, "rlimits", iso)
    r = run_py(
        """
        import numpy as np
        try:
            a = np.ones(50 * 1024**3 // 8)
        except MemoryError as exc:
            print("MemoryError", flush=True)
            raise
        print("ALLOCATED", a.nbytes)
        """,
        workdir,
        Limits(wall_seconds=20, memory_bytes=1024**3),
    )
    assert r.timed_out is False
    assert (r.returncode, r.signal) == (1, None), r
    assert r.stdout == b"MemoryError\n"
    assert r.stderr.rstrip().splitlines()[-1].startswith(b"numpy.core._exceptions._ArrayMemoryError") or \
        b"MemoryError" in r.stderr.rstrip().splitlines()[-1], r.stderr
    # The grader itself can still allocate and compute.
    assert np.ones(10_000_000).sum() == 10_000_000


def test_file_size_limit_stops_huge_files(iso, workdir):
    """Does RLIMIT_FSIZE stop the child from filling the disk with one file?"""
    _require(iso.rlimits, "rlimits", iso)
    r = run_py(
        """
        import errno
        try:
            with open("big.bin", "wb") as fh:
                fh.write(b"x" * (3 * 1024**2))
            print("WROTE")
        except OSError as exc:
            print(errno.errorcode[exc.errno])
        """,
        workdir,
        Limits(file_bytes=1024**2),
    )
    assert (r.returncode, r.stdout) == (0, b"EFBIG\n"), r
    assert (workdir / "big.bin").stat().st_size <= 1024**2


def _own_process_count(iso: Isolation) -> bool:
    """Does RLIMIT_NPROC count the sandbox's processes alone: a uid of its own (root), or a
    user namespace the sandbox makes (an ordinary user)?"""
    if os.geteuid() == 0:
        return iso.user is not None
    return iso.bubblewrap or iso.network_namespace or iso.pid_namespace


def test_fork_bomb_is_contained(iso, workdir):
    """Is a fork bomb stopped by RLIMIT_NPROC, killed completely at the time limit, with the grader fine?"""
    _require(_own_process_count(iso) and iso.rlimits,
             "a uid or user namespace of the sandbox's own (RLIMIT_NPROC) and rlimits", iso)
    token = secrets.token_hex(8)
    limit = 16
    r = run_py(
        f"""
        # {token}
        import os, time
        kids = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(120)
                    os._exit(0)
                kids += 1
        except BlockingIOError as exc:
            print("blocked", kids, exc.errno, flush=True)
        while True:          # and now the real bomb: everybody forks forever
            try:
                os.fork()
            except OSError:
                pass
        """,
        workdir,
        Limits(wall_seconds=3.0, processes=limit),
    )
    assert r.timed_out is True
    word, kids, err = r.stdout.decode().split()
    assert word == "blocked" and int(err) == 11  # EAGAIN
    # RLIMIT_NPROC counts every process of the sandbox uid, so a concurrent
    # sandboxed run (another test session) may leave fewer than limit - 1.
    assert 0 <= int(kids) <= limit - 1, kids
    assert r.wall_seconds < 5.0
    assert _wait_gone(token) == [], "processes of the bomb survived"
    # The grader can still start processes.
    assert subprocess.run(["true"]).returncode == 0


def test_a_busy_grader_uid_leaves_the_sandbox_its_process_budget(iso, workdir):
    """When the grader's own uid already runs more processes and threads than the sandbox's
    budget (pytest workers, a Dask cluster, numpy's threads), can a sandboxed run still start
    and fork within its budget?  (As an ordinary user the child keeps the grader's uid, so a
    limit that counted the whole uid would make bwrap fail: "Creating new namespace failed".)"""
    _require(iso.rlimits, "rlimits", iso)
    limit = 16
    release = threading.Event()
    threads = [threading.Thread(target=release.wait, daemon=True) for _ in range(2 * limit)]
    for t in threads:
        t.start()
    try:
        r = run_py(
            """
            import os
            kids = []
            for _ in range(6):
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                kids.append(pid)
            for pid in kids:
                os.waitpid(pid, 0)
            print("forked", len(kids))
            """,
            workdir,
            Limits(wall_seconds=20.0, processes=limit),
        )
    finally:
        release.set()
        for t in threads:
            t.join()
    assert (r.returncode, r.stdout, r.timed_out) == (0, b"forked 6\n", False), r


def test_two_gigabytes_of_stdout_are_capped(iso, workdir):
    """Are 2 GB printed to stdout captured only up to the cap, flagged, and drained promptly?"""
    limits = Limits(wall_seconds=60, output_bytes=64 * 1024)
    r = run_py(
        """
        import sys
        chunk = b"x" * (1 << 20)
        for _ in range(2048):
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        sys.stderr.write("done\\n")
        """,
        workdir,
        limits,
    )
    assert (r.returncode, r.signal, r.timed_out) == (0, None, False), r.stderr[-500:]
    assert r.stdout == b"x" * limits.output_bytes
    assert r.stdout_truncated is True
    assert (r.stderr, r.stderr_truncated) == (b"done\n", False)
    assert r.wall_seconds < 30, r.wall_seconds


def test_flooding_both_pipes_does_not_deadlock(iso, workdir):
    """Does a child writing lots to stdout and stderr alternately finish without deadlock?"""
    r = run_py(
        """
        import sys
        chunk = b"y" * (1 << 18)
        for _ in range(1024):
            sys.stdout.buffer.write(chunk); sys.stdout.flush()
            sys.stderr.buffer.write(chunk); sys.stderr.flush()
        """,
        workdir,
        Limits(wall_seconds=60, output_bytes=1000),
    )
    assert (r.returncode, r.timed_out) == (0, False)
    assert (len(r.stdout), len(r.stderr)) == (1000, 1000)
    assert r.stdout_truncated and r.stderr_truncated


def test_leftover_background_process_is_killed(iso, workdir):
    """When the child exits but leaves a detached background process, is it killed and the run over at once?"""
    _require(iso.pid_namespace, "a pid namespace", iso)
    token = secrets.token_hex(8)
    r = run_py(
        f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # {token}"],
                         start_new_session=True)
        print("left it running")
        """,
        workdir,
        Limits(wall_seconds=20),
    )
    assert (r.returncode, r.timed_out) == (0, False), r.stderr
    assert r.wall_seconds < 3.0
    assert _wait_gone(token) == []


def test_host_processes_are_invisible(iso, workdir):
    """Can the child see (and so signal) the grader's processes?"""
    _require(iso.pid_namespace, "a pid namespace", iso)
    r = run_py(
        f"""
        import os
        pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
        try:
            os.kill({os.getpid()}, 0)
            print(pids, "grader visible")
        except ProcessLookupError:
            print(pids, "grader invisible")
        """,
        workdir,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip().endswith("grader invisible"), r.stdout
    assert len(eval(r.stdout.decode().rsplit("]", 1)[0] + "]")) <= 3


# ---------------------------------------------------------------------------
# file system and network attacks
# ---------------------------------------------------------------------------


def test_hidden_directory_cannot_be_read(iso, workdir, secret_dir):
    """Can the child read a world-readable file under a hidden directory? (control run: yes without hide)"""
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    code = f"""
        for path in [{str(secret_dir / 'secret.txt')!r}, {str(COURSE_DIR / 'pyproject.toml')!r}]:
            try:
                print(open(path).read())
            except OSError as exc:
                print(type(exc).__name__)
        """
    r = run_py(code, workdir, hide=[secret_dir])
    assert r.returncode == 0, r.stderr
    assert b"TOP-SECRET" not in r.stdout and b"rnn-step-by-step" not in r.stdout
    assert r.stdout.decode().split() == ["FileNotFoundError", "FileNotFoundError"]

    # Without `hide` it stays unreadable too: the root holds only what is mounted on purpose.
    unmounted = run_isolated(
        [sys.executable, "-I", "-c", textwrap.dedent(code)], workdir, Limits(), expose=interpreter_paths()
    )
    assert unmounted.returncode == 0, unmounted.stderr
    assert unmounted.stdout.decode().split() == ["FileNotFoundError", "FileNotFoundError"]
    # Control: exposed, the very same read works, so the mounts are what protect it.
    control = run_isolated(
        [sys.executable, "-I", "-c", textwrap.dedent(code)], workdir, Limits(),
        expose=[*interpreter_paths(), secret_dir]
    )
    assert control.returncode == 0, control.stderr
    assert b"TOP-SECRET-ANSWER-KEY" in control.stdout


def test_root_holds_only_the_system_folders_and_what_is_mounted(iso, workdir):
    """Does the child see any host folder it was not given (home folders, /root, /work, /srv,
    /opt, /var, /usr/local, /usr/share, the host's /tmp), or any host path in its mount table?"""
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    exe, binds, env = sb.python_layout("/opt/kit/site")
    r = run_isolated([exe, "-I", "-S", "-c", textwrap.dedent("""
        import os, sys
        sys.path.insert(0, "/opt/kit/site")
        import numpy
        print(sorted(os.listdir("/")))
        for d in ["/home", "/root", "/work", "/srv", "/var", "/usr/local", "/usr/share", "/mnt"]:
            print(d, os.path.exists(d))
        print(sorted(os.listdir("/tmp")), sorted(os.listdir("/opt")))
        print(numpy.__file__, sys.prefix, sys.path)
        """)], workdir, Limits(), env=env, binds=binds)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    lines = out.splitlines()
    top = eval(lines[0])  # a list literal the child printed
    assert set(top) <= {"usr", "bin", "lib", "lib64", "sbin", "etc", "dev", "proc", "tmp", "opt"}, top
    for line in lines[1:9]:
        assert line.endswith(" False"), line
    assert lines[9] == "['work'] ['kit', 'python']" or lines[9] == "['work'] ['kit']", lines[9]
    assert lines[10].startswith("/opt/kit/site/numpy/"), lines[10]
    for host in {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), str(workdir),
                 str(COURSE_DIR)}:
        if not host.startswith("/usr"):
            assert host not in out, host


def test_writing_outside_workdir_fails(iso, workdir, secret_dir):
    """Can the child write anywhere but its job directory (hidden dir, /tmp, exposed files, course dir)?"""
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    exposed = secret_dir / "helper.py"
    targets = [
        secret_dir / "planted.txt",
        Path("/tmp/planted.txt"),
        Path("/var/tmp/planted.txt"),
        Path("/dev/shm/planted.txt"),
        COURSE_DIR / "planted.txt",
        COURSE_DIR / "rnn_utils.py",
        exposed,
        Path(sys.prefix) / "planted.txt",
        Path("/planted.txt"),
    ]
    r = run_py(
        f"""
        import json
        out = {{}}
        for path in {[str(t) for t in targets]!r} + ["inside.txt"]:
            try:
                with open(path, "a") as fh:
                    fh.write("pwned")
                out[path] = "WROTE"
            except OSError as exc:
                out[path] = type(exc).__name__ + ":" + str(exc.errno)
        print(json.dumps(out))
        """,
        workdir,
        expose=[exposed, COURSE_DIR / "rnn_utils.py"],
        hide=[secret_dir],
    )
    assert r.returncode == 0, r.stderr
    outcome = json.loads(r.stdout)
    assert outcome.pop("inside.txt") == "WROTE"
    assert (workdir / "inside.txt").read_text() == "pwned"
    assert all(v != "WROTE" for v in outcome.values()), outcome
    for t in targets:
        assert not t.exists() or b"pwned" not in t.read_bytes(), t
    assert exposed.read_text() == "VALUE = 42\n"


def test_symlink_left_in_workdir_is_not_followed(iso, workdir):
    """Can the child trick the grader into reading a root-only file through a symlink in its job dir?"""
    r = run_py("import os; os.symlink('/etc/shadow', 'result.json'); os.mkfifo('fifo')", workdir)
    assert r.returncode == 0, r.stderr
    with pytest.raises(OSError):
        read_job_file(workdir, "result.json")
    with pytest.raises(ValueError, match="not a regular file"):
        read_job_file(workdir, "fifo")


def test_network_is_unreachable(iso, workdir):
    """Can the child connect to a TCP port or abstract unix socket the grader listens on?"""
    _require(iso.network_namespace, "a network namespace", iso)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = b"\0sandbox-test-" + secrets.token_hex(8).encode()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        unix.bind(abstract)
        unix.listen(5)
        unix.setblocking(False)
        port = listener.getsockname()[1]
        r = run_py(
            f"""
            import socket
            for family, addr in [(socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_UNIX, {abstract!r})]:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(3)
                try:
                    s.connect(addr)
                    print("CONNECTED")
                except OSError as exc:
                    print(type(exc).__name__)
            """,
            workdir,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().split() == ["ConnectionRefusedError", "ConnectionRefusedError"]
        for sock in (listener, unix):
            with pytest.raises(BlockingIOError):
                sock.accept()
    finally:
        listener.close()
        unix.close()


# ---------------------------------------------------------------------------
# API misuse, weaker modes, overhead
# ---------------------------------------------------------------------------


def test_bad_arguments_are_rejected(iso, workdir):
    """Are a missing exposed path, hiding '/', and a missing workdir refused before anything runs?"""
    with pytest.raises(FileNotFoundError):
        run_isolated(["/bin/true"], workdir, Limits(), expose=[Path("/no/such/path")])
    with pytest.raises(ValueError):
        run_isolated(["/bin/true"], workdir, Limits(), hide=[Path("/")])
    with pytest.raises(ValueError):
        run_isolated(["/bin/true"], workdir / "missing", Limits())
    with pytest.raises(ValueError):
        Limits(wall_seconds=0)


def test_sandbox_setup_failure_is_an_error_not_a_child_exit(iso, workdir, monkeypatch):
    """If bwrap cannot build the sandbox, is that a SandboxError instead of a child 'exit status 1'?"""
    _require(iso.bubblewrap, "bubblewrap", iso)
    real = sb._bwrap_mount_args
    monkeypatch.setattr(sb, "_bwrap_mount_args",
                        lambda *a: real(*a) + ["--ro-bind", "/no/such/source-dir", "/tmp/work/x"])
    with pytest.raises(SandboxError, match="could not set up"):
        run_isolated(["/bin/true"], workdir, Limits())


def test_plain_mode_still_limits_and_kills(iso, workdir):
    """Without namespaces (forced), do uid, exit codes, env scrubbing and the wall-clock kill still work?"""
    plain = Isolation(bubblewrap=False, network_namespace=False, user=iso.user, rlimits=True)
    token = "31." + str(secrets.randbelow(10**6)).zfill(6)
    r = run_isolated(["/bin/sh", "-c", "id -u; pwd; echo ${SECRET:-none}; exit 7"], workdir, Limits(),
                     isolation=plain)
    assert (r.returncode, r.signal) == (7, None), r.stderr
    uid = (str(os.getuid()) if iso.user is None
           else str(__import__("pwd").getpwnam(sb.slot_user(r.slot)).pw_uid))
    assert r.stdout.decode().split() == [uid, str(workdir), "none"]
    assert sandbox_path(workdir, plain) == workdir

    r = run_isolated(["/bin/sh", "-c", f"sleep {token} & sleep {token}"], workdir,
                     Limits(wall_seconds=0.5), isolation=plain)
    assert r.timed_out is True and r.wall_seconds < 2.0
    assert _wait_gone(f"sleep\0{token}") == []


def test_unshare_mode_isolates_network_and_pids(iso, workdir):
    """Without bubblewrap (forced), does the unshare fallback give own net+pid namespaces and kill on timeout?"""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    mode = Isolation(bubblewrap=False, network_namespace=True, user=iso.user, rlimits=True, pid_namespace=True)
    try:
        r = run_isolated(["/bin/sh", "-c", "echo $$; readlink /proc/self/ns/net"], workdir, Limits(),
                         isolation=mode)
    except SandboxError as exc:
        pytest.skip(f"unshare fallback does not work here: {exc}")
    if r.returncode != 0:
        pytest.skip(f"unshare fallback does not work here: {r.stderr.decode(errors='replace')}")
    pid, netns = r.stdout.decode().split()
    assert pid == "1"
    assert netns != os.readlink("/proc/self/ns/net")

    token = "32." + str(secrets.randbelow(10**6)).zfill(6)
    r = run_isolated(["/bin/sh", "-c", f"(setsid sleep {token} &); sleep {token}"], workdir,
                     Limits(wall_seconds=0.5), isolation=mode)
    assert r.timed_out is True and r.wall_seconds < 2.0
    assert _wait_gone(f"sleep\0{token}") == [], "killing the namespace init must kill escaped processes"


def test_per_run_overhead(iso, workdir, record_property):
    """How long does one sandboxed run of a trivial child and of a numpy import take?"""

    def median_ms(code: str) -> float:
        times = []
        for _ in range(5):
            r = run_py(code, workdir)
            assert r.returncode == 0, r.stderr
            times.append(r.wall_seconds * 1000)
        return statistics.median(times)

    trivial, numpy_ms = median_ms("pass"), median_ms("import numpy")
    record_property("overhead_python_pass_ms", round(trivial, 1))
    record_property("overhead_import_numpy_ms", round(numpy_ms, 1))
    assert trivial < 2000 and numpy_ms < 5000, (trivial, numpy_ms, iso.describe())


def test_two_graders_on_one_machine_never_share_a_slot():
    """Do two processes that claim sandbox slots get disjoint ones (each slot is a uid whose
    processes a fork server kills), and is a slot free again once its holder is gone?"""
    import subprocess
    import sys
    from autograder.sandbox import isolation as sandbox
    held = []
    mine = sandbox.claim_slots(2, held)
    code = ("from autograder.sandbox import isolation as sandbox; held = []; "
            "print(sandbox.claim_slots(2, held))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    theirs = eval(other.stdout)  # a printed list of ints
    assert len(mine) == len(theirs) == 2 and not set(mine) & set(theirs), (mine, theirs)
    for fd in held:
        import os
        os.close(fd)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(eval(again.stdout)) & set(mine), "released slots should be claimable again"


def test_slot_locks_refuse_a_folder_that_is_not_private(tmp_path, monkeypatch):
    """Is a lock folder that is a link, or open to others, refused with a message saying what
    to do, instead of being written into?"""
    import os
    from autograder.sandbox import isolation as sandbox
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "locks"
    link.symlink_to(target)
    monkeypatch.setattr(sandbox, "SLOT_LOCK_DIR", link)
    with pytest.raises(sandbox.SandboxError, match="remove it"):
        sandbox.claim_slots(1, [])
    assert list(target.iterdir()) == []
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setattr(sandbox, "SLOT_LOCK_DIR", shared)
    with pytest.raises(sandbox.SandboxError, match="private folder"):
        sandbox.claim_slots(1, [])



def test_the_isolation_probe_runs_in_a_slot_no_grader_holds(tmp_path, monkeypatch):
    """Does the isolation probe run as the uid of a slot that it holds itself, not as the uid
    of a slot a running grader holds (whose process budget and clean-up it would share)?"""
    from autograder.sandbox import isolation as sandbox
    if os.geteuid() != 0:
        pytest.skip("slot uids exist only when the grader runs as root")
    monkeypatch.setattr(sandbox, "SLOT_LOCK_DIR", tmp_path / "locks")
    busy: list[int] = []
    assert sandbox.claim_slots(1, busy) == [0]  # a grader on slot 0
    seen = []
    real_probe = sandbox._probe
    monkeypatch.setattr(sandbox, "_probe", lambda iso, slot: seen.append(sandbox.for_slot(iso, slot).user)
                        or real_probe(iso, slot))
    try:
        iso = sandbox._detect()
    finally:
        for fd in busy:
            os.close(fd)
    assert seen and set(seen) == {sandbox.slot_user(1)}, seen
    assert iso.user == sandbox.SANDBOX_USER  # the isolation found is slot 0's, as before
    held: list[int] = []
    assert sandbox.claim_slots(1, held) == [0]  # the probe let its slot go
    for fd in held:
        os.close(fd)


def test_a_one_off_run_claims_a_slot_no_grader_holds(iso, workdir, tmp_path, monkeypatch):
    """Does a sandboxed run that names no slot run as the uid of a free slot it holds for the
    time of the run, not as the uid of a slot a running grader holds (and would it let it go)?"""
    _require(iso.user is not None, "root and a dedicated sandbox user", iso)
    import pwd
    monkeypatch.setattr(sb, "SLOT_LOCK_DIR", tmp_path / "locks")
    busy: list[int] = []
    assert sb.claim_slots(1, busy) == [0]  # a grader on slot 0
    try:
        r = run_isolated(["/bin/sh", "-c", "id -u"], workdir, Limits(wall_seconds=10))
    finally:
        for fd in busy:
            os.close(fd)
    assert r.returncode == 0, r.stderr
    assert r.slot == 1
    assert int(r.stdout) == pwd.getpwnam(sb.slot_user(1)).pw_uid != pwd.getpwnam(sb.slot_user(0)).pw_uid
    held: list[int] = []
    assert sb.claim_slots(2, held) == [0, 1]  # the run let its slot go
    for fd in held:
        os.close(fd)


# ---------------------------------------------------------------------------
# the grader without a mount namespace (issue 10)
# ---------------------------------------------------------------------------

_NO_BWRAP = ("import sys; from autograder.sandbox import isolation; isolation.bwrap_binary = lambda: None; "
             "from autograder.grading import cli; sys.exit(cli.main(sys.argv[1:]))")


def _samples(tmp_path, *students):
    """tmp_path/submitted with the bundled sample submissions of these students only (made
    from the release, as the demo makes them: a clean clone has no submitted/)."""
    from autograder.course import samples
    made = tmp_path / "samples"
    samples.write_submissions(made, COURSE_DIR / "release" / "rnn_step_by_step" / "rnn_step_by_step.ipynb")
    submitted = tmp_path / "submitted"
    for student in students:
        shutil.copytree(made / student, submitted / student)
    return submitted


def _grade_without_bwrap(tmp_path, *flags):
    submitted = _samples(tmp_path, "alice", "bob")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(COURSE_DIR)}
    proc = subprocess.run([sys.executable, "-c", _NO_BWRAP, str(submitted), "--out", str(out),
                           "--no-gradebook", "--no-progress", *flags],
                          capture_output=True, text=True, env=env, timeout=300)
    return proc, out


def test_grader_without_mount_namespace_refuses_in_one_line(tmp_path):
    """Where no mount namespace can be had, does the grader stop before grading, with one line
    that says what is missing and how to get it, and no traceback and no outputs?"""
    proc, out = _grade_without_bwrap(tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: no mount namespace"), lines[0]
    assert "bubblewrap" in lines[0] and "--allow-weak-isolation" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (out / "results.json").exists()


def test_weak_isolation_flag_marks_every_output(tmp_path):
    """With --allow-weak-isolation, is every submission graded, and do results.json, the
    terminal, every feedback page and the class report say WEAKLY ISOLATED?"""
    proc, out = _grade_without_bwrap(tmp_path, "--allow-weak-isolation")
    if proc.returncode != 0 and "is not reachable by the sandbox user" in proc.stderr:
        # an interpreter the sandbox user cannot read (pyenv under /root, mode 700): without a
        # mount namespace nothing can be graded, and the grader says so once, before grading
        lines = [line for line in proc.stderr.splitlines()
                 if line.strip() and not line.startswith("isolation:")]
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "bubblewrap" in lines[0] and "Traceback" not in proc.stderr
        assert not (out / "results.json").exists()
        return
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["isolation_detail"]["mount_namespace"] is False
    assert results["isolation_detail"]["weak"] is True
    assert results["isolation"].startswith("WEAKLY ISOLATED")
    assert {s: e["total"] for s, e in results["students"].items()} == {"alice": 80, "bob": 0}
    assert "WEAKLY ISOLATED" in proc.stderr
    for page in (out / "feedback").iterdir():
        assert "WEAKLY ISOLATED" in page.read_text(), page.name
    assert "WEAKLY ISOLATED" in (out / "report" / "index.html").read_text()


def test_results_record_the_mount_namespace(tmp_path):
    """Does results.json record that the children had a mount namespace, where they had one?"""
    iso = detect_isolation()
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    submitted = _samples(tmp_path, "carol")
    env = {**os.environ, "PYTHONPATH": str(COURSE_DIR)}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submitted), "--out",
                           str(tmp_path / "out"), "--no-gradebook", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["isolation_detail"]["mount_namespace"] is True
    assert results["isolation_detail"]["weak"] is False
    assert results["students"]["carol"]["total"] == 70
    text = (tmp_path / "out" / "results.json").read_text()
    for host in (str(COURSE_DIR), str(tmp_path)):
        assert host not in text


# ---------------------------------------------------------------------------
# the fork server: one student against the next, the oracle, the host, time (issue 11)
# ---------------------------------------------------------------------------

from autograder import assignment  # noqa: E402
from autograder.grading import judge, verdict  # noqa: E402
from autograder.grading.runner import budget_seconds, Runner, unit_wait_seconds, write_payloads  # noqa: E402
from autograder.grading.settings import parse_args  # noqa: E402

FUNCTIONS = list(assignment.FUNCTIONS)
TEST_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def slot_runner(tmp_path_factory):
    """One slot (--jobs 1) of the real batch grader, with a short time limit."""
    iso = detect_isolation()
    _require(iso.bubblewrap, "a mount namespace (bubblewrap)", iso)
    payloads = tmp_path_factory.mktemp("payloads")
    os.chmod(payloads, 0o755)
    write_payloads(payloads)
    for f in payloads.iterdir():
        os.chmod(f, 0o644)
    settings = parse_args([str(COURSE_DIR), "--out", str(tmp_path_factory.mktemp("out")),
                                  "--jobs", "1", "--timeout", str(TEST_TIMEOUT), "--no-gradebook"])
    runner = Runner(settings, payloads)
    yield runner
    runner.close()


def _honest():
    return dict(assignment.reference_sources())


def _with(function, code, where="top"):
    """The reference submission with `code` added to the cell of `function`: at its top
    level, or (where="body") as the first lines of the function itself."""
    sources = _honest()
    code = textwrap.dedent(code)
    if where == "top":
        sources[function] = code + "\n" + sources[function]
    else:
        head = f"def {function}("
        src = sources[function]
        start = src.index(head)
        line_end = src.index(":\n", start) + 2
        body = textwrap.indent(code, "    ")
        sources[function] = src[:line_end] + body + "\n" + src[line_end:]
    return sources


def _grade(runner, sources):
    entry = judge.grade_one(runner, sources, {}, None)
    return {f: entry["functions"][f] for f in FUNCTIONS}


def _scores(result):
    return {f: r["score"] for f, r in result.items()}


def _full(result):
    return all(r["passed"] for r in result.values())


def _assert_only_lost(result, lost):
    for f, r in result.items():
        assert r["passed"] == (f not in lost), (f, r)


LEAVE_BEHIND = [
    # files in the job folder, /tmp and the home folder, a chmod 0 of the job folder
    """
    import os
    for d in (".", os.environ.get("HOME", "."), "/", "/tmp", "/tmp/work", "/dev", "/dev/shm",
              "/opt", "/opt/kit"):
        try:
            with open(os.path.join(d, "LEFT-BY-A"), "w") as fh:
                fh.write("answer")
        except OSError:
            pass
    try:
        os.chmod(".", 0)
    except OSError:
        pass
    """,
    # the job folder full: files until no inode is left, then bytes until no space is left
    """
    import os
    try:
        for i in range(100000):
            open(f"many-{i}", "w").close()
    except OSError:
        pass
    try:
        with open("big", "wb") as fh:
            while True:
                fh.write(b"x" * (1 << 20))
    except OSError:
        pass
    """,
    # System V shared memory and a message queue, kept by a daemon that lives on
    """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget(0x5EED, 1 << 20, 0o1666)
    libc.msgget(0x5EED, 0o1666)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import time
            time.sleep(60)
        os._exit(0)
    """,
    # lower the limits of every process it can name, the server and the init above all
    """
    import resource
    for pid in [0, 1, 2, 3] + list(range(4, 200)):
        for res in (resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC,
                    resource.RLIMIT_AS, resource.RLIMIT_CPU):
            try:
                resource.prlimit(pid, res, (1, 1))
            except (OSError, ValueError):
                pass
    """,
]

# What the next student's cell checks at its top level: any trace of the one before.
LOOK_FOR_TRACES = """
import os, ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_found = [p for d in (".", "/", "/tmp", "/tmp/work", "/dev", "/dev/shm", "/opt", "/opt/kit")
          for p in (os.path.join(d, "LEFT-BY-A"),) if os.path.exists(p)]
_others = [n for n in os.listdir(".") if not n.startswith(("out_", ".out_"))]  # this job's own results
if _others:
    _found.append("job folder not empty: " + ",".join(_others[:5]))
if _libc.shmget(0x5EED, 0, 0) != -1 or _libc.msgget(0x5EED, 0) != -1:
    _found.append("System V objects of another student")
try:
    os.kill(-1, 0)
    _found.append("another process is visible")
except ProcessLookupError:
    pass
open("probe", "w").write("x" * 1000)  # the job folder is writable
os.unlink("probe")
if _found:
    raise RuntimeError("TRACES: " + "; ".join(_found))
"""


@pytest.mark.parametrize("attack", range(len(LEAVE_BEHIND)))
def test_a_student_leaves_nothing_for_the_next_one(slot_runner, attack):
    """Can a student leave files, a full or locked job folder, System V objects, a process or
    lowered limits that reach the next student of the same slot?  (The next student checks
    for every trace at the top level of a cell, and must keep full marks.)"""
    before = _grade(slot_runner, _honest())
    assert _full(before), before
    _grade(slot_runner, _with("rnn_cell_forward", LEAVE_BEHIND[attack]))
    after = _grade(slot_runner, _with("lstm_cell_forward", LOOK_FOR_TRACES))
    assert _full(after), {f: r["message"] for f, r in after.items() if not r["passed"]}
    assert _scores(after) == _scores(before)


@pytest.mark.parametrize("attack", range(len(LEAVE_BEHIND)))
def test_a_held_init_leaves_nothing_for_the_next_student(slot_runner, attack):
    """When the attacker's submission needs "own" runs (its rnn_forward fails with the
    oracle), its init is held for them and runs them too: does anything it left still
    reach the next student of the slot?"""
    sources = _with("rnn_cell_forward", LEAVE_BEHIND[attack])
    sources["rnn_forward"] = _with("rnn_forward", "raise ValueError('broken')", "body")["rnn_forward"]
    # (whether the init is still there to be held depends on the attack: one that lowers
    # the init's limits, as it can where the init shares the children's uid, ends it)
    attacked = _grade(slot_runner, sources)
    assert not attacked["rnn_forward"]["passed"]
    after = _grade(slot_runner, _with("lstm_cell_forward", LOOK_FOR_TRACES))
    assert _full(after), {f: r["message"] for f, r in after.items() if not r["passed"]}


def test_own_runs_are_made_in_the_held_init(slot_runner):
    """Does a submission whose rnn_forward fails with the oracle get its own runs from the
    init that made its oracle runs (the server says "held", then runs "own" units)?"""
    sources = _with("rnn_forward", "raise ValueError('broken')", "body")
    lines = _protocol_lines(slot_runner)
    result = _grade(slot_runner, sources)
    assert not result["rnn_forward"]["passed"]
    held = [i for i, line in enumerate(lines) if '"held"' in line]
    own = [i for i, line in enumerate(lines) if '"run": "own"' in line]
    assert held, "the init was not held for the own runs"
    assert own and min(own) > held[0]
    assert sum('"done"' in line for line in lines) == 1, "more than one job for one submission"


def _protocol_lines(runner):
    """The fork server's lines to the parent, recorded from now on (a list that grows)."""
    from autograder.grading import runner as runner_module
    lines = []
    original = runner_module.ForkServer._readline

    def recording(self, timeout):
        line = original(self, timeout)
        lines.append(line or "")
        return line
    runner_module.ForkServer._readline = recording
    _RESTORE.append(lambda: setattr(runner_module.ForkServer, "_readline", original))
    return lines


_RESTORE = []


@pytest.fixture(autouse=True)
def _restore_recording():
    yield
    while _RESTORE:
        _RESTORE.pop()()


def test_own_runs_survive_the_loss_of_the_held_init(slot_runner):
    """When the fork server is gone between a submission's oracle runs and its own runs
    (the held init with it), are the own runs made in a new server, with the verdicts a
    slot that lost nothing gives?"""
    from autograder.grading import runner as runner_module
    sources = _with("rnn_forward", "raise ValueError('broken')", "body")
    expected = _grade(slot_runner, sources)
    assert not expected["rnn_forward"]["passed"] and expected["rnn_cell_forward"]["passed"]
    original = runner_module.ForkServer._run_units
    killed = []

    def kill_before_own(self, job, remaining, results, parts, hold=False, cont=False):
        if cont and remaining:
            self.proc.kill()
            self.proc.wait()
            killed.append(job)
        return original(self, job, remaining, results, parts, hold=hold, cont=cont)
    runner_module.ForkServer._run_units = kill_before_own
    _RESTORE.append(lambda: setattr(runner_module.ForkServer, "_run_units", original))
    got = _grade(slot_runner, sources)
    assert killed, "the test did not kill the server between the runs"
    assert {f: (r["score"], r["message"]) for f, r in got.items()} == \
        {f: (r["score"], r["message"]) for f, r in expected.items()}


# In the body of a loop function: its every run fails with the pid of the process it ran in.
RAISE_PID = "import os\nraise ValueError(f'PID {os.getpid()} PID')"
LOOPS = list(assignment.DEPENDS_ON)


def _pids(observations, function):
    """{run: the set of pids a RAISE_PID function reported in that run}."""
    import re
    pids = {}
    for key, value in observations[function].items():
        found = re.search(r"PID (\d+) PID", str(value))
        if key.endswith("error#") and found:
            pids.setdefault(key.split("/")[1], set()).add(int(found.group(1)))
    return pids


def _verdicts(result):
    """What the student is told of each function, the pids of RAISE_PID left out."""
    import re
    return {f: (r["score"], re.sub(r"PID \d+ PID", "PID", r["message"])) for f, r in result.items()}


def _unparked():
    """From now on, the parent asks for a submission's own runs as a new job, not as the
    continue of the held one: the held init is ended first, and nothing parked in it is
    used."""
    from autograder.grading import runner as runner_module
    original = runner_module.ForkServer._run_units

    def as_new_job(self, job, remaining, results, parts, hold=False, cont=False):
        return original(self, job, remaining, results, parts, hold=hold, cont=False)
    runner_module.ForkServer._run_units = as_new_job
    _RESTORE.append(lambda: setattr(runner_module.ForkServer, "_run_units", original))


def test_own_runs_are_made_by_the_batch_child_of_the_oracle_runs(slot_runner):
    """When every loop function fails with the oracle (four own runs), are its own runs made
    by the very child that made the oracle runs (one batch child a submission, parked while
    the parent judges), with the verdicts of own runs made apart in a new job?"""
    sources = _honest()
    for function in LOOPS:
        sources[function] = _with(function, RAISE_PID, "body")[function]
    lines = _protocol_lines(slot_runner)
    observations = slot_runner.observe(sources)
    assert sum('"run": "own"' in line for line in lines) == len(LOOPS)
    pids = {f: _pids(observations, f) for f in LOOPS}
    assert all(set(p) == {"oracle", "own"} for p in pids.values()), pids
    assert len(set().union(*(run for p in pids.values() for run in p.values()))) == 1, pids
    parked = _grade(slot_runner, sources)
    _unparked()
    apart = _grade(slot_runner, sources)
    assert _verdicts(parked) == _verdicts(apart)
    assert not any(parked[f]["passed"] for f in LOOPS)
    # own runs that change a message: the loop functions are right, their cells are not
    broken = _honest()
    for function in LOOPS:
        cell = assignment.DEPENDS_ON[function]
        broken[cell] = _with(cell, "raise ValueError('broken cell')", "body")[cell]
    _RESTORE.pop()()
    parked = _grade(slot_runner, broken)
    _unparked()
    assert _verdicts(parked) == _verdicts(_grade(slot_runner, broken))


# At the top level of a cell (so in every unit): a POSIX timer of this process, armed anew
# by each unit to send SIGUSR1 a second later, that is once the child has finished its
# units and the parent is judging them.
ARM_TIMER = """
import ctypes, os, signal
{handler}
_libc = ctypes.CDLL(None, use_errno=True)
if "PARK_TIMER" not in os.environ:  # one timer a process (a forked child has none)
    _event = ctypes.create_string_buffer(64)  # struct sigevent: SIGEV_SIGNAL, SIGUSR1
    ctypes.c_int.from_buffer(_event, 8).value = signal.SIGUSR1
    _id = ctypes.c_void_p()
    if _libc.timer_create(1, _event, ctypes.byref(_id)) == 0:  # CLOCK_MONOTONIC
        os.environ["PARK_TIMER"] = str(_id.value or 0)
if "PARK_TIMER" in os.environ:
    _spec = (ctypes.c_long * 4)(0, 0, 1, 0)  # no interval; fires in 1 s
    _libc.timer_settime(ctypes.c_void_p(int(os.environ["PARK_TIMER"])), 0, _spec, None)
"""

PARKED_HANDLERS = {
    # none: SIGUSR1 ends the process
    "dies": "",
    # it lives on, having written on every descriptor it has (its progress pipe among them)
    "writes": """
def _on_timer(*_):
    for fd in range(3, 64):
        try:
            os.write(fd, b"....")
        except OSError:
            pass
signal.signal(signal.SIGUSR1, _on_timer)
""",
    # it lives on, having left a process behind
    "forks": """
def _on_timer(*_):
    if os.fork() == 0:
        import time
        time.sleep(60)
        os._exit(0)
signal.signal(signal.SIGUSR1, _on_timer)
""",
    # it lives on, having rebound a name of builtins for the units it runs next
    "rebinds": """
def _on_timer(*_):
    import builtins
    builtins.sorted = lambda *a, **k: []
signal.signal(signal.SIGUSR1, _on_timer)
""",
}


@pytest.mark.parametrize("handler", sorted(PARKED_HANDLERS))
def test_a_timer_that_fires_in_the_parked_child_costs_only_its_own_child(slot_runner, handler):
    """When a student's code leaves a timer and a handler that fire while its batch child
    is parked (it dies, writes on its progress pipe, makes a process or rebinds a name of
    builtins), are its own
    runs still made, in a fresh child, with the verdicts the same code without the timer
    gets, and is the next student of the slot unharmed?"""
    from autograder.grading import runner as runner_module
    sources = _with("rnn_forward", RAISE_PID, "body")
    timed = dict(sources)
    timed["lstm_cell_forward"] = textwrap.dedent(ARM_TIMER).format(
        handler=PARKED_HANDLERS[handler]) + "\n" + sources["lstm_cell_forward"]
    expected = _grade(slot_runner, sources)
    original = runner_module.own_runs

    def judged_slowly(*args, **kwargs):
        time.sleep(2.5)  # the timer fires meanwhile
        return original(*args, **kwargs)
    runner_module.own_runs = judged_slowly
    _RESTORE.append(lambda: setattr(runner_module, "own_runs", original))
    observations = slot_runner.observe(timed)
    pids = _pids(observations, "rnn_forward")
    assert set(pids) == {"oracle", "own"} and pids["oracle"] != pids["own"], pids
    assert _verdicts(_grade(slot_runner, timed)) == _verdicts(expected)
    _RESTORE.pop()()
    after = _grade(slot_runner, _with("lstm_cell_forward", LOOK_FOR_TRACES))
    assert _full(after), {f: r["message"] for f, r in after.items() if not r["passed"]}


def test_a_continue_that_comes_late_finds_the_parked_child_ended(slot_runner):
    """When the parent takes longer than a unit's time to judge the oracle runs, is the
    parked child ended meanwhile (student code may run in it, on no unit's clock), and are
    the own runs then made in a fresh child, with the same verdicts?"""
    from autograder.grading import runner as runner_module
    from autograder.sandbox import forkserver
    sources = _with("rnn_forward", RAISE_PID, "body")
    expected = _grade(slot_runner, sources)
    original = runner_module.own_runs

    def judged_late(*args, **kwargs):
        time.sleep(forkserver.UNIT_KILL_FACTOR * TEST_TIMEOUT + forkserver.UNIT_KILL_MARGIN + 1)
        return original(*args, **kwargs)
    runner_module.own_runs = judged_late
    _RESTORE.append(lambda: setattr(runner_module, "own_runs", original))
    pids = _pids(slot_runner.observe(sources), "rnn_forward")
    assert set(pids) == {"oracle", "own"} and pids["oracle"] != pids["own"], pids
    assert _verdicts(_grade(slot_runner, sources)) == _verdicts(expected)


def _sandbox_processes(server):
    """The processes of a fork server's sandbox that run forkserver.py (the server, its
    oracle, a job's init and children): those under its bubblewrap process."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    below, todo = [], [server.proc.pid]
    while todo:
        pid = todo.pop()
        children = [p for p, parent in parents.items() if parent == pid]
        below += children
        todo += children
    return [p for p in below if b"forkserver.py" in _cmdline(p)
            and b"bwrap" not in _cmdline(p).split(b"\0")[0]]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def test_a_continue_without_units_ends_the_parked_child(slot_runner):
    """When the continue of a held job brings no units, is the batch child parked in it
    ended with the job (only the server, its oracle and the slot's init are left), and is
    the next student of the slot unharmed?"""
    from autograder.grading import runner as runner_module
    original = runner_module.ForkServer._run_units
    seen = {}

    def empty_continue(self, job, remaining, results, parts, hold=False, cont=False):
        if not (cont and not remaining):
            return original(self, job, remaining, results, parts, hold=hold, cont=cont)
        time.sleep(0.3)  # a batch child that does not park has long ended by now
        seen["held"] = len(_sandbox_processes(self))
        self._request({"dir": job, "units": [], "timeout": TEST_TIMEOUT, "budget": 10.0,
                       "hold": False, "continue": True, "oracle": False})
        seen["end"] = self._readline(10)
        left = _sandbox_processes(self)
        for _ in range(60):
            if len(left) <= 3:
                break
            time.sleep(0.05)
            left = _sandbox_processes(self)
        seen["after"] = len(left)
    runner_module.ForkServer._run_units = empty_continue
    _RESTORE.append(lambda: setattr(runner_module.ForkServer, "_run_units", original))
    assert _full(_grade(slot_runner, _honest()))  # no own run needed: a continue without units
    # the server, its oracle, the slot's init and the parked child; then the first three
    assert seen["held"] == 4, seen
    assert json.loads(seen["end"])["done"]
    assert seen["after"] == 3, seen
    _RESTORE.pop()()
    after = _grade(slot_runner, _with("lstm_cell_forward", LOOK_FOR_TRACES))
    assert _full(after), {f: r["message"] for f, r in after.items() if not r["passed"]}


def test_a_batch_stopped_for_a_leftover_process_blames_no_cell(slot_runner):
    """When a batch child is stopped because a unit left a process behind, and the next unit
    was running the top level of another cell just then (a slow but honest one), is that
    cell still run, and not charged a timeout it never had?"""
    sources = _with("rnn_cell_forward", """
        import os
        if os.fork() == 0:  # a process that outlives the unit
            os.setsid()
            import time
            time.sleep(30)
            os._exit(0)
        """, "body")
    # a top level that takes a while, well within the time limit, run by every unit
    sources["lstm_cell_forward"] = "import time\ntime.sleep(0.3)\n" + sources["lstm_cell_forward"]
    result = _grade(slot_runner, sources)
    assert _full(result), {f: r["message"] for f, r in result.items() if not r["passed"]}


def test_the_trace_check_can_fail(slot_runner):
    """Control: does the next student's check really see a trace that is there?"""
    planted = _with("lstm_cell_forward", 'open("LEFT-BY-A", "w").write("x")\n' + LOOK_FOR_TRACES)
    result = _grade(slot_runner, planted)
    assert not result["lstm_cell_forward"]["passed"]
    assert "TRACES" in result["lstm_cell_forward"]["message"]


SEARCH_FOR_ANSWERS = """
import gc, hashlib, os, sys
import numpy as np
_want = set({digests!r})
_seen = [0]
def _check(obj):
    if type(obj) is np.ndarray and obj.dtype.kind == "f":
        _seen[0] += 1
        if hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest() in _want:
            raise RuntimeError("LEAK: an answer of the oracle is in the child")
_visited = set()
def _walk(obj, depth=0):
    if depth > 6 or id(obj) in _visited:
        return
    _visited.add(id(obj))
    _check(obj)
    if type(obj) in (list, tuple):
        for x in obj:
            _walk(x, depth + 1)
    elif type(obj) is dict:
        for x in obj.values():
            _walk(x, depth + 1)
    elif callable(obj):
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                _walk(cell.cell_contents, depth + 1)
            except ValueError:
                pass
        _walk(getattr(obj, "__defaults__", None), depth + 1)
        _walk(getattr(obj, "__kwdefaults__", None), depth + 1)
_walk(rnn_cell_forward)
_walk(globals().get("lstm_cell_forward"))
frame = sys._getframe()
while frame is not None:
    _walk(dict(frame.f_locals))
    frame = frame.f_back
for obj in gc.get_objects():
    if type(obj) in (list, tuple, dict):
        _walk(obj, 5)
    elif callable(obj) and getattr(obj, "__closure__", None):
        _walk(obj, 4)
for root in ("/", "/opt", "/tmp"):
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath.startswith(("/proc", "/sys", "/dev", "/usr", "/opt/python", "/opt/kit/site")):
            dirnames[:] = []  # the interpreter and numpy: large, and no payload in them
            continue
        for name in filenames:
            if name.endswith(".npz"):
                try:
                    with np.load(os.path.join(dirpath, name)) as data:
                        for key in data.files:
                            _check(data[key])
                except Exception:
                    pass
raise ValueError(f"SEARCHED {{_seen[0]}} arrays")
"""


def _digests(obj):
    """sha256 of the bytes of every array in obj (nested tuples, lists and dicts)."""
    import hashlib
    found = set()

    def walk(obj):
        if type(obj) is np.ndarray:
            found.add(hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest())
        elif type(obj) in (list, tuple):
            for x in obj:
                walk(x)
        elif type(obj) is dict:
            for x in obj.values():
                walk(x)
    walk(obj)
    return found


def _answer_digests(function):
    """sha256 of every array the oracle answers with, for `function`'s cases.

    Left out: an answer whose bytes the honest submission's own code returns for a case
    of ANOTHER function (rnn_cell_forward's seed-1 case with m=1 gives exactly the one
    step of rnn_forward's case with m=1, T_x=1).  The batch runs the other functions in
    the same child first, so the student's own result may still be in memory there:
    finding it is no leak.  The attacked function's own expected results are NOT left
    out: they must no more be in the child than the oracle's answers."""
    answers = set()
    for _, calls, _ in verdict.make_cases_payload(function):
        for _, result, _ in calls:
            # the new state of each step, or the gradients (not an input echoed back)
            answers |= _digests(result[0] if type(result) is tuple else result)
    own = set()
    for other in FUNCTIONS:
        if other != function:
            own |= _digests([p.expected for p in verdict.prepared(other)])
    kept = answers - own
    assert len(kept) >= 10 and len(kept) > 10 * len(answers & own), (function, len(kept))
    return sorted(kept)


def _observe_and_grade(runner, sources):
    """(the raw observations of `sources`, {function: results entry}) from one grading."""
    observations = runner.observe(sources)
    entry = judge.judge_submission(sources, {}, observations)
    return observations, {f: entry["functions"][f] for f in FUNCTIONS}


@pytest.mark.parametrize("function", ["rnn_forward", "lstm_forward", "lstm_backward"])
def test_no_answer_of_the_oracle_is_within_reach(slot_runner, function):
    """Can a loop function find any answer of the oracle: in the stand-in's closure or
    defaults, on the stack, among all objects of the garbage collector, or in a payload
    file?  (Every case of every run is looked at, not only the one the message reports;
    only the attacked function may lose, and it must report that it searched.)"""
    sources = _with(function, SEARCH_FOR_ANSWERS.format(digests=_answer_digests(function)),
                    where="body")
    observations, result = _observe_and_grade(slot_runner, sources)
    errors = {k: v for k, v in observations[function].items() if k.endswith("error#")}
    assert any("oracle/" in k for k in errors), observations[function]
    for key, error in errors.items():
        assert "LEAK" not in error, (key, error)
        assert "SEARCHED" in error, (key, error)
        searched = int(error.split("SEARCHED")[1].split()[0])
        assert searched > 10, (key, error)
    assert "LEAK" not in result[function]["message"]
    _assert_only_lost(result, {function})


def test_the_oracle_search_can_find_an_answer(slot_runner):
    """Control: does the search report a leak when an answer is within reach?"""
    calls = verdict.make_cases_payload("rnn_forward")[0][1]
    planted = repr(calls[0][1][0].tolist())
    code = f"_planted = np.array({planted})\n" + \
        SEARCH_FOR_ANSWERS.format(digests=_answer_digests("rnn_forward"))
    result = _grade(slot_runner, _with("rnn_forward", "import numpy as np\n" + code, where="body"))
    assert "LEAK" in result["rnn_forward"]["message"]


def test_the_oracle_still_answers_a_correct_loop(slot_runner):
    """Does a correct loop function still pass with the oracle standing in for a cell
    function that is wrong (the oracle answers over its channel)?"""
    sources = _honest()
    sources["rnn_cell_forward"] = sources["rnn_cell_forward"].replace("np.tanh(", "np.sin(")
    result = _grade(slot_runner, sources)
    assert not result["rnn_cell_forward"]["passed"]
    assert result["rnn_forward"]["passed"], result["rnn_forward"]
    bad_loop = _with("rnn_forward", "x = x * 2", where="body")
    result = _grade(slot_runner, bad_loop)
    assert not result["rnn_forward"]["passed"]


# What a student's cell runs to look through the memory of its own process (which is forked
# from the grader's) for a note that an earlier student left in a comment.  The pages around
# a big and a small allocation are read until one is not mapped (write() to a pipe reports
# that where a read would crash), and searched with memmem, so that no copy of a page,
# and no copy of the note but the one made byte by byte in _needle, is made.
SEARCH_MEMORY_FOR = """
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.memmem.restype = ctypes.c_void_p
_libc.memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
_r, _w = os.pipe()
def _readable(addr, n=4096):
    got = _libc.write(_w, ctypes.c_void_p(addr), ctypes.c_size_t(n))
    if got > 0:
        os.read(_r, got)
    return got == n
_code = {xored!r}  # the note, each byte XOR 1, so that the cell's source does not hold it
_needle = ctypes.create_string_buffer(len(_code))
for _i, _b in enumerate(_code):
    _needle[_i] = _b ^ 1
_own = ctypes.addressof(_needle)
_hits, _pages = [], [0]
def _scan(start, limit=40000):
    for direction in (-4096, 4096):
        addr = (start & ~4095) + (0 if direction < 0 else 4096)
        for _ in range(limit):
            if not _readable(addr):
                break
            _pages[0] += 1
            span = 4096 + len(_code) - 1 if _readable(addr + 4096, 1) else 4096
            at = _libc.memmem(addr, span, _own, len(_code))
            if at and at != _own:
                _hits.append(at)
            addr += direction
for _obj in (bytearray(200000), bytearray(2000), bytearray(100)):
    _scan(ctypes.addressof((ctypes.c_char * 1).from_buffer(_obj)))
if _hits:
    raise RuntimeError(f"FOUND the note {{len(_hits)}} times in {{_pages[0]}} pages")
raise RuntimeError(f"SEARCHED {{_pages[0]}} pages")
"""


def _memory_search(note):
    """A submission whose lstm_cell_forward cell searches its process's memory for `note`."""
    xored = bytes(c ^ 1 for c in note.encode())
    return _with("lstm_cell_forward", SEARCH_MEMORY_FOR.format(xored=xored))


def _with_note(sources, function, note):
    sources = dict(sources)
    sources[function] = f"# {note}\n" * 20 + sources[function]
    return sources


def test_no_earlier_student_is_in_the_memory_of_the_next(slot_runner):
    """Can a student find, in the memory of the process that runs its code, the cells of the
    student graded before it in the same slot (a note in a comment of every cell)?"""
    note = "NOTE-OF-AN-EARLIER-STUDENT-" + os.urandom(6).hex()
    earlier = _honest()
    for function in FUNCTIONS:
        earlier = _with_note(earlier, function, note)
    assert _full(_grade(slot_runner, earlier))
    message = _grade(slot_runner, _memory_search(note))["lstm_cell_forward"]["message"]
    assert "FOUND" not in message, message
    pages = int(message.split("SEARCHED ")[1].split()[0])
    assert pages > 1000, message  # the search read the heap, not a page or two


def test_the_memory_search_finds_a_note_in_the_students_own_cells(slot_runner):
    """Control: does the same search find the note when it is in the student's own cells?"""
    note = "NOTE-OF-THIS-STUDENT-" + os.urandom(6).hex()
    sources = _with_note(_memory_search(note), "rnn_forward", note)
    message = _grade(slot_runner, sources)["lstm_cell_forward"]["message"]
    assert "FOUND the note" in message, message


LOOK_AT_THE_HOST = """
import os, sys
_seen = {"root": sorted(os.listdir("/")), "cwd": os.getcwd(), "path": sys.path,
         "file": __file__ if "__file__" in globals() else None}
for probe in ("/proc/self/mountinfo", "/proc/1/cmdline", "/proc/self/environ"):
    try:
        _seen[probe] = open(probe).read()[:3000]
    except OSError as error:
        _seen[probe] = type(error).__name__
_found = []
for dirpath, dirnames, filenames in os.walk("/"):
    if dirpath.startswith(("/proc", "/sys", "/usr/lib", "/usr/bin", "/opt/python/lib")):
        dirnames[:] = []
        continue
    for name in filenames:
        if "rnn_step_by_step" in name or name in ("nbgrader_config.py", "gradebook.db"):
            _found.append(os.path.join(dirpath, name))
raise ValueError(f"SEEN {_seen!r} FOUND {_found!r}")
"""


def test_the_host_is_not_visible(slot_runner):
    """Does student code see the course, the kit, the payload folder or any other host
    folder, a mount table or a process list, and can any host path reach the results?"""
    result = _grade(slot_runner, _with("rnn_cell_forward", LOOK_AT_THE_HOST, where="body"))
    message = result["rnn_cell_forward"]["message"]
    assert "SEEN" in message, message
    assert "FOUND []" in message, message
    assert "mountinfo': 'FileNotFoundError'" in message, message
    text = json.dumps(result)
    for host in {str(COURSE_DIR), str(slot_runner.payload_dir), tempfile.gettempdir() + "/grade-",
                 os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}:
        if not host.startswith("/usr"):
            assert host not in text, host
    _assert_only_lost(result, {"rnn_cell_forward"})


ENDLESS = {
    "python loop": "while True:\n    pass",
    "swallows the interrupt": "import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                              "    except BaseException:\n        pass",
    "sleeps in C": "import ctypes\nctypes.CDLL(None).sleep(100)",
}


@pytest.mark.parametrize("kind", list(ENDLESS))
def test_an_endless_function_is_a_timeout_of_that_function(slot_runner, kind):
    """Is a function that never returns reported as a TimeoutError (not a crash), and does
    only it lose, before and after an honest student in the same slot?"""
    result = _grade(slot_runner, _with("lstm_cell_forward", ENDLESS[kind], where="body"))
    assert "TimeoutError" in result["lstm_cell_forward"]["message"], result["lstm_cell_forward"]
    assert "Crash" not in result["lstm_cell_forward"]["message"]
    _assert_only_lost(result, {"lstm_cell_forward"})
    assert _full(_grade(slot_runner, _honest()))


@pytest.mark.parametrize("code", ["import time\ntime.sleep(30)",
                                  "while True:\n    pass",
                                  "import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                                  "    except BaseException:\n        pass"])
def test_top_level_code_is_charged_to_its_own_cell(slot_runner, code):
    """Does slow top-level code in one cell (outside any function) cost only that cell's
    function, not the seven others?"""
    result = _grade(slot_runner, _with("rnn_cell_backward", code))
    assert "TimeoutError" in result["rnn_cell_backward"]["message"], result["rnn_cell_backward"]
    _assert_only_lost(result, {"rnn_cell_backward"})


def test_a_cell_after_the_spent_pool_still_gets_a_moment():
    """Once slow top-level code in one cell has spent the time that a unit's other cells
    share, does a later cell that needs a few milliseconds of wall time (a few defs on a
    loaded machine) still run, and does a later slow cell still fail?"""
    from autograder.sandbox import child, engine, forkserver
    previous = signal.signal(signal.SIGALRM, child._on_alarm)
    try:
        clock = forkserver.CellClock(TEST_TIMEOUT)
        clock.left = -0.01  # as the slow cell before it left it: spent, and a little more
        with clock("rnn_cell_forward", "rnn_backward"):
            time.sleep(0.02)  # what a moment of load costs a cell of defs
        with pytest.raises(engine.CellTimeout):
            with clock("lstm_cell_forward", "rnn_backward"):
                time.sleep(30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_kill_of_a_unit_leaves_room_for_every_cell_and_the_parent_waits_longer():
    """Is the init's kill of a batch unit later than the most its own function and the other
    cells' top-level code may take (the pool, then a floor for each other cell after the
    first), and does the parent wait for a unit's line longer than that kill, its clean-up
    and the unit's run alone again?"""
    from autograder.sandbox import forkserver
    assert forkserver.CELLS_AFTER_POOL >= len(FUNCTIONS) - 2  # one cell per function
    for timeout in (0.5, TEST_TIMEOUT, 5.0, 30.0):
        kill = forkserver.UNIT_KILL_FACTOR * timeout + forkserver.UNIT_KILL_MARGIN
        floors = forkserver.CELLS_AFTER_POOL * forkserver.CellClock(timeout).floor
        assert kill >= 2 * timeout + floors + 1.0, timeout
        assert unit_wait_seconds(timeout) > 2 * (kill + forkserver.CLEAN_UP_SECONDS), timeout


def test_a_submission_has_a_total_time_budget(slot_runner):
    """Does a submission whose every function never returns end within its total budget,
    every function reported as out of time, and is the next student unharmed?"""
    sources = _honest()
    for f in FUNCTIONS:
        sources = _with(f, "import ctypes\nctypes.CDLL(None).sleep(100)", where="body") \
            if f == FUNCTIONS[0] else _with_into(sources, f)
    start = time.monotonic()
    result = _grade(slot_runner, sources)
    took = time.monotonic() - start
    for f, r in result.items():
        assert "TimeoutError" in r["message"], (f, r)
    assert took <= budget_seconds(TEST_TIMEOUT) + unit_wait_seconds(TEST_TIMEOUT), took
    assert _full(_grade(slot_runner, _honest()))


def _with_into(sources, function):
    head = f"def {function}("
    src = sources[function]
    start = src.index(head)
    line_end = src.index(":\n", start) + 2
    sources = dict(sources)
    sources[function] = src[:line_end] + "    import ctypes\n    ctypes.CDLL(None).sleep(100)\n" + \
        src[line_end:]
    return sources


FIND_WRITABLE = """
import os
_writable = []
for dirpath, dirnames, filenames in os.walk("/"):
    if dirpath.startswith(("/proc", "/sys", "/opt/python/lib", "/usr/lib")):
        dirnames[:] = []
    try:
        fd = os.open(os.path.join(dirpath, ".w"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        continue
    os.close(fd)
    os.unlink(os.path.join(dirpath, ".w"))
    _writable.append(dirpath)
raise ValueError(f"WRITABLE {sorted(_writable)!r} CWD {os.getcwd()!r}")
"""


def test_the_only_writable_place_is_the_job_folder(slot_runner):
    """Is the job folder the only folder student code can create a file in (so nothing it
    writes can outlive its job)?"""
    result = _grade(slot_runner, _with("rnn_cell_forward", FIND_WRITABLE, where="body"))
    message = result["rnn_cell_forward"]["message"]
    assert "WRITABLE ['/tmp/work'] CWD '/tmp/work'" in message, message
