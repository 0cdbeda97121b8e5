"""Geometry of neural collapse: the simplex centring matrix, simplex ETFs and random frames.

Notation (docs/math.md §1): K classes, n samples per class, N = Kn.

- P = I_K - (1/K) 1 1^T, the simplex centring matrix.
- A simplex ETF is K vectors whose Gram matrix is scale^2 * K/(K-1) * P.

This module is the one home of these formulas: metrics, theory and the UFM engine call it
instead of rebuilding P or the ETF; :func:`center` applies P along an axis (as ``x - mean``).
The class-ordered layout of the UFMs (Y, labels, column-block means) lives in
:mod:`nclab.layout`, the statistics of labelled features (class means, Sigma_W, Sigma_B) in
:mod:`nclab.classwise`.
"""
from __future__ import annotations

import torch

from nclab._validation import check_int, check_real, fail


def centering_matrix(K: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """P = I_K - (1/K) 1 1^T (K x K).

    The simplex centring matrix of docs/math.md §1.2: the orthogonal projector onto
    {x : 1^T x = 0}.

    Parameters
    ----------
    K : int
        Number of classes, at least 1.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result (default: torch's default device).

    Returns
    -------
    torch.Tensor, shape (K, K)
        The matrix P.

    Raises
    ------
    ValueError
        If ``K`` is not an integer >= 1 (the message names ``K``).

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117 (definition of the simplex ETF).

    Examples
    --------
    >>> P = centering_matrix(3)
    >>> P.shape, bool(torch.allclose(P @ P, P))
    (torch.Size([3, 3]), True)
    >>> round(P[0, 1].item(), 6)
    -0.333333
    """
    K = check_int("K", K, minimum=1)
    return torch.eye(K, dtype=dtype, device=device) - torch.full((K, K), 1.0 / K, dtype=dtype, device=device)


def etf_gram(K: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised target Gram ETF* = P / ||P||_F = P / sqrt(K - 1) (THN, Zhu et al.).

    The target of the NC2 ETF error (docs/math.md §1.2 and §2.4).

    Parameters
    ----------
    K : int
        Number of classes, at least 2.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K, K)
        P / sqrt(K - 1), of unit Frobenius norm.

    Raises
    ------
    ValueError
        If ``K`` is not an integer >= 2.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658 (the NC2 metric of Section 2).

    Examples
    --------
    >>> G = etf_gram(4)
    >>> round(torch.linalg.matrix_norm(G).item(), 6)
    1.0
    """
    K = check_int("K", K, minimum=2)
    return centering_matrix(K, dtype=dtype, device=device) / (K - 1) ** 0.5


def center(x: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """P applied along axis ``dim``: ``x - mean(x, dim)`` (e.g. rows (..., K, d) -> P M).

    Parameters
    ----------
    x : torch.Tensor
        The array to centre.
    dim : int, optional
        The axis along which the mean is removed (default -2: the rows of (..., K, d)).

    Returns
    -------
    torch.Tensor
        ``x`` minus its mean along ``dim``, same shape as ``x``.

    Examples
    --------
    >>> center(torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)).tolist()
    [[-1.0, -2.0], [1.0, 2.0]]
    """
    return x - x.mean(dim=dim, keepdim=True)


def random_frame(
    d: int, k: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """A Haar-random d x k matrix with orthonormal columns (k <= d).

    QR of a float64 Gaussian drawn from ``generator`` with the sign fix (R's diagonal made
    positive), cast to ``dtype``/``device`` afterwards: the same draw on every device.

    Parameters
    ----------
    d : int
        Ambient dimension, at least 1.
    k : int
        Number of columns, 1 <= k <= d.
    generator : torch.Generator, optional
        Source of the Gaussian draw (default: torch's global generator).
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (d, k)
        A matrix Q with Q^T Q = I_k.

    Raises
    ------
    ValueError
        If ``d`` or ``k`` is not a positive integer, or ``k > d``.

    Examples
    --------
    >>> Q = random_frame(5, 2, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(Q.T @ Q, torch.eye(2, dtype=torch.float64)))
    True
    """
    d, k = check_int("d", d, minimum=1), check_int("k", k, minimum=1)
    if k > d:
        fail("k", k, f"at most d = {d} orthonormal columns")
    q, r = torch.linalg.qr(torch.randn(d, k, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r)).unsqueeze(0)).to(dtype=dtype, device=device)


def random_orthogonal(
    d: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """A Haar-random d x d orthogonal matrix (:func:`random_frame` with k = d).

    Parameters
    ----------
    d : int
        Dimension, at least 1.
    generator : torch.Generator, optional
        Source of the Gaussian draw.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (d, d)
        An orthogonal matrix.

    Raises
    ------
    ValueError
        If ``d`` is not an integer >= 1.

    Examples
    --------
    >>> O = random_orthogonal(3, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(O @ O.T, torch.eye(3, dtype=torch.float64)))
    True
    """
    d = check_int("d", d, minimum=1)
    return random_frame(d, d, generator=generator, dtype=dtype, device=device)


def simplex_basis(K: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """An orthonormal basis U (K x (K-1)) of range(P) = {x : 1^T x = 0}; U U^T = P.

    A Helmert-type basis (docs/math.md §1.2): deterministic and exact.

    Parameters
    ----------
    K : int
        Number of classes, at least 2.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K, K - 1)
        Orthonormal columns spanning the vectors that sum to zero.

    Raises
    ------
    ValueError
        If ``K`` is not an integer >= 2.

    Examples
    --------
    >>> U = simplex_basis(4)
    >>> bool(torch.allclose(U @ U.T, centering_matrix(4)))
    True
    """
    K = check_int("K", K, minimum=2)
    # Helmert-type basis: deterministic and exact.
    U = torch.zeros(K, K - 1, dtype=torch.float64)
    for j in range(1, K):
        U[:j, j - 1] = 1.0
        U[j, j - 1] = -float(j)
        U[:, j - 1] /= (j * (j + 1)) ** 0.5
    return U.to(dtype=dtype, device=device)


def simplex_etf(
    K: int,
    d: int | None = None,
    *,
    scale: float = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """K simplex-ETF vectors in R^d as the rows of a (K, d) matrix.

    Rows have norm ``scale``, sum to zero, and have Gram matrix scale^2 K/(K-1) P
    (docs/math.md §1.2). Needs d >= K - 1 (default d = K). ``rotate`` applies a Haar-random
    orthogonal map of R^d drawn from ``generator``; otherwise the frame lies in the first K-1
    coordinates.

    Parameters
    ----------
    K : int
        Number of vectors, at least 2.
    d : int, optional
        Dimension, at least K - 1 (default K).
    scale : float, optional
        Norm of each row, >= 0 (default 1).
    rotate : bool, optional
        Apply a Haar-random rotation of R^d (default False).
    generator : torch.Generator, optional
        Source of the rotation when ``rotate`` is true.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K, d)
        The frame, one vector per row.

    Raises
    ------
    ValueError
        If ``K`` < 2, ``d`` < K - 1 or ``scale`` is negative or not finite.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117, Definition 1 (simplex ETF).

    Examples
    --------
    >>> M = simplex_etf(3, 2, scale=2.0)
    >>> [round(v, 6) for v in torch.linalg.vector_norm(M, dim=1).tolist()]
    [2.0, 2.0, 2.0]
    >>> round((M[0] @ M[1]).item() / 4, 6)  # cosine -1/(K-1)
    -0.5
    """
    K = check_int("K", K, minimum=2)
    d = K if d is None else check_int("d", d, minimum=1)
    if d < K - 1:
        fail("d", d, f"at least K - 1 = {K - 1} for a simplex ETF of K = {K} vectors")
    scale = check_real("scale", scale, minimum=0.0)
    frame = torch.zeros(K, d, dtype=torch.float64)
    frame[:, : K - 1] = simplex_basis(K) * (scale * (K / (K - 1)) ** 0.5)
    if rotate:
        frame = frame @ random_orthogonal(d, generator=generator)
    return frame.to(dtype=dtype, device=device)
