"""Garrod & Keating 2025: gradient-descent experiments on the deep UFM (Figs. 1, 2, 5 and 6).

Every grid point trains all its seeds in ONE batched :func:`nclab.train` call: full-batch GD
(float32, GK's lr 0.5) from the Gaussian start, then an L-BFGS polish in float64 (``polish_steps``;
0 switches it off) so that final losses can be compared with the closed forms. Runs are labelled by
:func:`nclab.ufm.classify_solution` (tolerances ``rank_rtol``, ``nc_tol`` in the config).

Initialisation (decides DNC vs low rank, MATH.md section 4 derived observation; GK do not state
theirs [open]): W_l ~ N(0, 1/d) always; ``init_H = "unit"`` draws H_1 ~ N(0, 1) (default),
``"fan_in"`` draws H_1 ~ N(0, 1/d); a number sets the standard deviation of H_1 directly.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy.stats import spearmanr

from nclab import theory as T
from nclab.ufm.solutions import classify_params
from nclab._validation import fail
from nclab.experiments.registry import Claim, Outcome, register

PAPER = "garrod2025"
SRC = "Garrod & Keating 2025"
GD_KEYS = {"K": 10, "n": 5, "L": 2, "lr": 0.5, "steps": 10000, "polish_steps": 300, "polish_tol": 1e-9,
           "rank_rtol": 1e-3, "nc_tol": 0.05}


def _scale_H(init_H, d: int) -> float:
    if init_H == "unit":
        return 1.0
    if init_H == "fan_in":
        return 1.0 / math.sqrt(d)
    if isinstance(init_H, (int, float)) and not isinstance(init_H, bool) and init_H > 0:
        return float(init_H)
    fail("init_H", init_H, "'unit', 'fan_in' or a standard deviation > 0")


def _runs(cfg: dict, d: int, lam: float, seeds, init_H, activation: str = "linear", L: int | None = None):
    """Train ``seeds`` batched at one grid point; returns (spec, params float64, labels, losses, history)."""
    from nclab.ufm.spec import UFMSpec
    from nclab.ufm.engine import train

    K, n = int(cfg["K"]), int(cfg["n"])
    L = int(cfg["L"]) if L is None else L
    if int(d) < K:
        fail("d", d, f"at least K = {K} (Garrod & Keating's results assume width d >= K)")
    spec = UFMSpec.garrod(K, n, d, L, lam, activation=activation)
    steps = int(cfg["steps"])
    dev = cfg.get("device", "cpu")
    seeds = list(range(int(seeds))) if isinstance(seeds, int) else [int(s) for s in seeds]
    res = train(spec, seeds=seeds, steps=steps, optimizer="gd", lr=float(cfg["lr"]), init="gaussian",
                scale_H=_scale_H(init_H, d), metrics=False, record_every=max(1, steps // 60), dtype=torch.float32,
                device=dev)
    params, history = res.params.to(torch.float64), res.history
    if int(cfg["polish_steps"]) > 0:
        pol = train(spec, seeds=seeds, steps=int(cfg["polish_steps"]), optimizer="lbfgs", init=params, metrics=False,
                    record_every=max(1, int(cfg["polish_steps"]) // 10), dtype=torch.float64, tol=float(cfg["polish_tol"]),
                    device=dev)
        params = pol.params
        tail = pol.history.copy()
        tail["step"] = tail["step"] + steps
        history = pd.concat([history.assign(phase="gd"), tail.assign(phase="lbfgs")], ignore_index=True)
    from nclab.ufm.objective import parts

    with torch.no_grad():
        losses = parts(spec, params)["loss"].cpu().numpy()
    labels = classify_params(spec, params, rank_rtol=float(cfg["rank_rtol"]), nc_tol=float(cfg["nc_tol"]))
    return spec, params, labels, losses, history


def _mean_logits(spec, params, i: int) -> np.ndarray:
    from nclab.ufm.objective import forward

    with torch.no_grad():
        Z, _ = forward(spec, params.select(i))
    return Z[0].reshape(spec.K, spec.K, spec.n).mean(-1).cpu().numpy()


# ============================================================================ Fig. 1
@register(
    "garrod2025-fig1",
    paper=PAPER,
    title="Fig. 1: gradient descent finds both DNC and low-rank solutions",
    description=(
        "Figure 1: deep linear UFM with L = 2, d = 70, lam = 2^-10, K = 10, n = 5, trained with full-batch "
        "gradient descent (lr 0.5) from random initialisations; mean logit matrices of one run that converged to "
        "DNC (a simplex ETF) and one that converged to a low-rank block-diagonal solution with lower loss."
    ),
    defaults={**GD_KEYS, "d": 70, "lam": 2 ** -10, "seeds": 10, "init_H": "unit", "steps": 20000, "polish_steps": 500,
              "loss_tol": 1e-3},
    quick={"seeds": 4, "steps": 3000, "polish_steps": 200},
)
def fig1(config: dict) -> Outcome:
    d, lam = int(config["d"]), float(config["lam"])
    K, n, L = int(config["K"]), int(config["n"]), int(config["L"])
    spec, params, labels, losses, history = _runs(config, d, lam, config["seeds"], config["init_H"])
    _, dnc_loss = T.dnc_optimum(K, n, L, lam)
    _, lr_loss = T.low_rank_optimum(K, n, L, lam)
    kinds = [c["label"] for c in labels]
    ranks = [c["rank"] for c in labels]
    i_dnc = next((i for i, k in enumerate(kinds) if k == "dnc"), None)
    i_lr = next((i for i, c in enumerate(labels) if c["label"] == "low_rank" and c["rank"] == K // 2), None)
    if i_lr is None:
        i_lr = next((i for i, k in enumerate(kinds) if k == "low_rank"), None)
    fig = Figure(figsize=(13, 4))
    for j, (i, name) in enumerate(((i_dnc, "DNC"), (i_lr, "low rank"))):
        ax = fig.add_subplot(1, 3, j + 1)
        if i is None:
            ax.set_title(f"no {name} run found")
            ax.axis("off")
            continue
        M = _mean_logits(spec, params, i)
        lim = float(np.abs(M).max())
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(f"{name}: seed {i}, rank {ranks[i]}, loss {losses[i]:.5f}")
        ax.set_xlabel("class $k$ (column: mean logits of class $k$)")
        ax.set_ylabel("logit index")
    ax = fig.add_subplot(1, 3, 3)
    for i in sorted({x for x in (i_dnc, i_lr) if x is not None}):
        h = history[history["seed"] == i]
        ax.plot(h["step"].to_numpy() + 1, h["loss"].to_numpy(), label=f"seed {i} ({kinds[i]})")
    ax.axhline(dnc_loss, color="k", ls="--", lw=0.8, label=f"DNC closed form {dnc_loss:.6f}")
    ax.axhline(lr_loss, color="k", ls=":", lw=0.8, label=f"low-rank closed form {lr_loss:.6f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration (GD, then L-BFGS polish)")
    ax.set_ylabel(r"loss $\mathcal{L}$")
    ax.legend(fontsize=7)
    fig.tight_layout()
    tol = float(config["loss_tol"])
    err_dnc = abs(losses[i_dnc] - dnc_loss) if i_dnc is not None else float("nan")
    err_lr = abs(losses[i_lr] - lr_loss) if i_lr is not None and ranks[i_lr] == K // 2 else float("nan")
    claims = [
        Claim("both_types", "Gradient descent from random starts converges to DNC in some runs and to a low-rank "
              "solution in others.", f"{SRC}, Fig. 1", ">= 1 run of each type", {"labels": kinds, "ranks": ranks},
              i_dnc is not None and i_lr is not None),
        Claim("dnc_loss_closed_form", "The DNC run's final loss equals the closed-form DNC loss.", f"{SRC}, Fig. 1 / Theorem 1",
              f"|loss - {dnc_loss:.6f}| < {tol:g}", err_dnc, bool(err_dnc < tol)),
        Claim("low_rank_loss_closed_form", f"The rank-{K // 2} run's final loss equals the closed-form low-rank loss, "
              "below the DNC loss.", f"{SRC}, Fig. 1 / Theorem 1", f"|loss - {lr_loss:.6f}| < {tol:g}", err_lr,
              bool(err_lr < tol)),
    ]
    notes = [f"init: W ~ N(0, 1/d), H_1 init_H={config['init_H']!r}; GD {config['steps']} steps then L-BFGS "
             f"{config['polish_steps']} steps in float64."]
    return Outcome(claims=claims, figures={"fig1": fig}, notes=notes,
                   metrics={"losses": losses.tolist(), "labels": kinds, "ranks": ranks, "dnc_closed_form": dnc_loss,
                            "low_rank_closed_form": lr_loss})


# ============================================================================ Fig. 2 (left) / Fig. 5
def _sweep(config: dict, points, key: str):
    rows = []
    for value, d, lam, init_H in points:
        _, _, labels, losses, _ = _runs(config, d, lam, config["seeds"], init_H)
        kinds = [c["label"] for c in labels]
        rows.append({key: value, "init_H": init_H, "d": d, "lam": lam, "p_dnc": kinds.count("dnc") / len(kinds),
                     "p_low_rank": kinds.count("low_rank") / len(kinds), "p_other": kinds.count("other") / len(kinds),
                     "mean_rank": float(np.mean([c["rank"] for c in labels])), "ranks": [c["rank"] for c in labels],
                     "mean_loss": float(np.mean(losses))})
    return rows


def _trend(xs, ps) -> tuple[float, bool]:
    rho = spearmanr(xs, ps).statistic if len(set(ps)) > 1 else 0.0
    return float(rho), bool(ps[-1] > ps[0] and rho > 0)


@register(
    "garrod2025-width",
    paper=PAPER,
    title="Fig. 2 (left) and Fig. 5: DNC becomes more frequent with width",
    description=(
        "Figure 2 (left): fraction of 10 gradient-descent runs of the deep linear UFM (L = 2, K = 10, n = 5, "
        "lam = 2^-10) that converge to DNC, against the width d; Figure 5: the average rank of the solutions "
        "against d (ranks between K/2 and K-1 are partly collapsed mixtures)."
    ),
    defaults={**GD_KEYS, "lam": 2 ** -10, "ds": [10, 20, 30, 50, 70, 100, 150, 200], "seeds": 10,
              "init_H": ["unit", "fan_in"]},
    quick={"ds": [12, 30, 80], "steps": 2000, "polish_steps": 150},
)
def width(config: dict) -> Outcome:
    ds, lam, inits = [int(d) for d in config["ds"]], float(config["lam"]), list(config["init_H"])
    rows = _sweep(config, [(d, d, lam, i) for i in inits for d in ds], "d")
    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    trends = {}
    for j, init in enumerate(inits):
        sub = [r for r in rows if r["init_H"] == init]
        ps = [r["p_dnc"] for r in sub]
        trends[str(init)] = _trend(ds, ps)
        ax1.plot(ds, ps, "o-", color=f"C{j}", label=f"init_H = {init}")
        ax2.plot(ds, [r["mean_rank"] for r in sub], "o-", color=f"C{j}", label=f"init_H = {init}")
    ax1.set_xscale("log")
    ax1.set_xlabel("width $d$")
    ax1.set_ylabel("P(DNC)")
    ax1.set_ylim(-0.05, 1.05)
    ax1.legend()
    ax2.set_xscale("log")
    ax2.set_xlabel("width $d$")
    ax2.set_ylabel("mean rank of the class-mean logits")
    ax2.axhline(int(config["K"]) - 1, color="k", ls="--", lw=0.8)
    ax2.axhline(int(config["K"]) // 2, color="k", ls=":", lw=0.8)
    ax2.legend()
    fig.tight_layout()
    first = str(inits[0])
    p_first = [r["p_dnc"] for r in rows if r["init_H"] == inits[0]]
    claims = [
        Claim("p_dnc_grows_with_width", "The probability that gradient descent converges to DNC grows with the width d.",
              f"{SRC}, Fig. 2 (left) / Theorem 5", "P(DNC) at largest d > at smallest d and Spearman rho > 0 "
              f"(init_H={first})", {"p_dnc": p_first, "spearman": trends[first][0]}, trends[first][1]),
    ]
    if len(inits) > 1:
        mean_p = {str(i): float(np.mean([r["p_dnc"] for r in rows if r["init_H"] == i])) for i in inits}
        claims.append(Claim(
            "init_scale_matters", "The initialisation scale decides the outcome: with H_1 ~ N(0, 1/d) instead of "
            "N(0, 1) gradient descent reaches DNC less often (the onset of DNC moves to larger widths).",
            "MATH.md section 4 (derived observation; GK's init is not stated)",
            f"mean over the d grid of P(DNC | {inits[1]}) < of P(DNC | {inits[0]})", mean_p,
            mean_p[str(inits[1])] < mean_p[str(inits[0])]))
    return Outcome(claims=claims, figures={"width": fig}, tables={"width": rows},
                   metrics={f"p_dnc_{k}": [r["p_dnc"] for r in rows if str(r["init_H"]) == k] for k in map(str, inits)})


# ============================================================================ Fig. 2 (right)
@register(
    "garrod2025-lambda",
    paper=PAPER,
    title="Fig. 2 (right): DNC becomes more frequent as lam decreases",
    description=(
        "Figure 2 (right): fraction of 10 gradient-descent runs of the deep linear UFM (L = 2, d = 70, K = 10, "
        "n = 5) that converge to DNC, against the regularisation strength lam; DNC is found more often for "
        "small lam, where the DNC and low-rank losses are closer."
    ),
    defaults={**GD_KEYS, "d": 70, "lams_log2": [-6, -7, -8, -9, -10, -11, -12, -13, -14], "seeds": 10, "init_H": "unit"},
    quick={"lams_log2": [-7, -10, -13], "steps": 2500, "polish_steps": 150},
)
def lam_sweep(config: dict) -> Outcome:
    es, d = [float(e) for e in config["lams_log2"]], int(config["d"])
    rows = _sweep(config, [(e, d, 2.0 ** e, config["init_H"]) for e in es], "log2_lam")
    K, n, L = int(config["K"]), int(config["n"]), int(config["L"])
    for r in rows:
        r["gap_closed_form"] = T.dnc_optimum(K, n, L, r["lam"])[1] - T.low_rank_optimum(K, n, L, r["lam"])[1]
    order = sorted(range(len(es)), key=lambda i: -es[i])  # largest lam first
    ps = [rows[i]["p_dnc"] for i in order]
    rho, ok = _trend([-es[i] for i in order], ps)
    fig = Figure(figsize=(11, 4))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(es, [r["p_dnc"] for r in rows], "o-")
    ax.set_xlabel(r"$\log_2 \lambda$")
    ax.set_ylabel("P(DNC)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"$d={d}$, $L={L}$, $K={K}$, $n={n}$")
    ax = fig.add_subplot(1, 2, 2)
    ax.plot(es, [r["mean_rank"] for r in rows], "o-", label="mean rank")
    ax.set_xlabel(r"$\log_2 \lambda$")
    ax.set_ylabel("mean rank of the class-mean logits")
    ax.legend()
    fig.tight_layout()
    claims = [Claim("dnc_more_frequent_small_lam", "DNC becomes more frequent as lam decreases.", f"{SRC}, Fig. 2 (right)",
                    "P(DNC) at smallest lam > at largest lam and Spearman rho(-log lam, P) > 0",
                    {"log2_lam": [es[i] for i in order], "p_dnc": ps, "spearman": rho}, ok)]
    return Outcome(claims=claims, figures={"lambda": fig}, tables={"lambda": rows}, metrics={"p_dnc": ps})


# ============================================================================ Fig. 6 (ReLU)
@register(
    "garrod2025-relu",
    paper=PAPER,
    title="Fig. 6 and Theorem 7: the deep ReLU UFM",
    description=(
        "Figure 6: deep ReLU UFM with L = 3, d = 70, lam = 2^-9, K = 10, n = 5, gradient descent with lr 0.5; "
        "Theorem 7: DNC is not globally optimal in the deep ReLU UFM when K >= 10 and L >= 5 or K >= 16 and "
        "L = 4 (appendix table by parity of K); the linear DNC loss is a lower bound for the ReLU DNC loss."
    ),
    defaults={**GD_KEYS, "L": 3, "d": 70, "lam": 2 ** -9, "seeds": 10, "init_H": "unit", "steps": 20000,
              "polish_steps": 500, "table_Ks": list(range(2, 21)), "table_Ls": list(range(1, 8))},
    quick={"seeds": 4, "steps": 4000, "polish_steps": 300},
)
def relu(config: dict) -> Outcome:
    d, lam, K, n, L = int(config["d"]), float(config["lam"]), int(config["K"]), int(config["n"]), int(config["L"])
    spec, params, labels, losses, history = _runs(config, d, lam, config["seeds"], config["init_H"], activation="relu")
    _, dnc_lin = T.dnc_optimum(K, n, L, lam)
    _, lr_lin = T.low_rank_optimum(K, n, L, lam)
    kinds, ranks = [c["label"] for c in labels], [c["rank"] for c in labels]
    dnc_losses = [float(losses[i]) for i, k in enumerate(kinds) if k == "dnc"]
    Ks, Ls = [int(k) for k in config["table_Ks"]], [int(x) for x in config["table_Ls"]]
    table = [{"K": k, **{f"L={x}": T.theorem7_relu_rule(k, x) for x in Ls}} for k in Ks]
    inside = all(T.theorem7_relu_rule(k, x) for k in Ks for x in Ls if (k >= 10 and x >= 5) or (k >= 16 and x == 4))
    fig = Figure(figsize=(12, 4))
    ax = fig.add_subplot(1, 3, 1)
    grid = np.array([[T.theorem7_relu_rule(k, x) for k in Ks] for x in Ls], dtype=float)
    ax.imshow(grid, cmap="Greys", origin="lower", aspect="auto", extent=(Ks[0] - 0.5, Ks[-1] + 0.5, Ls[0] - 0.5, Ls[-1] + 0.5))
    ax.set_xlabel("$K$")
    ax.set_ylabel("$L$")
    ax.set_title("Theorem 7 (black: DNC not optimal, ReLU)")
    for j, want in enumerate(("dnc", "low_rank")):
        ax = fig.add_subplot(1, 3, j + 2)
        i = next((i for i, k in enumerate(kinds) if k == want), None)
        if i is None:
            i = int(np.argmin(losses)) if want == "low_rank" else int(np.argmax(losses))
        M = _mean_logits(spec, params, i)
        lim = float(np.abs(M).max())
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(f"ReLU seed {i}: {kinds[i]}, rank {ranks[i]}, loss {losses[i]:.4f}", fontsize=9)
        ax.set_xlabel("class $k$")
        ax.set_ylabel("logit index")
    fig.tight_layout()
    claims = [
        Claim("thm7_table_contains_main_text", "DNC is not globally optimal in the deep ReLU UFM for K >= 10, L >= 5 "
              "or K >= 16, L = 4 (the appendix table by parity contains this region).", f"{SRC}, Theorem 7",
              "main-text region inside the table", inside, inside),
        Claim("relu_dnc_above_linear_bound", "The DNC loss of the deep linear UFM is a lower bound for the DNC loss of "
              "the deep ReLU UFM.", f"{SRC}, Theorem 7 (proof)", f"every ReLU DNC run's loss >= {dnc_lin:.6f}",
              {"relu_dnc_losses": dnc_losses, "linear_dnc": dnc_lin},
              bool(dnc_losses) and min(dnc_losses) >= dnc_lin - 1e-9),
    ]
    notes = [f"ReLU runs: labels {kinds}, ranks {ranks}; linear closed forms at these settings: DNC {dnc_lin:.6f}, "
             f"low rank {lr_lin:.6f}."]
    other = [float(losses[i]) for i, k in enumerate(kinds) if k != "dnc"]
    if dnc_losses and other and min(other) < min(dnc_losses):
        notes.append(f"Some non-DNC ReLU run ends below every ReLU DNC run (loss {min(other):.6f} < {min(dnc_losses):.6f}): "
                     "DNC is not the best solution found here either, although (K, L) lies outside Theorem 7's region.")
    if not dnc_losses:
        notes.append("No ReLU run ended at DNC, so the lower-bound claim could not be checked (reported as failed).")
    return Outcome(claims=claims, figures={"relu": fig}, tables={"theorem7": table}, notes=notes,
                   metrics={"losses": losses.tolist(), "labels": kinds, "ranks": ranks, "linear_dnc": dnc_lin,
                            "linear_low_rank": lr_lin})
