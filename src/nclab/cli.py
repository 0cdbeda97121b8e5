"""The ``nclab`` command.

Each subcommand lives beside the code it drives: a module with ``configure(parser)`` adding
the subcommand's arguments and ``main(args) -> int`` running it (see ``COMMANDS``). This file
only dispatches and turns errors into exit codes: 0 success, 2 bad input (one line on stderr,
no traceback), 1 failure.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

#: name -> (module, function prefix, one-line help). The module defines
#: ``configure_<prefix>(parser)`` and ``main_<prefix>(args) -> int``.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("nclab.experiments._cli", "list", "list the registered experiments"),
    "run": ("nclab.experiments._cli", "run", "run one experiment and check its claims"),
    "reproduce": ("nclab.report._cli", "reproduce", "run every paper experiment and write an HTML report"),
    "report": ("nclab.report._cli", "report", "re-render the HTML report from results.json or a sweep store"),
    "train": ("nclab.ufm._cli", "train", "train a UFM batched over seeds"),
    "sweep": ("nclab.sweep._cli", "sweep", "run a grid of configs x seeds into a resumable SQLite store"),
    "sweep-status": ("nclab.sweep._cli", "status", "count the runs of a sweep store per status"),
    "metrics": ("nclab.metrics._cli", "metrics", "neural collapse metrics of features in an .npz file"),
    "measure": ("nclab.nets._cli", "measure", "layer-wise neural collapse of a saved PyTorch model"),
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error already; keep its message to one line plus usage."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nclab",
        description="nclab: neural collapse toolkit. Reproduce the UFM papers, train UFMs "
        "batched over seeds, sweep grids, and measure collapse in your own networks.",
        epilog="Run 'nclab COMMAND --help' for a command's options. Exit codes: 0 success, "
        "2 bad input, 1 failure.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, prefix, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        p.set_defaults(_command=(module, prefix))
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=True)
            continue
        getattr(mod, f"configure_{prefix}")(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "_missing", False):
        print(f"nclab: error: command {args.command!r} is not available in this build", file=sys.stderr)
        return 1
    module, prefix = args._command
    try:
        return int(getattr(importlib.import_module(module), f"main_{prefix}")(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        message = str(exc) if not isinstance(exc, OSError) or not exc.filename else f"{exc.strerror}: {exc.filename}"
        print(f"nclab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nclab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a failure, not bad input: show where
        traceback.print_exc()
        print(f"nclab {args.command}: failed (see the traceback above)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
