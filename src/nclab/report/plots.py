"""Shared figure style for experiments and reports: paper-like, readable in a browser.

Every helper works on ``matplotlib.figure.Figure`` objects and their axes only: no pyplot,
no change to ``matplotlib.rcParams`` (no global state). Experiments may use them to give
all figures one look::

    from nclab.report.plots import new_figure, style_axes, color

    fig = new_figure(1, 2)
    ax0, ax1 = fig.axes
    ax0.plot(steps, loss, color=color(0), label="GD")
    style_axes(ax0, xlabel="iteration $t$", ylabel=r"loss $\\mathcal{L}$", ylog=True, legend=True)

The report's own summary figure (:func:`claims_summary_figure`) lives here too.
"""
from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Colour cycle (Okabe & Ito's colour-blind safe palette, black last).
COLORS: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
#: Markers that stay distinguishable in grey scale, in the order of :data:`COLORS`.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Colours of verdicts (used in the report page and summary figure).
PASS_COLOR = "#2E7D32"
FAIL_COLOR = "#C62828"
CRASH_COLOR = "#6A1B9A"

#: Size of one panel in inches: at the page's 110 dpi a panel is ~500 px wide.
PANEL_SIZE: tuple[float, float] = (4.6, 3.4)
_FONT = {"label": 11.0, "tick": 9.5, "title": 11.5, "legend": 9.0}


def color(i: int) -> str:
    """The ``i``-th colour of the cycle :data:`COLORS` (wrapping around)."""
    return COLORS[int(i) % len(COLORS)]


def marker(i: int) -> str:
    """The ``i``-th marker of :data:`MARKERS` (wrapping around)."""
    return MARKERS[int(i) % len(MARKERS)]


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel_size: tuple[float, float] = PANEL_SIZE,
    sharex: bool | str = False,
    sharey: bool | str = False,
    suptitle: str | None = None,
    **subplot_kw: Any,
) -> Figure:
    """A new ``Figure`` with an ``nrows`` x ``ncols`` grid of styled axes (``fig.axes``).

    The figure uses the constrained layout (labels never overlap), its size is
    ``panel_size`` per panel, and every axes gets the colour cycle :data:`COLORS`, a light
    grid and no top/right spines. ``subplot_kw`` goes to ``add_subplot`` (e.g. a projection).
    """
    for name, value in (("nrows", nrows), ("ncols", ncols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    width, height = panel_size
    fig = Figure(figsize=(width * ncols, height * nrows + (0.3 if suptitle else 0.0)), layout="constrained")
    fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False, subplot_kw=subplot_kw or None)
    for ax in fig.axes:
        apply_style(ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=_FONT["title"] + 0.5)
    return fig


def apply_style(ax: Axes) -> Axes:
    """Give one axes the report style: colour cycle, light grid, no top/right spines."""
    ax.set_prop_cycle(color=list(COLORS))
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        if side in ax.spines:
            ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=_FONT["tick"])
    return ax


def style_axes(
    ax: Axes,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    xlog: bool = False,
    ylog: bool = False,
    legend: bool | str = False,
    legend_title: str | None = None,
) -> Axes:
    """Label an axes and set log scales as the papers do; returns ``ax``.

    ``legend`` adds a legend of the labelled artists (``True`` for matplotlib's best place,
    or a location string). Log scales mark minor grid lines too, so decades read off easily.
    """
    apply_style(ax)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=_FONT["label"])
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=_FONT["label"])
    if title is not None:
        ax.set_title(title, fontsize=_FONT["title"])
    log_axes(ax, x=xlog, y=ylog)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            loc = legend if isinstance(legend, str) else "best"
            ax.legend(loc=loc, fontsize=_FONT["legend"], title=legend_title, frameon=False)
    return ax


def log_axes(ax: Axes, *, x: bool = False, y: bool = False) -> Axes:
    """Set logarithmic ``x`` and/or ``y`` scales with a faint minor grid; returns ``ax``."""
    if x:
        ax.set_xscale("log")
        ax.grid(True, which="minor", axis="x", alpha=0.12, linewidth=0.4)
    if y:
        ax.set_yscale("log")
        ax.grid(True, which="minor", axis="y", alpha=0.12, linewidth=0.4)
    return ax


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
    ax = apply_style(fig.add_subplot())
    ax.grid(False)
    ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
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
