"""What every Garrod & Keating experiment shares: the paper's key and citation, a tolerance test."""
from __future__ import annotations

PAPER = "garrod2025"
SRC = "Garrod & Keating 2025"


def near(value: float, target: float, tol: float) -> bool:
    """``|value - target| <= tol``."""
    return bool(abs(value - target) <= tol)
