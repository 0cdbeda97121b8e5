"""MPP Fig. 2: gradient descent stays within O(eps) of the invariant subspace S.

Registered as ``mixon2022-fig2``: the relative distance ||Z - Pi_S Z||_E / ||Z||_E along gradient
descent. The figure's statement (the distance stays of order eps) is checked as a rate: the
log-log slope in eps, one per seed, of (a) the largest distance over the iterations after a
burn-in and (b) the final distance, each with exponent 1 on the 95% t interval of the mean slope
over seeds (:func:`~nclab.experiments.mixon2022._gd.rate_over_seeds`).

The burn-in is needed because at iteration 1 the bias b = lr/C 1 (in S) dominates ||Z||_E and
the distance is eps times a constant fixed by the start, whatever the dynamics do: the ratio
there is eps-independent by construction. ``burn_in`` (10; a choice, docs/math.md §5.6) is the number of steps after
which b has settled at 1/C 1 within 0.1% (step 0.5); the metrics also give the slope for burn-ins
of 1 and 10 x burn_in, to show how the measurement moves with this choice.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nclab.config import Int, Param, refuse
from nclab.experiments.bands import geometric_band
from nclab.experiments.mixon2022._gd import (PAPER, PARAMS, QUICK, RATE_TOL, SOURCE, check_config, rate_over_seeds,
                                             run_gradient_descent, seed_slopes)
from nclab.experiments.registry import Claim, Outcome, register

NAME = "mixon2022-fig2"

DESC = (
    "Figure 2: Gradient descent maintains small distance from the invariant subspace S. Run gradient "
    "descent to minimize R_e(H,W,b) for C=N=3 and p=15, initializing at a random choice of H_0 and "
    "W_0 with ‖H_0‖_F=‖W_0‖_F=ε and b_0=0. At each iteration, quantify the relative distance "
    "from S by ‖Z - Π_S Z‖_E/‖Z‖_E, where ‖(H,W,b)‖_E² = ‖H‖_F²+‖W‖_F²+‖b‖_2²."
)

FIG2_PARAMS = {
    **PARAMS,
    "burn_in": Param(10, Int(minimum=1),
                     "first iterations left out of the largest distance to S (the bias settles at (1/C)1 within "
                     "0.1% after 10 steps of size 0.5; before that ‖Z‖_E is the bias; not stated by MPP)"),
}


def check_fig2(config: dict) -> None:
    """``p >= C - 1`` and ``burn_in < steps`` (the largest distance needs iterations after the burn-in)."""
    check_config(NAME)(config)
    if config["burn_in"] >= config["steps"]:
        refuse(f"experiment {NAME!r}", "burn_in", config["burn_in"],
               f"< steps = {config['steps']} (the distance is taken over the iterations after the burn-in)")


@register(NAME, paper=PAPER, title="Distance to the invariant subspace S (MPP Fig. 2)",
          description=DESC, defaults=FIG2_PARAMS, quick=QUICK, seed_key="seeds", check=check_fig2)
def fig2(config: dict) -> Outcome:
    eps = sorted(config["eps"], reverse=True)
    run = run_gradient_descent(config, eps)
    stats = distance_stats(eps, run, config["burn_in"])
    metrics = summarise(eps, stats, run)
    return Outcome(claims=judge(config, eps, stats), figures={"fig2_distance_to_S": draw(eps, run, config["burn_in"])},
                   metrics=metrics, notes=explain(config, stats, metrics))


def sup_after(run: dict, burn_in: int) -> np.ndarray:
    """(E, S): the largest relative distance over the recorded iterations >= ``burn_in``."""
    keep = run["steps"] >= burn_in
    return run["distance"][:, :, keep].max(-1)


def distance_stats(eps: list[float], run: dict, burn_in: int) -> dict[str, np.ndarray]:
    """``sup`` and ``final`` (E, S) distances, their per-seed slopes in eps, slopes at other burn-ins."""
    dist = run["distance"]
    sup = sup_after(run, burn_in)
    other = {b: seed_slopes(eps, sup_after(run, b)) for b in (1, 10 * burn_in) if b < run["steps"][-1]}
    return {"sup": sup, "final": dist[:, :, -1], "initial": dist[:, :, 0],
            "sup_slopes": seed_slopes(eps, sup), "final_slopes": seed_slopes(eps, dist[:, :, -1]), "other": other}


def summarise(eps: list[float], stats: dict, run: dict) -> dict:
    """Metrics: the median sup / final distance over eps per eps, the slopes, the initial distance, the GD time."""
    e = np.asarray(eps)[:, None]
    metrics = {f"sup_distance_over_eps_eps={x:g}": float(np.median(stats["sup"][i] / x)) for i, x in enumerate(eps)}
    metrics.update({f"final_distance_over_eps_eps={x:g}": float(np.median(stats["final"][i] / x))
                    for i, x in enumerate(eps)})
    metrics["slope_sup_distance_vs_eps"] = float(np.mean(stats["sup_slopes"]))
    metrics["slope_final_distance_vs_eps"] = float(np.mean(stats["final_slopes"]))
    metrics.update({f"slope_sup_distance_vs_eps[burn_in={b}]": float(np.mean(v)) for b, v in stats["other"].items()})
    metrics["initial_relative_distance"] = float(np.median(stats["initial"]))
    metrics["max_sup_distance_over_eps"] = float((stats["sup"] / e).max())
    metrics["gd_seconds"] = run["seconds"]
    return metrics


def judge(config: dict, eps: list[float], stats: dict) -> list[Claim]:
    """Fig. 2: the largest distance after the burn-in and the final distance are both O(eps)."""
    text = "Gradient descent maintains small distance from the invariant subspace S (of order ε)."
    note = (f"exponent 1 and tolerance {RATE_TOL:g} fixed before the first run; the paper states no constant. "
            "Before this rule the claim was max/min over ε of (max over iterations ≥ 1 of distance/ε) ≤ 2, "
            "which iteration 1 decides by construction.")
    return [
        Claim.decided("distance_is_O_eps", text=text, source=f"{SOURCE}, Fig. 2",
                      verdict=rate_over_seeds(stats["sup_slopes"], 1.0, RATE_TOL),
                      measured={"slope_per_seed": [float(x) for x in stats["sup_slopes"]],
                                "burn_in": int(config["burn_in"])},
                      note=f"largest relative distance over the iterations ≥ burn_in = {config['burn_in']}; " + note),
        Claim.decided("final_distance_is_O_eps", text=text, source=f"{SOURCE}, Fig. 2",
                      verdict=rate_over_seeds(stats["final_slopes"], 1.0, RATE_TOL),
                      measured={"slope_per_seed": [float(x) for x in stats["final_slopes"]]},
                      note=f"relative distance at the last iteration ({config['steps']}); " + note),
    ]


def explain(config: dict, stats: dict, metrics: dict) -> list[str]:
    """Notes for the reader: iteration 0, the burn-in, the derived constant, the burn-in sensitivity."""
    eps = sorted(config["eps"], reverse=True)
    final = ", ".join(f"{np.median(stats['final'][i]) / e:.3f} ε" for i, e in enumerate(eps))
    other = ", ".join(f"burn_in={b}: {np.mean(v):.3f}" for b, v in stats["other"].items())
    return [
        "Iteration 0 (the random start) is excluded: its relative distance to S is O(1) "
        f"(median {metrics['initial_relative_distance']:.2f}); after one step b = (lr/C)1 lies in S and "
        f"dominates ‖Z‖_E, so the first {config['burn_in']} iterations are left out of the largest distance.",
        "Our earlier run (docs/math.md §5.6) gave a final distance of about 0.28 ε with a start of total norm ε; "
        f"measured here (init_norm={config['init_norm']!r}): {final}.",
        f"Mean slope of the largest distance in ε at other burn-ins: {other or 'none (too few steps)'}; "
        f"at burn_in={config['burn_in']}: {metrics['slope_sup_distance_vs_eps']:.3f}.",
        f"{len(config['seeds'])} seeds per ε (the paper shows one start per ε; the full profile runs 10); the "
        "quick profile's 3 seeds give a t interval with 2 degrees of freedom.",
    ]


def draw(eps: list[float], run: dict, burn_in: int) -> Figure:
    """The relative distance to S against the iteration (geometric mean over the seeds, 95% t interval
    shaded), eps dotted, the burn-in grey."""
    t, dist = run["steps"], run["distance"]
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    for i, e in enumerate(eps):
        geometric_band(ax, t[1:], dist[i, :, 1:], color=f"C{i}", label=rf"$\varepsilon={e:g}$")
        ax.axhline(e, color=f"C{i}", ls=":", lw=0.8, label=rf"level $\varepsilon={e:g}$ (dotted)")
    ax.axvspan(1, burn_in, color="0.9", zorder=0, label="burn-in")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\|Z-\Pi_S Z\|_E/\|Z\|_E$")
    ax.set_title(rf"Relative distance to $S$ (dotted: $\varepsilon$; geometric mean over {dist.shape[1]} seeds)",
                 fontsize=10)
    ax.legend(fontsize=8)
    return fig
