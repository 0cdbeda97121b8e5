"""The report's own figure: claims passed / failed / crashed per paper (no pyplot, no global state).

:func:`claims_summary_figure` draws it on a ``matplotlib.figure.Figure`` (never pyplot, no
change to ``matplotlib.rcParams``); :func:`figure_png` is the PNG form the page embeds.
"""
from __future__ import annotations

import io
from typing import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Colours of verdicts (the same as the report page's stylesheet).
PASS_COLOR = "#2E7D32"
FAIL_COLOR = "#C62828"
CRASH_COLOR = "#6A1B9A"
_FONT = {"label": 11.0, "tick": 9.5, "legend": 9.0}


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """A figure as PNG bytes, with the settings of the saved experiment figures.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (never closed or changed).
    dpi : int, optional
        Resolution (default 110); the bounding box is tight.

    Returns
    -------
    bytes
        The PNG file.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from nclab.report.plots import figure_png
    >>> fig = Figure(figsize=(2, 1))
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> figure_png(fig)[1:4]
    b'PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def claims_summary_figure(
    counts: Mapping[str, Mapping[str, int]],
    *,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Horizontal stacked bars of claims passed / failed and experiments crashed per paper.

    Parameters
    ----------
    counts : mapping of str to mapping
        A paper key to ``{"passed": p, "failed": f, "crashed": c}`` (missing entries count
        0), as :func:`nclab.report.html.claim_counts` gives. Papers are drawn top to bottom
        in the order given.
    labels : mapping of str to str, optional
        The bar labels (default: the keys).

    Returns
    -------
    matplotlib.figure.Figure
        One axis; a segment per non-zero count, its number written on it, a legend of the
        series drawn, the count axis from 0 with integer ticks.

    Examples
    --------
    >>> from nclab.report.plots import claims_summary_figure
    >>> fig = claims_summary_figure({"mixon2022": {"passed": 5, "failed": 1}, "tirer2023": {"passed": 3}})
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()], float(ax.get_xlim()[0])
    (['mixon2022', 'tirer2023'], 0.0)
    """
    keys: Sequence[str] = list(counts)
    labels = dict(labels or {})
    height = max(1.4, 0.42 * len(keys) + 0.9)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=_FONT["tick"])
    ys = list(range(len(keys)))[::-1]
    series = (("passed", "claims passed", PASS_COLOR), ("failed", "claims failed", FAIL_COLOR),
              ("crashed", "experiments crashed", CRASH_COLOR))
    left = [0.0] * len(keys)
    for field, label, colour in series:
        values = [float(counts[k].get(field, 0)) for k in keys]
        if any(values):
            ax.barh(ys, values, left=left, color=colour, label=label, height=0.6)
            for y, x0, v in zip(ys, left, values):
                if v:
                    ax.text(x0 + v / 2, y, f"{v:g}", ha="center", va="center", color="white", fontsize=9)
            left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(ys, [labels.get(k, k) for k in keys], fontsize=_FONT["tick"] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no tick at 0.25 of a claim
    ax.set_xlabel("count", fontsize=_FONT["label"])
    if keys and max(left) > 0:
        ax.set_xlim(0, max(left) * 1.02)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=_FONT["legend"], frameon=False)
    return fig


def outcome_figure(rows: Sequence[Mapping], outcomes: Sequence[str] = ("dnc", "low_rank", "other", "not converged",
                                                                     "diverged", "error")) -> Figure:
    """Stacked bars of every outcome class per config, so that none hides behind one label's frequency.

    Parameters
    ----------
    rows : sequence of mapping
        Rows of the sweep page's summary (:func:`nclab.report.sweep_page.config_summary`):
        the outcome counts and the config keys that vary (the bar labels).
    outcomes : sequence of str, optional
        The outcome classes, stacked in this order (those with no run are left out).

    Returns
    -------
    matplotlib.figure.Figure
        The fraction of each config's runs per outcome, on a linear axis from 0 to 1, with a
        legend of the outcomes drawn.

    Examples
    --------
    >>> from nclab.report.plots import outcome_figure
    >>> rows = [{"d": 10, "dnc": 1, "other": 1, "not converged": 2}, {"d": 20, "dnc": 4}]
    >>> ax = outcome_figure(rows).axes[0]
    >>> [t.get_text() for t in ax.get_legend().get_texts()], tuple(map(float, ax.get_ylim()))
    (['dnc', 'other', 'not converged'], (0.0, 1.0))
    """
    colours = {"dnc": "tab:green", "low_rank": "tab:blue", "other": "tab:gray", "not converged": "tab:orange",
               "diverged": "tab:red", "error": "black"}
    fig = Figure(figsize=(max(5.0, 0.45 * len(rows) + 2.5), 3.6), layout="constrained")
    ax = fig.subplots()
    skip = set(outcomes) | {"seeds", "done", "config_hash"}
    names = [", ".join(f"{k}={v}" for k, v in r.items() if k not in skip and not k.endswith((" mean", " min", " max")))
             or str(r.get("config_hash", i)) for i, r in enumerate(rows)]
    totals = [max(1, sum(int(r.get(o, 0)) for o in outcomes)) for r in rows]
    bottom = [0.0] * len(rows)
    for o in outcomes:
        frac = [int(r.get(o, 0)) / t for r, t in zip(rows, totals)]
        if any(frac):
            ax.bar(range(len(rows)), frac, bottom=bottom, color=colours.get(o), label=o)
            bottom = [b + f for b, f in zip(bottom, frac)]
    ax.set_xticks(range(len(rows)), names, rotation=45 if len(rows) > 4 else 0, ha="right" if len(rows) > 4 else "center",
                  fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of runs")
    ax.set_title("outcome of every run, per config")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
