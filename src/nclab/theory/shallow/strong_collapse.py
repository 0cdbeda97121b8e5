"""Strong neural collapse in the squared-loss UFM with bias (Mixon, Parshall, Pi, SampTA 2022).

Paper: Mixon, Parshall, Pi, "Neural collapse with unconstrained features" (MPP, arXiv
2011.11619). C classes, N samples per class, feature dimension p; H in R^{p x CN}
(class-ordered columns), W in R^{C x p}, b in R^C, Y = I_C (x) 1_N^T. Risk (docs/math.md §5.1):

    R_e(H, W, b) = 1/(2CN) ||W H + b 1^T - Y||_F^2

Strong NC (MPP eq. snc1-snc3): W W^T = sqrt(N) P (P = I - 11^T/C), H = (1/sqrt(N)) (W (x) 1_N)^T,
b = 1/C 1_C; zero risk and ||W||_F^2 = ||H||_F^2 = sqrt(N)(C - 1).

Invariant subspace (derived, docs/math.md §5.3): S = {H = (W (x) 1_N)^T/sqrt(N), 1^T W = 0, b in span(1)}, of
dimension (C-1)p + 1, invariant under gradient descent on R_e. Orthogonal projection in the
norm ||(H, W, b)||_E^2 = ||H||^2 + ||W||^2 + ||b||^2::

    W' = (1/2) P (W + Y H^T/sqrt(N)),  H' = (W' (x) 1_N)^T/sqrt(N),  b' = mean(b) 1.

On S with b = beta 1: R_e = 1/(2C) [sum_{i<=C-1} (sigma_i(W)^2/sqrt(N) - 1)^2 + (C beta - 1)^2],
and gradient flow gives d sigma/dt = sigma (1 - sigma^2/sqrt(N)) / (C sqrt(N)),
d beta/dt = -(beta - 1/C).
All functions are batched over leading axes: H (..., p, CN), W (..., C, p), b (..., C).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from nclab._tensor import as_float_tensor
from nclab._validation import check_int, check_real, fail
from nclab.theory._checks import check_matrix
from nclab.geometry import center, centering_matrix, random_frame, simplex_basis
from nclab.layout import class_ordered_sums, one_hot_targets, repeat_columns

__all__ = [
    "strong_nc_point",
    "strong_nc_errors",
    "mixon_risk",
    "mixon_gradients",
    "project_S",
    "distance_to_S",
    "S_dimension",
    "risk_on_S",
    "flow_on_S",
]


def _check_point(H: Any, W: Any, b: Any, N: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int, int]:
    """(H, W, b, N, C, p) of a point of MPP's UFM, checked: W (..., C, p), H (..., p, C N), b (..., C)."""
    N = check_int("N", N, minimum=1)
    W = check_matrix(W, "W")
    C, p = W.shape[-2:]
    if C < 2:
        fail("W", f"an array of shape {tuple(W.shape)}", "C >= 2 rows (one per class)")
    H = check_matrix(H, "H")
    if H.shape[-2:] != (p, C * N):
        fail("H", f"an array of shape {tuple(H.shape)}", f"shape (..., {p}, {C * N}) to match W (C={C}, p={p}) and N={N}")
    b = check_matrix(b, "b", min_ndim=1)
    if b.shape[-1] != C:
        fail("b", f"an array of shape {tuple(b.shape)}", f"shape (..., {C})")
    return H, W, b, N, C, p


def strong_nc_point(
    C: int,
    N: int,
    p: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A strong-NC point (H, W, b) of MPP: W W^T = sqrt(N) P, H = (W (x) 1_N)^T/sqrt(N), b = 1/C.

    W = N^{1/4} U Q^T with U an orthonormal basis of range(P) (C x (C-1)) and Q (p x (C-1))
    with orthonormal columns: the first C-1 coordinates, or Haar-random if ``generator`` is given.
    Requires p >= C - 1 (docs/math.md §5.2).

    Parameters
    ----------
    C : int
        Number of classes, >= 2.
    N : int
        Samples per class, >= 1.
    p : int
        Feature dimension, >= C - 1.
    generator : torch.Generator, optional
        Draws a Haar-random Q when given.
    dtype : torch.dtype, optional
        Element type (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    H : torch.Tensor, shape (p, C N)
    W : torch.Tensor, shape (C, p)
    b : torch.Tensor, shape (C,)

    Raises
    ------
    ValueError
        If ``p < C - 1`` or an argument is not a positive integer.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619, strong neural collapse (snc1-snc3).

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> H.shape, W.shape, b.shape
    (torch.Size([4, 6]), torch.Size([3, 4]), torch.Size([3]))
    >>> bool(mixon_risk(H, W, b, 2) < 1e-28)
    True
    """
    C = check_int("C", C, minimum=2)
    N = check_int("N", N, minimum=1)
    p = check_int("p", p, minimum=1)
    if p < C - 1:
        fail("p", p, f">= C - 1 = {C - 1} (a simplex of C classes needs C - 1 dimensions)")
    if generator is None:
        Q = torch.eye(p, C - 1, dtype=torch.float64)
    else:
        Q = random_frame(p, C - 1, generator=generator)
    W = N ** 0.25 * simplex_basis(C) @ Q.mT
    H = repeat_columns(W.mT, N) / math.sqrt(N)
    b = torch.full((C,), 1.0 / C, dtype=torch.float64)
    return tuple(x.to(dtype=dtype, device=device) for x in (H, W, b))


def strong_nc_errors(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int) -> dict[str, torch.Tensor]:
    """MPP Fig. 1's three errors: ||W W^T - sqrt(N) P||_F, ||H - (W (x) 1_N)^T/sqrt(N)||_F / ||H||_F,
    ||b - 1/C||_2. Returns tensors of the leading (batch) shape under keys ``WWt``, ``H``, ``b``.

    Parameters
    ----------
    H : torch.Tensor, shape (..., p, C N)
        Class-ordered features.
    W : torch.Tensor, shape (..., C, p)
        Classifier.
    b : torch.Tensor, shape (..., C)
        Bias.
    N : int
        Samples per class.

    Returns
    -------
    dict of str to torch.Tensor
        The errors under ``WWt``, ``H`` and ``b``.

    Raises
    ------
    ValueError
        If ``H``, ``W`` or ``b`` is not a real, finite, non-empty array, their shapes do not
        agree with each other and ``N``, or ``N < 1``.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619, Figure 1 (docs/math.md §5.5).

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> {k: round(float(v), 6) for k, v in strong_nc_errors(H, W, b, 2).items()}
    {'WWt': 0.0, 'H': 0.0, 'b': 0.0}
    """
    H, W, b, N, C, _ = _check_point(H, W, b, N)
    P = centering_matrix(C, dtype=W.dtype, device=W.device)
    e1 = torch.linalg.matrix_norm(W @ W.mT - math.sqrt(N) * P)
    target = repeat_columns(W.mT, N) / math.sqrt(N)
    e2 = torch.linalg.matrix_norm(H - target) / torch.linalg.matrix_norm(H)
    e3 = torch.linalg.vector_norm(b - 1.0 / C, dim=-1)
    return {"WWt": e1, "H": e2, "b": e3}


def mixon_risk(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int) -> torch.Tensor:
    """R_e(H, W, b) = 1/(2CN) ||W H + b 1^T - Y||_F^2 (MPP; docs/math.md §5.1), batched.

    Parameters
    ----------
    H : torch.Tensor, shape (..., p, C N)
        Class-ordered features.
    W : torch.Tensor, shape (..., C, p)
        Classifier.
    b : torch.Tensor, shape (..., C)
        Bias.
    N : int
        Samples per class.

    Returns
    -------
    torch.Tensor
        The risk, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``H``, ``W`` or ``b`` is not a real, finite, non-empty array, their shapes do not
        agree with each other and ``N``, or ``N < 1``.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619, the squared-loss risk.

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> round(float(mixon_risk(H, W, 0 * b, 2)), 6)  # without the bias 1/C
    0.166667
    """
    H, W, b, N, C, _ = _check_point(H, W, b, N)
    Y = one_hot_targets(C, N, dtype=H.dtype, device=H.device)
    return (W @ H + b.unsqueeze(-1) - Y).square().sum((-2, -1)) / (2 * C * N)


def mixon_gradients(
    H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dH, dW, db) of :func:`mixon_risk`: with E = W H + b 1^T - Y,
    dH = W^T E/(CN), dW = E H^T/(CN), db = E 1/(CN).

    Parameters
    ----------
    H : torch.Tensor, shape (..., p, C N)
        Class-ordered features.
    W : torch.Tensor, shape (..., C, p)
        Classifier.
    b : torch.Tensor, shape (..., C)
        Bias.
    N : int
        Samples per class.

    Returns
    -------
    dH : torch.Tensor, shape (..., p, C N)
    dW : torch.Tensor, shape (..., C, p)
    db : torch.Tensor, shape (..., C)

    Raises
    ------
    ValueError
        If ``H``, ``W`` or ``b`` is not a real, finite, non-empty array, their shapes do not
        agree with each other and ``N``, or ``N < 1``.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619.

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> all(bool(g.abs().max() < 1e-12) for g in mixon_gradients(H, W, b, 2))
    True
    """
    H, W, b, N, C, _ = _check_point(H, W, b, N)
    Y = one_hot_targets(C, N, dtype=H.dtype, device=H.device)
    E = (W @ H + b.unsqueeze(-1) - Y) / (C * N)
    return W.mT @ E, E @ H.mT, E.sum(-1)


def project_S(
    H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orthogonal projection Pi_S onto the invariant subspace S in the ||.||_E inner product.

    W' = (1/2) P (W + Y H^T/sqrt(N)), H' = (W' (x) 1_N)^T/sqrt(N), b' = mean(b) 1 (derived, docs/math.md §5.3).

    Parameters
    ----------
    H : torch.Tensor, shape (..., p, C N)
        Class-ordered features.
    W : torch.Tensor, shape (..., C, p)
        Classifier.
    b : torch.Tensor, shape (..., C)
        Bias.
    N : int
        Samples per class.

    Returns
    -------
    H' : torch.Tensor, shape (..., p, C N)
    W' : torch.Tensor, shape (..., C, p)
    b' : torch.Tensor, shape (..., C)

    Raises
    ------
    ValueError
        If ``H``, ``W`` or ``b`` is not a real, finite, non-empty array, their shapes do not
        agree with each other and ``N``, or ``N < 1``.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619 (the subspace S; the projection is derived by us).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> Z = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    >>> P = project_S(*Z, torch.zeros(3, dtype=torch.float64), 2)
    >>> bool(distance_to_S(*P, 2) < 1e-12)
    True
    """
    H, W, b, N, C, p = _check_point(H, W, b, N)
    class_sums = class_ordered_sums(H, N).mT  # (..., C, p) = Y H^T
    Wp = 0.5 * (W + class_sums / math.sqrt(N))
    Wp = center(Wp)  # P (.)
    Hp = repeat_columns(Wp.mT, N) / math.sqrt(N)
    bp = b.mean(-1, keepdim=True).expand_as(b).clone()
    return Hp, Wp, bp


def _enorm(H, W, b):
    return torch.sqrt(H.square().sum((-2, -1)) + W.square().sum((-2, -1)) + b.square().sum(-1))


def distance_to_S(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, N: int, *, relative: bool = True) -> torch.Tensor:
    """||Z - Pi_S Z||_E / ||Z||_E (MPP Fig. 2), or the absolute distance if not ``relative``.

    Parameters
    ----------
    H : torch.Tensor, shape (..., p, C N)
        Class-ordered features.
    W : torch.Tensor, shape (..., C, p)
        Classifier.
    b : torch.Tensor, shape (..., C)
        Bias.
    N : int
        Samples per class.
    relative : bool, optional
        Divide by ||Z||_E (default True).

    Returns
    -------
    torch.Tensor
        The distance, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``H``, ``W`` or ``b`` is not a real, finite, non-empty array, their shapes do not
        agree with each other and ``N``, or ``N < 1``.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619, Figure 2 (docs/math.md §5.3).

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> round(float(distance_to_S(H, W, b, 2)), 6)
    0.0
    """
    H, W, b, N, _, _ = _check_point(H, W, b, N)
    Hp, Wp, bp = project_S(H, W, b, N)
    dist = _enorm(H - Hp, W - Wp, b - bp)
    return dist / _enorm(H, W, b) if relative else dist


def S_dimension(C: int, p: int) -> int:
    """dim S = (C - 1) p + 1 (W with zero column sums, and b in span(1)).

    Parameters
    ----------
    C : int
        Number of classes, >= 2.
    p : int
        Feature dimension, >= 1.

    Returns
    -------
    int
        The dimension of S.

    Raises
    ------
    ValueError
        If ``C`` or ``p`` is out of range.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619 (docs/math.md §5.3).

    Examples
    --------
    >>> S_dimension(3, 4)
    9
    """
    return (check_int("C", C, minimum=2) - 1) * check_int("p", p, minimum=1) + 1


def risk_on_S(W: torch.Tensor, beta: torch.Tensor | float, N: int) -> torch.Tensor:
    """R_e on S from the singular values of W: 1/(2C) [sum_{i<=C-1} (sigma_i^2/sqrt(N) - 1)^2 + (C beta - 1)^2].

    W (..., C, p) with 1^T W = 0 (the point (W, H(W), beta 1) of S); sigma_i the C - 1 largest
    singular values (zeros if p < C - 1). Derived from MPP's risk decomposition on S
    (docs/math.md §5.4).

    Parameters
    ----------
    W : torch.Tensor, shape (..., C, p)
        Classifier with zero column sums.
    beta : float or torch.Tensor
        The bias is beta 1.
    N : int
        Samples per class.

    Returns
    -------
    torch.Tensor
        The risk, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``W`` is not a real, finite, non-empty array of two or more axes, ``beta`` is not
        real and finite, or ``N`` < 1.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619.

    Examples
    --------
    >>> H, W, b = strong_nc_point(3, 2, 4)
    >>> bool(risk_on_S(W, 1 / 3, 2) < 1e-28)
    True
    """
    W = check_matrix(W, "W")
    N = check_int("N", N, minimum=1)
    C = W.shape[-2]
    s = torch.linalg.svdvals(W)[..., : C - 1]
    if s.shape[-1] < C - 1:
        s = torch.cat([s, s.new_zeros(*s.shape[:-1], C - 1 - s.shape[-1])], dim=-1)
    beta = as_float_tensor(beta, "beta", dtype=W.dtype, device=W.device)
    return ((s.square() / math.sqrt(N) - 1).square().sum(-1) + (C * beta - 1).square()) / (2 * C)


def flow_on_S(sigma0: torch.Tensor | float, beta0: float, t: torch.Tensor | float, C: int, N: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradient flow of R_e on S: (sigma_i(t), beta(t)).

    d sigma/dt = sigma (1 - sigma^2/sqrt(N)) / (C sqrt(N)) (derived, docs/math.md §5.4),
    so u = sigma^2/sqrt(N) is logistic: u(t) = u0 e^{2at} / (1 - u0 + u0 e^{2at}), a = 1/(C sqrt(N));
    d beta/dt = -(beta - 1/C), beta(t) = 1/C + (beta0 - 1/C) e^{-t}. Each sigma_i moves on its own.

    Parameters
    ----------
    sigma0 : float or torch.Tensor
        Initial singular values.
    beta0 : float
        Initial bias coefficient.
    t : float or torch.Tensor
        Times (broadcast with ``sigma0``).
    C : int
        Number of classes, >= 2.
    N : int
        Samples per class, >= 1.

    Returns
    -------
    sigma : torch.Tensor
        Singular values at ``t``.
    beta : torch.Tensor
        Bias coefficient at ``t``.

    Raises
    ------
    ValueError
        If ``C`` or ``N`` is out of range, a value is not real and finite, or a time is negative.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619 (the flow on S is derived by us).

    Examples
    --------
    >>> s, b = flow_on_S(0.5, 0.0, 1.0, 3, 2)
    >>> round(float(s), 6), round(float(b), 6)
    (0.60168, 0.210707)
    """
    C = check_int("C", C, minimum=2)
    N = check_int("N", N, minimum=1)
    sigma0 = as_float_tensor(sigma0, "sigma0", dtype=torch.float64)
    beta0 = check_real("beta0", beta0)
    t = as_float_tensor(t, "t", dtype=torch.float64)
    if t.numel() and bool((t < 0).any()):
        fail("t", f"times down to {float(t.min()):g}", "times >= 0")
    a = 1.0 / (C * math.sqrt(N))
    u0 = sigma0.square() / math.sqrt(N)
    u = u0 / (u0 + (1 - u0) * torch.exp(-2 * a * t))  # = u0 e^{2at} / (1 - u0 + u0 e^{2at}), without overflow
    sigma = torch.sqrt(u * math.sqrt(N))
    beta = 1.0 / C + (beta0 - 1.0 / C) * torch.exp(-t)
    return sigma, beta
