"""How many intra-op threads torch uses for nclab's work.

Torch runs each op on every physical core by default. Most of nclab's ops are small (a batch
of UFMs of width ~10-100 on ~50 samples): splitting them gains little on an idle machine, and
on a loaded one an intra-op thread that the scheduler preempted holds the whole op up for a
time slice, so a run beside two busy processes took tens of times longer than alone
(issue 17). The policy here:

- ``auto`` (the default): one thread when the work per op is below :data:`THRESHOLD`, every
  core (:func:`cores`) above it. The engine (:func:`nclab.train`) decides per call, from the
  size of its largest matmul (:func:`ufm_work`), and puts the previous count back afterwards.
- The user's choice wins: ``auto`` changes nothing when ``OMP_NUM_THREADS`` or
  ``MKL_NUM_THREADS`` is set, or when ``torch.get_num_threads()`` differs from torch's default
  (the user called ``torch.set_num_threads``).
- The ``nclab`` command's verbs that run small problems (``train``, ``run``, ``reproduce``,
  ``sweep``) apply ``auto`` to the whole command: one thread, except the engine's calls above
  the threshold (:data:`nclab.cli.SMALL_WORK`).
- An explicit count: ``with nclab.threads(4): ...`` (or ``--threads 4`` on the computing
  verbs of the ``nclab`` command) runs the block with that many threads, whatever the workload,
  and restores the previous count on exit. A local sweep pool started inside the block gives
  its workers that many threads each (one each otherwise: the pool's processes already fill
  the cores).

The threshold, measured with ``python bench/threads.py --train`` on the project's 2-core
machine (torch 2.13 CPU build, float32; the machine was shared with other work, load 1-6):
whole ``nclab.train`` calls of the Garrod & Keating deep linear UFM (K = 10, n = 5, so
N = 50, L = 2, 300 GD steps), best of 3, one thread against two. Work per op is the
largest matmul of one step, ``2 S d^2 N`` flops (:func:`ufm_work`).

====  ====  =======  ===============  ===========================
S     d     work     2 threads gain   note
====  ====  =======  ===============  ===========================
4     12    5.8e4    0.77x
16    12    2.3e5    1.00x
4     30    3.6e5    0.96x
64    12    9.2e5    0.92x
16    30    1.4e6    1.01x
4     80    2.6e6    0.88x
64    30    5.8e6    0.55x            other processes running
16    80    1.0e7    0.89x
4     200   1.6e7    0.96x
256   30    2.3e7    0.30x            other processes running
64    80    4.1e7    1.68x
16    200   6.4e7    1.22x
64    200   2.6e8    0.24x            other processes running
====  ====  =======  ===============  ===========================

Below 2e7 flops two threads never gained (0.55-1.01x); from 4e7 they gained 1.2-1.7x while
the machine was quiet, and lost 3-4x whenever other processes ran. One batched matmul
``(S, d, d) @ (S, d, 50)`` alone (the first table of the same script, best of 15) gains
nothing below 1e5 flops (0.3-1.0x), 1.2-1.3x at 4e5, 1.2-1.8x at 1.6e6 and 1.6-2.6x from
2.6e7; its median beside other work shows the stalls (ops of a few microseconds taking
8 ms). The whole-call gain is smaller than the matmul's because a step is mostly small
elementwise ops. So :data:`THRESHOLD` is 3e7 flops: every measured size below it ran at
least as fast on one thread.

A ``torch.set_num_threads(n)`` with torch's own default ``n`` cannot be told from the
default: ``auto`` may then choose; ``nclab.threads(n)`` forces a count.

The state changed here is torch's process-wide intra-op count; the context managers are meant
for the main thread (they are not thread-safe).
"""
from __future__ import annotations

import contextlib
import glob
import os
from typing import Any, Iterator

from nclab._validation import fail

#: Work per op (flops of the largest matmul) from which ``auto`` uses every core.
THRESHOLD = 3e7

#: The environment variables that set torch's thread count when it starts.
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_explicit: list[int] = []   # counts of the enclosing ``threads(n)`` blocks
_policy: list[int] = []     # counts set by the enclosing ``for_work`` blocks
_default: list[int] = []    # torch's default, computed once


def _physical_cores() -> int:
    """Physical cores of the machine (torch's default count), from sysfs; else ``os.cpu_count()``."""
    cores = set()
    for topology in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology"):
        try:
            with open(os.path.join(topology, "core_id")) as f:
                core = f.read().strip()
            with open(os.path.join(topology, "physical_package_id")) as f:
                package = f.read().strip()
        except OSError:
            continue
        cores.add((package, core))
    return len(cores) or os.cpu_count() or 1


def torch_default() -> int:
    """The intra-op thread count torch starts with when no environment variable sets it.

    Returns
    -------
    int
        The machine's physical cores (what torch's ``intraop_default_num_threads`` counts).
    """
    if not _default:
        _default.append(_physical_cores())
    return _default[0]


def cores() -> int:
    """The cores ``auto`` uses for large work: torch's default, at most the CPUs this process may run on.

    Returns
    -------
    int
        ``min(torch_default(), len(os.sched_getaffinity(0)))``, at least 1.
    """
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        allowed = os.cpu_count() or 1
    return max(1, min(torch_default(), allowed))


def user_threads() -> int | None:
    """The thread count the user chose, or ``None`` when nclab may choose.

    Returns
    -------
    int or None
        The count of the enclosing :func:`threads` block; else ``OMP_NUM_THREADS`` /
        ``MKL_NUM_THREADS`` when one is set (torch's current count, which it set from them);
        else torch's current count when it differs from :func:`torch_default` (the user
        called ``torch.set_num_threads``); else ``None``.
    """
    if _explicit:
        return _explicit[-1]
    import torch

    if any(os.environ.get(name, "").strip() for name in ENV_VARS):
        return torch.get_num_threads()
    if _policy:  # the count in force is the policy's own
        return None
    current = torch.get_num_threads()
    return None if current == torch_default() else current


def choose(work: float) -> int:
    """The ``auto`` count for ``work`` flops per op: 1 below :data:`THRESHOLD`, else :func:`cores`.

    Parameters
    ----------
    work : float
        Flops of the workload's typical (largest) op.

    Returns
    -------
    int
        The number of intra-op threads.
    """
    return 1 if work < THRESHOLD else cores()


def ufm_work(spec: Any, seeds: int) -> float:
    """Flops of one step's largest matmul of the batched engine: ``2 S d^2 N``.

    Parameters
    ----------
    spec : nclab.UFMSpec
        The model (its width ``d`` and sample count ``N``).
    seeds : int
        Seeds trained at once, ``S``.

    Returns
    -------
    float
        ``2 * seeds * spec.d ** 2 * spec.N``.
    """
    return 2.0 * seeds * spec.d ** 2 * spec.N


def parse(value: Any, name: str = "threads") -> int | None:
    """Check a thread setting: a positive integer (or its text), or ``"auto"`` / ``None``.

    Parameters
    ----------
    value : int, str or None
        ``"auto"`` or ``None`` (the policy decides), or a count ``1..os.cpu_count()``.
    name : str
        The parameter named in the error (``--threads`` on the command line).

    Returns
    -------
    int or None
        The count, or ``None`` for ``auto``.

    Raises
    ------
    ValueError
        Naming ``name``, the value and what is allowed.
    """
    limit = os.cpu_count() or 1
    allowed = f"'auto' or an integer in 1..{limit} (the cores of this machine)"
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        fail(name, value, allowed)
    if not 1 <= number <= limit:
        fail(name, value, allowed)
    return number


def _set(n: int) -> int:
    """Set torch's intra-op count to ``n``; returns the previous count."""
    import torch

    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(n)
    return previous


@contextlib.contextmanager
def threads(n: int | str | None = "auto") -> Iterator[int | None]:
    """Run a block with ``n`` torch intra-op threads, or under the ``auto`` policy.

    Parameters
    ----------
    n : int, "auto" or None
        A count ``1..os.cpu_count()``: every op of the block uses that many threads (the
        engine's policy leaves it alone) and a local sweep pool started in the block gives its
        workers that many each. ``"auto"`` / ``None``: nothing changes here; the engine
        chooses per call (see the module docstring).

    Yields
    ------
    int or None
        The count in force, or ``None`` for ``auto``.

    Raises
    ------
    ValueError
        For a count that is not an integer in ``1..os.cpu_count()``.

    Examples
    --------
    >>> import nclab, torch
    >>> before = torch.get_num_threads()
    >>> with nclab.threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    count = parse(n)
    if count is None:
        yield None
        return
    previous = _set(count)
    _explicit.append(count)
    try:
        yield count
    finally:
        _explicit.pop()
        _set(previous)


@contextlib.contextmanager
def for_work(work: float) -> Iterator[int]:
    """Run a block under the ``auto`` policy for ``work`` flops per op (the engine's entry).

    Parameters
    ----------
    work : float
        Flops of the block's typical op (e.g. :func:`ufm_work`).

    Yields
    ------
    int
        The count in force in the block: the user's (:func:`user_threads`) when there is one,
        else :func:`choose` of ``work``. The previous count is restored on exit.
    """
    if user_threads() is not None:
        import torch

        yield torch.get_num_threads()
        return
    count = choose(work)
    previous = _set(count)
    _policy.append(count)
    try:
        yield count
    finally:
        _policy.pop()
        _set(previous)


def explicit() -> int | None:
    """The count of the innermost enclosing :func:`threads` block, or ``None`` outside one.

    Returns
    -------
    int or None
        What a local sweep pool gives each worker when set (one thread each otherwise).
    """
    return _explicit[-1] if _explicit else None
