"""Garrod & Keating 2025, Fig. 2 (left) and Fig. 5: DNC becomes more frequent with width.

Grid: every (init_H, d) of the config x ``seeds``, each point one batched training call of the
shared unit (:mod:`nclab.experiments.garrod2025._gd`). The judge gives P(DNC) and the mean rank
per point; the figure draws both against d, one line per init_H.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nclab.config import Int, ListOf, Param
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.garrod2025._gd import (INIT_H, check_experiment, check_unit, gd_unit, points_table, table,
                                              trend, unit_table)
from nclab.experiments.grid import Grid, run_grid
from nclab.experiments.registry import Claim, Outcome, register

UNIT = unit_table()


def points(config: dict) -> list[dict]:
    """Every (init_H, d): init_H outer, d inner."""
    return [{"d": d, "init_H": init} for init in config["init_H"] for d in config["ds"]]


def _by_init(config: dict, rows: list[dict]) -> dict[str, list[dict]]:
    """The point rows per init_H (the config's order first), each sorted by d."""
    order = [str(i) for i in config.get("init_H", [])]
    for r in rows:
        if str(r["init_H"]) not in order:
            order.append(str(r["init_H"]))
    out = {i: sorted((r for r in rows if str(r["init_H"]) == i), key=lambda r: r["d"]) for i in order}
    return {i: sub for i, sub in out.items() if sub}


def judge(config: dict, rows: pd.DataFrame) -> Outcome:
    """Claims of Fig. 2 (left): P(DNC) grows with d; a smaller H_1 scale reaches DNC less often."""
    table_rows = points_table(rows, "d", lambda r: int(r["d"]))
    groups = _by_init(config, table_rows)
    inits = list(groups)
    trends = {i: trend([r["d"] for r in sub], [r["p_dnc"] for r in sub]) for i, sub in groups.items()}
    first = inits[0]
    p_first = [r["p_dnc"] for r in groups[first]]
    claims = [
        Claim("p_dnc_grows_with_width", "The probability that gradient descent converges to DNC grows with the width d.",
              f"{SRC}, Fig. 2 (left) / Theorem 5", "P(DNC) at largest d > at smallest d and Spearman rho > 0 "
              f"(init_H={first})", {"p_dnc": p_first, "spearman": trends[first][0]}, trends[first][1]),
    ]
    if len(inits) > 1:
        mean_p = {i: float(np.mean([r["p_dnc"] for r in groups[i]])) for i in inits}
        claims.append(Claim(
            "init_scale_matters", "The initialisation scale decides the outcome: with H_1 ~ N(0, 1/d) instead of "
            "N(0, 1) gradient descent reaches DNC less often (the onset of DNC moves to larger widths).",
            "MATH.md section 4 (derived observation; GK's init is not stated)",
            f"mean over the d grid of P(DNC | {inits[1]}) < of P(DNC | {inits[0]})", mean_p,
            mean_p[inits[1]] < mean_p[inits[0]]))
    K = int(rows["K"].iloc[0])
    return Outcome(claims=claims, figures={"width": draw(groups, K)},
                   tables={"width": [r for sub in groups.values() for r in sub]},
                   metrics={f"p_dnc_{i}": [r["p_dnc"] for r in sub] for i, sub in groups.items()})


def draw(groups: dict[str, list[dict]], K: int) -> Figure:
    """P(DNC) and the mean rank against d, one line per init_H."""
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for j, (init, sub) in enumerate(groups.items()):
        ds = [r["d"] for r in sub]
        ax1.plot(ds, [r["p_dnc"] for r in sub], "o-", color=f"C{j}", label=f"init_H = {init}")
        ax2.plot(ds, [r["mean_rank"] for r in sub], "o-", color=f"C{j}", label=f"init_H = {init}")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("width $d$")
        ax.legend()
    ax1.set_ylabel("P(DNC)")
    ax1.set_ylim(-0.05, 1.05)
    ax2.set_ylabel("mean rank of the class-mean logits")
    ax2.axhline(K - 1, color="k", ls="--", lw=0.8)
    ax2.axhline(K // 2, color="k", ls=":", lw=0.8)
    fig.tight_layout()
    return fig


GRID = Grid(unit=gd_unit, params=UNIT, points=points, judge=judge, check=check_unit)


@register(
    "garrod2025-width",
    paper=PAPER,
    title="Fig. 2 (left) and Fig. 5: DNC becomes more frequent with width",
    description=(
        "Figure 2 (left): fraction of 10 gradient-descent runs of the deep linear UFM (L = 2, K = 10, n = 5, "
        "lam = 2^-10) that converge to DNC, against the width d; Figure 5: the average rank of the solutions "
        "against d (ranks between K/2 and K-1 are partly collapsed mixtures)."
    ),
    defaults=table(UNIT, drop=("d", "init_H"),
                   ds=Param([10, 20, 30, 50, 70, 100, 150, 200], ListOf(Int(minimum=2), unique=True),
                            "widths d of the grid (each at least K)"),
                   init_H=Param(["unit", "fan_in"], ListOf(INIT_H, unique=True),
                                "H_1 scales of the grid; the first is the reference of the claims")),
    quick={"ds": [12, 30, 80], "steps": 2000, "polish_steps": 150},
    grid=GRID,
    check=check_experiment('garrod2025-width'),
)
def width(config: dict) -> Outcome:
    """The grid of a validated config through the sweep engine (inline, temporary store), judged."""
    return run_grid("garrod2025-width", GRID, config)
