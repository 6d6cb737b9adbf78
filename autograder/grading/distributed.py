"""Grading past one machine: run each submission's sandboxed child on a Dask cluster.

    python -m autograder grade SUBMITTED_DIR --out OUT_DIR --dask tcp://HOST:8786

:class:`DaskRunner` has the interface of :class:`autograder.grading.runner.Runner`
(``observe(sources) -> {function: observations}``), so the batch loop of
``grading.batch.grade()`` does not change: it still reads the submissions, judges
the observations and is the only writer of results.json, the journal and the
gradebook.  Only the step "RunInSandbox" moves: ``observe`` sends the
student's cell sources (plain strings) to a Dask worker, and the worker runs
the very same isolated child as a local batch, through
``runner.Runner(settings, payload_dir).observe(sources)``.  What comes back is
the observations dict (numpy arrays), which Dask ships as it is.

Student code therefore only ever runs inside the sandbox of a worker machine,
never in the Dask worker process itself, nor in the scheduler, nor here.

Each worker process, on its first task, writes the case payloads once into
its own temporary directory (``runner.write_payloads``) and keeps a Runner
for the rest of its life.  Every task carries a digest of the payloads this
grader wrote; a worker whose own payloads differ (a different version of the
kit is installed there) refuses to grade instead of grading against other
cases.  Parallel children must use different sandbox slots (one uid each);
several worker processes on one machine share the slot numbers through lock
files, so two of them never use the same slot at once.

What every worker machine needs: the kit installed with pip install -e '.[dask]'
(the same version as the grader's machine), bubblewrap, and the worker
running as root so the sandbox can drop to its unprivileged users (see
benchmarks/README.md).  Anyone who can reach the scheduler can run code on
the workers: keep the cluster on a private network or use Dask's TLS.
"""
from __future__ import annotations

import atexit
import dataclasses
import hashlib
import os
import queue
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..sandbox import isolation

__all__ = ["DaskRunner", "start_local_cluster", "payload_digest", "observe_on_worker", "worker_slots",
           "KitMismatch"]


def payload_digest(payload_dir):
    """Digest of the cases in payload_dir: names, dtypes, shapes and bytes of every array.

    Computed from the arrays, not the npz files, so two machines that compute
    the same cases agree even though their zip files differ in timestamps.
    """
    h = hashlib.sha256()
    for path in sorted(Path(payload_dir).glob("*.npz")):
        h.update(path.name.encode() + b"\0")
        with np.load(path, allow_pickle=False) as npz:
            for key in sorted(npz.files):
                value = npz[key]
                h.update(f"{key}\0{value.dtype.str}\0{value.shape}\0".encode())
                h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


class KitMismatch(RuntimeError):
    """A worker computes other cases than the grader: its kit is not the same version."""


# ---------------------------------------------------------------------------
# the worker side (runs in the Dask worker process, never runs student code)
# ---------------------------------------------------------------------------

_lock = threading.Lock()
_state = {"payload_dir": None, "digest": None, "slots": None, "lock_files": [], "runners": {}}


def _worker_threads(default):
    try:
        from distributed import get_worker
        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):  # not inside a Dask worker
        return default


def _payloads():
    """This process's copy of the case payloads (written on first use) and their digest."""
    if _state["payload_dir"] is None:
        from . import runner
        directory = tempfile.mkdtemp(prefix="grade-cases-")
        atexit.register(shutil.rmtree, directory, True)
        os.chmod(directory, 0o755)
        runner.write_payloads(directory)
        for f in Path(directory).iterdir():
            os.chmod(f, 0o644)
        _state["payload_dir"] = directory
        _state["digest"] = payload_digest(directory)
    return _state["payload_dir"], _state["digest"]


def _slot_queue(threads):
    """This process's sandbox slots, claimed on first use, as one queue shared by all its
    Runners (two batches graded at once, with other settings, never share a slot)."""
    if _state["slots"] is None:
        _state["slots"] = queue.Queue()
        for slot in isolation.claim_slots(threads, _state["lock_files"]):
            _state["slots"].put(slot)
    return _state["slots"]


def worker_slots():
    """The sandbox slots this worker process holds (claims them if it has not yet)."""
    with _lock:
        return sorted(_slot_queue(_worker_threads(1)).queue)


def _close_runners():
    for runner in _state["runners"].values():
        close = getattr(runner, "close", None)
        if close is not None:
            close()
    _state["runners"].clear()


def _runner(settings, digest):
    """The cached runner.Runner of this process for these settings."""
    from . import runner as runners
    with _lock:
        payload_dir, mine = _payloads()
        if digest is not None and digest != mine:
            raise KitMismatch(
                "this worker computes other grading cases than the grader that sent the task "
                f"(digest {mine[:12]} here, {digest[:12]} there): install the same version of the "
                "kit on every worker (pip install -e '.[dask]') and restart the workers")
        key = (settings.timeout, settings.memory_mb, str(settings.course), str(settings.submitted),
               str(settings.out))
        runner = _state["runners"].get(key)
        if runner is None:
            threads = _worker_threads(settings.jobs)
            slots = _slot_queue(threads)
            runner = runners.Runner(dataclasses.replace(settings, jobs=threads), payload_dir, slots=slots)
            if not _state["runners"]:
                atexit.register(_close_runners)  # runs before the payloads are removed
            _state["runners"][key] = runner
    return runner


def observe_on_worker(settings, sources, digest=None):
    """The Dask task: observations of one submission, from a sandboxed child on this worker."""
    return _runner(settings, digest).observe(sources)


def _worker_isolation():
    from ..sandbox import isolation
    return isolation.detect_isolation().describe()


# ---------------------------------------------------------------------------
# the grader side
# ---------------------------------------------------------------------------


class DaskRunner:
    """runner.Runner's interface; the children run on the workers of a Dask cluster.

    ``address`` is the scheduler's address (``tcp://HOST:8786``); a
    ``distributed.Client`` or a cluster object is accepted too.  ``observe``
    may be called from many threads at once (grade()'s thread pool): give
    that pool :meth:`parallelism` threads so every worker thread stays busy.
    """

    def __init__(self, settings, payload_dir, address):
        from distributed import Client
        # The workers get absolute paths (they hide them from the child if they exist
        # there) and no gradebook URL: it may hold a database password.
        self.settings = dataclasses.replace(
            settings, submitted=Path(settings.submitted).resolve(), out=Path(settings.out).resolve(),
            course=Path(settings.course).resolve(), db_url=None)
        self.payload_dir = Path(payload_dir)
        self.digest = payload_digest(self.payload_dir)
        self.address = address
        if isinstance(address, Client):
            self.client, self._owns_client = address, False
        else:
            self.client, self._owns_client = Client(address), True

    def observe(self, sources):
        """{function: observations} of one submission, computed on a worker."""
        future = self.client.submit(observe_on_worker, self.settings, dict(sources), self.digest,
                                    pure=False)
        try:
            return future.result()
        finally:
            future.release()

    def parallelism(self):
        """Worker threads in the cluster now (at least 1): the size for grade()'s thread pool."""
        return max(1, sum(self.client.nthreads().values()))

    def isolation(self):
        """{worker address: the sandbox isolation that worker really has, or why it is unknown}."""
        found = self.client.run(_worker_isolation, on_error="return")
        return {worker: (value if isinstance(value, str) else
                         f"unknown ({type(value).__name__}: {value})")
                for worker, value in found.items()}

    def describe(self):
        """One line for the log: where the children run and how they are isolated."""
        levels = sorted(set(self.isolation().values()))
        workers = len(self.client.nthreads())
        return (f"dask cluster {self.client.scheduler.address}: {workers} worker(s), "
                f"{self.parallelism()} thread(s); worker isolation: " + " | ".join(levels))

    def close(self):
        if self._owns_client:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_local_cluster(n_workers=2, threads_per_worker=1):
    """A Dask cluster of worker processes on this machine, for tests and demos.

    Returns the distributed.LocalCluster; pass ``cluster.scheduler_address``
    to DaskRunner (or to ``--dask``) and call ``cluster.close()`` when done.
    """
    from distributed import LocalCluster
    return LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=threads_per_worker,
                        dashboard_address=None)
