"""The anchored MSE UFM of Tirer, Huang, Niles-Weed (THN Eq. 2): exact minimiser and its iteration.

    f(W, H; H0) = 1/(2Kn) ||W H - Y||^2 + lam_W/(2K) ||W||^2 + lam_H/(2Kn) ||H||^2
                  + beta/(2Kn) ||H - H0||^2

H0 = 0 gives the plain UFM with lam_H + beta. THN Cor. 2.2: anchored at a minimiser H* of the
plain UFM, the minimiser is (W*, H*). THN Cor. 3.2: for beta > C(H0) the minimiser H_{1/beta}
has a smaller NC1 (trace ratio) than a non-collapsed H0; iterating H0 -> H_{1/beta} mimics a
stack of layers.

The Hessian blocks (scaled by Kn, vec stacks columns; derived, docs/math.md §4.2) are
    A = d2f/dH2   = I_N (x) W^T W + (lam_H + beta) I_{dN}
    C = d2f/dW2   = H H^T (x) I_K + n lam_W I_{Kd}
    B = d2f/dHdW  = (R^T (x) I_d) T_{K,d} + H^T (x) W^T,   R = W H - Y,
with T_{K,d} vec(W) = vec(W^T). The minimiser is found by alternating exact block steps and
damped Newton steps on (W, H), solved through the small Schur complement C - B^T A^{-1} B.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from nclab._tensor import as_float_tensor
from nclab._tensor import resolve_dtype
from nclab._validation import check_int, check_memory, check_real, fail, memory_limit
from nclab.theory._checks import check_matrix, check_mse_point
from nclab.layout import one_hot_targets
from nclab.theory.shallow.tirer_bruna import _mse_ufm_gradients, _mse_ufm_loss, optimal_classifier

__all__ = [
    "AnchoredResult",
    "anchored_minimizer",
    "anchored_layers",
    "anchored_hessian_blocks",
    "commutation_matrix",
    "vec",
    "unvec",
]


def vec(X: torch.Tensor) -> torch.Tensor:
    """vec(X): the columns of X (..., a, b) stacked into (..., a b).

    Parameters
    ----------
    X : torch.Tensor, shape (..., a, b)
        The matrix (batched over leading axes).

    Returns
    -------
    torch.Tensor, shape (..., a b)
        The stacked columns.

    Examples
    --------
    >>> vec(torch.tensor([[0, 1, 2], [3, 4, 5]])).tolist()
    [0, 3, 1, 4, 2, 5]
    """
    return X.mT.reshape(*X.shape[:-2], -1)


def unvec(v: torch.Tensor, rows: int) -> torch.Tensor:
    """Inverse of :func:`vec`: (..., rows*cols) -> (..., rows, cols).

    Parameters
    ----------
    v : torch.Tensor, shape (..., rows cols)
        Stacked columns.
    rows : int
        Number of rows of the matrix.

    Returns
    -------
    torch.Tensor, shape (..., rows, cols)
        The matrix.

    Examples
    --------
    >>> unvec(torch.tensor([0, 3, 1, 4, 2, 5]), 2).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    if not (isinstance(v, torch.Tensor) and not (v.is_floating_point() or v.is_complex())):
        v = check_matrix(v, "v", min_ndim=1)  # integer tensors keep their dtype (a pure reshape)
    elif v.ndim < 1 or v.numel() == 0:
        fail("v", f"an array of shape {tuple(v.shape)}", "a non-empty array with at least 1 dimension")
    rows = check_int("rows", rows, minimum=1)
    if v.shape[-1] % rows:
        fail("rows", rows, f"a divisor of the length of v's last axis ({v.shape[-1]})")
    return v.reshape(*v.shape[:-1], -1, rows).mT


def commutation_matrix(m: int, p: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """T_{m,p} (mp x mp) with T vec(X) = vec(X^T) for X of shape m x p.

    Parameters
    ----------
    m, p : int
        The shape of X.
    dtype : torch.dtype, optional
        Element type (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (m p, m p)
        The permutation matrix T_{m,p}.

    Examples
    --------
    >>> X = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    >>> bool(torch.equal(commutation_matrix(2, 3) @ vec(X), vec(X.T)))
    True
    """
    m, p = check_int("m", m, minimum=0), check_int("p", p, minimum=0)
    dtype = resolve_dtype(dtype)
    check_memory(f"the commutation matrix of m={m}, p={p}", float(m * p) ** 2 * dtype.itemsize, memory_limit())
    idx = torch.arange(m * p, device=device)
    i, j = idx % m, idx // m  # vec(X)[j m + i] = X[i, j]
    T = torch.zeros(m * p, m * p, dtype=dtype, device=device)
    T[i * p + j, idx] = 1.0
    return T


def _check_problem(H0, n, lam_W, lam_H, beta):
    H0 = check_matrix(H0, "H0", batched=False)
    n = check_int("n", n, minimum=1)
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    beta = check_real("beta", beta, minimum=0.0, strict=True)
    N = H0.shape[-1]
    if N % n or N // n < 2:
        fail("n", n, f"a divisor of the number of columns of H0 ({N}) leaving K >= 2 classes")
    return H0, n, lam_W, lam_H, beta


def anchored_hessian_blocks(
    W: torch.Tensor, H: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense Hessian blocks (A, B, C) of Kn f(W, H; H0) at (W, H) (THN Sec. 4, docs/math.md §4.2).

    A (dN x dN) = I_N (x) W^T W + (lam_H + beta) I, C (Kd x Kd) = H H^T (x) I_K + n lam_W I,
    B (dN x Kd) = (R^T (x) I_d) T_{K,d} + H^T (x) W^T with R = W H - Y. For small sizes only.

    Parameters
    ----------
    W : torch.Tensor, shape (K, d)
        Classifier.
    H : torch.Tensor, shape (d, K n)
        Class-ordered features.
    n : int
        Samples per class.
    lam_W, lam_H, beta : float
        Regularisation and anchor strengths.

    Returns
    -------
    A : torch.Tensor, shape (d N, d N)
        d2f/dH2 (scaled by Kn).
    B : torch.Tensor, shape (d N, K d)
        d2f/dH dW.
    C : torch.Tensor, shape (K d, K d)
        d2f/dW2.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Section 4 (the blocks are derived by us, docs/math.md §4.2).

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> W, H = mse_minimizer(2, 1, 2, 0.1, 0.1)
    >>> [tuple(b.shape) for b in anchored_hessian_blocks(W, H, 1, 0.1, 0.1, 1.0)]
    [(4, 4), (4, 4), (4, 4)]
    """
    W, H, n, _ = check_mse_point(W, H, n, batched=False)
    lam_W = check_real("lam_W", lam_W, minimum=0.0)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    beta = check_real("beta", beta, minimum=0.0)
    d, N = H.shape
    dt, dev = H.dtype, H.device
    A = torch.kron(torch.eye(N, dtype=dt, device=dev), W.mT @ W) + (lam_H + beta) * torch.eye(d * N, dtype=dt, device=dev)
    B, C = _cross_and_W_blocks(W, H, n, lam_W)
    return A, B, C


@dataclass
class AnchoredResult:
    """Minimiser (W, H) of f(.; H0) (THN Eq. 2) with its loss, gradient norm and solver record.

    ``grad_norm`` is the Frobenius norm of the gradient of f (as written, not scaled by Kn) over
    (W, H); ``local_min`` says the Hessian there is positive definite.

    Parameters
    ----------
    W : torch.Tensor, shape (K, d)
        Classifier at the minimiser.
    H : torch.Tensor, shape (d, K n)
        Features at the minimiser.
    loss : float
        f(W, H; H0).
    grad_norm : float
        Gradient norm at (W, H).
    iterations : int
        Iterations taken.
    converged : bool
        Whether ``grad_norm <= tol``.
    local_min : bool
        Whether the Hessian is positive definite there.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 2.

    Examples
    --------
    >>> H0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> r = anchored_minimizer(H0, 2, 0.1, 0.1, 1.0)
    >>> isinstance(r, AnchoredResult), r.converged, r.local_min
    (True, True, True)
    """

    W: torch.Tensor
    H: torch.Tensor
    loss: float
    grad_norm: float
    iterations: int
    converged: bool
    local_min: bool


def _newton_direction(W, H, gW, gH, n, lam_W, lam_H, beta):
    """Solve [[A, B], [B^T, C]] [dH; dW] = [gH; gW] (Kn-scaled) via the Schur complement on W.

    Returns (dW, dH, positive_definite)."""
    K, d = W.shape
    N = H.shape[1]
    dt, dev = H.dtype, H.device
    B, C = _cross_and_W_blocks(W, H, n, lam_W)
    M = W.mT @ W + (lam_H + beta) * torch.eye(d, dtype=dt, device=dev)
    Minv = torch.linalg.inv(M)
    AinvB = torch.einsum("ij,njk->nik", Minv, B.reshape(N, d, K * d)).reshape(N * d, K * d)
    S = C - B.mT @ AinvB
    S = 0.5 * (S + S.mT)
    L, info = torch.linalg.cholesky_ex(S)
    pd = bool(info == 0) and bool(torch.linalg.eigvalsh(M)[0] > 0)
    vgH, vgW = vec(gH), vec(gW)
    AinvgH = vec(Minv @ gH)
    rhs = vgW - B.mT @ AinvgH
    if pd:
        dWv = torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1)
    else:
        dWv = torch.linalg.lstsq(S, rhs.unsqueeze(-1)).solution.squeeze(-1)
    dHv = vec(Minv @ unvec(vgH - B @ dWv, d))
    return unvec(dWv, K), unvec(dHv, d), pd


def _cross_and_W_blocks(W, H, n, lam_W):
    """(B, C) of :func:`anchored_hessian_blocks` (they do not depend on lam_H, beta)."""
    K, d = W.shape
    N = H.shape[1]
    dt, dev = H.dtype, H.device
    Y = one_hot_targets(K, n, dtype=dt, device=dev)
    R = W @ H - Y
    C = torch.kron(H @ H.mT, torch.eye(K, dtype=dt, device=dev)) + n * lam_W * torch.eye(K * d, dtype=dt, device=dev)
    # B[(c, a), (j, i)] = R[i, c] delta_{a j} + H[j, c] W[i, a]  (rows vec(dH), columns vec(dW));
    # equals (R^T (x) I_d) T_{K,d} + H^T (x) W^T without forming T (checked in the tests).
    eye_d = torch.eye(d, dtype=dt, device=dev)
    B = torch.einsum("ic,aj->caji", R, eye_d) + torch.einsum("jc,ia->caji", H, W)
    return B.reshape(N * d, d * K), C


def anchored_minimizer(
    H0: torch.Tensor,
    n: int,
    lam_W: float,
    lam_H: float,
    beta: float,
    *,
    H_init: torch.Tensor | None = None,
    tol: float = 1e-10,
    max_iter: int = 500,
    block_contraction: float = 0.25,
) -> AnchoredResult:
    """Minimiser of the anchored UFM f(W, H; H0), THN Eq. 2, to gradient norm ``tol`` (float64).

    Starts from H_init (default H0) with W = W*(H) (THN: W*(H) = Y H^T (H H^T + n lam_W I)^{-1}),
    takes exact block-coordinate steps (W <- W*(H), H <- argmin_H f) while they shrink the gradient
    norm by at least ``block_contraction`` per step, then damped Newton steps on (W, H) (block
    steps again where the Hessian is not positive definite). H0 is d x Kn, class-ordered
    (docs/math.md §3.6).

    Parameters
    ----------
    H0 : torch.Tensor, shape (d, K n)
        The anchor, class-ordered.
    n : int
        Samples per class (leaving K >= 2 classes).
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.
    beta : float
        Anchor strength, > 0.
    H_init : torch.Tensor, optional
        Starting features, of the shape of ``H0`` (default ``H0``).
    tol : float, optional
        Gradient-norm target, > 0.
    max_iter : int, optional
        Iteration limit, >= 1.
    block_contraction : float, optional
        Contraction per block step below which Newton steps take over.

    Returns
    -------
    AnchoredResult
        The minimiser and its record.

    Raises
    ------
    ValueError
        If an argument is out of range or ``H_init`` has the wrong shape.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 2, Corollaries 2.2 and 3.2.

    Examples
    --------
    >>> H0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> r = anchored_minimizer(H0, 2, 0.1, 0.1, 1.0)
    >>> r.converged, r.grad_norm < 1e-10
    (True, True)
    """
    H0, n, lam_W, lam_H, beta = _check_problem(H0, n, lam_W, lam_H, beta)
    tol = check_real("tol", tol, minimum=0.0, strict=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    H0 = H0.to(torch.float64)
    d, N = H0.shape
    K = N // n
    H = H0.clone() if H_init is None else as_float_tensor(H_init, "H_init", ndim=2, dtype=torch.float64, device=H0.device).clone()
    if H.shape != H0.shape:
        fail("H_init", f"an array of shape {tuple(H.shape)}", f"the shape of H0 {tuple(H0.shape)}")
    Y = one_hot_targets(K, n, dtype=H.dtype, device=H.device)
    eye_d = torch.eye(d, dtype=H.dtype, device=H.device)
    W = optimal_classifier(H, n, lam_W)

    def loss(W_, H_):
        return float(_mse_ufm_loss(W_, H_, n, lam_W, lam_H, H0, beta))  # checked once above

    def grads(W_, H_):
        return _mse_ufm_gradients(W_, H_, n, lam_W, lam_H, H0, beta)

    def block_step(W_, H_):
        W_ = optimal_classifier(H_, n, lam_W)
        H_ = torch.linalg.solve(W_.mT @ W_ + (lam_H + beta) * eye_d, W_.mT @ Y + beta * H0)
        return optimal_classifier(H_, n, lam_W), H_

    f = loss(W, H)
    it, pd, newton, prev = 0, False, False, math.inf
    for it in range(1, max_iter + 1):
        gW, gH = grads(W, H)
        gnorm = float(torch.sqrt(gW.square().sum() + gH.square().sum()))
        if gnorm <= tol:
            break
        # cheap exact block steps while they contract fast; Newton once they slow down
        newton = newton or gnorm > block_contraction * prev
        prev = gnorm
        accepted = False
        if newton:
            dW, dH, pd = _newton_direction(W, H, N * gW, N * gH, n, lam_W, lam_H, beta)
            if pd:
                slope = -float((gW * dW).sum() + (gH * dH).sum())
                step = 1.0
                for _ in range(30):
                    Wt, Ht = W - step * dW, H - step * dH
                    ft = loss(Wt, Ht)
                    if ft <= f + 1e-4 * step * slope or (gnorm < 1e-6 and ft <= f + 1e-14 * max(1.0, abs(f))):
                        accepted = True
                        break
                    step *= 0.5
        if accepted:
            W, H, f = Wt, Ht, ft
        else:
            W, H = block_step(W, H)
            f = loss(W, H)
    gW, gH = grads(W, H)
    gnorm = float(torch.sqrt(gW.square().sum() + gH.square().sum()))
    if gnorm <= tol:
        pd = _newton_direction(W, H, N * gW, N * gH, n, lam_W, lam_H, beta)[2]
    return AnchoredResult(W=W, H=H, loss=f, grad_norm=gnorm, iterations=it, converged=gnorm <= tol, local_min=pd)


def anchored_layers(
    H0: torch.Tensor,
    n: int,
    lam_W: float,
    lam_H: float,
    beta: float,
    layers: int,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> list[AnchoredResult]:
    """Iterate H_{l+1} = argmin_H f(W, H; H_l) for ``layers`` layers (THN Cor. 3.2, depthwise NC1).

    Each layer's minimiser is warm-started at its anchor.

    Parameters
    ----------
    H0 : torch.Tensor, shape (d, K n)
        The first anchor.
    n : int
        Samples per class.
    lam_W, lam_H, beta : float
        As in :func:`anchored_minimizer`.
    layers : int
        Number of layers, >= 1.
    tol : float, optional
        Gradient-norm target per layer.
    max_iter : int, optional
        Iteration limit per layer.

    Returns
    -------
    list of AnchoredResult
        One result per layer.

    Raises
    ------
    ValueError
        If ``layers`` < 1 or another argument is out of range.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Corollary 3.2 (docs/math.md §3.7).

    Examples
    --------
    >>> H0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> len(anchored_layers(H0, 2, 0.1, 0.1, 1.0, 2))
    2
    """
    layers = check_int("layers", layers, minimum=1)
    out: list[AnchoredResult] = []
    H = as_float_tensor(H0, "H0", ndim=2, dtype=torch.float64)
    for _ in range(layers):
        res = anchored_minimizer(H, n, lam_W, lam_H, beta, tol=tol, max_iter=max_iter)
        out.append(res)
        H = res.H
    return out
