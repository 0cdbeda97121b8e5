"""Input validation shared by every module: one message style for every bad input.

Every check raises ``ValueError`` whose message names the parameter, the value received and
what is allowed, e.g. ``K must be an integer >= 2, got 1``. The CLI turns these into one line
on stderr and exit code 2.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable


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
    allowed = " ".join(parts)
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
