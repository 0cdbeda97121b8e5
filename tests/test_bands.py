"""The figures' 95% bands: the geometric mean over seeds and the exponentiated t interval of the mean log."""
import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from nclab.experiments.bands import geometric_band


def test_band_is_the_exponentiated_t_interval_of_the_mean_log():
    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(size=(7, 4)))
    ax = Figure().subplots()
    centre = geometric_band(ax, [1, 2, 3, 4], values, color="C0")
    logs = np.log(values)
    half = stats.t.ppf(0.975, 6) * logs.std(axis=0, ddof=1) / math.sqrt(7)
    np.testing.assert_allclose(centre, np.exp(logs.mean(axis=0)), rtol=1e-12)
    (band,) = ax.collections
    path = band.get_paths()[0].vertices  # fill_between: lower edge forward, then upper edge back
    ys = path[:, 1]
    assert np.isclose(ys.min(), np.exp(logs.mean(0) - half).min())
    assert np.isclose(ys.max(), np.exp(logs.mean(0) + half).max())
    assert band.get_label() == "95% t interval (7 seeds)"


def test_zeros_are_left_out_and_one_seed_draws_no_band():
    ax = Figure().subplots()
    centre = geometric_band(ax, [0, 1], np.array([[0.0, 4.0], [1.0, 1.0], [1.0, 16.0]]), color="C1", unit="runs")
    assert np.allclose(centre, [1.0, 4.0])
    assert ax.collections[0].get_label() == "95% t interval (3 runs)"
    ax2 = Figure().subplots()
    geometric_band(ax2, [0, 1], np.array([[1.0, 2.0]]), color="C0")
    assert not ax2.collections  # one seed: no interval to draw


def test_band_is_labelled_once_per_axes():
    ax = Figure().subplots()
    for c in ("C0", "C1"):
        geometric_band(ax, [0, 1], np.array([[1.0, 2.0], [2.0, 3.0]]), color=c)
    assert [b.get_label() for b in ax.collections].count("95% t interval (2 seeds)") == 1


def test_shape_is_checked():
    with pytest.raises(ValueError, match=r"values must have shape \(seeds, 3\)"):
        geometric_band(Figure().subplots(), [0, 1, 2], np.ones((2, 2)), color="C0")
