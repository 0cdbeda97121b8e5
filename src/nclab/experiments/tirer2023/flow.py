"""THN Theorem 3.1: NC1 along the gradient flow of the features with the optimal classifier.

Registered as ``tirer2023-flow``: THN Eq. 4 integrated from a random non-collapsed H_0, one
flow per ``[lam_W, lam_H]`` pair; the claims check the three monotonicity statements.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from nclab.config import Int, Param, Real
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.tirer2023._anchors import (PAPER, SOURCE, check_d, check_pairs, clustered_features,
                                                  lam_pairs_param, pair_tag, size_params)

NAME = "tirer2023-flow"

DESC = (
    "THN Theorem 3.1: assume λ_W > 0, λ_H ≥ 0 and Σ_W(H_0) ≠ 0. Along the gradient flow "
    "dH_t/dt = -Kn ∇L(W*(H_t), H_t) with the optimal classifier W*(H) = Y Hᵀ(H Hᵀ + n λ_W I)⁻¹, "
    "ÑC1(H_t) = tr(Σ_W)/tr(Σ_B) strictly decreases until it reaches zero, "
    "t ↦ e^(2λ_H t) tr(Σ_W(H_t)) decreases and t ↦ e^(2λ_H t) tr(Σ_B(H_t)) strictly increases."
)

PARAMS = {
    **size_params(4, 10, 10),
    "lam_pairs": lam_pairs_param([[0.01, 0.01], [0.005, 0.05], [0.05, 0.0], [0.1, 0.001]], lam_H_positive=False),
    "t_final": Param(1000.0, Real(minimum=0.0, strict=True), "end time of the flow"),
    "num_times": Param(200, Int(minimum=2), "sampled times (0 and log-spaced ones up to t_final)"),
    "rtol": Param(1e-10, Real(minimum=0.0, strict=True), "relative tolerance of the ODE solver"),
    "atol": Param(1e-12, Real(minimum=0.0, strict=True), "absolute tolerance of the ODE solver (relative to max|H_0|)"),
    "seed": Param(0, Int(minimum=0), "seed of the initial features H_0"),
    "mean_scale": Param(1.0, Real(minimum=0.0), "scale of H_0's Gaussian class means"),
    "noise": Param(1.0, Real(minimum=0.0, strict=True), "scale of H_0's within-class Gaussian noise"),
    "tol_factor": Param(10.0, Real(minimum=0.0), "non-strict decrease allowed up to this many integration errors"),
    "nc1_floor": Param(1e-10, Real(minimum=0.0, strict=True), "stop a flow when tr(Σ_W)/tr(Σ_B) falls below it"),
}

NOTES = (
    "Integrated with scipy DOP853 (rtol, atol relative to max|H_0|); integration error = max over "
    "sampled times of the relative difference to a solve at 100× tighter tolerances.",
    "The non-strict decrease of e^(2λ_H t) tr(Σ_W) is checked up to the integration error: "
    "it converges to a positive constant (within-class components in the null space of W) when d > K.",
)


def check_config(config: dict) -> None:
    """The cross-key checks: ``d >= K`` and ``lam_W > 0`` in every pair (Theorem 3.1 assumes both)."""
    check_d(NAME, config)
    check_pairs(NAME, config["lam_pairs"])


@register(NAME, paper=PAPER, title="NC1 along the gradient flow with W = W*(H) (THN Thm 3.1)", description=DESC,
          defaults=PARAMS, seed_key="seed", check=check_config,
          quick={"K": 3, "n": 5, "d": 6, "lam_pairs": [[0.01, 0.02], [0.05, 0.0]], "t_final": 300.0,
                 "num_times": 80})
def flow_experiment(config: dict) -> Outcome:
    pairs = [(float(a), float(b)) for a, b in config["lam_pairs"]]
    results = integrate(config, pairs)
    tags = [pair_tag(*p) for p in pairs]
    notes = [*NOTES, f"Each flow stops at t_final or when the trace ratio reaches nc1_floor = {config['nc1_floor']:g} "
             "(below it the within-class part is under the solver's absolute tolerance); stop times are in "
             "the metrics (t_stop)."]
    return Outcome(claims=judge(tags, results, config["tol_factor"]), figures={"flow_theorem31": draw(config, pairs, results)},
                   metrics=flow_metrics(tags, results), notes=notes)


def integrate(config: dict, pairs: list[tuple[float, float]]) -> list:
    """One :class:`~nclab.theory.shallow.flow.FlowResult` per pair, all from the same H_0."""
    from nclab.theory.shallow.flow import integrate_feature_flow

    H0 = clustered_features(config["K"], config["n"], config["d"], config["seed"],
                            mean_scale=config["mean_scale"], noise=config["noise"])
    return [integrate_feature_flow(H0, config["n"], lW, lH, config["t_final"], num_times=config["num_times"],
                                   rtol=config["rtol"], atol=config["atol"], nc1_floor=config["nc1_floor"])
            for lW, lH in pairs]


def _error(result) -> float:
    return result.integration_error if result.integration_error is not None else float("nan")


def _rel_increments(values) -> np.ndarray:
    return np.diff(values) / np.abs(values[:-1])


def judge(tags: list[str], results: list, tol_factor: float) -> list[Claim]:
    """The three monotonicity claims of Thm 3.1 (every flow must have been solved)."""
    ok_solver = all(r.success for r in results)
    nc1_inc = {t: float(np.max(_rel_increments(r.nc1_ratio))) for t, r in zip(tags, results)}
    w_inc = {t: float(np.max(_rel_increments(r.within_scaled))) for t, r in zip(tags, results)}
    b_min = {t: float(np.min(_rel_increments(r.between_scaled))) for t, r in zip(tags, results)}
    w_tol = {t: tol_factor * _error(r) for t, r in zip(tags, results)}
    src = f"{SOURCE}, Thm 3.1"
    return [
        Claim("nc1_strictly_decreases", text="ÑC1(H_t) = tr(Σ_W)/tr(Σ_B) strictly decreases along the flow until it reaches zero.",
              source=src, expected="largest relative increment between sampled times < 0 for every (λ_W, λ_H)",
              measured=nc1_inc, passed=ok_solver and all(v < 0 for v in nc1_inc.values()), rule="direction"),
        Claim("within_scaled_decreases", text="t ↦ e^(2λ_H t) tr(Σ_W(H_t)) decreases along the flow.",
              source=src, expected=f"largest relative increment ≤ {tol_factor:g} × integration error (non-strict)",
              measured={t: {"max_rel_increment": w_inc[t], "allowed": w_tol[t]} for t in tags},
              passed=ok_solver and all(w_inc[t] <= w_tol[t] for t in tags), rule="direction"),
        Claim("between_scaled_increases", text="t ↦ e^(2λ_H t) tr(Σ_B(H_t)) strictly increases along the flow.",
              source=src, expected="smallest relative increment between sampled times > 0",
              measured=b_min, passed=ok_solver and all(v > 0 for v in b_min.values()), rule="direction"),
    ]


def flow_metrics(tags: list[str], results: list) -> dict:
    """Per pair: integration error, solver evaluations, stop time, trace ratio at both ends, final loss."""
    metrics = {}
    for t, r in zip(tags, results):
        metrics[f"integration_error[{t}]"] = _error(r)
        metrics[f"nfev[{t}]"] = r.nfev
        metrics[f"t_stop[{t}]"] = r.t_stop
        metrics[f"nc1_ratio_initial[{t}]"] = float(r.nc1_ratio[0])
        metrics[f"nc1_ratio_final[{t}]"] = float(r.nc1_ratio[-1])
        metrics[f"loss_final[{t}]"] = float(r.loss[-1])
    return metrics


def draw(config: dict, pairs: list[tuple[float, float]], results: list) -> Figure:
    """Trace ratio and the two e^{2 lam_H t}-scaled traces against t, one line per pair."""
    labels = [rf"$\lambda_W={lW:g}, \lambda_H={lH:g}$" for lW, lH in pairs]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    series = [("nc1_ratio", r"$\mathrm{tr}\,\Sigma_W/\mathrm{tr}\,\Sigma_B$"),
              ("within_scaled", r"$e^{2\lambda_H t}\,\mathrm{tr}\,\Sigma_W(H_t)$"),
              ("between_scaled", r"$e^{2\lambda_H t}\,\mathrm{tr}\,\Sigma_B(H_t)$")]
    for ax, (key, ylabel) in zip(axes, series):
        for res, lab in zip(results, labels):
            ax.loglog(res.t[1:], getattr(res, key)[1:], label=lab)
        ax.set_xlabel("$t$")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Gradient flow of THN Eq. 4, K={config['K']}, n={config['n']}, d={config['d']}")
    return fig
