"""Figures of a sweep store: P(DNC) with Wilson intervals, mean rank and final loss vs the swept key.

GK Fig. 2 plots the frequency of DNC against the width d and against lambda (10 runs per
point), Fig. 5 the rank of the solution against the same keys. :func:`store_figures` draws
those from any store whose runs carry a ``label`` metric (``dnc`` / ``low_rank`` / ``other``)
and a rank (``rank_Z`` for the ufm kind, ``rank`` otherwise). The x-axis is the swept key with
the most values; other swept keys become one curve each. Keys whose values are positive and
span more than a factor 30 (lambda grids) get a log2 axis.
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

#: Columns of ``load()`` that are not config keys.
_NON_CONFIG = {"config_hash", "seed", "status", "error", "seconds", "batch_seconds", "batch_size",
               "finished_at", "device", "worker", "nclab_version", "kind", "config", "history"}


def wilson_interval(successes: Any, n: Any, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson 1927), vectorised.

    ``(p + z^2/(2n) +- z sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)`` with p = successes/n;
    ``n = 0`` gives (0, 1), and the ends are exact: 0 successes give low 0, n successes high 1.

    Parameters
    ----------
    successes : array_like
        Success counts.
    n : array_like
        Numbers of trials (broadcast with ``successes``).
    z : float, default 1.959963984540054
        The normal quantile: the 95% two-sided one by default.

    Returns
    -------
    low, high : numpy.ndarray
        The interval's ends, in [0, 1].

    References
    ----------
    E. B. Wilson, "Probable inference, the law of succession, and statistical inference",
    JASA 22 (1927), 209-212.

    Examples
    --------
    >>> low, high = wilson_interval([19, 0, 5], [20, 10, 0])
    >>> low.round(3).tolist(), high.round(3).tolist()
    ([0.764, 0.0, 0.0], [0.991, 0.278, 1.0])
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
        denom = 1 + z * z / np.where(n > 0, n, 1)
        centre = (p + z * z / (2 * np.where(n > 0, n, 1))) / denom
        half = z * np.sqrt(p * (1 - p) / np.where(n > 0, n, 1) + z * z / (4 * np.where(n > 0, n, 1) ** 2)) / denom
    low = np.where((n > 0) & (k > 0), np.clip(centre - half, 0, 1), 0.0)  # exact 0 and 1 at the ends
    high = np.where((n > 0) & (k < n), np.clip(centre + half, 0, 1), 1.0)
    return low, high


def swept_keys(df: pd.DataFrame) -> list[str]:
    """Config columns with more than one distinct value: numeric ones first, most values first.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as :func:`nclab.sweep.load` returns (with its ``config`` column).

    Returns
    -------
    list of str
        The swept config keys (metric columns and the store's bookkeeping columns excluded).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"config": ['{"d": 4, "K": 3}'] * 3, "d": [4, 6, 8], "K": [3, 3, 3],
    ...                    "seed": [0, 1, 2], "label": ["dnc"] * 3})
    >>> swept_keys(df)
    ['d']
    """
    keys = []
    for c in df.columns:
        if c in _NON_CONFIG or c.startswith("m_"):
            continue
        try:
            distinct = df[c].map(lambda v: repr(v)).nunique()
        except Exception:  # pragma: no cover
            continue
        if distinct > 1 and _is_config_column(df, c):
            numeric = bool(pd.to_numeric(df[c], errors="coerce").notna().all())
            keys.append((numeric, distinct, c))
    return [c for *_, c in sorted(keys, key=lambda t: (not t[0], -t[1]))]


def _is_config_column(df: pd.DataFrame, column: str) -> bool:
    import json

    first = df["config"].iloc[0] if len(df) else "{}"
    return column in json.loads(first)


def frequency_table(df: pd.DataFrame, key: str, *, label: str = "dnc", by: Sequence[str] = (),
                    z: float = 1.959963984540054) -> pd.DataFrame:
    """P(label) per value of ``key`` (and of the ``by`` keys) among finished runs with a label.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as :func:`nclab.sweep.load` returns, with ``status`` and ``label`` columns.
    key : str
        The config key of the rows of the table.
    label : str, default "dnc"
        The label counted.
    by : sequence of str, default ()
        Further keys to group by.
    z : float, default 1.959963984540054
        The normal quantile of the interval (:func:`wilson_interval`).

    Returns
    -------
    pandas.DataFrame
        Columns: the keys, ``n`` (finished runs with a label), ``count`` (runs with this
        label), ``diverged`` (runs that diverged, not in n), ``p`` (NaN when n = 0), ``low``,
        ``high`` (Wilson interval); sorted by the keys.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"d": [4, 4, 8, 8], "status": ["done", "done", "done", "diverged"],
    ...                    "label": ["dnc", "low_rank", "dnc", None]})
    >>> frequency_table(df, "d")[["d", "n", "count", "diverged", "p"]]
       d  n  count  diverged    p
    0  4  2      1         0  0.5
    1  8  1      1         1  1.0
    """
    keys = [key, *by]
    runs = df[df["status"].isin(["done", "diverged"])].copy()
    runs["_hit"] = (runs["label"] == label) & (runs["status"] == "done")
    runs["_has"] = runs["label"].notna() & (runs["status"] == "done")
    runs["_div"] = runs["status"] == "diverged"
    grouped = runs.groupby(keys, dropna=False).agg(n=("_has", "sum"), count=("_hit", "sum"), diverged=("_div", "sum"))
    grouped = grouped.reset_index()
    grouped["p"] = np.where(grouped["n"] > 0, grouped["count"] / grouped["n"].clip(lower=1), np.nan)
    grouped["low"], grouped["high"] = wilson_interval(grouped["count"], grouped["n"], z)
    return grouped.sort_values(keys).reset_index(drop=True)


def _log_axis(values: Sequence[Any]) -> bool:
    try:
        v = np.asarray([float(x) for x in values])
    except (TypeError, ValueError):
        return False
    return bool(len(v) > 1 and (v > 0).all() and v.max() / v.min() > 30)


def _series(df: pd.DataFrame, key: str, others: list[str]) -> list[tuple[str, pd.DataFrame]]:
    if not others:
        return [("", df)]
    out = []
    for values, part in df.groupby(others, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        out.append((", ".join(f"{k}={_fmt(v)}" for k, v in zip(others, values)), part))
    return out[:10]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value > 0 and math.log2(value).is_integer() and abs(math.log2(value)) > 3:
            return f"2^{int(math.log2(value))}"
        return f"{value:g}"
    return str(value)


def _symbol(key: str) -> str:
    return {"lam": r"$\lambda$", "d": "width $d$", "L": "depth $L$", "K": "classes $K$", "n": "$n$ per class",
            "lam_H": r"$\lambda_H$", "lam_W": r"$\lambda_W$", "init_scale": "init scale", "lr": "learning rate",
            "beta": r"$\beta$"}.get(key, key)


#: At most this many x values get a tick each (at the data); more keep matplotlib's ticks.
MAX_DATA_TICKS = 15


def _xaxis(ax: Any, key: str, values: Sequence[Any]) -> None:
    """Label the x-axis; a log axis for values spanning over 30x; a tick at each value run."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xlabel(_symbol(key))
    if _log_axis(values):
        ax.set_xscale("log", base=2)
    try:
        ticks = sorted({float(v) for v in values if v is not None and math.isfinite(float(v))})
    except (TypeError, ValueError):
        return
    if 0 < len(ticks) <= MAX_DATA_TICKS:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ticks, [_fmt(int(t) if t.is_integer() and abs(t) < 1e15 else t) for t in ticks])


def store_figures(store: str | os.PathLike | pd.DataFrame, *, key: str | None = None,
                  label: str = "dnc") -> dict[str, Any]:
    """Figures of a sweep store (or of a ``load()`` DataFrame), as ``{name: Figure}``.

    - ``p_<label>_vs_<key>``: P(label) per key value with 95% Wilson intervals (GK Fig. 2);
    - ``rank_vs_<key>``: mean rank of the class-mean logits with its 95% Student t interval
      over the seeds (GK Fig. 5);
    - ``loss_vs_<key>``: mean final loss with its 95% t interval (when the runs record it);
    - ``status``: runs per status for every config (always drawn).
    Up to :data:`MAX_DATA_TICKS` x values, each has its tick. Figures are
    ``matplotlib.figure.Figure`` objects (no pyplot state).

    Parameters
    ----------
    store : str, os.PathLike or pandas.DataFrame
        A store file, or its rows as :func:`nclab.sweep.load` returns.
    key : str, optional
        The x-axis; default: the swept key with the most values (see :func:`swept_keys`).
        Up to two other swept keys become one curve per value combination.
    label : str, default "dnc"
        The label whose frequency is drawn.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``status`` always; the others when there is a swept key and the runs record a label, a
        rank or a final loss.

    Raises
    ------
    ValueError
        A ``key`` that is not a config key of the store.

    References
    ----------
    Garrod, Keating. The persistence of neural collapse despite low-rank bias. NeurIPS 2025
    (arXiv 2410.23169), Fig. 2 (frequency of DNC vs width and lambda) and Fig. 5 (rank).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"config_hash": ["a", "a", "b", "b"], "config": ['{"d": 4}'] * 4,
    ...                    "d": [4, 4, 8, 8], "seed": [0, 1, 0, 1], "status": ["done"] * 4,
    ...                    "label": ["dnc", "low_rank", "dnc", "dnc"], "rank": [3, 2, 3, 3]})
    >>> sorted(store_figures(df))
    ['p_dnc_vs_d', 'rank_vs_d', 'status']
    >>> store_figures(df, key="K")
    Traceback (most recent call last):
    ...
    ValueError: key 'K' is not a config key of the store; swept keys: ['d']
    """
    from matplotlib.figure import Figure

    from nclab.experiments import rules
    from nclab.sweep.reading import load

    df = store if isinstance(store, pd.DataFrame) else load(store)
    figures: dict[str, Any] = {}
    swept = swept_keys(df) if len(df) else []
    if key is not None and key not in df.columns:
        raise ValueError(f"key {key!r} is not a config key of the store; swept keys: {swept}")
    x = key or (swept[0] if swept else None)
    others = [k for k in swept if k != x][:2]

    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    counts = df.groupby("status").size() if len(df) else pd.Series(dtype=int)
    statuses = ["done", "diverged", "error"]
    ax.bar(statuses, [int(counts.get(s, 0)) for s in statuses], color=["tab:green", "tab:orange", "tab:red"])
    ax.set_ylabel("runs")
    ax.set_title(f"{len(df)} runs, {df['config_hash'].nunique() if len(df) else 0} configs")
    figures["status"] = fig
    if x is None or not len(df):
        return figures

    done = df[df["status"] == "done"]
    if "label" in df.columns and df["label"].notna().any():
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
        for name, part in _series(df, x, others):
            tab = frequency_table(part, x, label=label)
            xs = tab[x].astype(float).to_numpy()
            err = np.clip(np.vstack([tab["p"] - tab["low"], tab["high"] - tab["p"]]), 0, None)
            ax.errorbar(xs, tab["p"], yerr=err, marker="o", capsize=3, label=name or f"P({label})")
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(f"P({label.upper() if label == 'dnc' else label})")
        n_per = df.groupby("config_hash").size()
        runs = f"{int(n_per.min())}" if n_per.min() == n_per.max() else f"{int(n_per.min())}-{int(n_per.max())}"
        ax.set_title(f"frequency of {label} ({runs} runs per point, 95% Wilson intervals)")
        _xaxis(ax, x, df[x].unique())
        ax.legend(fontsize="small")
        figures[f"p_{label}_vs_{x}"] = fig
    rank_col = "rank_Z" if "rank_Z" in df.columns else ("rank" if "rank" in df.columns else None)
    for col, name, ylabel in ((rank_col, "rank", "rank of class-mean logits $\\bar Z$"),
                              ("final_loss" if "final_loss" in df.columns else None, "loss", "final loss")):
        if col is None or not len(done) or not done[col].notna().any():
            continue
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
        for series, part in _series(done, x, others):
            values = pd.to_numeric(part[col], errors="coerce")
            points = sorted(values.groupby(part[x]), key=lambda item: float(item[0]))
            est = [rules.mean(v.to_numpy(dtype=float)) for _, v in points]
            means = np.array([e.value for e in est])
            # one finite value: no interval (drawn without a bar)
            low = np.array([e.value - e.low if math.isfinite(e.low) else 0.0 for e in est])
            high = np.array([e.high - e.value if math.isfinite(e.high) else 0.0 for e in est])
            ax.errorbar([float(k) for k, _ in points], means, yerr=[low, high], marker="o", capsize=3,
                        label=(series or f"mean {name}") + " (95% t)")
        ax.set_ylabel(ylabel)
        if name == "loss" and (pd.to_numeric(done[col], errors="coerce") > 0).all():
            ax.set_yscale("log")
        _xaxis(ax, x, df[x].unique())
        ax.legend(fontsize="small")
        ax.set_title(f"mean {name} per point (95% t intervals over the seeds)")
        figures[f"{name}_vs_{x}"] = fig
    return figures
