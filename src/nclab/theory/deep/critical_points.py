"""Constructed critical points of the deep UFM (Garrod & Keating 2025, Lemma 1, Thms 1 and 4).

A logit structure Z = M (x) 1_n^T with SVD M = U S V^T (rank r) is realised with balanced factors
(GK Lemma 1): with V' = (V (x) 1_n)/sqrt(n) and T = (sqrt(n) S)^{1/(L+1)},

    H_1 = R_0 T V'^T,   W_l = R_l T R_{l-1}^T (l < L),   W_L = U T R_{L-1}^T,

R_l in R^{d x r} orthonormal frames (Haar-random per seed, or the first r coordinates), so
W_L ... W_1 H_1 = Z and every factor has the singular values of Z to the power 1/(L+1). At the
optimal scale of the DNC structure (M = alpha* P) and of GK's block structure for even K
(M = beta* blockdiag([[1,-1],[-1,1]])) this is a critical point of the deep linear UFM.
Per-parameter lam_H, lam_W: factor l is rescaled by sqrt(lam_bar/lam_l) (see ``effective_lambda``).
For odd K the block construction is not a critical point (its extra column is not centred), so
only even K is constructed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from nclab._validation import check_choice, check_int, check_real, fail
from nclab.geometry import centering_matrix, random_orthogonal
from nclab.layout import repeat_columns
from nclab.theory.deep.low_rank import dnc_loss, dnc_optimum, effective_lambda, low_rank_optimum

__all__ = ["CriticalPoint", "block_matrix", "balanced_factors", "dnc_critical_point", "low_rank_critical_point"]


@dataclass
class CriticalPoint:
    """A constructed deep-UFM point: ``spec`` (UFMSpec), ``params`` (UFMParams, S seeds), the
    ``kind`` ("dnc" / "low_rank"), the ``scale`` (alpha* or beta*), the closed-form ``loss``,
    the class-level logit matrix ``M`` (K x K) and its ``rank``.

    Returned by :func:`dnc_critical_point` and :func:`low_rank_critical_point`; every seed of
    ``params`` has the same logits Z = M (x) 1_n^T and differs only by the frames R_l.

    Parameters
    ----------
    spec : nclab.ufm.spec.UFMSpec
        The deep UFM (``UFMSpec.garrod``: mean cross-entropy, no bias) the point belongs to.
    params : nclab.ufm.spec.UFMParams
        Balanced factors of S seeds: H of shape (S, d, N) with N = K n, W = (W_1, .., W_L),
        W_l of shape (S, d, d) for l < L and W_L of shape (S, K, d).
    kind : str
        ``"dnc"`` (Z = alpha P (x) 1_n^T) or ``"low_rank"`` (GK's block structure).
    scale : float
        The scale alpha (DNC) or beta* (block structure) of ``M``.
    loss : float
        The closed-form objective at this point (:func:`~nclab.theory.deep.low_rank.dnc_loss`
        or :func:`~nclab.theory.deep.low_rank.low_rank_optimum`), at the effective lam.
    M : torch.Tensor
        The class-level logits, shape (K, K), float64: column k is the logit vector of class k.
    rank : int
        Numerical rank of ``M`` (rtol 1e-10): K - 1 for DNC, K/2 for the block structure.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (balanced factors), Theorems 1 and 4.

    Examples
    --------
    >>> cp = dnc_critical_point(3, 2, 4, 2, 0.01)
    >>> cp.kind, cp.rank, tuple(cp.M.shape), tuple(cp.params.H.shape)
    ('dnc', 2, (3, 3), (1, 4, 6))
    """

    spec: object
    params: object
    kind: str
    scale: float
    loss: float
    M: torch.Tensor
    rank: int


def block_matrix(K: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """GK's block structure blockdiag([[1,-1],[-1,1]] x m) (K = 2m), plus a 1 on the last diagonal for odd K.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result (default the CPU).

    Returns
    -------
    torch.Tensor
        Shape (K, K), symmetric; rank m = K // 2 for even K and m + 1 for odd K. Column k is
        diagonally superior (its largest entry is the k-th) for every k.

    Raises
    ------
    ValueError
        If K is not an integer >= 2.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, the construction in the proof of Theorem 1 (docs/math.md §6.6).

    Examples
    --------
    >>> block_matrix(4)
    tensor([[ 1., -1.,  0.,  0.],
            [-1.,  1.,  0.,  0.],
            [ 0.,  0.,  1., -1.],
            [ 0.,  0., -1.,  1.]], dtype=torch.float64)
    >>> block_matrix(3)[2].tolist()
    [0.0, 0.0, 1.0]
    """
    K = check_int("K", K, minimum=2)
    block = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    blocks = [block] * (K // 2) + ([torch.ones(1, 1, dtype=torch.float64)] if K % 2 else [])
    return torch.block_diag(*blocks).to(dtype=dtype, device=device)


def _lam_layers(L: int, lam, lam_H, lam_W) -> list[float]:
    base = lam
    lh = base if lam_H is None else lam_H
    if lam_W is None:
        lw = [base] * L
    elif isinstance(lam_W, (list, tuple)):
        lw = list(lam_W)
    else:
        lw = [lam_W] * L
    return [float(lh), *map(float, lw)]


def balanced_factors(
    M: torch.Tensor,
    n: int,
    d: int,
    L: int,
    *,
    seeds: int | Sequence[int] = 1,
    rotate: bool = True,
    lams: Sequence[float] | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
    rank_rtol: float = 1e-10,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Balanced factors (H_1 (S,d,N), (W_1..W_L)) with product M (x) 1_n^T (GK Lemma 1; module doc).

    ``seeds``: a count S or a list of integer seeds for the random frames (``rotate``);
    ``lams``: [lam_H, lam_W_1..lam_W_L] to rescale factors for per-parameter regularisation.

    With M = U S V^T (rank r, singular values above ``rank_rtol`` * s_1), V' = (V (x) 1_n)/sqrt(n)
    and T = (sqrt(n) S)^{1/(L+1)}: H_1 = R_0 T V'^T, W_l = R_l T R_{l-1}^T (l < L) and
    W_L = U T R_{L-1}^T, so every factor has the nonzero singular values s_i(Z)^{1/(L+1)} of
    Z = M (x) 1_n^T. With ``lams`` factor l is multiplied by sqrt(lam_bar / lam_l), lam_bar the
    geometric mean of ``lams``; the product is unchanged because the multipliers' product is 1.

    Parameters
    ----------
    M : array_like
        Class-level logits, shape (K, K) (column k: the logits of class k); cast to float64.
    n : int
        Samples per class, >= 1 (N = K n columns, class-major: the n samples of class 0 first).
    d : int
        Width, >= K.
    L : int
        Number of weight matrices, >= 1.
    seeds : int or sequence of int, optional
        A count S (seeds 0..S-1) or the integer seeds of the S random frames. Default 1.
    rotate : bool, optional
        True: R_l are the first r columns of Haar-random d x d orthogonal matrices (one
        generator per seed); False: R_l = the first r coordinate vectors (every seed the same).
    lams : sequence of float, optional
        [lam_H, lam_W_1, .., lam_W_L], each > 0, for per-parameter regularisation; None: no
        rescaling.
    dtype : torch.dtype, optional
        Element type of the result (default float64; the construction is done in float64).
    device : torch.device or str, optional
        Device of the result.
    rank_rtol : float, optional
        Singular values of M at or below ``rank_rtol`` * s_1 are dropped (default 1e-10).

    Returns
    -------
    H : torch.Tensor
        Shape (S, d, N): H_1 of each seed.
    W : tuple of torch.Tensor
        (W_1, .., W_L): shape (S, d, d) for l < L, and (S, K, d) for W_L.

    Raises
    ------
    ValueError
        If n, d or L is not an integer >= 1, or d < K.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (critical points have balanced factors; docs/math.md §6.3).

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> from nclab.layout import repeat_columns
    >>> M = 2.0 * centering_matrix(3)
    >>> H, (W1, W2) = balanced_factors(M, 2, 4, 2, seeds=2)
    >>> tuple(H.shape), tuple(W1.shape), tuple(W2.shape)
    ((2, 4, 6), (2, 4, 4), (2, 3, 4))
    >>> bool(torch.allclose(W2 @ W1 @ H, repeat_columns(M, 2).expand(2, 3, 6)))
    True
    >>> [round(float(v), 6) for v in torch.linalg.svdvals(H[0])[:2]]  # s_i(Z)^(1/3), s_i(Z) = 2 sqrt(n) = 2 sqrt 2
    [1.414214, 1.414214]
    """
    M = torch.as_tensor(M, dtype=torch.float64).cpu()
    K = M.shape[0]
    n, d, L = check_int("n", n, minimum=1), check_int("d", d, minimum=1), check_int("L", L, minimum=1)
    if d < K:
        fail("d", d, f"an integer >= K = {K} (the constructions of GK Thm 1/4 assume d >= K)")
    U, S, Vh = torch.linalg.svd(M)
    r = int((S > rank_rtol * S[0]).sum())
    U, S, V = U[:, :r], S[:r], Vh[:r].T
    Vp = repeat_columns(V.mT, n).mT.contiguous() / n ** 0.5  # (N, r) = (V^T (x) 1_n^T)^T / sqrt(n), orthonormal columns
    T = torch.diag((n ** 0.5 * S) ** (1.0 / (L + 1)))
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if lams is not None:
        lam_bar = float(torch.tensor(lams, dtype=torch.float64).log().mean().exp())
        c = [(lam_bar / v) ** 0.5 for v in lams]
    else:
        c = [1.0] * (L + 1)
    Hs, Ws = [], [[] for _ in range(L)]
    for seed in seed_list:
        g = torch.Generator().manual_seed(int(seed))
        R = [random_orthogonal(d, generator=g)[:, :r] if rotate else torch.eye(d, dtype=torch.float64)[:, :r]
             for _ in range(L)]
        Hs.append(c[0] * R[0] @ T @ Vp.T)
        for l in range(1, L):
            Ws[l - 1].append(c[l] * R[l] @ T @ R[l - 1].T)
        Ws[L - 1].append(c[L] * U @ T @ R[L - 1].T)
    conv = lambda ts: torch.stack(ts).to(dtype=dtype, device=device)  # noqa: E731
    return conv(Hs), tuple(conv(w) for w in Ws)


def _point(kind, M, scale, loss, K, n, d, L, lam, lam_H, lam_W, activation, seeds, rotate, dtype, device):
    from nclab.ufm.spec import UFMParams, UFMSpec

    spec = UFMSpec.garrod(K, n, d, L, lam if lam is not None else 1.0, activation=activation,
                          lam_H=lam_H, lam_W=tuple(lam_W) if isinstance(lam_W, list) else lam_W)
    lams = [spec.lam_H, *spec.lam_W_layers]
    H, W = balanced_factors(M, n, d, L, seeds=seeds, rotate=rotate, lams=lams, dtype=dtype, device=device)
    rank = int(torch.linalg.matrix_rank(M, rtol=1e-10))
    return CriticalPoint(spec, UFMParams(H, W), kind, scale, loss, M, rank)


def dnc_critical_point(
    K: int, n: int, d: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None,
    activation: str = "linear", seeds: int | Sequence[int] = 1, rotate: bool = True,
    dtype: torch.dtype = torch.float64, device=None, scale: float | None = None,
) -> CriticalPoint:
    """The DNC critical point Z = alpha* P (x) 1_n^T with balanced factors (GK Lemma 1, Thm 4).

    alpha* is the large root of the DNC critical-point equation (:func:`dnc_optimum`); needs
    d >= K. With ``activation="relu"`` the same factors are returned for the ReLU model (not a
    critical point there in general). ``scale`` (alpha > 0) overrides alpha*: e.g. the large root
    of :func:`dnc_critical_points` where that critical point exists but loses to the zero solution
    (large lam, GK Thm 4's sweep); ``loss`` is then :func:`dnc_loss` at that scale.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    d : int
        Width, >= K.
    L : int
        Number of weight matrices, >= 1.
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays of H_1 and of W_1..W_L; the scale uses their geometric
        mean (:func:`~nclab.theory.deep.low_rank.effective_lambda`) and the factors are rescaled.
    activation : {"linear", "relu"}, optional
        The spec's activation between layers (default "linear").
    seeds : int or sequence of int, optional
        Number of seeds, or the seeds, of the random frames (:func:`balanced_factors`).
    rotate : bool, optional
        Haar-random frames (True) or coordinate frames (False).
    dtype : torch.dtype, optional
        Element type of the factors (default float64).
    device : torch.device or str, optional
        Device of the factors.
    scale : float, optional
        alpha > 0 to use instead of alpha*.

    Returns
    -------
    CriticalPoint
        ``kind="dnc"``, ``M = alpha P`` (P the K x K centering matrix), ``rank = K - 1``,
        ``scale`` alpha and ``loss`` L_DNC(alpha), equal to the engine's objective at ``params``
        for the linear model (the ReLU model's objective there is not computed).

    Raises
    ------
    ValueError
        If K, n, d, L, a lam, ``activation`` or ``scale`` is out of range, d < K, or lam is so
        large that alpha* = 0 (no DNC critical point beats the zero solution).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 and Theorem 4 (docs/math.md §6.4, §6.5, §6.11).

    Examples
    --------
    >>> from nclab.ufm.objective import parts
    >>> cp = dnc_critical_point(3, 2, 4, 2, 0.01, seeds=2)
    >>> round(cp.scale, 6), round(cp.loss, 6), cp.rank
    (4.888096, 0.123825, 2)
    >>> [round(float(v), 6) for v in parts(cp.spec, cp.params)["loss"]]  # the engine agrees, per seed
    [0.123825, 0.123825]
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    check_choice("activation", activation, ("linear", "relu"))
    lam_bar = effective_lambda(lam, L, lam_H=lam_H, lam_W=lam_W)
    if scale is not None:
        alpha = check_real("scale", scale, minimum=0.0, strict=True)
        loss = float(dnc_loss(alpha, K, n, L, lam_bar))
    else:
        alpha, loss = dnc_optimum(K, n, L, lam_bar)
    if alpha == 0.0:
        fail("lam", lam_bar, "small enough that the DNC critical point exists (lam n^{1/(L+1)} below the peak)")
    M = alpha * centering_matrix(K)
    return _point("dnc", M, alpha, loss, K, n, d, L, lam, lam_H, lam_W, activation, seeds, rotate, dtype, device)


def low_rank_critical_point(
    K: int, n: int, d: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None,
    seeds: int | Sequence[int] = 1, rotate: bool = True, dtype: torch.dtype = torch.float64, device=None,
) -> CriticalPoint:
    """GK's block low-rank critical point Z = beta* blockdiag([[1,-1],[-1,1]]) (x) 1_n^T (even K).

    Rank K/2; balanced factors at the optimal scale beta* (:func:`low_rank_optimum`). Odd K
    raises ``ValueError`` (the odd construction is an upper bound, not a critical point).

    Parameters
    ----------
    K : int
        Number of classes, even, >= 2.
    n : int
        Samples per class, >= 1.
    d : int
        Width, >= K.
    L : int
        Number of weight matrices, >= 1.
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, as in :func:`dnc_critical_point`.
    seeds : int or sequence of int, optional
        Number of seeds, or the seeds, of the random frames (:func:`balanced_factors`).
    rotate : bool, optional
        Haar-random frames (True) or coordinate frames (False).
    dtype : torch.dtype, optional
        Element type of the factors (default float64).
    device : torch.device or str, optional
        Device of the factors.

    Returns
    -------
    CriticalPoint
        ``kind="low_rank"``, ``M = beta* block_matrix(K)``, ``rank = K / 2``, ``scale`` beta* and
        ``loss`` the low-rank loss there; the spec's activation is linear.

    Raises
    ------
    ValueError
        If K is odd or < 2, n, d, L or a lam is out of range, d < K, or lam is so large that
        beta* = 0.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, the construction in the proof of Theorem 1, and Theorem 6 (the low-rank
    point whose Hessian it compares with DNC's) (docs/math.md §6.6, §6.13).

    Examples
    --------
    >>> from nclab.ufm.objective import parts
    >>> lp = low_rank_critical_point(4, 2, 4, 2, 0.01)
    >>> lp.rank, round(lp.scale, 6), round(lp.loss, 6)
    (2, 4.39308, 0.185514)
    >>> round(float(parts(lp.spec, lp.params)["loss"][0]), 6)
    0.185514
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    if K % 2:
        fail("K", K, "an even number (GK's block construction is a critical point only for even K)")
    lam_bar = effective_lambda(lam, L, lam_H=lam_H, lam_W=lam_W)
    beta, loss = low_rank_optimum(K, n, L, lam_bar)
    if beta == 0.0:
        fail("lam", lam_bar, "small enough that the low-rank critical point exists")
    M = beta * block_matrix(K)
    return _point("low_rank", M, beta, loss, K, n, d, L, lam, lam_H, lam_W, "linear", seeds, rotate, dtype, device)
