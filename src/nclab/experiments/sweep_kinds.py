"""Every registered experiment as a sweep kind: ``nclab sweep EXPERIMENT --grid ... --seeds A:B``.

- A multi-seed experiment (one with a :class:`~nclab.experiments.grid.Grid`) sweeps its unit:
  one row per (grid point, seed) with the unit's per-seed metrics, exactly the rows
  ``nclab run`` judges.
- A single-shot experiment sweeps the whole experiment: one row per (config, seed) with its
  scalar metrics, ``claim_<id>`` (1 passed, 0 failed) for each claim and ``claims_passed``.
  The seed reaches the experiment through its ``seed_key`` (a ``seeds`` key gets ``[seed]``);
  an experiment without one is deterministic, so it is computed once per batch and every seed
  of the batch gets the same row.

The config keys are the experiment's table (``device`` excluded: the sweep's ``--device`` sets
it), with the quick profile's defaults (as everywhere in nclab), or the full profile's with
``quick=False``.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

from nclab.config import Param, validate
from nclab.experiments import registry
from nclab.experiments.grid import grid_kind
from nclab.seeds import Seeds
from nclab.sweep.kinds import SweepKind


def sweep_kind(name: str, *, quick: bool = True) -> SweepKind:
    """The sweep kind of experiment ``name``.

    Parameters
    ----------
    name : str
        A registered experiment.
    quick : bool, default True
        Take the defaults from the quick profile; ``False`` from the full profile.

    Returns
    -------
    nclab.sweep.kinds.SweepKind
        For a multi-seed experiment, its grid unit's kind (:func:`~nclab.experiments.grid.grid_kind`);
        otherwise a kind running the whole experiment (:func:`run_experiment`) over its keys
        (``device`` and the seed key excluded), whose ``normalize`` also runs the experiment's
        cross-key checks.

    Raises
    ------
    ValueError
        An unknown experiment name.

    Examples
    --------
    >>> kind = sweep_kind("tirer2023-minimizer")
    >>> kind.profile, kind.defaults["gd_steps"], "seeds" in kind.defaults
    ('quick', 20000, False)
    >>> sweep_kind("tirer2023-minimizer", quick=False).defaults["gd_steps"]
    50000
    >>> sweep_kind("garrod2025-width").run.__name__
    'gd_unit'
    """
    exp = registry.get(name)
    if exp.grid is not None:
        if quick:
            base = exp.config(quick=True)
            params = {k: Param(_unit_value(k, p, base), p.rule, p.help) for k, p in exp.grid.params.items()}
            return grid_kind(name, dataclasses.replace(exp.grid, params=params), profile="quick")
        return grid_kind(name, exp.grid, profile="full")
    base = exp.config(quick=quick)
    table = {k: Param(base[k], p.rule, p.help) for k, p in exp.params.items()
             if k not in ("device", exp.seed_key)}
    where = f"sweep kind {name!r}"

    def normalize(config: dict) -> dict:
        config = validate(table, config, where=where)
        exp.config(quick=quick, **config)  # the experiment's cross-key checks, before any work
        return config

    return SweepKind(name=name, run=functools.partial(run_experiment, name),
                     description=f"experiment {name!r}, one row per (config, seed)",
                     defaults={k: p.default for k, p in table.items()}, normalize=normalize, preload=(__name__,),
                     profile="quick" if quick else "full")


def _unit_value(key: str, param: Param, base: dict) -> Any:
    """The quick profile's value of a grid-unit key, if it is one the unit accepts.

    An experiment may have a key of the same name that is not a unit value (garrod2025-width's
    ``init_H`` is the list of starts its grid sweeps, the unit's one start): the unit's default
    stays then, and the grid (``--grid``) sets it.
    """
    if key not in base:
        return param.default
    try:
        validate({key: param}, {key: base[key]}, where="the quick profile")
    except (ValueError, TypeError):
        return param.default
    return base[key]


def run_experiment(name: str, config: dict, seeds: list, device: str) -> list[dict]:
    """The run function of a single-shot experiment's kind: one result dict per seed.

    Parameters
    ----------
    name : str
        A registered single-shot experiment.
    config : dict
        Its config keys (``device`` and the seed key excluded); the rest take the quick
        profile's values.
    seeds : list of int
        The seeds; each reaches the experiment through its ``seed_key`` (a ``seeds`` key gets
        ``[seed]``). An experiment without a seed key is run once and every seed gets that row.
    device : str
        The torch device.

    Returns
    -------
    list of dict
        Per seed ``{"status": "done", "metrics": ...}``: the experiment's scalar metrics,
        ``claim_<id>`` (1 passed, 0 failed) for each claim, ``claims_passed`` and
        ``claims_total``.

    Raises
    ------
    ValueError
        An unknown experiment, or a config value the experiment refuses.

    Examples
    --------
    The kind of a single-shot experiment calls it with the experiment's name (running one
    takes seconds to minutes, so it is not run here):

    >>> kind = sweep_kind("garrod2025-dimension")
    >>> kind.run.func is run_experiment, kind.run.args
    (True, ('garrod2025-dimension',))
    """
    exp = registry.get(name)
    key = exp.seed_key
    if key is None:  # deterministic: compute once for the batch
        row = _row(exp, dict(config, device=device))
        return [row for _ in seeds]
    out = []
    for seed in seeds:
        value = [int(seed)] if isinstance(exp.params[key].rule, Seeds) else int(seed)
        out.append(_row(exp, dict(config, device=device, **{key: value})))
    return out


def _row(exp: registry.Experiment, config: dict) -> dict:
    outcome = exp.func(exp.config(**config))
    metrics: dict[str, Any] = {}
    for k, v in outcome.metrics.items():
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            v = v.item()
        if isinstance(v, bool):
            metrics[k] = int(v)
        elif isinstance(v, (int, str)):
            metrics[k] = v
        elif isinstance(v, float):
            metrics[k] = v if math.isfinite(v) else None
    for c in outcome.claims:
        metrics[f"claim_{c.id}"] = int(bool(c.passed))
    metrics["claims_passed"] = sum(int(bool(c.passed)) for c in outcome.claims)
    metrics["claims_total"] = len(outcome.claims)
    return {"status": "done", "metrics": metrics}
