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
    """``(ratio, factors)``: full-profile work over quick-profile work of experiment ``exp``, and the
    sizes it multiplied (``"steps 20000/3000"``); see the module docstring."""
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
    """``{"experiment", "seconds", "source", "detail"}`` for ``exp`` in ``profile`` (quick/full);
    ``timings`` are :func:`nclab.report.reproduce.previous_timings` of the output folder."""
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
    """The (grid point, seed) runs of a multi-seed experiment in ``profile``; ``None`` for the others."""
    if exp.grid is None:
        return None
    try:
        cfg = exp.config(quick=profile == "quick")
        seeds = cfg[exp.grid.seeds_key]
        return len(exp.grid.points(cfg)) * (len(seeds) if isinstance(seeds, (list, tuple)) else int(seeds))
    except Exception:  # a plan is a courtesy: never fail the dry run on it
        return None


def reproduce_plan(chosen: list, profile: str, out: str | os.PathLike) -> dict:
    """The dry-run plan of ``nclab reproduce``: one estimate per experiment and the total."""
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
    """Time one batch of ``sweep`` (a :class:`nclab.sweep.runner.SweepPlan`) and scale it to the sweep.

    Returns ``{"seconds", "calibration_seconds", "calibration_seeds", "calibration_steps",
    "steps", "batches", "workers", "method"}``; nothing is written.
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
