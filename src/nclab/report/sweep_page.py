"""``nclab report STORE.sqlite``: one self-contained page for a sweep store.

The figures come from :func:`nclab.sweep.plots.store_figures` and the table from
:func:`nclab.sweep.load` (both imported lazily: the sweep package is optional here); the
summary table has one row per config: the swept keys, the number of seeds per status and
the mean (and min/max) of every final metric over the seeds that finished. A store whose kind
is a multi-seed experiment (one with a grid, e.g. ``garrod2025-width``) also shows that
experiment's judgement of the stored rows: its claims, tables, notes and figures.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nclab._json import write_atomic
from nclab.report.html import render_sweep

#: Columns of ``nclab.sweep.load`` that are bookkeeping, not config or metric.
_BOOKKEEPING = {"config_hash", "seed", "status", "error", "seconds", "batch_seconds", "batch_size",
                "finished_at", "device", "worker", "nclab_version", "kind", "config", "history"}


def _configs(df: Any) -> list[dict]:
    """Each row's config as a dict (the store keeps it as JSON text)."""
    return [json.loads(c) if isinstance(c, str) else dict(c or {}) for c in df["config"]]


def config_summary(df: Any) -> list[dict]:
    """One summary row per config of a sweep table.

    Parameters
    ----------
    df : pandas.DataFrame or None
        The rows of a store (:func:`nclab.sweep.load`).

    Returns
    -------
    list of dict
        One dict per config (in order of first appearance): the config keys that vary across
        configs, ``seeds``, the runs per status (``done``, ``diverged``, ``error``), the runs
        per outcome (:func:`outcome_counts`, for a kind that labels its runs), ``M mean``
        (and ``M min`` / ``M max`` with more than one seed) of every numeric metric ``M``
        over the seeds that did not fail, and the first 12 characters of ``config_hash``.
        Empty for an empty or missing table.

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.report.sweep_page import config_summary
    >>> df = pd.DataFrame({"config_hash": ["a", "a", "b"], "seed": [0, 1, 0],
    ...                    "status": ["done", "done", "error"], "config": ['{"d": 4}', '{"d": 4}', '{"d": 8}'],
    ...                    "loss": [1.0, 3.0, None]})
    >>> [(r["d"], r["seeds"], r["done"], r["error"], r.get("loss mean")) for r in config_summary(df)]
    [(4, 2, 2, 0, 2.0), (8, 1, 0, 1, None)]
    """
    import pandas as pd

    if df is None or len(df) == 0:
        return []
    configs = _configs(df)
    keys = sorted({k for c in configs for k in c})
    varying = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]
    metric_cols = [c for c in df.columns if c not in _BOOKKEEPING and c not in keys
                   and pd.api.types.is_numeric_dtype(df[c])]
    rows = []
    for h, group in df.groupby("config_hash", sort=False):
        cfg = configs[group.index[0]] if group.index[0] < len(configs) else {}
        row: dict[str, Any] = {k: cfg.get(k) for k in varying}
        statuses = group["status"].value_counts()
        row["seeds"] = int(len(group))
        for s in ("done", "diverged", "error"):
            row[s] = int(statuses.get(s, 0))
        row.update(outcome_counts(group))
        finished = group[group["status"] != "error"]
        for m in metric_cols:
            values = pd.to_numeric(finished[m], errors="coerce").dropna()
            if len(values):
                row[f"{m} mean"] = float(values.mean())
                if len(values) > 1:
                    row[f"{m} min"] = float(values.min())
                    row[f"{m} max"] = float(values.max())
        row["config_hash"] = str(h)[:12]
        rows.append(row)
    return rows


#: Every outcome a run of a labelling kind can have, in the order the page shows them.
OUTCOMES = ("dnc", "low_rank", "other", "not converged", "diverged", "error")


def outcome_counts(group: Any) -> dict[str, int]:
    """Runs of ``group`` (rows of one config) per outcome of :data:`OUTCOMES`.

    A finished run with a ``label`` counts under its label; one whose ``train_status`` is
    ``max_steps`` while a convergence test was asked (:func:`convergence_tested`) counts as
    ``not converged`` instead (its label is only that of its last iterate).

    Parameters
    ----------
    group : pandas.DataFrame
        Rows of a store (``status``, ``config`` and, for a labelling kind, ``label`` and
        ``train_status``).

    Returns
    -------
    dict of str to int
        Every name of :data:`OUTCOMES` with its count; empty when the rows have no ``label``
        column (the kind labels nothing).

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.report.sweep_page import outcome_counts
    >>> rows = pd.DataFrame({"status": ["done", "done", "done", "diverged"],
    ...                      "label": ["dnc", "other", "dnc", None],
    ...                      "train_status": ["converged", "max_steps", "max_steps", None],
    ...                      "config": ['{"tol": 1e-6}', '{"tol": 1e-6}', '{"tol": null}', '{"tol": 1e-6}']})
    >>> outcome_counts(rows)
    {'dnc': 2, 'low_rank': 0, 'other': 0, 'not converged': 1, 'diverged': 1, 'error': 0}
    """
    if "label" not in group.columns:
        return {}
    status = group["status"]
    unconverged = not_converged(group)
    done = (status == "done") & ~unconverged
    out = {k: int(((group["label"] == k) & done).sum()) for k in ("dnc", "low_rank", "other")}
    out["not converged"] = int(unconverged.sum())
    out["diverged"] = int((status == "diverged").sum())
    out["error"] = int((status == "error").sum())
    return out


def convergence_tested(config: dict) -> bool:
    """Whether a run of ``config`` ended in a gradient-norm test (so ``max_steps`` means it failed).

    Parameters
    ----------
    config : dict
        A row's config.

    Returns
    -------
    bool
        ``True`` when a tolerance ``tol`` is set, the optimizer is ``lbfgs`` (its default
        tolerance is 1e-9), or the run ends with an L-BFGS polish to ``polish_tol``: ``polish``
        true (the ``ufm`` kind) or, for a config without a ``polish`` key (the Garrod & Keating
        grid units, which polish whenever ``polish_steps`` > 0), ``polish_steps`` > 0.

    Examples
    --------
    >>> from nclab.report.sweep_page import convergence_tested
    >>> convergence_tested({"tol": 1e-6}), convergence_tested({"tol": None, "polish": False})
    (True, False)
    >>> convergence_tested({"polish": True, "polish_steps": 0}), convergence_tested({"polish_steps": 0})
    (True, False)
    >>> convergence_tested({"polish_steps": 300, "polish_tol": 1e-9})
    True
    """
    if config.get("tol") is not None or config.get("optimizer") == "lbfgs":
        return True
    if "polish" in config:
        return bool(config["polish"])
    return int(config.get("polish_steps") or 0) > 0


def not_converged(df: Any) -> Any:
    """Which rows stopped before their convergence test passed.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of a store.

    Returns
    -------
    pandas.Series of bool
        Per row: finished (``done``), a convergence test was asked
        (:func:`convergence_tested` of its config) and training stopped at its step limit
        (``train_status == "max_steps"``). All ``False`` when the rows have no ``train_status``.

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.report.sweep_page import not_converged
    >>> rows = pd.DataFrame({"status": ["done", "done"], "train_status": ["max_steps", "max_steps"],
    ...                      "config": ['{"tol": 1e-6}', '{}']})
    >>> not_converged(rows).tolist()
    [True, False]
    """
    import pandas as pd

    if "train_status" not in df.columns:
        return pd.Series(False, index=df.index)
    asked = pd.Series([convergence_tested(c) for c in _configs(df)], index=df.index)
    return (df["status"] == "done") & (df["train_status"] == "max_steps") & asked


def sweep_warnings(df: Any) -> list[str]:
    """What a reader of the sweep page must know before reading a frequency.

    Parameters
    ----------
    df : pandas.DataFrame or None
        Rows of a store.

    Returns
    -------
    list of str
        One sentence each for the runs that stopped at max steps before reaching their
        tolerance (``tol``, or ``polish_tol`` of a polish), the runs that ran all their steps
        without a convergence test, and the diverged and the failed runs; empty when there is
        nothing to say.

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.report.sweep_page import sweep_warnings
    >>> rows = pd.DataFrame({"status": ["done", "diverged"], "label": ["other", None],
    ...                      "train_status": ["max_steps", None], "config": ['{"tol": 1e-6}', '{"tol": 1e-6}']})
    >>> for line in sweep_warnings(rows):
    ...     print(line[:60])
    1 of 2 runs stopped at max steps before reaching tol (or pol
    1 of 2 runs ended 'diverged'.
    """
    out = []
    if df is None or len(df) == 0:
        return out
    n = len(df)
    bad = int(not_converged(df).sum())
    if bad:
        out.append(f"{bad} of {n} runs stopped at max steps before reaching tol (or polish_tol, after a polish): "
                   "they are counted as 'not converged' in the outcomes panel and table, while the frequency figure "
                   "counts them under their last iterate's label. Raise steps, lr or polish_steps to judge them.")
    if "train_status" in df.columns and "label" in df.columns:
        untested = int(((df["status"] == "done") & (df["train_status"] == "max_steps")).sum()) - bad
        if untested:
            out.append(f"{untested} of {n} runs had no convergence test (no tol, no polish) and ran all their steps: "
                       "their labels are those of the last iterate, which may not be a critical point "
                       "(an 'other' label often means 'not yet converged').")
    for status in ("diverged", "error"):
        k = int((df["status"] == status).sum())
        if k:
            out.append(f"{k} of {n} runs ended '{status}'.")
    return out


def judge_store(kind: str | None, df: Any, profile: str | None = None) -> Any:
    """The ``Outcome`` of experiment ``kind``'s judge on a store's finished rows.

    Parameters
    ----------
    kind : str or None
        The store's kind (its meta ``kind``).
    df : pandas.DataFrame
        The store's rows (``nclab.sweep.load(store, history=True)``).
    profile : {"quick", "full"} or None
        The profile the store was made with (its meta ``profile``); the judge gets that
        profile's experiment config for the keys the rows do not hold (a tolerance, the
        order of the initialisations). ``None`` (a store of an older nclab): the quick
        profile, nclab's default.

    Returns
    -------
    Outcome or None
        ``None`` when ``kind`` is not a multi-seed experiment or no row finished. The rows are
        grouped by grid point (in order of first appearance), seeds in order.

    Raises
    ------
    ValueError
        ``profile`` is neither ``"quick"``, ``"full"`` nor ``None``.

    Examples
    --------
    A ``ufm`` store has no judge, nor has a store whose runs all failed (judging real rows
    takes a multi-seed experiment's sweep, see :func:`nclab.experiments.grid.run_grid`):

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"config_hash": ["h", "h"], "seed": [0, 1], "status": ["done", "error"]})
    >>> judge_store("ufm", rows) is None, judge_store("garrod2025-width", rows.iloc[1:]) is None
    (True, True)
    >>> judge_store("garrod2025-width", rows, profile="paper")
    Traceback (most recent call last):
    ...
    ValueError: profile must be 'quick', 'full' or None, got 'paper'
    """
    from nclab.experiments import registry

    if profile not in (None, "quick", "full"):
        raise ValueError(f"profile must be 'quick', 'full' or None, got {profile!r}")
    names = {e.name for e in registry.experiments() if e.grid is not None}
    if kind not in names:
        return None
    rows = df[df["status"] != "error"]
    if len(rows) == 0:
        return None
    order = {h: i for i, h in enumerate(dict.fromkeys(rows["config_hash"]))}
    rows = rows.assign(_point=rows["config_hash"].map(order)).sort_values(["_point", "seed"], kind="stable")
    exp = registry.get(kind)
    return exp.grid.judge(exp.config(quick=profile != "full"), rows.drop(columns="_point").reset_index(drop=True))


def render_store(path: str | os.PathLike) -> str:
    """The HTML page of a sweep store.

    Parameters
    ----------
    path : str or os.PathLike
        An existing sweep store.

    Returns
    -------
    str
        A self-contained page: the store's counts (and profile), the warnings of
        :func:`sweep_warnings`, for a multi-seed experiment's store its judgement
        (:func:`judge_store`: claims, tables, notes, figures), the outcomes panel, the kind's
        figures (embedded PNGs) and :func:`config_summary`'s table.

    Raises
    ------
    ValueError
        ``path`` is not an nclab sweep store (or has another schema version).

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab import sweep
    >>> from nclab.report.sweep_page import render_store
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> _ = sweep.run("ufm", None, 1, path, fixed={"K": 3, "n": 2, "d": 4, "steps": 5}, executor="inline",
    ...               progress=False)
    >>> page = render_store(path)
    >>> page.startswith("<!DOCTYPE html>") and "s.sqlite" in page
    True
    """
    from nclab import sweep
    from nclab.sweep import plots as sweep_plots

    path = Path(path)
    counts = sweep.status_counts(path)
    df = sweep.load(path, history=True).reset_index(drop=True)
    profile = (counts.get("meta") or {}).get("profile")
    outcome = judge_store(counts.get("kind"), df, profile)
    figures = {**(outcome.figures if outcome is not None else {}), **sweep_plots.store_figures(path)}
    info = {"store": str(path.resolve()), "kind": counts.get("kind"), "configs": counts.get("configs"),
            **({"profile": profile} if profile else {}), "runs": counts.get("runs"), "done": counts.get("done"),
            "diverged": counts.get("diverged"),
            "error": counts.get("error"), "pending": counts.get("pending"),
            "total run time (s)": round(float(counts.get("seconds") or 0.0), 2)}
    for item in counts.get("errors") or []:
        info[f"error ×{item['count']}"] = item["error"]
    tables, claims, notes = {}, {}, []
    if outcome is not None:
        claims[f"Claims of experiment {counts.get('kind')} (judged on the stored rows)"] = [
            c.to_dict() for c in outcome.claims]
        tables.update({f"Table {name}": rows for name, rows in outcome.tables.items()})
        if profile is None:
            info["judged with"] = ("the quick profile's experiment settings (the store does not record the profile "
                                   "it was made with: made by an older nclab)")
        notes = list(outcome.notes)
    summary = config_summary(df)
    tables["Configs (one row per config; outcomes and metrics over finished seeds)"] = summary
    if summary and "not converged" in summary[0]:
        from nclab.report.plots import outcome_figure

        figures = {"outcomes": outcome_figure(summary), **figures}
    return render_sweep(f"nclab sweep: {path.name}", figures, tables, info, warnings=sweep_warnings(df),
                        claims=claims, notes=notes)


def write_store_page(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the page of sweep store ``path`` (:func:`render_store`), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        An existing sweep store.
    out : str or os.PathLike, optional
        The HTML file to write (default: ``STORE.html`` beside the store).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a file.
    ValueError
        ``path`` is not an nclab sweep store.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab import sweep
    >>> from nclab.report.sweep_page import write_store_page
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> _ = sweep.run("ufm", None, 1, path, fixed={"K": 3, "n": 2, "d": 4, "steps": 5}, executor="inline",
    ...               progress=False)
    >>> write_store_page(path).name
    's.html'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    out = Path(out) if out is not None else path.with_suffix(".html")
    return write_atomic(out, render_store(path))
