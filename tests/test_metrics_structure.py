"""nclab.metrics.structure: the functions of given class vectors, beyond their match with collapse().

Their closed cases are the doctests of the module; their agreement with the keys of
:func:`nclab.metrics.collapse` and their d >= K - 1 errors are checked in tests/test_metrics_collapse.py
(``test_single_metric_functions_match_collapse``, ``test_dimension_too_small_for_etf_metrics``).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nclab import metrics


def test_equinorm_ddof_is_an_integer_below_the_number_of_rows():
    V = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    norms = np.array([1.0, 2.0, 3.0])
    assert metrics.equinorm(V, ddof=0) == pytest.approx(norms.std(ddof=0) / 2.0, rel=1e-14)
    assert metrics.equinorm(V, ddof=2) == pytest.approx(norms.std(ddof=2) / 2.0, rel=1e-14)
    for bad, allowed in [(3, r"0\.\.2: smaller than the number of rows \(3\)"), (-1, ">= 0"), (1.5, "an integer"),
                         (None, "an integer"), ("1", "an integer"), (math.nan, "an integer")]:
        with pytest.raises(ValueError, match=rf"ddof must be .*{allowed}.*, got"):
            metrics.equinorm(V, ddof=bad)


def test_bias_norm_weight_needs_a_row():
    W, b, mu = np.array([[1.0, 2.0]]), np.array([0.5]), np.array([1.0, 1.0])
    assert metrics.bias_norm(W, b, mu) == pytest.approx(3.5)  # K = 1: |1 + 2 + 0.5|
    with pytest.raises(ValueError, match=r"weight must be at least one row .*, got 'an array of shape \(0, 2\)'"):
        metrics.bias_norm(W[:0], b, mu)
