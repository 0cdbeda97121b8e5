"""Closed forms of the deep UFM (Garrod & Keating 2025, "GK"): DNC and low-rank losses.

Model (GK Eq. 1, docs/math.md §6.1): Z = W_L ... W_1 H_1, loss = g(Z) + (lam/2) sum_l ||W_l||^2
+ (lam/2) ||H_1||^2, g = MEAN cross-entropy over N = Kn samples. ``L`` is the number of weight
matrices, so the regulariser has L + 1 factors. By GK Lemma 1 every critical point has balanced
factors, and the regulariser equals (lam/2)(L+1) sum_i s_i(Z)^{2/(L+1)}.

- DNC: Z = alpha P (x) 1_n^T, singular values alpha sqrt(n) (K - 1 times),
  L_DNC(alpha) = log(1 + (K-1) e^{-alpha}) + (lam/2)(L+1)(K-1)(alpha sqrt n)^{2/(L+1)}.
- Low rank (GK Thm 1 construction): Z = beta blockdiag([[1,-1],[-1,1]] x m) (x) 1_n^T for
  K = 2m; for K = 2m + 1 one extra class with 1 on its diagonal.

Per-parameter regularisation (lam_H for H_1, lam_W[l] for W_l): rescaling factor l by
sqrt(lam_l / lam_bar) keeps the product and turns sum_l lam_l ||F_l||^2 into
lam_bar sum_l ||F_l'||^2 with lam_bar = (lam_H prod_l lam_W[l])^{1/(L+1)}, the geometric mean
(``effective_lambda``). Every closed form below accepts ``lam_H``/``lam_W`` instead of ``lam``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from nclab._validation import check_int, check_real, fail

__all__ = [
    "effective_lambda",
    "dnc_loss",
    "low_rank_loss",
    "dnc_critical_points",
    "dnc_optimum",
    "low_rank_optimum",
    "theorem1_condition",
    "theorem1_applies",
    "theorem1_table",
    "theorem7_relu_rule",
]


# ---------------------------------------------------------------------------- inputs
def effective_lambda(
    lam: float | None = None,
    L: int = 1,
    *,
    lam_H: float | None = None,
    lam_W: float | Sequence[float] | None = None,
) -> float:
    """The single lam equivalent to per-parameter regularisation (derived, docs/math.md §6.2).

    With lam_H on H_1 and lam_W[l] on W_l the balanced minimum of the regulariser is
    (lam_bar/2)(L+1) sum_i s_i(Z)^{2/(L+1)} with lam_bar = (lam_H prod_l lam_W[l])^{1/(L+1)}
    (geometric mean; derived by rescaling each factor by sqrt(lam_l/lam_bar)). Missing
    lam_H/lam_W default to ``lam``. Every lam must be > 0.

    Parameters
    ----------
    lam : float or None, optional
        Common weight decay, > 0; used for whichever of ``lam_H``/``lam_W`` is not given. May be
        None only when both ``lam_H`` and ``lam_W`` are given.
    L : int, optional
        Number of weight matrices W_1..W_L, >= 1 (L + 1 regularised factors). Default 1.
    lam_H : float or None, optional
        Weight decay of the features H_1, > 0.
    lam_W : float, sequence of float or None, optional
        Weight decay of the weights: one number for every W_l, or L numbers (W_1..W_L), each > 0.

    Returns
    -------
    float
        lam_bar = (lam_H prod_l lam_W[l])^{1/(L+1)}; equal to ``lam`` when only ``lam`` is given.

    Raises
    ------
    ValueError
        If ``lam`` is None while ``lam_H`` or ``lam_W`` is missing, a lam is not a finite
        number > 0, ``L`` is not an integer >= 1, or ``lam_W`` is a sequence whose length is not L.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Eq. 1 (the regularised objective) and Lemma 1; the geometric mean is
    derived here, not stated in the paper (docs/math.md §6.2).

    Examples
    --------
    >>> round(effective_lambda(0.01, 2), 12)
    0.01
    >>> round(effective_lambda(L=2, lam_H=1e-4, lam_W=[1e-2, 1e-2]), 8)  # (1e-8)^(1/3)
    0.00215443
    """
    L = check_int("L", L, minimum=1)
    if lam is None and (lam_H is None or lam_W is None):
        fail("lam", lam, "a number > 0 unless both lam_H and lam_W are given")
    if lam is not None:
        lam = check_real("lam", lam, minimum=0.0, strict=True)
    lam_H = lam if lam_H is None else check_real("lam_H", lam_H, minimum=0.0, strict=True)
    if lam_W is None:
        layers = [lam] * L
    elif isinstance(lam_W, (list, tuple, np.ndarray)):
        if len(lam_W) != L:
            fail("lam_W", lam_W, f"one number or L = {L} numbers (W_1..W_L)")
        layers = [check_real(f"lam_W[{i}]", v, minimum=0.0, strict=True) for i, v in enumerate(lam_W)]
    else:
        layers = [check_real("lam_W", lam_W, minimum=0.0, strict=True)] * L
    logs = [math.log(lam_H)] + [math.log(v) for v in layers]
    return math.exp(sum(logs) / (L + 1))


def _check(K: int, n: int, L: int, lam, lam_H, lam_W) -> tuple[int, int, int, float]:
    K = check_int("K", K, minimum=2)
    n = check_int("n", n, minimum=1)
    L = check_int("L", L, minimum=1)
    return K, n, L, effective_lambda(lam, L, lam_H=lam_H, lam_W=lam_W)


# ---------------------------------------------------------------------------- losses
def dnc_loss(alpha, K: int, n: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None):
    """GK's DNC loss L_DNC(alpha) = log(1+(K-1)e^{-alpha}) + (lam/2)(L+1)(K-1)(alpha sqrt n)^{2/(L+1)}.

    Loss of the balanced DNC point Z = alpha P (x) 1_n^T (derived, docs/math.md §6.4; GK Thm 1 proof).
    ``alpha`` may be an array (alpha >= 0); returns float64 of the same shape.

    Parameters
    ----------
    alpha : float or array_like
        Scale(s) alpha >= 0 of the DNC structure alpha P, P = I_K - (1/K) 1 1^T.
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1 (N = K n).
    L : int
        Number of weight matrices, >= 1 (L + 1 factors).
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, combined by :func:`effective_lambda`.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The loss (mean cross-entropy + regulariser), float64, of the shape of ``alpha``;
        L_DNC(0) = log K.

    Raises
    ------
    ValueError
        If ``alpha`` has a negative or non-finite entry, or K, n, L or a lam is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Eq. 1, Lemma 1 and the proof of Theorem 1 (docs/math.md §6.4).

    Examples
    --------
    >>> import math
    >>> bool(dnc_loss(0.0, 3, 2, 2, 0.01) == math.log(3))
    True
    >>> [round(float(v), 6) for v in dnc_loss([1.0, 5.0], 3, 2, 2, 0.01)]
    [0.589242, 0.123907]
    """
    K, n, L, lam = _check(K, n, L, lam, lam_H, lam_W)
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        fail("alpha", alpha, "finite numbers >= 0")
    fit = np.log1p((K - 1) * np.exp(-a))
    reg = 0.5 * lam * (L + 1) * (K - 1) * (a * math.sqrt(n)) ** (2.0 / (L + 1))
    return fit + reg


def low_rank_loss(beta, K: int, n: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None):
    """Loss of GK's block low-rank construction at scale ``beta`` (balanced factors).

    K = 2m: fit log(1 + e^{-2beta} + (K-2)e^{-beta}), singular values 2 beta sqrt n (m times).
    K = 2m + 1: fit [(K-1) log(1+e^{-2beta}+(K-2)e^{-beta}) + log(1+(K-1)e^{-beta})]/K, singular
    values 2 beta sqrt n (m times) and beta sqrt n. Regulariser (lam/2)(L+1) sum s^{2/(L+1)}.

    Parameters
    ----------
    beta : float or array_like
        Scale(s) beta >= 0 of the structure beta blockdiag([[1,-1],[-1,1]] x m) (plus a 1 on the
        last diagonal entry for odd K; :func:`~nclab.theory.deep.critical_points.block_matrix`).
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 1 (L + 1 factors).
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, combined by :func:`effective_lambda`.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The loss (mean cross-entropy + regulariser), float64, of the shape of ``beta``. The fit
        uses ``log1p`` so it keeps relative precision below float64's epsilon (docs/math.md §6.9).

    Raises
    ------
    ValueError
        If ``beta`` has a negative or non-finite entry, or K, n, L or a lam is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, the construction in the proof of Theorem 1, with Lemma 1 for the
    regulariser (docs/math.md §6.6).

    Examples
    --------
    >>> import math
    >>> bool(low_rank_loss(0.0, 4, 2, 2, 0.01) == math.log(4))
    True
    >>> [round(float(v), 6) for v in low_rank_loss([1.0, 5.0], 4, 2, 2, 0.01)]
    [0.686523, 0.188872]
    """
    K, n, L, lam = _check(K, n, L, lam, lam_H, lam_W)
    b = np.asarray(beta, dtype=np.float64)
    if np.any(b < 0) or not np.all(np.isfinite(b)):
        fail("beta", beta, "finite numbers >= 0")
    m, odd = divmod(K, 2)
    p = 2.0 / (L + 1)
    s = math.sqrt(n)
    if odd:
        reg = 0.5 * lam * (L + 1) * (m * (2 * b * s) ** p + (b * s) ** p)
    else:
        reg = 0.5 * lam * (L + 1) * m * (2 * b * s) ** p
    return _block_fit(b, K) + reg


def _block_fit(b: np.ndarray, K: int, odd_margin: float = 1.0) -> np.ndarray:
    """Mean cross-entropy of the block structure Z = beta X̄ ⊗ 1_nᵀ (GK Thm 1), beta = ``b``.

    A class of a pair block has logits (beta, -beta, 0, ..., 0): log(1 + e^{-2 beta} +
    (K - 2) e^{-beta}). For odd K the last class has the single logit ``odd_margin`` * beta
    (1 in the linear construction; 2 in Theorem 7's ReLU one, whose last diagonal entry is 2)
    and the others 0: log(1 + (K - 1) e^{-odd_margin beta}); the fit is the mean over classes.
    log1p keeps relative precision where the fit, ~(K - 2) e^{-beta}, is below float64's
    epsilon (beta > 37, small lam).
    """
    pair = np.log1p(np.exp(-2 * b) + (K - 2) * np.exp(-b))
    if K % 2 == 0:
        return pair
    return ((K - 1) * pair + np.log1p((K - 1) * np.exp(-odd_margin * b))) / K


# ---------------------------------------------------------------------------- critical points
def dnc_critical_points(K: int, n: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None) -> tuple[float, ...]:
    """Roots alpha > 0 of GK's DNC critical-point equation lam n^{1/(L+1)} = alpha^{(L-1)/(L+1)}/(e^alpha + K - 1).

    (dL_DNC/dalpha = 0, derived, docs/math.md §6.5.) For L >= 2 the right side rises from 0 and decays,
    so there are two roots (small, large) for small lam, none for large lam; the large root is
    the DNC branch (GK Thm 4). For L = 1 the right side decreases: at most one root. Returned
    sorted ascending (possibly empty).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 1.
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, combined by :func:`effective_lambda`.

    Returns
    -------
    tuple of float
        The roots alpha > 0, ascending: ``()`` (none), ``(alpha,)`` (L = 1) or
        ``(small, large)`` (L >= 2). The small root is solved for log(alpha), so it may be tiny.

    Raises
    ------
    ValueError
        If K, n, L or a lam is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 4 (the DNC critical point); the equation is derived from the DNC
    loss (docs/math.md §6.5).

    Examples
    --------
    >>> [f"{a:.4g}" for a in dnc_critical_points(10, 5, 2, 2 ** -10)]  # (small, large = DNC)
    ['4.657e-06', '7.038']
    >>> dnc_critical_points(10, 5, 2, 1.0)  # lam above the peak: no DNC critical point
    ()
    >>> [round(a, 6) for a in dnc_critical_points(4, 2, 1, 0.01)]
    [4.215244]
    """
    K, n, L, lam = _check(K, n, L, lam, lam_H, lam_W)
    target = lam * n ** (1.0 / (L + 1))
    q = (L - 1) / (L + 1)

    def rhs_log(a: float) -> float:  # log of the right side minus log target, stable for large a
        return q * math.log(a) - (a + math.log1p((K - 1) * math.exp(-a))) - math.log(target)

    hi = 1.0
    while rhs_log(hi) > 0 or hi < 1.0:
        hi *= 2.0
        if hi > 1e6:  # pragma: no cover - lam absurdly small
            fail("lam", lam, "a number large enough that the DNC scale is finite")
    if L == 1:
        if rhs_log(1e-300) <= 0:
            return ()
        t = brentq(lambda t: rhs_log(math.exp(t)), -690.0, math.log(hi), xtol=1e-14, rtol=1e-15, maxiter=1000)
        return (math.exp(t),)
    # maximum of q log a - log(e^a + K - 1): derivative q/a = e^a/(e^a+K-1)
    peak = brentq(lambda a: q / a - 1.0 / (1.0 + (K - 1) * math.exp(-a)), 1e-12, 1e3)
    if rhs_log(peak) <= 0:
        return ()
    # the small root can be tiny: solve for log(alpha)
    t_small = brentq(lambda t: rhs_log(math.exp(t)), -690.0, math.log(peak), xtol=1e-14, rtol=1e-15, maxiter=1000)
    large = brentq(rhs_log, peak, max(hi, 2 * peak), xtol=1e-15, rtol=1e-15, maxiter=500)
    small = math.exp(t_small)
    return (small, large)


def _minimise(f, K: int) -> tuple[float, float]:
    """Global minimiser of a scalar loss on [0, inf): log grid, then bounded Brent polish."""
    grid = np.concatenate([[0.0], np.logspace(-8, math.log10(200.0 + 4 * math.log(K)), 1500)])
    vals = f(grid)
    i = int(np.argmin(vals))
    if i == 0:
        return 0.0, float(vals[0])
    lo, hi = grid[i - 1], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(lambda x: float(f(x)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-13})
    x, v = float(res.x), float(res.fun)
    return (x, v) if v <= vals[i] else (float(grid[i]), float(vals[i]))


def dnc_optimum(K: int, n: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None) -> tuple[float, float]:
    """(alpha*, L_DNC(alpha*)): the optimal scale of the DNC solution and its loss (GK Thm 1).

    Global minimiser of :func:`dnc_loss` over alpha >= 0; alpha* = 0 (loss log K, the zero
    solution) when lam is so large that no DNC critical point beats it. Reference (K=10, n=5,
    L=2, lam=2^-10): alpha* = 7.0375, loss 0.090662.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 1.
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, combined by :func:`effective_lambda`.

    Returns
    -------
    tuple of float
        ``(alpha_star, loss)``: the large root of :func:`dnc_critical_points` and L_DNC there, or
        ``(0.0, log K)`` when that root does not beat the zero solution or does not exist.

    Raises
    ------
    ValueError
        If K, n, L or a lam is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 1 (the DNC side of the comparison) and Fig. 1's setting
    (docs/math.md §6.4, §6.8).

    Examples
    --------
    >>> alpha, loss = dnc_optimum(10, 5, 2, 2 ** -10)
    >>> round(alpha, 4), round(loss, 6)
    (7.0375, 0.090662)
    >>> dnc_optimum(4, 2, 2, 1.0) == (0.0, dnc_loss(0.0, 4, 2, 2, 1.0))  # the zero solution
    True
    """
    K, n, L, lam = _check(K, n, L, lam, lam_H, lam_W)
    roots = dnc_critical_points(K, n, L, lam)
    alpha = roots[-1] if roots else None
    if L == 1 or alpha is None:  # L = 1: the single root is the minimiser; else fall back to the grid
        return _minimise(lambda a: dnc_loss(a, K, n, L, lam), K) if alpha is None else (alpha, float(dnc_loss(alpha, K, n, L, lam)))
    loss = float(dnc_loss(alpha, K, n, L, lam))
    zero = math.log(K)  # L_DNC(0): the zero solution
    return (alpha, loss) if loss <= zero else (0.0, zero)


def low_rank_optimum(K: int, n: int, L: int, lam: float | None = None, *, lam_H=None, lam_W=None) -> tuple[float, float]:
    """(beta*, loss): optimal scale of GK's block low-rank construction and its loss (GK Thm 1).

    Global minimiser of :func:`low_rank_loss` over beta >= 0. Reference (K=10, n=5, L=2,
    lam=2^-10): beta* = 7.047, loss 0.080013; (L=3, lam=2^-9): loss 0.116525.
    For odd K the construction is an upper bound on the best low-rank loss, not a critical point.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1.
    L : int
        Number of weight matrices, >= 1.
    lam : float or None, optional
        Weight decay, > 0 (or give ``lam_H`` and ``lam_W``).
    lam_H, lam_W : float, sequence of float or None, optional
        Per-parameter weight decays, combined by :func:`effective_lambda`.

    Returns
    -------
    tuple of float
        ``(beta_star, loss)``: the minimiser on a log grid of [0, 200 + 4 log K], polished by
        Brent and by a root of the analytic derivative; ``(0.0, log K)`` when zero wins.

    Raises
    ------
    ValueError
        If K, n, L or a lam is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 1 (the low-rank construction of its proof) (docs/math.md §6.6, §6.8).

    Examples
    --------
    >>> beta, loss = low_rank_optimum(10, 5, 2, 2 ** -10)
    >>> round(beta, 3), round(loss, 6)
    (7.047, 0.080013)
    >>> round(low_rank_optimum(10, 5, 3, 2 ** -9)[1], 6)
    0.116525
    """
    K, n, L, lam = _check(K, n, L, lam, lam_H, lam_W)
    beta, loss = _minimise(lambda b: low_rank_loss(b, K, n, L, lam), K)
    if beta > 0.0:  # polish: root of the analytic derivative near the grid minimiser
        d = lambda b: _low_rank_slope(b, K, n, L, lam)  # noqa: E731
        lo, hi = beta * (1 - 1e-4), beta * (1 + 1e-4)
        if d(lo) < 0 < d(hi):
            beta = brentq(d, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=200)
            loss = float(low_rank_loss(beta, K, n, L, lam))
    return beta, loss


def _low_rank_slope(b: float, K: int, n: int, L: int, lam: float) -> float:
    """d/dbeta of :func:`low_rank_loss` (analytic)."""
    m, odd = divmod(K, 2)
    e1, e2 = math.exp(-b), math.exp(-2 * b)
    pair = -(2 * e2 + (K - 2) * e1) / (1 + e2 + (K - 2) * e1)
    p = 2.0 / (L + 1)
    s = math.sqrt(n)
    if odd:
        extra = -(K - 1) * e1 / (1 + (K - 1) * e1)
        fit = ((K - 1) * pair + extra) / K
        reg = 0.5 * lam * (L + 1) * p * b ** (p - 1) * (m * (2 * s) ** p + s ** p)
    else:
        fit = pair
        reg = 0.5 * lam * (L + 1) * p * b ** (p - 1) * m * (2 * s) ** p
    return fit + reg


# ---------------------------------------------------------------------------- Theorems 1 and 7
def theorem1_condition(K: int, L: int) -> bool:
    """GK Thm 1's equal-scale condition: the block construction has a smaller regulariser than DNC.

    At equal scale the block construction always fits better, and its regulariser is smaller
    iff m 2^{2/(L+1)} < 2m - 1 (K = 2m) or m 2^{2/(L+1)} + 1 < 2m (K = 2m + 1) (derived, docs/math.md §6.7). When
    it holds no DNC point is a global minimum (any lam > 0, n, d >= K).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    L : int
        Number of weight matrices, >= 1.

    Returns
    -------
    bool
        True when the block construction's regulariser is strictly below DNC's at equal scale.

    Raises
    ------
    ValueError
        If K < 2 or L < 1 (or either is not an integer).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 1 and its proof (docs/math.md §6.7).

    Examples
    --------
    >>> theorem1_condition(4, 2), theorem1_condition(4, 3), theorem1_condition(6, 2)
    (False, True, True)
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    m, odd = divmod(K, 2)
    lhs = m * 2.0 ** (2.0 / (L + 1)) + (1.0 if odd else 0.0)
    return bool(lhs < K - 1)


def theorem1_applies(K: int, L: int) -> bool:
    """The region stated in GK Thm 1 (text, docs/math.md §6.7): (K >= 4 and L >= 3) or (K >= 6 and L = 2).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    L : int
        Number of weight matrices, >= 1.

    Returns
    -------
    bool
        True inside the region of the theorem's statement (where DNC is not a global minimum).

    Raises
    ------
    ValueError
        If K < 2 or L < 1 (or either is not an integer).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 1.

    Examples
    --------
    >>> theorem1_applies(4, 3), theorem1_applies(5, 2), theorem1_applies(6, 2)
    (True, False, True)
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    return bool((K >= 4 and L >= 3) or (K >= 6 and L == 2))


#: Relative difference of the two optimal losses below which they are a tie (the 1-D minimisations
#: are accurate to about 1e-12 relative; at K = 2 the two structures coincide and differ by rounding).
TIE_RTOL = 1e-9


def theorem1_table(Ks: Sequence[int], Ls: Sequence[int], n: int, lam: float) -> list[dict]:
    """Rows (K, L, dnc_loss, low_rank_loss, alpha, beta, tie, low_rank_better, condition, theorem)
    over a grid (GK Thm 1). ``low_rank_better`` only beyond a tie (:data:`TIE_RTOL`).

    Parameters
    ----------
    Ks : sequence of int
        Numbers of classes, each >= 2.
    Ls : sequence of int
        Numbers of weight matrices, each >= 1.
    n : int
        Samples per class, >= 1.
    lam : float
        Weight decay, > 0.

    Returns
    -------
    list of dict
        One row per (K, L), K outer: ``alpha``/``dnc_loss`` from :func:`dnc_optimum`,
        ``beta``/``low_rank_loss`` from :func:`low_rank_optimum`, ``tie`` (relative difference
        <= :data:`TIE_RTOL`), ``low_rank_better`` (lower and not a tie), ``condition``
        (:func:`theorem1_condition`) and ``theorem`` (:func:`theorem1_applies`).

    Raises
    ------
    ValueError
        If a K, L, ``n`` or ``lam`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 1 (docs/math.md §6.7).

    Examples
    --------
    >>> rows = theorem1_table([4], [2, 3], 5, 2 ** -9)
    >>> [(r["L"], r["low_rank_better"], r["condition"], r["theorem"]) for r in rows]
    [(2, False, False, False), (3, True, True, True)]
    >>> round(rows[1]["dnc_loss"], 6), round(rows[1]["low_rank_loss"], 6)
    (0.049032, 0.045116)
    """
    rows = []
    for K in Ks:
        for L in Ls:
            alpha, ld = dnc_optimum(K, n, L, lam)
            beta, lr = low_rank_optimum(K, n, L, lam)
            tie = abs(lr - ld) <= TIE_RTOL * max(abs(ld), abs(lr))
            rows.append({
                "K": int(K), "L": int(L), "alpha": alpha, "dnc_loss": ld, "beta": beta,
                "low_rank_loss": lr, "tie": bool(tie), "low_rank_better": bool(lr < ld and not tie),
                "condition": theorem1_condition(K, L), "theorem": theorem1_applies(K, L),
            })
    return rows


def theorem7_relu_rule(K: int, L: int) -> bool:
    """GK Thm 7 (deep ReLU UFM) by parity of K, as stated in its proof: True where it applies.

    Text, docs/math.md §6.14.

    Even K: (L = 4 and K >= 14) or (L >= 5 and K >= 10); odd K: (L = 4 and K >= 17) or
    (L >= 5 and K >= 11), the sentences of GK's proof of Theorem 7 (appendix B.9 of arXiv v2).
    The main text states the simpler sufficient region K >= 10, L >= 5 or K >= 16, L = 4. The
    theorem is sufficient, not necessary: False means "not covered by Theorem 7", not "DNC is
    optimal". The lower bound it rests on (linear DNC loss <= ReLU DNC loss) is checked
    numerically by the ``garrod2025-relu`` experiment.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    L : int
        Number of weight matrices, >= 1.

    Returns
    -------
    bool
        True where Theorem 7 says DNC is not a global minimum of the deep ReLU UFM.

    Raises
    ------
    ValueError
        If K < 2 or L < 1 (or either is not an integer).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 7 and its proof (appendix B.9 of v2; docs/math.md §6.14).

    Examples
    --------
    >>> theorem7_relu_rule(10, 5), theorem7_relu_rule(10, 4), theorem7_relu_rule(14, 4)
    (True, False, True)
    >>> theorem7_relu_rule(11, 5), theorem7_relu_rule(15, 4), theorem7_relu_rule(17, 4)
    (True, False, True)
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    if K % 2 == 0:
        return bool((L == 4 and K >= 14) or (L >= 5 and K >= 10))
    return bool((L == 4 and K >= 17) or (L >= 5 and K >= 11))
