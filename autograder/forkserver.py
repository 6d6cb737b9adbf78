"""The fork server of the batch grader: one per parallel slot, inside the sandbox.

    python -I forkserver.py WORKDIR PAYLOAD_DIR [--kill-all]

It starts once, with numpy, the engine and every function's cases already
loaded, and prints "ready".  Then it reads one job per line on stdin:

    {"dir": "<folder under WORKDIR>", "units": [[function, run], ...], "timeout": seconds}

The folder holds job.json (setup cell and the student's cell sources).  A unit
is one run of one function ("oracle" or "own", see autograder.engine).  Each
unit writes out_<function>.<run>.obs into the folder (autograder.structure.dumps),
and the server prints one line per unit, in order:
{"function": name, "run": run, "status": "ok" | "timeout" | "signal N" | "exit N"}.
After the job it prints {"done": folder}.

Every verdict comes from a unit run as if alone.  With --kill-all (given only
when the server runs as a dedicated uid in its own pid namespace, where
leftovers can be seen and killed) the server first forks ONE child for all the
units left, a batch, because forking costs as much as a unit's work.  The
batch reports each finished unit on a progress pipe (each unit gets the time
limit anew) and stops by itself after a unit that ran out of time or left a
thread or a process behind.  When a batch ends any other way (a crash, a kill
at the time limit, a stop), the unit it was on is run again alone, in a fresh
child, and its verdict comes from that run; the batch then resumes with the
next unit.  Without --kill-all every unit gets a child of its own.  So a
student's cell function that kills its process in the "own" run of a loop
function cannot take the "oracle" results, or any other function, with it.

A child gets the time limit of one function per unit, by the wall clock and in
CPU seconds.  After each child, every process it left is killed and reaped
(the server is a child subreaper, so orphans come back to it): with --kill-all
every other process of that uid, otherwise the child's process group.  So
nothing a student started lives on into the next child, not even as a zombie
that would still count against the process limit.

Children cannot write to the server's protocol pipes (their stdio is /dev/null)
and cannot attach to the server (it is not dumpable).  A batch can write to its
own progress pipe: forged progress only makes the server report a unit of that
same student whose results are missing, and never more units than the batch has.
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

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))
if (KIT / "site").is_dir():  # the sandbox's minimal root: numpy is bound there (sandbox.python_layout)
    sys.path.insert(1, str(KIT / "site"))

from autograder import child, engine, structure  # noqa: E402

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
FORK_ATTEMPTS = 50  # a fork that fails (process limit) is retried while the last kill settles


def _prctl(option, value):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_child(job_dir, units, job, payloads, timeout, progress=None):
    """In the forked child: compute the units in order, write each one's results, exit.

    With `progress` (a pipe to the server) the child is a batch: after each unit it
    writes one byte there, and it stops early (exit 0) after a unit that leaves
    anything unusual behind (see _census) or ran out of time, so that the units
    after it start in a fresh process."""
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        # close everything else, above all the pipe to the parent
        if progress is None:
            os.closerange(3, 4096)
        else:
            os.closerange(3, progress)
            os.closerange(progress + 1, 4096)
        cpu = int(timeout * len(units)) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        signal.signal(signal.SIGALRM, child._on_alarm)
        before = _census() if progress is not None else None
        for function, run in units:
            obs = _compute(job_dir, function, run, job, payloads[function], timeout)
            if progress is not None:
                os.write(progress, b".")
                if _census() != before or any(str(v).startswith("TimeoutError")
                                              for k, v in obs.items() if k.endswith("error#")):
                    break
        os._exit(0)
    except BaseException:  # noqa: BLE001 -- never return into the server's loop
        try:
            import traceback
            (job_dir / "error_child.txt").write_text(traceback.format_exc()[-4000:])
        finally:
            os._exit(70)


def _compute(job_dir, function, run, job, cases, timeout):
    """One unit: run the engine under the timer and write out_<function>.<run>.obs."""
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
    return obs


def _census():
    """What a unit could leave behind in its process: threads, and processes of the pid
    namespace (batches run only where the sandbox has one, see serve)."""
    return (sorted(os.listdir("/proc/self/task")),
            sorted(p for p in os.listdir("/proc") if p.isdigit()))


def _wait(pid, timeout, progress=None, limit=0, on_progress=None):
    """Wait for pid; return (status text, bytes read from `progress`).

    The clock restarts with each of the first `limit` bytes on `progress`: each
    unit of a batch has `timeout` seconds.  on_progress(n) is called as each byte
    arrives, with the number of bytes so far."""
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
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                os.kill(pid, signal.SIGKILL) if _alive(pid) else None
                os.waitpid(pid, 0)
                return "timeout", count
            ready, _, _ = select.select(watch, [], [], min(left, 0.002) if pidfd is None else left)
            if progress is not None and progress in ready:
                before = count
                count = _count(progress, limit, count, on_progress)
                if count is None:  # the child closed its end: only its exit is left to watch
                    count = before
                    watch.remove(progress)
                    progress = None
                elif count > before:
                    deadline = time.monotonic() + timeout
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _count(fd, limit, count, on_progress):
    """Read what is waiting on a progress pipe; return the new count (at most `limit`), or
    None at end of file."""
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return count
    if not data:
        return None
    for _ in range(min(len(data), limit - count)):
        count += 1
        if on_progress is not None:
            on_progress(count)
    return count


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


def _batch(job_dir, units, job, payloads, timeout, kill_all, on_progress):
    """Run units in one child; return how many it finished (each wrote its results and
    reported on the progress pipe, and on_progress(n) was called for it)."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    pid = _fork()
    if pid == 0:
        os.close(read_end)
        _run_child(job_dir, units, job, payloads, timeout, progress=write_end)
    os.close(write_end)
    try:
        _, done = _wait(pid, timeout + 0.5, progress=read_end, limit=len(units),
                        on_progress=on_progress)
    finally:
        os.close(read_end)
    _clean_up(pid, kill_all)
    return done


def serve(workdir, payload_dir, kill_all):
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    payloads = {p.stem: child.load_payload(p) for p in Path(payload_dir).glob("*.npz")}
    for cases in payloads.values():
        engine.warm(cases)
    # What is loaded now is shared with every child.  Keep the children's garbage collector
    # from walking it (and so from writing to, and copying, those shared pages).
    import gc
    gc.collect()
    gc.freeze()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing but the protocol may reach the parent
    out.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        job_dir = Path(workdir) / request["dir"]
        job = json.loads((job_dir / "job.json").read_text())
        engine.precompile(job["setup"], job["sources"])
        timeout, units = float(request["timeout"]), request["units"]
        i = 0
        while i < len(units):
            if kill_all and len(units) - i > 1:
                # a batch: every unit left in one child, while nothing goes wrong; each
                # unit is reported as it finishes
                first = i

                def finished(n):
                    function, run = units[first + n - 1]
                    out.write(json.dumps({"function": function, "run": run, "status": "ok"}) + "\n")
                i += _batch(job_dir, units[i:], job, payloads, timeout, kill_all, finished)
            if i < len(units):
                # alone in a fresh child: a unit whose batch went wrong (its verdict comes
                # from this run only), the one after an early stop, or the last unit left
                function, run = units[i]
                pid = _fork()
                if pid == 0:
                    _run_child(job_dir, [units[i]], job, payloads, timeout)
                status, _ = _wait(pid, timeout + 0.5)
                _clean_up(pid, kill_all)
                out.write(json.dumps({"function": function, "run": run, "status": status}) + "\n")
                i += 1
        out.write(json.dumps({"done": request["dir"]}) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], "--kill-all" in sys.argv[3:])
