"""The ``toy`` sweep kind: synthetic, deterministic per (config, seed), for testing the sweep machinery.

Tests register it with :func:`register` (``nclab.sweep.register_kind``). Its run function lives in
this module, so workers import ``toy_kind``: the local pool's spawned workers and a
``dask-local`` cluster's worker processes inherit the driver's ``sys.path`` (pytest puts
``tests/`` on it); a subprocess driver puts it there itself (see ``DRIVER``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from nclab.config import Bool, Int, Param, Real, validate

HERE = Path(__file__).resolve().parent

TABLE = {
    "x": Param(1.0, Real(), "location of the synthetic loss"),
    "y": Param(0.0, Real(), "second axis (adds x*y)"),
    "steps": Param(5, Int(minimum=1), "history length"),
    "sleep": Param(0.0, Real(minimum=0.0), "seconds slept per batch (to simulate work)"),
    "fail": Param(False, Bool(), "raise inside the run (tests error rows)"),
    "diverge_seed": Param(-1, Int(), "this seed ends with status 'diverged'"),
}

#: ``python -c DRIVER ARGS...``: the nclab CLI with the toy kind registered (for subprocess tests).
DRIVER = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import toy_kind; toy_kind.register(); "
          "from nclab.cli import main; sys.exit(main(sys.argv[1:]))")


def run_toy(config: dict, seeds: list, device: str) -> list:
    """value = x*y + N(0,1) drawn from ``numpy.random.default_rng(seed)``; a short history."""
    if config["fail"]:
        raise RuntimeError(f"toy run failed on purpose (x={config['x']})")
    if config["sleep"] > 0:
        time.sleep(config["sleep"])
    out = []
    for seed in seeds:
        noise = float(np.random.default_rng(seed).standard_normal())
        value = config["x"] * config["y"] + noise
        steps = np.arange(config["steps"])
        diverged = seed == config["diverge_seed"]
        out.append({
            "status": "diverged" if diverged else "done",
            "metrics": {"value": math.nan if diverged else value, "rank": int(abs(noise) * 3) % 5,
                        "label": "dnc" if noise > 0 else "low_rank"},
            "history": {"step": steps.tolist(), "loss": (abs(value) * np.exp(-steps)).tolist()},
        })
    return out


def _normalize(config: dict) -> dict:
    return validate(TABLE, config, where="sweep kind 'toy'")


def register():
    """Register (or re-register) the ``toy`` kind; returns it."""
    from nclab.sweep import register_kind

    return register_kind("toy", run=run_toy, defaults={k: p.default for k, p in TABLE.items()},
                         normalize=_normalize, description="synthetic kind for testing the sweep machinery")
