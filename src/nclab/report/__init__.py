"""Reports: ``nclab reproduce`` (every paper experiment, one HTML page) and sweep store pages.

- :func:`reproduce`: run the registered experiments, write ``index.html``, ``results.json``
  and one folder per experiment; :func:`summary_lines` is its terminal summary.
- :func:`render_report`, :func:`write_report`: the self-contained page of a ``results.json``
  (figures embedded as base64 PNG, no network); :func:`load_report` reads one back.
- :func:`claims_summary_figure`: the page's bar chart of claims passed/failed per paper.
- :func:`write_store_page`: the page of a sweep store (``nclab report STORE.sqlite``).
"""
from __future__ import annotations

from nclab.report.html import claim_counts, format_value, render_report, write_report
from nclab.report.plots import claims_summary_figure
from nclab.report.reproduce import ReproduceSummary, environment, load_report, reproduce, select_experiments, summary_lines


def write_store_page(path, out=None):
    """The HTML page of a sweep store; see :func:`nclab.report.sweep_page.write_store_page`.

    Imports :mod:`nclab.report.sweep_page` (and the sweep readers) only when called.

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
    >>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
    >>> _ = sweep.run("ufm", None, 1, path, fixed={"K": 3, "n": 2, "d": 4, "steps": 5}, executor="inline",
    ...               progress=False)
    >>> page = write_store_page(path, os.path.join(os.path.dirname(path), "page.html"))
    >>> page.name, page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    ('page.html', True)
    >>> write_store_page(os.path.join(os.path.dirname(path), "missing.sqlite"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such file or directory: '...missing.sqlite'
    """
    from nclab.report.sweep_page import write_store_page as _write

    return _write(path, out)

__all__ = [
    "reproduce", "summary_lines", "ReproduceSummary", "environment", "select_experiments", "load_report",
    "render_report", "write_report", "claim_counts", "format_value", "write_store_page",
    "claims_summary_figure",
]
