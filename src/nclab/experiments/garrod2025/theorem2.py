"""GK Theorem 2 on random structures: for L large the lower-rank diagonally superior structure wins.

Registered as ``garrod2025-theorem2``. For K classes and each rank r of ``ranks``, ``structures``
random diagonally superior K x K matrices of exact rank r are drawn
(:func:`nclab.theory.deep.optimal_rank.random_superior`: M = X^T (X + 0.3 E), X random unit
columns, kept when diagonally superior of rank r with a margin >= 0.01 at unit Frobenius norm),
scaled to margin 1. Each is scaled optimally at every depth of
``depths``: the engine's objective (:class:`nclab.experiments.garrod2025.theorem1.EnginePoint`,
balanced factors, GK Lemma 1) minimised over the scale, not the closed form, which is compared
in a check. For every pair of structures of ranks r1 < r2 the depth L0 from which the lower-rank
one has the lower optimal loss at every larger depth of the grid is reported.

Rule, fixed before the run: the claim holds when every pair has such an L0 with at least two
depths of the grid from L0 on (rules.every over the pairs, count and Wilson interval).

References
----------
C. Garrod, J. P. Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
arXiv 2410.23169: Theorem 2 (and Lemma 1 for the balanced factors).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab import theory as T
from nclab.config import Int, ListOf, Param, Real
from nclab.experiments import rules
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.garrod2025.theorem1 import EnginePoint
from nclab.experiments.registry import Claim, Outcome, register
from nclab.theory.deep.optimal_rank import random_superior

NAME = "garrod2025-theorem2"

DESC = (
    "Theorem 2: for L large enough a lower-rank diagonally superior logit structure has a lower optimal loss than "
    "any higher-rank one. Random diagonally superior structures of several ranks, each at its optimal scale "
    "(engine objective at balanced factors), compared pairwise over depths; the depth from which the lower rank "
    "wins is reported for every pair."
)

PARAMS = {
    "K": Param(6, Int(minimum=3), "number of classes"),
    "ranks": Param([2, 3, 4, 5], ListOf(Int(minimum=2), min_len=2, sorted_=True), "ranks of the random structures"),
    "structures": Param(5, Int(minimum=1), "random structures per rank"),
    "depths": Param([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], ListOf(Int(minimum=1), min_len=2, sorted_=True),
                    "depths L at which the structures are compared"),
    "n": Param(5, Int(minimum=1), "samples per class"),
    "lam": Param(2 ** -10, Real(minimum=0.0, strict=True), "weight decay λ"),
    "seed": Param(0, Int(minimum=0), "seed of the random structures"),
}
QUICK = {"structures": 2, "ranks": [2, 3, 5], "depths": [1, 2, 4, 8, 16, 32, 64]}

#: Allowed |closed-form optimum - engine optimum| (as in garrod2025-theorem1).
LOSS_TOL = 1e-9


def check_config(config: dict) -> None:
    from nclab.config import refuse

    if max(config["ranks"]) > config["K"]:
        refuse(f"experiment {NAME!r}", "ranks", config["ranks"], f"ranks <= K = {config['K']}")


def draw_structures(config: dict) -> list[dict]:
    """The random structures: rank, index, matrix (scaled to margin 1) and its margin."""
    rng = np.random.default_rng(config["seed"])
    out = []
    for r in config["ranks"]:
        for j in range(config["structures"]):
            M = random_superior(config["K"], r, rng)
            M = M / T.superiority_margin(M)  # margin 1: the optimal scale is O(log(1/lam)) for every structure
            out.append({"rank": r, "id": f"r{r}#{j}", "M": M, "margin": float(T.superiority_margin(M))})
    return out


def losses(config: dict, structures: list[dict]) -> None:
    """Adds ``engine`` and ``closed_form`` optimal losses (per depth) to every structure."""
    for s in structures:
        M = torch.as_tensor(s["M"], dtype=torch.float64)
        s["engine"] = [EnginePoint(M, config["n"], L).optimum(config["lam"])[1] for L in config["depths"]]
        s["closed_form"] = [T.structure_optimum(s["M"], config["n"], L, config["lam"])[1] for L in config["depths"]]


def wins_from(low: list[float], high: list[float]) -> int | None:
    """The first index from which low < high at every later index (None if not at the last one)."""
    i = len(low)
    while i > 0 and low[i - 1] < high[i - 1]:
        i -= 1
    return None if i == len(low) else i


def pairs(config: dict, structures: list[dict]) -> list[dict]:
    """Every pair of ranks r1 < r2 with the depth L0 from which the lower rank wins."""
    depths, out = config["depths"], []
    for a, b in itertools.combinations(structures, 2):
        if a["rank"] == b["rank"]:
            continue
        lo, hi = (a, b) if a["rank"] < b["rank"] else (b, a)
        i = wins_from(lo["engine"], hi["engine"])
        out.append({"low": lo["id"], "high": hi["id"], "r1": lo["rank"], "r2": hi["rank"],
                    "L0": None if i is None else depths[i], "tail": 0 if i is None else len(depths) - i,
                    "holds": i is not None and len(depths) - i >= 2})
    return out


@register(NAME, paper=PAPER, title="Theorem 2: lower rank wins at depth, random diagonally superior structures",
          description=DESC, defaults=PARAMS, quick=QUICK, seed_key="seed", check=check_config)
def theorem2(config: dict) -> Outcome:
    structures = draw_structures(config)
    losses(config, structures)
    table = pairs(config, structures)
    v = rules.every([p["holds"] for p in table], "the lower-rank structure has the lower optimal loss at every depth "
                                                "from some L_0 of the grid on (≥ 2 depths)")
    by_ranks = {}
    for p in table:
        key = f"{p['r1']}<{p['r2']}"
        by_ranks.setdefault(key, []).append(p["L0"])
    measured = {"pairs": len(table), "failing": [[p["low"], p["high"]] for p in table if not p["holds"]],
                "L0_by_ranks": {k: (None if None in v_ else max(v_)) for k, v_ in by_ranks.items()}}
    err = max(abs(a - b) for s in structures for a, b in zip(s["engine"], s["closed_form"]))
    margins = min(s["margin"] for s in structures)
    claims = [
        Claim.decided("thm2_random_lower_rank_wins", "For L large enough a lower-rank diagonally superior structure "
                      "beats any higher-rank one: every random pair (r1 < r2) has a depth from which the lower-rank "
                      "one has the lower optimal loss at every larger depth of the grid.", f"{SRC}, Theorem 2", v,
                      measured, note=f"K = {config['K']}, ranks {config['ranks']}, {config['structures']} structures per "
                                     f"rank (seed {config['seed']}), depths {config['depths']}, λ = {config['lam']:g}, "
                                     f"n = {config['n']}; L_0 per rank pair is the largest over its pairs"),
        Claim("closed_form_vs_engine", "structure_optimum (closed form, 1-D) agrees with the engine's 1-D minima.",
              "nclab cross-check", f"max |loss difference| ≤ {LOSS_TOL:g}", err, err <= LOSS_TOL, kind="check"),
        Claim("structures_superior", "Every random structure is diagonally superior of its stated rank.",
              "nclab cross-check", "smallest margin > 0", margins, margins > 0, kind="check"),
    ]
    rows = [{"low": p["low"], "high": p["high"], "r1": p["r1"], "r2": p["r2"], "L0": p["L0"]} for p in table]
    loss_rows = [{"L": L, **{s["id"]: s["engine"][i] for s in structures}} for i, L in enumerate(config["depths"])]
    return Outcome(claims=claims, figures={"theorem2": draw(config, structures)},
                   tables={"theorem2_pairs": rows, "theorem2_losses": loss_rows},
                   metrics={"L0_by_ranks": measured["L0_by_ranks"]})


def draw(config: dict, structures: list[dict]) -> Figure:
    """Optimal loss against depth, coloured by rank."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ranks = config["ranks"]
    for s in structures:
        c = f"C{ranks.index(s['rank'])}"
        ax.plot(config["depths"], s["engine"], "o-", ms=2, color=c, label=f"rank {s['rank']}" if s["id"].endswith("#0") else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of weight matrices $L$")
    ax.set_ylabel("optimal loss (engine)")
    ax.set_title(rf"Theorem 2, random structures: $K={config['K']}$, $\lambda=2^{{{math.log2(config['lam']):.0f}}}$")
    ax.legend()
    fig.tight_layout()
    return fig
