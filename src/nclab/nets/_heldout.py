"""Held-out (test-set) collapse streamed over batches, against the training statistics.

A held-out measurement keeps the reference's class means, global mean, centred means and their
singular directions, and takes from the test features only the within-class residuals
h_i - h_bar_{y_i} (h_bar the *training* means) and the NC4 comparison (docs/math.md §2, the
``reference`` of :func:`nclab.metrics.collapse`). Those parts are sums over samples (class
counts, sum_i ||r_i||^2 per class, sum_i (r_i . v_j)^2, mismatches), so the statistics of each
batch, computed by the one home of the formula (``nclab.metrics._core.full_batch_statistics``
with ``reference=``), add up to the statistics of the whole held-out set exactly.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab.metrics import _core
from nclab.metrics.collapse import KEYS


class HeldOutStats:
    """Streaming held-out statistics of one layer against a reference ``ClassStatistics``."""

    def __init__(self, reference: _core.ClassStatistics, weight: torch.Tensor | None = None,
                 bias: torch.Tensor | None = None) -> None:
        self.reference, self.weight, self.bias = reference, weight, bias
        dtype, device = reference.means.dtype, reference.means.device
        K, q = reference.num_classes, reference.basis.shape[-1]
        self.counts = torch.zeros(K, dtype=torch.int64, device=device)
        self.within_sq = torch.zeros(K, dtype=dtype, device=device)
        self.within_projected = torch.zeros(q, dtype=dtype, device=device)
        self.mismatches = 0
        self.num_samples = 0

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> "HeldOutStats":
        """Add a batch: features (B, d), labels (B,) in 0..K-1."""
        ref = self.reference
        x = features.detach().to(dtype=ref.means.dtype, device=ref.means.device).reshape(features.shape[0], -1)
        y = labels.to(device=x.device, dtype=torch.int64)
        if x.shape[0] == 0:
            return self
        stats, mism = _core.full_batch_statistics(x, y, ref.num_classes, "classes", weight=self.weight,
                                                  bias=self.bias, reference=ref)
        self.counts += stats.counts
        self.within_sq += stats.within_sq
        self.within_projected += stats.within_projected
        self.num_samples += int(x.shape[0])
        if mism is not None:
            self.mismatches += int(mism)
        return self

    def collapse(self, *, rtol: float | None = None, center_weight: bool = True) -> dict[str, Any]:
        """The metrics of :func:`nclab.metrics.collapse` with ``reference=`` (ETF keys omitted when d < K - 1)."""
        ref = self.reference
        stats = _core.ClassStatistics(self.counts, ref.means, ref.global_mean, ref.centred_means, self.within_sq,
                                      self.num_samples, ref.basis, ref.singular_values, self.within_projected)
        values = _core.metrics_from_statistics(stats, self.weight, self.bias, rtol=rtol,
                                               center_weight=bool(center_weight))
        if self.weight is not None:
            values["nc4_ncc_mismatch"] = torch.tensor(self.mismatches / max(self.num_samples, 1), dtype=ref.means.dtype)
        return _core.to_output({k: values[k] for k in KEYS if k in values})
