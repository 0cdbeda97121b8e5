"""Garrod & Keating 2025, Fig. 2 (right): DNC becomes more frequent as lam decreases.

Grid: every lam = 2^e of ``lams_log2`` x ``seeds`` at d = 70, each point one batched training call
of the shared unit (:mod:`nclab.experiments.garrod2025._gd`). The paper states a direction only
(DNC becomes more frequent as lam decreases, 10 runs per point), so the claim is a one-sided
Cochran-Armitage trend test of P(DNC) along -log2 lam at level 0.05. The judge's table gives, per
lam (largest first), the seeds, P(DNC) with its 95% Wilson interval, the mean rank and the
closed-form loss gap between DNC and the low-rank construction.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nclab import theory as T
from nclab.config import ListOf, Param, Real
from nclab.experiments import rules
from nclab.experiments.garrod2025._critical import critical_point_claims, rank_direction_claim
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.garrod2025._gd import (FULL_SEEDS, PAPER_SEEDS, check_experiment, check_unit, convergence_notes,
                                              gd_unit, init_words, points_table, table, trend_claim, unit_table)
from nclab.experiments.grid import Grid, run_grid
from nclab.experiments.registry import Outcome, register

UNIT = unit_table()


def points(config: dict) -> list[dict]:
    """One point per exponent e: lam = 2^e."""
    return [{"lam": 2.0 ** e} for e in config["lams_log2"]]


def judge(config: dict, rows: pd.DataFrame) -> Outcome:
    """Claim of Fig. 2 (right): P(DNC) rises as lam falls (one-sided trend test along -log2 lam)."""
    first = rows.iloc[0]
    K, n, L, d = int(first["K"]), int(first["n"]), int(first["L"]), int(first["d"])
    table_rows = sorted(points_table(rows, "log2_lam", lambda r: math.log2(float(r["lam"]))), key=lambda r: -r["lam"])
    for r in table_rows:
        r["gap_closed_form"] = T.dnc_optimum(K, n, L, r["lam"])[1] - T.low_rank_optimum(K, n, L, r["lam"])[1]
    es = [r["log2_lam"] for r in table_rows]  # largest lam first
    n_min = min(r["n_seeds"] for r in table_rows)
    note = (f"init_H={first['init_H']} ({init_words(first['init_H'])}), an open choice of ours (GK do not state "
            f"their init); d = {d}; scores -log₂ λ" +
            (f"; underpowered: {n_min} seeds per point (the full profile runs {FULL_SEEDS}, 10× the paper's "
             f"{PAPER_SEEDS})" if n_min < FULL_SEEDS else ""))
    claim = trend_claim("dnc_more_frequent_small_lam", "DNC becomes more frequent as λ decreases.",
                        f"{SRC}, Fig. 2 (right)", "log2_lam", es, [-e for e in es], table_rows, note)
    rank = rank_direction_claim(
        "solution_rank_grows_as_lam_falls", "The rank of the gradient-descent solutions grows as λ decreases.",
        table_rows[0]["ranks"], table_rows[-1]["ranks"], f"log₂ λ = {es[0]:g} → {es[-1]:g}",
        f"the mean rank at the largest and the smallest λ of the grid, t intervals over the seeds; d = {d}")
    claims = [claim, rank, *critical_point_claims(rows, "this λ grid")]
    return Outcome(claims=claims, figures={"lambda": draw(table_rows, K, n, L, d)}, tables={"lambda": table_rows},
                   notes=convergence_notes(rows),
                   metrics={"p_dnc": [r["p_dnc"] for r in table_rows]})


def draw(table_rows: list[dict], K: int, n: int, L: int, d: int) -> Figure:
    """P(DNC) (95% Wilson interval) and the mean rank (95% t interval) against log2 lam; ticks at the
    grid, the DNC and low-rank ranks labelled."""
    es = [r["log2_lam"] for r in table_rows]
    fig = Figure(figsize=(11, 4))
    ax = fig.add_subplot(1, 2, 1)
    ps = np.array([r["p_dnc"] for r in table_rows])
    ci = np.array([r["p_dnc_interval"] for r in table_rows])
    ax.errorbar(es, ps, yerr=[ps - ci[:, 0], ci[:, 1] - ps], fmt="o-", capsize=3, label="P(DNC), 95% Wilson")
    ax.set_xlabel(r"$\log_2 \lambda$")
    ax.set_ylabel("P(DNC)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(es)
    ax.legend()
    ax.set_title(f"$d={d}$, $L={L}$, $K={K}$, $n={n}$")
    ax = fig.add_subplot(1, 2, 2)
    est = [rules.mean(r["ranks"]) if len(r.get("ranks") or []) > 1 else rules.exact(r["mean_rank"]) for r in table_rows]
    means = np.array([e.value for e in est])
    low = np.array([e.low if np.isfinite(e.low) else e.value for e in est])
    high = np.array([e.high if np.isfinite(e.high) else e.value for e in est])
    ax.errorbar(es, means, yerr=[means - low, high - means], fmt="o-", capsize=3, label="mean rank, 95% t")
    ax.axhline(K - 1, color="k", ls="--", lw=0.8, label=f"rank K-1 = {K - 1} (DNC)")
    ax.axhline(K // 2, color="k", ls=":", lw=0.8, label=f"rank K/2 = {K // 2} (low rank)")
    ax.set_xticks(es)
    ax.set_xlabel(r"$\log_2 \lambda$")
    ax.set_ylabel("mean rank of the class-mean logits")
    ax.legend()
    fig.tight_layout()
    return fig


GRID = Grid(unit=gd_unit, params=UNIT, points=points, judge=judge, check=check_unit)


@register(
    "garrod2025-lambda",
    paper=PAPER,
    title="Fig. 2 (right): DNC becomes more frequent as λ decreases",
    description=(
        "Figure 2 (right): fraction of 10 gradient-descent runs of the deep linear UFM (L = 2, d = 70, K = 10, "
        "n = 5) that converge to DNC, against the regularisation strength λ; DNC is found more often for "
        "small λ, where the DNC and low-rank losses are closer."
    ),
    defaults=table(UNIT, drop=("lam",), seeds=FULL_SEEDS,
                   lams_log2=Param([-6, -7, -8, -9, -10, -11, -12, -13, -14],
                                   ListOf(Real(minimum=-60.0, maximum=10.0), min_len=2, unique=True),
                                   "exponents e of the grid λ = 2^e")),
    quick={"lams_log2": [-7, -10, -13], "steps": 2500, "polish_steps": 150, "seeds": 10},
    grid=GRID,
    check=check_experiment('garrod2025-lambda'),
)
def lam_sweep(config: dict) -> Outcome:
    """The grid of a validated config through the sweep engine (inline, temporary store), judged."""
    return run_grid("garrod2025-lambda", GRID, config)
