"""``nclab reproduce``: run every registered paper experiment and write the HTML report.

:func:`reproduce` runs the selected experiments one after another (a progress bar across
them), each into its own folder ``out/NAME`` (``result.json`` and PNGs, via
:func:`nclab.experiments.registry.run`). An experiment that raises is recorded with its
error and traceback and the others go on. After every experiment ``out/results.json`` (all
experiments' JSON, see :mod:`nclab.report.html`) and ``out/index.html`` are rewritten, so
an interrupted run still leaves a readable page.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Sequence

from nclab._json import dumps, to_jsonable, write_atomic
from nclab._notation import prose
from nclab._tensor import resolve_device
from nclab._validation import fail
from nclab.report.html import REPORT_FORMAT, claim_counts, format_value, write_report


#: During a run the page is rewritten at most this often (seconds); always at the end.
PAGE_EVERY_S = 30.0


@dataclass
class ReproduceSummary:
    """What :func:`reproduce` did: the report dictionary (``results.json``) and where it lies.

    Parameters
    ----------
    report : dict
        The report dictionary, as written to ``results.json``; its ``experiments`` entries carry
        a ``status`` (``ok``, ``crashed``, ``pending``).
    out : pathlib.Path
        The output folder.
    page : pathlib.Path
        ``out/index.html``.
    results : pathlib.Path
        ``out/results.json``.
    seconds : float
        The total run time.
    counts : dict, default {}
        Per paper: experiments, ok, crashed, pending, claims passed and failed
        (:func:`nclab.report.html.claim_counts`).

    Examples
    --------
    >>> from pathlib import Path
    >>> report = {"experiments": [{"experiment": "a", "status": "ok"},
    ...                           {"experiment": "b", "status": "crashed"}]}
    >>> s = ReproduceSummary(report, Path("out"), Path("out/index.html"), Path("out/results.json"), 1.0)
    >>> s.crashed, s.exit_code
    (['b'], 1)
    """

    report: dict
    out: Path
    page: Path
    results: Path
    seconds: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def crashed(self) -> list[str]:
        """Names of the experiments that raised."""
        return [e["experiment"] for e in self.report["experiments"] if e.get("status") == "crashed"]

    @property
    def exit_code(self) -> int:
        """0 when every experiment ran (whatever the verdicts), 1 if one crashed."""
        return 1 if self.crashed else 0


def load_experiment_modules() -> dict[str, str]:
    """Import every paper module of the registry, never raising.

    Returns
    -------
    dict of str to str
        ``{module: traceback}`` for the modules whose import raised (empty when all
        imported), so that one broken paper module shows as a crash in the report instead of
        stopping the reproduction.

    Examples
    --------
    >>> from nclab.report.reproduce import load_experiment_modules
    >>> load_experiment_modules()
    {}
    """
    from nclab.experiments import registry

    return registry.load_modules(strict=False)


def _import_crash(module: str, tb: str) -> dict:
    from nclab.experiments import registry

    paper = module.rsplit(".", 1)[-1]
    last = tb.strip().splitlines()[-1] if tb.strip() else "import failed"
    return {"experiment": module, "paper": paper if paper in registry.PAPERS else "", "title": f"import of {module}",
            "description": "The module holding this paper's experiments could not be imported, so none of them ran.",
            "config": {}, "claims": [], "figures": [], "metrics": {}, "tables": {}, "notes": [], "seconds": 0.0,
            "status": "crashed", "folder": module, "error": last, "traceback": tb}


def select_experiments(only: Sequence[str] | None = None) -> list:
    """The registered experiments to run, in paper order.

    Parameters
    ----------
    only : sequence of str, optional
        Paper keys (``mixon2022``, ...) and/or experiment names; each item may be
        comma-separated. ``None`` or empty: every experiment.

    Returns
    -------
    list of Experiment
        The experiments chosen, in registry order.

    Raises
    ------
    ValueError
        An item that is neither a paper key nor an experiment name (the message lists both).

    Examples
    --------
    >>> from nclab.report.reproduce import select_experiments
    >>> [e.name for e in select_experiments(["mixon2022-fig2,tirer2023-flow"])]
    ['mixon2022-fig2', 'tirer2023-flow']
    >>> select_experiments(["nope"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --only must be a paper key (...) or an experiment name (...), got 'nope'
    """
    from nclab.experiments import registry

    every = registry.experiments()
    if not only:
        return every
    wanted = [w.strip() for item in only for w in str(item).split(",") if w.strip()]
    names = {e.name for e in every}
    papers = {e.paper for e in every} | set(registry.PAPERS)
    for w in wanted:
        if w not in names and w not in papers:
            fail("--only", w, "a paper key (" + ", ".join(registry.PAPERS) + ") or an experiment name ("
                 + (", ".join(sorted(names)) or "none registered") + ")")
    chosen = [e for e in every if e.name in wanted or e.paper in wanted]
    return chosen


def environment(device: str = "cpu") -> dict[str, Any]:
    """Versions and machine of this run, as the report's environment section shows them.

    Parameters
    ----------
    device : str, optional
        The torch device of the run (a CUDA device adds its name and the CUDA version).

    Returns
    -------
    dict
        ``nclab``, ``torch``, ``numpy``, ``matplotlib``, ``python``, ``platform``,
        ``cpu count``, ``torch threads``, ``device`` (and ``gpu``, ``cuda``).

    Examples
    --------
    >>> from nclab.report.reproduce import environment
    >>> env = environment()
    >>> env["device"], sorted(env)[:3]
    ('cpu', ['cpu count', 'device', 'matplotlib'])
    """
    import matplotlib
    import numpy
    import torch

    import nclab

    env: dict[str, Any] = {
        "nclab": getattr(nclab, "__version__", "?"),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu count": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
    return env


def _entry_stub(exp: Any, status: str, config: dict | None = None) -> dict:
    return {"experiment": exp.name, "paper": exp.paper, "title": exp.title, "description": exp.description,
            "config": config or {}, "claims": [], "figures": [], "metrics": {}, "tables": {}, "notes": [],
            "seconds": 0.0, "status": status, "folder": exp.name}


def _run_one(exp: Any, *, quick: bool, out: Path, device: str, progress: bool | None = None) -> dict:
    from nclab.experiments import registry

    folder = out / exp.name
    stale = folder / "result.json"
    if stale.exists():
        stale.unlink()
    start = time.perf_counter()
    try:
        # the heartbeat of reproduce covers a single-shot experiment; a multi-seed one shows its runs
        shown = False if exp.grid is None or progress is False else None
        result = registry.run(exp.name, quick=quick, out=folder, device=device, progress=shown)
    except Exception as exc:  # noqa: BLE001 - a crash is recorded, the others go on
        entry = _entry_stub(exp, "crashed", to_jsonable(exp.config(quick=quick, device=device)))
        entry["seconds"] = time.perf_counter() - start
        entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["traceback"] = traceback.format_exc()
        return entry
    result.figure_objects.clear()  # saved already; free the memory
    return {**result.to_dict(), "status": "ok", "folder": exp.name}


def reproduce(
    *,
    quick: bool = True,
    out: str | os.PathLike = "nclab-out",
    only: Sequence[str] | None = None,
    device: str | None = None,
    progress: bool | None = None,
    log: IO[str] | None = None,
    title: str | None = None,
) -> ReproduceSummary:
    """Run the registered experiments (all, or ``only`` papers/names) and write the report.

    Writes ``out/index.html``, ``out/results.json`` and ``out/NAME/`` per experiment;
    ``results.json`` is rewritten after every experiment and the page at most every
    :data:`PAGE_EVERY_S` seconds, so an interrupted run leaves a readable page. An
    experiment that raises is recorded as crashed and the others go on.

    Parameters
    ----------
    quick : bool, default True
        Each experiment's quick profile; ``False``: its defaults, the papers' scale.
    out : str or os.PathLike, optional
        The output folder (created); its earlier ``results.json`` gives the time estimates.
    only : sequence of str, optional
        Paper keys and/or experiment names (see :func:`select_experiments`).
    device : str, optional
        Torch device (default: CPU).
    progress : bool, optional
        Default: a bar where ``log`` is a terminal or a notebook, elsewhere a line every 30 s
        while a long experiment runs; ``False``: neither. One line per finished experiment,
        with the time elapsed and an estimate of the time left, goes to ``log`` either way.
    log : file-like, optional
        Where the progress goes (default stderr).
    title : str, optional
        The page's title (default: ``nclab reproduction (PROFILE profile)``).

    Returns
    -------
    ReproduceSummary
        The report dictionary, the paths written, the time and the claim counts per paper.

    Raises
    ------
    ValueError
        Bad input (an unknown ``only`` item, an unavailable ``device``, ``out`` a file),
        before anything is written.
    KeyboardInterrupt
        After writing the page of what ran (the rest shows as not run).

    Examples
    --------
    >>> import io, tempfile
    >>> from nclab.report.reproduce import reproduce
    >>> summary = reproduce(out=tempfile.mkdtemp(), only=["mixon2022-fig2"], progress=False, log=io.StringIO())
    >>> summary.exit_code, summary.page.name, summary.report["profile"]
    (0, 'index.html', 'quick')
    """
    from nclab._progress import Progress, duration, heartbeat

    log = sys.stderr if log is None else log
    device = str(resolve_device(device))
    import_errors = load_experiment_modules()
    chosen = select_experiments(only)
    wanted = {w.strip() for item in (only or []) for w in str(item).split(",")}
    broken = [_import_crash(m, tb) for m, tb in import_errors.items()
              if not only or m.rsplit(".", 1)[-1] in wanted]
    if not chosen and not broken:
        fail("--only", only, "a selection matching at least one registered experiment")
    out = Path(out)
    if out.exists() and not out.is_dir():
        fail("--out", str(out), "a folder (it is a file)")
    profile = "quick" if quick else "full"
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "title": title or f"nclab reproduction ({profile} profile)",
        "profile": profile,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "device": device,
        "command": "nclab " + " ".join(sys.argv[1:]) if Path(sys.argv[0]).name == "nclab" else None,
        "selection": list(only or []),
        "environment": environment(device),
        "total_seconds": 0.0,
        "experiments": [_entry_stub(e, "pending") for e in chosen] + broken,
        "timings": previous_timings(out / "results.json"),
    }
    out.mkdir(parents=True, exist_ok=True)
    page, results = out / "index.html", out / "results.json"
    start = time.perf_counter()
    bar = Progress(len(chosen), "reproduce", enabled=progress, file=log, unit="exp", every_s=math.inf)
    _write(report, results, page)  # all "not run" yet: replaces a stale page at once
    last_page = time.perf_counter()
    try:
        for i, exp in enumerate(chosen):
            bar.update(0, exp.name)
            expected = report["timings"].get(exp.name, {}).get(profile, {}).get("seconds")
            with heartbeat(exp.name, file=log, expected_s=expected, expected_from="the last run here",
                           enabled=progress is not False):
                entry = _run_one(exp, quick=quick, out=out, device=device, progress=progress)
            report["experiments"][i] = entry
            if entry["status"] == "ok":
                report["timings"].setdefault(exp.name, {})[profile] = {
                    "seconds": round(entry["seconds"], 3), "device": device, "created": report["created"]}
            report["total_seconds"] = time.perf_counter() - start
            # results.json after every experiment; the page at most every PAGE_EVERY_S seconds
            page_due = time.perf_counter() - last_page > PAGE_EVERY_S
            _write(report, results, page if page_due else None)
            last_page = time.perf_counter() if page_due else last_page
            claims = entry["claims"]
            verdict = ("CRASHED " + entry.get("error", "")) if entry["status"] == "crashed" else \
                f"{sum(c['passed'] for c in claims)}/{len(claims)} claims passed"
            elapsed = time.perf_counter() - start
            left = _time_left(chosen[i + 1:], report["timings"], profile, elapsed / (i + 1))
            bar.update(1)
            bar.write(f"[{i + 1}/{len(chosen)}] {exp.name}: {verdict} ({entry['seconds']:.1f} s; "
                      f"{duration(elapsed)} elapsed" + (f", about {duration(left)} left)" if i + 1 < len(chosen) else ")"))
    except KeyboardInterrupt:  # leave a page of what ran; the rest shows as "not run"
        report["total_seconds"] = time.perf_counter() - start
        _write(report, results, page)
        raise
    bar.close()
    for entry in broken:
        print(f"import of {entry['experiment']} failed: {entry['error']}", file=log)
    report["total_seconds"] = time.perf_counter() - start
    _write(report, results, page)
    return ReproduceSummary(report=report, out=out, page=page, results=results,
                            seconds=report["total_seconds"], counts=claim_counts(report["experiments"]))


def _time_left(rest: Sequence, timings: dict, profile: str, mean_s: float) -> float:
    """The time the experiments in ``rest`` should take: each one's last known time in this
    profile, else the mean time per experiment so far."""
    return sum(timings.get(e.name, {}).get(profile, {}).get("seconds", mean_s) for e in rest)


def previous_timings(path: Path) -> dict[str, dict[str, dict]]:
    """The last known run times of an earlier ``results.json``.

    Parameters
    ----------
    path : pathlib.Path
        A ``results.json`` of ``nclab reproduce`` (missing or unreadable: no timings).

    Returns
    -------
    dict
        ``{experiment: {profile: {"seconds", "device", "created"}}}``: its recorded timings
        and the times of its finished experiments, so that the page can say how long the
        other profile takes once it has been run into the same folder.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from pathlib import Path
    >>> from nclab.report.reproduce import previous_timings
    >>> path = Path(tempfile.mkdtemp()) / "results.json"
    >>> _ = path.write_text(json.dumps({"profile": "full", "device": "cpu", "created": "today",
    ...     "experiments": [{"experiment": "x", "status": "ok", "seconds": 12.5}]}))
    >>> previous_timings(path)
    {'x': {'full': {'seconds': 12.5, 'device': 'cpu', 'created': 'today'}}}
    >>> previous_timings(path.with_name("missing.json"))
    {}
    """
    import json

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(old, dict):
        return {}
    timings = {k: dict(v) for k, v in (old.get("timings") or {}).items() if isinstance(v, dict)}
    for e in old.get("experiments") or []:
        if isinstance(e, dict) and e.get("status") == "ok" and old.get("profile") in ("quick", "full"):
            timings.setdefault(str(e.get("experiment")), {})[old["profile"]] = {
                "seconds": e.get("seconds"), "device": old.get("device"), "created": old.get("created")}
    return timings


def _write(report: dict, results: Path, page: Path | None) -> None:
    from nclab.experiments.coverage import coverage_report
    from nclab.experiments.registry import PAPERS

    papers = [p for p in PAPERS if any(e.get("paper") == p for e in report["experiments"])]
    report["coverage"] = coverage_report(papers, report["experiments"])
    write_atomic(results, dumps(report, indent=2))
    if page is not None:
        write_report(report, page)


def summary_lines(summary: ReproduceSummary) -> list[str]:
    """The terminal summary of a reproduction.

    Parameters
    ----------
    summary : ReproduceSummary
        What :func:`reproduce` returned.

    Returns
    -------
    list of str
        A table of experiments, crashes, claims passed / failed and coverage gaps per paper,
        one line per crash and per failed claim (its rule in the papers' notation, ``$...$``
        as plain Unicode), the totals and the page's path.

    Examples
    --------
    >>> from pathlib import Path
    >>> from nclab.report.html import claim_counts
    >>> exps = [{"experiment": "mixon2022-fig2", "paper": "mixon2022", "status": "ok",
    ...          "claims": [{"id": "a", "passed": True, "expected": "< 1", "measured": 0.5},
    ...                     {"id": "b", "passed": False, "expected": r"$\\sigma_{min}$ < 1e-3", "measured": 0.25}]},
    ...         {"experiment": "mixon2022-fig1", "paper": "mixon2022", "status": "crashed",
    ...          "error": "RuntimeError: boom", "claims": []}]
    >>> s = ReproduceSummary({"experiments": exps}, Path("out"), Path("out/index.html"),
    ...                      Path("out/results.json"), 3.5, claim_counts(exps))
    >>> for line in summary_lines(s):
    ...     print(line)
    paper        experiments  crashed  passed  failed  not covered
    mixon2022        1/2            1       1       1     0 of 0
      FAILED  mixon2022-fig2 / b: expected σ_min < 1e-3, measured 0.25
      CRASHED mixon2022-fig1: RuntimeError: boom
    claims: 1 passed, 1 failed; experiments crashed: 1; total time 3.5 s
    report: ...out/index.html
    """
    from nclab.experiments.coverage import uncovered_count

    coverage = summary.report.get("coverage") or {}
    lines = [f"{'paper':12s} {'experiments':>11s} {'crashed':>8s} {'passed':>7s} {'failed':>7s} {'not covered':>12s}"]
    for paper, c in summary.counts.items():
        rows = coverage.get(paper, [])
        lines.append(f"{paper:12s} {c['ok']:>5d}/{c['experiments']:<5d} {c['crashed']:>8d} {c['passed']:>7d} {c['failed']:>7d} "
                     f"{uncovered_count(rows):>5d} of {len(rows):<4d}")
    for e in summary.report["experiments"]:
        if e.get("status") == "crashed":
            lines.append(f"  CRASHED {e['experiment']}: {e.get('error', '')}")
        for c in e.get("claims", []):
            if not c.get("passed"):
                lines.append(f"  FAILED  {e['experiment']} / {c['id']}: expected {prose(c['expected'], html=False)}, "
                             f"measured {format_value(c.get('measured'))}")
    total_pass = sum(c["passed"] for c in summary.counts.values())
    total_fail = sum(c["failed"] for c in summary.counts.values())
    lines.append(f"claims: {total_pass} passed, {total_fail} failed; experiments crashed: {len(summary.crashed)}; "
                 f"total time {summary.seconds:.1f} s")
    lines.append(f"report: {summary.page.resolve()}")
    return lines


def load_report(path: str | os.PathLike) -> tuple[dict, Path]:
    """Read a report to render (``nclab report PATH``).

    Parameters
    ----------
    path : str or os.PathLike
        A ``results.json`` of ``nclab reproduce``, a folder holding one, or a single
        experiment's ``result.json`` (``nclab run --out``).

    Returns
    -------
    report : dict
        The report dictionary (a single experiment becomes a one-entry report of the
        profile its ``result.json`` records, ``custom`` when it records none).
    base_dir : pathlib.Path
        The folder its figures are relative to.

    Raises
    ------
    FileNotFoundError
        ``path`` (or the folder's ``results.json``) does not exist.
    ValueError
        The file is not JSON, or neither kind of report.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from nclab.report.reproduce import load_report
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "result.json").write_text(json.dumps({"experiment": "x", "claims": []}))
    >>> report, base = load_report(folder)
    >>> report["profile"], [e["experiment"] for e in report["experiments"]], base == folder
    ('custom', ['x'], True)
    """
    import json

    path = Path(path)
    if path.is_dir():
        for name in ("results.json", "result.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(2, "No such file or directory (no results.json in this folder)", str(path / "results.json"))
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a JSON file: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("experiments"), list):
        return data, path.parent
    if isinstance(data, dict) and "experiment" in data and "claims" in data:
        entry = {"status": "ok", **data, "folder": "."}
        report = {"format": REPORT_FORMAT, "title": f"nclab: {data['experiment']}",
                  "profile": data.get("profile") or "custom", "device": data.get("config", {}).get("device", "?"),
                  "total_seconds": data.get("seconds"), "experiments": [entry]}
        return report, path.parent
    raise ValueError(f"{path} is neither a results.json of 'nclab reproduce' nor a result.json of 'nclab run'")

