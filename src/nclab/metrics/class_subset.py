"""Metrics restricted to a subset of the classes: ``collapse(..., classes=[...])``.

Restricting to classes c_1, ..., c_m keeps the samples of those classes, relabels class c_j as
j (the order given; per-class outputs follow it), keeps the rows c_j of the classifier weight
and bias, and computes every metric of the m-class problem: the global mean, centred means,
Sigma_B and the nearest-class-mean rule are the subset's own. It is the same as calling
:func:`nclab.metrics.collapse` on the filtered and relabelled arrays, which is how it is tested.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from nclab._validation import check_int, fail
from nclab.metrics import _core
from nclab.metrics._core import ClassStatistics


def check_classes(classes: Any, K: int) -> tuple[int, ...]:
    """``classes`` as a tuple of m >= 2 distinct class indices in 0..K-1.

    Parameters
    ----------
    classes : iterable of int
        The classes to keep, in the order the per-class outputs will follow (a list, tuple,
        numpy array or tensor).
    K : int
        The number of classes of the full problem.

    Returns
    -------
    classes : tuple of int
        The indices, in the order given.

    Raises
    ------
    ValueError
        If ``classes`` is not an iterable of integers (a string is not), an index is negative
        or >= K, an index repeats, or fewer than 2 are given; the message names ``classes``.

    Examples
    --------
    >>> check_classes([2, 0], 3)
    (2, 0)
    >>> check_classes([1, 1], 3)
    Traceback (most recent call last):
    ...
    ValueError: classes must be distinct class indices; 1 appears more than once, got [1, 1]
    """
    if hasattr(classes, "tolist") and not isinstance(classes, (list, tuple)):  # numpy arrays, tensors
        classes = classes.tolist()
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        fail("classes", classes, f"a list of distinct class indices in 0..{K - 1}")
    values = tuple(check_int("classes", v, minimum=0) for v in classes)
    for v in values:
        if v >= K:
            fail("classes", list(values), f"class indices in 0..{K - 1} (K = {K} classes); {v} is not a class")
    seen = set()
    for v in values:
        if v in seen:
            fail("classes", list(values), f"distinct class indices; {v} appears more than once")
        seen.add(v)
    if len(values) < 2:
        fail("classes", list(values), "at least 2 classes (a collapse metric compares classes)")
    return values


def restrict(classes: tuple[int, ...], x: torch.Tensor, labels: torch.Tensor, K: int,
             weight: torch.Tensor | None, bias: torch.Tensor | None) -> tuple:
    """The samples, classifier rows and biases of ``classes``, relabelled 0..m-1 in that order.

    Parameters
    ----------
    classes : tuple of int
        Checked class indices (:func:`check_classes`); class ``classes[j]`` becomes j.
    x : torch.Tensor, shape (..., N, d)
        The features.
    labels : torch.Tensor, shape (N,), int64
        Their classes in 0..K-1.
    K : int
        The number of classes of the full problem.
    weight : torch.Tensor, shape (..., K, d), or None
        The classifier rows.
    bias : torch.Tensor, shape (..., K), or None
        The classifier's bias.

    Returns
    -------
    x : torch.Tensor, shape (..., N_sub, d)
        The samples of the kept classes, in their original order.
    labels : torch.Tensor, shape (N_sub,)
        Their new labels in 0..m-1.
    weight : torch.Tensor, shape (..., m, d), or None
        Rows ``classes`` of ``weight``.
    bias : torch.Tensor, shape (..., m), or None
        Entries ``classes`` of ``bias``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    >>> W = torch.arange(6.0).reshape(3, 2)
    >>> xs, ys, ws, bs = restrict((2, 0), x, torch.tensor([0, 1, 2, 1, 0]), 3, W, torch.tensor([0.0, 10.0, 20.0]))
    >>> xs.tolist(), ys.tolist(), ws.tolist(), bs.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [3.0, 3.0]], [1, 0, 1], [[4.0, 5.0], [0.0, 1.0]], [20.0, 0.0])
    """
    idx = torch.tensor(classes, dtype=torch.int64, device=labels.device)
    position = torch.full((K,), -1, dtype=torch.int64, device=labels.device)
    position[idx] = torch.arange(len(classes), device=labels.device)
    rows = torch.nonzero(position[labels] >= 0).squeeze(-1)
    x = x.index_select(-2, rows.to(x.device))
    labels = position[labels[rows]]
    if weight is not None:
        weight = weight.index_select(-2, idx.to(weight.device))
    if bias is not None:
        bias = bias.index_select(-1, idx.to(bias.device))
    return x, labels, weight, bias


def restrict_statistics(stats: ClassStatistics, classes: tuple[int, ...], global_mean: str) -> ClassStatistics:
    """The :class:`ClassStatistics` of the classes ``classes`` of ``stats`` (relabelled 0..m-1).

    Their counts, means and within-class sums are kept; the global mean (weighted by
    ``global_mean``), centred means and singular basis of the subset are recomputed.
    ``within_projected`` (along the old basis) is dropped (None).

    Parameters
    ----------
    stats : ClassStatistics
        Statistics of the full K-class problem.
    classes : tuple of int
        Checked class indices (:func:`check_classes`); class ``classes[j]`` becomes j.
    global_mean : {"classes", "samples"}
        The subset's global mean: the mean of its class means, or its sample mean.

    Returns
    -------
    stats : ClassStatistics
        The statistics of the m-class problem, ``within_projected`` None.

    Examples
    --------
    Classes 0 and 1 of a simplex ETF (K = 3): their means e_0 - 1/3 and e_1 - 1/3 centre to
    +-(e_0 - e_1)/2, one singular value ||e_0 - e_1|| / sqrt(2) = 1.

    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> stats = class_statistics(torch.cat([M + e, M - e]), torch.arange(6) % 3)
    >>> sub = restrict_statistics(stats, (0, 1), "classes")
    >>> sub.counts.tolist(), sub.num_samples, sub.centred_means.tolist()
    ([2, 2], 4, [[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0]])
    >>> [round(v, 6) for v in sub.singular_values.tolist()], sub.within_projected is None
    ([1.0], True)
    """
    idx = torch.tensor(classes, dtype=torch.int64, device=stats.counts.device)
    counts = stats.counts.index_select(0, idx)
    means = stats.means.index_select(-2, idx.to(stats.means.device))
    w = _core.mean_weights(counts, global_mean, means.dtype).to(means.device)
    mu = (w.unsqueeze(-1) * means).sum(dim=-2)
    centred = means - mu.unsqueeze(-2)
    basis, svals = _core.spectral_basis(centred, w)
    within_sq = stats.within_sq.index_select(-1, idx.to(stats.within_sq.device))
    return ClassStatistics(counts, means, mu, centred, within_sq, int(counts.sum()), basis, svals)
