"""``nclab sweep`` and ``nclab sweep-status``."""
from __future__ import annotations

import argparse
import sys

from nclab._json import dumps
from nclab._parse import parse_assignments
from nclab._validation import check_int, check_real


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a sweep: every config of a grid x every seed, into a resumable SQLite store. "
        "Seeds of one config run as one batched call (chunks of --batch). Re-running the same "
        "command skips finished runs."
    )
    parser.epilog = (
        "Examples: nclab sweep ufm --preset garrod --set K=10 --set n=5 --set L=2 "
        "--set lam=2**-10 --set steps=2000 --grid d=10:200:10 --seeds 0:10 --store width.sqlite;  "
        "nclab sweep ufm ... --executor dask://scheduler:8786. Grid ranges start:stop:step include "
        "stop; start:stop:*ratio is geometric; seeds A:B exclude B."
    )
    parser.add_argument("kind", help="sweep kind: ufm, or any experiment of 'nclab list' (its config keys)")
    from nclab.experiments._cli import add_profile

    add_profile(parser, default=None,
                quick_help="an experiment kind takes its defaults from its quick profile (the default, as for "
                           "'nclab run')",
                full_help="an experiment kind takes its defaults from the papers' scale (its full profile)")
    parser.add_argument("--preset", metavar="P", help="paper preset of the kind (ufm: garrod, tirer, mixon)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting shared by every config (literals or arithmetic such as 2**-10); repeatable")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=VALUES",
                        help="a grid axis: v1,v2,... and/or ranges start:stop[:step] (stop included) or "
                        "start:stop:*ratio; repeatable (the grid is their product)")
    parser.add_argument("--seeds", required=True, metavar="A:B",
                        help="seeds A..B-1 (or a comma list, or a count N for 0..N-1)")
    parser.add_argument("--store", required=True, metavar="FILE.sqlite", help="the SQLite store (created or resumed)")
    parser.add_argument("--executor", default="local", metavar="SPEC",
                        help="local[:N] (process pool, default one worker per core), inline, "
                        "dask://HOST:PORT (existing scheduler) or dask-local:N (LocalCluster on 127.0.0.1)")
    parser.add_argument("--workers", type=int, metavar="N", help="shorthand: N workers for local or dask-local")
    parser.add_argument("--batch", type=int, default=64, metavar="S", help="seeds per batched call (default 64)")
    parser.add_argument("--device", default="cpu", metavar="D", help="torch device of the runs (default cpu)")
    parser.add_argument("--retry-errors", action="store_true", help="re-run the runs stored as error")
    parser.add_argument("--dask-timeout", type=float, default=10.0, metavar="SEC",
                        help="seconds to wait for a Dask scheduler (default 10)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and print the plan and an estimate of its time (from a calibration run "
                             "of one batch, at most 100 steps, in memory); write nothing")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="with --dry-run: print the plan without the calibration run and estimate")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _executor(args: argparse.Namespace) -> str:
    spec = args.executor
    if args.workers is not None:
        n = check_int("--workers", args.workers, minimum=1)
        if spec == "local" or spec.startswith("local:"):
            spec = f"local:{n}"
        elif spec.startswith("dask-local"):
            spec = f"dask-local:{n}"
        else:
            raise ValueError(f"--workers applies to local and dask-local executors, not {spec!r}")
    return spec


def _workers(executor: str) -> int:
    """Workers of an executor spec, for the estimate (a Dask scheduler's: unknown, counted as 1)."""
    import os

    from nclab.sweep.executors import parse_executor

    kind, n = parse_executor(executor)
    if kind in ("local", "dask-local"):
        return n or os.cpu_count() or 1
    return 1


def _estimate_line(estimate: dict | None) -> str:
    if not estimate:
        return ""
    from nclab._progress import duration

    line = f"\nestimate: about {duration(estimate['seconds'])} for the runs to do ({estimate['method']})"
    if estimate.get("error"):
        line += f"\n  the calibration run failed: {estimate['error']}"
    return line


def resolve_kind(name: str, quick: bool | None = None):
    """A built-in kind's name, or the :class:`SweepKind` of the experiment ``name`` (``quick``:
    its quick profile, the default, or ``False``: its full one)."""
    from nclab.sweep.registry import kinds

    if name in kinds():
        if quick is not None:
            raise ValueError(f"--quick/--full must be left out for sweep kind {name!r}: they apply to experiment "
                             f"kinds, got {'--quick' if quick else '--full'}")
        return name
    from nclab.experiments import registry, sweep_kind

    names = [e.name for e in registry.experiments()]
    if name not in names:
        raise ValueError(f"sweep kind must be one of {', '.join(sorted(kinds()))} or an experiment "
                         f"({', '.join(names)}), got {name!r}")
    return sweep_kind(name, quick=quick is not False)


def main_sweep(args: argparse.Namespace) -> int:
    from nclab.sweep import runner

    kind = resolve_kind(args.kind, args.quick)
    fixed = parse_assignments(args.set, "--set")
    executor = _executor(args)
    from nclab.sweep.runner import MAX_DASK_TIMEOUT

    check_real("--dask-timeout", args.dask_timeout, minimum=0.0, strict=True, maximum=MAX_DASK_TIMEOUT)
    if args.dry_run:
        from nclab.sweep.executors import parse_executor
        from nclab.sweep.reading import FINISHED, read_meta
        from nclab.sweep.store import check_store_path

        sweep = runner.plan(kind, args.grid, args.seeds, fixed=fixed, preset=args.preset)
        check_int("batch", args.batch, minimum=1)
        parse_executor(executor)
        check_store_path(args.store)
        meta = read_meta(args.store)
        if meta is not None and meta.get("kind") != sweep.kind.name:
            raise ValueError(f"store {args.store!r} holds a sweep of kind {meta.get('kind')!r}, not {sweep.kind.name!r}")
        done = 0
        if meta is not None:
            from nclab.sweep.reading import load

            df = load(args.store)
            keep = set(FINISHED) | (set() if args.retry_errors else {"error"})
            done = int((df["config_hash"].isin(list(sweep.configs)) & df["seed"].isin(sweep.seeds)
                        & df["status"].isin(list(keep))).sum())
        info = {"kind": sweep.kind.name, "preset": sweep.preset, "configs": len(sweep.configs),
                "seeds": len(sweep.seeds), "runs": sweep.runs, "already_in_store": done,
                "to_run": sweep.runs - done, "grid": {k: len(v) for k, v in sweep.grid.items()},
                "example_config": next(iter(sweep.configs.values()))}
        if not args.no_calibrate and info["to_run"]:
            from nclab.report.estimate import calibrate_sweep

            estimate = calibrate_sweep(sweep, batch=args.batch, workers=_workers(executor), device=args.device)
            # the runs left: the store's finished ones are skipped
            estimate["seconds"] *= info["to_run"] / sweep.runs
            info["estimate"] = estimate
        print(dumps(info, indent=2) if args.json else
              f"sweep {info['kind']}: {info['configs']} configs x {info['seeds']} seeds = {info['runs']} runs, "
              f"{done} already in {args.store}, {info['to_run']} to run\nexample config: "
              f"{dumps(info['example_config'])}" + _estimate_line(info.get("estimate")))
        return 0
    try:
        summary = runner.run(
            kind, args.grid, args.seeds, args.store, fixed=fixed, preset=args.preset,
            executor=executor, batch=args.batch, retry_errors=args.retry_errors, device=args.device,
            progress=False if args.no_progress else None, dask_timeout=args.dask_timeout,
        )
    except KeyboardInterrupt:
        print(f"nclab sweep: interrupted; finished batches are in {args.store}; "
              "run the same command again to resume", file=sys.stderr)
        raise
    except runner.SweepIncomplete as exc:  # an infrastructure failure: exit 1, runs left pending
        print(f"nclab sweep: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(dumps(summary.to_dict(), indent=2))
        return 0
    print(
        f"sweep {summary.kind}: {summary.configs} configs x {summary.seeds} seeds = {summary.planned} runs; "
        f"{summary.skipped} already done, {summary.submitted} ran ({summary.done} done, "
        f"{summary.diverged} diverged, {summary.error} error) in {summary.seconds:.1f} s "
        f"on {summary.executor} -> {summary.store}"
    )
    if summary.error:
        for message in summary.errors:
            print(f"  error: {message}", file=sys.stderr)
        print("  (errors are stored; re-run with --retry-errors to run them again)", file=sys.stderr)
    return 0


def configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", metavar="FILE.sqlite", help="a sweep store")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")


def main_status(args: argparse.Namespace) -> int:
    from nclab.sweep.reading import status_counts

    counts = status_counts(args.store)
    if args.json:
        print(dumps(counts, indent=2))
        return 0
    meta = counts["meta"]
    print(f"{args.store}: sweep of kind {counts['kind']} (schema {meta.get('schema_version')}, "
          f"created {meta.get('created')}, nclab {meta.get('nclab_version')})")
    print(f"  configs  {counts['configs']}")
    for status in ("done", "diverged", "error", "pending"):
        print(f"  {status:8s} {counts[status]}")
    print(f"  total    {counts['runs']} finished, {counts['seconds']:.1f} run-seconds")
    for e in counts["errors"]:
        print(f"  error x{e['count']}: {e['error']}")
    return 0
