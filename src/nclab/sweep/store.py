"""The sweep store: one SQLite file (WAL mode) with one row per (config hash, seed).

Tables
- ``meta(key, value)``: ``schema_version``, ``kind``, ``created``, ``nclab_version``, and
  ``profile`` (``quick`` / ``full``) for a kind that has one (an experiment's).
- ``runs``: primary key ``(config_hash, seed)``; ``kind``, ``config`` (canonical JSON),
  ``status`` (``done`` | ``diverged`` | ``error``), ``error`` (message), ``history``
  (zlib-compressed JSON, columnar), timings (``seconds`` = this run's share of its batch,
  ``batch_seconds``, ``batch_size``, ``finished_at``), ``device``, ``worker``,
  ``nclab_version``; every config key as a column ``c_<key>`` and every final metric as a
  column ``m_<name>`` (added when first seen).
- ``planned(config_hash, seed)``: the runs the sweep commands asked for, so
  ``nclab sweep-status`` can count what is still pending.

Only the sweep driver writes; each batch of results is one transaction, so a killed sweep
loses at most the batches in flight and never leaves a partial or duplicate row. A driver
holds an exclusive lock on ``<store>.lock`` (``flock``) while its store is open: a second
sweep on the same store is refused at once with a clear message, so nothing runs twice and
no schema change races another. The lock dies with its process (a killed driver leaves no
stale lock), and a clean close removes the file.

This module is the writer; the schema's constants and the readers (:func:`~nclab.sweep.reading.load`,
``load_history``, ``status_counts``, ``integrity_check``, ``read_meta``) are in :mod:`nclab.sweep.reading`.
"""
from __future__ import annotations

import json
import os
import sqlite3
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from nclab.sweep.reading import BASE_COLUMNS, BASE_NAMES, SCHEMA_VERSION, STATUSES, is_blank, read_meta


def _version() -> str:
    try:
        from nclab import __version__

        return __version__
    except Exception:  # pragma: no cover
        return "unknown"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_store_path(path: str | os.PathLike) -> Path:
    """Check that ``path`` can hold a sweep store, writing nothing; return it as a Path.

    An existing file must be writable; otherwise the nearest existing ancestor directory must
    be writable (missing directories are created when the store is created).

    Parameters
    ----------
    path : str or os.PathLike
        The store file.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ValueError
        A directory, an unwritable file or directory, or an ancestor that is a file.

    Examples
    --------
    >>> import os, tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> check_store_path(os.path.join(tmp, "new", "sweep.sqlite")).name
    'sweep.sqlite'
    >>> check_store_path(tmp)
    Traceback (most recent call last):
    ...
    ValueError: store path '...' is a directory; give a file such as '.../sweep.sqlite'
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"store path {str(path)!r} is a directory; give a file such as {str(path / 'sweep.sqlite')!r}")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise ValueError(f"store path {str(path)!r} is not writable")
        if not os.access(path.parent, os.W_OK):
            raise ValueError(f"store directory {str(path.parent)!r} is not writable (SQLite needs its journal there)")
        return path
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"store path {str(path)!r} is not writable ({str(ancestor)!r} is not a directory)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"store path {str(path)!r} is not writable (directory {str(ancestor)!r} is not writable)")
    return path


def encode_history(history: Any) -> bytes | None:
    """A history (DataFrame or dict column -> list) as zlib-compressed columnar JSON.

    Parameters
    ----------
    history : pandas.DataFrame, mapping of str to sequence, bytes or None
        A history; bytes are taken as already encoded, ``None`` stays ``None``. NumPy arrays
        and scalars become lists and numbers.

    Returns
    -------
    bytes or None
        ``zlib.compress`` of ``{"column": [values]}`` as compact JSON (what
        :func:`nclab.sweep.reading.decode_history` reads back).

    Examples
    --------
    >>> import json, zlib
    >>> blob = encode_history({"step": [0, 5], "loss": [1.0, 0.5]})
    >>> json.loads(zlib.decompress(blob))
    {'step': [0, 5], 'loss': [1.0, 0.5]}
    >>> encode_history(None) is None, encode_history(blob) == blob
    (True, True)
    """
    if history is None:
        return None
    if isinstance(history, (bytes, bytearray)):  # already encoded by the worker
        return bytes(history)
    if isinstance(history, pd.DataFrame):
        data = {str(c): history[c].tolist() for c in history.columns}
    else:
        data = {str(k): list(v.tolist() if hasattr(v, "tolist") else v) for k, v in dict(history).items()}
    text = json.dumps(data, separators=(",", ":"), default=_json_default)
    return zlib.compress(text.encode(), 6)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _sql_value(value: Any) -> Any:
    """A metric/config value as an SQLite value (lists/dicts as JSON, numpy scalars unwrapped)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=_json_default)
    if value is None or isinstance(value, (int, float, str, bytes)):
        return value
    if hasattr(value, "tolist"):
        return json.dumps(value.tolist(), default=_json_default)
    return str(value)


class Store:
    """An open sweep store (the driver's writer). Use as a context manager or call ``close``.

    Opening takes the driver lock, creates the store (atomically) if the file has none, and
    adds a ``c_<key>`` column for every config key.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file (its directory is created if missing).
    kind : str
        The sweep kind; an existing store of another kind is refused.
    config_keys : sequence of str
        The kind's config keys.
    profile : {"quick", "full"}, optional
        An experiment kind's profile, recorded in the meta table; an existing store of the
        other profile is refused.

    Raises
    ------
    ValueError
        Another sweep holds the store's lock, the store holds another kind or profile, or it
        cannot be created or opened for writing.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
    >>> row = {"config_hash": "h1", "seed": 0, "kind": "toy", "config": {"n": 3}, "status": "done",
    ...        "metrics": {"score": 0.5}}
    >>> with Store(path, "toy", ["n"]) as st:
    ...     st.plan([("h1", 0), ("h1", 1)])
    ...     st.write([row])
    ...     st.statuses()
    {('h1', 0): 'done'}
    >>> Store(path, "ufm", ["K"])
    Traceback (most recent call last):
    ...
    ValueError: store '...sweep.sqlite' holds a sweep of kind 'toy', not 'ufm'
    """

    def __init__(self, path: str | os.PathLike, kind: str, config_keys: Sequence[str], profile: str | None = None):
        self.path = Path(path)
        self.kind = kind
        self.profile = profile
        self.con = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _DriverLock(self.path)  # before anything is read: no other driver can create or alter
        try:
            meta = read_meta(self.path)
            if meta is not None and meta.get("kind") != kind:
                raise ValueError(f"store {str(self.path)!r} holds a sweep of kind {meta.get('kind')!r}, not {kind!r}")
            if meta is not None and profile is not None and meta.get("profile", profile) != profile:
                raise ValueError(f"store {str(self.path)!r} holds runs of {kind!r}'s {meta['profile']} profile, not "
                                 f"its {profile} profile; use another store file")
            if meta is None:
                self._create_atomically()
            try:
                self.con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError as exc:
                raise ValueError(f"store {str(self.path)!r} cannot be opened for writing ({exc})") from None
            self._columns = {r[1] for r in self.con.execute("PRAGMA table_info(runs)")}
            self.add_columns([f"c_{k}" for k in config_keys])
        except BaseException:
            self.close()
            raise

    def _create_atomically(self) -> None:
        """Create the store with all its tables under a temporary name, then give it its name:
        a crash leaves either no store or a complete one. When another sweep created the store
        meanwhile, its file is kept (``os.link`` refuses to overwrite it)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.creating")
        try:
            self.con = sqlite3.connect(tmp, timeout=60, isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            self._create()
            self.con.close()
            if self.path.exists() and is_blank(self.path):  # left by an older nclab killed while creating
                os.replace(tmp, self.path)
                return
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
        except sqlite3.OperationalError as exc:
            raise ValueError(f"store {str(self.path)!r} cannot be created ({exc})") from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

    def _create(self) -> None:
        cols = ", ".join(f"{name} {decl}" for name, decl in BASE_COLUMNS)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction():
            self.con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols}, PRIMARY KEY (config_hash, seed))")
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS planned (config_hash TEXT NOT NULL, seed INTEGER NOT NULL, "
                "PRIMARY KEY (config_hash, seed))"
            )
            self.con.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("kind", self.kind), ("created", now),
                 ("nclab_version", _version())] + ([("profile", self.profile)] if self.profile else []),
            )
            self.con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def transaction(self):
        """A context manager running its block as one IMMEDIATE transaction.

        Returns
        -------
        context manager
            ``BEGIN IMMEDIATE`` on entry; ``COMMIT`` on a normal exit, ``ROLLBACK`` when the
            block raises (the exception propagates).
        """
        con = self.con

        class _Tx:
            def __enter__(self_inner):
                con.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, exc_type, exc, tb):
                con.execute("COMMIT" if exc_type is None else "ROLLBACK")
                return False

        return _Tx()

    def add_columns(self, names: Iterable[str]) -> None:
        """Add untyped columns (values stored as given) that the runs table lacks.

        Parameters
        ----------
        names : iterable of str
            Column names (``c_<key>``, ``m_<metric>``); those the table has are skipped.
        """
        for name in names:
            if name not in self._columns:
                self.con.execute(f"ALTER TABLE runs ADD COLUMN {_quote(name)}")
                self._columns.add(name)

    def plan(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Record the (config hash, seed) pairs a sweep asked for.

        Parameters
        ----------
        pairs : iterable of (str, int)
            ``(config_hash, seed)`` pairs; pairs already planned are kept once.
        """
        with self.transaction():
            self.con.executemany("INSERT OR IGNORE INTO planned VALUES (?, ?)", list(pairs))

    def statuses(self) -> dict[tuple[str, int], str]:
        """The status of every stored run, keyed by (config hash, seed).

        Returns
        -------
        dict of (str, int) to str
            ``done``, ``diverged`` or ``error`` per stored run (planned runs not yet written are
            absent).
        """
        return {(h, int(s)): st for h, s, st in self.con.execute("SELECT config_hash, seed, status FROM runs")}

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace finished runs in one transaction.

        Each row has the base columns (see the module docstring), ``config`` as a dict and
        ``metrics`` as a dict; config and metric values become ``c_``/``m_`` columns. On any
        error nothing of the batch is written.

        Parameters
        ----------
        rows : sequence of mapping
            The finished runs: ``config_hash``, ``seed``, ``kind``, ``config``, ``status``, and
            optionally ``error``, ``history``, ``metrics`` and the timing columns.

        Raises
        ------
        ValueError
            A row whose status is not one of ``done``, ``diverged``, ``error``.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
        >>> with Store(path, "toy", ["n"]) as st:
        ...     st.write([{"config_hash": "h", "seed": 0, "kind": "toy", "config": {"n": 1}, "status": "ok"}])
        Traceback (most recent call last):
        ...
        ValueError: run status must be one of ('done', 'diverged', 'error'), got 'ok'
        """
        prepared = []
        for row in rows:
            if row["status"] not in STATUSES:
                raise ValueError(f"run status must be one of {STATUSES}, got {row['status']!r}")
            values = {name: row.get(name) for name in BASE_NAMES}
            values["config"] = json.dumps(row["config"], sort_keys=True, separators=(",", ":"))
            values["history"] = encode_history(row.get("history"))
            values["nclab_version"] = _version()
            for k, v in row["config"].items():
                values[f"c_{k}"] = _sql_value(v)
            for k, v in (row.get("metrics") or {}).items():
                values[f"m_{k}"] = _sql_value(v)
            prepared.append(values)
        try:
            with self.transaction():
                for values in prepared:
                    self.add_columns(values)
                    names = list(values)
                    self.con.execute(
                        f"INSERT OR REPLACE INTO runs ({', '.join(_quote(n) for n in names)}) "
                        f"VALUES ({', '.join('?' for _ in names)})",
                        [values[n] for n in names],
                    )
        except BaseException:  # rolled back: columns added in this transaction are gone too
            self._columns = {r[1] for r in self.con.execute("PRAGMA table_info(runs)")}
            raise

    def close(self) -> None:
        """Close the connection and release the driver lock (safe to call twice)."""
        if self.con is not None:
            self.con.close()
            self.con = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _DriverLock:
    """An exclusive, non-blocking ``flock`` on ``<store>.lock`` holding the owner's pid.

    Raises ``ValueError`` (naming the store and the holder's pid) when another driver holds
    it. ``release`` unlinks the file while still holding the lock; a waiter that opened the
    old file notices (its inode is no longer the path's) and retries on the new one.
    """

    def __init__(self, store: Path):
        self.path = store.with_name(store.name + ".lock")
        self.fd = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock (Windows): no coordination
            return
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise ValueError(f"store {str(store)!r} cannot be locked ({exc.strerror}: {str(self.path)!r})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise ValueError(
                    f"store {str(store)!r} is in use by another sweep (process {holder}); wait until it "
                    "ends, or give another --store; nothing was run"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self.fd = fd
                return
            os.close(fd)  # the holder released and removed that file meanwhile: lock the new one
        raise ValueError(f"store {str(store)!r} cannot be locked (its lock file keeps changing)")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None
