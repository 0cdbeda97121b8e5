"""Progress that reaches the user wherever they run: a bar in a terminal or Jupyter, log lines elsewhere.

A tqdm bar is the right display in a terminal and in a notebook (``tqdm.auto``), and the wrong
one in a log file, under ``nohup`` or in CI, where it writes nothing useful or a wall of
carriage returns. There :class:`Progress` writes a plain line at most every ``every_s``
seconds instead, with the elapsed time and an estimate of the time left::

    ufm train: 4000/20000 (20%), 12 s elapsed, about 48 s left

A job that ends before ``every_s`` prints no line at all. :func:`heartbeat` covers a job that
reports no steps (one experiment of ``nclab reproduce``): a line every ``every_s`` seconds
while it runs.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import IO, Iterator

#: Seconds between two log lines when no bar is shown.
EVERY_S = 10.0


def interactive(file: IO[str] | None = None) -> bool:
    """Whether ``file`` (default stderr) is a terminal, or this process is a Jupyter kernel."""
    file = sys.stderr if file is None else file
    try:
        if file.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return "ipykernel" in sys.modules and file in (sys.stderr, sys.stdout)


def duration(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Progress of a job of ``total`` units.

    Parameters
    ----------
    total : int
        Units of work (steps, runs, experiments).
    desc : str
        The job's name, first on every line.
    enabled : bool or None
        ``False``: nothing is shown. ``True`` or ``None``: a bar where :func:`interactive`,
        log lines elsewhere; with ``None`` a bar needs ``total >= min_bar`` (small jobs stay quiet
        in a terminal).
    file : file, optional
        Where to write (default stderr).
    unit : str
        The unit's name on the bar.
    every_s : float, optional
        Seconds between log lines (default :data:`EVERY_S`).
    min_bar : int
        Smallest ``total`` that gets a bar when ``enabled`` is None.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> p = Progress(100, "demo", file=log, every_s=0.0)
    >>> p.update(25)
    >>> p.close()
    >>> log.getvalue().splitlines()[0].startswith("demo: 25/100 (25%)")
    True
    """

    def __init__(self, total: int, desc: str, *, enabled: bool | None = None, file: IO[str] | None = None,
                 unit: str = "it", every_s: float | None = None, min_bar: int = 0) -> None:
        self.total, self.desc, self.file = int(total), desc, file
        self.every_s = float(EVERY_S if every_s is None else every_s)
        self.done, self.bar, self.lines = 0, None, False
        self.start = self.last_line = time.perf_counter()
        self.postfix = ""
        if enabled is False:
            return
        if interactive(file):
            if enabled or self.total >= min_bar:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.total, desc=desc, unit=unit, leave=False, file=file, dynamic_ncols=True)
        else:
            self.lines = True

    def line(self) -> str:
        """The log line for the current state: count, percentage, elapsed time, estimate left."""
        elapsed = time.perf_counter() - self.start
        text = f"{self.desc}: {self.done}/{self.total}"
        if self.total > 0:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {duration(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", about {duration(elapsed / self.done * (self.total - self.done))} left"
        return text + (f" [{self.postfix}]" if self.postfix else "")

    def update(self, n: int = 1, postfix: str = "") -> None:
        """Add ``n`` units done (``postfix``: a short state shown beside the count)."""
        self.done += int(n)
        self.postfix = postfix or self.postfix
        if self.bar is not None:
            self.bar.update(int(n))
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
        elif self.lines and time.perf_counter() - self.last_line >= self.every_s:
            self.write(self.line())
            self.last_line = time.perf_counter()

    def update_to(self, done: int, postfix: str = "") -> None:
        """Set the units done to ``done``."""
        self.update(int(done) - self.done, postfix)

    def write(self, message: str) -> None:
        """A line that does not break the bar."""
        if self.bar is not None:
            self.bar.write(message, file=self.file)
        else:
            print(message, file=sys.stderr if self.file is None else self.file, flush=True)

    def close(self) -> None:
        """Close the bar (log lines need no closing)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def heartbeat(desc: str, *, file: IO[str] | None = None, every_s: float = 30.0,
              expected_s: float | None = None, enabled: bool = True,
              expected_from: str = "the last run") -> Iterator[None]:
    """A line every ``every_s`` seconds while the block runs (none if it ends sooner).

    For a job that reports no steps (one experiment): each line gives the elapsed time and,
    with ``expected_s``, an estimate of the time left.

    Parameters
    ----------
    desc : str
        The job's name, first on every line.
    file : file, optional
        Where to write (default stderr). Nothing is written where it is interactive (a bar is
        there) or where ``enabled`` is false.
    every_s : float
        Seconds between two lines.
    expected_s : float, optional
        The job's expected run time (e.g. its last run's): the line says about how long is
        left, or that the job has run past it.
    enabled : bool
        ``False``: nothing is written.
    expected_from : str
        Where ``expected_s`` comes from, named on the line.

    Examples
    --------
    >>> import io, time
    >>> log = io.StringIO()
    >>> with heartbeat("exp", file=log, every_s=0.05, expected_s=60, expected_from="the last run"):
    ...     time.sleep(0.2)
    >>> log.getvalue().splitlines()[0]
    'exp: still running, ... s elapsed, about ... left (expected 1 min 00 s: the last run)'
    """
    if not enabled or interactive(file):
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()
    out = sys.stderr if file is None else file

    def beat() -> None:
        while not stop.wait(every_s):
            elapsed = time.perf_counter() - start
            text = f"{desc}: still running, {duration(elapsed)} elapsed"
            if expected_s:
                if elapsed < expected_s:
                    text += f", about {duration(expected_s - elapsed)} left"
                else:
                    text += ", longer than expected"
                text += f" (expected {duration(expected_s)}: {expected_from})"
            print(text, file=out, flush=True)

    thread = threading.Thread(target=beat, name="nclab-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
