"""The fork server of the batch grader: one per parallel slot, inside the sandbox.

    python -I forkserver.py WORKDIR PAYLOAD_DIR [--kill-all]

It starts once, with numpy, the engine and every function's cases already
loaded, and prints "ready".  Then it reads one job per line on stdin:

    {"dir": "<folder under WORKDIR>", "functions": [...], "timeout": seconds}

The folder holds job.json (setup cell and the student's cell sources).  For
each function the server forks a child that runs autograder.engine.observe
and writes out_<function>.npz into the folder, and prints one line
{"function": name, "status": "ok" | "timeout" | "signal N" | "exit N"}.
A child gets the time limit of one function, by the wall clock and in CPU
seconds.  After each child, with --kill-all (given only when the server runs
as a dedicated uid in its own pid namespace), every other process of that uid
is killed, so nothing a student started lives on into the next function.
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


def _not_dumpable():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_child(job_dir, function, job, cases, timeout):
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
                                 job["sources"], cases)
        except child.FunctionTimeout as error:
            obs = {"c0/oracle/error#": f"TimeoutError: {error}"}
        signal.setitimer(signal.ITIMER_REAL, 0)
        tmp = job_dir / f".out_{function}.tmp.npz"
        structure.save(tmp, obs)
        os.replace(tmp, job_dir / f"out_{function}.npz")
        os._exit(0)
    except BaseException:  # noqa: BLE001 -- never return into the server's loop
        try:
            import traceback
            (job_dir / f"error_{function}.txt").write_text(traceback.format_exc()[-4000:])
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


def _clean_up(pid, kill_all):
    """Kill whatever the child left running, and reap it."""
    if kill_all:
        try:
            os.kill(-1, signal.SIGKILL)  # every process of this uid but the server itself
        except OSError:
            pass
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def serve(workdir, payload_dir, kill_all):
    _not_dumpable()
    payloads = {p.stem: child.load_payload(p) for p in Path(payload_dir).glob("*.npz")}
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing but the protocol may reach the parent
    out.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        job_dir = Path(workdir) / request["dir"]
        job = json.loads((job_dir / "job.json").read_text())
        for function in request["functions"]:
            pid = os.fork()
            if pid == 0:
                _run_child(job_dir, function, job, payloads[function], float(request["timeout"]))
            status = _wait(pid, float(request["timeout"]) + 0.5)
            _clean_up(pid, kill_all)
            out.write(json.dumps({"function": function, "status": status}) + "\n")
        out.write(json.dumps({"done": request["dir"]}) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], "--kill-all" in sys.argv[3:])
