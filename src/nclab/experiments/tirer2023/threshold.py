"""THN Corollary 3.2's threshold C(H_0): a search for anchors and betas where NC1 does not decrease.

Registered as ``tirer2023-threshold``. The corollary says NC1(H_{1/beta}) < NC1(H_0) for
beta > C(H_0), where H_{1/beta} minimises the anchored model f(W, H; H_0) (THN Eq. 2) and C(H_0)
is a constant of the proof with no closed form. Below C(H_0) the paper asserts nothing, so the
question "is there any anchor and beta where NC1 does not decrease?" is a search, not a claim:

1. **Grid search.** Anchors from several families chosen to be hard (an imbalanced spread
   across classes, noise orthogonal to or along the class means, weak class means, nearly
   collapsed anchors, plus the isotropic anchors of ``tirer2023-depthwise``), one per seed, for
   every [lam_W, lam_H] pair and every beta of a log grid: one exact anchored minimisation each,
   recording r = NC1(H_{1/beta}) / NC1(H_0) with NC1 = tr Sigma_W / tr Sigma_B (THN's measure).
2. **Local search.** From the (anchor, pair, beta) with the largest r among the betas <=
   ``climb_beta_max`` (above it r -> 1 as the step 1/beta shrinks, so the largest r is always at
   the largest beta and says nothing), random perturbations of H_0 are kept when they raise r
   (``climb_steps`` minimisations).

The page reports how many minimisations were run, the largest r found and where, and every
counterexample (r >= 1). The one claim is the corollary itself on these adversarial anchors:
at the largest beta of the grid (``beta_max``, taken as above C(H_0)) NC1 decreases for every
anchor of every family. The empirical C(H_0) of each anchor (the largest grid beta with r >= 1,
if any) is in the table.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab.config import Choice, Int, ListOf, Param, Real
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.rules import every
from nclab.experiments.tirer2023._anchors import (PAPER, SOURCE, check_d, check_pairs, lam_pairs_param, pair_tag,
                                                  pair_text, size_params)
from nclab.seeds import Seeds

NAME = "tirer2023-threshold"

#: The anchor families of the grid search: name -> what it is.
FAMILIES = {
    "isotropic": "Gaussian class means (scale 1) plus isotropic Gaussian noise (scale 1), as tirer2023-depthwise",
    "imbalanced": "class 0 spread 10× wider than the isotropic anchor, the other classes 10× narrower",
    "off_means": "within-class noise (scale 3) only in the orthogonal complement of the centred class means",
    "along_means": "within-class noise (scale 1) only inside the span of the centred class means",
    "weak_means": "class means of scale 0.05 under isotropic noise of scale 1",
    "near_collapsed": "isotropic anchor with noise of scale 1e-3",
}

PARAMS = {
    **size_params(4, 10, 10),
    "lam_pairs": lam_pairs_param([[0.01, 0.01], [math.sqrt(2.0), 0.1]], lam_H_positive=False),
    "beta_min": Param(1e-4, Real(minimum=0.0, strict=True), "smallest β of the log grid"),
    "beta_max": Param(1e3, Real(minimum=0.0, strict=True), "largest β of the grid; the claim is made there"),
    "num_betas": Param(25, Int(minimum=2), "number of log-spaced values of β"),
    "families": Param(list(FAMILIES), ListOf(Choice(*FAMILIES), unique=True), "anchor families searched"),
    "seeds": Param(8, Seeds(), "anchors per family (a count S means seeds 0..S-1)"),
    "climb_steps": Param(200, Int(minimum=0), "minimisations of the local search from the worst case found"),
    "climb_beta_max": Param(1.0, Real(minimum=0.0, strict=True),
                            "the local search starts from the largest ratio among the values of β ≤ this"),
    "tol": Param(1e-10, Real(minimum=0.0, strict=True), "gradient-norm tolerance of each minimisation"),
}
QUICK = {"seeds": 3, "num_betas": 13, "lam_pairs": [[0.01, 0.01]], "climb_steps": 40}

DESC = ("THN Corollary 3.2 holds for β > C(H_0), a constant without closed form. Search anchors H_0 (hard "
        "families) and values of β for a case where NC1 = tr(Σ_W)/tr(Σ_B) does not decrease, and report how hard "
        "the search was; check the corollary at the largest β on every anchor.")


def check_config(config: dict) -> None:
    """``d >= K``, lam_W > 0 in every pair, ``beta_min < beta_max``."""
    from nclab.config import refuse

    check_d(NAME, config)
    check_pairs(NAME, config["lam_pairs"])
    if config["beta_min"] >= config["beta_max"]:
        refuse(f"experiment {NAME!r}", "beta_min", config["beta_min"], f"< beta_max = {config['beta_max']:g}")


def anchor(family: str, K: int, n: int, d: int, seed: int) -> torch.Tensor:
    """One anchor H_0 (d x Kn, class-ordered, float64) of ``family`` (see :data:`FAMILIES`)."""
    g = torch.Generator().manual_seed(int(seed))
    M = torch.randn(d, K, generator=g, dtype=torch.float64)
    E = torch.randn(d, K * n, generator=g, dtype=torch.float64)
    if family == "weak_means":
        M = 0.05 * M
    if family in ("off_means", "along_means"):
        Q, _ = torch.linalg.qr(M - M.mean(1, keepdim=True))
        Q = Q[:, : K - 1]
        E = E - E.reshape(d, K, n).mean(-1).repeat_interleave(n, dim=1)  # within-class only: the means stay M
        inside = Q @ (Q.mT @ E)
        E = 3.0 * (E - inside) if family == "off_means" else inside
    scale = torch.ones(K * n, dtype=torch.float64)
    if family == "imbalanced":
        scale = torch.full((K * n,), 0.1, dtype=torch.float64)
        scale[:n] = 10.0
    elif family == "near_collapsed":
        scale = scale * 1e-3
    return M.repeat_interleave(n, dim=1) + E * scale


def nc1_ratio(H: torch.Tensor, n: int) -> float:
    """tr Sigma_W / tr Sigma_B of class-ordered columns (THN's NC1)."""
    from nclab.theory.shallow.flow import trace_covariances

    return float(torch.div(*trace_covariances(H, n)))


def step_ratio(H0: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float, tol: float) -> tuple[float, float]:
    """(NC1(H_{1/beta}) / NC1(H_0), gradient norm of the minimisation)."""
    from nclab.theory.shallow.anchored import anchored_minimizer

    res = anchored_minimizer(H0, n, lam_W, lam_H, beta, tol=tol)
    return nc1_ratio(res.H, n) / nc1_ratio(H0, n), res.grad_norm


@register(NAME, paper=PAPER, title="Searching below Cor. 3.2's threshold C(H_0) (THN)", description=DESC,
          defaults=PARAMS, quick=QUICK, seed_key="seeds", check=check_config)
def threshold_experiment(config: dict) -> Outcome:
    K, n, d, seeds, tol = config["K"], config["n"], config["d"], config["seeds"], config["tol"]
    pairs = check_pairs(NAME, config["lam_pairs"])
    betas = np.geomspace(config["beta_min"], config["beta_max"], config["num_betas"])
    fams = config["families"]
    start = time.perf_counter()
    r = np.zeros((len(fams), len(seeds), len(pairs), len(betas)))
    gmax = 0.0
    for f, fam in enumerate(fams):
        for s, seed in enumerate(seeds):
            H0 = anchor(fam, K, n, d, seed)
            for p, (lam_W, lam_H) in enumerate(pairs):
                for b, beta in enumerate(betas):
                    r[f, s, p, b], g = step_ratio(H0, n, lam_W, lam_H, float(beta), tol)
                    gmax = max(gmax, g)
    grid_seconds = time.perf_counter() - start
    worst = np.unravel_index(np.argmax(r), r.shape)
    small = np.where(betas <= config["climb_beta_max"], r, -np.inf)
    start_at = np.unravel_index(np.argmax(small), r.shape) if np.isfinite(small).any() else worst
    climb = local_search(config, fams[start_at[0]], seeds[start_at[1]], pairs[start_at[2]], float(betas[start_at[3]]))
    counter = [{"family": fams[f], "seed": seeds[s], "pair": pair_tag(*pairs[p]), "beta": float(betas[b]),
                "ratio": float(r[f, s, p, b])} for f, s, p, b in np.argwhere(r >= 1.0)]
    thresholds = [{"family": fam, "pair": pair_tag(*pairs[p]),
                   "anchors_with_a_failure": f"{int((r[f, :, p] >= 1).any(-1).sum())}/{len(seeds)}",
                   "largest_beta_failing": (float(betas[np.flatnonzero((r[f, :, p] >= 1).any(0)).max()])
                                            if (r[f, :, p] >= 1).any() else None),
                   "max_ratio": float(r[f, :, p].max()), "ratio_at_beta_max": float(r[f, :, p, -1].max())}
                  for f, fam in enumerate(fams) for p in range(len(pairs))]
    n_grid = int(r.size)
    at_max = r[..., -1]  # (families, seeds, pairs)
    claims = [Claim.decided(
        "nc1_decreases_at_large_beta_on_hard_anchors",
        text="For β > C(H_0) the minimiser of the anchored model has smaller NC1 than a non-collapsed anchor H_0.",
        source=f"{SOURCE}, Cor. 3.2",
        verdict=every(at_max.reshape(-1) < 1.0, f"NC1(H_(1/β))/NC1(H_0) < 1 at β = beta_max = "
                      f"{config['beta_max']:g} for every anchor of every family and every (λ_W, λ_H) pair"),
        measured={"max_ratio_at_beta_max": float(at_max.max()), "anchors": int(at_max.size)},
        note="beta_max is taken as above C(H_0) (no closed form); the families are chosen to be hard"),
        Claim.decided("exact_minimiser", text="Each minimisation is exact (THN Eq. 2).", source=f"{SOURCE}, Eq. 2",
                      verdict=every([gmax <= tol], f"gradient norm ≤ {tol:g} in every minimisation"),
                      measured={"max_grad_norm": gmax}, kind="check")]
    found = "none" if not counter else f"{len(counter)} (of {n_grid} grid points)"
    notes = [f"Grid search: {n_grid} exact minimisations ({len(fams)} families × {len(seeds)} anchors × {len(pairs)} "
             f"(λ_W, λ_H) pairs × {len(betas)} values of β in [{config['beta_min']:g}, {config['beta_max']:g}]), "
             f"{grid_seconds:.1f} s. Counterexamples (NC1 ratio ≥ 1): {found}.",
             f"Largest ratio on the grid: {float(r[worst]):.6g} ({fams[worst[0]]}, seed {seeds[worst[1]]}, "
             f"{pair_text(*pairs[worst[2]])}, β = {float(betas[worst[3]]):.3g}).",
             f"Largest ratio at β ≤ {config['climb_beta_max']:g}: {float(r[start_at]):.6g} ({fams[start_at[0]]}, seed "
             f"{seeds[start_at[1]]}, {pair_text(*pairs[start_at[2]])}, β = {float(betas[start_at[3]]):.3g}); a local "
             f"search from there ({climb['steps']} minimisations) raised it to {climb['best']:.6g} "
             f"({'a counterexample' if climb['best'] >= 1 else 'still below 1'}).",
             *[f"{k}: {v}" for k, v in FAMILIES.items() if k in fams]]
    metrics = {"grid_minimisations": n_grid, "counterexamples": len(counter), "max_ratio_grid": float(r[worst]),
               "max_ratio_small_beta": float(r[start_at]),
               "max_ratio_local_search": climb["best"], "grid_seconds": grid_seconds,
               "max_ratio_at_beta_max": float(at_max.max())}
    tables = {"per_family": thresholds}
    if counter:
        tables["counterexamples"] = counter[:200]
    return Outcome(claims=claims, figures={"threshold_search": draw(config, betas, r, pairs)}, metrics=metrics,
                   tables=tables, notes=notes)


def local_search(config: dict, family: str, seed: int, pair: tuple[float, float], beta: float) -> dict:
    """Random-perturbation hill climbing on H_0 that keeps a change when it raises the NC1 ratio."""
    K, n, d, tol = config["K"], config["n"], config["d"], config["tol"]
    H0 = anchor(family, K, n, d, seed)
    best, _ = step_ratio(H0, n, *pair, beta, tol)
    g = torch.Generator().manual_seed(int(seed) + 104729)
    size = 0.1
    for _ in range(config["climb_steps"]):
        trial = H0 + size * float(H0.norm()) * torch.randn(H0.shape, generator=g, dtype=torch.float64) / math.sqrt(
            H0.numel())
        ratio, _ = step_ratio(trial, n, *pair, beta, tol)
        if ratio > best:
            H0, best = trial, ratio
        else:
            size = max(size * 0.95, 1e-3)
    return {"best": float(best), "steps": int(config["climb_steps"])}


def draw(config: dict, betas: np.ndarray, r: np.ndarray, pairs: list) -> Figure:
    """The NC1 ratio against beta: per family the largest over anchors (solid) and the median (faint)."""
    fig = Figure(figsize=(5.5 * len(pairs), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    for p, ax in enumerate(axes):
        for f, fam in enumerate(config["families"]):
            ax.semilogx(betas, r[f, :, p].max(0), color=f"C{f}", label=fam)
            ax.semilogx(betas, np.median(r[f, :, p], 0), color=f"C{f}", alpha=0.35, lw=0.8)
        ax.axhline(1.0, color="k", ls=":", lw=0.8, label="ratio 1: NC1 unchanged" if p == 0 else None)
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel(r"$NC_1(H_{1/\beta})/NC_1(H_0)$")
        ax.set_title(rf"$\lambda_W={pairs[p][0]:.4g}$, $\lambda_H={pairs[p][1]:.4g}$", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("Cor. 3.2: one anchored minimisation, NC1 ratio (max over anchors; faint: median)")
    return fig
