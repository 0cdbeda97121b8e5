"""Estimates of run time before any work: ``nclab reproduce --dry-run`` and ``nclab sweep --dry-run``.

An experiment's estimate, best source first:

1. ``recorded``: its last run in this profile in the output folder's ``results.json`` (this
   machine, this profile);
2. ``shipped``: the time measured when nclab was released, :data:`nclab.report.timings.QUICK`
   (quick profile, 2 CPU cores, one thread);
3. ``extrapolated`` (``--full`` only, with no recorded full run): the quick time times the
   work ratio of the two profiles, :func:`work_ratio`: the product, over the sizes that differ
   (steps, epochs, seed counts, grid lengths, K, n, d), of full / quick. Cost that grows faster
   than linearly in a size (d, width) is not modelled, so it is an order of magnitude, not a
   measurement.

A sweep's estimate comes from a calibration run (:func:`calibrate_sweep`): the first config's
first batch, with ``steps`` cut to :data:`CALIBRATION_STEPS` where the kind has a ``steps``
key, timed and scaled linearly by steps and by the number of batches, divided by the workers.
Runs that stop early at convergence make it an upper bound.
"""
from __future__ import annotations

import math
import os
import time
from numbers import Integral
from pathlib import Path
from typing import Any

#: Steps of a sweep calibration run (``steps`` of a kind that has the key).
CALIBRATION_STEPS = 100

#: Keys left out of :func:`work_ratio`: sampling and bookkeeping, not work (or work that falls as they grow).
_NOT_WORK = ("every", "num_records", "num_times", "batch_size", "polish_steps", "track")


def _size(value: Any) -> float | None:
    if isinstance(value, (list, tuple)):
        return float(len(value))
    if isinstance(value, Integral) and not isinstance(value, bool):
        return float(value)
    return None


def work_ratio(exp: Any) -> tuple[float, list[str]]:
    """How much more work the full profile of an experiment is than its quick one.

    Parameters
    ----------
    exp : nclab.experiments.registry.Experiment
        A registered experiment.

    Returns
    -------
    ratio : float
        The product, over the sizes the quick profile changes (steps, epochs, seed counts,
        grid lengths, K, n, d; not sampling keys such as ``every``), of full / quick: an order
        of magnitude (see the module docstring).
    factors : list of str
        The sizes multiplied, e.g. ``"steps 20000/3000"``.

    Examples
    --------
    >>> from nclab.experiments import registry
    >>> from nclab.report.estimate import work_ratio
    >>> ratio, factors = work_ratio(registry.get("mixon2022-fig2"))
    >>> ratio > 1, any(f.startswith("steps ") for f in factors)
    (True, True)
    """
    ratio, factors = 1.0, []
    full = exp.defaults
    for key, quick in exp.quick.items():
        if any(word in key for word in _NOT_WORK):
            continue
        f, q = _size(full.get(key)), _size(quick)
        if f is None or q is None or q <= 0 or f == q:
            continue
        ratio *= f / q
        factors.append(f"{key} {f:g}/{q:g}")
    return ratio, factors


def estimate_experiment(exp: Any, profile: str, timings: dict) -> dict:
    """The run-time estimate of one experiment, best source first (see the module docstring).

    Parameters
    ----------
    exp : nclab.experiments.registry.Experiment
        A registered experiment.
    profile : {"quick", "full"}
        The profile to estimate.
    timings : dict
        :func:`nclab.report.reproduce.previous_timings` of the output folder (``{}``: none).

    Returns
    -------
    dict
        ``experiment``, ``seconds`` (``None`` when nothing is known), ``source``
        (``recorded``, ``shipped``, ``extrapolated`` or ``unknown``) and ``detail`` (where
        the number comes from, in words).

    Examples
    --------
    >>> from nclab.experiments import registry
    >>> from nclab.report.estimate import estimate_experiment
    >>> exp = registry.get("mixon2022-fig2")
    >>> estimate_experiment(exp, "quick", {})["source"], estimate_experiment(exp, "full", {})["source"]
    ('shipped', 'extrapolated')
    >>> estimate_experiment(exp, "quick", {"mixon2022-fig2": {"quick": {"seconds": 2.5}}})["seconds"]
    2.5
    """
    from nclab.report.timings import QUICK, WHERE

    recorded = (timings.get(exp.name) or {}).get(profile) or {}
    if isinstance(recorded.get("seconds"), (int, float)):
        return {"experiment": exp.name, "seconds": float(recorded["seconds"]), "source": "recorded",
                "detail": f"its last {profile} run here, on {recorded.get('device') or '?'}, {recorded.get('created') or ''}".strip()}
    quick = (timings.get(exp.name) or {}).get("quick", {}).get("seconds")
    where = "its last quick run here" if isinstance(quick, (int, float)) else f"measured {WHERE}"
    if not isinstance(quick, (int, float)):
        quick = QUICK.get(exp.name)
    if quick is None:
        return {"experiment": exp.name, "seconds": None, "source": "unknown", "detail": "no recorded time"}
    if profile == "quick":
        return {"experiment": exp.name, "seconds": float(quick), "source": "shipped" if "measured" in where else "recorded",
                "detail": where}
    ratio, factors = work_ratio(exp)
    return {"experiment": exp.name, "seconds": float(quick) * ratio, "source": "extrapolated",
            "detail": f"quick {quick:.1f} s ({where}) x work ratio {ratio:.3g}"
                      + (f" ({', '.join(factors)})" if factors else "")}


def planned_runs(exp: Any, profile: str) -> int | None:
    """The number of (grid point, seed) runs of a multi-seed experiment.

    Parameters
    ----------
    exp : nclab.experiments.registry.Experiment
        A registered experiment.
    profile : {"quick", "full"}
        The profile whose config counts.

    Returns
    -------
    int or None
        Grid points x seeds; ``None`` for a single-shot experiment (and, rather than an
        error, when the count cannot be made: a plan is a courtesy).

    Examples
    --------
    >>> from nclab.experiments import registry
    >>> from nclab.report.estimate import planned_runs
    >>> exp = registry.get("garrod2025-fig1")
    >>> planned_runs(exp, "quick") == len(exp.config()["seeds"]), planned_runs(registry.get("mixon2022-fig2"), "quick")
    (True, None)
    """
    if exp.grid is None:
        return None
    try:
        cfg = exp.config(quick=profile == "quick")
        seeds = cfg[exp.grid.seeds_key]
        return len(exp.grid.points(cfg)) * (len(seeds) if isinstance(seeds, (list, tuple)) else int(seeds))
    except Exception:  # a plan is a courtesy: never fail the dry run on it
        return None


def reproduce_plan(chosen: list, profile: str, out: str | os.PathLike) -> dict:
    """The dry-run plan of ``nclab reproduce``: one estimate per experiment and the total.

    Parameters
    ----------
    chosen : list of Experiment
        The experiments to run (:func:`nclab.report.reproduce.select_experiments`).
    profile : {"quick", "full"}
        The profile to estimate.
    out : str or os.PathLike
        The output folder, whose ``results.json`` (if any) holds the recorded times.

    Returns
    -------
    dict
        ``profile``, ``experiments`` (:func:`estimate_experiment`'s dicts with ``runs`` from
        :func:`planned_runs`), ``total_seconds`` (over the known estimates), ``unknown`` (the
        experiments without one) and ``method`` (in words).

    Examples
    --------
    >>> import tempfile
    >>> from nclab.experiments import registry
    >>> from nclab.report.estimate import reproduce_plan
    >>> plan = reproduce_plan([registry.get("mixon2022-fig2")], "quick", tempfile.mkdtemp())
    >>> plan["profile"], [r["experiment"] for r in plan["experiments"]], plan["unknown"]
    ('quick', ['mixon2022-fig2'], [])
    """
    from nclab.report.reproduce import previous_timings

    timings = previous_timings(Path(out) / "results.json")
    rows = []
    for e in chosen:
        row = estimate_experiment(e, profile, timings)
        row["runs"] = planned_runs(e, profile)
        rows.append(row)
    known = [r["seconds"] for r in rows if r["seconds"] is not None]
    return {"profile": profile, "experiments": rows, "total_seconds": sum(known),
            "unknown": [r["experiment"] for r in rows if r["seconds"] is None],
            "method": "per experiment: its last run in this profile in OUT/results.json, else the time measured "
                      "at release (quick, 2 CPU cores), else (full) the quick time x the full/quick ratio of "
                      "steps, epochs, seeds and grid lengths: an order of magnitude (seeds trained as one batch cost less than "
                      "that, sizes such as d or width more)"}


def calibrate_sweep(sweep: Any, *, batch: int, workers: int, device: str = "cpu") -> dict:
    """Estimate a sweep's run time from one timed batch; nothing is written.

    The first config's first batch runs with ``steps`` cut to :data:`CALIBRATION_STEPS`
    (the full steps if the kind refuses the shorter run), and its time is scaled by steps
    and by the number of batches, divided by the workers.

    Parameters
    ----------
    sweep : nclab.sweep.runner.SweepPlan
        The planned sweep (:func:`nclab.sweep.runner.plan`).
    batch : int
        Seeds per batched call.
    workers : int
        Workers running batches side by side.
    device : str, optional
        Torch device of the calibration run.

    Returns
    -------
    dict
        ``seconds`` (the estimate), ``calibration_seconds``, ``calibration_seeds``,
        ``calibration_steps``, ``steps``, ``batches``, ``workers``, ``error`` (the message of a
        calibration run that failed, else ``None``) and ``method`` (in words).

    Examples
    --------
    >>> from nclab.sweep.runner import plan
    >>> from nclab.report.estimate import calibrate_sweep
    >>> sweep = plan("ufm", {"d": [4, 6]}, 2, fixed={"K": 3, "n": 2, "steps": 500})
    >>> est = calibrate_sweep(sweep, batch=2, workers=1)
    >>> est["batches"], est["calibration_steps"], est["error"], est["seconds"] > 0
    (2, 100, None, True)
    """
    from nclab.sweep.runner import execute_unit

    config = dict(next(iter(sweep.configs.values())))
    seeds = list(sweep.seeds[:batch])
    steps = config.get("steps")
    cut = isinstance(steps, Integral) and not isinstance(steps, bool) and steps > CALIBRATION_STEPS
    if cut:
        config["steps"] = CALIBRATION_STEPS
    start = time.perf_counter()
    out = execute_unit(sweep.kind.run, config, seeds, device)
    if out.get("error") and cut:  # the kind refuses the shortened run: time the real one
        config["steps"], cut = steps, False
        start = time.perf_counter()
        out = execute_unit(sweep.kind.run, config, seeds, device)
    seconds = time.perf_counter() - start
    scale = steps / CALIBRATION_STEPS if cut else 1.0
    batches = len(sweep.configs) * math.ceil(len(sweep.seeds) / batch)
    total = seconds * scale * batches / max(1, workers)
    how = (f"one batch of {len(seeds)} seeds of the first config" + (f" at {CALIBRATION_STEPS} of {steps} steps" if cut else "")
           + f" took {seconds:.2f} s; x {scale:g} (steps) x {batches} batches / {workers} workers"
           + ("; runs that stop early at convergence make it an upper bound" if cut else ""))
    return {"seconds": total, "calibration_seconds": seconds, "calibration_seeds": len(seeds),
            "calibration_steps": CALIBRATION_STEPS if cut else steps, "steps": steps, "batches": batches,
            "workers": workers, "error": out.get("error"), "method": how}
