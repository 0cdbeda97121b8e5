"""The structure of given class vectors: how close they are to a simplex ETF and to each other.

Where :mod:`nclab.metrics.collapse` measures from samples (features and labels), the functions
here take the vectors themselves: rows ``vectors`` (K, d) or (..., K, d), one per class —
centred class means h_bar_k - h_bar_G (``class_statistics(features, labels).centred_means``,
which centres with the count-weighted global mean) or classifier rows w_k (``nn.Linear``
layout) — and give a float for unbatched inputs, a numpy array of shape (...) for batched ones.
numpy arrays and torch tensors (CPU or CUDA) are accepted; everything is computed in the
inputs' dtype and device. The values are those of the matching keys of
:func:`nclab.metrics.collapse` (docs/math.md §2.4-§2.8, §2.10).

- :func:`nc2_etf`: ||G/||G||_F - P/sqrt(K-1)||_F with G = V V^T the Gram matrix of the rows,
  P the centring matrix (Tirer, Huang, Niles-Weed 2023, Sec. 2; Zhu et al. 2021). Needs
  d >= K - 1.
- :func:`equinorm`: std/mean of the row norms (Papyan, Han, Donoho 2020, Fig. 2).
- :func:`equiangularity`: mean over k != k' of |cos(v_k, v_k') + 1/(K-1)| (Papyan et al.
  2020, Fig. 4). Needs d >= K - 1.
- :func:`nc3_duality`: ||W/||W||_F - M~/||M~||_F||_F, self-duality of the classifier and the
  centred means (Papyan et al. 2020, Fig. 5; raw W).
- :func:`nc3_structure`: ||W M~^T/||W M~^T||_F - P/sqrt(K-1)||_F (Zhu et al. 2021; raw W).
  Needs d >= K - 1.
- :func:`bias_norm`: ||W h_bar_G + b||, a check from public NC measurement code (a choice,
  docs/math.md §2.10).

References: Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of
deep learning training", PNAS 2020, doi:10.1073/pnas.2015509117; Tirer, Huang, Niles-Weed,
"Perturbation analysis of neural collapse", ICML 2023, arXiv:2210.16658; Zhu et al., "A
geometric analysis of neural collapse with unconstrained features", NeurIPS 2021,
arXiv:2105.02375.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor
from nclab._validation import fail
from nclab.metrics import _checks, _core

Array = Any  # numpy array or torch tensor


def _rows(vectors: Array, name: str, *, min_rows: int = 2) -> torch.Tensor:
    v = _checks.check_features(vectors, name)
    if v.shape[-2] < min_rows:
        fail(name, f"an array of shape {tuple(v.shape)}", f"at least {min_rows} rows (one per class)")
    return v


def nc2_etf(vectors: Array, *, center: bool = True) -> Any:
    """NC2 ETF error ||G/||G||_F - P/sqrt(K-1)||_F, G = V V^T (THN Sec. 2; Zhu et al. 2021).

    ``vectors`` (..., K, d): class means or classifier rows, one per class. ``center``
    subtracts their mean row first (for class means pass ``class_statistics(...).centred_means``
    to centre with a count-weighted global mean). Needs d >= K - 1.

    Parameters
    ----------
    vectors : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        One row per class: centred class means h_bar_k - h_bar_G or classifier rows w_k.
    center : bool, default True
        Subtract the mean row first.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``vectors`` is not a finite real array with K >= 2 rows, or d < K - 1.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Section 2 (the NC2 metric).
    Zhu et al., NeurIPS 2021, arXiv:2105.02375.

    Examples
    --------
    >>> import torch
    >>> I = torch.eye(3, dtype=torch.float64)
    >>> round(nc2_etf(I), 9)  # centred standard basis: a simplex ETF
    0.0
    >>> round(nc2_etf(I, center=False), 4)  # orthonormal, not an ETF
    0.6058
    """
    v = _rows(vectors, "vectors")
    _checks.check_min_dim(v.shape[-1], v.shape[-2], "nc2_etf", "vectors")
    if center:
        v = v - v.mean(dim=-2, keepdim=True)
    return _core.to_python(_core.etf_error(v))


def equinorm(vectors: Array, *, center: bool = False, ddof: int = 1) -> Any:
    """Equinorm: std/mean of the row norms of ``vectors`` (..., K, d) (Papyan et al. 2020, Fig. 2).

    Pass centred class means h_bar_k - h_bar_G or classifier rows w_k (``center`` subtracts the
    mean row first). ``ddof=1`` as torch.std's default and public NC code (choice, docs/math.md §2.5);
    it must be an integer in 0..K-1 (the std divides by K - ddof).

    Parameters
    ----------
    vectors : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        One row per class: centred class means h_bar_k - h_bar_G or classifier rows w_k.
    center : bool, default False
        Subtract the mean row first.
    ddof : int, default 1
        Delta degrees of freedom of the std, in 0..K-1.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``vectors`` is not a finite real array with K >= 2 rows, or ``ddof`` is not an
        integer in 0..K-1.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117, Fig. 2.

    Examples
    --------
    >>> import torch
    >>> equinorm(torch.tensor([[3.0, 4.0], [0.0, 5.0]]))
    0.0
    >>> round(equinorm(torch.tensor([[1.0, 0.0], [0.0, 3.0]])), 6)  # std 1.414214 / mean 2
    0.707107
    """
    v = _rows(vectors, "vectors")
    ddof = _checks.check_ddof(ddof, v.shape[-2], "rows")
    if center:
        v = v - v.mean(dim=-2, keepdim=True)
    return _core.to_python(_core.norm_cv(v, ddof))


def equiangularity(vectors: Array, *, center: bool = False) -> Any:
    """Mean over k != k' of |cos(v_k, v_k') + 1/(K-1)| (Papyan et al. 2020, Fig. 4).

    ``vectors`` (..., K, d): centred class means or classifier rows. Needs d >= K - 1.

    Parameters
    ----------
    vectors : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        One row per class: centred class means h_bar_k - h_bar_G or classifier rows w_k.
    center : bool, default False
        Subtract the mean row first.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``vectors`` is not a finite real array with K >= 2 rows, or d < K - 1.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117, Fig. 4.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # cosines -1/2 = -1/(K-1)
    >>> round(equiangularity(M), 9)
    0.0
    >>> equiangularity(torch.eye(3, dtype=torch.float64))  # cosines 0: |0 + 1/2|
    0.5
    """
    v = _rows(vectors, "vectors")
    _checks.check_min_dim(v.shape[-1], v.shape[-2], "equiangularity", "vectors")
    if center:
        v = v - v.mean(dim=-2, keepdim=True)
    return _core.to_python(_core.coherence(v))


def _pair(weight: Array, centred_means: Array) -> tuple[torch.Tensor, torch.Tensor]:
    m = _rows(centred_means, "centred_means")
    K, d = m.shape[-2:]
    w = _checks.check_weight(weight, m, K, m.shape[:-2])
    return w.expand(*m.shape[:-2], K, d), m


def nc3_duality(weight: Array, centred_means: Array) -> Any:
    """NC3 self-duality ||W/||W||_F - M~/||M~||_F||_F (Papyan et al. 2020, Fig. 5; raw W).

    ``weight`` (K, d) or (..., K, d); ``centred_means`` (..., K, d) rows h_bar_k - h_bar_G.

    Parameters
    ----------
    weight : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        The classifier W, uncentred.
    centred_means : array_like or torch.Tensor, shape (..., K, d)
        M~ as rows h_bar_k - h_bar_G, e.g. ``class_statistics(...).centred_means``.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``centred_means`` has fewer than 2 rows or ``weight`` does not have shape (..., K, d).

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117, Fig. 5.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> round(nc3_duality(2 * M, M), 9)  # W proportional to M~
    0.0
    >>> round(nc3_duality(-M, M), 6)  # opposite: ||-2 M~ / ||M~|| ||_F
    2.0
    """
    w, m = _pair(weight, centred_means)
    return _core.to_python(_core.duality_from(w, m))


def nc3_structure(weight: Array, centred_means: Array) -> Any:
    """NC3 structure ||W M~/||W M~||_F - P/sqrt(K-1)||_F (Zhu et al. 2021; raw W; docs/math.md §2.8).

    M~ (d x K in docs/math.md) is given as rows (..., K, d), so the K x K matrix is W @ M~rows^T.

    Parameters
    ----------
    weight : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        The classifier W, uncentred.
    centred_means : array_like or torch.Tensor, shape (..., K, d)
        M~ as rows h_bar_k - h_bar_G.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``centred_means`` has fewer than 2 rows, ``weight`` does not have shape (..., K, d),
        or d < K - 1.

    References
    ----------
    Zhu et al., "A geometric analysis of neural collapse with unconstrained features",
    NeurIPS 2021, arXiv:2105.02375.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> round(nc3_structure(M, M), 9)  # W M~^T = P, ||P||_F = sqrt(K - 1)
    0.0
    """
    w, m = _pair(weight, centred_means)
    _checks.check_min_dim(m.shape[-1], m.shape[-2], "nc3_structure", "centred_means")
    return _core.to_python(_core.structure_from(w, m))


def bias_norm(weight: Array, bias: Array, global_mean: Array) -> Any:
    """||W h_bar_G + b|| (a check from public NC measurement code; choice, docs/math.md §2.10).

    ``weight`` (..., K, d), ``bias`` (..., K), ``global_mean`` h_bar_G (..., d), e.g.
    ``class_statistics(features, labels).global_mean``.

    Parameters
    ----------
    weight : array_like or torch.Tensor, shape (..., K, d)
        The classifier W.
    bias : array_like or torch.Tensor, shape (..., K)
        The classifier bias b.
    global_mean : array_like or torch.Tensor, shape (..., d)
        The global feature mean h_bar_G.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If the shapes do not match: ``global_mean`` (..., d), ``weight`` (..., K, d) with
        K >= 1, ``bias`` (..., K).

    References
    ----------
    docs/math.md §2.10: not a paper's metric but a check from public NC measurement code,
    a **choice**; the NC setting is that of Papyan, Han, Donoho, PNAS 2020,
    doi:10.1073/pnas.2015509117.

    Examples
    --------
    >>> import torch
    >>> W = torch.eye(3, dtype=torch.float64)
    >>> bias_norm(W, torch.tensor([3.0, 4.0, 0.0]), torch.zeros(3, dtype=torch.float64))
    5.0
    >>> bias_norm(W, -torch.ones(3), torch.ones(3, dtype=torch.float64))
    0.0
    """
    mu = as_float_tensor(global_mean, "global_mean")
    if mu.ndim < 1:
        fail("global_mean", f"an array of shape {tuple(mu.shape)}", "a vector of shape (d,) or (..., d)")
    w = as_float_tensor(weight, "weight", dtype=mu.dtype, device=mu.device)
    if w.ndim < 2 or w.shape[-1] != mu.shape[-1]:
        fail("weight", f"an array of shape {tuple(w.shape)}", f"shape (..., K, {mu.shape[-1]})")
    K = w.shape[-2]
    if K < 1:
        fail("weight", f"an array of shape {tuple(w.shape)}", f"at least one row (one per class): shape (..., K, {mu.shape[-1]})")
    b = as_float_tensor(bias, "bias", dtype=mu.dtype, device=mu.device)
    if b.ndim < 1 or b.shape[-1] != K:
        fail("bias", f"an array of shape {tuple(b.shape)}", f"shape (..., {K})")
    return _core.to_python(_core.bias_from(w, b, mu))
