"""The shallow MSE unconstrained features model and its closed-form minimiser.

Papers: Tirer & Bruna, "Extended unconstrained features model for exploring deep neural
collapse", ICML 2022, Thm 3.1; restated in Tirer, Huang, Niles-Weed (THN), "Perturbation
analysis of neural collapse", ICML 2023, Thm 2.1 and Eq. 1-2. See docs/math.md §3.

Layout: features H in R^{d x N} (N = K n, class-ordered columns), classifier W in R^{K x d},
targets Y = I_K (x) 1_n^T. Objective (THN Eq. 1, anchored form Eq. 2)::

    f(W, H; H0) = 1/(2Kn) ||W H - Y||^2 + lam_W/(2K) ||W||^2 + lam_H/(2Kn) ||H||^2
                  + beta/(2Kn) ||H - H0||^2

With c = sqrt(lam_H lam_W): if c <= 1 every minimiser is collapsed, H = Hbar (x) 1_n^T,
Hbar^T Hbar = rho I_K with rho = (1 - c) sqrt(lam_W / lam_H), W = sqrt(lam_H/lam_W) Hbar^T;
if c > 1 the minimiser is (0, 0). The minimum value is c - c^2/2 (c <= 1), else 1/2.
"""
from __future__ import annotations

import math

import torch

from nclab._tensor import as_float_tensor
from nclab._validation import check_int, check_real, fail
from nclab.geometry import random_frame
from nclab.layout import class_ordered_sums, one_hot_targets, repeat_columns
from nclab.theory._checks import check_matrix, check_mse_point

__all__ = [
    "mse_ufm_loss",
    "mse_ufm_gradients",
    "mse_minimizer",
    "mse_minimum_value",
    "mse_minimizer_rho",
    "optimal_classifier",
]


def _lams(lam_W: float, lam_H: float) -> tuple[float, float]:
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0, strict=True)
    return lam_W, lam_H


def mse_minimizer_rho(lam_W: float, lam_H: float) -> float:
    """rho = max{(1 - c) sqrt(lam_W/lam_H), 0}, c = sqrt(lam_H lam_W) (Tirer & Bruna Thm 3.1).

    The Gram matrix of the class means of the minimiser is rho I_K.

    Parameters
    ----------
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, > 0.

    Returns
    -------
    float
        rho >= 0 (0 when c > 1).

    Raises
    ------
    ValueError
        If ``lam_W`` or ``lam_H`` is not a finite number > 0.

    References
    ----------
    Tirer & Bruna, "Extended unconstrained features model for exploring deep neural collapse",
    ICML 2022, arXiv:2202.08087, Theorem 3.1; Tirer, Huang, Niles-Weed, ICML 2023,
    arXiv:2210.16658, Theorem 2.1 and Eq. 1 (docs/math.md §3.2).

    Examples
    --------
    >>> round(mse_minimizer_rho(0.1, 0.1), 6)
    0.9
    """
    lam_W, lam_H = _lams(lam_W, lam_H)
    c = math.sqrt(lam_H * lam_W)
    return max((1.0 - c) * math.sqrt(lam_W / lam_H), 0.0)


def mse_minimum_value(K: int, n: int, lam_W: float, lam_H: float) -> float:
    """Global minimum of THN Eq. 1 (d >= K): c - c^2/2 if c = sqrt(lam_H lam_W) <= 1, else 1/2.

    Derived from Tirer & Bruna Thm 3.1: at the collapsed minimiser W Hbar = (1 - c) I_K, the fit
    term is (1 - s)^2/2 with s = 1 - c and both regularisers together give lam_H rho = c s
    (docs/math.md §3.3). The value does not depend on K or n (they are validated only).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    lam_W, lam_H : float
        Regularisation strengths, > 0.

    Returns
    -------
    float
        The minimum value of the objective.

    Raises
    ------
    ValueError
        If an argument is out of range (the message names it).

    References
    ----------
    Tirer & Bruna, "Extended unconstrained features model for exploring deep neural collapse",
    ICML 2022, arXiv:2202.08087, Theorem 3.1; Tirer, Huang, Niles-Weed, ICML 2023,
    arXiv:2210.16658, Theorem 2.1 and Eq. 1 (docs/math.md §3.2).

    Examples
    --------
    >>> round(mse_minimum_value(3, 2, 0.1, 0.1), 6)
    0.095
    >>> mse_minimum_value(3, 2, 2.0, 2.0)
    0.5
    """
    check_int("K", K, minimum=2)
    check_int("n", n, minimum=1)
    lam_W, lam_H = _lams(lam_W, lam_H)
    c = math.sqrt(lam_H * lam_W)
    return c - 0.5 * c * c if c <= 1.0 else 0.5


def _frame(K: int, d: int, rotation, dtype, device) -> torch.Tensor:
    """R in R^{d x K} with orthonormal columns, from ``rotation`` (see mse_minimizer)."""
    if rotation is None:
        return torch.eye(d, K, dtype=dtype, device=device)
    if isinstance(rotation, torch.Generator):
        return random_frame(d, K, generator=rotation, dtype=dtype, device=device)
    R = as_float_tensor(rotation, "rotation", ndim=2, dtype=torch.float64)
    if R.shape[0] != d or R.shape[1] < K:
        fail("rotation", f"an array of shape {tuple(R.shape)}", f"a ({d}, {K}) or ({d}, {d}) matrix with orthonormal columns")
    R = R[:, :K]
    err = float(torch.linalg.matrix_norm(R.mT @ R - torch.eye(K, dtype=R.dtype, device=R.device)))
    if err > 1e-8:
        fail("rotation", f"a matrix with ||R^T R - I|| = {err:.2e}", "orthonormal columns (R^T R = I to 1e-8)")
    return R.to(dtype=dtype, device=device)


def mse_minimizer(
    K: int,
    n: int,
    d: int,
    lam_W: float,
    lam_H: float,
    rotation: torch.Tensor | torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A global minimiser (W (K x d), H (d x Kn)) of the MSE UFM, THN Eq. 1 / Tirer & Bruna Thm 3.1.

    With c = sqrt(lam_H lam_W) <= 1: H = sqrt(rho) R (x) 1_n^T and W = sqrt(lam_H/lam_W) sqrt(rho) R^T,
    rho = (1 - c) sqrt(lam_W/lam_H), for R in R^{d x K} with R^T R = I_K; the minimisers are exactly
    these up to the choice of R. With c > 1 the minimiser is (0, 0). Requires d >= K.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    d : int
        Feature dimension, >= K.
    lam_W, lam_H : float
        Regularisation strengths, > 0.
    rotation : torch.Tensor or torch.Generator, optional
        None (R = first K standard basis vectors), a (d, K) matrix with orthonormal columns (or a
        (d, d) orthogonal matrix, whose first K columns are used), or a ``torch.Generator``
        (R Haar-random).
    dtype : torch.dtype, optional
        Element type (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    W : torch.Tensor, shape (K, d)
        The classifier.
    H : torch.Tensor, shape (d, K n)
        The class-ordered features.

    Raises
    ------
    ValueError
        If ``d < K``, an argument is out of range, or ``rotation`` lacks orthonormal columns.

    References
    ----------
    Tirer & Bruna, "Extended unconstrained features model for exploring deep neural collapse",
    ICML 2022, arXiv:2202.08087, Theorem 3.1; Tirer, Huang, Niles-Weed, ICML 2023,
    arXiv:2210.16658, Theorem 2.1 and Eq. 1 (docs/math.md §3.2).

    Examples
    --------
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> W.shape, H.shape
    (torch.Size([3, 4]), torch.Size([4, 6]))
    >>> round(float(mse_ufm_loss(W, H, 2, 0.1, 0.1)), 6)
    0.095
    """
    K = check_int("K", K, minimum=2)
    n = check_int("n", n, minimum=1)
    d = check_int("d", d, minimum=1)
    if d < K:
        fail("d", d, f">= K = {K} (Tirer & Bruna Thm 3.1 assumes d >= K)")
    lam_W, lam_H = _lams(lam_W, lam_H)
    R = _frame(K, d, rotation, dtype, device)
    rho = mse_minimizer_rho(lam_W, lam_H)
    Hbar = math.sqrt(rho) * R
    H = repeat_columns(Hbar, n)
    W = math.sqrt(lam_H / lam_W) * Hbar.mT
    return W.contiguous(), H.contiguous()


def optimal_classifier(H: torch.Tensor, n: int, lam_W: float) -> torch.Tensor:
    """W*(H) = Y H^T (H H^T + n lam_W I_d)^{-1}: the best classifier for fixed H (THN Sec. 3).

    H is (..., d, N) with N = K n class-ordered columns; returns (..., K, d). Solves the normal
    equations W (H H^T + n lam_W I) = Y H^T of the objective of THN Eq. 1 in W (docs/math.md §3.4).

    Parameters
    ----------
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered features (up to two leading batch axes).
    n : int
        Samples per class; must divide the number of columns.
    lam_W : float
        Classifier regularisation, > 0.

    Returns
    -------
    torch.Tensor, shape (..., K, d)
        The minimising classifier.

    Raises
    ------
    ValueError
        If ``H`` has the wrong number of axes, ``n`` does not divide its columns or ``lam_W <= 0``.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Section 3.

    Examples
    --------
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> bool(torch.allclose(optimal_classifier(H, 2, 0.1), W))
    True
    """
    H = as_float_tensor(H, "H", ndim=(2, 3, 4))
    if H.numel() == 0:
        fail("H", f"an array of shape {tuple(H.shape)}", "a non-empty array")
    n = check_int("n", n, minimum=1)
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    d, N = H.shape[-2:]
    if N % n:
        fail("n", n, f"a divisor of the number of columns of H ({N})")
    YHt = class_ordered_sums(H, n)  # (..., d, K) = H Y^T
    A = H @ H.mT + n * lam_W * torch.eye(d, dtype=H.dtype, device=H.device)
    return torch.linalg.solve(A, YHt).mT  # A symmetric: W^T = A^{-1} H Y^T


def _check_objective(W, H, n, lam_W, lam_H, H0, beta):
    """The arguments of :func:`mse_ufm_loss` / :func:`mse_ufm_gradients`, checked."""
    W, H, n, _ = check_mse_point(W, H, n)
    lam_W = check_real("lam_W", lam_W, minimum=0.0)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    beta = check_real("beta", beta, minimum=0.0)
    if beta:
        if H0 is None:
            fail("H0", None, "an anchor matrix when beta > 0")
        H0 = check_matrix(H0, "H0")
        if H0.shape[-2:] != H.shape[-2:]:
            fail("H0", f"an array of shape {tuple(H0.shape)}", f"the shape of H {tuple(H.shape[-2:])}")
    return W, H, n, lam_W, lam_H, H0, beta


def mse_ufm_loss(
    W: torch.Tensor,
    H: torch.Tensor,
    n: int,
    lam_W: float,
    lam_H: float,
    *,
    H0: torch.Tensor | None = None,
    beta: float = 0.0,
) -> torch.Tensor:
    """THN Eq. 1 (beta = 0) or the anchored objective f(W, H; H0) of THN Eq. 2, batched.

    W (..., K, d), H (..., d, Kn); returns a tensor of the leading shape (docs/math.md §3.1, §3.6).

    Parameters
    ----------
    W : torch.Tensor, shape (..., K, d)
        Classifier.
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered features.
    n : int
        Samples per class.
    lam_W, lam_H : float
        Regularisation strengths.
    H0 : torch.Tensor, optional
        The anchor, required when ``beta > 0``.
    beta : float, optional
        Anchor strength (default 0: the plain UFM).

    Returns
    -------
    torch.Tensor
        The objective, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``W``, ``H`` or ``H0`` is not a real, finite, non-empty array of the shapes above, K n is
        not the number of columns of ``H`` (names ``n``), a weight is negative, or ``beta > 0``
        without ``H0``.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1 and Eq. 2.

    Examples
    --------
    >>> W, H = mse_minimizer(2, 1, 2, 0.1, 0.1)
    >>> round(float(mse_ufm_loss(W, H, 1, 0.1, 0.1)), 6)
    0.095
    """
    return _mse_ufm_loss(*_check_objective(W, H, n, lam_W, lam_H, H0, beta))


def _mse_ufm_loss(W, H, n, lam_W, lam_H, H0, beta):
    """:func:`mse_ufm_loss` on checked arguments (solvers' inner loops)."""
    K, N = W.shape[-2], H.shape[-1]
    Y = one_hot_targets(K, n, dtype=H.dtype, device=H.device)
    val = (W @ H - Y).square().sum((-2, -1)) / (2 * N)
    val = val + lam_W / (2 * K) * W.square().sum((-2, -1)) + lam_H / (2 * N) * H.square().sum((-2, -1))
    if beta:
        val = val + beta / (2 * N) * (H - H0).square().sum((-2, -1))
    return val


def mse_ufm_gradients(
    W: torch.Tensor,
    H: torch.Tensor,
    n: int,
    lam_W: float,
    lam_H: float,
    *,
    H0: torch.Tensor | None = None,
    beta: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (dW, dH) of THN Eq. 1/2 (not rescaled by Kn), batched.

    Kn dW = (W H - Y) H^T + n lam_W W;  Kn dH = W^T (W H - Y) + lam_H H + beta (H - H0).

    Parameters
    ----------
    W : torch.Tensor, shape (..., K, d)
        Classifier.
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered features.
    n : int
        Samples per class.
    lam_W, lam_H : float
        Regularisation strengths.
    H0 : torch.Tensor, optional
        The anchor, used when ``beta > 0``.
    beta : float, optional
        Anchor strength (default 0).

    Returns
    -------
    dW : torch.Tensor, shape (..., K, d)
        Gradient in W.
    dH : torch.Tensor, shape (..., d, K n)
        Gradient in H.

    Raises
    ------
    ValueError
        As :func:`mse_ufm_loss`.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1 and Eq. 2.

    Examples
    --------
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> gW, gH = mse_ufm_gradients(W, H, 2, 0.1, 0.1)
    >>> bool(gW.abs().max() < 1e-12 and gH.abs().max() < 1e-12)  # a stationary point
    True
    """
    return _mse_ufm_gradients(*_check_objective(W, H, n, lam_W, lam_H, H0, beta))


def _mse_ufm_gradients(W, H, n, lam_W, lam_H, H0, beta):
    """:func:`mse_ufm_gradients` on checked arguments (solvers' inner loops)."""
    K, N = W.shape[-2], H.shape[-1]
    Y = one_hot_targets(K, n, dtype=H.dtype, device=H.device)
    R = W @ H - Y
    gW = R @ H.mT + n * lam_W * W
    gH = W.mT @ R + lam_H * H
    if beta:
        gH = gH + beta * (H - H0)
    return gW / N, gH / N
