"""The low-rank construction of GK Theorem 7's proof (deep ReLU UFM), built and in closed form.

Garrod & Keating (arXiv:2410.23169 v2), proof of Theorem 7 (App. B.9), bound the loss of every
DNC solution of the deep ReLU UFM below by the best linear DNC loss (:func:`dnc_optimum`) and
then build a low-rank point that beats that bound. GK Thm 1's block structure has negative
entries that ReLU would zero, so the proof adds a rank-1 positive part. The display formulas of
B.9 are lost in the text nclab had, so the matrices below are a reconstruction from its words
("X̄, Ȳ", "χ_l = 2/K ψ_l", "φ_{l+1} = 2 ψ_l φ_l", "W_L = [ψ_L X̄, 0]", the singular values of
H_2), checked against the region the proof states (it comes out exactly, both parities).

Even K = 2m: X̄ = blockdiag([[1,-1],[-1,1]] x m), Ȳ = 1 1^T, so X̄² = 2X̄, X̄Ȳ = 0, Ȳ² = KȲ.
Odd K = 2m + 1: X̄ = blockdiag([[1,-1],[-1,1]] x m, [2]), Ȳ = 1_{K-1} 1_{K-1}^T (+) 0, Ȳ² = (K-1)Ȳ.
With G = X̄ + Ȳ (entries 0, 1, 2) and c = K (even) or K - 1 (odd), for a scale psi >= 0:

    features   H_l = phi_l G (x) 1_n^T (2 <= l <= L, all entries >= 0: ReLU is the identity),
    weights    W_l = psi X̄ + (2 psi / c) Ȳ (2 <= l <= L-1), W_L = [psi_L X̄, 0],
    first      W_1 = U Sigma^{1/2}, H_1 = Sigma^{1/2} V^T from the SVD H_2 = U Sigma V^T,
    output     Z = W_L H_L = beta X̄ (x) 1_n^T,

every factor padded with zeros to width d >= K. The L + 1 squared norms are made equal,
q psi² with q = 2K + 4 (even) or 2K + 6 (odd), which fixes psi_L and phi_2, and then

    beta sqrt(n) = 2^{L-1} psi^{L+1} A_K,  A_K = ((K+2)/K)^{3/2} (even),
                                           A_K = sqrt((K+3)/(K+1)) (K+3)/K (odd),
    loss(psi) = fit(beta) + (lam/2)(L+1) q psi²,

fit = log(1 + e^{-2beta} + (K-2)e^{-beta}) (even) and [(K-1) of that + log(1 + (K-1)e^{-2beta})]/K
(odd: the extra class has logit 2beta on its own entry). For odd K the last layer W_L = [psi_L X̄, 0]
(extra diagonal entry 2) is nclab's reconstruction: the paper's display formula is lost, and it is
the simplest reading that reproduces the stated odd region (L = 4: K >= 17, L = 5: K >= 11).

At equal output scale (beta = alpha) the construction's fit is below the DNC fit, and its
regulariser is below the DNC one iff q < (K-1) (2^{L-1} A_K)^{2/(L+1)}, independent of lam and n
(:func:`relu_equal_scale_condition`). Where that holds, the construction at the DNC optimum's
scale beats the linear DNC bound, so no DNC solution is globally optimal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nclab._validation import check_int, check_real, fail
from nclab.theory.deep.low_rank import _block_fit, _minimise

__all__ = ["ReluConstruction", "relu_construction", "relu_construction_loss", "relu_construction_optimum",
           "relu_equal_scale_condition"]

_REF = ('Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169 v2, '
        "Theorem 7 and its proof (App. B.9)")


def _check_shape(K, n, L) -> tuple[int, int, int]:
    K = check_int("K", K, minimum=2)
    n = check_int("n", n, minimum=1)
    L = check_int("L", L, minimum=2)
    return K, n, L


def _constants(K: int) -> tuple[float, float, float]:
    """(q, ||X̄||_F², A_K): squared norm per factor / psi², the last layer's block norm, the scale factor."""
    q = 2.0 * K + (4.0 if K % 2 == 0 else 6.0)
    x2 = 2.0 * K if K % 2 == 0 else 2.0 * K + 2.0
    return q, x2, math.sqrt(q / x2) * q / (2.0 * K)


def _beta(psi, K: int, n: int, L: int):
    """Output scale beta(psi) = 2^{L-1} psi^{L+1} A_K / sqrt(n)."""
    return 2.0 ** (L - 1) * np.asarray(psi, dtype=np.float64) ** (L + 1) * _constants(K)[2] / math.sqrt(n)


def _fit(beta, K: int):
    """The block structure's fit (:func:`nclab.theory.deep.low_rank._block_fit`); for odd K the
    last class's logit is 2 beta (the last diagonal entry of X̄ is 2 here)."""
    return _block_fit(np.asarray(beta, dtype=np.float64), K, odd_margin=2.0)


@dataclass
class ReluConstruction:
    """The built point of GK Thm 7's ReLU construction (one seed) and its scales.

    Returned by :func:`relu_construction`.

    Parameters
    ----------
    params : nclab.ufm.spec.UFMParams
        One seed: H of shape (1, d, N) with N = K n, W_1..W_{L-1} of shape (1, d, d), W_L (1, K, d);
        float64.
    psi : float
        The scale psi of the middle weights.
    beta : float
        The output scale: Z = beta X̄ (x) 1_n^T.
    M : torch.Tensor
        Class-level logits beta X̄, shape (K, K), float64 (column k: the logits of class k).
    K, n, d, L : int
        Classes, samples per class, width, number of weight matrices.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169
    v2, Theorem 7 and its proof (App. B.9).

    Examples
    --------
    >>> c = relu_construction(4, 2, 5, 3, 1.0)
    >>> tuple(c.params.H.shape), [tuple(w.shape) for w in c.params.W], round(c.beta, 6)  # beta = 3 sqrt 3
    ((1, 5, 8), [(1, 5, 5), (1, 5, 5), (1, 4, 5)], 5.196152)
    """

    params: object
    psi: float
    beta: float
    M: torch.Tensor
    K: int
    n: int
    d: int
    L: int


def _blocks(K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(X̄, Ȳ), float64 K x K."""
    m, odd = divmod(K, 2)
    pair = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    X = torch.block_diag(*([pair] * m + ([torch.full((1, 1), 2.0, dtype=torch.float64)] if odd else [])))
    Y = torch.zeros(K, K, dtype=torch.float64)
    Y[: 2 * m, : 2 * m] = 1.0
    return X, Y


def _eigen(K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact eigenpairs of G = X̄ + Ȳ with nonzero eigenvalue: (U (K x r), eigenvalues (r,))."""
    m, odd = divmod(K, 2)
    c = 2 * m  # the size of Ȳ's block
    cols, vals = [], []
    u = torch.zeros(K, dtype=torch.float64)
    u[:c] = 1.0 / math.sqrt(c)
    cols.append(u)
    vals.append(float(c))
    for i in range(m):
        u = torch.zeros(K, dtype=torch.float64)
        u[2 * i], u[2 * i + 1] = 1.0 / math.sqrt(2.0), -1.0 / math.sqrt(2.0)
        cols.append(u)
        vals.append(2.0)
    if odd:
        u = torch.zeros(K, dtype=torch.float64)
        u[-1] = 1.0
        cols.append(u)
        vals.append(2.0)
    return torch.stack(cols, dim=1), torch.tensor(vals, dtype=torch.float64)


def relu_construction(K: int, n: int, d: int, L: int, psi: float, *, device=None) -> ReluConstruction:
    """Build GK Thm 7's ReLU low-rank point (H_1, W_1..W_L) at scale ``psi`` (module doc), float64.

    The middle weights are psi X̄ + (2 psi / c) Ȳ, the last W_L = [psi_L X̄, 0], and W_1, H_1 the
    balanced split of H_2 = phi_2 (X̄ + Ȳ) (x) 1_n^T (exact eigenvectors, no rotation). Every
    factor has squared norm q psi² (q = 2K + 4 even, 2K + 6 odd); every pre-activation is
    >= 0 up to rounding, so ReLU acts as the identity, and Z = beta X̄ (x) 1_n^T. For odd K the
    last layer (extra diagonal entry 2) is nclab's reconstruction; the paper's formula is lost.

    Parameters
    ----------
    K : int
        Number of classes, >= 2 (even or odd).
    n : int
        Samples per class, >= 1 (N = K n columns, class-major).
    d : int
        Width, >= K.
    L : int
        Number of weight matrices, >= 2.
    psi : float
        Scale of the construction, a finite number >= 0 (0: the zero point).
    device : torch.device or str, optional
        Device of the tensors (default the CPU).

    Returns
    -------
    ReluConstruction
        ``params`` (one seed, float64), ``psi``, ``beta`` = 2^{L-1} psi^{L+1} A_K / sqrt(n), the
        class-level logits ``M`` = beta X̄ and the sizes.

    Raises
    ------
    ValueError
        If K < 2, n < 1, L < 2 or d < K (or one is not an integer), or ``psi`` is not a finite
        number >= 0.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169
    v2, Theorem 7 and its proof (App. B.9): the rank-1 positive matrix added to Theorem 1's block
    construction; the formulas are reconstructed from the proof's text.

    Examples
    --------
    >>> from nclab.ufm.objective import forward_all
    >>> from nclab.ufm.spec import UFMSpec
    >>> c = relu_construction(4, 1, 4, 3, 1.0)
    >>> out = forward_all(UFMSpec.garrod(4, 1, 4, 3, 0.01, activation="relu"), c.params)
    >>> (out.pre[0][0] / out.pre[0][0].max()).round(decimals=12).tolist()  # (X̄ + Ȳ)/2: 0 on the kinks
    [[1.0, 0.0, 0.5, 0.5], [0.0, 1.0, 0.5, 0.5], [0.5, 0.5, 1.0, 0.0], [0.5, 0.5, 0.0, 1.0]]
    >>> bool(torch.allclose(out.Z[0], c.M, atol=1e-12)), (c.M / c.beta).tolist()[0]
    (True, [1.0, -1.0, 0.0, 0.0])
    >>> relu_construction(5, 1, 5, 2, 1.0).M.diagonal().div(relu_construction(5, 1, 5, 2, 1.0).beta).tolist()
    [1.0, 1.0, 1.0, 1.0, 2.0]
    """
    from nclab.ufm.spec import UFMParams

    K, n, L = _check_shape(K, n, L)
    d = check_int("d", d, minimum=1)
    if d < K:
        fail("d", d, f"an integer >= K = {K} (the construction needs width d >= K)")
    psi = check_real("psi", psi, minimum=0.0)
    q, x2, _ = _constants(K)
    X, Y = _blocks(K)
    c = 2 * (K // 2)
    psi_L = psi * math.sqrt(q / x2)
    phi2_sqrt_n = psi ** 2 * q / (2.0 * K)  # sum_i s_i(H_2) = 2K sqrt(n) phi_2 = ||W_1||^2 = q psi^2
    U, lam = _eigen(K)
    r = U.shape[1]
    sigma = phi2_sqrt_n * lam  # singular values of H_2: phi_2 lam_j sqrt(n)
    root = sigma.sqrt()
    V = torch.repeat_interleave(U, n, dim=0) / math.sqrt(n)  # (N, r): (u_j (x) 1_n)/sqrt(n), orthonormal
    W1 = torch.zeros(d, d, dtype=torch.float64)
    W1[:K, :r] = U * root
    H1 = torch.zeros(d, K * n, dtype=torch.float64)
    H1[:r] = root[:, None] * V.T
    mid = torch.zeros(d, d, dtype=torch.float64)
    mid[:K, :K] = psi * X + (2.0 * psi / c) * Y
    WL = torch.zeros(K, d, dtype=torch.float64)
    WL[:, :K] = psi_L * X
    Ws = (W1, *([mid] * (L - 2)), WL)
    beta = float(_beta(psi, K, n, L))
    params = UFMParams(H1[None].to(device=device), tuple(w[None].clone().to(device=device) for w in Ws), None)
    return ReluConstruction(params, psi, beta, (beta * X).to(device=device), K, n, d, L)


def relu_construction_loss(psi, K: int, n: int, L: int, lam: float):
    """Closed-form loss of GK Thm 7's ReLU construction at scale(s) ``psi`` (module doc).

    loss(psi) = fit(beta) + (lam/2)(L+1) q psi², beta sqrt(n) = 2^{L-1} psi^{L+1} A_K, with the
    fit of Z = beta X̄ (x) 1_n^T (mean cross-entropy, ``log1p`` form) and q = 2K + 4 (even K) or
    2K + 6 (odd K). The engine's ReLU objective at :func:`relu_construction` equals it.

    Parameters
    ----------
    psi : float or array_like
        Scale(s) psi >= 0.
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 2.
    lam : float
        Weight decay of every factor, > 0.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The loss, float64, of the shape of ``psi``; log K at psi = 0.

    Raises
    ------
    ValueError
        If ``psi`` has a negative or non-finite entry, or K, n, L or ``lam`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169
    v2, Theorem 7 and its proof (App. B.9); the closed form is derived here from the reconstructed
    construction.

    Examples
    --------
    >>> import math
    >>> bool(relu_construction_loss(0.0, 10, 5, 5, 2 ** -9) == math.log(10))
    True
    >>> [round(float(v), 6) for v in relu_construction_loss([0.9, 1.1], 10, 5, 5, 2 ** -9)]
    [0.166514, 0.170157]
    """
    K, n, L = _check_shape(K, n, L)
    lam = check_real("lam", lam, minimum=0.0, strict=True)
    p = np.asarray(psi, dtype=np.float64)
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        fail("psi", psi, "finite numbers >= 0")
    q = _constants(K)[0]
    return _fit(_beta(p, K, n, L), K) + 0.5 * lam * (L + 1) * q * p ** 2


def relu_construction_optimum(K: int, n: int, L: int, lam: float) -> tuple[float, float, float]:
    """(psi*, beta*, loss*): the best scale of GK Thm 7's ReLU construction (closed form).

    The 1-D minimisation is done over the output scale beta >= 0 (log grid of
    [0, 200 + 4 log K], then bounded Brent, as :func:`low_rank_optimum`), with
    psi = (beta sqrt(n) / (2^{L-1} A_K))^{1/(L+1)}.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 2.
    lam : float
        Weight decay, > 0.

    Returns
    -------
    tuple of float
        ``(psi_star, beta_star, loss)``; ``(0.0, 0.0, log K)`` when the zero point wins.

    Raises
    ------
    ValueError
        If K, n, L or ``lam`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169
    v2, Theorem 7 and its proof (App. B.9).

    Examples
    --------
    >>> from nclab.theory.deep.low_rank import dnc_optimum
    >>> psi, beta, loss = relu_construction_optimum(10, 5, 5, 2 ** -9)
    >>> round(psi, 5), round(loss, 6), round(dnc_optimum(10, 5, 5, 2 ** -9)[1], 6)  # below the DNC bound
    (0.95636, 0.134594, 0.139832)
    >>> round(relu_construction_optimum(10, 5, 3, 2 ** -9)[2], 6)  # L = 3: above the bound 0.147061
    0.167825
    """
    K, n, L = _check_shape(K, n, L)
    lam = check_real("lam", lam, minimum=0.0, strict=True)
    q, _, A = _constants(K)
    unit = 2.0 ** (L - 1) * A / math.sqrt(n)  # beta = unit * psi^{L+1}

    def of_beta(b):
        p2 = (np.asarray(b, dtype=np.float64) / unit) ** (2.0 / (L + 1))
        return _fit(b, K) + 0.5 * lam * (L + 1) * q * p2

    beta, loss = _minimise(of_beta, K)
    return float((beta / unit) ** (1.0 / (L + 1))), float(beta), float(loss)


def relu_equal_scale_condition(K: int, L: int) -> bool:
    """True when GK Thm 7's ReLU construction has a smaller regulariser than DNC at equal output scale.

    The condition q < (K-1) (2^{L-1} A_K)^{2/(L+1)} (q = 2K + 4, A_K = ((K+2)/K)^{3/2} for even K;
    q = 2K + 6, A_K = sqrt((K+3)/(K+1)) (K+3)/K for odd K, nclab's reconstruction of the odd last
    layer). The fit is always lower at equal scale, so where it holds the construction beats the
    best linear DNC loss, a lower bound of every ReLU DNC loss, for every lam > 0 and n, d >= K.
    It reproduces the region of the proof: even K: L = 4, K >= 14 or L = 5, K >= 10; odd K:
    L = 4, K >= 17 or L = 5, K >= 11; never at L = 2, 3; for L >= 6 it reaches smaller K.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    L : int
        Number of weight matrices, >= 2.

    Returns
    -------
    bool
        Whether the equal-scale comparison wins (independent of lam and n).

    Raises
    ------
    ValueError
        If K < 2 or L < 2 (or either is not an integer).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias", arXiv:2410.23169
    v2, Theorem 7 and its proof (App. B.9): "this holds when L = 4, K >= 14, or L >= 5, K >= 10"
    (even K) and "L = 4, K >= 17, or L >= 5, K >= 11" (odd K).

    Examples
    --------
    >>> [K for K in range(2, 41) if relu_equal_scale_condition(K, 4)][:4]
    [14, 16, 17, 18]
    >>> min(K for K in range(2, 41) if relu_equal_scale_condition(K, 5))
    10
    >>> relu_equal_scale_condition(40, 3), relu_equal_scale_condition(8, 6)
    (False, True)
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=2)
    q, _, A = _constants(K)
    return bool(q < (K - 1) * (2.0 ** (L - 1) * A) ** (2.0 / (L + 1)))
