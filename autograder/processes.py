"""How many processes and threads a uid runs: what its RLIMIT_NPROC counts.

A limit on the number of processes is per uid, so a limit meant for one run of
student code that shares the grader's uid (nbgrader's limited kernel, the
sandbox with weak isolation) has to be set relative to this count, or the
grader's own processes would use it up.  Read by course/kernel.py and
sandbox/isolation.py.
"""
from __future__ import annotations

import os


def uid_tasks(uid: int) -> int:
    """Processes and threads of ``uid`` now (each thread counts, as for RLIMIT_NPROC)."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass  # the process ended meanwhile
    return count
