"""The one naming convention of nclab's .npz files, used by ``nclab metrics`` and ``nclab measure --data``.

An .npz holds ``features`` (N, ...) and ``labels`` (N,), and for ``nclab metrics`` optionally
``weight`` (K, d) and ``bias`` (K,). ``features`` are what is measured (``nclab metrics``) or
fed to the model (``nclab measure``). Other common names are accepted with a note
(:data:`ALIASES`): ``x``, ``X``, ``inputs`` for the features and ``y``, ``Y``, ``targets`` for
the labels.
"""
from __future__ import annotations

from typing import Iterable

#: The canonical names and the other names accepted for them (in this order of preference).
ALIASES: dict[str, tuple[str, ...]] = {
    "features": ("x", "X", "inputs"),
    "labels": ("y", "Y", "targets"),
}

#: One line saying what a file must hold (for error messages).
CONVENTION = ("arrays 'features' (N, ...) and 'labels' (N,) (also accepted: "
              + "; ".join(f"{', '.join(repr(a) for a in alts)} for {key!r}" for key, alts in ALIASES.items()) + ")")


def pick(files: Iterable[str], key: str) -> tuple[str | None, str | None]:
    """(the array of ``files`` that serves as ``key``, a note when it is an alias), or (None, None)."""
    files = list(files)
    if key in files:
        return key, None
    for alt in ALIASES.get(key, ()):
        if alt in files:
            return alt, f"using array {alt!r} as {key!r} (nclab's name for it)"
    return None, None
