"""The Dask executors: a ``distributed.Client`` to an existing scheduler or to a LocalCluster it owns.

Specs (see :func:`nclab.sweep.executors.parse_executor`):
- ``dask://HOST:PORT`` (or ``tcp://HOST:PORT``): an existing Dask distributed scheduler, e.g.
  one started by dask-jobqueue on a SLURM cluster (docs/sweeps.md).
- ``dask-local:N`` (or ``dask-local``: one per core): a Dask ``LocalCluster`` of N
  single-threaded worker processes on 127.0.0.1, started for the sweep and closed after it.

dask.distributed is an optional extra (``nclab[dist]``), imported only when an executor is made.
:func:`_import_all` is sent to the workers by its module path (``client.run``).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

#: Seconds to wait for a Dask scheduler before calling it unreachable.
DASK_CONNECT_TIMEOUT = 10.0


def _import_all(modules: tuple[str, ...]) -> int:
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # pragma: no cover - the run itself will report it
            pass
    return os.getpid()


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
