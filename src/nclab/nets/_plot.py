"""The figure of a tracker's table: metrics against the epoch, one panel per metric.

:func:`plot_table` draws :attr:`nclab.nets.Tracker.table` (what :meth:`nclab.nets.Tracker.plot`
returns): one line per (layer, split), a layer's train and test lines in one colour (test
dashed), NC1 panels on a log scale when every value is positive. It returns a
``matplotlib.figure.Figure`` built without pyplot, so no global figure state is touched.
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from nclab._validation import fail

__all__ = ["plot_table"]


def plot_table(table: pd.DataFrame, metrics: Sequence[str] | str, *, ax: Any = None) -> Any:
    """The recorded metrics of a tracker's ``table`` against the epoch (see :meth:`nclab.nets.Tracker.plot`).

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``epoch``, ``split``, ``layer`` and metric columns.
    metrics : sequence of str or str
        Columns of ``table``; those absent from it are skipped.
    ax : matplotlib Axes or sequence of them, optional
        One axes per shown metric; default: a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``table`` is empty, no metric is a column of it, or ``ax`` has the wrong length.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"epoch": [0, 1], "split": "train", "layer": "penultimate", "nc1": [1.0, 0.5]})
    >>> fig = plot_table(table, ["nc1", "absent"])
    >>> len(fig.axes), fig.axes[0].get_yscale()
    (1, 'log')
    """
    if table.empty:
        fail("tracker", "no recorded epoch", "tracker.epoch_end(...) called at least once before plot()")
    if isinstance(metrics, str):
        metrics = [metrics]
    shown = [m for m in metrics if m in table.columns]
    if not shown:
        fail("metrics", list(metrics), f"columns of tracker.table ({', '.join(c for c in table.columns if c.startswith('nc'))})")
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3.4 * len(shown), 3.0), layout="constrained")
        axes = fig.subplots(1, len(shown), squeeze=False)[0]
    else:
        axes = list(ax) if isinstance(ax, (list, tuple)) else [ax]
        if len(axes) != len(shown):
            fail("ax", f"{len(axes)} axes", f"one per shown metric ({len(shown)})")
        fig = axes[0].figure
    colours = {layer: f"C{i}" for i, layer in enumerate(dict.fromkeys(table["layer"]))}
    for a, metric in zip(axes, shown):
        for (layer, split), part in table.groupby(["layer", "split"], sort=False):
            a.plot(part["epoch"], part[metric], marker="o", ms=3, color=colours[layer],
                   ls="-" if split == "train" else "--", label=f"{layer} ({split})")
        a.set_xlabel("epoch")
        a.set_ylabel(metric)
        if metric.startswith("nc1") and bool((table[metric] > 0).all()):
            a.set_yscale("log")
    axes[0].legend(fontsize="small")
    return fig
