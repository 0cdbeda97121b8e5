"""The self-contained HTML page of a reproduction: figures embedded, no network, opens from disk.

The input is the report dictionary that ``nclab reproduce`` writes as ``results.json``::

    {"format": "nclab-reproduce/1", "title": ..., "profile": "quick" | "full", "created": ...,
     "device": ..., "environment": {...}, "total_seconds": ..., "experiments": [entry, ...]}

where each entry is an experiment's JSON (``ExperimentResult.to_dict()``) plus ``status``
(``"ok"``, ``"crashed"`` or ``"pending"``), ``folder`` (where its PNGs lie, relative to the
page) and, for a crash, ``error`` and ``traceback``. :func:`render_report` turns it into one
page: a summary (claims passed/failed per paper, links to sections, failed claims listed), a
section per paper with each experiment's figures next to the paper's description, its claims
table (claim, source, expected, measured, verdict), tables, metrics, configuration and timing,
and the environment. Figures are read from disk and embedded as base64 PNG.
"""
from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from nclab._json import write_atomic
from nclab._notation import prose
from nclab.report._markup import (
    WIDE_PX, _badge, _figure, _kv_table, _seconds, _table, format_value, png_data_uri, png_width, slug,
)
from nclab.report._style import CSS

REPORT_FORMAT = "nclab-reproduce/1"


# ----------------------------------------------------------------------------- counting
def claim_counts(entries: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """Experiments and claims per paper of a report's entries.

    Parameters
    ----------
    entries : iterable of mapping
        The ``experiments`` of a report dictionary (each with ``paper``, ``status`` and
        ``claims``); a status other than ok / crashed / pending counts as crashed.

    Returns
    -------
    dict of str to dict
        Per paper key, in order of first appearance: ``experiments``, ``ok``, ``crashed``,
        ``pending`` (experiments) and ``passed``, ``failed`` (claims).

    Examples
    --------
    >>> from nclab.report.html import claim_counts
    >>> claim_counts([{"paper": "p", "status": "ok", "claims": [{"passed": True}, {"passed": False}]},
    ...               {"paper": "p", "status": "crashed"}])
    {'p': {'experiments': 2, 'ok': 1, 'crashed': 1, 'pending': 0, 'passed': 1, 'failed': 1}}
    """
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        c = counts.setdefault(e.get("paper", ""), dict.fromkeys(
            ("experiments", "ok", "crashed", "pending", "passed", "failed"), 0))
        c["experiments"] += 1
        status = e.get("status", "ok")
        c[status if status in ("ok", "crashed", "pending") else "crashed"] += 1
        for claim in e.get("claims", []):
            c["passed" if claim.get("passed") else "failed"] += 1
    return counts


# ----------------------------------------------------------------------------- sections
def _statistics(claim: Mapping) -> str:
    """``rule · n = 100 seeds · estimate 0.93, 95% interval [0.86, 0.97]`` under a claim's measured value."""
    parts = [escape(str(claim["rule"]))] if claim.get("rule") else []
    if claim.get("n_seeds") is not None:
        parts.append(f"n = {int(claim['n_seeds'])} seeds")
    if claim.get("estimate") is not None:
        text = f"estimate {format_value(claim['estimate'])}"
        if claim.get("interval") is not None:
            low, high = (format_value(v) for v in claim["interval"])
            text += f", 95% interval [{low}, {high}]"
        parts.append(escape(text))
    return f'<br><small>{" · ".join(parts)}</small>' if parts else ""


def _claims_table(entry: Mapping) -> str:
    claims = entry.get("claims", [])
    if not claims:
        return ""
    rows = []
    for c in claims:
        ok = bool(c.get("passed"))
        anchor = f"claim-{slug(entry.get('experiment', ''))}-{slug(c.get('id', ''))}"
        rows.append(
            f'<tr class="{"pass" if ok else "fail"}" id="{anchor}">'
            f'<td><b>{escape(str(c.get("id", "")))}</b><br>{prose(c.get("text", ""))}</td>'
            f'<td>{prose(c.get("source", ""))}</td>'
            f'<td><code>{prose(c.get("expected", ""))}</code></td>'
            f'<td><code>{escape(format_value(c.get("measured")))}</code>{_statistics(c)}'
            + (f'<br><span class="muted">{prose(c["note"])}</span>' if c.get("note") else "")
            + f'</td><td>{_badge("pass") if ok else _badge("fail")}</td></tr>'
        )
    head = "<tr><th>claim</th><th>source</th><th>expected</th><th>measured</th><th>verdict</th></tr>"
    return f'<table class="claims"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _checks_table(entry: Mapping) -> str:
    checks = entry.get("checks", [])
    if not checks:
        return ""
    rows = "".join(
        f'<tr class="{"pass" if c.get("passed") else "fail"}"><td><b>{escape(str(c.get("id", "")))}</b> '
        f'{prose(c.get("text", ""))}</td><td><code>{prose(c.get("expected", ""))}</code></td>'
        f'<td><code>{escape(format_value(c.get("measured")))}</code></td>'
        f'<td>{_badge("pass") if c.get("passed") else _badge("fail")}</td></tr>' for c in checks)
    return ('<details><summary>Sanity checks of the solvers (' + str(len(checks)) + '; not paper claims)</summary>'
            '<table class="claims"><thead><tr><th>check</th><th>expected</th><th>measured</th><th>verdict</th></tr>'
            f'</thead><tbody>{rows}</tbody></table></details>')


_COVERAGE_BADGE = {"reproduced": "pass", "not reproduced": "fail", "not run": "pending", "not covered": "pending",
                   "unknown": "pending"}


def _coverage_table(rows: Sequence[Mapping]) -> str:
    if not rows:
        return ""
    body = []
    for r in rows:
        links = ", ".join(
            f'<a href="#claim-{slug(c.split("/")[0])}-{slug(c.split("/")[1])}">{escape(c)}</a>' for c in r["claims"])
        what = links or escape(str(r.get("reason", "")))
        if r["claims"] and r.get("reason"):
            what += f'<br><span class="muted">{escape(str(r["reason"]))}</span>'
        body.append(f'<tr><td><b>{escape(str(r["ref"]))}</b><br>{escape(str(r["statement"]))}</td><td>{what}</td>'
                    f'<td>{_badge(_COVERAGE_BADGE.get(r["status"], "pending"), r["status"].upper())}</td></tr>')
    return ('<h3>Coverage of the paper</h3><table class="claims coverage"><thead><tr><th>item</th><th>claims (or why none)</th>'
            f'<th>status</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def _other_timings(timings: Mapping, profile: str) -> str:
    parts = []
    for other, t in sorted((timings or {}).items()):
        if other != profile and isinstance(t, Mapping):
            parts.append(f"{escape(other)} profile took {_seconds(t.get('seconds'))} on {escape(str(t.get('device', '?')))}"
                         + (f" ({escape(str(t['created']))})" if t.get("created") else ""))
    return (" · " + "; ".join(parts)) if parts else ""


def _experiment(entry: Mapping, base_dir: Path, profile: str, timings: Mapping | None = None) -> str:
    name = str(entry.get("experiment", "?"))
    status = entry.get("status", "ok")
    claims = entry.get("claims", [])
    n_pass = sum(bool(c.get("passed")) for c in claims)
    if status == "crashed":
        badge = _badge("crash", "CRASHED")
    elif status == "pending":
        badge = _badge("pending", "NOT RUN")
    elif n_pass == len(claims):
        badge = _badge("pass", f"{n_pass}/{len(claims)} claims")
    else:
        badge = _badge("fail", f"{n_pass}/{len(claims)} claims")
    timing = ""
    if status != "pending":
        timing = f" · ran in {_seconds(entry.get('seconds'))} ({escape(profile)} profile)"
    parts = [f'<section class="exp {escape(status)}" id="exp-{slug(name)}">',
             f'<h3>{escape(str(entry.get("title", name)))} {badge}</h3>',
             f'<p class="meta"><code>{escape(name)}</code>{timing}{_other_timings(timings or {}, profile)}</p>']

    folder = base_dir / str(entry.get("folder", name))
    narrow, wide = [], []
    for fname in entry.get("figures", []):
        path = folder / fname
        data = path.read_bytes() if path.is_file() else None
        href = os.path.relpath(path, base_dir).replace(os.sep, "/") if data is not None else None
        (wide if png_width(data) > WIDE_PX else narrow).append(_figure(data, fname, href))
    desc = prose(entry.get("description", "")).replace("\n\n", "</p><p>")
    aside = [f'<h4>The paper</h4><blockquote><p>{desc or "(no description)"}</p></blockquote>']
    notes = entry.get("notes", [])
    if notes:
        aside.append("<h4>Notes</h4><ul>" + "".join(f"<li>{prose(n)}</li>" for n in notes) + "</ul>")
    if status == "crashed":
        parts.append(f'<div class="error"><p><b>This experiment crashed:</b> <code>{escape(str(entry.get("error", "")))}</code></p>'
                     f'<details><summary>traceback</summary><pre>{escape(str(entry.get("traceback", "")))}</pre></details></div>')
    elif status == "pending":
        parts.append('<p class="muted">Not run yet: the reproduction was interrupted or is still running.</p>')
    if narrow:  # figures beside the description, wide ones below at full width
        parts.append(f'<div class="exp-body"><div class="figs">{"".join(narrow)}</div><aside>{"".join(aside)}</aside></div>')
    else:
        parts.append(f'<aside class="wide">{"".join(aside)}</aside>')
    if wide:
        parts.append(f'<div class="figs wide">{"".join(wide)}</div>')
    parts.append(_claims_table(entry))
    parts.append(_checks_table(entry))
    for tname, rows in (entry.get("tables") or {}).items():
        parts.append(f"<h4>Table: {escape(str(tname))}</h4>{_table(list(rows))}")
    metrics = entry.get("metrics") or {}
    if metrics:
        opened = " open" if len(metrics) <= 12 else ""
        parts.append(f"<details{opened}><summary>Metrics ({len(metrics)})</summary>{_kv_table(metrics)}</details>")
    config = entry.get("config") or {}
    if config:
        parts.append(f"<details><summary>Configuration ({len(config)} settings)</summary>{_kv_table(config)}</details>")
    parts.append("</section>")
    return "\n".join(parts)


def _summary(entries: Sequence[Mapping], papers: Mapping[str, str], coverage: Mapping | None = None) -> str:
    from nclab.experiments.coverage import uncovered_count

    coverage = coverage or {}
    counts = claim_counts(entries)
    total = {k: sum(c[k] for c in counts.values()) for k in ("experiments", "ok", "crashed", "pending", "passed", "failed")}
    boxes = [("experiments", total["experiments"], ""), ("claims passed", total["passed"], "pass"),
             ("claims failed", total["failed"], "fail" if total["failed"] else ""),
             ("crashed", total["crashed"], "crash" if total["crashed"] else "")]
    if total["pending"]:
        boxes.append(("not run", total["pending"], "pending"))
    out = ['<section id="summary"><h2>Summary</h2><div class="boxes">']
    out += [f'<div class="box {cls}"><span>{n}</span>{escape(label)}</div>' for label, n, cls in boxes]
    out.append("</div>")
    rows = []
    for paper, c in counts.items():
        seconds = sum(float(e.get("seconds") or 0) for e in entries if e.get("paper", "") == paper)
        cls = "fail" if c["failed"] or c["crashed"] else "pass"
        rows.append(f'<tr class="{cls}"><td><a href="#paper-{slug(paper)}">{escape(paper or "other")}</a>'
                    f'<br><small class="muted">{escape(papers.get(paper, ""))}</small></td>'
                    f'<td>{c["ok"]}/{c["experiments"]}</td><td>{c["crashed"]}</td><td>{c["passed"]}</td>'
                    f'<td>{c["failed"]}</td><td>{uncovered_count(coverage.get(paper, []))} of '
                    f'{len(coverage.get(paper, []))}</td><td>{_seconds(seconds)}</td></tr>')
    out.append('<table class="summary"><thead><tr><th>paper</th><th>experiments run</th><th>crashed</th>'
               '<th>claims passed</th><th>claims failed</th><th>paper items not covered</th><th>time</th></tr></thead>'
               f'<tbody>{"".join(rows)}</tbody></table>')
    summary_png = _summary_png(counts)
    if summary_png:
        out.append(f'<figure class="summary-fig"><img src="{png_data_uri(summary_png)}" alt="claims per paper"></figure>')
    bad = []
    for e in entries:
        name = str(e.get("experiment", "?"))
        if e.get("status") == "crashed":
            bad.append(f'<li>{_badge("crash", "CRASHED")} <a href="#exp-{slug(name)}">{escape(name)}</a>: '
                       f'<code>{escape(str(e.get("error", "")))}</code></li>')
        for c in e.get("claims", []):
            if not c.get("passed"):
                bad.append(f'<li>{_badge("fail")} <a href="#claim-{slug(name)}-{slug(c.get("id", ""))}">'
                           f'{escape(name)} / {escape(str(c.get("id", "")))}</a>: expected <code>{escape(str(c.get("expected", "")))}</code>, '
                           f'measured <code>{escape(format_value(c.get("measured")))}</code></li>')
    if bad:
        out.append(f'<h3>Did not reproduce ({len(bad)})</h3><ul class="bad">{"".join(bad)}</ul>')
    elif entries:
        out.append('<p class="allgood">Every claim checked reproduced.</p>')
    out.append("</section>")
    return "\n".join(out)


def _summary_png(counts: Mapping[str, Mapping[str, int]]) -> bytes | None:
    if len(counts) < 1:
        return None
    from nclab.report.plots import claims_summary_figure, figure_png

    fig = claims_summary_figure(counts, labels={k: k or "(none)" for k in counts})
    return figure_png(fig, dpi=90)


def _environment(report: Mapping) -> str:
    env = dict(report.get("environment") or {})
    info = {k: report[k] for k in ("profile", "device", "created", "command") if report.get(k)}
    if report.get("total_seconds") is not None:
        info["total time"] = _seconds(report["total_seconds"])
    return f'<section id="environment"><h2>Environment</h2>{_kv_table({**info, **env})}</section>'


def render_report(report: Mapping, *, base_dir: str | os.PathLike = ".") -> str:
    """The HTML page of a report dictionary (the ``results.json`` of ``nclab reproduce``).

    Parameters
    ----------
    report : mapping
        The report dictionary (see the module docstring).
    base_dir : str or os.PathLike, optional
        Where the entries' figure folders lie: figures are read from
        ``base_dir / entry["folder"] / name`` and embedded as base64 PNG; a missing file is
        shown as such rather than failing.

    Returns
    -------
    str
        The self-contained page: summary, a section per paper (coverage, experiments with
        their figures, claims, tables, notes, configuration and timing), environment.

    Examples
    --------
    >>> from nclab.report.html import render_report
    >>> entry = {"experiment": "demo", "paper": "mixon2022", "title": "A demo", "status": "ok",
    ...          "claims": [{"id": "c1", "text": r"tr$\\Sigma_W$ falls", "passed": True}]}
    >>> page = render_report({"title": "demo report", "profile": "quick", "experiments": [entry]})
    >>> "<h1>demo report</h1>" in page, "trΣ<sub>W</sub> falls" in page
    (True, True)
    """
    from nclab.experiments.registry import PAPERS

    base_dir = Path(base_dir)
    entries = list(report.get("experiments", []))
    papers = {**PAPERS, **(report.get("papers") or {})}
    title = str(report.get("title") or "nclab reproduction")
    profile = str(report.get("profile", "quick"))
    env = report.get("environment") or {}
    versions = ", ".join(f"{k} {env[k]}" for k in ("nclab", "torch", "python") if env.get(k))
    subtitle = " · ".join(x for x in (
        f"{profile} profile", f"device {report.get('device', '?')}", versions, str(report.get("created", "")),
        f"total {_seconds(report['total_seconds'])}" if report.get("total_seconds") is not None else "",
    ) if x)
    order = list(papers)
    paper_keys = sorted({e.get("paper", "") for e in entries}, key=lambda p: (order.index(p) if p in order else len(order), p))
    nav = "".join(f'<a href="#paper-{slug(p)}">{escape(p or "other")}</a>' for p in paper_keys)
    body = [f"<header><h1>{escape(title)}</h1><p class=sub>{escape(subtitle)}</p>"
            f'<nav><a href="#summary">summary</a>{nav}<a href="#environment">environment</a></nav></header>',
            "<main>", _summary(entries, papers, report.get("coverage"))]
    for paper in paper_keys:
        items = [e for e in entries if e.get("paper", "") == paper]
        body.append(f'<section class="paper" id="paper-{slug(paper)}"><h2>{escape(paper or "other")}</h2>'
                    f'<p class="cite">{escape(papers.get(paper, ""))}</p>')
        body.append(_coverage_table((report.get("coverage") or {}).get(paper, [])))
        timings = report.get("timings") or {}
        body.extend(_experiment(e, base_dir, profile, timings.get(e.get("experiment"))) for e in items)
        body.append("</section>")
    body.append(_environment(report))
    body.append('<footer>Written by nclab. Figures are embedded; this page needs no network. '
                'The data are in <code>results.json</code> beside this page.</footer></main>')
    return _page(title, "\n".join(body))


def _page(title: str, body: str) -> str:
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")




def write_report(report: Mapping, path: str | os.PathLike, *, base_dir: str | os.PathLike | None = None) -> Path:
    """Render a report dictionary (:func:`render_report`) and write it atomically.

    Parameters
    ----------
    report : mapping
        The report dictionary.
    path : str or os.PathLike
        The HTML file to write.
    base_dir : str or os.PathLike, optional
        Where the figure folders lie (default: the page's folder).

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.report.html import write_report
    >>> write_report({"experiments": []}, os.path.join(tempfile.mkdtemp(), "index.html")).name
    'index.html'
    """
    path = Path(path)
    return write_atomic(path, render_report(report, base_dir=path.parent if base_dir is None else base_dir))


def render_sweep(
    title: str,
    figures: Mapping[str, Any],
    tables: Mapping[str, Sequence[Mapping]],
    info: Mapping[str, Any],
    warnings: Sequence[str] = (),
    *,
    claims: Mapping[str, Sequence[Mapping]] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The HTML page of a sweep store (see :func:`nclab.report.sweep_page.render_store`).

    Parameters
    ----------
    title : str
        The page's title.
    figures : mapping of str to matplotlib.figure.Figure
        Figures embedded as PNG, named by their keys: those wider than
        :data:`nclab.report._markup.WIDE_PX` pixels first, each at the page's full width,
        then the others side by side, in order.
    tables : mapping of str to sequence of mapping
        Tables (lists of row dicts) under their names as headings.
    info : mapping
        A key/value block (store, counts, notes).
    warnings : sequence of str, optional
        Shown above everything (e.g. runs that did not converge).
    claims : mapping of str to sequence of mapping, optional
        Claims (``Claim.to_dict()``) under their headings, in the report page's claims table
        (verdict badges, the papers' notation in Unicode), before the other tables.
    notes : sequence of str, optional
        Notes of a judgement, listed under the sweep's block (notation in Unicode).

    Returns
    -------
    str
        The self-contained page.

    Examples
    --------
    >>> from nclab.report.html import render_sweep
    >>> page = render_sweep("s", {}, {"configs": [{"d": 4, "done": 2}]}, {"runs": 2},
    ...                     warnings=["1 of 2 runs ended 'diverged'."])
    >>> 'class="warning"' in page and "<h2>configs</h2>" in page
    True
    """
    from nclab.report.plots import figure_png

    narrow, wide = [], []
    for name, fig in figures.items():  # as on the report page: a wide figure gets the full width
        data = figure_png(fig)
        (wide if png_width(data) > WIDE_PX else narrow).append(_figure(data, name, None))
    figs = (f'<div class="figs wide">{"".join(wide)}</div>' if wide else "") + (
        f'<div class="figs grid">{"".join(narrow)}</div>' if narrow else "")
    warn = "".join(f'<div class="warning"><strong>Warning:</strong> {escape(w)}</div>' for w in warnings)
    parts = [f"<header><h1>{escape(title)}</h1></header><main>{warn}",
             f'<section><h2>Sweep</h2>{_kv_table(info)}'
             + ("<h4>Notes</h4><ul>" + "".join(f"<li>{prose(n)}</li>" for n in notes) + "</ul>" if notes else "")
             + "</section>",
             f'<section><h2>Figures</h2>{figs or "<p class=muted>(no figure)</p>"}</section>']
    for name, rows in (claims or {}).items():
        parts.append(f"<section><h2>{escape(name)}</h2>{_claims_table({'claims': list(rows)})}</section>")
    for name, rows in tables.items():
        parts.append(f"<section><h2>{escape(name)}</h2>{_table(list(rows), max_rows=500)}</section>")
    parts.append("<footer>Written by nclab report. Figures are embedded; this page needs no network.</footer></main>")
    return _page(title, "\n".join(parts))
