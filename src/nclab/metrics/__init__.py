"""Neural collapse metrics (docs/math.md §2): full batch, spectra, and streaming.

- :func:`collapse` returns every metric as a dict; each metric is also its own function:
  from samples in :mod:`nclab.metrics.collapse`, of given class vectors (ETF error, equinorm,
  equiangularity, NC3, bias check) in :mod:`nclab.metrics.structure`.
- ``collapse(..., extra=[...])`` adds further measurements (:data:`EXTRA_KEYS`): the CDNV
  matrix, hyperspherical uniformity, uniform and per-class duality, principal angles, NC5,
  NCC accuracy, per-class agreement, stable rank, per-class spectra and the MSE-loss
  decomposition (:mod:`nclab.metrics.extra`, :mod:`nclab.metrics.extra_samples`,
  :mod:`nclab.metrics.subspaces`, :mod:`nclab.metrics.uniformity`, :mod:`nclab.metrics.mse_loss`).
- ``collapse(..., classes=[...])``: every metric of a subset of the classes
  (:mod:`nclab.metrics.class_subset`).
- :mod:`nclab.metrics.spectrum`: singular values, numerical rank, Schatten quasi-norms.
- :class:`StreamingStats`: one-pass accumulators for feature sets that do not fit in memory;
  :class:`ProjectedStats`: two passes in O(K d) memory, for wide layers.
"""
from __future__ import annotations

from nclab.metrics._core import ClassStatistics
from nclab.metrics.collapse import KEYS, cdnv, class_statistics, collapse, nc1, nc1_trace_ratio, nc4_ncc_mismatch
from nclab.metrics.structure import bias_norm, equiangularity, equinorm, nc2_etf, nc3_duality, nc3_structure
from nclab.metrics.extra import EXTRA_KEYS, cdnv_matrix, duality_per_class, uniform_duality
from nclab.metrics.extra_samples import (
    agreement_per_class,
    class_covariance_spectra,
    ncc_accuracy,
    within_class_covariance,
    within_stable_rank,
)
from nclab.metrics.mse_loss import mse_decomposition
from nclab.metrics.uniformity import cosine_std, hyperspherical_uniformity
from nclab.metrics.subspaces import ood_orthogonality, principal_angles
from nclab.metrics.spectrum import numerical_rank, schatten_norm, schatten_power, singular_values
from nclab.metrics.streaming import NCCCounter, ProjectedStats, StreamingStats

__all__ = [
    "EXTRA_KEYS",
    "KEYS",
    "ClassStatistics",
    "NCCCounter",
    "ProjectedStats",
    "StreamingStats",
    "agreement_per_class",
    "bias_norm",
    "cdnv",
    "cdnv_matrix",
    "class_covariance_spectra",
    "class_statistics",
    "collapse",
    "cosine_std",
    "duality_per_class",
    "equiangularity",
    "equinorm",
    "hyperspherical_uniformity",
    "mse_decomposition",
    "nc1",
    "nc1_trace_ratio",
    "nc2_etf",
    "nc3_duality",
    "nc3_structure",
    "nc4_ncc_mismatch",
    "ncc_accuracy",
    "numerical_rank",
    "ood_orthogonality",
    "principal_angles",
    "schatten_norm",
    "schatten_power",
    "singular_values",
    "uniform_duality",
    "within_class_covariance",
    "within_stable_rank",
]
