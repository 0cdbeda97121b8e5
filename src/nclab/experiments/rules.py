"""The rules a claim is decided by: magnitudes, directions, rates and intervals over seeds.

A claim is as strong as the paper's statement (see ``docs/claims.md``):

- a **magnitude** the paper states is checked as a magnitude (:func:`at_least`,
  :func:`at_most`, :func:`within`), not only its sign;
- a **direction** (more decay, more collapse) is checked as a direction (:func:`direction`);
- a **rate** (O(eps), O(beta^-2)) is fitted (:func:`loglog_slope`) and checked with a stated
  tolerance (:func:`rate`);
- a **universal** statement over runs ("every minimiser is collapsed") holds in every run
  (:func:`every`), with the count and its Wilson interval reported;
- a statement **over random seeds** is decided on a 95% interval: Wilson for a proportion
  (:func:`proportion`), Student t for a mean (:func:`mean`), and a one-sided trend test at
  level 0.05 for a proportion that should grow along a grid (:func:`trend`).

Each rule returns a :class:`Verdict`: the decision, the rule in words (the claim's
``expected``) and, for the statistical ones, the :class:`Estimate` that the claim reports
(count, estimate, interval). Rules never look at what they are asked to pass: thresholds
come from the paper's statement and are fixed before a run.

References
----------
E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22
(1927) (the proportion interval). P. Armitage, "Tests for linear trends in proportions and
frequencies", Biometrics 11 (1955) (the trend test).

Examples
--------
>>> from nclab.experiments.rules import at_least, proportion
>>> v = at_least(proportion(95, 100), 0.8)
>>> v.passed, v.expected
(True, 'lower end of the 95% interval ≥ 0.8')
>>> round(v.estimate.low, 3)
0.888
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

#: The confidence level of every interval, and the level of every one-sided test (1 - LEVEL is alpha).
LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """An estimate over ``n`` runs with its interval (``method``: wilson, t, fit, exact).

    Parameters
    ----------
    value : float
        The estimate.
    low, high : float
        The interval.
    n : int
        Number of runs (points for a fit).
    method : str
        How the interval was made.
    level : float, optional
        Its confidence level (default :data:`LEVEL`).

    Examples
    --------
    >>> exact(2.5)
    Estimate(value=2.5, low=2.5, high=2.5, n=1, method='exact', level=0.95)
    """

    value: float
    low: float
    high: float
    n: int
    method: str
    level: float = LEVEL

    def to_dict(self) -> dict:
        """The estimate as the dict a claim reports.

        Returns
        -------
        dict
            ``estimate``, ``interval``, ``n``, ``method``, ``level``.

        Examples
        --------
        >>> exact(1.0).to_dict()["interval"]
        [1.0, 1.0]
        """
        return {"estimate": self.value, "interval": [self.low, self.high], "n": self.n, "method": self.method,
                "level": self.level}


@dataclass(frozen=True)
class Verdict:
    """A rule's decision, the rule in words and the estimate it was decided on (if statistical).

    Parameters
    ----------
    passed : bool
        The decision.
    expected : str
        The rule in words (the claim's ``expected``).
    estimate : Estimate, optional
        What it was decided on.
    rule : str, optional
        The kind of rule (magnitude, direction, rate, universal, trend).

    Examples
    --------
    >>> v = at_most(exact(0.01), 0.05)
    >>> isinstance(v, Verdict), v.passed, v.expected
    (True, True, 'value ≤ 0.05')
    """

    passed: bool
    expected: str
    estimate: Estimate | None = None
    rule: str = ""


def proportion(successes: int, n: int) -> Estimate:
    """The proportion ``successes / n`` with its 95% Wilson interval.

    Parameters
    ----------
    successes : int
        Runs where the event holds.
    n : int
        Runs; n <= 0 gives NaN with the interval [0, 1].

    Returns
    -------
    Estimate
        Method ``"wilson"``.

    References
    ----------
    E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22
    (1927), doi:10.1080/01621459.1927.10502953.

    Examples
    --------
    >>> e = proportion(95, 100)
    >>> round(e.value, 3), round(e.low, 3), round(e.high, 3)
    (0.95, 0.888, 0.978)
    """
    if n <= 0:
        return Estimate(math.nan, 0.0, 1.0, 0, "wilson")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high), int(n), "wilson")


def mean(values: Sequence[float]) -> Estimate:
    """The mean of ``values`` with its 95% Student t interval (one value: an infinite interval).

    Non-finite values are dropped.

    Parameters
    ----------
    values : sequence of float
        One value per run.

    Returns
    -------
    Estimate
        Method ``"t"``.

    Examples
    --------
    >>> e = mean([1.0, 2.0, 3.0])
    >>> e.value, round(e.low, 3), round(e.high, 3)
    (2.0, -0.484, 4.484)
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(math.nan, -math.inf, math.inf, 0, "t")
    m = float(x.mean())
    if x.size == 1:
        return Estimate(m, -math.inf, math.inf, 1, "t")
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(m, m - half, m + half, int(x.size), "t")


def exact(value: float) -> Estimate:
    """A deterministic value (no interval beyond itself).

    Parameters
    ----------
    value : float
        The value.

    Returns
    -------
    Estimate
        Method ``"exact"``, n = 1.

    Examples
    --------
    >>> exact(3).low
    3.0
    """
    return Estimate(float(value), float(value), float(value), 1, "exact")


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> Estimate:
    """The least-squares slope of log y against log x with its 95% t interval (``n`` points).

    Non-finite logarithms are dropped; fewer than 3 points give an infinite interval.

    Parameters
    ----------
    x, y : sequence of float
        The points.

    Returns
    -------
    Estimate
        Method ``"fit"``.

    Examples
    --------
    >>> e = loglog_slope([1, 2, 4, 8], [1, 4, 16, 64])
    >>> round(e.value, 6), e.n
    (2.0, 4)
    """
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    ok = np.isfinite(lx) & np.isfinite(ly)
    lx, ly = lx[ok], ly[ok]
    if lx.size < 2:
        return Estimate(math.nan, -math.inf, math.inf, int(lx.size), "fit")
    fit = stats.linregress(lx, ly)
    if lx.size == 2:
        return Estimate(float(fit.slope), -math.inf, math.inf, 2, "fit")
    half = float(stats.t.ppf(0.5 + LEVEL / 2, lx.size - 2) * fit.stderr)
    return Estimate(float(fit.slope), float(fit.slope) - half, float(fit.slope) + half, int(lx.size), "fit")


def every(holds: Sequence[bool], what: str) -> Verdict:
    """A universal statement over runs: passes when it holds in every one of them (and there is one).

    The estimate is the proportion of runs where it holds, with its Wilson interval, so a
    reader sees how many runs the "every" rests on.

    Parameters
    ----------
    holds : sequence of bool
        Whether the statement holds, per run.
    what : str
        The statement in words.

    Returns
    -------
    Verdict
        Rule ``"universal"``.

    References
    ----------
    E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22
    (1927), doi:10.1080/01621459.1927.10502953.

    Examples
    --------
    >>> v = every([True, True, True], "the loss is below the bound")
    >>> v.passed, v.estimate.n, round(v.estimate.low, 3)
    (True, 3, 0.439)
    >>> every([], "anything").passed
    False
    """
    flags = [bool(h) for h in holds]
    k, n = sum(flags), len(flags)
    return Verdict(n > 0 and k == n, f"in every run (k/n = 1, n ≥ 1): {what}", proportion(k, n), "universal")


def at_least(est: Estimate, bound: float) -> Verdict:
    """Passes when the whole interval lies at or above ``bound`` (its lower end >= bound).

    Parameters
    ----------
    est : Estimate
        The estimate.
    bound : float
        The paper's bound.

    Returns
    -------
    Verdict
        Rule ``"magnitude"``.

    Examples
    --------
    >>> at_least(proportion(95, 100), 0.8).passed
    True
    """
    what = "lower end of the 95% interval" if est.method != "exact" else "value"
    return Verdict(bool(est.low >= bound), f"{what} ≥ {bound:g}", est, "magnitude")


def at_most(est: Estimate, bound: float) -> Verdict:
    """Passes when the whole interval lies at or below ``bound`` (its upper end <= bound).

    Parameters
    ----------
    est : Estimate
        The estimate.
    bound : float
        The paper's bound.

    Returns
    -------
    Verdict
        Rule ``"magnitude"``.

    Examples
    --------
    >>> at_most(exact(0.01), 0.05).passed
    True
    """
    what = "upper end of the 95% interval" if est.method != "exact" else "value"
    return Verdict(bool(est.high <= bound), f"{what} ≤ {bound:g}", est, "magnitude")


def within(est: Estimate, target: float, tol: float) -> Verdict:
    """Passes when the estimate lies within ``tol`` of ``target``.

    Parameters
    ----------
    est : Estimate
        The estimate.
    target : float
        The paper's value.
    tol : float
        The stated tolerance.

    Returns
    -------
    Verdict
        Rule ``"magnitude"``.

    Examples
    --------
    >>> within(exact(1.02), 1.0, 0.05).passed
    True
    """
    ok = bool(abs(est.value - target) <= tol)
    return Verdict(ok, f"|estimate − {target:g}| ≤ {tol:g}", est, "magnitude")


def rate(est: Estimate, target: float, tol: float) -> Verdict:
    """A fitted rate (a log-log slope) within ``tol`` of the paper's ``target`` exponent.

    Parameters
    ----------
    est : Estimate
        A fitted slope (:func:`loglog_slope`).
    target : float
        The paper's exponent.
    tol : float
        The stated tolerance.

    Returns
    -------
    Verdict
        Rule ``"rate"``.

    Examples
    --------
    >>> rate(loglog_slope([1, 2, 4, 8], [1, 4, 16, 64]), 2.0, 0.1).passed
    True
    """
    ok = bool(abs(est.value - target) <= tol)
    return Verdict(ok, f"fitted log-log slope within {tol:g} of {target:g}", est, "rate")


def direction(before: Estimate, after: Estimate, *, increase: bool) -> Verdict:
    """The change from ``before`` to ``after`` has the stated sign, beyond both intervals.

    With intervals (seeds), it passes when the intervals do not overlap in the stated order
    (``after.low > before.high`` for an increase); for exact values, when the values differ in
    that order.

    Parameters
    ----------
    before, after : Estimate
        The two estimates.
    increase : bool
        The stated sign.

    Returns
    -------
    Verdict
        Rule ``"direction"``; the estimate is the difference with its conservative interval.

    Examples
    --------
    >>> direction(exact(1.0), exact(2.0), increase=True).passed
    True
    """
    if increase:
        ok = after.low > before.high
        text = "increase: the 95% interval after lies above the one before"
    else:
        ok = after.high < before.low
        text = "decrease: the 95% interval after lies below the one before"
    diff = Estimate(after.value - before.value, after.low - before.high, after.high - before.low,
                    min(before.n, after.n), before.method)
    return Verdict(bool(ok), text, diff, "direction")


def trend(xs: Sequence[float], successes: Sequence[int], ns: Sequence[int], *, increasing: bool = True) -> Verdict:
    """One-sided Cochran-Armitage test that a proportion grows (or falls) along ``xs``, level 0.05.

    The estimate reported is the test's z statistic with the one-sided p-value in ``rule``.

    Parameters
    ----------
    xs : sequence of float
        The grid values (scores).
    successes : sequence of int
        Successes at each grid value.
    ns : sequence of int
        Runs at each grid value.
    increasing : bool, optional
        Test for growth (default) or decrease.

    Returns
    -------
    Verdict
        Rule ``"trend p=..."``.

    References
    ----------
    P. Armitage, "Tests for linear trends in proportions and frequencies", Biometrics 11 (1955),
    doi:10.2307/3001775.

    Examples
    --------
    >>> v = trend([1, 2, 3], [2, 5, 9], [10, 10, 10])
    >>> v.passed, round(v.estimate.value, 3)
    (True, 3.137)
    """
    x = np.asarray(xs, dtype=float)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(ns, dtype=float)
    N, p_bar = n.sum(), k.sum() / max(n.sum(), 1.0)
    t_stat = float(np.sum(k * (x - np.sum(n * x) / N)))
    var = float(p_bar * (1 - p_bar) * (np.sum(n * x * x) - np.sum(n * x) ** 2 / N))
    z = t_stat / math.sqrt(var) if var > 0 else 0.0
    z = z if increasing else -z
    p = float(stats.norm.sf(z))
    word = "grows" if increasing else "falls"
    return Verdict(bool(p < ALPHA), f"one-sided Cochran-Armitage trend test: P {word} along the grid, p < {ALPHA:g}",
                   Estimate(z, z, z, int(N), "z"), f"trend p={p:.3g}")
