"""MPP Fig. 2: gradient descent stays within O(eps) of the invariant subspace S.

Registered as ``mixon2022-fig2``: the relative distance ||Z - Pi_S Z||_E / ||Z||_E along gradient
descent; the claim is that its largest value over the run, divided by eps, does not depend on eps.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nclab.experiments.mixon2022._gd import PAPER, PARAMS, QUICK, SOURCE, check_config, run_gradient_descent
from nclab.experiments.registry import Claim, Outcome, register

NAME = "mixon2022-fig2"

DESC = (
    "Figure 2: Gradient descent maintains small distance from the invariant subspace S. Run gradient "
    "descent to minimize R_e(H,W,b) for C=N=3 and p=15, initializing at a random choice of H_0 and "
    "W_0 with ||H_0||_F=||W_0||_F=eps and b_0=0. At each iteration, quantify the relative distance "
    "from S by ||Z - Pi_S Z||_E/||Z||_E, where ||(H,W,b)||_E^2 = ||H||_F^2+||W||_F^2+||b||_2^2."
)


@register(NAME, paper=PAPER, title="Distance to the invariant subspace S (MPP Fig. 2)",
          description=DESC, defaults=PARAMS, quick=QUICK, seed_key="seeds",
          check=check_config(NAME))
def fig2(config: dict) -> Outcome:
    eps = sorted(config["eps"], reverse=True)
    run = run_gradient_descent(config, eps)
    ratios = distance_ratios(eps, run["distance"])
    metrics = summarise(eps, ratios, run)
    return Outcome(claims=judge(config, eps, ratios), figures={"fig2_distance_to_S": draw(eps, run)},
                   metrics=metrics, notes=explain(config, ratios, metrics))


def distance_ratios(eps: list[float], dist: np.ndarray) -> dict[str, np.ndarray]:
    """``sup`` (E, S): max over iterations >= 1 of distance / eps; ``final`` (E, S); ``c`` (E,): median sup."""
    e = np.asarray(eps)[:, None]
    sup = dist[:, :, 1:].max(-1) / e
    return {"sup": sup, "final": dist[:, :, -1] / e, "c": np.median(sup, axis=1), "initial": dist[:, :, 0]}


def summarise(eps: list[float], ratios: dict[str, np.ndarray], run: dict) -> dict:
    """Metrics: c(eps), the median final distance / eps, the initial distance, the GD time."""
    metrics = {f"sup_distance_over_eps_eps={e:g}": float(ratios["c"][i]) for i, e in enumerate(eps)}
    metrics.update({f"final_distance_over_eps_eps={e:g}": float(np.median(ratios["final"][i]))
                    for i, e in enumerate(eps)})
    metrics["initial_relative_distance"] = float(np.median(ratios["initial"]))
    metrics["gd_seconds"] = run["seconds"]
    return metrics


def judge(config: dict, eps: list[float], ratios: dict[str, np.ndarray]) -> list[Claim]:
    """The claim of Fig. 2: max/min over eps of c(eps) is at most ``spread_bound``."""
    med = ratios["c"]
    spread = float(med.max() / med.min())
    return [Claim(
        "distance_is_O_eps",
        text="Gradient descent maintains small distance from the invariant subspace S (of order eps).",
        source=f"{SOURCE}, Fig. 2",
        expected=(f"c(eps) = max over iterations >= 1 of ||Z - Pi_S Z||_E/||Z||_E / eps is independent of "
                  f"eps: max/min over eps of median c(eps) <= {config['spread_bound']:g}"),
        measured={"c(eps)": {f"{e:g}": float(med[i]) for i, e in enumerate(eps)}, "max/min": spread},
        passed=len(eps) > 1 and spread <= config["spread_bound"],
    )]


def explain(config: dict, ratios: dict[str, np.ndarray], metrics: dict) -> list[str]:
    """Notes for the reader: iteration 0, the derived constant, what is checked."""
    final = ratios["final"]
    return [
        "Iteration 0 (the random start) is excluded: its relative distance to S is O(1) "
        f"(median {metrics['initial_relative_distance']:.2f}); after one step b = lr/C * 1 lies in S and "
        "dominates ||Z||_E.",
        "MATH.md's derived run gave a final distance of about 0.28 eps; measured here (init_norm="
        f"{config['init_norm']!r}): " + ", ".join(f"{np.median(final[i]):.3f} eps" for i in range(len(final)))
        + ". With init_norm='total' (||(H0, W0)||_E = eps) it is about 0.30 eps.",
        "The constant c(eps) (the largest distance/eps along the run) is about "
        f"{float(np.median(ratios['c'])):.1f}; the paper states no constant, so only its independence of eps "
        "is checked.",
    ]


def draw(eps: list[float], run: dict) -> Figure:
    """The relative distance to S against the iteration (first seed), eps dotted."""
    t, dist = run["steps"], run["distance"]
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, e in enumerate(eps):
        ax.loglog(t[1:], dist[i, 0, 1:], color=f"C{i}", label=rf"$\varepsilon={e:g}$")
        ax.axhline(e, color=f"C{i}", ls=":", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\|Z-\Pi_S Z\|_E/\|Z\|_E$")
    ax.set_title(r"Relative distance to $S$ (dotted: $\varepsilon$)")
    ax.legend(fontsize=8)
    return fig
