"""Global optima of the collapsed deep linear UFM and the minimal rank q_K (Garrod & Keating 2025, Thms 2-3).

The collapsed-class reduction (derived). Replacing every sample's logits by its class mean
lowers the mean cross-entropy (Jensen) and does not raise any singular value of Z (Z -> Z A with
A the orthogonal projection onto the class indicators, ||A|| = 1), so by GK Lemma 1 the deep
linear UFM's global minimum (d >= K, n samples per class) is the minimum over K x K logit
matrices M of

    F_L(M) = mean_k CE(M[:, k], k) + (lam/2)(L+1) sum_i (sqrt(n) s_i(M))^{2/(L+1)},

which is :func:`nclab.theory.deep.superiority.structure_loss` at scale 1 (the one home of this
formula). The Schatten term is not smooth at s_i = 0, so :func:`optimal_logits` minimises the
equivalent smooth problem, the collapsed deep UFM itself: L-BFGS over L + 1 factors F_l in
R^{K x K} of M = F_L ... F_0 with penalty (lam n^{1/(L+1)}/2) sum_l ||F_l||_F^2 (balanced factors
of Z = M (x) 1_n^T have ||H_1||^2 = n ||F_0||^2; rescaling spreads n over the factors), from
several random starts, keeping the best.

:func:`max_margin` searches for the largest diagonal-superiority margin of a rank-r matrix of unit
Frobenius norm (random samples and smooth-margin L-BFGS from random starts): a positive value is
a diagonally superior matrix of rank <= r; a maximum <= 0 over many starts is the numerical form
of "no diagonally superior matrix of rank r exists". :func:`random_superior` draws random
diagonally superior matrices of an exact rank.

References
----------
C. Garrod, J. P. Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
arXiv 2410.23169: Lemma 1 (the Schatten form), Theorem 2 (lower rank wins for large L), Theorem 3
(at most q_K normalised singular values of the optimum do not decay exponentially in L).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nclab._validation import check_int, check_real
from nclab.theory.deep.superiority import structure_loss, superiority_margin

__all__ = ["OptimalLogits", "optimal_logits", "normalised_spectrum", "decay_slope", "max_margin", "random_superior",
           "ZERO_RTOL"]

#: Normalised singular values s_i / s_1 at or below this count as exact zeros (the rtol of
#: :func:`nclab.theory.deep.schatten.schatten_regulariser`; L-BFGS leaves zeros at about 1e-16).
ZERO_RTOL = 1e-12


@dataclass
class OptimalLogits:
    """Result of :func:`optimal_logits`: the best K x K logit matrix, its objective (factor form and
    the reduced Schatten form of the same M) and every start's objective.

    Parameters
    ----------
    M : numpy.ndarray
        Shape (K, K), float64: the best class-level logits found (column k: class k's logits),
        M = F_L ... F_0.
    loss : float
        The factor objective at M: mean_k CE(M[:, k], k) + (lam n^{1/(L+1)}/2) sum_l ||F_l||_F^2.
    reduced : float
        F_L(M) of the module doc, the Schatten form at the same M (equal to ``loss`` at a
        balanced critical point).
    starts : list of float
        The final objective of every start, random starts first, then ``inits``.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1.

    Examples
    --------
    >>> res = OptimalLogits(M=np.eye(2), loss=0.5, reduced=0.5, starts=[0.5, 0.7])
    >>> res.M.shape, min(res.starts) == res.loss
    ((2, 2), True)
    """

    M: np.ndarray
    loss: float
    reduced: float
    starts: list[float]


def _product(F):
    M = F[0]
    for f in F[1:]:
        M = f @ M
    return M


def optimal_logits(K: int, L: int, lam: float, n: int = 1, *, starts: int = 4, seed: int = 0,
                   steps: int = 3000, init_scale: float = 3.0, inits=()) -> OptimalLogits:
    """Minimise the collapsed deep linear UFM over K x K logits (L-BFGS on L + 1 factors, float64).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    L : int
        Number of weight matrices, >= 1 (L + 1 factors).
    lam : float
        Weight decay, > 0.
    n : int, optional
        Samples per class, >= 1 (default 1).
    starts : int, optional
        Number of random starts, >= 1 (default 4); the best objective over all starts is kept.
    seed : int, optional
        Seed of the generator of the random starts (default 0).
    steps : int, optional
        L-BFGS iterations per start (strong Wolfe line search; default 3000).
    init_scale : float, optional
        Random factors are Gaussian with entries of standard deviation
        ``init_scale^{1/(L+1)} / sqrt(K)`` (default 3.0).
    inits : sequence of K x K arrays, optional
        Extra starts: balanced factors of each given logit matrix (e.g. a hand-built structure at
        its optimal scale), optimised like the random ones.

    Returns
    -------
    OptimalLogits
        ``loss`` is the factor objective, ``reduced`` is F_L(M) of the module doc at the same M
        (equal at a balanced critical point, GK Lemma 1).

    Raises
    ------
    ValueError
        If K, L, ``lam``, ``n`` or ``starts`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 and Theorems 1-3 (docs/math.md §6.3, §6.10).

    Examples
    --------
    K = 4, L = 3 lies in GK Theorem 1's region: the optimum is not DNC (rank 3) but has rank 2,
    with the loss of the block construction.

    >>> from nclab.theory.deep.low_rank import dnc_optimum, low_rank_optimum
    >>> res = optimal_logits(4, 3, 0.01, starts=2, steps=200)
    >>> [round(float(v), 3) for v in normalised_spectrum(res.M)]
    [1.0, 1.0, 0.0, 0.0]
    >>> round(res.loss, 6), round(res.reduced, 6), round(low_rank_optimum(4, 1, 3, 0.01)[1], 6)
    (0.139899, 0.139899, 0.139899)
    >>> res.loss < dnc_optimum(4, 1, 3, 0.01)[1]
    True
    """
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    lam = check_real("lam", lam, minimum=0.0, strict=True)
    n = check_int("n", n, minimum=1)
    starts = check_int("starts", starts, minimum=1)
    mu = lam * n ** (1.0 / (L + 1))
    y = torch.arange(K)
    g = torch.Generator().manual_seed(int(seed))
    best, values = None, []
    firsts = [_balanced(np.asarray(M0, dtype=np.float64), L) for M0 in inits]
    for j in range(starts + len(firsts)):
        if j < starts:
            F = [(torch.randn(K, K, generator=g, dtype=torch.float64) * init_scale ** (1.0 / (L + 1)) / math.sqrt(K))
                 .requires_grad_(True) for _ in range(L + 1)]
        else:
            F = [f.clone().requires_grad_(True) for f in firsts[j - starts]]
        opt = torch.optim.LBFGS(F, lr=1.0, max_iter=steps, tolerance_grad=1e-14, tolerance_change=1e-16,
                                history_size=50, line_search_fn="strong_wolfe")

        def objective():
            return torch.nn.functional.cross_entropy(_product(F).T, y) + 0.5 * mu * sum((f * f).sum() for f in F)

        def closure():
            opt.zero_grad()
            v = objective()
            v.backward()
            return v

        opt.step(closure)
        with torch.no_grad():
            v = float(objective())
            M = _product(F).numpy().copy()
        values.append(v)
        if best is None or v < best[0]:
            best = (v, M)
    v, M = best
    return OptimalLogits(M=M, loss=v, reduced=float(structure_loss(1.0, M, n, L, lam)), starts=values)


def _balanced(M: np.ndarray, L: int) -> list[torch.Tensor]:
    """Balanced factors of M = U S V^T: F_0 = S^a V^T, F_1..F_{L-1} = S^a, F_L = U S^a, a = 1/(L+1)."""
    U, S, Vt = np.linalg.svd(M)
    D = np.diag(S ** (1.0 / (L + 1)))
    F = [D @ Vt] + [D.copy() for _ in range(L - 1)] + [U @ D]
    return [torch.as_tensor(f, dtype=torch.float64) for f in F]


def normalised_spectrum(M, rtol: float = ZERO_RTOL) -> np.ndarray:
    """s_i(M) / s_1(M), descending, with values <= ``rtol`` set to exact 0 (all 0 when M = 0).

    Parameters
    ----------
    M : array_like
        A matrix (cast to float64), e.g. :attr:`OptimalLogits.M`.
    rtol : float, optional
        Normalised singular values at or below it become 0 (default :data:`ZERO_RTOL` = 1e-12).

    Returns
    -------
    numpy.ndarray
        Shape (min(M.shape),), float64, descending, first entry 1 (0 when M is 0 or not finite).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 3 (the normalised singular values of the optimum).

    Examples
    --------
    >>> normalised_spectrum(np.diag([4.0, 2.0, 1e-14])).tolist()
    [1.0, 0.5, 0.0]
    >>> normalised_spectrum(np.zeros((2, 2))).tolist()
    [0.0, 0.0]
    """
    s = np.linalg.svd(np.asarray(M, dtype=np.float64), compute_uv=False)
    if s[0] <= 0 or not np.isfinite(s[0]):
        return np.zeros_like(s)
    r = s / s[0]
    return np.where(r > rtol, r, 0.0)


def decay_slope(Ls, r, floor: float = ZERO_RTOL) -> dict:
    """Least-squares slope of log max(r, floor) against L, with its 95% t interval.

    Zeros are raised to ``floor``, so the slope is an upper bound on the true (more negative)
    slope: a decay shown on the floored values holds for the true ones. ``identically_zero``:
    every value is <= floor (decay faster than any exponential on the grid).

    Parameters
    ----------
    Ls : array_like
        The depths L, shape (G,).
    r : array_like
        A normalised singular value at each depth, shape (G,).
    floor : float, optional
        Values below it are raised to it before the log (default :data:`ZERO_RTOL`).

    Returns
    -------
    dict
        ``slope`` (float), ``interval`` ([low, high], the two-sided t interval at level
        :data:`nclab.experiments.rules.LEVEL` = 0.95) and ``identically_zero`` (bool). All
        values <= floor: slope -inf, interval [-inf, -inf]; otherwise with fewer than 3 depths:
        slope nan, interval [-inf, inf].

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 3 (exponential decay in L of all but q_K normalised singular values).

    Examples
    --------
    >>> out = decay_slope([2, 3, 4, 5], [0.5, 0.25, 0.125, 0.0625])
    >>> round(out["slope"], 6), [round(v, 6) for v in out["interval"]]  # slope log(1/2)
    (-0.693147, [-0.693147, -0.693147])
    >>> decay_slope([2, 3, 4], [0.0, 0.0, 0.0])
    {'slope': -inf, 'interval': [-inf, -inf], 'identically_zero': True}
    """
    from scipy import stats

    from nclab.experiments.rules import LEVEL

    x = np.asarray(Ls, dtype=float)
    v = np.maximum(np.asarray(r, dtype=float), floor)
    zero = bool(np.all(np.asarray(r) <= floor))
    if zero or x.size < 3:
        return {"slope": -math.inf if zero else math.nan, "interval": [-math.inf, -math.inf] if zero else
                [-math.inf, math.inf], "identically_zero": zero}
    fit = stats.linregress(x, np.log(v))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 2) * fit.stderr)
    return {"slope": float(fit.slope), "interval": [float(fit.slope) - half, float(fit.slope) + half],
            "identically_zero": False}


def max_margin(K: int, r: int, *, samples: int = 20000, starts: int = 20, steps: int = 300, seed: int = 0,
               temperature: float = 0.02) -> tuple[float, np.ndarray]:
    """The largest diagonal-superiority margin found over rank-r matrices A B^T with ||A|| = ||B|| = 1.

    Two searches: ``samples`` Gaussian (A, B) scored exactly (batched
    :func:`~nclab.theory.deep.superiority.superiority_margin`), then ``starts`` L-BFGS ascents of
    a smooth margin (-t logsumexp(-(M_kk - M_jk)/t) over j != k, t = ``temperature``) from the best
    samples and fresh random points, each scored exactly. Returns (margin, M) of the best. A
    positive margin exhibits a diagonally superior matrix of rank <= r; for r = 1, K >= 3 none
    exists (superiority.py's module doc), so every value found must be <= 0.

    Parameters
    ----------
    K : int
        Size of the matrices, >= 2.
    r : int
        Rank bound, >= 1 (A, B are K x r).
    samples : int, optional
        Number of random (A, B) pairs scored (default 20000).
    starts : int, optional
        Number of L-BFGS ascents (default 20): the first half from the best samples, the rest
        from fresh Gaussian points.
    steps : int, optional
        L-BFGS iterations per ascent (default 300).
    seed : int, optional
        Seed of the generator (default 0).
    temperature : float, optional
        Temperature t of the smooth margin (default 0.02).

    Returns
    -------
    margin : float
        The best margin min_k (M_kk - max_{j != k} M_jk) found.
    M : numpy.ndarray
        Shape (K, K): the matrix that has it, A B^T with ||A||_F = ||B||_F = 1 (so rank <= r
        and ||M||_F <= 1).

    Raises
    ------
    ValueError
        If K < 2 or r < 1 (or either is not an integer).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 3 (q_K, the minimal rank of a diagonally superior matrix;
    docs/math.md §6.10).

    Examples
    --------
    >>> m1, _ = max_margin(3, 1, samples=500, starts=2, steps=50)  # rank 1, K = 3: none exists
    >>> m2, M2 = max_margin(3, 2, samples=500, starts=2, steps=50)  # q_3 = 2
    >>> m1 <= 0, m2 > 0, int(np.linalg.matrix_rank(M2))
    (True, True, 2)
    """
    K = check_int("K", K, minimum=2)
    r = check_int("r", r, minimum=1)
    g = torch.Generator().manual_seed(int(seed))
    A = torch.randn(samples, K, r, generator=g, dtype=torch.float64)
    B = torch.randn(samples, K, r, generator=g, dtype=torch.float64)
    A = A / torch.linalg.matrix_norm(A, keepdim=True)
    B = B / torch.linalg.matrix_norm(B, keepdim=True)
    margins = superiority_margin(A @ B.mT)
    order = torch.argsort(margins, descending=True)
    i0 = int(order[0])
    best = (float(margins[i0]), (A[i0] @ B[i0].T).numpy())
    off = ~torch.eye(K, dtype=torch.bool)
    for s in range(starts):
        if s < starts // 2:
            a, b = A[int(order[s])].clone(), B[int(order[s])].clone()
        else:
            a, b = torch.randn(K, r, generator=g, dtype=torch.float64), torch.randn(K, r, generator=g, dtype=torch.float64)
        a.requires_grad_(True)
        b.requires_grad_(True)
        opt = torch.optim.LBFGS([a, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            M = (a / a.norm()) @ (b / b.norm()).T
            gaps = (torch.diagonal(M)[None, :] - M)[off]
            v = temperature * torch.logsumexp(-gaps / temperature, 0)  # minus the smooth margin
            v.backward()
            return v

        try:
            opt.step(closure)
        except RuntimeError:  # pragma: no cover - a degenerate start
            continue
        with torch.no_grad():
            M = (a / a.norm()) @ (b / b.norm()).T
            m = float(superiority_margin(M))
        if m > best[0]:
            best = (m, M.numpy().copy())
    return best


def random_superior(K: int, r: int, rng: np.random.Generator, *, spread: float = 0.3, min_margin: float = 0.01,
                    tries: int = 10000) -> np.ndarray:
    """A random diagonally superior K x K matrix of exact rank r (r <= K), unit Frobenius norm.

    M = X^T (X + spread * E): X in R^{r x K} with random unit columns (its Gram matrix X^T X is
    diagonally superior, GK's rank-2 construction in r dimensions), E Gaussian; drawn until M / ||M||_F
    has margin >= ``min_margin`` and numerical rank r (a tiny margin would put the optimal scale
    beyond any grid). Raises RuntimeError after ``tries`` draws.

    Parameters
    ----------
    K : int
        Size of the matrix, >= 2.
    r : int
        Its rank, 1 <= r <= K (r = 1 succeeds only for K = 2).
    rng : numpy.random.Generator
        Source of the draws.
    spread : float, optional
        Scale of the Gaussian perturbation E (default 0.3).
    min_margin : float, optional
        Least superiority margin of M / ||M||_F accepted (default 0.01).
    tries : int, optional
        Maximum number of draws (default 10000).

    Returns
    -------
    numpy.ndarray
        Shape (K, K), float64, unit Frobenius norm, numerical rank r (rtol 1e-9), margin >=
        ``min_margin``.

    Raises
    ------
    ValueError
        If K < 2, r < 1 or r > K.
    RuntimeError
        If no draw qualifies within ``tries``.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 2 (diagonally superior structures of different ranks;
    docs/math.md §6.10).

    Examples
    --------
    >>> M = random_superior(4, 2, np.random.default_rng(0))
    >>> M.shape, int(np.linalg.matrix_rank(M)), round(float(np.linalg.norm(M)), 12)
    ((4, 4), 2, 1.0)
    >>> superiority_margin(M) >= 0.01
    True
    """
    K = check_int("K", K, minimum=2)
    r = check_int("r", r, minimum=1)
    if r > K:
        raise ValueError(f"r = {r} must be <= K = {K}")
    for _ in range(tries):
        X = rng.standard_normal((r, K))
        X /= np.linalg.norm(X, axis=0, keepdims=True)
        M = X.T @ (X + spread * rng.standard_normal((r, K)))
        M = M / np.linalg.norm(M)
        s = np.linalg.svd(M, compute_uv=False)
        if superiority_margin(M) >= min_margin and int(np.sum(s > 1e-9 * s[0])) == r:
            return M
    raise RuntimeError(f"no diagonally superior matrix of rank {r} (K = {K}) in {tries} draws")
