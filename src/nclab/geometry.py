"""Geometry of neural collapse: simplex ETFs, targets, class statistics, Kronecker helpers.

Notation (docs/math.md §1): K classes, n samples per class, N = Kn. The papers keep features
as H in R^{d x N}; this module works sample-major, features X of shape (..., N, d) with labels
(N,), as the metric API does (pass ``H.mT`` for a UFM's H). Leading axes are batch axes.

- P = I_K - (1/K) 1 1^T, the simplex centring matrix.
- A simplex ETF is K vectors whose Gram matrix is scale^2 * K/(K-1) * P.
- Y = I_K (x) 1_n^T, the K x N one-hot target of class-ordered samples.
- Class means h_bar_k, M = [h_bar_1 .. h_bar_K]; global mean h_bar_G (``weighting="classes"``:
  mean of class means, the default; ``"samples"``: the sample mean; equal for balanced data).
- Sigma_W = (1/N) sum (h - h_bar_k)(h - h_bar_k)^T, Sigma_B = (1/K) sum_k (h_bar_k - h_bar_G)(.)^T.

This module is the one home of these formulas: metrics, theory and the UFM engine call it
instead of rebuilding P, the ETF target, Y, class-ordered labels or class means. For
class-ordered features in the papers' orientation H (..., d, Kn) (a UFM's H or logits Z),
:func:`class_ordered_sums` gives H Y^T and :func:`class_ordered_means` the class means
(..., d, K); :func:`center` applies P along an axis (as ``x - mean``).
"""
from __future__ import annotations

import torch

from nclab._validation import check_choice, check_int, check_real, fail

GLOBAL_MEAN_WEIGHTINGS = ("classes", "samples")


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


def one_hot_targets(K: int, n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """Y = I_K (x) 1_n^T, the K x Kn targets of class-ordered samples.

    Parameters
    ----------
    K : int
        Number of classes, at least 1.
    n : int
        Samples per class, at least 1.
    dtype : torch.dtype, optional
        Element type of the result (default float64).
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K, K n)
        The one-hot target matrix of docs/math.md §1.2.

    Raises
    ------
    ValueError
        If ``K`` or ``n`` is not a positive integer.

    Examples
    --------
    >>> one_hot_targets(2, 2).tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    K, n = check_int("K", K, minimum=1), check_int("n", n, minimum=1)
    return torch.kron(torch.eye(K, dtype=dtype, device=device), torch.ones(1, n, dtype=dtype, device=device))


def class_ordered_labels(K: int, n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Labels (0,..,0, 1,..,1, ..., K-1) with n of each: the papers' column order.

    Parameters
    ----------
    K : int
        Number of classes, at least 1.
    n : int
        Samples per class, at least 1.
    device : torch.device or str, optional
        Device of the result.

    Returns
    -------
    torch.Tensor, shape (K n,)
        Integer labels, class-ordered.

    Raises
    ------
    ValueError
        If ``K`` or ``n`` is not a positive integer.

    Examples
    --------
    >>> class_ordered_labels(3, 2).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    K, n = check_int("K", K, minimum=1), check_int("n", n, minimum=1)
    return torch.arange(K, device=device).repeat_interleave(n)


def repeat_columns(M: torch.Tensor, n: int) -> torch.Tensor:
    """M (x) 1_n^T: repeat each column of (..., d, K) n times, giving (..., d, Kn).

    Parameters
    ----------
    M : torch.Tensor, shape (..., d, K)
        One column per class.
    n : int
        Repeats per column, at least 1.

    Returns
    -------
    torch.Tensor, shape (..., d, K n)
        The class-ordered columns.

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 1.

    Examples
    --------
    >>> repeat_columns(torch.tensor([[1.0, 2.0]]), 2).tolist()
    [[1.0, 1.0, 2.0, 2.0]]
    """
    return M.repeat_interleave(check_int("n", n, minimum=1), dim=-1)


def _class_blocks(H: torch.Tensor, n: int) -> torch.Tensor:
    n = check_int("n", n, minimum=1)
    if H.shape[-1] % n:
        fail("n", n, f"a divisor of the number of columns ({H.shape[-1]})")
    return H.reshape(*H.shape[:-1], H.shape[-1] // n, n)


def class_ordered_sums(H: torch.Tensor, n: int) -> torch.Tensor:
    """H Y^T: per-class sums of class-ordered columns (..., d, Kn) -> (..., d, K).

    Parameters
    ----------
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered columns (the papers' orientation).
    n : int
        Samples per class; must divide the number of columns.

    Returns
    -------
    torch.Tensor, shape (..., d, K)
        Column k is the sum of the columns of class k.

    Raises
    ------
    ValueError
        If ``n`` is not a positive divisor of the number of columns.

    Examples
    --------
    >>> class_ordered_sums(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), 2).tolist()
    [[3.0, 7.0]]
    """
    return _class_blocks(H, n).sum(-1)


def class_ordered_means(H: torch.Tensor, n: int) -> torch.Tensor:
    """Class means of class-ordered columns (..., d, Kn) -> (..., d, K) (column k: class k).

    Parameters
    ----------
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered columns.
    n : int
        Samples per class; must divide the number of columns.

    Returns
    -------
    torch.Tensor, shape (..., d, K)
        The class means M = H Y^T / n.

    Raises
    ------
    ValueError
        If ``n`` is not a positive divisor of the number of columns.

    Examples
    --------
    >>> class_ordered_means(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), 2).tolist()
    [[1.5, 3.5]]
    """
    return _class_blocks(H, n).mean(-1)


def class_counts(labels: torch.Tensor, K: int) -> torch.Tensor:
    """Number of samples per class, shape (K,).

    Parameters
    ----------
    labels : torch.Tensor, shape (N,)
        Integer labels in 0..K-1.
    K : int
        Number of classes.

    Returns
    -------
    torch.Tensor, shape (K,)
        Counts (int64); absent classes count 0.

    Examples
    --------
    >>> class_counts(torch.tensor([0, 2, 2]), 3).tolist()
    [1, 0, 2]
    """
    return torch.bincount(labels, minlength=K)


def class_sums(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Per-class sums of features (..., N, d) -> (..., K, d), in O(N d) (index_add).

    Parameters
    ----------
    features : torch.Tensor, shape (..., N, d)
        Features as rows (sample-major).
    labels : torch.Tensor, shape (N,)
        Integer labels in 0..K-1.
    K : int
        Number of classes.

    Returns
    -------
    torch.Tensor, shape (..., K, d)
        Row k is the sum of the features of class k.

    Examples
    --------
    >>> X = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    >>> class_sums(X, torch.tensor([0, 0, 1]), 2).tolist()
    [[4.0, 2.0], [5.0, 5.0]]
    """
    lead, (N, d) = features.shape[:-2], features.shape[-2:]
    flat = features.reshape(-1, N, d)
    out = flat.new_zeros(flat.shape[0], K, d)
    out.index_add_(1, labels, flat)
    return out.reshape(*lead, K, d)


def class_means(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Class means h_bar_k as the rows of (..., K, d).

    See docs/math.md §1.3.

    Parameters
    ----------
    features : torch.Tensor, shape (..., N, d)
        Features as rows.
    labels : torch.Tensor, shape (N,)
        Integer labels in 0..K-1.
    K : int
        Number of classes; a class without samples gives a row of NaN.

    Returns
    -------
    torch.Tensor, shape (..., K, d)
        Row k is the mean h_bar_k of class k.

    Examples
    --------
    >>> X = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    >>> class_means(X, torch.tensor([0, 0, 1]), 2).tolist()
    [[2.0, 1.0], [5.0, 5.0]]
    """
    counts = class_counts(labels, K).to(features.dtype)
    return class_sums(features, labels, K) / counts.unsqueeze(-1)


def global_mean_weights(counts: torch.Tensor, weighting: str = "classes", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Weights w (K,) with h_bar_G = sum_k w_k h_bar_k: 1/K (``"classes"``) or n_k/N (``"samples"``).

    See docs/math.md §1.3.

    Parameters
    ----------
    counts : torch.Tensor, shape (K,)
        Samples per class.
    weighting : {"classes", "samples"}, optional
        Mean of class means (default) or the sample mean.
    dtype : torch.dtype, optional
        Element type of the weights (default float64).

    Returns
    -------
    torch.Tensor, shape (K,)
        Non-negative weights summing to 1.

    Raises
    ------
    ValueError
        If ``weighting`` is not one of the two choices (the message names ``global_mean``).

    Examples
    --------
    >>> global_mean_weights(torch.tensor([1, 3]), "samples").tolist()
    [0.25, 0.75]
    >>> global_mean_weights(torch.tensor([1, 3])).tolist()
    [0.5, 0.5]
    """
    check_choice("global_mean", weighting, GLOBAL_MEAN_WEIGHTINGS)
    if weighting == "classes":
        return torch.full(counts.shape, 1.0 / counts.shape[0], dtype=dtype, device=counts.device)
    c = counts.to(dtype)
    return c / c.sum()


def global_mean(
    means: torch.Tensor, counts: torch.Tensor, weighting: str = "classes"
) -> torch.Tensor:
    """Global mean h_bar_G = sum_k w_k h_bar_k from class means (..., K, d) and counts (K,).

    ``weighting="classes"`` (default) is the mean of class means; ``"samples"`` weights each
    class by its count (the sample mean). They agree on balanced data. The weights are
    :func:`global_mean_weights` (the metrics use the same ones); docs/math.md §1.3.

    Parameters
    ----------
    means : torch.Tensor, shape (..., K, d)
        Class means as rows.
    counts : torch.Tensor, shape (K,)
        Samples per class.
    weighting : {"classes", "samples"}, optional
        How the classes are weighted (default ``"classes"``).

    Returns
    -------
    torch.Tensor, shape (..., d)
        The global mean.

    Raises
    ------
    ValueError
        If ``weighting`` is not one of the two choices.

    Examples
    --------
    >>> M = torch.tensor([[0.0, 0.0], [4.0, 8.0]], dtype=torch.float64)
    >>> global_mean(M, torch.tensor([1, 3]), "samples").tolist()
    [3.0, 6.0]
    """
    w = global_mean_weights(counts, weighting, means.dtype)
    return (w.unsqueeze(-1) * means).sum(dim=-2)


def within_class_covariance(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Sigma_W = (1/N) sum_{k,i} (h_ki - h_bar_k)(h_ki - h_bar_k)^T, shape (..., d, d).

    See docs/math.md §1.4.

    Parameters
    ----------
    features : torch.Tensor, shape (..., N, d)
        Features as rows.
    labels : torch.Tensor, shape (N,)
        Integer labels in 0..K-1.
    K : int
        Number of classes.

    Returns
    -------
    torch.Tensor, shape (..., d, d)
        The within-class covariance Sigma_W.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (Sigma_W of the NC1 metric).

    Examples
    --------
    >>> X = torch.tensor([[0.0], [2.0], [5.0], [5.0]], dtype=torch.float64)
    >>> within_class_covariance(X, torch.tensor([0, 0, 1, 1]), 2).tolist()
    [[0.5]]
    """
    centred = features - class_means(features, labels, K)[..., labels, :]
    return centred.mT @ centred / features.shape[-2]


def between_class_covariance(
    features: torch.Tensor, labels: torch.Tensor, K: int, weighting: str = "classes"
) -> torch.Tensor:
    """Sigma_B = (1/K) sum_k (h_bar_k - h_bar_G)(h_bar_k - h_bar_G)^T, shape (..., d, d).

    See docs/math.md §1.4.

    Parameters
    ----------
    features : torch.Tensor, shape (..., N, d)
        Features as rows.
    labels : torch.Tensor, shape (N,)
        Integer labels in 0..K-1.
    K : int
        Number of classes.
    weighting : {"classes", "samples"}, optional
        Weighting of the global mean h_bar_G (default ``"classes"``).

    Returns
    -------
    torch.Tensor, shape (..., d, d)
        The between-class covariance Sigma_B.

    Raises
    ------
    ValueError
        If ``weighting`` is not one of the two choices.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (Sigma_B of the NC1 metric).

    Examples
    --------
    >>> X = torch.tensor([[0.0], [2.0], [5.0], [5.0]], dtype=torch.float64)
    >>> between_class_covariance(X, torch.tensor([0, 0, 1, 1]), 2).tolist()
    [[4.0]]
    """
    means = class_means(features, labels, K)
    centred = means - global_mean(means, class_counts(labels, K), weighting).unsqueeze(-2)
    return centred.mT @ centred / K
