"""Neural collapse metrics (MATH.md section 1): full batch, spectra, and streaming.

- :func:`collapse` returns every metric as a dict; each metric is also its own function.
- :mod:`nclab.metrics.spectrum`: singular values, numerical rank, Schatten quasi-norms.
- :class:`StreamingStats`: one-pass accumulators for feature sets that do not fit in memory;
  :class:`ProjectedStats`: two passes in O(K d) memory, for wide layers.
"""
from __future__ import annotations

from nclab.metrics._core import ClassStatistics
from nclab.metrics.collapse import (
    KEYS,
    bias_norm,
    cdnv,
    class_statistics,
    collapse,
    equiangularity,
    equinorm,
    nc1,
    nc1_trace_ratio,
    nc2_etf,
    nc3_duality,
    nc3_structure,
    nc4_ncc_mismatch,
)
from nclab.metrics.spectrum import numerical_rank, schatten_norm, schatten_power, singular_values
from nclab.metrics.streaming import NCCCounter, ProjectedStats, StreamingStats

__all__ = [
    "KEYS",
    "ClassStatistics",
    "NCCCounter",
    "ProjectedStats",
    "StreamingStats",
    "bias_norm",
    "cdnv",
    "class_statistics",
    "collapse",
    "equiangularity",
    "equinorm",
    "nc1",
    "nc1_trace_ratio",
    "nc2_etf",
    "nc3_duality",
    "nc3_structure",
    "nc4_ncc_mismatch",
    "numerical_rank",
    "schatten_norm",
    "schatten_power",
    "singular_values",
]
