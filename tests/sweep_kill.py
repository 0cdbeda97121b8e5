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
