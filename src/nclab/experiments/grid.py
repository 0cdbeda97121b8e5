"""Multi-seed experiments run their grid of (config, seed) units through the sweep engine.

A multi-seed experiment (Garrod & Keating's width, lambda, Fig. 1 and ReLU runs) declares a
:class:`Grid`: the *unit* (a sweep kind's run function: one grid point, a batch of seeds, one
batched training call), the unit's config table, how the experiment's config maps to grid
points, and a *judge* that turns the stored rows into claims and figures. ``nclab run``
then plans the grid x seeds with :func:`nclab.sweep.plan`, runs what the store does not hold
yet (a temporary store unless ``store`` is given, so a long run resumes), and judges the rows;
``nclab sweep EXPERIMENT --grid ...`` runs the same unit kind over any grid; and
``nclab report STORE`` judges a store's rows again. One unit, one row format, one path.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from nclab.config import Param, defaults, validate
from nclab.sweep.kinds import RunFunction, SweepKind


@dataclass(frozen=True)
class Grid:
    """How a multi-seed experiment runs through the sweep engine.

    Parameters
    ----------
    unit : callable
        A module-level function ``unit(config, seeds, device) -> list[dict]``: one dict per seed
        with ``status``, ``metrics`` (flat numbers/strings) and optionally ``history`` (see
        :mod:`nclab.sweep.kinds`).
    params : mapping of str to Param
        The unit's config table: scalar keys only (one grid point).
    points : callable
        ``points(config) -> list[dict]``: the grid points of an experiment config, each a dict
        of the unit keys that vary; the other unit keys take the experiment config's value of
        the same name (or the unit table's default).
    judge : callable
        ``judge(config, rows) -> Outcome``: claims, figures and tables from the rows (a
        DataFrame as :func:`nclab.sweep.load` returns, restricted to this config's points and
        seeds).
    seeds_key : str
        The experiment key that holds the seeds (a :class:`nclab.seeds.Seeds` key).
    check : callable, optional
        ``check(unit_config)``: the cross-key checks of one grid point that the table cannot
        express (e.g. ``d >= K``), raising ``ValueError`` naming the key; run when a sweep is
        planned, before any work.

    Examples
    --------
    A toy unit (one score per seed) over two grid points, judged by the mean score:

    >>> from nclab.config import Int, Param
    >>> from nclab.experiments.registry import Outcome
    >>> def unit(config, seeds, device):
    ...     return [{"status": "done", "metrics": {"score": 10 * config["n"] + s}} for s in seeds]
    >>> def judge(config, rows):
    ...     return Outcome(metrics={"mean": float(rows["score"].mean())})
    >>> grid = Grid(unit, {"n": Param(1, Int(minimum=1))}, lambda c: [{"n": n} for n in c["ns"]], judge)
    >>> run_grid("demo", grid, {"ns": [1, 2], "seeds": [0, 1]}, progress=False).metrics
    {'mean': 15.5}
    """

    unit: RunFunction
    params: Mapping[str, Param]
    points: Callable[[dict], list[dict]]
    judge: Callable[[dict, pd.DataFrame], Any]
    seeds_key: str = "seeds"
    check: Callable[[dict], None] | None = None


def grid_kind(name: str, grid: Grid, profile: str | None = None) -> SweepKind:
    """The sweep kind of a multi-seed experiment: its unit over the unit's config table.

    Parameters
    ----------
    name : str
        The kind's name (the experiment's).
    grid : Grid
        The experiment's grid; its ``unit`` is the kind's run function, its ``params`` the
        kind's keys and defaults, its ``check`` part of the kind's ``normalize``.
    profile : {"quick", "full"}, optional
        The experiment profile the defaults come from, recorded in the store.

    Returns
    -------
    nclab.sweep.kinds.SweepKind
        The kind; its ``normalize`` validates a unit config against ``grid.params`` and runs
        ``grid.check``.

    Examples
    --------
    >>> from nclab.experiments.registry import get
    >>> kind = grid_kind("garrod2025-width", get("garrod2025-width").grid, profile="full")
    >>> kind.name, kind.profile, kind.defaults["K"]
    ('garrod2025-width', 'full', 10)
    >>> kind.normalize(dict(kind.defaults, K=1))
    Traceback (most recent call last):
    ...
    ValueError: setting 'K' of sweep kind 'garrod2025-width' must be an integer >= 2, got 1
    """
    table = dict(grid.params)
    where = f"sweep kind {name!r}"

    def normalize(config: dict) -> dict:
        config = validate(table, config, where=where)
        if grid.check is not None:
            grid.check(config)
        return config

    return SweepKind(name=name, run=grid.unit, description=f"one grid point of experiment {name!r}",
                     defaults=defaults(table), normalize=normalize, preload=(grid.unit.__module__,),
                     profile=profile)


def point_configs(grid: Grid, config: Mapping[str, Any]) -> list[dict]:
    """The unit configs of an experiment config: shared keys from ``config``, then each point.

    Parameters
    ----------
    grid : Grid
        The experiment's grid.
    config : mapping
        The experiment config; its keys that are also unit keys are shared by every point.

    Returns
    -------
    list of dict
        One unit config per grid point, in the order of ``grid.points(config)``; a point's
        keys override the shared ones. Unit keys in neither are left out (the kind's defaults
        fill them).

    Examples
    --------
    >>> from nclab.config import Int, Param
    >>> grid = Grid(None, {"n": Param(1, Int()), "m": Param(0, Int())},
    ...             lambda c: [{"n": n} for n in c["ns"]], None)
    >>> point_configs(grid, {"ns": [1, 2], "m": 7, "other": 3})
    [{'m': 7, 'n': 1}, {'m': 7, 'n': 2}]
    """
    fixed = {k: config[k] for k in grid.params if k in config}
    return [{**fixed, **point} for point in grid.points(dict(config))]


def run_grid(name: str, grid: Grid, config: dict, *, store: str | Path | None = None,
             executor: Any = "inline", progress: bool | None = None, profile: str | None = None) -> Any:
    """Run the grid of an experiment config through the sweep engine and judge its rows.

    Parameters
    ----------
    name : str
        The experiment's name (the sweep kind's).
    grid : Grid
        The experiment's grid.
    config : dict
        The validated experiment config; ``config[grid.seeds_key]`` holds the seeds and
        ``config["device"]`` (default ``"cpu"``) the device.
    store : str or Path, optional
        An SQLite store to resume from and write to (a temporary one if ``None``).
    executor : str, default "inline"
        As for :func:`nclab.sweep.run`: ``inline``, ``local:N``, ``dask://HOST:PORT``.
    progress : bool, optional
        As for :func:`nclab.sweep.run`.
    profile : {"quick", "full"}, optional
        The profile ``config`` came from (recorded in the store).

    Returns
    -------
    Outcome
        The judge's outcome on the rows of this config's points and seeds, in grid-point
        then seed order.

    Raises
    ------
    ValueError
        A unit config or seed the sweep engine refuses (before any file is touched).
    RuntimeError
        Some runs ended with status ``error``; the message gives the first error.

    Examples
    --------
    A toy unit (one score per seed) over two grid points, judged by the mean score:

    >>> from nclab.config import Int, Param
    >>> from nclab.experiments.registry import Outcome
    >>> def unit(config, seeds, device):
    ...     return [{"status": "done", "metrics": {"score": 10 * config["n"] + s}} for s in seeds]
    >>> def judge(config, rows):
    ...     return Outcome(metrics={"mean": float(rows["score"].mean())})
    >>> grid = Grid(unit, {"n": Param(1, Int(minimum=1))}, lambda c: [{"n": n} for n in c["ns"]], judge)
    >>> run_grid("demo", grid, {"ns": [1, 2], "seeds": [0, 1]}, progress=False).metrics
    {'mean': 15.5}
    """
    from nclab.sweep.runner import plan, run
    from nclab.sweep.reading import load

    kind = grid_kind(name, grid, profile)
    points = point_configs(grid, config)
    seeds = config[grid.seeds_key]
    sweep = plan(kind, points=points, seeds=seeds)  # validates before any file is touched
    with tempfile.TemporaryDirectory(prefix="nclab-grid-") as tmp:
        path = Path(store) if store is not None else Path(tmp) / "grid.sqlite"
        run(kind, points=points, seeds=seeds, store=path, executor=executor, device=config.get("device", "cpu"),
            progress=progress)
        rows = load(path, history=True)
    failed = rows[rows["status"] == "error"]
    if len(failed):
        raise RuntimeError(f"{name}: {len(failed)} of {len(rows)} runs failed; the first: {failed['error'].iloc[0]}")
    wanted = set(sweep.configs)
    rows = rows[rows["config_hash"].isin(wanted) & rows["seed"].isin(sweep.seeds)]
    order = {h: i for i, h in enumerate(sweep.configs)}
    rows = rows.assign(_point=rows["config_hash"].map(order)).sort_values(["_point", "seed"], kind="stable")
    return grid.judge(config, rows.drop(columns="_point").reset_index(drop=True))
