"""Sweeps that scale: grids x seeds into a resumable SQLite store, run locally or on Dask.

- :func:`run` (``nclab sweep``): a kind (``ufm``, an experiment, or one registered with :func:`register_kind`)
  over a grid of configs x seeds; seeds of one config run as one batched call.
- :func:`load`: a store as a pandas DataFrame (one row per (config, seed));
  :func:`load_history`, :func:`status_counts` (``nclab sweep-status``).
- :func:`store_figures`: P(DNC) with Wilson intervals and mean rank vs the swept key.
- :func:`register_kind`, :func:`get_kind`, :func:`kinds`: the sweep kinds.
- :class:`SweepIncomplete`: raised by :func:`run` when workers were lost; their runs stay
  pending and the same call resumes them.
"""
from __future__ import annotations

from nclab.sweep.grid import canonical_json, config_hash, parse_grid, parse_seeds
from nclab.sweep.kinds import REQUIRED, SweepKind
from nclab.sweep.registry import get_kind, kinds, register_kind
from nclab.sweep.runner import SweepIncomplete, SweepPlan, SweepSummary, execute_unit, plan, run
from nclab.sweep.reading import SCHEMA_VERSION, integrity_check, load, load_history, status_counts


def store_figures(store, **kwargs):
    """Figures of a sweep store; see :func:`nclab.sweep.plots.store_figures`.

    Imports matplotlib and :mod:`nclab.sweep.plots` only when called.

    Parameters
    ----------
    store : str, os.PathLike or pandas.DataFrame
        A store file, or a DataFrame as :func:`load` returns.
    **kwargs
        ``key`` (the x-axis) and ``label`` (default ``"dnc"``), as for
        :func:`nclab.sweep.plots.store_figures`.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        The figures by name (``status`` always; ``p_<label>_vs_<key>``, ``rank_vs_<key>``,
        ``loss_vs_<key>`` when the runs record them).

    Raises
    ------
    ValueError
        A ``key`` that is not a config key of the store.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4, 6]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline",
    ...         progress=False)
    >>> sorted(store_figures(path))
    ['loss_vs_d', 'p_dnc_vs_d', 'rank_vs_d', 'status']
    """
    from nclab.sweep.plots import store_figures as _store_figures

    return _store_figures(store, **kwargs)

__all__ = [
    "run", "plan", "load", "load_history", "status_counts", "integrity_check", "store_figures",
    "register_kind", "get_kind", "kinds", "SweepKind", "SweepPlan", "SweepSummary", "SweepIncomplete", "REQUIRED",
    "parse_grid", "parse_seeds", "config_hash", "canonical_json", "execute_unit", "SCHEMA_VERSION",
]
