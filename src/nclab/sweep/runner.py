"""The sweep driver: validate, plan, skip what is done, dispatch batches, write results.

The unit of work is one (config, seed); the seeds of one config still to run go to the
workers in chunks of ``batch`` as ONE call of the kind's run function (one batched training
run). Workers return plain results; only this driver writes, one transaction per batch.
Everything (kind, keys, ranges, seeds, device, store file, executor, Dask connection) is
checked before the store is created or touched.
"""
from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from nclab._tensor import resolve_device
from nclab._validation import check_int, check_real, fail
from nclab.sweep import executors as _executors
from nclab.sweep.dask_executor import DASK_CONNECT_TIMEOUT, DaskExecutor
from nclab.sweep.grid import as_grid, chunks, config_hash, expand, parse_seeds
from nclab.sweep.kinds import REQUIRED, SweepKind
from nclab.sweep.reading import FINISHED, STATUSES, read_meta
from nclab.sweep.registry import get_kind
from nclab.sweep.store import Store, check_store_path, encode_history

#: The most runs (configs x seeds) of one sweep.
MAX_RUNS = 10_000_000
#: The longest wait for a Dask scheduler, in seconds (one day).
MAX_DASK_TIMEOUT = 86_400.0


class SweepIncomplete(RuntimeError):
    """Raised by :func:`run` after the last batch when workers failed.

    An infrastructure failure (a killed worker, a lost scheduler or node) is not a result of a
    run: the runs the failed workers held are left pending, never stored as ``error``; every
    other result is written, and the same call again runs the pending ones.

    Parameters
    ----------
    summary : SweepSummary
        The summary of the call; ``summary.lost`` counts the pending runs and
        ``summary.lost_errors`` holds the first failure messages. Kept as ``.summary``.

    Examples
    --------
    >>> summary = SweepSummary("s.sqlite", "ufm", "local:2", 1, 4, 4, 0, 4, done=2, lost=2,
    ...                        lost_errors=["KilledWorker: worker died"])
    >>> err = SweepIncomplete(summary)
    >>> isinstance(err, RuntimeError), err.summary.lost
    (True, 2)
    >>> print(err)
    2 of 4 runs were not finished because their worker failed (KilledWorker: worker died); they are still pending in s.sqlite: run the same command again to run them
    """

    def __init__(self, summary: "SweepSummary"):
        self.summary = summary
        first = summary.lost_errors[0] if summary.lost_errors else "unknown failure"
        super().__init__(
            f"{summary.lost} of {summary.submitted} runs were not finished because their worker "
            f"failed ({first}); they are still pending in {summary.store}: run the same command "
            "again to run them"
        )


@dataclass
class SweepPlan:
    """A validated sweep: the kind, its canonical configs (hash -> config) and the seeds.

    Parameters
    ----------
    kind : SweepKind
        The kind.
    preset : str or None
        The preset.
    configs : dict of str to dict
        Canonical configs by hash.
    seeds : list of int
        The seeds.
    grid : dict of str to list
        The swept axes.
    fixed : dict
        The fixed settings.

    Examples
    --------
    >>> plan("ufm", {"d": [4, 6]}, 3, fixed={"K": 3, "n": 2}).runs
    6
    """

    kind: SweepKind
    preset: str | None
    configs: dict[str, dict]
    seeds: list[int]
    grid: dict[str, list]
    fixed: dict[str, Any]

    @property
    def runs(self) -> int:
        """Number of runs: configs x seeds.

        Returns
        -------
        int
            ``len(configs) * len(seeds)``.

        Examples
        --------
        >>> plan("ufm", {"d": [4, 6, 8]}, "0:2", fixed={"K": 3, "n": 2}).runs
        6
        """
        return len(self.configs) * len(self.seeds)


@dataclass
class SweepSummary:
    """What one ``run`` did. ``done``/``diverged``/``error`` count the runs written now.

    Parameters
    ----------
    store : str
        The store's path.
    kind : str
        The kind's name.
    executor : str
        The executor's name.
    configs, seeds, planned, skipped, submitted : int
        Sizes of the sweep, and the runs skipped (already stored) and submitted.
    done, diverged, error : int
        Runs written now, by status.
    seconds : float
        Wall time.
    errors : list of str
        The first error messages.
    lost : int
        Runs whose worker failed (an infrastructure failure, not a result of the run): they
        are not written and stay pending, so the same call again runs them.
    lost_errors : list of str
        The first messages of those failures.

    Examples
    --------
    >>> SweepSummary("s.sqlite", "ufm", "inline", 1, 1, 1, 0, 1, done=1).to_dict()["done"]
    1
    """

    store: str
    kind: str
    executor: str
    configs: int
    seeds: int
    planned: int
    skipped: int
    submitted: int
    done: int = 0
    diverged: int = 0
    error: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    lost: int = 0
    lost_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The summary as a plain dict (for JSON).

        Returns
        -------
        dict
            Every field by name.

        Examples
        --------
        >>> SweepSummary("s.sqlite", "ufm", "inline", 1, 2, 2, 0, 2, done=2).to_dict()["planned"]
        2
        """
        return asdict(self)


def plan(
    kind: str | SweepKind,
    grid: Mapping[str, Any] | Sequence[str] | None = None,
    seeds: Any = 10,
    *,
    fixed: Mapping[str, Any] | None = None,
    preset: str | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
) -> SweepPlan:
    """Validate a sweep and expand it into canonical configs; raises ``ValueError`` on bad input.

    Parameters
    ----------
    kind : str or SweepKind
        A kind's name or a :class:`SweepKind` (an experiment's, see
        :func:`nclab.experiments.sweep_kind`).
    grid : mapping or sequence of str, optional
        The axes: ``{key: [values] or "v1,v2" or "10:200:10"}`` or CLI strings.
    seeds : int, str or sequence of int, optional
        ``"A:B"``, a count or a list (default 10 seeds).
    fixed : mapping, optional
        Settings shared by every config (``--set``).
    preset : str, optional
        The kind's preset.
    points : sequence of mapping, optional
        An explicit list of grid points (dicts of settings) instead of the product of ``grid``'s
        axes.

    Returns
    -------
    SweepPlan
        The kind, the canonical configs by hash and the seeds.

    Raises
    ------
    ValueError
        An unknown key (named), a key both fixed and swept, a missing required key, both
        ``grid`` and ``points``, an empty grid, bad seeds, or more than :data:`MAX_RUNS` runs.

    Examples
    --------
    >>> p = plan("ufm", {"d": [4, 6]}, 2, fixed={"K": 3, "n": 2, "steps": 5})
    >>> p.runs, len(p.configs), p.seeds
    (4, 2, [0, 1])
    """
    k = kind if isinstance(kind, SweepKind) else get_kind(kind)
    if points is not None and grid:
        raise ValueError("give either grid axes or explicit points, not both")
    fixed = dict(fixed or {})
    if "preset" in fixed:
        if preset is not None and fixed["preset"] != preset:
            raise ValueError(f"preset given twice with different values: {preset!r} and {fixed['preset']!r}")
        preset = fixed.pop("preset")
    axes = as_grid(grid)
    keys = k.keys(preset)
    for key in axes:
        if key == "preset":
            raise ValueError("the preset cannot be a grid axis; run one sweep per preset")
        if key not in keys:
            fail(f"grid key of sweep kind {k.name!r}" + (f" (preset {preset})" if preset else ""), key,
                 "one of " + ", ".join(sorted(keys)))
    both = sorted(set(axes) & set(fixed))
    if both:
        raise ValueError(f"key {both[0]!r} is given both as a fixed setting (--set) and as a grid axis (--grid)")
    missing = [k for k, v in keys.items() if v is REQUIRED and k not in fixed and k not in axes]
    if missing:
        raise ValueError(
            f"sweep kind {k.name!r}" + (f" (preset {preset})" if preset else "")
            + f" needs a value for {', '.join(repr(m) for m in missing)} (--set KEY=VALUE or --grid KEY=...)"
        )
    if points is not None:
        for point in points:
            for key in point:
                if key not in keys:
                    fail(f"grid key of sweep kind {k.name!r}", key, "one of " + ", ".join(sorted(keys)))
        points = [dict(p) for p in points]
    else:
        points = expand(axes)
    if not points:
        raise ValueError("the grid is empty")
    configs: dict[str, dict] = {}
    for point in points:
        try:
            cfg = k.canonical({**fixed, **point}, preset)
        except ValueError as exc:
            if not point:
                raise
            raise ValueError(f"grid point {point}: {exc}") from None
        configs.setdefault(config_hash(cfg, k.name), cfg)
    seed_list = parse_seeds(seeds)
    if len(configs) * len(seed_list) > MAX_RUNS:
        raise ValueError(f"the sweep has {len(configs)} configs x {len(seed_list)} seeds = "
                         f"{len(configs) * len(seed_list):,} runs, more than {MAX_RUNS:,}; split it into several sweeps")
    return SweepPlan(k, preset, configs, seed_list, axes, fixed)


def check_device(device: Any, *, local: bool = True) -> str:
    """A torch device string, checked before any work.

    Parameters
    ----------
    device : str or torch.device
        The device of the runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    local : bool, default True
        The executor runs on this machine (``inline``, ``local``): the device must exist here
        (:func:`nclab._tensor.resolve_device`); ``False`` (Dask): it is only parsed.

    Returns
    -------
    str
        The device as torch writes it.

    Raises
    ------
    ValueError
        A string torch does not parse as a device, or (``local``) a device this machine lacks.

    Examples
    --------
    >>> check_device("cpu"), check_device("cuda:1", local=False)
    ('cpu', 'cuda:1')
    >>> check_device("gpu", local=False)
    Traceback (most recent call last):
    ...
    ValueError: device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'
    """
    if local:
        return str(resolve_device(device))
    import torch

    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError):
        fail("device", device, "a torch device such as 'cpu', 'cuda' or 'cuda:1'")


def execute_unit(run_fn: Any, config: dict, seeds: list[int], device: str) -> dict:
    """Run one batch in a worker and return plain results (never raises for a failing run).

    Histories are already compressed here, off the driver.

    Parameters
    ----------
    run_fn : callable
        The kind's run function ``run_fn(config, seeds, device) -> list[dict]``.
    config : dict
        The canonical config of the batch.
    seeds : list of int
        The batch's seeds.
    device : str
        The torch device.

    Returns
    -------
    dict
        ``results``: per seed ``{"status", "error", "metrics", "history"}`` (history as
        :func:`nclab.sweep.store.encode_history` bytes), or ``None`` when the call raised or
        returned the wrong number of results; ``error``: then the exception's type, message and
        place, else ``None``; ``seconds``: the batch's wall time; ``worker``: ``host:pid``;
        ``finished_at``: an ISO UTC time stamp. An unknown status becomes an ``error`` result.

    Examples
    --------
    >>> def toy(config, seeds, device):
    ...     return [{"metrics": {"score": config["n"] + s}} for s in seeds]
    >>> out = execute_unit(toy, {"n": 10}, [0, 1], "cpu")
    >>> [(r["status"], r["metrics"]) for r in out["results"]], out["error"]
    ([('done', {'score': 10}), ('done', {'score': 11})], None)
    >>> out = execute_unit(toy, {}, [0], "cpu")
    >>> out["results"], out["error"]
    (None, "KeyError: 'n' (at <doctest ...>:2)")
    """
    start = time.perf_counter()
    error = None
    results = None
    try:
        raw = run_fn(dict(config), list(seeds), device)
        if not isinstance(raw, (list, tuple)) or len(raw) != len(seeds):
            raise RuntimeError(f"kind returned {type(raw).__name__} of length "
                               f"{len(raw) if hasattr(raw, '__len__') else '?'} for {len(seeds)} seeds")
        results = []
        for item in raw:
            status = item.get("status", "done")
            if status not in STATUSES:
                status, item = "error", {"error": f"kind returned an unknown status {status!r}"}
            results.append(
                {
                    "status": status,
                    "error": item.get("error"),
                    "metrics": dict(item.get("metrics") or {}),
                    "history": encode_history(item.get("history")),
                }
            )
    except Exception as exc:  # a failing run is a result, not a crash of the sweep
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
        error = f"{type(exc).__name__}: {exc}{where}"
        results = None
    return {
        "results": results,
        "error": error,
        "seconds": time.perf_counter() - start,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _rows(kind: str, chash: str, config: dict, seeds: list[int], device: str, out: dict) -> list[dict]:
    n = len(seeds)
    common = {
        "config_hash": chash,
        "kind": kind,
        "config": config,
        "batch_seconds": out["seconds"],
        "batch_size": n,
        "seconds": out["seconds"] / n,
        "finished_at": out["finished_at"],
        "device": device,
        "worker": out["worker"],
    }
    if out["results"] is None:
        return [dict(common, seed=s, status="error", error=out["error"], metrics={}, history=None) for s in seeds]
    return [dict(common, seed=s, **r) for s, r in zip(seeds, out["results"])]


def run(
    kind: str | SweepKind,
    grid: Mapping[str, Any] | Sequence[str] | None = None,
    seeds: Any = 10,
    store: str | os.PathLike = "sweep.sqlite",
    *,
    fixed: Mapping[str, Any] | None = None,
    preset: str | None = None,
    executor: Any = "local",
    batch: int = 64,
    retry_errors: bool = False,
    device: str = "cpu",
    progress: bool | None = None,
    dask_timeout: float = DASK_CONNECT_TIMEOUT,
    points: Sequence[Mapping[str, Any]] | None = None,
) -> SweepSummary:
    """Run a sweep of ``kind`` over ``grid`` x ``seeds`` into the SQLite ``store`` (resumable).

    Runs already in the store as ``done``/``diverged`` are skipped, and ``error`` runs unless
    ``retry_errors``. See docs/sweeps.md.

    Parameters
    ----------
    kind : str or SweepKind
        A kind's name or a :class:`SweepKind`.
    grid : mapping or sequence of str, optional
        ``{key: [values] or "v1,v2" or "10:200:10"}`` or CLI strings ``["d=10:200:10"]``.
    seeds : int, str or sequence of int, optional
        ``"A:B"``, a count or a list (default 10 seeds).
    store : str or os.PathLike, optional
        The SQLite file (created, or resumed).
    fixed : mapping, optional
        Settings shared by every config (``--set``).
    preset : str, optional
        The kind's preset.
    executor : str or executor, optional
        ``local[:N]``, ``inline``, ``dask://HOST:PORT``, ``dask-local:N`` or an executor object
        (not closed here).
    batch : int, optional
        Seeds per batched call, >= 1.
    retry_errors : bool, optional
        Run again the runs stored as ``error``.
    device : str, optional
        Torch device of the runs.
    progress : bool, optional
        ``False``: nothing is shown; default: a bar in a terminal or notebook, log lines with
        the elapsed time and an estimate of the time left elsewhere (:mod:`nclab._progress`).
    dask_timeout : float, optional
        Seconds to wait for a Dask scheduler.
    points : sequence of mapping, optional
        Explicit grid points instead of ``grid`` (see :func:`plan`).

    Returns
    -------
    SweepSummary
        What was planned, skipped, submitted and written.

    Raises
    ------
    ValueError
        Bad input (as :func:`plan`, or a bad ``batch``, ``executor``, ``device`` or store path)
        raises before anything is written.
    SweepIncomplete
        After the last batch, when workers failed (see :class:`SweepIncomplete`): every result
        that came back is written, the failed workers' runs stay pending.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> fixed = {"K": 3, "n": 2, "d": 4, "steps": 5}
    >>> summary = run("ufm", None, 1, path, fixed=fixed, executor="inline", progress=False)
    >>> summary.planned, summary.done
    (1, 1)
    >>> run("ufm", None, 1, path, fixed=fixed, executor="inline", progress=False).skipped  # resumed
    1
    """
    start = time.perf_counter()
    kind_obj = kind if isinstance(kind, SweepKind) else get_kind(kind)
    batch = check_int("batch", batch, minimum=1)
    dask_timeout = check_real("dask_timeout", dask_timeout, minimum=0.0, strict=True, maximum=MAX_DASK_TIMEOUT)
    spec_type = _executors.parse_executor(executor)[0] if isinstance(executor, str) else "object"
    device = check_device(device, local=spec_type in ("local", "inline"))
    path = check_store_path(store)
    owned = isinstance(executor, str)
    ex = None
    if spec_type == "local":  # start the workers now: they import while the configs are validated
        ex = _executors.make_executor(executor, preload=kind_obj.preload)
        ex.warm()
    try:
        try:
            sweep = plan(kind_obj, grid, seeds, fixed=fixed, preset=preset, points=points)
            meta = read_meta(path)
            if meta is not None and meta.get("kind") != sweep.kind.name:
                raise ValueError(f"store {str(path)!r} holds a sweep of kind {meta.get('kind')!r}, "
                                 f"not {sweep.kind.name!r}")
        except BaseException:
            if ex is not None:
                ex.abort()
                ex = None
            raise
        if ex is None:  # a Dask scheduler is reached only once the input is known to be good
            ex = _executors.make_executor(executor, dask_timeout=dask_timeout, preload=kind_obj.preload)
            if isinstance(ex, DaskExecutor):
                ex.warm(kind_obj.preload)
        keys = list(next(iter(sweep.configs.values())))
        with Store(path, sweep.kind.name, keys, profile=sweep.kind.profile) as st:
            st.plan((h, s) for h in sweep.configs for s in sweep.seeds)
            existing = st.statuses()
            skip = set(FINISHED) if retry_errors else set(FINISHED) | {"error"}
            units = []
            skipped = 0
            for h, cfg in sweep.configs.items():
                todo = [s for s in sweep.seeds if existing.get((h, s)) not in skip]
                skipped += len(sweep.seeds) - len(todo)
                units.extend((h, cfg, part) for part in chunks(todo, batch))
            summary = SweepSummary(
                store=str(path), kind=sweep.kind.name, executor=getattr(ex, "name", type(ex).__name__),
                configs=len(sweep.configs), seeds=len(sweep.seeds), planned=sweep.runs, skipped=skipped,
                submitted=sweep.runs - skipped,
            )
            if not units and owned and hasattr(ex, "abort"):  # nothing left to run: do not wait for start-up
                ex.abort()
                ex = None
            _dispatch(ex, sweep.kind, units, device, st, summary, progress)
    except BaseException:  # Ctrl-C or a failure of the driver: stop the workers, do not wait for them
        if owned and ex is not None and hasattr(ex, "abort"):
            ex.abort()
            ex = None
        raise
    finally:
        if owned and ex is not None:
            ex.close()
    summary.seconds = time.perf_counter() - start
    if summary.lost:
        raise SweepIncomplete(summary)
    return summary


def _dispatch(ex: Any, kind: SweepKind, units: list, device: str, st: Store, summary: SweepSummary,
              progress: bool | None) -> None:
    if not units:
        return
    from nclab._progress import Progress

    futures = {}
    for h, cfg, seeds in units:
        futures[ex.submit(execute_unit, kind.run, cfg, seeds, device)] = (h, cfg, seeds)
    # a bar in a terminal or notebook, log lines with an estimate elsewhere (nclab._progress)
    bar = Progress(summary.submitted, f"sweep {kind.name}", enabled=progress, unit="run")
    pending = set(futures)
    try:
        for fut in ex.as_completed(list(futures)):
            h, cfg, seeds = futures[fut]
            try:
                out = fut.result()
            except Exception as exc:  # the worker itself failed (killed, lost node): not a result
                pending.discard(fut)
                summary.lost += len(seeds)
                message = f"{type(exc).__name__}: {exc}".strip()
                if len(summary.lost_errors) < 5 and message not in summary.lost_errors:
                    summary.lost_errors.append(message)
                bar.update(len(seeds))
                continue
            rows = _rows(kind.name, h, cfg, seeds, device, out)
            st.write(rows)
            pending.discard(fut)
            for r in rows:
                setattr(summary, r["status"], getattr(summary, r["status"]) + 1)
                if r["status"] == "error" and len(summary.errors) < 5 and r["error"] not in summary.errors:
                    summary.errors.append(r["error"])
            bar.update(len(rows), f"done={summary.done}, diverged={summary.diverged}, failed={summary.error}")
    except BaseException:
        ex.cancel(pending)
        raise
    finally:
        bar.close()
