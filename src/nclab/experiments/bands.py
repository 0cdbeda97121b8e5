"""95% intervals drawn on the experiments' figures of quantities measured over seeds.

A figure of a seeded experiment shows the spread its verdict rests on: the geometric mean over the
seeds (errors and ratios span decades, so the mean is taken of their logarithms) with the 95%
Student t interval of the mean log, exponentiated, as a shaded band. The interval is the one
:func:`nclab.experiments.rules.mean` gives the claims, so a figure and its verdict agree.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nclab.experiments.rules import mean

__all__ = ["geometric_band"]


def geometric_band(ax: Any, x: Sequence[float], values: np.ndarray, *, color: str, label: str | None = None,
                   line: bool = True, unit: str = "seeds", **line_style: Any) -> np.ndarray:
    """Draw the geometric mean over seeds of positive ``values`` and its shaded 95% t interval.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes to draw on (its y scale is left as it is; the band is meant for a log axis).
    x : sequence of float
        The abscissae, one per column of ``values``.
    values : ndarray of shape (seeds, len(x))
        One row per seed. Values that are not positive and finite are dropped per column (a zero has
        no logarithm); a column with fewer than two usable values gets no band.
    color : str
        The colour of the line and of the band.
    label : str, optional
        The line's legend label; the band is labelled ``"95% t interval (S seeds)"`` once per axes.
    line : bool, default True
        Draw the geometric-mean line as well as the band.
    unit : str, default "seeds"
        What a row of ``values`` is, for the band's label (e.g. ``"directions"``).
    **line_style
        Passed to ``ax.plot`` for the line (marker, ls, ...).

    Returns
    -------
    ndarray of shape (len(x),)
        The geometric means drawn (NaN where a column had no usable value).

    Raises
    ------
    ValueError
        If ``values`` is not two-dimensional with ``len(x)`` columns.

    References
    ----------
    The interval is Student's t interval of a mean (the claims' :func:`~nclab.experiments.rules.mean`).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> g = geometric_band(ax, [1, 2], np.array([[1.0, 10.0], [4.0, 1000.0]]), color="C0")
    >>> [round(float(v), 6) for v in g]
    [2.0, 100.0]
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 2 or y.shape[1] != len(x):
        raise ValueError(f"values must have shape (seeds, {len(x)}), got {y.shape}")
    logs = np.where((y > 0) & np.isfinite(y), np.log(np.where(y > 0, y, 1.0)), np.nan)
    est = [mean(logs[:, j]) for j in range(y.shape[1])]
    centre = np.exp([e.value for e in est])
    if line:
        ax.plot(x, centre, color=color, label=label, **line_style)
    low = np.array([np.exp(e.low) if e.n >= 2 else np.nan for e in est])
    high = np.array([np.exp(e.high) if e.n >= 2 else np.nan for e in est])
    if np.isfinite(low).any():
        labelled = any(str(t.get_label()).startswith("95% t interval") for t in ax.collections)
        ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0,
                        label=None if labelled else f"95% t interval ({y.shape[0]} {unit})")
    return centre
