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
    """

    unit: RunFunction
    params: Mapping[str, Param]
    points: Callable[[dict], list[dict]]
    judge: Callable[[dict, pd.DataFrame], Any]
    seeds_key: str = "seeds"
    check: Callable[[dict], None] | None = None


def grid_kind(name: str, grid: Grid, profile: str | None = None) -> SweepKind:
    """The sweep kind of a multi-seed experiment: its unit over the unit's config table
    (``profile``: the experiment profile the defaults come from, recorded in the store)."""
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
    """The unit configs of an experiment config: shared keys from ``config``, then each point."""
    fixed = {k: config[k] for k in grid.params if k in config}
    return [{**fixed, **point} for point in grid.points(dict(config))]


def run_grid(name: str, grid: Grid, config: dict, *, store: str | Path | None = None,
             executor: Any = "inline", progress: bool | None = None, profile: str | None = None) -> Any:
    """Run the grid of an experiment config through the sweep engine and judge its rows.

    ``store``: an SQLite store to resume from and write to (a temporary one if ``None``);
    ``executor``: as for :func:`nclab.sweep.run`; ``profile``: the profile ``config`` came
    from (recorded in the store). Returns the judge's ``Outcome``.
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
