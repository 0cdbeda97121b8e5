"""The ``nclab`` console entry point (and ``python -m nclab``).

A Ctrl-C can arrive while the command is still importing: :mod:`nclab.cli` builds its parser
from every subcommand's module, which imports torch, and that takes seconds. Before
:func:`nclab.cli.main` reaches its own ``except KeyboardInterrupt`` such a Ctrl-C used to end in
a traceback. This module imports nothing at module level beyond :mod:`sys`; :func:`main`
imports the CLI inside a ``try``, so an interrupt anywhere in the import, the parsing or the
run is one line on stderr and exit code 130 (128 + SIGINT), like an interrupt during the work.
"""
from __future__ import annotations

import sys

#: The exit code of an interrupted command (128 + SIGINT).
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Run ``nclab ARGV`` (``sys.argv[1:]`` by default); returns the exit code.

    The codes are those of :func:`nclab.cli.main`; a Ctrl-C before it installs its handler
    (while the CLI and torch are being imported) is :data:`EXIT_INTERRUPTED` too.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``nclab``.

    Returns
    -------
    int
        The exit code: 0 success, 2 bad input, 1 internal error, 130 interrupted.

    Examples
    --------
    >>> from nclab._entry import main
    >>> main(["sweep-status", "no/such/store.sqlite"])  # the one-line error goes to stderr
    2
    """
    try:
        from nclab.cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        return interrupted()


def interrupted() -> int:
    """Say ``nclab: interrupted`` on stderr (if it can) and return :data:`EXIT_INTERRUPTED`."""
    try:
        print("nclab: interrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed or gone: the exit code says it
        pass
    return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
