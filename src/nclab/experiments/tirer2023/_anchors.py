"""What the UFM experiments of Tirer, Huang & Niles-Weed share: sizes, lambda pairs and anchors.

The anchored model f(W, H; H_0) of THN Eq. 2 needs a non-collapsed anchor H_0:
:func:`clustered_features` draws one. The config-table entries of the sizes (``K``, ``n``,
``d``) and of a list of ``[lam_W, lam_H]`` pairs are declared here once; the cross-key checks
the tables cannot express (``d >= K``, ``lam_W > 0`` inside a pair) raise ``ValueError`` with
the key's name through :func:`nclab.config.refuse`.
"""
from __future__ import annotations

import torch

from nclab.config import Int, ListOf, Param, Real, refuse

PAPER = "tirer2023"
SOURCE = "Tirer, Huang, Niles-Weed 2023"


def size_params(K: int, n: int, d: int) -> dict[str, Param]:
    """The table entries ``K`` (classes), ``n`` (samples per class), ``d`` (feature dimension)."""
    return {"K": Param(K, Int(minimum=2), "number of classes"),
            "n": Param(n, Int(minimum=1), "samples per class"),
            "d": Param(d, Int(minimum=1), "feature dimension (the theorems assume d ≥ K)")}


def lam_pairs_param(default: list, *, lam_H_positive: bool) -> Param:
    """The table entry of a list of ``[lam_W, lam_H]`` pairs (both > 0, or lam_H >= 0: see :func:`check_pairs`)."""
    rule = ListOf(ListOf(Real(minimum=0.0, strict=lam_H_positive), length=2))
    what = "λ_W > 0, λ_H > 0" if lam_H_positive else "λ_W > 0, λ_H ≥ 0"
    return Param(default, rule, f"list of [λ_W, λ_H] pairs ({what}), one run each")


def check_d(experiment: str, cfg: dict, *, strict: bool = False) -> None:
    """``d >= K`` (``d > K`` if ``strict``): the theorems' assumption on the feature dimension."""
    K, d = cfg["K"], cfg["d"]
    op = ">" if strict else ">="
    if d < K or (strict and d == K):
        refuse(f"experiment {experiment!r}", "d", d, f"{op} K = {K} (the theorem assumes d {op} K)")


def check_pairs(experiment: str, pairs: list) -> list[tuple[float, float]]:
    """The pairs as tuples; ``lam_W = 0`` is refused (the table allows lam_H = 0 but not lam_W = 0)."""
    for lam_W, _ in pairs:
        if lam_W <= 0:
            refuse(f"experiment {experiment!r}", "lam_pairs", pairs, "a list of [lam_W, lam_H] pairs with lam_W > 0")
    return [(float(a), float(b)) for a, b in pairs]


def pair_tag(lam_W: float, lam_H: float) -> str:
    """The key of one pair in the claims' measured values and the metrics (4 significant digits:
    the paper's lam_W = sqrt(2) reads ``lam_W=1.414``)."""
    return f"lam_W={lam_W:.4g},lam_H={lam_H:.4g}"


def pair_text(lam_W: float, lam_H: float) -> str:
    """One pair as the page's prose writes it, in the papers' notation (4 significant digits, as
    :func:`pair_tag`): ``λ_W = 1.414, λ_H = 0.01``."""
    return f"λ_W = {lam_W:.4g}, λ_H = {lam_H:.4g}"


def clustered_features(K: int, n: int, d: int, seed: int, *, mean_scale: float = 1.0,
                       noise: float = 1.0) -> torch.Tensor:
    """A non-collapsed H0 (d x Kn, class-ordered): Gaussian class means plus Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    M = mean_scale * torch.randn(d, K, generator=g, dtype=torch.float64)
    return M.repeat_interleave(n, dim=1) + noise * torch.randn(d, K * n, generator=g, dtype=torch.float64)
