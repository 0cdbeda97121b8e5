"""Subspace geometry of the classifier and the class means: principal angles between W's row
space and span(M~), and NC5, the orthogonality of out-of-distribution features to the
in-distribution centred means.

Batched over leading axes, computed in the input's dtype and device; unbatched inputs give
floats or numpy arrays as the rest of :mod:`nclab.metrics`, the ``*_from`` forms tensors.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor, to_python
from nclab._validation import check_choice, fail
from nclab.metrics import _checks, _core


def _pair(weight: Any, centred_means: Any) -> tuple[torch.Tensor, torch.Tensor]:
    m = _checks.check_features(centred_means, "centred_means")
    K, d = m.shape[-2:]
    w = _checks.check_weight(weight, m, K, m.shape[:-2])
    return w.expand(*m.shape[:-2], K, d), m


# ----------------------------------------------------------------------------- principal angles


def _row_basis(A: torch.Tensor, rtol: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal basis (..., d, r) of the row space of A (..., K, d), dropped columns zeroed,
    and the numerical rank (...) (s > rtol * s_max, default max(K, d) * eps)."""
    _, s, vh = torch.linalg.svd(A, full_matrices=False)
    tol = _core.default_rtol(A.shape[-2], A.shape[-1], A.dtype) if rtol is None else rtol
    keep = s > tol * s[..., :1]
    return vh.mT * keep.unsqueeze(-2).to(A.dtype), keep.sum(dim=-1)


def principal_angles_from(weight: torch.Tensor, centred: torch.Tensor, rtol: float | None = None) -> torch.Tensor:
    """Tensor form of :func:`principal_angles`, on checked tensors (no input checks).

    Parameters
    ----------
    weight : torch.Tensor, shape (..., K, d)
        Classifier rows W (broadcast to ``centred``'s leading axes by the caller).
    centred : torch.Tensor, shape (..., K, d)
        The centred class means M~.
    rtol : float, optional
        Relative rank tolerance of each matrix (default max(K, d) * eps of the dtype).

    Returns
    -------
    angles : torch.Tensor, shape (..., min(K - 1, d))
        Ascending principal angles in radians; NaN past min(rank W, rank M~).

    References
    ----------
    A. Bjorck, G. H. Golub, "Numerical methods for computing angles between linear subspaces",
    Math. Comp. 27 (1973), doi:10.1090/S0025-5718-1973-0348991-3.

    Examples
    --------
    Rotating the plane of a simplex ETF (K = d = 3) by 0.3 rad about one of its axes:

    >>> import math
    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, 3, dtype=torch.float64)  # rows in the first two coordinates
    >>> c, s = math.cos(0.3), math.sin(0.3)
    >>> R = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    >>> principal_angles_from(torch.stack([M, M @ R]), M).round(decimals=12).tolist()
    [[0.0, 0.0], [0.0, 0.3]]
    """
    with _core.decomposition_threads():
        Qw, rw = _row_basis(weight, rtol)
        Qm, rm = _row_basis(centred, rtol)
        _, cos, zh = torch.linalg.svd(Qw.mT @ Qm, full_matrices=False)
    P = Qm @ zh.mT  # principal vectors on the side of the means
    sin = torch.linalg.vector_norm(P - Qw @ (Qw.mT @ P), dim=-2)
    q = min(weight.shape[-2] - 1, weight.shape[-1])
    angles = torch.atan2(sin[..., : cos.shape[-1]], cos)[..., :q]
    index = torch.arange(angles.shape[-1], device=angles.device)
    return torch.where(index < torch.minimum(rw, rm).unsqueeze(-1), angles, torch.nan)


def principal_angles(weight: Any, centred_means: Any, *, rtol: float | None = None) -> Any:
    """Principal angles between the row space of W and the span of the centred class means.

    theta_1 <= theta_2 <= ... (radians) between span{w_k} and span{m~_k} in R^d
    (Bjorck & Golub 1973): with orthonormal bases Q_W, Q_M, cos theta_j are the singular values
    of Q_W^T Q_M. The angles are computed as atan2(sin, cos) from the principal vectors, so
    small angles keep full relative accuracy (as scipy.linalg.subspace_angles). The output has
    min(K - 1, d) entries (the largest rank of M~); entries past min(rank W, rank M~) are NaN.
    All angles are 0 at self-duality (W proportional to M~, or W = a M~ + 1 b^T).

    Parameters
    ----------
    weight : array_like, shape (K, d) or (..., K, d)
        Classifier rows (raw).
    centred_means : array_like, shape (..., K, d)
        The centred class means M~ (``class_statistics(...).centred_means``).
    rtol : float, optional
        Relative rank tolerance of each matrix (default max(K, d) * eps of the dtype).

    Returns
    -------
    ndarray of shape (..., min(K - 1, d))
        Ascending angles in radians.

    Raises
    ------
    ValueError
        If ``centred_means`` is not a finite real array of shape (..., K, d), ``weight`` not of
        shape (K, d) or (..., K, d), or ``rtol`` not a number in [0, 1].

    References
    ----------
    A. Bjorck, G. H. Golub, "Numerical methods for computing angles between linear subspaces",
    Math. Comp. 27 (1973), doi:10.1090/S0025-5718-1973-0348991-3.
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117 (NC3).

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(4, 6)
    >>> principal_angles(5.0 * M, M).round(12).tolist()
    [0.0, 0.0, 0.0]
    """
    rtol = _checks.check_rtol(rtol)
    w, m = _pair(weight, centred_means)
    with torch.no_grad():
        return to_python(principal_angles_from(w, m, rtol))


# ----------------------------------------------------------------------------- NC5

#: How :func:`ood_orthogonality` reduces the out-of-distribution features.
OOD_REDUCTIONS = ("mean", "samples")


def ood_orthogonality_from(
    ood: torch.Tensor, centred: torch.Tensor, global_mean: torch.Tensor | None, reduce: str = "mean"
) -> torch.Tensor:
    """Tensor form of :func:`ood_orthogonality`, on checked tensors (no input checks).

    Parameters
    ----------
    ood : torch.Tensor, shape (..., N_ood, d)
        Features of out-of-distribution inputs.
    centred : torch.Tensor, shape (..., K, d)
        In-distribution centred class means m~_k.
    global_mean : torch.Tensor, shape (..., d), or None
        h_bar_G, subtracted from the OOD vectors; None leaves them uncentred.
    reduce : {"mean", "samples"}, default "mean"
        Compare the mean OOD feature (NECO's form) or every OOD sample.

    Returns
    -------
    deviation : torch.Tensor, shape (...)
        Avg_k |cos(m~_k, v)| (averaged over the OOD samples too with ``"samples"``), in [0, 1].

    References
    ----------
    M. Ben Ammar, N. Belkhir, S. Popescu, A. Manzanera, G. Franchi, "NECO: NEural Collapse
    based out-of-distribution detection", ICLR 2024, arXiv:2310.06823.

    Examples
    --------
    The class means of a simplex ETF span the first two coordinates; an OOD mean (1/2, 0, 3/2)
    has |cos| = sqrt(3/40) with two of them and 0 with the third, so 2 sqrt(3/40) / 3 =
    sqrt(1/30):

    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, 3, dtype=torch.float64)
    >>> ood = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    >>> round(ood_orthogonality_from(ood, M, None).item(), 12) == round((1 / 30) ** 0.5, 12)
    True
    >>> orthogonal = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    >>> ood_orthogonality_from(orthogonal, M, None, "samples").item()
    0.0
    """
    v = ood.mean(dim=-2, keepdim=True) if reduce == "mean" else ood
    if global_mean is not None:
        v = v - global_mean.unsqueeze(-2)
    un = centred / torch.linalg.vector_norm(centred, dim=-1, keepdim=True)
    vn = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return (vn @ un.mT).abs().mean(dim=(-2, -1))


def ood_orthogonality(
    ood_features: Any, centred_means: Any, global_mean: Any | None = None, *, reduce: str = "mean"
) -> Any:
    """NC5: mean |cos| between out-of-distribution features and the centred class means.

    Ammar et al. (2024) observe that, as training goes on, out-of-distribution (OOD) features
    become orthogonal to the in-distribution class means ("NC5"), and measure it by the
    deviation from orthogonality Avg_k |cos(m~_k, v)|. Implemented:

    - ``reduce="mean"`` (default, the paper's form): v = h_bar_OOD - h_bar_G, the mean of the
      OOD features minus the in-distribution global mean, against every m~_k = h_bar_k -
      h_bar_G: Avg_k |<m~_k, v>| / (||m~_k|| ||v||);
    - ``reduce="samples"``: Avg_i Avg_k |cos(m~_k, h_i - h_bar_G)| over the OOD samples h_i.

    Without ``global_mean`` the OOD vectors are not centred (the reference code's choice,
    rhubarbwu/neural-collapse ``orthogonality_deviation``). 0 when the OOD features lie in the
    orthogonal complement of span(M~) (after centring); at most 1.

    Parameters
    ----------
    ood_features : array_like, shape (..., N_ood, d)
        Features of out-of-distribution inputs.
    centred_means : array_like, shape (..., K, d)
        In-distribution centred class means.
    global_mean : array_like, shape (..., d), optional
        In-distribution global mean h_bar_G (``class_statistics(...).global_mean``).
    reduce : {"mean", "samples"}
        Compare the mean OOD feature (default, the paper's form) or every OOD sample.

    Returns
    -------
    float or ndarray of shape (...)
        The mean |cos|, in [0, 1] (0: orthogonal).

    Raises
    ------
    ValueError
        If ``reduce`` is not "mean" or "samples", the features are not finite real arrays,
        or ``ood_features``/``global_mean`` have another feature dimension than the means.

    References
    ----------
    M. Ben Ammar, N. Belkhir, S. Popescu, A. Manzanera, G. Franchi, "NECO: NEural Collapse
    based out-of-distribution detection", ICLR 2024, arXiv:2310.06823.

    Examples
    --------
    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, 4)                       # ID means in the first 2 coordinates
    >>> ood = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    >>> ood_orthogonality(ood, M, torch.zeros(4))
    0.0
    """
    check_choice("reduce", reduce, OOD_REDUCTIONS)
    m = _checks.check_features(centred_means, "centred_means")
    o = _checks.check_features(ood_features, "ood_features")
    o = o.to(dtype=m.dtype, device=m.device)
    if o.shape[-1] != m.shape[-1]:
        fail("ood_features", f"an array of shape {tuple(o.shape)}", f"feature dimension d = {m.shape[-1]}")
    mu = None
    if global_mean is not None:
        mu = as_float_tensor(global_mean, "global_mean", dtype=m.dtype, device=m.device)
        if mu.ndim < 1 or mu.shape[-1] != m.shape[-1]:
            fail("global_mean", f"an array of shape {tuple(mu.shape)}", f"shape (..., {m.shape[-1]})")
    with torch.no_grad():
        return to_python(ood_orthogonality_from(o, m, mu, reduce))
