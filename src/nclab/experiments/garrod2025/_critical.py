"""Garrod & Keating's Lemma 1 and per-layer deep neural collapse, measured on trained deep UFMs.

Lemma 1 (GK 2025): at a critical point of the deep linear UFM with the same weight decay lam on
H_1 and every W_l, the factors are balanced,

    W_1^T W_1 = H_1 H_1^T,    W_{l+1}^T W_{l+1} = W_l W_l^T  (l = 1..L-1),

(from the stationarity conditions: W_{l+1}^T dF/dW_{l+1} = dF/dW_l W_l^T for the fit term F), so
all factors share their nonzero singular values and the regulariser is the Schatten
quasi-norm of Z. :func:`critical_point_stats` measures the largest relative balance gap of each
trained run, and, for deep neural collapse (DNC1-2 at every layer), the largest NC1 and NC2
(ETF error of the centred class means) over the layers H_1, X_1, .., X_{L-1}, with nclab's
collapse metrics. :func:`critical_point_claims` turns the rows of a gradient-descent experiment
into two claims: every linear run is balanced, and every DNC run is collapsed at every layer.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from nclab.experiments.garrod2025._paper import SRC
from nclab.experiments.registry import Claim
from nclab.experiments.rules import every
from nclab.layout import class_ordered_labels

#: Relative balance gap counted as balanced (the L-BFGS polish stops at gradient norm ~1e-9,
#: which leaves gaps ~grad/lam ~1e-6 at lam = 2^-10); fixed before the first run.
BALANCE_TOL = 1e-4
#: Per-layer NC1 and NC2 of a DNC run counted as collapsed; fixed before the first run.
LAYER_NC_TOL = 1e-3


def balance_gap(H: torch.Tensor, Ws: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """max over the L balance equations of ||A - B||_F / max(||A||_F, ||B||_F), per seed (S,).

    ``H`` (S, d, N), ``Ws`` = (W_1, .., W_L) with W_l (S, rows, cols): the pairs are
    (W_1^T W_1, H_1 H_1^T) and (W_{l+1}^T W_{l+1}, W_l W_l^T).
    """
    pairs = [(Ws[0].mT @ Ws[0], H @ H.mT)] + [(Ws[l + 1].mT @ Ws[l + 1], Ws[l] @ Ws[l].mT) for l in range(len(Ws) - 1)]
    gaps = [torch.linalg.matrix_norm(a - b) / torch.maximum(torch.linalg.matrix_norm(a), torch.linalg.matrix_norm(b))
            for a, b in pairs]
    return torch.stack(gaps).amax(0)


def critical_point_stats(spec, params) -> dict[str, np.ndarray]:
    """Per seed: ``balance_gap`` (NaN for ReLU, where Lemma 1 does not apply), ``layer_nc1_max`` and
    ``layer_nc2_max`` over the layers' features (nclab.metrics.collapse)."""
    from nclab.metrics import collapse
    from nclab.ufm.objective import forward

    S = params.H.shape[0]
    out = {k: np.full(S, np.nan) for k in ("balance_gap", "layer_nc1_max", "layer_nc2_max")}
    with torch.no_grad():
        _, layers = forward(spec, params)
        finite = torch.stack([torch.isfinite(X).flatten(1).all(1) for X in layers]).all(0).cpu()
        keep = torch.nonzero(finite).flatten()  # a diverged run keeps NaN
        if keep.numel() == 0:
            return out
        labels = class_ordered_labels(spec.K, spec.n)
        nc1, nc2 = [], []
        for X in layers:
            m = collapse(X[keep].mT, labels, undefined="omit")
            nc1.append(np.atleast_1d(np.asarray(m["nc1"], dtype=float)))
            nc2.append(np.atleast_1d(np.asarray(m.get("nc2_etf_features", np.full(keep.numel(), np.nan)), dtype=float)))
        idx = keep.numpy()
        out["layer_nc1_max"][idx], out["layer_nc2_max"][idx] = np.max(nc1, axis=0), np.max(nc2, axis=0)
        if spec.activation == "linear":
            out["balance_gap"][idx] = balance_gap(params.H[keep], tuple(W[keep] for W in params.W)).cpu().numpy()
    return out


def critical_point_claims(rows: pd.DataFrame, where: str) -> list[Claim]:
    """Lemma 1 on every linear run and per-layer DNC on every DNC run of ``rows`` (all grid points)."""
    gaps = rows["balance_gap"].to_numpy(dtype=float) if "balance_gap" in rows else np.zeros(0)
    worst = {}
    if gaps.size and np.isfinite(gaps).any():
        r = rows.iloc[int(np.nanargmax(gaps))]
        worst = {k: (r[k].item() if hasattr(r[k], "item") else r[k]) for k in ("seed", "label", "rank", "d", "lam", "loss")
                 if k in r}
    gaps = gaps[np.isfinite(gaps)]
    dnc = rows[rows["label"] == "dnc"] if "layer_nc1_max" in rows else rows.iloc[0:0]
    nc1 = dnc["layer_nc1_max"].to_numpy(dtype=float) if len(dnc) else np.zeros(0)
    nc2 = dnc["layer_nc2_max"].to_numpy(dtype=float) if len(dnc) else np.zeros(0)
    collapsed = (nc1 <= LAYER_NC_TOL) & (nc2 <= LAYER_NC_TOL)
    return [
        Claim.decided(
            "lemma1_trained_runs_balanced",
            "At any critical point all factors are balanced (W_1ᵀW_1 = H_1H_1ᵀ, W_{l+1}ᵀW_{l+1} = W_lW_lᵀ), "
            "so they share singular values.", f"{SRC}, Lemma 1",
            every(gaps <= BALANCE_TOL, f"relative balance gap ≤ {BALANCE_TOL:g} in every trained linear run"),
            {"max_gap": float(gaps.max()) if gaps.size else float("nan"), "runs": int(gaps.size),
             "median_gap": float(np.median(gaps)) if gaps.size else float("nan"), "worst_run": worst},
            note=f"every gradient-descent solution of {where} (after the L-BFGS polish), DNC or not"),
        Claim.decided(
            "dnc_runs_collapse_at_every_layer",
            "A deep-neural-collapse solution is collapsed at every layer: zero within-class variability (DNC1) and "
            "ETF class means (DNC2) in H_1 and every X_l.", f"{SRC}, Definition of DNC / Theorem 4's critical point",
            every(collapsed, f"per-layer NC1 and NC2 ≤ {LAYER_NC_TOL:g} in every run labelled DNC"),
            {"max_layer_nc1": float(nc1.max()) if nc1.size else float("nan"),
             "max_layer_nc2": float(nc2.max()) if nc2.size else float("nan"), "dnc_runs": int(nc1.size)},
            note=f"runs labelled DNC from their logits; the layers' features checked with nclab.metrics.collapse "
                 f"({where})"),
    ]


def rank_direction_claim(id: str, text: str, small: list[int], large: list[int], what: str, note: str) -> Claim:
    """GK Fig. 5: the solutions' mean rank is higher at ``large`` than at ``small`` (95% t intervals apart)."""
    from nclab.experiments.rules import direction, mean

    return Claim.decided(id, text, f"{SRC}, Fig. 5", direction(mean(small), mean(large), increase=True),
                         {"ranks_before": list(small), "ranks_after": list(large), "change": what},
                         note=note, n_seeds=min(len(small), len(large)))
