"""Garrod & Keating 2025, Fig. 2 (left) and Fig. 5: DNC becomes more frequent with width.

Grid: every (init_H, d) of the config x ``seeds``, each point one batched training call of the
shared unit (:mod:`nclab.experiments.garrod2025._gd`). The paper (10 runs per point): P(DNC)
goes from about 0% at the smallest width to about 100% at the largest. The judge checks, for
EACH init_H of the grid (GK do not state their initialisation, an open choice of ours, so the
verdict is shown under each; the first is the reference):

- "about 0%": the upper end of P(DNC)'s 95% Wilson interval at the smallest d <= ``ABOUT_0``;
- "about 100%": the lower end of the interval at the largest d >= ``ABOUT_1``;
- growth: a one-sided Cochran-Armitage trend test (scores log2 d) at level 0.05.

The figure draws P(DNC) (with its intervals) and the mean rank against d, one line per init_H.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nclab.config import Int, ListOf, Param
from nclab.experiments import rules
from nclab.experiments.garrod2025._critical import critical_point_claims, rank_direction_claim
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.garrod2025._gd import (FULL_SEEDS, INIT_H, PAPER_SEEDS, check_experiment, check_unit,
                                              convergence_notes, gd_unit, init_words, points_table, power_note,
                                              seeds_needed, table, trend_claim, unit_table)
from nclab.experiments.grid import Grid, run_grid
from nclab.experiments.registry import Claim, Outcome, register

UNIT = unit_table()

#: "About 0%" and "about 100%" (GK Fig. 2 left), fixed from the paper's words before any run: the
#: 95% interval of P(DNC) must lie below 0.2 at the smallest width and above 0.8 at the largest.
ABOUT_0, ABOUT_1 = 0.2, 0.8


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


def tag(init: str) -> str:
    """The claim-id suffix of an init_H value (``unit``, ``fan_in``, ``std0.5``)."""
    return init if init in ("unit", "fan_in") else f"std{init}"


def init_claims(init: str, sub: list[dict], reference: bool) -> list[Claim]:
    """The three claims of Fig. 2 (left) under one init_H (``sub``: its points sorted by d)."""
    src = f"{SRC}, Fig. 2 (left) / Theorem 5"
    where = (f"init_H={init} ({init_words(init)}), {'the reference' if reference else 'the alternative'} "
             "init: GK do not state theirs, an open choice of ours, so every init_H of the grid is judged")
    lo, hi = sub[0], sub[-1]
    claims = []
    for id_, end, point, rule, bound, words in (
            ("p_dnc_about_0_at_smallest_width", "smallest", lo, rules.at_most, ABOUT_0, "about 0%"),
            ("p_dnc_about_1_at_largest_width", "largest", hi, rules.at_least, ABOUT_1, "about 100%")):
        verdict = rule(rules.proportion(point["k_dnc"], point["n_seeds"]), bound)
        verdict = dataclasses.replace(verdict, expected=f"{verdict.expected} ('{words}')")
        need = seeds_needed(bound, upper=rule is rules.at_most)
        note = "; ".join(x for x in (where, f"{bound:g} expresses '{words}'",
                                     power_note(point["n_seeds"], need, FULL_SEEDS, PAPER_SEEDS)) if x)
        measured = {"d": point["d"], "k_dnc": point["k_dnc"], "n_seeds": point["n_seeds"], "p_dnc": point["p_dnc"]}
        claims.append(Claim.decided(f"{id_}_{tag(init)}", f"P(DNC) is {words} at the {end} width of the grid "
                                    f"(d = {point['d']}).", src, verdict, measured, note=note))
    ds = [r["d"] for r in sub]
    trend_note = f"{where}; scores log₂ d" + (
        f"; underpowered: {sub[0]['n_seeds']} seeds per point (the full profile runs {FULL_SEEDS}, 10× the "
        f"paper's {PAPER_SEEDS})" if sub[0]["n_seeds"] < FULL_SEEDS else "")
    claims.append(trend_claim(f"p_dnc_grows_with_width_{tag(init)}", "The probability that gradient descent "
                              "converges to DNC grows with the width d.", src, "d", ds, [math.log2(d) for d in ds],
                              sub, trend_note))
    return claims


def judge(config: dict, rows: pd.DataFrame) -> Outcome:
    """Claims of Fig. 2 (left) under every init_H of the grid, with a per-point table."""
    groups = _by_init(config, points_table(rows, "d", lambda r: int(r["d"])))
    claims = [c for j, (init, sub) in enumerate(groups.items()) for c in init_claims(init, sub, j == 0)]
    verdicts = "; ".join(f"init_H={init}: " + ", ".join(f"{c.id.rsplit('_' + tag(init), 1)[0]} "
                                                        f"{'PASS' if c.passed else 'FAIL'}"
                                                        for c in claims if c.id.endswith("_" + tag(init)))
                         for init in groups)
    K = int(rows["K"].iloc[0])
    ref, sub = next(iter(groups.items()))
    claims.append(rank_direction_claim(
        "solution_rank_grows_with_width", "The rank of the gradient-descent solutions grows with the width d "
        "(towards DNC's K - 1).", sub[0]["ranks"], sub[-1]["ranks"], f"d = {sub[0]['d']} → {sub[-1]['d']}",
        f"reference init_H={ref}; the mean rank at the smallest and the largest width of the grid, t intervals "
        "over the seeds"))
    claims.extend(critical_point_claims(rows, "this width grid"))
    return Outcome(claims=claims, figures={"width": draw(groups, K)},
                   tables={"width": [r for sub in groups.values() for r in sub]},
                   notes=[f"Verdicts by initialisation (how they move with the open init choice): {verdicts}.",
                          *convergence_notes(rows)],
                   metrics={f"p_dnc_{i}": [r["p_dnc"] for r in sub] for i, sub in groups.items()})


def draw(groups: dict[str, list[dict]], K: int) -> Figure:
    """P(DNC) (95% Wilson interval) and the mean rank (95% t interval over the seeds) against d,
    one line per init_H; ticks at the widths run, every reference line labelled."""
    from matplotlib.ticker import FixedLocator, NullLocator

    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    widths: set[int] = set()
    for j, (init, sub) in enumerate(groups.items()):
        ds = [r["d"] for r in sub]
        widths.update(ds)
        ps = np.array([r["p_dnc"] for r in sub])
        ci = np.array([r["p_dnc_interval"] for r in sub])
        style = dict(color=f"C{j}", capsize=3, marker="os^v"[j % 4], mfc="white" if j else f"C{j}")
        ax1.errorbar(ds, ps, yerr=[ps - ci[:, 0], ci[:, 1] - ps], ls="-", label=f"init_H = {init} (95% Wilson)",
                     **style)
        est = [rules.mean(r["ranks"]) if r.get("ranks") else rules.exact(r["mean_rank"]) for r in sub]
        means = np.array([e.value for e in est])
        low = np.array([e.low if math.isfinite(e.low) else e.value for e in est])
        high = np.array([e.high if math.isfinite(e.high) else e.value for e in est])
        ax2.errorbar(ds, means, yerr=[means - low, high - means], ls="-", label=f"init_H = {init} (95% t)", **style)
    ax1.axhline(ABOUT_0, color="k", ls=":", lw=0.8, label=f"claim: interval < {ABOUT_0:g} at the smallest d")
    ax1.axhline(ABOUT_1, color="k", ls="-.", lw=0.8, label=f"claim: interval > {ABOUT_1:g} at the largest d")
    ax2.axhline(K - 1, color="k", ls="--", lw=0.8, label=f"rank K-1 = {K - 1} (DNC)")
    ax2.axhline(K // 2, color="k", ls=":", lw=0.8, label=f"rank K/2 = {K // 2} (low rank)")
    ticks = sorted(widths)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ticks, [str(d) for d in ticks])
        ax.set_xlabel("width $d$ (the widths run)")
        ax.legend(fontsize=8)
    ax1.set_ylabel("P(DNC)")
    ax1.set_ylim(-0.05, 1.05)
    ax2.set_ylabel("mean rank of the class-mean logits")
    fig.tight_layout()
    return fig


GRID = Grid(unit=gd_unit, params=UNIT, points=points, judge=judge, check=check_unit)


@register(
    "garrod2025-width",
    paper=PAPER,
    title="Fig. 2 (left) and Fig. 5: DNC becomes more frequent with width",
    description=(
        "Figure 2 (left): fraction of 10 gradient-descent runs of the deep linear UFM (L = 2, K = 10, n = 5, "
        "λ = 2⁻¹⁰) that converge to DNC, against the width d, from about 0% to about 100%; Figure 5: the average rank of the solutions "
        "against d (ranks between K/2 and K-1 are partly collapsed mixtures)."
    ),
    defaults=table(UNIT, drop=("d", "init_H"), seeds=FULL_SEEDS,
                   ds=Param([10, 20, 30, 50, 70, 100, 150, 200], ListOf(Int(minimum=2), unique=True),
                            "widths d of the grid (each at least K)"),
                   init_H=Param(["unit", "fan_in"], ListOf(INIT_H, unique=True),
                                "H_1 scales of the grid; the first is the reference, every one is judged")),
    quick={"ds": [12, 30, 80], "steps": 2000, "polish_steps": 150, "seeds": 10},
    grid=GRID,
    check=check_experiment('garrod2025-width'),
)
def width(config: dict) -> Outcome:
    """The grid of a validated config through the sweep engine (inline, temporary store), judged."""
    return run_grid("garrod2025-width", GRID, config)
