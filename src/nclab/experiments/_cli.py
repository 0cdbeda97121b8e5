"""``nclab list``, ``nclab show`` and ``nclab run``.

Their text output prints the experiments' texts (titles, descriptions, settings' help, claims'
rules, notes) in the papers' notation, the TeX segments ``$...$`` as plain Unicode
(:func:`nclab._notation.prose`); ``--json`` prints them raw, as data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nclab._notation import prose
from nclab._parse import parse_assignments
from nclab._tensor import resolve_device
from nclab._validation import check_output_dir
from nclab.sweep.executors import parse_executor
from nclab.experiments import registry


def _text(text) -> str:
    """An experiment's text for the terminal: its ``$...$`` segments in plain Unicode."""
    return prose(text, html=False)


def configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def main_list(args: argparse.Namespace) -> int:
    items = registry.experiments()
    if args.json:
        print(json.dumps([{"name": e.name, "paper": e.paper, "title": e.title} for e in items], indent=2))
        return 0
    for e in items:
        print(f"{e.name:28s} {e.paper:11s} {_text(e.title)}")
    return 0


#: The profiles' help, shared by ``run``, ``reproduce`` and ``sweep`` (times measured on 2 CPU cores).
QUICK_HELP = ("the quick profile (the default): each experiment's reduced sizes; measured 0.2-70 s per "
              "experiment, about 3 min 25 s for all 24 of 'nclab reproduce' on 2 loaded CPU cores "
              "('nclab show EXPERIMENT' gives each one's time)")
FULL_HELP = ("the papers' scale (each experiment's defaults): estimated up to ~15 min per experiment and ~1 h for "
             "all of 'nclab reproduce' on 2 CPU cores, extrapolated from the quick times (garrod2025-fig1 measured "
             "5 s against 19 s estimated); a GPU helps; 'nclab reproduce --full --dry-run' prints the estimate per "
             "experiment")


def add_profile(parser: argparse.ArgumentParser, *, default: bool | None = True,
                quick_help: str = QUICK_HELP, full_help: str = FULL_HELP) -> None:
    """``--quick`` / ``--full`` (exclusive) into ``args.quick``; ``default`` is the value without either."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="quick", action="store_const", const=True, default=default, help=quick_help)
    group.add_argument("--full", dest="quick", action="store_const", const=False, help=full_help)


def configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (see 'nclab list')")
    parser.add_argument("--json", action="store_true", help="print the settings as one JSON object")


def show_dict(exp) -> dict:
    """What ``nclab show --json`` prints: the experiment and one row per setting."""
    from nclab.config import describe_table

    rows = []
    for row in describe_table(exp.params):
        key = row["key"]
        rows.append({"key": key, "full": registry.to_jsonable(row["default"]),
                     "quick": registry.to_jsonable(exp.quick.get(key, row["default"])),
                     "allowed": row["allowed"], "help": row["help"]})
    from nclab.report.estimate import estimate_experiment

    times = {p: estimate_experiment(exp, p, {}) for p in ("quick", "full")}
    return {"experiment": exp.name, "paper": exp.paper, "title": exp.title, "description": exp.description,
            "multi_seed": exp.grid is not None, "seed_key": exp.seed_key, "time": times, "settings": rows}


def main_show(args: argparse.Namespace) -> int:
    info = show_dict(registry.get(args.experiment))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['experiment']} ({info['paper']}): {_text(info['title'])}")
    print(f"  {_text(info['description'])}")
    from nclab._progress import duration

    for profile, t in info["time"].items():
        if t["seconds"] is not None:
            print(f"time, {profile}: about {duration(t['seconds'])} ({t['source']}: {t['detail']})")
    print("settings (override with 'nclab run EXPERIMENT --set KEY=VALUE'; 'quick' is the default profile, "
          "'full' is --full, the papers' scale):")
    for row in info["settings"]:
        quick, full = json.dumps(row["quick"]), json.dumps(row["full"])
        print(f"  {row['key']}")
        print(f"      quick: {quick}" + ("" if quick == full else f"    full: {full}"))
        print(f"      allowed: {_text(row['allowed'])}")
        if row["help"]:
            print(f"      {_text(row['help'])}")
    return 0


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (see 'nclab list')")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="override a config key (literals or arithmetic such as 2**-10); repeatable")
    parser.add_argument("--out", metavar="DIR", help="write DIR/result.json and the figures (default: nclab-out/EXPERIMENT)")
    add_profile(parser)
    parser.add_argument("--device", metavar="D", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--store", metavar="FILE.sqlite",
                        help="multi-seed experiments: keep the (grid point, seed) runs in this sweep store and "
                             "resume from it (nclab report FILE draws the experiment from it)")
    parser.add_argument("--executor", default="inline", metavar="SPEC",
                        help="multi-seed experiments: inline (default), local[:N] or dask://HOST:PORT")


def main_run(args: argparse.Namespace) -> int:
    overrides = parse_assignments(args.set)
    if args.device:
        overrides["device"] = args.device
    exp = registry.get(args.experiment)
    if args.device:
        resolve_device(args.device)  # 'meta', 'mps' or CUDA absent: refused before any work
    exp.config(quick=args.quick, **overrides)  # validate before any work
    out = check_output_dir("--out", Path(args.out) if args.out else Path("nclab-out") / exp.name)
    if args.store:
        from nclab.sweep.store import check_store_path

        check_store_path(args.store)
    parse_executor(args.executor)
    result = registry.run(exp.name, quick=args.quick, out=out, store=args.store, executor=args.executor,
                          **overrides)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))  # a reader that left: nclab.cli's exit 141
        return 0
    print("\n".join(run_lines(result)))
    print(f"  wrote {out / 'result.json'}", file=sys.stderr)
    return 0


def run_lines(result) -> list[str]:
    """What ``nclab run`` prints of a result (without ``--json``), one string a line.

    Parameters
    ----------
    result : nclab.experiments.registry.ExperimentResult
        The run's result.

    Returns
    -------
    list of str
        The experiment, its title and time; one ``[PASS]``/``[FAIL]`` line per claim (its rule
        and the measured value); one line per note. The texts are in the papers' notation
        (``$\\Sigma_W$`` prints as ``Σ_W``); the measured values are printed as their JSON form.

    Examples
    --------
    >>> from nclab.experiments.registry import Claim, ExperimentResult
    >>> claim = Claim("small", r"tr$\\Sigma_W$ is small.", "toy", r"tr$\\Sigma_W$ $\\le$ 0.1", 0.05, True)
    >>> result = ExperimentResult("toy", "mixon2022", r"The $\\lambda$ toy", "", {}, [claim], [], {}, {},
    ...                           [r"at $\\lambda_H = 10^{-3}$"], 1.0)
    >>> print("\\n".join(run_lines(result)))
    toy: The λ toy (1.0 s)
      [PASS] small: expected trΣ_W ≤ 0.1, measured 0.05
      note: at λ_H = 10^-3
    """
    lines = [f"{result.experiment}: {_text(result.title)} ({result.seconds:.1f} s)"]
    for c in result.claims:
        lines.append(f"  [{'PASS' if c.passed else 'FAIL'}] {c.id}: expected {_text(c.expected)}, "
                     f"measured {registry.to_jsonable(c.measured)}")
    lines.extend(f"  note: {_text(note)}" for note in result.notes)
    return lines
