"""Kill a sweep driver with SIGKILL once it has stored some rows (shared by the resume tests)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time


def stored_rows(store) -> int | None:
    """Rows of the store's ``runs`` table, or ``None`` while it is being created."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return None


def kill_after_rows(cmd: list[str], store, min_rows: int, env: dict, timeout: float = 120.0) -> int:
    """Start ``cmd`` in its own session, SIGKILL the session once ``store`` holds ``min_rows`` rows.

    Returns the rows seen at the kill; asserts that the process died of SIGKILL (not finished).
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    rows, deadline = 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            if store.exists():
                rows = stored_rows(store) or rows
                if rows >= min_rows:
                    break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers: the session started here
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    return rows


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def pool_workers(pid: int) -> list[int]:
    """The process-pool workers among the children of ``pid`` (Linux /proc: ``spawn_main`` processes)."""
    workers = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            workers.append(int(entry))
    return workers


def kill_driver_only(cmd: list[str], env: dict, workers: int, settle: float = 1.0,
                     timeout: float = 120.0) -> tuple[list[int], float]:
    """Start ``cmd`` (a sweep driver), SIGKILL the driver alone once ``workers`` pool workers run.

    Returns the workers' pids and the seconds they took to exit after the kill (``inf`` if some
    were still alive 30 s later; those are then killed). The driver's session is killed at the end.
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    found: list[int] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            found = pool_workers(proc.pid)
            if len(found) >= workers:
                break
            time.sleep(0.05)
        assert len(found) >= workers, f"the pool did not start: {proc.stderr.read().decode() if proc.poll() is not None else ''}"
        time.sleep(settle)  # the workers are running units now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        t0 = time.monotonic()
        while any(_alive(p) for p in found) and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        gone = time.monotonic() - t0 if not any(_alive(p) for p in found) else float("inf")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the session started here
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait(timeout=30)
    return found, gone
