"""Executors: where the units of a sweep run. Workers compute and return; only the driver writes.

Specs (``--executor``), parsed by :func:`parse_executor` and made by :func:`make_executor`:
- ``local`` / ``local:N``: a process pool of N workers on this machine (default: one per core;
  N is at most the core count, as for ``dask-local:N``: more processes than cores only slow down);
  one torch thread per worker unless told; workers exit when the driver dies
  (:class:`nclab.sweep.local_executor.LocalExecutor`).
- ``inline``: run in the driver's process, one unit after the other (debugging; experiments
  that sweep inside ``nclab reproduce``): :class:`InlineExecutor`, here.
- ``dask://HOST:PORT`` (or ``tcp://HOST:PORT``): an existing Dask distributed scheduler, e.g.
  one started by dask-jobqueue on a SLURM cluster (docs/sweeps.md);
  ``dask-local:N`` (or ``dask-local``: one per core): a Dask ``LocalCluster`` of N
  single-threaded worker processes on 127.0.0.1, started for the sweep and closed after it
  (:class:`nclab.sweep.dask_executor.DaskExecutor`).

Every executor has ``submit(fn, *args) -> future``, ``as_completed(futures)`` yielding
futures as they finish (each with ``.result()``), ``cancel(futures)`` and ``close()``.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator

from nclab._validation import fail
from nclab.sweep.dask_executor import DASK_CONNECT_TIMEOUT, DaskExecutor
from nclab.sweep.local_executor import LocalExecutor


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
