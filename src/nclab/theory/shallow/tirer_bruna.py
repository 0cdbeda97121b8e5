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
from nclab.geometry import class_ordered_sums, one_hot_targets, random_frame, repeat_columns

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
    """
    lam_W, lam_H = _lams(lam_W, lam_H)
    c = math.sqrt(lam_H * lam_W)
    return max((1.0 - c) * math.sqrt(lam_W / lam_H), 0.0)


def mse_minimum_value(K: int, n: int, lam_W: float, lam_H: float) -> float:
    """Global minimum of THN Eq. 1 (d >= K): c - c^2/2 if c = sqrt(lam_H lam_W) <= 1, else 1/2.

    Derived from Tirer & Bruna Thm 3.1: at the collapsed minimiser W Hbar = (1 - c) I_K, the fit
    term is (1 - s)^2/2 with s = 1 - c and both regularisers together give lam_H rho = c s.
    The value does not depend on K or n (they are validated only).
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

    ``rotation``: None (R = first K standard basis vectors), a (d, K) matrix with orthonormal
    columns (or a (d, d) orthogonal matrix, whose first K columns are used), or a
    ``torch.Generator`` (R Haar-random).
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
    equations W (H H^T + n lam_W I) = Y H^T of the objective of THN Eq. 1 in W.
    """
    H = as_float_tensor(H, "H", ndim=(2, 3, 4))
    n = check_int("n", n, minimum=1)
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    d, N = H.shape[-2:]
    if N % n:
        fail("n", n, f"a divisor of the number of columns of H ({N})")
    YHt = class_ordered_sums(H, n)  # (..., d, K) = H Y^T
    A = H @ H.mT + n * lam_W * torch.eye(d, dtype=H.dtype, device=H.device)
    return torch.linalg.solve(A, YHt).mT  # A symmetric: W^T = A^{-1} H Y^T


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

    W (..., K, d), H (..., d, Kn); returns a tensor of the leading shape.
    """
    K = W.shape[-2]
    N = H.shape[-1]
    Y = one_hot_targets(K, n, dtype=H.dtype, device=H.device)
    if Y.shape[-1] != N:
        fail("n", n, f"such that K n = {N} columns of H")
    val = (W @ H - Y).square().sum((-2, -1)) / (2 * N)
    val = val + lam_W / (2 * K) * W.square().sum((-2, -1)) + lam_H / (2 * N) * H.square().sum((-2, -1))
    if beta:
        if H0 is None:
            fail("H0", None, "an anchor matrix when beta > 0")
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
    """
    K = W.shape[-2]
    N = H.shape[-1]
    Y = one_hot_targets(K, n, dtype=H.dtype, device=H.device)
    R = W @ H - Y
    gW = R @ H.mT + n * lam_W * W
    gH = W.mT @ R + lam_H * H
    if beta:
        gH = gH + beta * (H - H0)
    return gW / N, gH / N
