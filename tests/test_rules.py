"""The claim rules: each one passes on data that satisfy it and fails on data that contradict it."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nclab.experiments import rules
from nclab.experiments.registry import Claim


def test_wilson_interval_matches_the_formula():
    k, n, z = 7, 20, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    est = rules.proportion(k, n)
    assert est.value == pytest.approx(0.35)
    assert (est.low, est.high) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert (est.n, est.method) == (20, "wilson")


def test_wilson_interval_at_the_edges_stays_inside_0_1():
    zero, all_ = rules.proportion(0, 10), rules.proportion(10, 10)
    assert zero.low == 0.0 and 0 < zero.high < 0.35
    assert all_.high == pytest.approx(1.0) and 0.65 < all_.low < 1


def test_t_interval_matches_scipy():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    est = rules.mean(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert (est.low, est.high) == pytest.approx((low, high), rel=1e-12)
    assert rules.mean([3.0]).low == -math.inf  # one seed: no interval, so no interval rule can pass


@pytest.mark.parametrize("k, n, passed", [(95, 100, True), (85, 100, False), (10, 10, False)])
def test_magnitude_at_least_decides_on_the_lower_end(k, n, passed):
    # 85/100 has estimate 0.85 > 0.8, but its interval reaches below 0.8: not enough evidence
    # 10/10 is all successes, but 10 seeds cannot show P >= 0.8 at 95%: lower end 0.72
    assert rules.at_least(rules.proportion(k, n), 0.8).passed is passed


@pytest.mark.parametrize("k, n, passed", [(2, 100, True), (15, 100, False), (0, 5, False)])
def test_magnitude_at_most_decides_on_the_upper_end(k, n, passed):
    assert rules.at_most(rules.proportion(k, n), 0.2).passed is passed


def test_direction_needs_separated_intervals():
    low, high = rules.mean([1.0, 1.1, 0.9, 1.05]), rules.mean([2.0, 2.1, 1.9, 2.05])
    assert rules.direction(low, high, increase=True).passed
    assert not rules.direction(low, high, increase=False).passed
    assert rules.direction(high, low, increase=False).passed
    overlapping = rules.mean([0.5, 1.6, 1.0, 1.2])
    assert not rules.direction(low, overlapping, increase=True).passed


def test_rate_fits_the_slope_and_checks_its_tolerance():
    eps = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    rng = np.random.default_rng(0)
    quadratic = 3 * eps ** 2 * np.exp(rng.normal(0, 0.05, eps.size))
    est = rules.loglog_slope(eps, quadratic)
    assert est.low < 2 < est.high and est.n == 4
    assert rules.rate(est, 2.0, 0.1).passed
    assert not rules.rate(est, 1.0, 0.1).passed  # O(eps) claimed, O(eps^2) seen: fails
    assert not rules.rate(rules.loglog_slope(eps, eps ** 0.5), 1.0, 0.1).passed


def test_trend_test_detects_growth_and_refuses_flat_or_falling_data():
    xs, ns = [10, 20, 50, 100], [20, 20, 20, 20]
    assert rules.trend(xs, [0, 4, 12, 19], ns).passed
    assert not rules.trend(xs, [10, 9, 11, 10], ns).passed
    assert not rules.trend(xs, [19, 12, 4, 0], ns).passed
    assert rules.trend(xs, [19, 12, 4, 0], ns, increasing=False).passed
    assert not rules.trend(xs, [0, 0, 0, 0], ns).passed  # no variation: no evidence of a trend


def test_a_claim_decided_by_a_rule_carries_its_statistics():
    v = rules.at_least(rules.proportion(9, 10), 0.5)
    c = Claim.decided("p", "P is large.", "Paper, Fig. 1", v)
    d = c.to_dict()
    assert d["n_seeds"] == 10 and d["estimate"] == pytest.approx(0.9) and len(d["interval"]) == 2
    assert d["rule"] == "magnitude" and d["kind"] == "claim" and d["passed"] == v.passed
    assert Claim.from_dict(d).interval == pytest.approx(c.interval)
    check = Claim.decided("g", "gradient small", "ours", rules.at_most(rules.exact(1e-12), 1e-8), kind="check")
    assert check.to_dict()["kind"] == "check" and check.n_seeds is None and check.passed


def test_every_fails_on_a_single_exception_and_on_no_runs():
    assert rules.every([True] * 20, "x").passed
    v = rules.every([True] * 19 + [False], "x")
    assert not v.passed and v.estimate.n == 20 and v.estimate.value == pytest.approx(0.95)
    assert v.estimate.low < 0.95 < v.estimate.high and v.rule == "universal"
    assert not rules.every([], "x").passed
