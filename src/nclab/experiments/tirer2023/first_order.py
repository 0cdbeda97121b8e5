"""THN Thm 4.1 in full: the first-order maps of dH and dW, their accuracy, and their two rates.

Registered as ``tirer2023-first-order``. At a collapsed minimiser (W*, H*) anchored at H_0 = H*
(THN Cor. 2.2), perturbing the anchor by dH_0 moves the minimiser by, to first order,
vec dH = F vec dH_0 and vec dW = G vec dH_0 (:func:`~nclab.theory.shallow.perturbation.perturbation_map`,
:func:`~nclab.theory.shallow.perturbation.weight_perturbation_map`). Each part is checked against
something computed independently of the closed-form Hessian blocks:

- **autograd**: the implicit-function Jacobian d(W, H)/dH_0 = -Hess^{-1} d(grad)/dH_0, with the
  Hessian and the mixed derivative taken by ``torch.func`` from the loss written out from THN
  Eq. 2; F and G must match it (``AUTOGRAD_RTOL``, relative spectral norm).
- **re-solving** the perturbed problem (:func:`~nclab.theory.shallow.anchored.anchored_minimizer`):
  the first-order prediction's relative error at ``||dH_0|| = delta ||H*||`` is below
  ``resolve_rtol``, and its absolute error falls as ||dH_0||^2: the log-log slope over
  ``deltas`` is 2 (per random direction; decided on the 95% t interval over the directions,
  for every lam_H), for dH and for dW.
- **Eq. 5's order**: ||F_autograd - F_Eq5||_2 falls as beta^-2 (log-log slope over
  ``beta_factors``, every lam_H).

The settings are those of THN Fig. 1 (beta = 100, K = 4, d = 10, n = 10, lam_W = sqrt(2)); the
lam_H grid is ours. Every tolerance was fixed before the first run.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab.config import Int, ListOf, Param, Real, refuse
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.bands import geometric_band
from nclab.experiments.rules import Verdict, every, loglog_slope, mean
from nclab.experiments.tirer2023._anchors import PAPER, SOURCE, check_d
from nclab.layout import one_hot_targets
from nclab.seeds import Seeds

NAME = "tirer2023-first-order"

#: Allowed relative spectral-norm difference between the closed-form maps and autograd's.
AUTOGRAD_RTOL = 1e-9
#: Allowed distance of a fitted exponent (both ends of its interval) to the theory's.
RATE_TOL = 0.15

DESC = (
    "THN Theorem 4.1: perturbing the anchor H_0 of a minimiser of f(W, H; H_0) by δH_0 moves the minimiser by "
    "vec(δH) = F vec(δH_0) + O(‖δH_0‖²) (and δW likewise), with F given by the Hessian blocks; for β ≫ 1, "
    "F is approximated by Eq. 5 with error O(β⁻²)."
)

PARAMS = {
    "K": Param(4, Int(minimum=2), "number of classes"),
    "d": Param(10, Int(minimum=1), "feature dimension (the analysis assumes d > K)"),
    "n": Param(10, Int(minimum=1), "samples per class"),
    "beta": Param(100.0, Real(minimum=0.0, strict=True), "anchor strength β (THN Fig. 1)"),
    "lam_W": Param(math.sqrt(2.0), Real(minimum=0.0, strict=True), "weight decay λ_W of W (THN Fig. 1: √2)"),
    "lam_Hs": Param([0.001, 0.01, 0.1, 0.5], ListOf(Real(minimum=0.0, strict=True), unique=True),
                    "feature penalties λ_H (λ_H λ_W < 1); the grid is ours"),
    "delta": Param(1e-4, Real(minimum=0.0, strict=True), "‖δH_0‖/‖H*‖ of the accuracy claims"),
    "deltas": Param([1e-3, 2e-3, 4e-3, 8e-3], ListOf(Real(minimum=0.0, strict=True), min_len=3, unique=True),
                    "‖δH_0‖/‖H*‖ at which the O(‖δH_0‖²) rate is fitted"),
    "beta_factors": Param([1.0, 2.0, 4.0], ListOf(Real(minimum=0.0, strict=True), min_len=2, unique=True),
                          "multiples of β at which the O(β⁻²) error of Eq. 5 is fitted"),
    "resolve_rtol": Param(1e-5, Real(minimum=0.0), "allowed relative error of the first-order prediction at delta"),
    "seeds": Param(5, Seeds(), "random perturbation directions (a count or a list); seed 0 also rotates H*"),
}
QUICK = {"seeds": 3, "lam_Hs": [0.01, 0.5]}


def check_config(config: dict) -> None:
    """``d > K`` and ``lam_H lam_W < 1`` for every lam_H (the collapsed minimiser is not zero)."""
    check_d(NAME, config, strict=True)
    if any(h * config["lam_W"] >= 1.0 for h in config["lam_Hs"]):
        refuse(f"experiment {NAME!r}", "lam_Hs", config["lam_Hs"],
               f"values with lam_H lam_W < 1 (lam_W = {config['lam_W']:g})")


def autograd_maps(W: torch.Tensor, H: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float):
    """(F, G) by the implicit function theorem with ``torch.func``, from THN Eq. 2 written out here.

    z = (vec W, vec H); J = -(d^2 f/dz^2)^{-1} d^2 f/(dz dH_0) at the minimiser; F = J's H rows,
    G = J's W rows (vec stacks columns, as in :func:`nclab.theory.shallow.anchored.vec`).
    """
    K, d = W.shape
    N = H.shape[1]
    Y = one_hot_targets(K, n, dtype=H.dtype)

    def f(z, h0):
        Wz = z[:K * d].reshape(d, K).mT
        Hz = z[K * d:].reshape(N, d).mT
        H0 = h0.reshape(N, d).mT
        return ((Wz @ Hz - Y).square().sum() / (2 * K * n) + lam_W / (2 * K) * Wz.square().sum()
                + lam_H / (2 * K * n) * Hz.square().sum() + beta / (2 * K * n) * (Hz - H0).square().sum())

    z = torch.cat([W.mT.reshape(-1), H.mT.reshape(-1)])
    h0 = H.mT.reshape(-1)
    hess = torch.func.hessian(f, argnums=0)(z, h0)
    mixed = torch.func.jacfwd(torch.func.grad(f, argnums=0), argnums=1)(z, h0)
    J = -torch.linalg.solve(hess, mixed)
    return J[K * d:], J[:K * d]


def _rel(A: torch.Tensor, B: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(A - B, ord=2) / torch.linalg.matrix_norm(B, ord=2))


def measure(config: dict, lam_H: float) -> dict:
    """One lam_H: the maps against autograd, the errors against re-solving at every delta and direction, Eq. 5's gaps."""
    from nclab.theory.shallow.anchored import anchored_minimizer, unvec, vec
    from nclab.theory.shallow.perturbation import (perturbation_map, perturbation_map_large_beta,
                                                   weight_perturbation_map)
    from nclab.theory.shallow.tirer_bruna import mse_minimizer

    K, n, d, beta, lam_W = config["K"], config["n"], config["d"], config["beta"], config["lam_W"]
    seeds = config["seeds"]
    W, H = mse_minimizer(K, n, d, lam_W, lam_H, rotation=torch.Generator().manual_seed(int(seeds[0])))
    F, G = perturbation_map(W, H, n, lam_W, lam_H, beta), weight_perturbation_map(W, H, n, lam_W, lam_H, beta)
    F_auto, G_auto = autograd_maps(W, H, n, lam_W, lam_H, beta)
    out = {"F_vs_autograd": _rel(F, F_auto), "G_vs_autograd": _rel(G, G_auto)}
    betas = [beta * f for f in config["beta_factors"]]
    gaps = []
    for b in betas:
        Fb, _ = autograd_maps(W, H, n, lam_W, lam_H, b)
        gaps.append(float(torch.linalg.matrix_norm(Fb - perturbation_map_large_beta(W, H, n, lam_W, lam_H, b), ord=2)))
    out["eq5_gaps"], out["eq5_slope"] = gaps, loglog_slope(betas, gaps).value
    deltas = [config["delta"], *config["deltas"]]
    errs = {"H": np.zeros((len(seeds), len(deltas))), "W": np.zeros((len(seeds), len(deltas)))}
    rel = {"H": np.zeros(len(seeds)), "W": np.zeros(len(seeds))}
    size = {"H": np.zeros(len(seeds)), "W": np.zeros(len(seeds))}
    for i, s in enumerate(seeds):
        E = torch.randn(H.shape, generator=torch.Generator().manual_seed(int(s) + 7919), dtype=torch.float64)
        E = E / E.norm()
        for j, delta in enumerate(deltas):
            dH0 = delta * float(H.norm()) * E
            res = anchored_minimizer(H + dH0, n, lam_W, lam_H, beta, H_init=H, tol=1e-13)
            for key, true, pred in (("H", res.H - H, unvec(F @ vec(dH0), d)), ("W", res.W - W, unvec(G @ vec(dH0), K))):
                errs[key][i, j] = float((true - pred).norm())
                if j == 0:
                    rel[key][i], size[key][i] = errs[key][i, j] / float(true.norm()), float(true.norm())
    out["slopes"] = {k: np.array([loglog_slope(config["deltas"], v[i, 1:]).value for i in range(len(seeds))])
                     for k, v in errs.items()}
    out["rel"], out["errs"], out["dW_over_dH"] = rel, errs, float(np.median(size["W"] / size["H"]))
    return out


@register(NAME, paper=PAPER, title="First-order maps of δH and δW, and their rates (THN Thm 4.1)", description=DESC,
          defaults=PARAMS, quick=QUICK, seed_key="seeds", check=check_config)
def first_order(config: dict) -> Outcome:
    measured = {h: measure(config, h) for h in config["lam_Hs"]}
    metrics = {}
    for h, m in measured.items():
        metrics.update({f"F_vs_autograd[lam_H={h:g}]": m["F_vs_autograd"], f"G_vs_autograd[lam_H={h:g}]": m["G_vs_autograd"],
                        f"slope_eq5_in_beta[lam_H={h:g}]": m["eq5_slope"],
                        **{f"slope_{k}_error_in_delta[lam_H={h:g}]": float(np.mean(v)) for k, v in m["slopes"].items()},
                        **{f"max_rel_error_{k}[lam_H={h:g}]": float(v.max()) for k, v in m["rel"].items()}})
    notes = [f"Settings of THN Fig. 1: β = {config['beta']:g}, K = {config['K']}, d = {config['d']}, n = {config['n']}, "
             f"λ_W = {config['lam_W']:.4g}; λ_H in {config['lam_Hs']} is our grid.",
             f"{len(config['seeds'])} random directions of δH_0; the minimiser is rotated by seed {config['seeds'][0]}."]
    return Outcome(claims=judge(config, measured), figures={"first_order_rates": draw(config, measured)},
                   metrics=metrics, notes=notes)


def _rate_every(slopes: dict[str, np.ndarray], target: float, what: str) -> Verdict:
    """Every lam_H's 95% t interval over directions inside target +- RATE_TOL; the estimate is the worst one."""
    ests = {k: mean(v) for k, v in slopes.items()}
    ok = {k: bool(np.all(np.isfinite(slopes[k])) and target - RATE_TOL <= e.low and e.high <= target + RATE_TOL)
          for k, e in ests.items()}
    worst = max(ests, key=lambda k: max(abs(ests[k].low - target), abs(ests[k].high - target)))
    return Verdict(all(ok.values()), f"for every λ_H, the 95% t interval over directions of the {what} within "
                   f"{target:g} ± {RATE_TOL:g}", ests[worst], "rate")


def judge(config: dict, measured: dict) -> list[Claim]:
    """Thm 4.1's maps (vs autograd, vs re-solving), the O(||dH_0||^2) rates and Eq. 5's O(beta^-2)."""
    tag = {h: f"lam_H={h:g}" for h in measured}
    src = f"{SOURCE}, Thm 4.1"
    rtol, delta = config["resolve_rtol"], config["delta"]
    claims = []
    for key, name, sym in (("H", "F", "δH"), ("W", "G", "δW")):
        auto = {tag[h]: m[f"{name}_vs_autograd"] for h, m in measured.items()}
        claims.append(Claim.decided(
            f"{name}_matches_autograd", text=f"The first-order map of {sym} is given by the Hessian blocks "
            f"(vec {sym} = {name} vec δH_0).", source=src,
            verdict=every([v <= AUTOGRAD_RTOL for v in auto.values()],
                          f"‖{name} - {name}_autograd‖₂ / ‖{name}_autograd‖₂ ≤ {AUTOGRAD_RTOL:g} at each λ_H"),
            measured=auto, note="autograd: implicit-function Jacobian from torch.func Hessians of THN Eq. 2 written "
                                "out; the count is over the λ_H values"))
        rel = {tag[h]: float(m["rel"][key].max()) for h, m in measured.items()}
        n_dir = len(config["seeds"])
        holds = [bool(x <= rtol) for m in measured.values() for x in m["rel"][key]]
        claims.append(Claim.decided(
            f"first_order_{key}_matches_resolve", text=f"The first-order map predicts {sym} of the perturbed "
            "problem's minimiser.", source=src,
            verdict=every(holds, f"relative error against re-solving ≤ {rtol:g} at ‖δH_0‖ = {delta:g} ‖H*‖, "
                                 f"for every λ_H and each of {n_dir} directions"),
            measured=rel,
            note="" if key == "H" else "δW is small beside δH (median ‖δW‖/‖δH‖ = " + ", ".join(
                f"{m['dW_over_dH']:.3g} at λ_H = {h:g}" for h, m in measured.items()) + "), so the second-order term "
                "weighs more in its relative error; the rate claim tests the order itself"))
        claims.append(Claim.decided(
            f"{key}_error_is_second_order", text=f"The first-order prediction of {sym} is exact up to "
            "O(‖δH_0‖²).", source=src,
            verdict=_rate_every({tag[h]: m["slopes"][key] for h, m in measured.items()}, 2.0,
                                "log-log slope of the absolute error in ‖δH_0‖"),
            measured={tag[h]: [float(x) for x in m["slopes"][key]] for h, m in measured.items()},
            note=f"slope over ‖δH_0‖/‖H*‖ in {config['deltas']}, one per direction; the estimate shown is the "
                 "λ_H whose interval reaches farthest from 2"))
    slopes = {tag[h]: m["eq5_slope"] for h, m in measured.items()}
    worst = max(slopes, key=lambda k: abs(slopes[k] + 2))
    worst_h = next(h for h in measured if tag[h] == worst)
    claims.append(Claim.decided(
        "eq5_is_second_order", text="Eq. 5 approximates the first-order map F with error O(β⁻²).",
        source=f"{SOURCE}, Thm 4.1 / Eq. 5",
        verdict=every([abs(v + 2) <= RATE_TOL for v in slopes.values()],
                      f"log-log slope of ‖F_autograd - F_Eq5‖₂ in β within -2 ± {RATE_TOL:g} at each λ_H"),
        measured=slopes,
        note=f"fitted over β × {config['beta_factors']}; F by autograd; the slope farthest from -2 is at "
             f"λ_H = {worst_h:g} ({slopes[worst]:.4f}); the count is over the λ_H values"))
    return claims


def draw(config: dict, measured: dict) -> Figure:
    """Left: absolute error of the first-order dH (solid) and dW (dashed) against ||dH_0||; right: Eq. 5's gap in beta."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    x = np.asarray(config["deltas"])
    for i, (h, m) in enumerate(measured.items()):
        for key, ls in (("H", "-"), ("W", "--")):
            geometric_band(axes[0], x, m["errs"][key][:, 1:], color=f"C{i}", unit="directions", ls=ls, marker="o", ms=3,
                           label=rf"$\delta {key}$, $\lambda_H={h:g}$")
        axes[1].loglog([config["beta"] * f for f in config["beta_factors"]], m["eq5_gaps"], "o-", color=f"C{i}",
                       label=rf"$\lambda_H={h:g}$")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].loglog(x, x**2 * np.median(measured[next(iter(measured))]["errs"]["H"][:, -1]) / x[-1] ** 2, "k:", lw=0.8,
                   label="slope 2")
    axes[0].set_xlabel(r"$\|\delta H_0\|/\|H^*\|$")
    axes[0].set_title("error of the first-order prediction vs re-solving", fontsize=9)
    axes[1].set_xlabel(r"$\beta$")
    axes[1].set_title(r"$\|F - F_{\mathrm{Eq.5}}\|_2$ (slope -2 expected)", fontsize=9)
    betas = [config["beta"] * f for f in config["beta_factors"]]
    first = next(iter(measured.values()))["eq5_gaps"]
    axes[1].loglog(betas, first[0] * (np.asarray(betas) / betas[0]) ** -2.0, "k:", lw=0.8, label="slope -2")
    from matplotlib.ticker import NullLocator

    for ax, ticks in ((axes[0], list(x)), (axes[1], betas)):
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.legend(fontsize=7, title=f"geometric mean over {len(config['seeds'])} directions" if ax is axes[0] else None,
                  title_fontsize=7)
    fig.suptitle(rf"THN Thm 4.1, K={config['K']}, d={config['d']}, n={config['n']}, $\lambda_W={config['lam_W']:.3g}$")
    return fig
