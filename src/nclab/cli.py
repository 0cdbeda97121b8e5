"""The ``nclab`` command.

Each subcommand lives beside the code it drives: a module with ``configure_<prefix>(parser)``
adding the subcommand's arguments and ``main_<prefix>(args) -> int`` running it (see
``COMMANDS``). This file only dispatches and turns errors into exit codes:

- 0: success.
- 2: bad input (``ValueError``, which includes :class:`nclab.config.ParameterTypeError`, and a
  missing or unreadable file): one line on stderr naming the parameter, its value and what is
  allowed; never a traceback.
- 1: an internal error (any other exception): one line ``nclab CMD: internal error: TYPE:
  MESSAGE``; the traceback only with the global ``--debug`` flag.
- 130: interrupted (Ctrl-C).
- 141 (128 + SIGPIPE): the reader of stdout went away (``nclab list --json | head -c 200``);
  quietly, like any Unix tool stopped by SIGPIPE.

``nclab --version`` prints the installed version (``importlib.metadata``). The subcommands of
:data:`THREADED` take ``--threads N|auto`` (:mod:`nclab._threads`), checked before any work;
under ``auto`` those of :data:`SMALL_WORK` run on one thread but for large engine calls.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

#: name -> (module, function prefix, one-line help). The module defines
#: ``configure_<prefix>(parser)`` and ``main_<prefix>(args) -> int``.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("nclab.experiments._cli", "list", "list the registered experiments"),
    "show": ("nclab.experiments._cli", "show", "print an experiment's settings: quick and full defaults, allowed values, help"),
    "run": ("nclab.experiments._cli", "run", "run one experiment and check its claims"),
    "reproduce": ("nclab.report._cli", "reproduce", "run every paper experiment and write an HTML report"),
    "report": ("nclab.report._cli", "report", "re-render the HTML report from results.json or a sweep store"),
    "train": ("nclab.ufm._cli", "train", "train a UFM batched over seeds"),
    "sweep": ("nclab.sweep._cli", "sweep", "run a grid of configs x seeds into a resumable SQLite store"),
    "sweep-status": ("nclab.sweep._cli", "status", "count the runs of a sweep store per status"),
    "metrics": ("nclab.metrics._cli", "metrics", "neural collapse metrics of features in an .npz file"),
    "measure": ("nclab.nets._cli", "measure", "layer-wise neural collapse of a saved PyTorch model"),
}

#: The subcommands that compute: they take ``--threads N|auto`` (:mod:`nclab._threads`).
THREADED = ("train", "run", "reproduce", "sweep", "metrics", "measure")

#: The subcommands whose work is many small problems (UFMs, the papers' experiments): under
#: ``--threads auto`` they run on one thread, except the engine's calls that are large enough
#: for every core (:func:`nclab._threads.for_work`). ``metrics`` and ``measure`` work on large
#: feature matrices: torch's default there.
SMALL_WORK = ("train", "run", "reproduce", "sweep")

#: Exceptions that mean bad input (exit 2); anything else is an internal error (exit 1).
BAD_INPUT = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
             PermissionError)

#: The exit code when stdout's reader left (128 + SIGPIPE).
EXIT_PIPE = 141


def version() -> str:
    """The installed nclab version, as ``nclab --version`` prints it.

    Returns
    -------
    str
        The version of the installed distribution (``importlib.metadata``), or ``"unknown"``
        when nclab runs from a source tree that was never installed.

    Examples
    --------
    >>> from nclab.cli import version
    >>> isinstance(version(), str) and version() != ""
    True
    """
    from importlib.metadata import PackageNotFoundError, version as _version

    try:
        return _version("nclab")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``nclab`` parser with every subcommand of :data:`COMMANDS`.

    Each subcommand's module is imported to add its arguments; the computing ones
    (:data:`THREADED`) get ``--threads``, every one gets ``--debug``.

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``parse_args`` sets ``command`` and ``_command`` (module, prefix).

    Examples
    --------
    >>> from nclab.cli import build_parser
    >>> args = build_parser().parse_args(["list", "--json"])
    >>> args.command, args.json, args._command
    ('list', True, ('nclab.experiments._cli', 'list'))
    """
    parser = argparse.ArgumentParser(
        prog="nclab",
        description="nclab: neural collapse toolkit. Reproduce the UFM papers, train UFMs "
        "batched over seeds, sweep grids, and measure collapse in your own networks.",
        epilog="Run 'nclab COMMAND --help' for a command's options. Exit codes: 0 success, "
        "2 bad input, 1 internal error, 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, print the full traceback (default: one line)")
    parser.add_argument("--version", action="version", version=f"nclab {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, prefix, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        p.set_defaults(_command=(module, prefix))
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an internal error, print the full traceback (also 'nclab --debug COMMAND')")
        getattr(importlib.import_module(module), f"configure_{prefix}")(p)
        if name in THREADED:
            p.add_argument("--threads", default="auto", metavar="N|auto",
                           help="torch intra-op threads: auto (the default: one thread for small problems, "
                                "every core for large ones; OMP_NUM_THREADS or MKL_NUM_THREADS, when set, is "
                                "kept) or a count N "
                                "for every op" + (" (and for each local worker; default one each)"
                                                  if name == "sweep" else ""))
    return parser


def one_line(text: str) -> str:
    """``text`` on one line: its non-blank lines, stripped, joined by a space.

    Parameters
    ----------
    text : str
        Any text (converted with ``str``).

    Returns
    -------
    str
        The one-line text (empty for a blank ``text``).

    Examples
    --------
    >>> from nclab.cli import one_line
    >>> one_line("  first\\n\\n  second  ")
    'first second'
    """
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def bad_input_message(exc: BaseException) -> str:
    """The one-line message ``nclab`` prints for a bad-input exception (exit 2).

    Parameters
    ----------
    exc : BaseException
        One of :data:`BAD_INPUT`.

    Returns
    -------
    str
        ``reason: path`` for an ``OSError`` with a file name, else the exception's message on
        one line, or its type's name when the message is empty.

    Examples
    --------
    >>> from nclab.cli import bad_input_message
    >>> bad_input_message(FileNotFoundError(2, "No such file or directory", "a.npz"))
    'No such file or directory: a.npz'
    >>> bad_input_message(ValueError("steps must be an integer >= 1,\\n got 0"))
    'steps must be an integer >= 1, got 0'
    """
    if isinstance(exc, OSError) and exc.filename:
        return one_line(f"{exc.strerror or exc}: {exc.filename}")
    return one_line(str(exc)) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``nclab ARGV`` and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``nclab`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success (bare ``nclab`` prints the commands and returns 0), 2 bad input (one line on
        stderr naming the parameter and the value), 1 internal error, 130 interrupted, 141 the
        reader of stdout went away (see the module docstring).

    Raises
    ------
    SystemExit
        From argparse: ``--help`` and ``--version`` (code 0) and arguments it cannot parse
        (code 2).

    Examples
    --------
    >>> from nclab.cli import main
    >>> main(["show", "mixon2022-fig2", "--json"]) == 0  # doctest: +ELLIPSIS
    {...}
    True
    >>> main(["run", "no-such-experiment"])
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):  # bare `nclab`: the verbs, and success
        parser.print_help()
        return 0
    module, prefix = args._command
    name = f"nclab {args.command}"
    try:
        from contextlib import nullcontext

        from nclab._threads import for_work, parse as parse_threads, threads

        count = parse_threads(getattr(args, "threads", "auto"), "--threads")
        small = count is None and args.command in SMALL_WORK
        with threads(count), (for_work(0.0) if small else nullcontext()):
            code = int(getattr(importlib.import_module(module), f"main_{prefix}")(args) or 0)
        sys.stdout.flush()  # a pipe's reader that left shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _reader_left()
    except BAD_INPUT as exc:
        print(f"{name}: error: {bad_input_message(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{name}: error: out of memory: the run needs more memory than this machine has; "
              "use smaller sizes or fewer seeds", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a failure of nclab, not of the input
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for the traceback)"
        detail = one_line(str(exc))
        print(f"{name}: internal error: {type(exc).__name__}{': ' + detail if detail else ''}{hint}",
              file=sys.stderr)
        return 1


def _reader_left() -> int:
    """stdout's reader went away: point stdout at /dev/null (so the interpreter's final flush
    raises nothing) and return :data:`EXIT_PIPE`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass
    return EXIT_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
