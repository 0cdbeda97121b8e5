"""The ``local`` executor: a process pool of spawned workers on this machine, and their start-up.

``local`` / ``local:N`` (see :func:`nclab.sweep.executors.parse_executor`): N workers (default:
one per core); each worker uses one torch thread (the workers already fill the cores; more
threads per worker spin against each other), or the count of an enclosing ``nclab.threads(n)``
block / ``nclab sweep --threads n``. ``OMP_NUM_THREADS``, when set, is kept. Workers are started
with ``spawn`` (safe with torch's thread pools). A worker whose driver died (even by SIGKILL)
exits within :data:`PARENT_POLL` seconds (:func:`_watch_parent`): no orphans.

The worker start-up (:func:`_worker_init`, :func:`_ready`) lives here, at module level, because
the pool pickles it by its module path into every spawned worker.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
from typing import Any, Callable, Iterable, Iterator

#: Seconds between a pool worker's checks that its driver is alive.
PARENT_POLL = 0.25


def _watch_parent(parent: int, interval: float = PARENT_POLL) -> None:
    """Exit this process (``os._exit``) once ``parent`` is no longer its parent process.

    A daemon thread of every pool worker runs this: when the driver dies, even by SIGKILL
    (which leaves the pool no chance to stop its workers), the worker is re-parented (to init
    or a subreaper) and exits within ``interval`` seconds, dropping the unit it was running
    (only the driver writes the store; the unit runs again on resume). Polling rather than
    Linux's ``PR_SET_PDEATHSIG``: that signal follows the death of the *thread* that started
    the worker, and the pool starts workers from whichever thread submits.

    Parameters
    ----------
    parent : int
        The driver's process id.
    interval : float
        Seconds between checks.
    """
    import time

    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _worker_init(threads: int, preload: tuple[str, ...] = (), parent: int | None = None,
                 explicit: bool = False) -> None:
    """Limit a worker's threads (torch reads OMP_NUM_THREADS when it is first imported), watch
    its driver (:func:`_watch_parent`) and import the kind's modules once, at start-up.

    ``explicit``: ``threads`` was asked for (it replaces an inherited OMP_NUM_THREADS)."""
    if parent is not None:
        import threading

        threading.Thread(target=_watch_parent, args=(parent,), name="nclab-parent-watch", daemon=True).start()
    if explicit:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if "torch" in sys.modules:  # imported already (e.g. by the unpickled kind): set it directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    import importlib

    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # pragma: no cover - the run itself will report it
            pass


def _ready() -> int:
    return os.getpid()


class LocalExecutor:
    """A ``concurrent.futures`` process pool of ``workers`` spawned processes.

    Each worker exits when the driver dies (:func:`_watch_parent`).

    Parameters
    ----------
    workers : int, optional
        Number of processes (default: one per core).
    threads_per_worker : int, optional
        Torch threads of each worker (default: the count of an enclosing ``nclab.threads(n)``
        block, else 1; an inherited ``OMP_NUM_THREADS`` wins over the default but not over an
        explicit count).
    preload : tuple of str, optional
        Modules each worker imports when it starts.

    Examples
    --------
    >>> ex = LocalExecutor(1)  # no process starts before the first submit
    >>> ex.name, ex.threads_per_worker
    ('local:1', 1)
    >>> ex.close()
    """

    def __init__(self, workers: int | None = None, *, threads_per_worker: int | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        from nclab._threads import explicit

        cores = os.cpu_count() or 1
        self.workers = int(workers or cores)
        asked = threads_per_worker or explicit()
        self.threads_per_worker = int(asked or 1)
        self.name = f"local:{self.workers}"
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.threads_per_worker, tuple(preload), os.getpid(), asked is not None),
        )

    def warm(self) -> None:
        """Start every worker now (they import torch and the kind while the driver validates).

        Returns
        -------
        None
        """
        self._warm = [self._pool.submit(_ready) for _ in range(self.workers)]

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        """Submit ``fn(*args)``.

        Parameters
        ----------
        fn : callable
            A module-level function (pickled for process pools).
        *args
            Its arguments.

        Returns
        -------
        future
            An object with ``result()`` and ``cancel()``.
        """
        return self._pool.submit(fn, *args)

    def as_completed(self, futures: Iterable[cf.Future]) -> Iterator[cf.Future]:
        """The futures in the order they finish.

        Parameters
        ----------
        futures : iterable of future
            Futures from :meth:`submit`.

        Returns
        -------
        iterator of future
            The same futures, finished ones first.
        """
        return cf.as_completed(list(futures))

    def cancel(self, futures: Iterable[cf.Future]) -> None:
        """Cancel the futures that have not started.

        Parameters
        ----------
        futures : iterable of future
            Futures from :meth:`submit`.

        Returns
        -------
        None
        """
        for f in futures:
            f.cancel()

    def close(self) -> None:
        """Release the workers (waiting for running units).

        Returns
        -------
        None
        """
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop the workers without waiting (bad input found after they were started).

        Returns
        -------
        None
        """
        terminate = getattr(self._pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
        else:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
