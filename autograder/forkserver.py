"""The fork server of the batch grader: one per parallel slot, inside the sandbox.

    python -I forkserver.py WORKDIR PAYLOAD_DIR [--kill-all]

It starts once, with numpy, the engine and every function's cases already
loaded, and prints "ready".  Then it reads one job per line on stdin:

    {"dir": "<folder under WORKDIR>", "units": [[function, run], ...], "timeout": seconds}

The folder holds job.json (setup cell and the student's cell sources).  A unit
is one run of one function ("oracle" or "own", see autograder.engine): each
gets a child of its own, so a student's cell function that kills its process
in the "own" run of a loop function cannot take the "oracle" results with it.
For each unit the server forks a child that runs autograder.engine.observe
and writes out_<function>.<run>.obs into the folder (autograder.structure.dumps), and prints one line
{"function": name, "run": run, "status": "ok" | "timeout" | "signal N" | "exit N"}.
A child gets the time limit of one function, by the wall clock and in CPU
seconds.  After each child, every process it left is killed and reaped (the
server is a child subreaper, so orphans come back to it): with --kill-all
(given only when the server runs as a dedicated uid in its own pid namespace)
every other process of that uid, otherwise the child's process group.  So
nothing a student started lives on into the next unit, not even as a zombie
that would still count against the process limit.
After the job it prints {"done": folder}.

Children cannot write to the server's pipes (their stdio is /dev/null) and
cannot attach to the server (it is not dumpable).
"""
import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import child, engine, structure  # noqa: E402

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
FORK_ATTEMPTS = 50  # a fork that fails (process limit) is retried while the last kill settles


def _prctl(option, value):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_child(job_dir, function, run, job, cases, timeout):
    """In the forked child: compute one function's observations, write them, exit."""
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 4096)  # above all, the pipe to the parent
        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        signal.signal(signal.SIGALRM, child._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            obs = engine.observe(function, job["dependencies"].get(function), job["setup"],
                                 job["sources"], cases, modes=(run,))
        except child.FunctionTimeout as error:
            obs = {f"{run}/error#": f"TimeoutError: {error}"}
        signal.setitimer(signal.ITIMER_REAL, 0)
        tmp = job_dir / f".out_{function}.{run}.tmp"
        data = structure.dumps(obs)
        try:
            os.unlink(tmp)  # whatever student code left there (a link, say) is not written through
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, job_dir / f"out_{function}.{run}.obs")
        os._exit(0)
    except BaseException:  # noqa: BLE001 -- never return into the server's loop
        try:
            import traceback
            (job_dir / f"error_{function}.{run}.txt").write_text(traceback.format_exc()[-4000:])
        finally:
            os._exit(70)


def _wait(pid, timeout):
    """Wait for pid at most `timeout` seconds; return its status text."""
    deadline = time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.WIFSIGNALED(status):
                    return f"signal {os.WTERMSIG(status)}"
                code = os.WEXITSTATUS(status)
                return "ok" if code == 0 else f"exit {code}"
            left = deadline - time.monotonic()
            if left <= 0:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                os.kill(pid, signal.SIGKILL) if _alive(pid) else None
                os.waitpid(pid, 0)
                return "timeout"
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.002))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


CLEAN_UP_SECONDS = 2.0


def _clean_up(pid, kill_all):
    """Kill whatever the child left running, and reap all of it, zombies included.

    Without --kill-all a process that left the child's process group cannot be
    killed from here; it is given up on after CLEAN_UP_SECONDS (RLIMIT_CPU
    still bounds it)."""
    deadline = time.monotonic() + CLEAN_UP_SECONDS
    while time.monotonic() < deadline:
        try:
            if kill_all:
                os.kill(-1, signal.SIGKILL)  # every process of this uid but the server itself
            else:
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        # every process killed above is (or becomes, as an orphan) our child: wait for them all
        try:
            while os.waitpid(-1, os.WNOHANG) != (0, 0):
                pass
        except ChildProcessError:
            return  # nothing is left
        time.sleep(0.001)  # some are still dying, or one forked while we killed: again


def _fork():
    """os.fork(), retried while the processes of the last child are still being reaped."""
    for attempt in range(FORK_ATTEMPTS):
        try:
            return os.fork()
        except BlockingIOError:
            time.sleep(0.01 * (attempt + 1))
    return os.fork()


def serve(workdir, payload_dir, kill_all):
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    payloads = {p.stem: child.load_payload(p) for p in Path(payload_dir).glob("*.npz")}
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing but the protocol may reach the parent
    out.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        job_dir = Path(workdir) / request["dir"]
        job = json.loads((job_dir / "job.json").read_text())
        engine.precompile(job["setup"], job["sources"])
        for function, run in request["units"]:
            pid = _fork()
            if pid == 0:
                _run_child(job_dir, function, run, job, payloads[function], float(request["timeout"]))
            status = _wait(pid, float(request["timeout"]) + 0.5)
            _clean_up(pid, kill_all)
            out.write(json.dumps({"function": function, "run": run, "status": status}) + "\n")
        out.write(json.dumps({"done": request["dir"]}) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], "--kill-all" in sys.argv[3:])
