"""Garrod & Keating 2025, Fig. 1: gradient descent finds both DNC and low-rank solutions.

One grid point (L = 2, d = 70, lam = 2^-10) x ``seeds``, run through the sweep engine by the
shared unit of :mod:`nclab.experiments.garrod2025._gd`; the judge picks one DNC run and one
rank-K/2 run, compares their final losses with the closed forms, and the figure shows their
mean-logit matrices and loss histories. ``both_types`` is a fact about the runs (existence, with the DNC
fraction and its interval reported); the loss claims compare every trained run of a type with
its closed form, or trained runs with each other.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from nclab.config import Param, Real
from nclab.experiments.garrod2025._critical import critical_point_claims
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.garrod2025._gd import (check_experiment, check_unit, convergence_notes, draw_logits, point_runs,
                                              gd_unit, mean_logits, table, unit_table)
from nclab.experiments.grid import Grid, run_grid
from nclab.experiments import rules
from nclab.experiments.registry import Claim, Outcome, register

UNIT = unit_table(steps=20000, polish_steps=500)


def points(config: dict) -> list[dict]:
    """One grid point: the experiment's own (d, lam, init_H)."""
    return [{}]


def _pick(kinds: list, ranks: list, K: int) -> tuple[int | None, int | None]:
    i_dnc = next((i for i, k in enumerate(kinds) if k == "dnc"), None)
    i_lr = next((i for i, k in enumerate(kinds) if k == "low_rank" and ranks[i] == K // 2), None)
    if i_lr is None:
        i_lr = next((i for i, k in enumerate(kinds) if k == "low_rank"), None)
    return i_dnc, i_lr


def _claims(pr, i_dnc: int | None, i_lr: int | None, tol: float) -> list[Claim]:
    """Fig. 1's claims over all the runs: both types occur, every DNC run and every rank-K/2 run
    ends at its closed-form loss (Theorem 1's constructions, checked against trained runs), and
    every rank-K/2 run ends below every DNC run."""
    K, losses, kinds, ranks, n_runs = pr.K, pr.losses, pr.kinds, pr.ranks, len(pr.kinds)
    src = f"{SRC}, Fig. 1"
    dnc = [float(losses[i]) for i, k in enumerate(kinds) if k == "dnc"]
    half = [float(losses[i]) for i, k in enumerate(kinds) if k == "low_rank" and ranks[i] == K // 2]
    counts = {k: kinds.count(k) for k in ("dnc", "low_rank", "other")}
    both = rules.proportion(counts["dnc"], n_runs)
    lowest_dnc = min(dnc) if dnc else float("nan")
    below = rules.every([x < lowest_dnc for x in half] if dnc else [],
                        f"the rank-{K // 2} run's final loss < the lowest DNC run's final loss")
    return [
        Claim.decided("both_types", "Gradient descent from random starts converges to DNC in some runs and to a "
                      "low-rank solution in others.", src,
                      rules.Verdict(counts["dnc"] >= 1 and counts["low_rank"] >= 1,
                                    f"≥ 1 run of each type (DNC, low rank) among the {n_runs} runs", both, "count"),
                      {"labels": kinds, "ranks": ranks, "counts": counts},
                      note=f"existence among these {n_runs} runs; the estimate is the DNC fraction with its Wilson "
                           "interval (Fig. 1 states no frequency; garrod2025-width measures it)"),
        Claim.decided("dnc_loss_closed_form", "The DNC run's final loss equals the closed-form DNC loss.",
                      f"{src} / Theorem 1",
                      rules.every([abs(x - pr.dnc_loss) <= tol for x in dnc],
                                  f"|DNC run's final loss - {pr.dnc_loss:.6f}| ≤ {tol:g}"),
                      {"max_abs_error": max((abs(x - pr.dnc_loss) for x in dnc), default=None), "n_dnc_runs": len(dnc)},
                      note=f"trained DNC runs against the closed form {pr.dnc_loss:.6f}; the interval is over them",
                      n_seeds=n_runs),
        Claim.decided("low_rank_loss_closed_form", f"The rank-{K // 2} run's final loss equals the closed-form "
                      "low-rank loss.", f"{src} / Theorem 1",
                      rules.every([abs(x - pr.low_rank_loss) <= tol for x in half],
                                  f"|rank-{K // 2} run's final loss - {pr.low_rank_loss:.6f}| ≤ {tol:g}"),
                      {"max_abs_error": max((abs(x - pr.low_rank_loss) for x in half), default=None),
                       "n_rank_half_runs": len(half)},
                      note=f"trained rank-{K // 2} runs against the closed form {pr.low_rank_loss:.6f}; the interval is "
                           "over them", n_seeds=n_runs),
        Claim.decided("low_rank_run_below_dnc_run", "The low-rank run reaches a lower loss than the DNC run.", src,
                      below, {"rank_half_losses": half, "lowest_dnc": lowest_dnc},
                      note="trained runs compared with trained runs (no closed form involved); the interval is over the "
                           f"rank-{K // 2} runs", n_seeds=n_runs),
    ]


def judge(config: dict, rows: pd.DataFrame) -> Outcome:
    """Claims of Fig. 1 from the rows of its grid point (seed order)."""
    pr = point_runs(rows)
    rows, notes, K, losses, kinds, ranks = pr.rows, pr.notes, pr.K, pr.losses, pr.kinds, pr.ranks
    dnc_loss, lr_loss, first = pr.dnc_loss, pr.low_rank_loss, rows.iloc[0]
    i_dnc, i_lr = _pick(kinds, ranks, K)
    claims = _claims(pr, i_dnc, i_lr, float(config["loss_tol"])) + critical_point_claims(rows, "this Fig. 1 point")
    notes.insert(0, f"init: W ∼ N(0, 1/d), H_1 init_H={first['init_H']!r}; GD {int(first['steps'])} steps then "
                 f"L-BFGS {int(first['polish_steps'])} steps in float64.")
    notes.extend(convergence_notes(rows))
    fig = draw(rows, i_dnc, i_lr, dnc_loss, lr_loss)
    return Outcome(claims=claims, figures={"fig1": fig}, notes=notes,
                   metrics={"losses": losses.tolist(), "labels": kinds, "ranks": ranks, "dnc_closed_form": dnc_loss,
                            "low_rank_closed_form": lr_loss})


def draw(rows: pd.DataFrame, i_dnc: int | None, i_lr: int | None, dnc_loss: float, lr_loss: float) -> Figure:
    """Mean-logit matrices of the chosen DNC and low-rank runs and their loss histories."""
    fig = Figure(figsize=(13, 4))
    for j, (i, name) in enumerate(((i_dnc, "DNC"), (i_lr, "low rank"))):
        ax = fig.add_subplot(1, 3, j + 1)
        if i is None:
            ax.set_title(f"no {name} run found")
            ax.axis("off")
            continue
        row = rows.iloc[i]
        draw_logits(ax, fig, mean_logits(row),
                    f"{name}: seed {int(row['seed'])}, rank {int(row['rank'])}, loss {float(row['loss']):.5f}")
        ax.set_xlabel("class $k$ (column: mean logits of class $k$)")
        ax.set_ylabel("logit index")
    ax = fig.add_subplot(1, 3, 3)
    for i in sorted({x for x in (i_dnc, i_lr) if x is not None}):
        row = rows.iloc[i]
        h = row["history"] if "history" in rows.columns else pd.DataFrame()
        if len(h):
            ax.plot(h["step"].to_numpy() + 1, h["loss"].to_numpy(), label=f"seed {int(row['seed'])} ({row['label']})")
    ax.axhline(dnc_loss, color="k", ls="--", lw=0.8, label=f"DNC closed form {dnc_loss:.6f}")
    ax.axhline(lr_loss, color="k", ls=":", lw=0.8, label=f"low-rank closed form {lr_loss:.6f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration (GD, then L-BFGS polish)")
    ax.set_ylabel(r"loss $\mathcal{L}$")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


GRID = Grid(unit=gd_unit, params=UNIT, points=points, judge=judge, check=check_unit)


@register(
    "garrod2025-fig1",
    paper=PAPER,
    title="Fig. 1: gradient descent finds both DNC and low-rank solutions",
    description=(
        "Figure 1: deep linear UFM with L = 2, d = 70, λ = 2⁻¹⁰, K = 10, n = 5, trained with full-batch "
        "gradient descent (lr 0.5) from random initialisations; mean logit matrices of one run that converged to "
        "DNC (a simplex ETF) and one that converged to a low-rank block-diagonal solution with lower loss."
    ),
    defaults=table(UNIT, loss_tol=Param(1e-3, Real(minimum=0.0, strict=True),
                                        "tolerance of |final loss - closed form|")),
    quick={"seeds": 4, "steps": 3000, "polish_steps": 200},
    grid=GRID,
    check=check_experiment('garrod2025-fig1'),
)
def fig1(config: dict) -> Outcome:
    """The grid of a validated config through the sweep engine (inline, temporary store), judged."""
    return run_grid("garrod2025-fig1", GRID, config)
