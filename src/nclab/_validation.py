"""Input validation shared by every module: one message style for every bad input.

Every check raises ``ValueError`` whose message names the parameter, the value received and
what is allowed, e.g. ``K must be an integer >= 2, got 1``. The CLI turns these into one line
on stderr and exit code 2.
"""
from __future__ import annotations

import math
import os
from numbers import Integral, Real
from typing import Any, Iterable


#: The largest integer :func:`check_int` accepts: torch's sizes and generator seeds are int64.
INT64_MAX = 2 ** 63 - 1


def fail(name: str, value: Any, allowed: str) -> None:
    """Raise the standard bad-input error for parameter ``name``."""
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as int; it must be an integer (not bool) and at least ``minimum``."""
    allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            fail(name, value, allowed)
    value = int(value)
    if minimum is not None and value < minimum:
        fail(name, value, allowed)
    if value > INT64_MAX:  # no size, count or seed goes beyond torch's int64 (sizes would crash in torch)
        fail(name, value, f"{allowed} of at most 2**63-1")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite float within the given bounds (``strict``: > minimum)."""
    parts = ["a finite number"]
    if minimum is not None:
        parts.append(f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    allowed = parts[0] + (" " + " and ".join(parts[1:]) if parts[1:] else "")
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(name, value, allowed)
    value = float(value)
    if not math.isfinite(value):
        fail(name, value, allowed)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        fail(name, value, allowed)
    if maximum is not None and value > maximum:
        fail(name, value, allowed)
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def _nearest_existing(path: Any) -> Any:
    from pathlib import Path

    ancestor = Path(path).absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    return ancestor


def check_output_dir(name: str, path: Any) -> Any:
    """Check, before any work and writing nothing, that folder ``path`` can be written.

    It must be a folder or not exist yet, its nearest existing ancestor must be a writable
    folder (missing folders are created when the results are written). Returns a ``Path``;
    otherwise raises ``ValueError`` naming ``name`` (e.g. ``--out``), the path and the reason.
    """
    from pathlib import Path

    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(name, str(path), "a folder (or a path that does not exist yet), not a file")
    _check_writable(name, path if path.exists() else _nearest_existing(path), str(path))
    return path


def check_output_file(name: str, path: Any) -> Any:
    """Check, before any work and writing nothing, that file ``path`` can be written
    (not a folder; its folder exists or can be created, and is writable). Returns a ``Path``."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        fail(name, str(path), "a file path, not a folder")
    parent = path.absolute().parent
    _check_writable(name, parent if parent.exists() else _nearest_existing(parent), str(path))
    if path.exists() and not os.access(path, os.W_OK):
        fail(name, str(path), "a writable file (this one is read-only)")
    return path


def _check_writable(name: str, folder: Any, shown: str) -> None:
    if not folder.is_dir():
        fail(name, shown, f"a path inside a folder ({str(folder)!r} is a file)")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(name, shown, f"a path in a writable folder ({str(folder)!r} is not writable)")


#: The share of the available memory a run may plan to use (the default of ``max_memory``).
MEMORY_SHARE = 0.8


def parse_bytes(name: str, value: Any) -> int:
    """Bytes from ``value``: an int, or text such as ``"8GB"``, ``"512MiB"``, ``"2e9"``."""
    if isinstance(value, str):
        text = value.strip().upper().replace(" ", "")
        units = (("KIB", 2 ** 10), ("MIB", 2 ** 20), ("GIB", 2 ** 30), ("TIB", 2 ** 40),
                 ("KB", 10 ** 3), ("MB", 10 ** 6), ("GB", 10 ** 9), ("TB", 10 ** 12), ("B", 1))
        scale = 1
        for unit, size in units:
            if text.endswith(unit):
                text, scale = text[: -len(unit)], size
                break
        try:
            number = float(text) * scale
        except ValueError:
            number = math.nan
    elif isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if not math.isfinite(number) or number < 1:
        fail(name, value, "a size in bytes >= 1 such as 8GB, 512MiB or 2e9")
    return int(number)


def available_memory(device: Any = "cpu") -> int:
    """Bytes free for a new run on ``device``: free GPU memory of a CUDA device, else the
    system's available RAM (``MemAvailable`` of /proc/meminfo, else the physical memory)."""
    kind = str(device).split(":")[0]
    if kind == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2 ** 63 - 1


def memory_limit(max_memory: Any = None, device: Any = "cpu") -> int:
    """The byte budget of a run: ``max_memory`` (bytes or text, :func:`parse_bytes`), else the
    environment variable ``NCLAB_MAX_MEMORY``, else :data:`MEMORY_SHARE` of :func:`available_memory`."""
    if max_memory is None:
        max_memory = os.environ.get("NCLAB_MAX_MEMORY") or None
        if max_memory is not None:
            return parse_bytes("NCLAB_MAX_MEMORY", max_memory)
        return int(MEMORY_SHARE * available_memory(device))
    return parse_bytes("max_memory", max_memory)


def check_memory(what: str, estimate: float, limit: int, hint: str = "") -> None:
    """Refuse a run whose estimated memory ``estimate`` (bytes) exceeds ``limit``, before allocating."""
    if estimate > limit:
        raise ValueError(f"{what} needs about {_size(estimate)}, more than the limit of {_size(limit)}"
                         f"{' (' + hint + ')' if hint else ''}; use smaller sizes, or raise the limit "
                         "with --max-memory / NCLAB_MAX_MEMORY")


def _size(n: float) -> str:
    if not math.isfinite(n):
        return "more bytes than a float holds"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}" if n < 1e6 * size else f"{n:.3g} bytes"
    return f"{int(n)} bytes"
