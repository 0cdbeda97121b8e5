"""MPP Lemma 1, Theorem 2 and Theorem 3: the invariant subspace S, the risk on it, convergence on it.

Registered as ``mixon2022-subspace``. The paper's statements were not available to us; the
claims test them as the paper's summary states them (an invariant subspace S guides gradient
flow; the risk decomposes on S; from a generic start the flow converges to strong neural
collapse), in the forms written out in ``docs/math.md`` (section 2):

S = {(H, W, b): H = (W (x) 1_N)^T / sqrt(N), 1^T W = 0, b in span(1)}, and on S with b = beta 1

    R_e = 1/(2C) [sum_{i <= C-1} (sigma_i(W)^2 / sqrt(N) - 1)^2 + (C beta - 1)^2].

Each statement is checked against something computed independently of the formula it tests:

- Lemma 1 (S is invariant): (a) at random points of S, the gradient of R_e computed by autograd
  from the risk's definition lies in S (relative distance of the gradient to S at rounding
  level); (b) gradient descent with nclab's engine, started on S, stays on S at every recorded
  iteration (relative distance <= ``INVARIANCE_TOL``). A check shows the statement is not
  vacuous: off S, the autograd gradient is far from S.
- Theorem 2 (the risk on S): :func:`~nclab.theory.shallow.strong_collapse.risk_on_S` (from
  the singular values of W) against R_e evaluated directly at the same points of S.
- Theorem 3 (convergence on S): gradient descent from many generic starts on S (Gaussian W
  centred across classes, at several scales, b = beta_0 1 with random beta_0) reaches strong
  NC: ||W W^T - sqrt(N) P||_F, ||b - 1/C||_2 and the relative error in H all below
  ``CONVERGENCE_TOL`` at the last iteration, in every run; the page lists any that do not.

- The strong-NC state (MPP eqs. snc1-snc3) itself: at Haar-random strong-NC points the risk
  (evaluated directly) and the autograd gradient vanish, and nclab's collapse metrics (written
  for real networks, independently of this model) find NC1-NC4 exactly.

Every rule is universal (:func:`~nclab.experiments.rules.every`, k/n with a Wilson interval),
and every tolerance was fixed before the first run.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab.config import Choice, Int, ListOf, Param, Real
from nclab.experiments.mixon2022._gd import PAPER, SOURCE, check_config, descend
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.rules import every
from nclab.geometry import center
from nclab.layout import class_ordered_labels, one_hot_targets, repeat_columns
from nclab.seeds import Seeds

NAME = "mixon2022-subspace"

#: Relative distance to S treated as "on S" (float64 rounding of a few thousand steps).
INVARIANCE_TOL = 1e-10
#: Relative disagreement allowed between the decomposition of Theorem 2 and the direct risk.
RISK_TOL = 1e-12
#: Each strong-NC error at the last iteration below this counts as converged.
CONVERGENCE_TOL = 1e-8
#: At a strong-NC point: risk, gradient norm and every NC metric below this count as zero.
ZERO_TOL = 1e-12
#: Off S, the gradient's relative distance to S above this shows the invariance is not vacuous.
OFF_S_MIN = 1e-3

PARAMS = {
    "C": Param(3, Int(minimum=2), "number of classes"),
    "N": Param(3, Int(minimum=1), "samples per class"),
    "p": Param(15, Int(minimum=1), "feature dimension (at least C - 1)"),
    "scales": Param([1e-2, 1e-1, 1.0], ListOf(Real(minimum=0.0, strict=True), unique=True),
                    "scales of the generic starts: W_0 = scale · PG/√p, G Gaussian (C × p)"),
    "seeds": Param(100, Seeds(), "random starts per scale: a count S (seeds 0..S-1) or a list"),
    "steps": Param(4000, Int(minimum=1), "gradient-descent iterations"),
    "lr": Param(0.5, Real(minimum=0.0, strict=True), "step size (the figures' step)"),
    "num_records": Param(40, Int(minimum=2), "about this many log-spaced recorded iterations"),
    "dtype": Param("float64", Choice("float64"), "floating type (float64: the invariance is tested at rounding level)"),
}
QUICK = {"seeds": 20, "steps": 1000, "num_records": 25}

DESC = ("Lemma 1, Theorem 2 and Theorem 3 of Mixon, Parshall, Pi, as their summary states them: the subspace "
        "S = {H = (W ⊗ 1_N)ᵀ/√N, 1ᵀW = 0, b ∈ span(1)} is invariant under gradient descent on R_e; on S "
        "the risk decomposes over the singular values of W and the bias; from a generic W_0 on S, the flow "
        "converges to strong neural collapse (WWᵀ = √N P, b = (1/C)1).")


def points_on_S(C: int, N: int, p: int, scales: list[float], seeds: list[int]):
    """Generic points of S: per (scale, seed), W = scale P G / sqrt(p), H = (W (x) 1_N)^T / sqrt(N), b = beta 1.

    G is a C x p standard Gaussian and beta uniform in [-1, 1], both drawn from the seed.
    Returns H (B, p, CN), W (B, C, p), b (B, C) in float64, scale-major (B = len(scales) * len(seeds)).
    """
    Ws, betas = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        Ws.append(center(torch.randn(C, p, generator=g, dtype=torch.float64)) / math.sqrt(p))
        betas.append(2 * torch.rand((), generator=g, dtype=torch.float64) - 1)
    W = torch.cat([x * torch.stack(Ws) for x in scales])
    beta = torch.stack(betas).repeat(len(scales))
    H = repeat_columns(W.mT, N) / math.sqrt(N)
    return H, W, beta[:, None].expand(-1, C).clone()


def autograd_gradient(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int):
    """The gradient of R_e = 1/(2CN) ||W H + b 1^T - Y||_F^2 by autograd, written from the definition."""
    C = W.shape[-2]
    H, W, b = (t.detach().clone().requires_grad_(True) for t in (H, W, b))
    Y = one_hot_targets(C, N, dtype=H.dtype)
    risk = (W @ H + b.unsqueeze(-1) - Y).square().sum() / (2 * C * N)
    return torch.autograd.grad(risk, (H, W, b))


@register(NAME, paper=PAPER, title="Invariant subspace, risk on S, convergence on S (MPP Lemma 1, Thms 2-3)",
          description=DESC, defaults=PARAMS, quick=QUICK, seed_key="seeds", check=check_config(NAME))
def subspace(config: dict) -> Outcome:
    from nclab.theory.shallow.strong_collapse import distance_to_S, mixon_risk, risk_on_S

    C, N, p, seeds, scales = config["C"], config["N"], config["p"], config["seeds"], config["scales"]
    H, W, b = points_on_S(C, N, p, scales, seeds)
    gH, gW, gb = autograd_gradient(H, W, b, N)
    grad_dist = distance_to_S(gH, gW, gb, N).numpy()
    g = torch.Generator().manual_seed(int(seeds[0]) + 10**6)
    Hoff = H + 0.1 * H.norm(dim=(-2, -1), keepdim=True) * torch.randn(H.shape, generator=g, dtype=H.dtype) / math.sqrt(
        H[0].numel())
    off_dist = distance_to_S(*autograd_gradient(Hoff, W, b, N), N).numpy()
    direct = mixon_risk(H, W, b, N)
    decomposed = risk_on_S(W, b[:, 0], N)
    risk_err = ((decomposed - direct).abs() / direct.abs().clamp_min(torch.finfo(direct.dtype).tiny)).numpy()

    state = strong_state(C, N, p, seeds)
    run = descend(H, W, b, config)
    on_S = run["distance"].max(-1)
    final = {k: run[k][:, -1] for k in ("WWt", "H", "b")}
    converged = np.all([v <= CONVERGENCE_TOL for v in final.values()], axis=0)
    shape = (len(scales), len(seeds))
    claims = judge(config, grad_dist, off_dist, risk_err, on_S, final, converged) + [state_claim(state)]
    table = [{"scale": x, "runs": len(seeds), "converged": int(converged.reshape(shape)[i].sum()),
              "max_distance_to_S": float(on_S.reshape(shape)[i].max()),
              **{f"max_final_{k}": float(v.reshape(shape)[i].max()) for k, v in final.items()}}
             for i, x in enumerate(scales)]
    failing = [{"scale": scales[i // len(seeds)], "seed": seeds[i % len(seeds)],
                **{k: float(v[i]) for k, v in final.items()}} for i in np.flatnonzero(~converged)]
    metrics = {"max_gradient_distance_to_S": float(grad_dist.max()), "min_off_S_gradient_distance": float(off_dist.min()),
               "max_risk_relative_error": float(risk_err.max()), "max_gd_distance_to_S": float(on_S.max()),
               "converged_fraction": float(converged.mean()), "gd_seconds": run["seconds"],
               **{f"max_final_{k}": float(v.max()) for k, v in final.items()}}
    notes = [f"{converged.size} runs ({len(scales)} scales × {len(seeds)} seeds), {config['steps']} steps of "
             f"size {config['lr']:g} (gradient-flow time {config['steps'] * config['lr']:g}).",
             "Runs that did not reach strong NC: " + (", ".join(f"scale {r['scale']:g} seed {r['seed']}"
                                                                 for r in failing[:20]) or "none") + "."]
    tables = {"by_scale": table}
    if failing:
        tables["not_converged"] = failing
    return Outcome(claims=claims, figures={"subspace_convergence": draw(config, run)}, metrics=metrics,
                   tables=tables, notes=notes)


def strong_state(C: int, N: int, p: int, seeds: list[int]) -> dict[str, np.ndarray]:
    """Per seed, at a Haar-random strong-NC point: the direct risk, the autograd gradient norm, NC1-NC4."""
    from nclab.metrics import collapse
    from nclab.theory.shallow.strong_collapse import mixon_risk, strong_nc_point

    labels = class_ordered_labels(C, N)
    out: dict[str, list] = {}
    for s in seeds:
        H, W, b = strong_nc_point(C, N, p, generator=torch.Generator().manual_seed(int(s)))
        grad = torch.cat([g.reshape(-1) for g in autograd_gradient(H, W, b, N)])
        m = collapse(H.mT, labels, weight=W, bias=b)
        for k, v in (("risk", float(mixon_risk(H, W, b, N))), ("grad_norm", float(grad.norm())), ("nc1", m["nc1"]),
                     ("nc2_etf_features", m["nc2_etf_features"]), ("nc3_duality", m["nc3_duality"]),
                     ("nc4_ncc_mismatch", m["nc4_ncc_mismatch"])):
            out.setdefault(k, []).append(abs(v))
    return {k: np.asarray(v) for k, v in out.items()}


def state_claim(state: dict[str, np.ndarray]) -> Claim:
    """The strong-NC state is a zero-risk critical point with NC1-NC4, at every random point."""
    holds = np.all([v <= ZERO_TOL for v in state.values()], axis=0)
    return Claim.decided(
        "strong_nc_state_is_zero_risk_collapse",
        text="Strong neural collapse (WWᵀ = √N P, H = (W ⊗ 1_N)ᵀ/√N, b = (1/C)1) has zero risk and "
             "satisfies NC1-NC4.", source=f"{SOURCE}, eqs. snc1-snc3",
        verdict=every(holds, f"direct risk, autograd gradient norm, NC1, NC2, NC3 and NC4 all ≤ {ZERO_TOL:g}"),
        measured={k: float(v.max()) for k, v in state.items()},
        note="NC metrics by nclab.metrics.collapse (features Hᵀ, classifier W with bias b), which knows nothing of "
             "this model; one Haar-random point per seed")


def judge(config: dict, grad_dist, off_dist, risk_err, on_S, final, converged) -> list[Claim]:
    """The claims of Lemma 1, Theorem 2 and Theorem 3, and the off-S control."""
    by_summary = "statement as the paper's summary gives it; the full text was not available to us"
    return [
        Claim.decided(
            "gradient_lies_in_S", text="S is invariant under gradient descent: at every point of S the gradient of "
            "R_e lies in S.", source=f"{SOURCE}, Lemma 1",
            verdict=every(grad_dist <= INVARIANCE_TOL, f"relative distance of the autograd gradient to S ≤ "
                          f"{INVARIANCE_TOL:g}"),
            measured={"max_relative_distance": float(grad_dist.max()), "points": int(grad_dist.size)},
            note=f"gradient by autograd from the risk's definition, independent of the engine; {by_summary}"),
        Claim.decided(
            "gd_started_on_S_stays_on_S", text="S is invariant under gradient descent: a run started on S stays on S.",
            source=f"{SOURCE}, Lemma 1",
            verdict=every(on_S <= INVARIANCE_TOL, f"relative distance to S ≤ {INVARIANCE_TOL:g} at every recorded "
                          "iteration"),
            measured={"max_relative_distance": float(on_S.max()), "runs": int(on_S.size)},
            note=f"nclab's batched engine, float64, {config['steps']} steps; {by_summary}"),
        Claim.decided(
            "gradient_off_S_leaves_S", text="Control: off S the gradient does not lie in S (Lemma 1 is not vacuous).",
            source="nclab control", verdict=every(off_dist >= OFF_S_MIN, f"relative distance of the gradient to S ≥ "
                                                  f"{OFF_S_MIN:g} after moving H off S by 10% of its norm"),
            measured={"min_relative_distance": float(off_dist.min())}, kind="check"),
        Claim.decided(
            "risk_on_S_decomposes", text="On S the risk decomposes over the singular values of W and the bias: "
            "R_e = 1/(2C) [Σ_i (σ_i²/√N - 1)² + (Cβ - 1)²].", source=f"{SOURCE}, Theorem 2",
            verdict=every(risk_err <= RISK_TOL, f"relative difference from R_e evaluated directly ≤ {RISK_TOL:g}"),
            measured={"max_relative_error": float(risk_err.max()), "points": int(risk_err.size)},
            note=f"the decomposition's form is ours (docs/math.md §5.4); {by_summary}"),
        Claim.decided(
            "flow_on_S_reaches_strong_nc", text="From a generic initial W on S, gradient flow converges to strong "
            "neural collapse (WWᵀ = √N P, H = (W ⊗ 1_N)ᵀ/√N, b = (1/C)1).", source=f"{SOURCE}, Theorem 3",
            verdict=every(converged, f"each strong-NC error ≤ {CONVERGENCE_TOL:g} at the last iteration"),
            measured={"converged": f"{int(converged.sum())}/{converged.size}",
                      **{f"max_final_{k}": float(v.max()) for k, v in final.items()}},
            note=f"gradient descent of step {config['lr']:g} stands for the flow; scales {config['scales']}; "
                 f"{by_summary}"),
    ]


def draw(config: dict, run: dict) -> Figure:
    """||W W^T - sqrt(N) P||_F and the distance to S against the iteration, every run faint, per scale."""
    t, S = run["steps"], len(config["seeds"])
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, x in enumerate(config["scales"]):
        rows = slice(i * S, (i + 1) * S)
        for j, (ax, key) in enumerate(zip(axes, ("WWt", "distance"))):
            y = np.maximum(run[key][rows, 1:], 1e-300)
            ax.loglog(t[1:], y.T, color=f"C{i}", alpha=0.2, lw=0.7)
            ax.loglog(t[1:], np.median(y, 0), color=f"C{i}", lw=1.8, label=f"scale {x:g}: median (faint: each start)")
    axes[0].axhline(CONVERGENCE_TOL, color="k", ls=":", lw=0.8, label=f"claim tolerance {CONVERGENCE_TOL:g}")
    axes[0].set_title(r"$\|WW^\top-\sqrt{N}P\|_F$ from starts on $S$", fontsize=10)
    axes[1].axhline(INVARIANCE_TOL, color="k", ls=":", lw=0.8, label=f"claim tolerance {INVARIANCE_TOL:g}")
    axes[1].set_title(r"$\|Z-\Pi_S Z\|_E/\|Z\|_E$ (rounding level)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("iteration")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(f"GD on $R_e$ from {S} generic starts on $S$ per scale, $C={config['C']}$, $N={config['N']}$, "
                 f"$p={config['p']}$")
    return fig
