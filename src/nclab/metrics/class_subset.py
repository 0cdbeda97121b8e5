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
    """``classes`` as a tuple of m >= 2 distinct class indices in 0..K-1 (a ValueError naming it otherwise)."""
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
    """(x, labels, weight, bias) of the samples of ``classes``, relabelled 0..m-1 in that order;
    features (..., N, d) -> (..., N_sub, d), weight (..., K, d) -> (..., m, d), bias (..., K) -> (..., m)."""
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
    """The :class:`ClassStatistics` of the classes ``classes`` of ``stats`` (relabelled 0..m-1):
    their counts, means and within-class sums, with the global mean (weighted by
    ``global_mean``), centred means and singular basis of the subset recomputed.
    ``within_projected`` (along the old basis) is dropped."""
    idx = torch.tensor(classes, dtype=torch.int64, device=stats.counts.device)
    counts = stats.counts.index_select(0, idx)
    means = stats.means.index_select(-2, idx.to(stats.means.device))
    w = _core.mean_weights(counts, global_mean, means.dtype).to(means.device)
    mu = (w.unsqueeze(-1) * means).sum(dim=-2)
    centred = means - mu.unsqueeze(-2)
    basis, svals = _core.spectral_basis(centred, w)
    within_sq = stats.within_sq.index_select(-1, idx.to(stats.within_sq.device))
    return ClassStatistics(counts, means, mu, centred, within_sq, int(counts.sum()), basis, svals)
