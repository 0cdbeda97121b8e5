"""Perturbation analysis of the anchored UFM around collapse (THN section 4, docs/math.md §4).

Paper: Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023.
Let (W^, H^) minimise f(.; H0) (THN Eq. 2) and perturb H0 by dH0; then, to first order,
vec dH = F vec dH0 with the exact map (A, B, C the Kn-scaled Hessian blocks of
:func:`nclab.theory.shallow.anchored.anchored_hessian_blocks`)

    F = beta (A - B C^{-1} B^T)^{-1}

and, for beta >> max(1, lam_H), the large-beta form (THN Eq. 5)

    F ~ (1 - lam_H/beta) I - (1/beta) I_N (x) W^T W + (1/beta) Z*,   Z* = B C^{-1} B^T.

Blocks F_{k,k'} (dn x dn) act from class k' of dH0 to class k of dH. THN Thm 4.2 (d > K,
lam_H lam_W < 1, H0 collapsed): F_kk full rank with sigma_max = 1 and
sigma_min = 1 - sqrt(lam_H/lam_W)/beta; F_kk' rank 1 with sigma_max = 2 lam_H (1 - c)/beta.
The whole spectrum of F_kk (derived, docs/math.md §4.5; c = sqrt(lam_H lam_W)): 1 (x (d-K)),
1 - lam_H/beta (x (d-K)(n-1)), 1 - sqrt(lam_H/lam_W)/beta (x K(n-1)),
1 - 2 lam_H (1-c)/beta (x (K-1)), 1 - 4 lam_H (1-c)/beta (x 1).
"""
from __future__ import annotations

import math

import torch

from nclab._validation import check_int, check_real, fail
from nclab.theory._checks import check_matrix, check_mse_point
from nclab.theory.shallow.anchored import anchored_hessian_blocks

__all__ = [
    "perturbation_map",
    "perturbation_map_large_beta",
    "weight_perturbation_map",
    "class_blocks",
    "block_singular_values",
    "intra_block_spectrum",
    "intra_block_spectrum_values",
    "inter_block_sigma_max",
    "thm42_singular_values",
    "check_thm42_assumptions",
]


def check_thm42_assumptions(K: int, d: int, lam_W: float, lam_H: float, beta: float) -> None:
    """Raise ``ValueError`` naming the assumption of THN Thm 4.2 that fails (d > K, c < 1, beta > 0).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    d : int
        Feature dimension, > K.
    lam_W, lam_H : float
        Regularisation strengths, > 0 with lam_H lam_W < 1.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        Naming ``d``, ``lam_H * lam_W`` or the out-of-range parameter.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2 (docs/math.md §4.4).

    Examples
    --------
    >>> check_thm42_assumptions(2, 3, 0.1, 0.1, 10.0)
    >>> check_thm42_assumptions(3, 3, 0.1, 0.1, 10.0)
    Traceback (most recent call last):
    ...
    ValueError: d must be > K = 3 (THN Thm 4.2 assumes d > K), got 3
    """
    K = check_int("K", K, minimum=2)
    d = check_int("d", d, minimum=1)
    if d <= K:
        fail("d", d, f"> K = {K} (THN Thm 4.2 assumes d > K)")
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0, strict=True)
    if lam_H * lam_W >= 1.0:
        fail("lam_H * lam_W", lam_H * lam_W, "< 1 (THN Thm 4.2 assumes lam_H lam_W < 1)")
    check_real("beta", beta, minimum=0.0, strict=True)


def _inputs(W, H, n, lam_W, lam_H, beta):
    W, H, n, _ = check_mse_point(W, H, n, batched=False)
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    beta = check_real("beta", beta, minimum=0.0, strict=True)
    return W, H, n, lam_W, lam_H, beta


def perturbation_map(W: torch.Tensor, H: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float) -> torch.Tensor:
    """Exact first-order map F (dN x dN) at a minimiser (W, H) of f(.; H0), THN section 4.

    F = beta (A - B C^{-1} B^T)^{-1} with the Kn-scaled Hessian blocks; vec dH = F vec dH0
    (docs/math.md §4.1). Dense: for small K, d, n.

    Parameters
    ----------
    W : torch.Tensor, shape (K, d)
        Classifier of the minimiser.
    H : torch.Tensor, shape (d, K n)
        Class-ordered features of the minimiser.
    n : int
        Samples per class.
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    torch.Tensor, shape (d N, d N)
        The map F.

    Raises
    ------
    ValueError
        If the shapes of ``W`` and ``H`` do not match K, d, n or a parameter is out of range.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Section 4.

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> W, H = mse_minimizer(2, 2, 3, 0.1, 0.1)
    >>> perturbation_map(W, H, 2, 0.1, 0.1, 10.0).shape
    torch.Size([12, 12])
    """
    W, H, n, lam_W, lam_H, beta = _inputs(W, H, n, lam_W, lam_H, beta)
    A, B, C = anchored_hessian_blocks(W, H, n, lam_W, lam_H, beta)
    schur = A - B @ torch.linalg.solve(C, B.mT)
    return beta * torch.linalg.inv(0.5 * (schur + schur.mT))


def perturbation_map_large_beta(
    W: torch.Tensor, H: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float
) -> torch.Tensor:
    """THN Eq. 5: F ~ (1 - lam_H/beta) I - (1/beta) I_N (x) W^T W + (1/beta) Z*, Z* = B C^{-1} B^T.

    Error O(beta^-2) against :func:`perturbation_map`. (W, H) is the collapsed minimiser
    (docs/math.md §4.3).

    Parameters
    ----------
    W : torch.Tensor, shape (K, d)
        Classifier of the minimiser.
    H : torch.Tensor, shape (d, K n)
        Class-ordered features of the minimiser.
    n : int
        Samples per class.
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    torch.Tensor, shape (d N, d N)
        The large-beta approximation of F.

    Raises
    ------
    ValueError
        If the shapes of ``W`` and ``H`` do not match K, d, n or a parameter is out of range.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 5.

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> W, H = mse_minimizer(2, 2, 3, 0.1, 0.1)
    >>> F = perturbation_map(W, H, 2, 0.1, 0.1, 10.0)
    >>> bool((F - perturbation_map_large_beta(W, H, 2, 0.1, 0.1, 10.0)).abs().max() < 0.01)
    True
    """
    W, H, n, lam_W, lam_H, beta = _inputs(W, H, n, lam_W, lam_H, beta)
    A, B, C = anchored_hessian_blocks(W, H, n, lam_W, lam_H, beta)
    Z = B @ torch.linalg.solve(C, B.mT)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    # A = I_N (x) W^T W + (lam_H + beta) I, so I - (A - beta I)/beta is the first two terms.
    return eye - (A - beta * eye) / beta + Z / beta


def weight_perturbation_map(
    W: torch.Tensor, H: torch.Tensor, n: int, lam_W: float, lam_H: float, beta: float
) -> torch.Tensor:
    """First-order map G (Kd x dN) of the classifier: vec dW = G vec dH0, THN Thm 4.1.

    Differentiating the stationarity conditions A dH + B dW = beta dH0 and B^T dH + C dW = 0
    (the Kn-scaled Hessian blocks of :func:`nclab.theory.shallow.anchored.anchored_hessian_blocks`)
    gives dW = -C^{-1} B^T dH, so G = -C^{-1} B^T F with F of :func:`perturbation_map`
    (derived, docs/math.md §4.7). Dense: for small K, d, n.

    Parameters
    ----------
    W : torch.Tensor, shape (K, d)
        Classifier of the minimiser.
    H : torch.Tensor, shape (d, K n)
        Class-ordered features of the minimiser.
    n : int
        Samples per class.
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    torch.Tensor, shape (K d, d N)
        The map G.

    Raises
    ------
    ValueError
        If the shapes of ``W`` and ``H`` do not match K, d, n or a parameter is out of range.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.1.

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> W, H = mse_minimizer(2, 2, 3, 0.1, 0.1)
    >>> weight_perturbation_map(W, H, 2, 0.1, 0.1, 10.0).shape
    torch.Size([6, 12])
    """
    W, H, n, lam_W, lam_H, beta = _inputs(W, H, n, lam_W, lam_H, beta)
    _, B, C = anchored_hessian_blocks(W, H, n, lam_W, lam_H, beta)
    return -torch.linalg.solve(C, B.mT @ perturbation_map(W, H, n, lam_W, lam_H, beta))


def class_blocks(F: torch.Tensor, K: int, n: int, d: int) -> torch.Tensor:
    """Blocks F_{k,k'} (dn x dn) of a (dKn x dKn) map as a (K, K, dn, dn) tensor (class-ordered vec).

    Parameters
    ----------
    F : torch.Tensor, shape (d K n, d K n)
        A map on vec of class-ordered features.
    K, n, d : int
        Classes, samples per class and feature dimension.

    Returns
    -------
    torch.Tensor, shape (K, K, d n, d n)
        Entry [k, k'] is the block from class k' to class k.

    Raises
    ------
    ValueError
        If ``F`` is not (d K n) x (d K n) or K, n, d are not positive integers.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Section 4.

    Examples
    --------
    >>> class_blocks(torch.eye(12, dtype=torch.float64), 2, 2, 3).shape
    torch.Size([2, 2, 6, 6])
    """
    K, n, d = check_int("K", K, minimum=2), check_int("n", n, minimum=1), check_int("d", d, minimum=1)
    F = check_matrix(F, "F", batched=False)
    m = d * n
    if tuple(F.shape) != (K * m, K * m):
        fail("F", f"an array of shape {tuple(F.shape)}", f"a ({K * m}, {K * m}) matrix for K={K}, n={n}, d={d}")
    return F.reshape(K, m, K, m).permute(0, 2, 1, 3)


def block_singular_values(F: torch.Tensor, K: int, n: int, d: int) -> torch.Tensor:
    """Singular values (descending) of every block F_{k,k'}: shape (K, K, dn).

    Parameters
    ----------
    F : torch.Tensor, shape (d K n, d K n)
        A map on vec of class-ordered features.
    K, n, d : int
        Classes, samples per class and feature dimension.

    Returns
    -------
    torch.Tensor, shape (K, K, d n)
        The singular values of each block.

    Raises
    ------
    ValueError
        As :func:`class_blocks`.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2.

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> W, H = mse_minimizer(2, 2, 3, 0.1, 0.1)
    >>> s = block_singular_values(perturbation_map(W, H, 2, 0.1, 0.1, 10.0), 2, 2, 3)
    >>> round(float(s[0, 0, 0]), 6)  # sigma_max(F_kk) = 1
    1.0
    """
    return torch.linalg.svdvals(class_blocks(F, K, n, d))


def intra_block_spectrum(K: int, n: int, d: int, lam_W: float, lam_H: float, beta: float) -> list[tuple[float, int]]:
    """Closed-form singular values of F_kk (Eq. 5 form) with multiplicities (derived, docs/math.md §4.5).

    The list is ``[(1, d-K), (1 - lam_H/beta, (d-K)(n-1)), (1 - sqrt(lam_H/lam_W)/beta, K(n-1)),
    (1 - 2 lam_H (1-c)/beta, K-1), (1 - 4 lam_H (1-c)/beta, 1)]`` with c = sqrt(lam_H lam_W); values
    are absolute values (singular values); zero multiplicities are dropped. Extends THN Thm 4.2.

    Parameters
    ----------
    K, n, d : int
        Classes, samples per class and feature dimension.
    lam_W, lam_H : float
        Regularisation strengths, > 0 with lam_H lam_W < 1.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    list of (float, int)
        (singular value, multiplicity) pairs.

    Raises
    ------
    ValueError
        If the assumptions of THN Thm 4.2 fail (:func:`check_thm42_assumptions`).

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2 and Eq. 5.

    Examples
    --------
    >>> [(round(v, 6), m) for v, m in intra_block_spectrum(2, 2, 3, 0.1, 0.1, 10.0)]
    [(1.0, 1), (0.99, 1), (0.9, 2), (0.982, 1), (0.964, 1)]
    """
    check_thm42_assumptions(K, d, lam_W, lam_H, beta)
    n = check_int("n", n, minimum=1)
    c = math.sqrt(lam_H * lam_W)
    items = [
        (1.0, d - K),
        (1.0 - lam_H / beta, (d - K) * (n - 1)),
        (1.0 - math.sqrt(lam_H / lam_W) / beta, K * (n - 1)),
        (1.0 - 2.0 * lam_H * (1.0 - c) / beta, K - 1),
        (1.0 - 4.0 * lam_H * (1.0 - c) / beta, 1),
    ]
    return [(abs(v), m) for v, m in items if m > 0]


def intra_block_spectrum_values(K: int, n: int, d: int, lam_W: float, lam_H: float, beta: float) -> torch.Tensor:
    """The dn closed-form singular values of F_kk, sorted descending (float64).

    Parameters
    ----------
    K, n, d : int
        Classes, samples per class and feature dimension.
    lam_W, lam_H, beta : float
        As in :func:`intra_block_spectrum`.

    Returns
    -------
    torch.Tensor, shape (d n,)
        The values of :func:`intra_block_spectrum` repeated by multiplicity.

    Raises
    ------
    ValueError
        If the assumptions of THN Thm 4.2 fail.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2 (docs/math.md §4.5).

    Examples
    --------
    >>> [round(v, 6) for v in intra_block_spectrum_values(2, 2, 3, 0.1, 0.1, 10.0).tolist()]
    [1.0, 0.99, 0.982, 0.964, 0.9, 0.9]
    """
    vals = [v for v, m in intra_block_spectrum(K, n, d, lam_W, lam_H, beta) for _ in range(m)]
    return torch.tensor(sorted(vals, reverse=True), dtype=torch.float64)


def inter_block_sigma_max(lam_W: float, lam_H: float, beta: float) -> float:
    """sigma_max(F_kk') = 2 lam_H (1 - sqrt(lam_H lam_W)) / beta, THN Thm 4.2 (the only nonzero one).

    Parameters
    ----------
    lam_W, lam_H : float
        Regularisation strengths, > 0.
    beta : float
        Anchor strength, > 0.

    Returns
    -------
    float
        The largest singular value of an inter-class block.

    Raises
    ------
    ValueError
        If a parameter is not a finite number > 0.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2 (docs/math.md §4.4).

    Examples
    --------
    >>> round(inter_block_sigma_max(0.1, 0.1, 10.0), 6)
    0.018
    """
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0, strict=True)
    beta = check_real("beta", beta, minimum=0.0, strict=True)
    return 2.0 * lam_H * (1.0 - math.sqrt(lam_H * lam_W)) / beta


def thm42_singular_values(K: int, d: int, lam_W: float, lam_H: float, beta: float) -> dict[str, float]:
    """THN Thm 4.2: sigma_max(F_kk) = 1, sigma_min(F_kk) = 1 - sqrt(lam_H/lam_W)/beta,
    sigma_max(F_kk') = 2 lam_H (1 - sqrt(lam_H lam_W))/beta, rank(F_kk') = 1.

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    d : int
        Feature dimension, > K.
    lam_W, lam_H, beta : float
        As in :func:`check_thm42_assumptions`.

    Returns
    -------
    dict
        Keys ``sigma_max_kk``, ``sigma_min_kk``, ``sigma_max_kk_prime``, ``rank_kk_prime``.

    Raises
    ------
    ValueError
        If the assumptions of THN Thm 4.2 fail.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 4.2 (docs/math.md §4.4).

    Examples
    --------
    >>> v = thm42_singular_values(2, 3, 0.1, 0.1, 10.0)
    >>> round(v["sigma_min_kk"], 6), v["rank_kk_prime"]
    (0.9, 1)
    """
    check_thm42_assumptions(K, d, lam_W, lam_H, beta)
    return {
        "sigma_max_kk": 1.0,
        "sigma_min_kk": 1.0 - math.sqrt(lam_H / lam_W) / beta,
        "sigma_max_kk_prime": inter_block_sigma_max(lam_W, lam_H, beta),
        "rank_kk_prime": 1,
    }
