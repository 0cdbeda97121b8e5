"""MPP Fig. 1: gradient descent from a small start approaches strong neural collapse.

Registered as ``mixon2022-fig1``: the three strong-NC errors along gradient descent for every
(eps, seed); the claim is that their median final values fall as eps falls.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nclab.experiments.mixon2022._gd import (ERROR_LABELS, PAPER, PARAMS, QUICK, SOURCE, check_config,
                                             run_gradient_descent)
from nclab.experiments.registry import Claim, Outcome, register

NAME = "mixon2022-fig1"

DESC = (
    "Figure 1: The emergence of strong neural collapse. Run gradient descent to minimize R_e(H,W,b) "
    "for C=N=3 and p=15, initializing at a random choice of H_0 and W_0 with ||H_0||_F=||W_0||_F=eps "
    "and b_0=0. At each iteration, quantify the error in WW^T = sqrt(N)(I - 11^T/C) by "
    "||WW^T - sqrt(N)(I - 11^T/C)||_F, the relative error in H = (W (x) 1_N)^T/sqrt(N) by "
    "||H - (W (x) 1_N)^T/sqrt(N)||_F/||H||_F, and the error in b = 1/C by ||b - 1/C||_2. Apparently, "
    "the limit point of gradient descent approaches strong neural collapse as the initialization "
    "approaches the origin."
)


@register(NAME, paper=PAPER, title="Emergence of strong neural collapse (MPP Fig. 1)",
          description=DESC, defaults=PARAMS, quick=QUICK, seed_key="seeds",
          check=check_config(NAME))
def fig1(config: dict) -> Outcome:
    eps = sorted(config["eps"], reverse=True)
    run = run_gradient_descent(config, eps)
    final = {k: np.median(v[:, :, -1], axis=1) for k, v in run["errors"].items()}  # (E,)
    metrics = summarise(eps, final, run)
    notes = ["Final-error log-log slopes against eps: " + ", ".join(
        f"{k} {metrics.get(f'slope_{k}_vs_eps', float('nan')):.2f}" for k in final)]
    table = [{"eps": e, **{k: float(final[k][i]) for k in final},
              "final_risk": float(np.median(run["risk"][i, :, -1]))} for i, e in enumerate(eps)]
    return Outcome(claims=judge(eps, final), figures={"fig1_strong_nc_errors": draw(config, eps, run)},
                   metrics=metrics, tables={"final_errors": table}, notes=notes)


def _loglog_slope(x: list[float], y: np.ndarray) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def summarise(eps: list[float], final: dict[str, np.ndarray], run: dict) -> dict:
    """Metrics: the median final errors per eps, their log-log slopes against eps, the final risk."""
    metrics = {f"final_{k}_eps={e:g}": float(v[i]) for k, v in final.items() for i, e in enumerate(eps)}
    if len(eps) > 1:
        metrics.update({f"slope_{k}_vs_eps": _loglog_slope(eps, v) for k, v in final.items()})
    metrics["final_risk_max"] = float(run["risk"][:, :, -1].max())
    metrics["gd_seconds"] = run["seconds"]
    return metrics


def judge(eps: list[float], final: dict[str, np.ndarray]) -> list[Claim]:
    """The claim of Fig. 1: every median final error strictly decreases as eps decreases."""
    falls = all(bool(np.all(np.diff(v) < 0)) for v in final.values())
    return [Claim(
        "final_errors_fall_with_eps",
        text="The limit point of gradient descent approaches strong neural collapse as the initialization "
             "approaches the origin.",
        source=f"{SOURCE}, Fig. 1",
        expected="median final error of each of the three strong-NC errors strictly decreases as eps decreases",
        measured={k: {f"{e:g}": float(v[i]) for i, e in enumerate(eps)} for k, v in final.items()},
        passed=len(eps) > 1 and falls,
    )]


def draw(config: dict, eps: list[float], run: dict) -> Figure:
    """The three errors against the iteration, one colour per eps (first seed solid, others faint)."""
    t, seeds = run["steps"], config["seeds"]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, (k, label) in zip(axes, ERROR_LABELS.items()):
        for i, e in enumerate(eps):
            ax.loglog(t[1:], run["errors"][k][i, 0, 1:], color=f"C{i}", label=rf"$\varepsilon={e:g}$")
            for s in range(1, len(seeds)):
                ax.loglog(t[1:], run["errors"][k][i, s, 1:], color=f"C{i}", alpha=0.25, lw=0.8)
        ax.set_xlabel("iteration")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"GD on $R_e$, C={config['C']}, N={config['N']}, p={config['p']}, step {config['lr']:g} "
                 f"(seed {seeds[0]} solid)")
    return fig
