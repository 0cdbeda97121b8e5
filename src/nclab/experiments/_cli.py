"""``nclab list`` and ``nclab run``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nclab._parse import parse_assignments
from nclab._tensor import resolve_device
from nclab._validation import check_output_dir
from nclab.sweep.executors import parse_executor
from nclab.experiments import registry


def configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def main_list(args: argparse.Namespace) -> int:
    items = registry.experiments()
    if args.json:
        print(json.dumps([{"name": e.name, "paper": e.paper, "title": e.title} for e in items], indent=2))
        return 0
    for e in items:
        print(f"{e.name:28s} {e.paper:11s} {e.title}")
    return 0


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment name (see 'nclab list')")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="override a config key (literals or arithmetic such as 2**-10); repeatable")
    parser.add_argument("--out", metavar="DIR", help="write DIR/result.json and the figures (default: nclab-out/EXPERIMENT)")
    parser.add_argument("--quick", action="store_true", help="the quick profile (minutes on a laptop)")
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
    print(f"{result.experiment}: {result.title} ({result.seconds:.1f} s)")
    for c in result.claims:
        print(f"  [{'PASS' if c.passed else 'FAIL'}] {c.id}: expected {c.expected}, measured {registry.to_jsonable(c.measured)}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  wrote {out / 'result.json'}", file=sys.stderr)
    return 0
