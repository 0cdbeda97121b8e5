"""``nclab reproduce`` and ``nclab report``."""
from __future__ import annotations

import argparse
from pathlib import Path


def configure_reproduce(parser: argparse.ArgumentParser) -> None:
    """Add ``nclab reproduce``'s arguments to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser: ``--quick``/``--full``, ``--out``, ``--only``, ``--device``,
        ``--no-progress``, ``--dry-run`` and ``--json`` are added.
    """
    from nclab.experiments._cli import FULL_HELP, QUICK_HELP, add_profile

    add_profile(parser, quick_help=QUICK_HELP, full_help=FULL_HELP)
    parser.add_argument("--out", metavar="DIR", default="nclab-out",
                        help="write DIR/index.html, DIR/results.json and DIR/EXPERIMENT/ (default: nclab-out)")
    parser.add_argument("--only", metavar="PAPER", action="append", default=[],
                        help="run only this paper (mixon2022, tirer2023, garrod2025, papyan2020) or experiment; "
                             "repeatable or comma-separated")
    parser.add_argument("--device", metavar="D", help="torch device for every experiment, e.g. cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the planned experiments and an estimate of their time; run nothing, write nothing")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")


def print_reproduce_plan(args: argparse.Namespace) -> int:
    """``nclab reproduce --dry-run``: the experiments it would run and how long they should take.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments (``quick``, ``only``, ``out``, ``json``).

    Returns
    -------
    int
        0 (nothing runs, nothing is written); the plan goes to stdout.
    """
    from nclab._json import dumps
    from nclab._progress import duration
    from nclab.report.estimate import reproduce_plan
    from nclab.report.reproduce import load_experiment_modules, select_experiments

    load_experiment_modules()
    chosen = select_experiments(args.only)
    plan = reproduce_plan(chosen, "quick" if args.quick else "full", args.out)
    if args.json:
        print(dumps(plan, indent=2))
        return 0
    print(f"nclab reproduce --{plan['profile']}: {len(chosen)} experiments, about "
          f"{duration(plan['total_seconds'])} in all" + (f" (+ {len(plan['unknown'])} without an estimate)"
                                                           if plan["unknown"] else ""))
    for row in plan["experiments"]:
        took = "?" if row["seconds"] is None else duration(row["seconds"])
        runs = f"{row['runs']} runs" if row.get("runs") else "1 run"
        print(f"  {row['experiment']:28s} {runs:>10s} {took:>12s}  {row['source']}: {row['detail']}")
    print(f"estimate: {plan['method']}")
    return 0


def main_reproduce(args: argparse.Namespace) -> int:
    """Run ``nclab reproduce`` and print its summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments (see :func:`configure_reproduce`).

    Returns
    -------
    int
        0 when every experiment ran (whatever the verdicts), 1 if one crashed.

    Raises
    ------
    ValueError
        ``--out`` is not a usable folder, ``--json`` without ``--dry-run``, an unavailable
        ``--device`` or an unknown ``--only`` item (the CLI's exit 2), before any work.
    """
    from nclab._tensor import resolve_device
    from nclab._validation import check_output_dir
    from nclab.report.reproduce import reproduce, summary_lines

    check_output_dir("--out", args.out)  # before any experiment runs
    if args.json and not args.dry_run:
        raise ValueError("--json applies to --dry-run only (the run writes OUT/results.json)")
    if args.dry_run:
        return print_reproduce_plan(args)
    if args.device:
        resolve_device(args.device)
    summary = reproduce(quick=args.quick, out=args.out, only=args.only, device=args.device,
                        progress=False if args.no_progress else None)
    print("\n".join(summary_lines(summary)))
    return summary.exit_code


def configure_report(parser: argparse.ArgumentParser) -> None:
    """Add ``nclab report``'s arguments (``PATH``, ``--out``) to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument("path", metavar="PATH",
                        help="a results.json (or a folder holding one, or an experiment's result.json), "
                             "or a sweep store (*.sqlite)")
    parser.add_argument("--out", metavar="FILE",
                        help="the page to write (default: index.html beside results.json, STORE.html beside a store)")


def main_report(args: argparse.Namespace) -> int:
    """Render ``nclab report PATH``: a reproduction's or a run's JSON, or a sweep store.

    Parameters
    ----------
    args : argparse.Namespace
        ``path`` (a ``results.json``, a folder holding one, a ``result.json`` or a store) and
        ``out`` (the page; default ``index.html`` beside the JSON, ``STORE.html`` beside a
        store).

    Returns
    -------
    int
        0; the page's path goes to stdout.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``out`` is not a writable file path, or ``path`` is neither a report nor a store.
    """
    from nclab._validation import check_output_file

    path = Path(args.path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or folder", str(path))
    if args.out:
        check_output_file("--out", args.out)
    if path.suffix in (".sqlite", ".sqlite3", ".db") or _is_sqlite(path):
        from nclab.report.sweep_page import write_store_page

        page = write_store_page(path, args.out)
    else:
        from nclab.report.html import write_report
        from nclab.report.reproduce import load_report

        report, base = load_report(path)
        page = write_report(report, Path(args.out) if args.out else base / "index.html", base_dir=base)
    print(f"wrote {page.resolve()}")
    return 0


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False
