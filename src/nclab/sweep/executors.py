"""Executors: where the units of a sweep run. Workers compute and return; only the driver writes.

Specs (``--executor``):
- ``local`` / ``local:N``: a process pool of N workers on this machine (default: one per core;
  N is at most the core count, as for ``dask-local:N``: more processes than cores only slow down);
  each worker uses one torch thread (the workers already fill the cores; more threads per
  worker spin against each other), or the count of an enclosing ``nclab.threads(n)`` block /
  ``nclab sweep --threads n``. ``OMP_NUM_THREADS``, when set, is kept. Workers are started with
  ``spawn`` (safe with torch's thread pools). A worker whose driver died (even by SIGKILL)
  exits within :data:`PARENT_POLL` seconds: no orphans.
- ``inline``: run in the driver's process, one unit after the other (debugging; experiments
  that sweep inside ``nclab reproduce``).
- ``dask://HOST:PORT`` (or ``tcp://HOST:PORT``): an existing Dask distributed scheduler, e.g.
  one started by dask-jobqueue on a SLURM cluster (docs/sweeps.md).
- ``dask-local:N`` (or ``dask-local``: one per core): a Dask ``LocalCluster`` of N
  single-threaded worker processes on 127.0.0.1, started for the sweep and closed after it.

Every executor has ``submit(fn, *args) -> future``, ``as_completed(futures)`` yielding
futures as they finish (each with ``.result()``), ``cancel(futures)`` and ``close()``.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
from typing import Any, Callable, Iterable, Iterator

from nclab._validation import fail

#: Seconds to wait for a Dask scheduler before calling it unreachable.
DASK_CONNECT_TIMEOUT = 10.0

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


def _import_all(modules: tuple[str, ...]) -> int:
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # pragma: no cover - the run itself will report it
            pass
    return os.getpid()


class _DoneFuture:
    """A finished future (for the inline executor)."""

    def __init__(self, fn: Callable, args: tuple):
        self._fn, self._args = fn, args

    def result(self) -> Any:
        return self._fn(*self._args)

    def cancel(self) -> bool:
        return True


class InlineExecutor:
    """Runs each unit in the driver's process when its result is asked for.

    Examples
    --------
    >>> ex = InlineExecutor()
    >>> [f.result() for f in ex.as_completed([ex.submit(pow, 2, 5)])]
    [32]
    >>> ex.close()
    """

    name = "inline"
    workers = 1

    def submit(self, fn: Callable, *args: Any) -> _DoneFuture:
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
        return _DoneFuture(fn, args)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
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
        yield from futures

    def cancel(self, futures: Iterable[Any]) -> None:
        """Cancel the futures that have not started.

        Parameters
        ----------
        futures : iterable of future
            Futures from :meth:`submit`.

        Returns
        -------
        None
        """
        pass

    def close(self) -> None:
        """Release the workers (waiting for running units).

        Returns
        -------
        None
        """
        pass


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


class DaskExecutor:
    """A Dask distributed client: to an existing scheduler, or to a LocalCluster it owns.

    Parameters
    ----------
    client : distributed.Client
        The client.
    cluster : distributed.LocalCluster, optional
        A cluster this executor owns and closes.
    name : str, optional
        Its name in summaries.

    Examples
    --------
    >>> ex = DaskExecutor.local_cluster(1, processes=False)  # doctest: +SKIP
    >>> ex.submit(pow, 2, 5).result()  # doctest: +SKIP
    32
    >>> ex.close()  # doctest: +SKIP
    """

    def __init__(self, client: Any, cluster: Any = None, name: str = "dask") -> None:
        self.client, self.cluster, self.name = client, cluster, name
        try:
            self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        except Exception:  # pragma: no cover
            self.workers = 1

    @classmethod
    def connect(cls, address: str, timeout: float = DASK_CONNECT_TIMEOUT) -> "DaskExecutor":
        """Connect to the scheduler at ``address`` (``dask://`` or ``tcp://HOST:PORT``).

        Parameters
        ----------
        address : str
            The scheduler's address.
        timeout : float, optional
            Seconds to wait for it.

        Returns
        -------
        DaskExecutor
            The connected executor.

        Raises
        ------
        ValueError
            If the scheduler cannot be reached within ``timeout`` seconds, or dask.distributed is
            not installed.
        """
        distributed = _import_distributed()
        target = "tcp://" + address.split("://", 1)[1] if "://" in address else "tcp://" + address
        try:
            client = distributed.Client(target, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ValueError(
                f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({type(exc).__name__}: {exc})"
            ) from None
        return cls(client, None, f"dask:{target}")

    @classmethod
    def local_cluster(cls, n_workers: int, *, processes: bool = True, threads_per_worker: int = 1) -> "DaskExecutor":
        """Start a ``LocalCluster`` (worker processes on 127.0.0.1, or threads in this process
        with ``processes=False``; no dashboard) and connect to it.

        Parameters
        ----------
        n_workers : int
            Number of workers.
        processes : bool, optional
            Worker processes (default) or threads.
        threads_per_worker : int, optional
            Threads of each worker.

        Returns
        -------
        DaskExecutor
            An executor owning the cluster.

        Raises
        ------
        ValueError
            If dask.distributed is not installed.
        """
        distributed = _import_distributed()
        network = {"host": "127.0.0.1"} if processes else {}  # threads: in-process transport, no socket
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
            **network,
        )
        client = distributed.Client(cluster, set_as_default=False)
        return cls(client, cluster, f"dask-local:{n_workers}")

    def warm(self, preload: tuple[str, ...] = ()) -> None:
        """Import the kind's modules on every worker now (not inside the first batch).

        Parameters
        ----------
        preload : tuple of str, optional
            Module names.

        Returns
        -------
        None
        """
        if preload:
            try:
                self.client.run(_import_all, tuple(preload))
            except Exception:  # pragma: no cover - a worker that cannot import reports it per batch
                pass

    def submit(self, fn: Callable, *args: Any) -> Any:
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
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
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
        distributed = _import_distributed()
        return iter(distributed.as_completed(list(futures), loop=self.client.loop))

    def cancel(self, futures: Iterable[Any]) -> None:
        """Cancel the futures that have not started.

        Parameters
        ----------
        futures : iterable of future
            Futures from :meth:`submit`.

        Returns
        -------
        None
        """
        futures = list(futures)
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        """Release the workers (waiting for running units).

        Returns
        -------
        None
        """
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:  # pragma: no cover - optional extra
        raise ValueError("the Dask executors need dask.distributed: pip install 'nclab[dist]'") from None
    return distributed


def parse_executor(spec: str) -> tuple[str, Any]:
    """Check an executor spec without starting anything: ``(type, argument)``.

    Parameters
    ----------
    spec : str
        ``local``, ``local:N``, ``inline``, ``dask://HOST:PORT``, ``tcp://HOST:PORT``,
        ``dask-local`` or ``dask-local:N``.

    Returns
    -------
    tuple
        ``("local", N or None)``, ``("inline", None)``, ``("dask", address)`` or
        ``("dask-local", N or None)`` (None: one worker per core).

    Raises
    ------
    ValueError
        A malformed spec, or N outside 1..cores (names ``executor``).

    Examples
    --------
    >>> parse_executor("inline"), parse_executor("local:1"), parse_executor("dask://10.0.0.1:8786")
    (('inline', None), ('local', 1), ('dask', 'dask://10.0.0.1:8786'))
    >>> parse_executor("local:0")
    Traceback (most recent call last):
    ...
    ValueError: executor must be local:N with N an integer in 1..., got 'local:0'
    """
    allowed = "local, local:N, inline, dask://HOST:PORT, tcp://HOST:PORT, dask-local or dask-local:N"
    if not isinstance(spec, str):
        fail("executor", spec, allowed)
    text = spec.strip()
    if text == "inline":
        return ("inline", None)
    if text in ("local", "dask-local"):
        return (text, None)
    for prefix in ("local:", "dask-local:"):
        if text.startswith(prefix):
            n = text[len(prefix):]
            cores = os.cpu_count() or 1
            if not n.isdigit() or not 1 <= int(n) <= cores:
                fail("executor", spec, f"{prefix}N with N an integer in 1..{cores} (the cores of this machine)")
            return (prefix[:-1], int(n))
    if text.startswith(("dask://", "tcp://")):
        hostport = text.split("://", 1)[1]
        host, sep, port = hostport.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            fail("executor", spec, "dask://HOST:PORT with a port 1..65535")
        return ("dask", text)
    fail("executor", spec, allowed)
    raise AssertionError  # unreachable


def make_executor(spec: Any, *, dask_timeout: float = DASK_CONNECT_TIMEOUT, preload: tuple[str, ...] = ()) -> Any:
    """An executor from a spec string (see :func:`parse_executor`) or an executor object.

    Parameters
    ----------
    spec : str or executor
        A spec string, or an object with ``submit``, ``as_completed`` and ``close`` (returned
        as is).
    dask_timeout : float, optional
        Seconds to wait for a Dask scheduler.
    preload : tuple of str, optional
        Modules a local pool's workers import when they start.

    Returns
    -------
    InlineExecutor, LocalExecutor or DaskExecutor
        The executor.

    Raises
    ------
    ValueError
        A malformed spec, an object that is not an executor, or an unreachable scheduler.

    Examples
    --------
    >>> ex = make_executor("inline")
    >>> ex.name, make_executor(ex) is ex
    ('inline', True)
    """
    if not isinstance(spec, str):
        if all(hasattr(spec, a) for a in ("submit", "as_completed", "close")):
            return spec
        fail("executor", spec, "an executor spec string or an executor object")
    kind, arg = parse_executor(spec)
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        return LocalExecutor(arg, preload=preload)
    if kind == "dask":
        return DaskExecutor.connect(arg, timeout=dask_timeout)
    return DaskExecutor.local_cluster(arg or os.cpu_count() or 1)
