"""Run a command and measure its wall time and the peak memory of its whole process tree.

The memory figure is the largest sum, over one sample, of the resident set
size (RSS) of the command and every process below it (sandboxed children,
Jupyter kernels, ...), sampled every SAMPLE_SECONDS with psutil.  Summing RSS
counts pages shared between processes (numpy's libraries, for instance) once
per process, so it overstates what the machine really needs; a child that
lives less than one sampling period can be missed.  Both graders are measured
the same way, so the comparison is fair.
"""
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05


@dataclass
class Measured:
    argv: list
    returncode: int
    seconds: float
    peak_rss_bytes: int
    peak_processes: int
    stdout: str
    stderr: str


def tree_rss(root):
    """(sum of RSS, number of processes) of `root` and its descendants, now."""
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0, 0
    total = count = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
            count += 1
        except psutil.Error:  # it ended between the listing and the reading
            pass
    return total, count


def run(argv, cwd, env, log_dir, name):
    """Run argv to completion; stdout and stderr go to log_dir/name.{out,err}."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    peak = {"rss": 0, "procs": 0}
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample():
            while not done.is_set():
                rss, count = tree_rss(root)
                peak["rss"] = max(peak["rss"], rss)
                peak["procs"] = max(peak["procs"], count)
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = proc.wait()
        finally:
            seconds = time.perf_counter() - started
            done.set()
            sampler.join()
    return Measured(list(argv), returncode, seconds, peak["rss"], peak["procs"],
                    out_path.read_text(errors="replace"), err_path.read_text(errors="replace"))


def environment(extra=None):
    """os.environ with this interpreter's bin/ first on PATH (nbgrader calls alembic)."""
    import sys
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env
