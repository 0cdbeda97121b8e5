"""Type-stable JSON: the one converter behind every JSON file and ``--json`` output of nclab.

A metric that is undefined (NaN) or diverged (+-inf) is written as JSON ``null``, never as
the non-standard tokens ``NaN``/``Infinity`` nor as the strings ``"nan"``/``"inf"``: a number
field is always a number or ``null``, and every standard JSON reader loads the file.

- :func:`to_jsonable`: numpy/torch scalars and arrays, tuples, dataclasses, paths and pandas
  missing values to plain JSON values (non-finite floats to ``None``).
- :func:`dumps`: ``json.dumps`` of :func:`to_jsonable` (``allow_nan=False``: nothing slips by).
- :func:`non_finite`: which non-finite numbers a value holds, to say so beside the ``null``.
- :func:`atomic_path` / :func:`write_atomic`: write a file (JSON or any other) under a temporary
  name in its folder and rename it into place (``os.replace``), so that a crash, Ctrl-C or a
  full disk leaves either the old file or the complete new one, never a truncated file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path, PurePath
from typing import Any, Iterator

import numpy as np

__all__ = ["to_jsonable", "dumps", "non_finite", "loads", "atomic_path", "write_atomic"]

#: Re-exported so that ``from nclab import _json as json`` serves reading too.
loads = json.loads


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: dict keys become strings, NaN and +-inf become ``None``.

    Handles dicts, lists, tuples, sets (sorted when possible), dataclass instances, torch
    tensors, numpy arrays and scalars, ``pathlib`` paths and pandas' ``NA``/``NaT``; any
    other object becomes its ``str``.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        try:
            return [to_jsonable(v) for v in sorted(value)]
        except TypeError:
            return [to_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _float(float(value))
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, PurePath):
        return str(value)
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas missing values
        return None
    return str(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(to_jsonable(value), **kwargs)`` with ``allow_nan=False``.

    Takes ``json.dumps``' keyword arguments (``indent``, ``sort_keys``, ...); ``default`` and
    ``allow_nan`` are accepted and ignored, since the converted value needs neither.
    """
    kwargs.pop("default", None)
    kwargs.pop("allow_nan", None)
    return json.dumps(to_jsonable(value), allow_nan=False, **kwargs)


def non_finite(value: Any) -> list[str]:
    """The kinds of non-finite numbers in ``value`` (``"NaN"``, ``"inf"``, ``"-inf"``), in that order.

    ``[]`` when every number is finite (or there is none): the case where the JSON form of
    ``value`` is exact.
    """
    found: set[str] = set()
    _scan(value, found)
    return [kind for kind in ("NaN", "inf", "-inf") if kind in found]


def _scan(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _scan(v, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _scan(v, found)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _scan(dataclasses.asdict(value), found)
    elif hasattr(value, "detach") and hasattr(value, "cpu"):
        _scan(value.detach().cpu().numpy(), found)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            for kind, test in (("NaN", np.isnan), ("inf", np.isposinf), ("-inf", np.isneginf)):
                if test(value).any():
                    found.add(kind)
        elif value.dtype == object:
            _scan(value.tolist(), found)
    elif isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        v = float(value)
        if math.isnan(v):
            found.add("NaN")
        elif math.isinf(v):
            found.add("inf" if v > 0 else "-inf")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends
    without an exception, removed otherwise (the folder is created if missing).

    Examples
    --------
    >>> import tempfile; folder = tempfile.mkdtemp()
    >>> with atomic_path(folder + "/t.csv") as tmp:
    ...     _ = tmp.write_text("a,b")
    >>> open(folder + "/t.csv").read()
    'a,b'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`); returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)
