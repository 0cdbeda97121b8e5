"""What Garrod & Keating's closed-form experiments (Theorems 1, 2, 4, 5, 6) share.

The paper's name and citation, the tolerance test of a reference number, and the error of a
cross-key check that a config table cannot express (``setting 'key' of experiment ... must be``).
"""
from __future__ import annotations

from typing import Any

PAPER = "garrod2025"
SRC = "Garrod & Keating 2025"


def near(value: float, target: float, tol: float) -> bool:
    """``|value - target| <= tol``."""
    return bool(abs(value - target) <= tol)


def refuse(experiment: str, key: str, value: Any, allowed: str) -> None:
    """Raise the ``ValueError`` of a cross-key check, naming the key like the config table does."""
    raise ValueError(f"setting {key!r} of experiment {experiment!r} must be {allowed}, got {value!r}")
