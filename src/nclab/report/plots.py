"""The report's own figure: claims passed / failed / crashed per paper (no pyplot, no global state).

:func:`claims_summary_figure` draws it on a ``matplotlib.figure.Figure`` (never pyplot, no
change to ``matplotlib.rcParams``); :func:`figure_png` is the PNG form the page embeds.
"""
from __future__ import annotations

import io
from typing import Mapping, Sequence

from matplotlib.figure import Figure

#: Colours of verdicts (the same as the report page's stylesheet).
PASS_COLOR = "#2E7D32"
FAIL_COLOR = "#C62828"
CRASH_COLOR = "#6A1B9A"
_FONT = {"label": 11.0, "tick": 9.5, "legend": 9.0}


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (the same settings as the saved experiment figures)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def claims_summary_figure(
    counts: Mapping[str, Mapping[str, int]],
    *,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Horizontal stacked bars of claims passed / failed and experiments crashed per paper.

    ``counts`` maps a paper key to ``{"passed": p, "failed": f, "crashed": c}`` (missing
    entries count 0); ``labels`` gives the bar labels (default: the keys). Papers are drawn
    top to bottom in the order given.
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
    ax.set_xlabel("count", fontsize=_FONT["label"])
    if keys and max(left) > 0:
        ax.set_xlim(0, max(left) * 1.02)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=_FONT["legend"], frameon=False)
    return fig


def outcome_figure(rows: Sequence[Mapping], outcomes: Sequence[str] = ("dnc", "low_rank", "other", "not converged",
                                                                     "diverged", "error")) -> Figure:
    """Stacked bars: per config (a row of the sweep page's summary), the fraction of its runs
    with each outcome, so that no outcome class is hidden behind a frequency of one label."""
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
