"""The class-ordered layout of the papers' UFMs: targets, labels and column blocks.

The papers order the N = Kn samples by class, n per class (docs/math.md §1): Y = I_K (x) 1_n^T is
the K x N one-hot target, the labels are 0..0 1..1 .. (K-1), and class means of features H in
the papers' orientation (..., d, Kn) are means over blocks of n columns. This module is the one
home of those constructions; :mod:`nclab.classwise` holds the statistics of arbitrarily labelled
features, and :mod:`nclab.geometry` the simplex ETF and frames.
"""
from __future__ import annotations

import torch

from nclab._validation import check_int, fail


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
