"""Class-wise statistics of labelled features: counts, sums, means, the global mean, Sigma_W, Sigma_B.

Features are sample-major, X of shape (..., N, d) with labels (N,) in 0..K-1 (pass ``H.mT`` for a
UFM's H); leading axes are batch axes (docs/math.md §1):

- class means h_bar_k, M = [h_bar_1 .. h_bar_K];
- the global mean h_bar_G (``weighting="classes"``: the mean of the class means, the default;
  ``"samples"``: the sample mean; equal for balanced data);
- Sigma_W = (1/N) sum (h - h_bar_k)(h - h_bar_k)^T, Sigma_B = (1/K) sum_k (h_bar_k - h_bar_G)(.)^T.

This module is the one home of these formulas; :class:`nclab.metrics.ClassStatistics` accumulates
the same sums in streaming form.
"""
from __future__ import annotations

import torch

from nclab._validation import check_choice

GLOBAL_MEAN_WEIGHTINGS = ("classes", "samples")


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
