"""Reading a sweep store: its schema, its checks, and the readers (load, history, counts).

The tables are described in :mod:`nclab.sweep.store`, whose :class:`~nclab.sweep.store.Store`
(the driver's writer) creates them from :data:`BASE_COLUMNS`. Everything here only reads: a
reader never changes a store, and opens it read-only where the file or its directory is not
writable.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import zlib
from contextlib import closing
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

SCHEMA_VERSION = 1
#: Statuses a finished run can have.
STATUSES = ("done", "diverged", "error")
#: Statuses that count as finished (a resume skips them; ``error`` only without retry).
FINISHED = ("done", "diverged")
#: The columns every ``runs`` table has, with their SQL declarations.
BASE_COLUMNS = [
    ("config_hash", "TEXT NOT NULL"),
    ("seed", "INTEGER NOT NULL"),
    ("kind", "TEXT NOT NULL"),
    ("config", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL CHECK (status IN ('done','diverged','error'))"),
    ("error", "TEXT"),
    ("history", "BLOB"),
    ("seconds", "REAL"),
    ("batch_seconds", "REAL"),
    ("batch_size", "INTEGER"),
    ("finished_at", "TEXT"),
    ("device", "TEXT"),
    ("worker", "TEXT"),
    ("nclab_version", "TEXT"),
]
BASE_NAMES = [name for name, _ in BASE_COLUMNS]

__all__ = ["SCHEMA_VERSION", "STATUSES", "FINISHED", "read_meta", "decode_history", "load", "load_history",
           "status_counts", "integrity_check"]


def read_meta(path: str | os.PathLike) -> dict[str, str] | None:
    """The ``meta`` table of an existing store (read-only), ``None`` if there is no store yet.

    Parameters
    ----------
    path : str or os.PathLike
        The store's SQLite file.

    Returns
    -------
    dict of str to str or None
        ``schema_version``, ``kind``, ``created``, ``nclab_version`` (and ``profile`` for an
        experiment's store); ``None`` when the file does not exist or is blank (an empty file,
        or a database without tables, as a creation killed by an older nclab left it).

    Raises
    ------
    ValueError
        If the file is not an nclab sweep store, has another schema version, or its ``runs``
        table lacks a base column.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.sweep import run
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline", progress=False)
    >>> meta = read_meta(path)
    >>> meta["kind"], meta["schema_version"] == str(SCHEMA_VERSION)
    ('ufm', True)
    >>> read_meta(os.path.join(tempfile.mkdtemp(), "none.sqlite")) is None
    True
    """
    path = Path(path)
    if not path.exists() or is_blank(path):  # a blank file (a creation an older nclab did not finish)
        return None
    try:
        with closing(_reader(path)) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "runs"} <= tables:
                raise ValueError(f"{str(path)!r} is not an nclab sweep store (no meta/runs tables)")
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            columns = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{str(path)!r} is not an nclab sweep store ({exc})") from None
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise ValueError(
            f"store {str(path)!r} has schema version {version!r}, this nclab reads version "
            f"{SCHEMA_VERSION}; use a new store file"
        )
    missing = [c for c in BASE_NAMES if c not in columns]
    if missing:
        raise ValueError(f"store {str(path)!r} is incompatible: runs table lacks columns {missing}")
    return meta


def decode_history(blob: bytes | None) -> pd.DataFrame:
    """The DataFrame of one stored history (the ``history`` column of ``runs``).

    Parameters
    ----------
    blob : bytes or None
        zlib-compressed columnar JSON (``{column: [values]}``), as the writer stores it.

    Returns
    -------
    pandas.DataFrame
        One column per stored column; empty when ``blob`` is ``None`` (no history stored).

    Examples
    --------
    >>> import json, zlib
    >>> blob = zlib.compress(json.dumps({"step": [0, 10], "loss": [1.0, 0.5]}).encode())
    >>> decode_history(blob).values.tolist()
    [[0.0, 1.0], [10.0, 0.5]]
    >>> decode_history(None).empty
    True
    """
    if blob is None:
        return pd.DataFrame()
    return pd.DataFrame(json.loads(zlib.decompress(blob).decode()))


def is_blank(path: Path) -> bool:
    """Whether ``path`` is an empty file or an SQLite database without any table."""
    if path.stat().st_size == 0:
        return True
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.DatabaseError:
        return False


def _reader(path: Path) -> sqlite3.Connection:
    """A connection that only reads. Opened read-write when allowed (so that closing it cleans
    up WAL files, as SQLite does for the last connection), read-only otherwise."""
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        con = sqlite3.connect(path, timeout=60)
        con.execute("PRAGMA query_only=ON")
        return con
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)


def _connect_ro(path: str | os.PathLike) -> sqlite3.Connection:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    read_meta(path)
    return _reader(path)


def load(store: str | os.PathLike, *, history: bool = False, status: str | Sequence[str] | None = None) -> pd.DataFrame:
    """All runs of a sweep store as a DataFrame, one row per (config hash, seed).

    Parameters
    ----------
    store : str or os.PathLike
        The SQLite file of :func:`nclab.sweep.run`.
    history : bool, optional
        Add a column ``history`` holding each run's history DataFrame.
    status : str or sequence of str, optional
        Keep only runs with that status (or statuses).

    Returns
    -------
    pandas.DataFrame
        Columns ``config_hash``, ``seed``, ``status``, ``error``, every config key by its name,
        every final metric by its name (a metric whose name is also a config key keeps the
        ``m_`` prefix), then ``seconds``, ``batch_seconds``, ``batch_size``, ``finished_at``,
        ``device``, ``worker``, ``nclab_version``, ``kind`` and ``config`` (JSON).

    Raises
    ------
    ValueError
        If ``store`` is not a readable sweep store.
    FileNotFoundError
        If ``store`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.sweep import run
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline", progress=False)
    >>> frame = load(path)
    >>> frame["seed"].tolist(), frame["status"].tolist(), int(frame["d"].iloc[0])
    ([0, 1], ['done', 'done'], 4)
    """
    with closing(_connect_ro(store)) as con:
        df = pd.read_sql_query("SELECT * FROM runs ORDER BY rowid", con)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        df = df[df["status"].isin(wanted)].reset_index(drop=True)
    blobs = df.pop("history")
    config_cols = [c for c in df.columns if c.startswith("c_")]
    metric_cols = [c for c in df.columns if c.startswith("m_")]
    config_names = {c[2:] for c in config_cols}
    rename = {c: c[2:] for c in config_cols}
    for c in metric_cols:
        name = c[2:]
        rename[c] = c if name in config_names or name in BASE_NAMES else name
    configs = [json.loads(text) for text in df["config"]]
    for c in config_cols:  # exact types (bools, lists, None) from the canonical JSON
        values = [cfg.get(c[2:], None) for cfg in configs]
        if values and all(isinstance(v, bool) for v in values):
            df[c] = pd.Series(values, dtype=bool, index=df.index)
        elif any(isinstance(v, (list, dict)) for v in values):
            df[c] = pd.Series(values, dtype=object, index=df.index)
    order = ["config_hash", "seed", "status", "error", *config_cols, *metric_cols,
             "seconds", "batch_seconds", "batch_size", "finished_at", "device", "worker",
             "nclab_version", "kind", "config"]
    df = df[order].rename(columns=rename)
    if history:
        df["history"] = [decode_history(b) for b in blobs]
    return df


def load_history(store: str | os.PathLike, config_hash: str, seed: int) -> pd.DataFrame:
    """The stored history of one run.

    Parameters
    ----------
    store : str or os.PathLike
        The SQLite file of :func:`nclab.sweep.run`.
    config_hash : str
        The run's config hash (the ``config_hash`` column of :func:`load`).
    seed : int
        The run's seed.

    Returns
    -------
    pandas.DataFrame
        The history the run recorded (empty when it recorded none).

    Raises
    ------
    KeyError
        If the run is not in the store.
    ValueError
        If ``store`` is not a readable sweep store.
    FileNotFoundError
        If ``store`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.sweep import run
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline", progress=False)
    >>> first = load(path).iloc[0]
    >>> history = load_history(path, first["config_hash"], first["seed"])
    >>> history["step"].tolist()
    [0, 1, 2, 3, 4, 5]
    """
    with closing(_connect_ro(store)) as con:
        row = con.execute("SELECT history FROM runs WHERE config_hash=? AND seed=?", (config_hash, int(seed))).fetchone()
    if row is None:
        raise KeyError(f"no run ({config_hash}, {seed}) in {store}")
    return decode_history(row[0])


def status_counts(store: str | os.PathLike) -> dict[str, Any]:
    """Counts per status, plus ``pending`` (planned, not finished) and the store's meta.

    Parameters
    ----------
    store : str or os.PathLike
        The SQLite file of :func:`nclab.sweep.run`.

    Returns
    -------
    dict
        ``{"kind", "runs", "done", "diverged", "error", "pending", "configs",
        "errors": [{"error": message, "count": n}, ...] (the five most frequent),
        "seconds": total run seconds, "meta": {...}}`` (``nclab sweep-status`` prints it).

    Raises
    ------
    ValueError
        If ``store`` is not a readable sweep store.
    FileNotFoundError
        If ``store`` does not exist (or is blank).

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.sweep import run
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline", progress=False)
    >>> counts = status_counts(path)
    >>> counts["kind"], counts["runs"], counts["done"], counts["pending"], counts["configs"]
    ('ufm', 2, 2, 0, 1)
    """
    meta = read_meta(store)
    if meta is None:
        raise FileNotFoundError(2, "No such file or directory", str(store))
    with closing(_connect_ro(store)) as con:
        counts = dict(con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        runs = sum(counts.values())
        pending = con.execute(
            "SELECT COUNT(*) FROM planned p LEFT JOIN runs r ON p.config_hash=r.config_hash AND p.seed=r.seed "
            "WHERE r.status IS NULL"
        ).fetchone()[0]
        configs = con.execute("SELECT COUNT(DISTINCT config_hash) FROM runs").fetchone()[0]
        errors = [
            {"error": e, "count": n}
            for e, n in con.execute(
                "SELECT error, COUNT(*) FROM runs WHERE status='error' GROUP BY error ORDER BY COUNT(*) DESC LIMIT 5"
            )
        ]
        seconds = con.execute("SELECT COALESCE(SUM(seconds), 0) FROM runs").fetchone()[0]
    out = {"kind": meta.get("kind"), "runs": runs}
    out.update({s: int(counts.get(s, 0)) for s in STATUSES})
    out.update({"pending": int(pending), "configs": int(configs), "errors": errors,
                "seconds": float(seconds) if seconds is not None and math.isfinite(seconds) else 0.0,
                "meta": meta})
    return out


def integrity_check(store: str | os.PathLike) -> str:
    """SQLite's ``PRAGMA integrity_check`` result of a store.

    Parameters
    ----------
    store : str or os.PathLike
        The SQLite file of :func:`nclab.sweep.run`.

    Returns
    -------
    str
        ``"ok"`` for a sound file, otherwise SQLite's first message.

    Raises
    ------
    ValueError
        If ``store`` is not a readable sweep store.
    FileNotFoundError
        If ``store`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from nclab.sweep import run
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> _ = run("ufm", {"d": [4]}, 2, path, fixed={"K": 3, "n": 2, "steps": 5}, executor="inline", progress=False)
    >>> integrity_check(path)
    'ok'
    """
    with closing(_connect_ro(store)) as con:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
