"""The Sukenik, Lampert, Mondelli (2024) setting that Garrod & Keating build on: deep ReLU UFM, MSE.

Registered as ``garrod2025-sukenik``. Sukenik et al. (arXiv 2405.14468) show that deep neural
collapse stops being optimal in the deep ReLU UFM with the squared loss beyond two layers, from a
low-rank bias of the regulariser, and that gradient descent finds low-rank solutions. Their
setting (4 layers, K = 10, lam = 0.004, lr 0.5, width 30; ``UFMSpec.sukenik``, ``nclab train
--preset sukenik``) runs here on two grids through the shared gradient-descent unit
(:mod:`nclab.experiments.garrod2025._gd`, with ``objective = "mse"``):

- widths ``ds`` at lam = ``lam``: P(DNC) grows with the width (one-sided Cochran-Armitage test
  along log2 d, level 0.05), as Garrod & Keating's Fig. 2 (left) finds for cross-entropy;
- lam = 2^e over ``lams_log2`` at width ``d``: the solutions' mean rank falls as lam grows (the
  low-rank bias strengthens with the regularisation; 95% t intervals at the two ends).

Runs are labelled by :func:`nclab.ufm.classify_solution` on the column-centred class-mean logits
(a DNC solution of the squared loss without bias has logits alpha I, centred alpha P: rank K - 1).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nclab.config import Choice, Int, ListOf, Param, Real
from nclab.experiments.garrod2025._critical import rank_direction_claim
from nclab.experiments.garrod2025._gd import (check_unit, convergence_notes, gd_unit, points_table, stored_settings, table,
                                              trend_claim, unit_table)
from nclab.experiments.garrod2025._paper import PAPER
from nclab.experiments.grid import Grid, run_grid
from nclab.experiments.registry import Outcome, register

NAME = "garrod2025-sukenik"
SOURCE = "Sukenik, Lampert, Mondelli 2024 (arXiv 2405.14468)"

UNIT = {**unit_table(L=4, d=30, lam=0.004, activation="relu", steps=20000, polish_steps=300),
        "objective": Param("mse", Choice("ce", "mse"), "training loss of the unit (the Sukenik setting: mse)")}


def points(config: dict) -> list[dict]:
    """The width grid at ``lam``, then the lam grid at ``d`` (tagged ``grid``)."""
    return ([{"d": d, "grid": "width"} for d in config["ds"]]
            + [{"lam": 2.0 ** e, "grid": "lam"} for e in config["lams_log2"]])


def judge(config: dict, rows: pd.DataFrame) -> Outcome:
    """P(DNC) grows with the width; the mean rank falls as lam grows."""
    width = sorted(points_table(rows[rows["grid"] == "width"], "d", lambda r: int(r["d"])), key=lambda r: r["d"])
    lams = sorted(points_table(rows[rows["grid"] == "lam"], "log2_lam", lambda r: math.log2(float(r["lam"]))),
                  key=lambda r: r["lam"])
    claims = []
    if len(width) >= 2:
        claims.append(trend_claim(
            "p_dnc_grows_with_width", "In the deep ReLU UFM with the squared loss, gradient descent finds DNC more "
            "often as the width grows.", f"{SOURCE} (setting), as Garrod & Keating Fig. 2 (left) for CE", "d",
            [r["d"] for r in width], [math.log2(r["d"]) for r in width], width,
            f"λ = {width[0]['lam']:g}; scores log₂ d"))
    if len(lams) >= 2:
        claims.append(rank_direction_claim(
            "rank_falls_as_lam_grows", "The low-rank bias strengthens with the regularisation: the mean rank of the "
            "gradient-descent solutions is lower at the largest λ than at the smallest.",
            lams[-1]["ranks"], lams[0]["ranks"], f"log₂ λ = {lams[-1]['log2_lam']:g} → {lams[0]['log2_lam']:g}",
            f"d = {lams[0]['d']}; the mean rank at the largest λ is 'before', at the smallest 'after' (so an "
            "increase towards small λ is the claim)"))
    for c in claims:
        c.source = c.source if c.source.startswith(SOURCE) else f"{SOURCE}; {c.source}"
    settings = stored_settings(rows, ("L", "K", "n", "lr"), config)
    return Outcome(claims=claims, figures={"sukenik": draw(width, lams, settings)},
                   tables={"width": width, "lam": lams}, notes=convergence_notes(rows),
                   metrics={"p_dnc_width": [r["p_dnc"] for r in width], "mean_rank_lam": [r["mean_rank"] for r in lams]})


def draw(width: list[dict], lams: list[dict], settings: str) -> Figure:
    """P(DNC) against the width (95% Wilson intervals) and the mean rank against log2 lam (95% t intervals).

    ``settings``: the stored rows' L, K, n and lr in words (:func:`._gd.stored_settings`), for the title.
    """
    from nclab.experiments.rules import mean

    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    if width:
        ds = [r["d"] for r in width]
        ps = np.array([r["p_dnc"] for r in width])
        ci = np.array([r["p_dnc_interval"] for r in width])
        axes[0].errorbar(ds, ps, yerr=[ps - ci[:, 0], ci[:, 1] - ps], fmt="o-", capsize=3, label="P(DNC), 95% Wilson")
        axes[0].set_xscale("log", base=2)
        axes[0].set_xticks(ds, [str(d) for d in ds])
        axes[0].set_ylim(-0.05, 1.05)
        axes[0].set_xlabel("width d")
        axes[0].set_ylabel("P(DNC)")
        axes[0].legend(fontsize=8)
    if lams:
        es = [r["log2_lam"] for r in lams]
        ests = [mean(r["ranks"]) for r in lams]
        m = np.array([e.value for e in ests])
        half = np.array([e.high - e.value if np.isfinite(e.high) else 0.0 for e in ests])  # one seed: no interval
        axes[1].errorbar(es, m, yerr=half, fmt="s-", capsize=3, label="mean rank, 95% t")
        axes[1].set_xticks(es)
        axes[1].set_xlabel(r"$\log_2 \lambda$")
        axes[1].set_ylabel("rank of the class-mean logits")
        axes[1].legend(fontsize=8)
    fig.suptitle(f"Deep ReLU UFM, MSE (Sukenik et al. 2024 setting): {settings}")
    return fig


def check_widths(config: dict) -> None:
    """Every width of both grids at least K (Garrod & Keating's and Sukenik et al.'s d >= K)."""
    for d in (*config["ds"], config["d"]):
        check_unit(dict(config, d=d))


GRID = Grid(unit=gd_unit, params={**UNIT, "grid": Param("width", Choice("width", "lam"), "which grid a point is on")},
            points=points, judge=judge, check=check_unit)


@register(
    NAME,
    paper=PAPER,
    title="The Sukenik et al. (2024) MSE setting: P(DNC) against width, rank against λ",
    description=(
        "Sukenik, Lampert, Mondelli (2024), the comparison Garrod & Keating build on: the deep ReLU UFM with the "
        "squared loss, 4 layers, K = 10, λ = 0.004, lr 0.5, width 30. DNC is not optimal beyond two layers (a "
        "low-rank bias); gradient descent finds DNC more often at larger width, and lower-rank solutions at larger "
        "λ."
    ),
    defaults=table(UNIT, seeds=20,
                   ds=Param([10, 30, 100], ListOf(Int(minimum=2), min_len=2, unique=True), "widths of the width grid"),
                   lams_log2=Param([-10, -8, -6], ListOf(Real(minimum=-60.0, maximum=10.0), min_len=2, unique=True),
                                   "exponents e of the λ grid λ = 2^e (at width d)"),
                   objective=UNIT["objective"]),
    quick={"seeds": 6, "steps": 3000, "polish_steps": 100},
    grid=GRID,
    check=lambda config: check_widths(config),
)
def sukenik(config: dict) -> Outcome:
    """The two grids through the sweep engine (inline, temporary store), judged."""
    return run_grid(NAME, GRID, config)
