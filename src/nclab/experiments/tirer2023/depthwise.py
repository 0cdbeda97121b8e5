"""THN Corollary 3.2: NC1 decreases layer after layer when the anchored minimiser is iterated.

Registered as ``tirer2023-depthwise``: from random non-collapsed anchors (one per seed), the
map H_0 <- argmin f(W, H; H_0) is applied ``layers`` times for every beta.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab.config import Int, ListOf, Param, Real, Seeds
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.tirer2023._anchors import PAPER, SOURCE, check_d, clustered_features, size_params

NAME = "tirer2023-depthwise"

DESC = (
    "THN Corollary 3.2 (depthwise decrease in NC1): assume H_0 is non-collapsed (Sigma_W(H_0) != 0). "
    "For beta > C = C(H_0), the minimizer H_{1/beta} of f(W, H; H_0) obeys NC1(H_{1/beta}) < NC1(H_0). "
    "Iterating the map (H_0 <- H_{1/beta}) mimics training an MLP layer-wise; THN observe NC1 "
    "decreasing with depth on CIFAR-10."
)

PARAMS = {
    **size_params(4, 10, 10),
    "lam_W": Param(0.01, Real(minimum=0.0, strict=True), "weight decay of the classifier W"),
    "lam_H": Param(0.01, Real(minimum=0.0), "feature penalty lam_H"),
    "betas": Param([0.01, 0.1, 1.0, 10.0, 100.0], ListOf(Real(minimum=0.0, strict=True)),
                   "anchor strengths beta (sorted before use)"),
    "beta_large": Param(1.0, Real(minimum=0.0, strict=True), "the claim covers every beta >= beta_large"),
    "layers": Param(10, Int(minimum=1), "number of iterated anchored minimisations"),
    "seeds": Param(5, Seeds(), "seeds of the anchors H_0 (a count S means 0..S-1)"),
    "mean_scale": Param(1.0, Real(minimum=0.0), "scale of H_0's Gaussian class means"),
    "noise": Param(1.0, Real(minimum=0.0, strict=True), "scale of H_0's within-class Gaussian noise"),
    "tol": Param(1e-10, Real(minimum=0.0, strict=True), "gradient-norm tolerance of each minimisation"),
}


@register(NAME, paper=PAPER, title="Depthwise NC1 decrease of the anchored model (THN Cor. 3.2)", description=DESC,
          defaults=PARAMS, seed_key="seeds", check=functools.partial(check_d, NAME), quick={"betas": [0.1, 1.0, 10.0, 100.0], "seeds": 2})
def depthwise_experiment(config: dict) -> Outcome:
    betas = sorted(config["betas"])
    ratio, papyan, gnorm = iterate(config, betas)
    decreasing = np.diff(ratio, axis=-1) < 0  # (betas, seeds, layers)
    per_beta = {f"{b:g}": f"{int(decreasing[i].sum())}/{decreasing[i].size}" for i, b in enumerate(betas)}
    table = [{"beta": b, "decreasing_steps": per_beta[f"{b:g}"],
              "nc1_ratio_layer0": float(np.median(ratio[i, :, 0])),
              "nc1_ratio_last": float(np.median(ratio[i, :, -1])),
              "nc1_papyan_last": float(np.median(papyan[i, :, -1]))} for i, b in enumerate(betas)]
    metrics = {f"nc1_ratio_last[beta={b:g}]": float(np.median(ratio[i, :, -1])) for i, b in enumerate(betas)}
    metrics["max_grad_norm"] = float(gnorm.max())
    return Outcome(claims=judge(config, betas, decreasing, gnorm, per_beta),
                   figures={"depthwise_nc1": draw(config, betas, ratio, papyan)}, metrics=metrics,
                   tables={"per_beta": table}, notes=small_beta_notes(config, betas, ratio, decreasing))


def iterate(config: dict, betas: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trace ratio and Papyan's NC1 (betas x seeds x layers+1) and the gradient norms (x layers)."""
    from nclab.geometry import class_ordered_labels
    from nclab.metrics import nc1
    from nclab.theory.shallow.anchored import anchored_layers
    from nclab.theory.shallow.flow import trace_covariances

    K, n, d, layers, seeds = config["K"], config["n"], config["d"], config["layers"], config["seeds"]
    labels = class_ordered_labels(K, n, device=config["device"])
    ratio = np.zeros((len(betas), len(seeds), layers + 1))
    papyan = np.zeros_like(ratio)
    gnorm = np.zeros((len(betas), len(seeds), layers))
    for s, seed in enumerate(seeds):
        H0 = clustered_features(K, n, d, seed, mean_scale=config["mean_scale"],
                                noise=config["noise"]).to(config["device"])
        for i, beta in enumerate(betas):
            out = anchored_layers(H0, n, config["lam_W"], config["lam_H"], beta, layers, tol=config["tol"])
            Hs = [H0] + [r.H for r in out]
            ratio[i, s] = [float(torch.div(*trace_covariances(H, n))) for H in Hs]
            papyan[i, s] = [float(nc1(H.mT, labels)) for H in Hs]
            gnorm[i, s] = [r.grad_norm for r in out]
    return ratio, papyan, gnorm


def judge(config: dict, betas: list[float], decreasing: np.ndarray, gnorm: np.ndarray,
          per_beta: dict[str, str]) -> list[Claim]:
    """Strict decrease at every layer for the large betas; every layer an exact minimiser."""
    layers, beta_large, tol = config["layers"], config["beta_large"], config["tol"]
    large = [i for i, b in enumerate(betas) if b >= beta_large]
    return [
        Claim("nc1_decreases_with_depth",
              text="For beta > C(H_0) the minimiser of the anchored model has smaller NC1 than its non-collapsed anchor H_0, so NC1 decreases layer after layer.",
              source=f"{SOURCE}, Cor. 3.2",
              expected=f"tr Sigma_W/tr Sigma_B strictly decreases at every one of the {layers} layers, every seed, every beta >= beta_large = {beta_large:g}",
              measured={f"{betas[i]:g}": per_beta[f"{betas[i]:g}"] for i in large},
              passed=bool(large) and bool(decreasing[large].all())),
        Claim("exact_minimiser", text="Each layer is the exact minimiser of f(W, H; H_0) (THN Eq. 2).",
              source=f"{SOURCE}, Eq. 2", expected=f"gradient norm <= {tol:g} at every layer",
              measured=float(gnorm.max()), passed=bool(gnorm.max() <= tol)),
    ]


def small_beta_notes(config: dict, betas: list[float], ratio: np.ndarray, decreasing: np.ndarray) -> list[str]:
    """For each beta below beta_large, where (if anywhere) the decrease failed."""
    notes = []
    for i, beta in enumerate(betas):
        if beta >= config["beta_large"]:
            continue
        bad = np.argwhere(~decreasing[i])
        if len(bad):
            s, layer = bad[0]
            notes.append(f"beta={beta:g} (< beta_large): NC1 did not strictly decrease at {len(bad)} of "
                         f"{decreasing[i].size} layer steps; first at seed {config['seeds'][s]}, layer {layer + 1}, "
                         f"where tr Sigma_W/tr Sigma_B = {ratio[i, s, layer]:.3g} -> {ratio[i, s, layer + 1]:.3g} "
                         "(features already collapsed to rounding level, or shrunk towards 0 when lam_H lam_W >= 1).")
        else:
            notes.append(f"beta={beta:g} (< beta_large): NC1 still decreased at every layer step; "
                         "no failure of the decrease was found at this beta.")
    return notes


def draw(config: dict, betas: list[float], ratio: np.ndarray, papyan: np.ndarray) -> Figure:
    """Both NC1 measures against the layer, one line per beta (first seed)."""
    layers = config["layers"]
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, b in enumerate(betas):
        axes[0].semilogy(range(layers + 1), ratio[i, 0], marker="o", ms=3, label=rf"$\beta={b:g}$")
        axes[1].semilogy(range(layers + 1), np.maximum(papyan[i, 0], 1e-300), marker="o", ms=3, label=rf"$\beta={b:g}$")
    axes[0].set_ylabel(r"$\widetilde{NC}_1=\mathrm{tr}\,\Sigma_W/\mathrm{tr}\,\Sigma_B$")
    axes[1].set_ylabel(r"$NC_1=\frac{1}{K}\mathrm{tr}(\Sigma_W\Sigma_B^\dagger)$")
    for ax in axes:
        ax.set_xlabel("layer $l$ ($H_l$ = minimiser anchored at $H_{l-1}$)")
    axes[0].legend(fontsize=8)
    fig.suptitle(rf"Iterated anchored minimiser, K={config['K']}, n={config['n']}, d={config['d']}, "
                 rf"$\lambda_W={config['lam_W']:g}$, $\lambda_H={config['lam_H']:g}$ (seed {config['seeds'][0]})")
    return fig
