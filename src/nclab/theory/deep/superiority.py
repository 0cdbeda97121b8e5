"""Diagonally superior logit structures and low-rank optima (Garrod & Keating 2025, Thms 2-3).

A K x K matrix M (column k = the logits of class k) is diagonally superior when in every column
the true class's entry is strictly the largest (text, docs/math.md §6.10). Scaling such an M drives the fit to 0, so
any diagonally superior structure is a candidate solution of the deep UFM; GK Thm 2: for L large
a lower-rank one beats any higher-rank one; Thm 3: the optimum has at most q_K singular values
that do not decay exponentially in L, q_K = the minimal rank of a diagonally superior matrix.

q_K: rank 1 works only for K = 2 (a column of u v^T has its strict maximum at argmax u or argmin u,
so at most two columns can be superior) (derived); rank 2 always works: X^T X for K distinct unit
vectors X in R^{2 x K} (text). Hence q_2 = 1 and q_K = 2 for K >= 3.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from nclab._tensor import as_float_tensor
from nclab._validation import check_int, check_real, fail

__all__ = [
    "is_diagonally_superior",
    "superiority_margin",
    "rank2_superior_matrix",
    "q_K",
    "structure_loss",
    "structure_optimum",
]


def superiority_margin(M: torch.Tensor | np.ndarray) -> torch.Tensor | float:
    """min over columns k of (M[k,k] - max_{j != k} M[j,k]); > 0 iff diagonally superior (GK §3).

    Parameters
    ----------
    M : array_like, shape (..., K, K)
        Logit structure, column k the logits of class k.

    Returns
    -------
    float or torch.Tensor
        The margin (a tensor of margins for batched input).

    Raises
    ------
    ValueError
        If ``M`` is not square.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Section 3 (docs/math.md §6.10).

    Examples
    --------
    >>> round(superiority_margin(rank2_superior_matrix(3)), 6)
    1.5
    """
    M = as_float_tensor(M, "M")
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        fail("M", f"an array of shape {tuple(M.shape)}", "a square (..., K, K) matrix")
    K = M.shape[-1]
    diag = torch.diagonal(M, dim1=-2, dim2=-1)
    off = M.masked_fill(torch.eye(K, dtype=torch.bool, device=M.device), float("-inf"))
    margin = (diag - off.amax(dim=-2)).amin(dim=-1)
    return float(margin) if margin.ndim == 0 else margin


def is_diagonally_superior(M: torch.Tensor | np.ndarray, *, tol: float = 0.0) -> bool | torch.Tensor:
    """True if every column's diagonal entry exceeds all others in it by more than ``tol`` (GK Def.).

    Parameters
    ----------
    M : array_like, shape (..., K, K)
        Logit structure.
    tol : float, optional
        Required margin (default 0).

    Returns
    -------
    bool or torch.Tensor
        Whether ``M`` is diagonally superior (a boolean tensor for batched input).

    Raises
    ------
    ValueError
        If ``M`` is not square.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Section 3 (docs/math.md §6.10).

    Examples
    --------
    >>> is_diagonally_superior(rank2_superior_matrix(4))
    True
    >>> is_diagonally_superior(torch.ones(3, 3))
    False
    """
    margin = superiority_margin(M)
    return margin > tol if isinstance(margin, float) else margin > tol


def rank2_superior_matrix(K: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """GK's rank-2 diagonally superior matrix X^T X, X = [cos t_k; sin t_k], t_k = 2 pi k / K.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    dtype : torch.dtype, optional
        Element type (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K, K)
        A diagonally superior matrix of rank <= 2.

    Raises
    ------
    ValueError
        If ``K`` is not an integer >= 2.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Section 3.

    Examples
    --------
    >>> int(torch.linalg.matrix_rank(rank2_superior_matrix(5)))
    2
    """
    K = check_int("K", K, minimum=2)
    t = torch.arange(K, dtype=torch.float64) * (2 * math.pi / K)
    X = torch.stack([torch.cos(t), torch.sin(t)])
    return (X.T @ X).to(dtype=dtype, device=device)


def q_K(K: int) -> int:
    """Minimal rank of a K x K diagonally superior matrix: 1 for K = 2, else 2 (see module doc).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.

    Returns
    -------
    int
        q_K.

    Raises
    ------
    ValueError
        If ``K`` is not an integer >= 2.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 3 (docs/math.md §6.10).

    Examples
    --------
    >>> q_K(2), q_K(10)
    (1, 2)
    """
    K = check_int("K", K, minimum=2)
    return 1 if K == 2 else 2


def _check_structure(M, K_hint=None) -> np.ndarray:
    M = as_float_tensor(M, "M", dtype=torch.float64, ndim=2).cpu().numpy()
    if M.shape[0] != M.shape[1]:
        fail("M", f"an array of shape {M.shape}", "a square K x K matrix")
    return M


def structure_loss(
    scale: float | np.ndarray, M: torch.Tensor | np.ndarray, n: int, L: int, lam: float
) -> float | np.ndarray:
    """Loss of the balanced deep-UFM point Z = scale * M (x) 1_n^T (GK Lemma 1, mean CE).

    mean_k CE(scale * M[:, k], k) + (lam/2)(L+1) sum_i (scale sigma_i(M) sqrt n)^{2/(L+1)}.
    DNC is M = P, GK's block construction M = blockdiag([[1,-1],[-1,1]], ...).

    Parameters
    ----------
    scale : float or numpy.ndarray
        Scale(s) of the structure.
    M : array_like, shape (K, K)
        Logit structure.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight layers, >= 1.
    lam : float
        Regularisation strength, > 0.

    Returns
    -------
    float or numpy.ndarray
        The loss (an array for an array of scales).

    Raises
    ------
    ValueError
        If ``M`` is not square or a parameter is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 and Theorems 1-2 (docs/math.md §6.4, §6.10).

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> round(structure_loss(1.0, centering_matrix(3), 2, 2, 0.01), 6)
    0.589242
    """
    M = _check_structure(M)
    n = check_int("n", n, minimum=1)
    L = check_int("L", L, minimum=1)
    lam = check_real("lam", lam, minimum=0.0, strict=True)
    s = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    sv = np.linalg.svd(M, compute_uv=False)
    sv = sv[sv > 1e-12 * max(sv.max(), 1e-300)]
    Z = s[:, None, None] * M[None]  # (S, K, K)
    shifted = Z - Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1)) + Z.max(axis=1)
    fit = (lse - np.diagonal(Z, axis1=1, axis2=2)).mean(axis=1)
    reg = 0.5 * lam * (L + 1) * ((s[:, None] * sv[None] * math.sqrt(n)) ** (2.0 / (L + 1))).sum(axis=1)
    out = fit + reg
    return out if np.ndim(scale) else float(out[0])


def structure_optimum(M: torch.Tensor | np.ndarray, n: int, L: int, lam: float) -> tuple[float, float]:
    """(scale*, loss) minimising :func:`structure_loss` over scale >= 0 (GK Thms 1-2).

    Parameters
    ----------
    M : array_like, shape (K, K)
        Logit structure.
    n : int
        Samples per class.
    L : int
        Number of weight layers.
    lam : float
        Regularisation strength, > 0.

    Returns
    -------
    scale : float
        The best scale (0 if no positive scale beats the origin).
    loss : float
        The loss there.

    Raises
    ------
    ValueError
        As :func:`structure_loss`.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorems 1-2 (docs/math.md §6.10).

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> s, f = structure_optimum(centering_matrix(3), 2, 2, 0.01)
    >>> round(s, 3), round(f, 4)
    (4.888, 0.1238)
    """
    M = _check_structure(M)
    grid = np.concatenate([[0.0], np.logspace(-6, 3, 3000)])
    vals = structure_loss(grid, M, n, L, lam)
    i = int(np.argmin(vals))
    if i == 0:
        return 0.0, float(vals[0])
    res = minimize_scalar(lambda x: structure_loss(x, M, n, L, lam), bounds=(grid[i - 1], grid[min(i + 1, len(grid) - 1)]),
                          method="bounded", options={"xatol": 1e-12})
    return (float(res.x), float(res.fun)) if res.fun <= vals[i] else (float(grid[i]), float(vals[i]))
