"""Seeds: the rule of a run's ``seeds`` key and the one parser of seeds.

A run's seeds are a count ``S`` (seeds ``0..S-1``), a list of distinct integers in
``0..2**63-1`` (torch's generators and SQLite's INTEGER both hold them), or on the command line
``A:B`` (``A..B-1``) and ``a,b,c``. :class:`Seeds` is the config-table rule
(:mod:`nclab.config`) of every experiment's ``seeds`` key; :func:`parse_seeds` reads
``nclab train --seeds``, ``nclab sweep --seeds``, ``nclab.sweep.run(seeds=...)`` and
``nclab.train(seeds=...)`` with it, so every entry point allows the same seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

from nclab._validation import INT64_MAX
from nclab.config import Rule

#: The largest seed: seeds are non-negative 64-bit signed integers (torch and SQLite both hold them).
MAX_SEED = INT64_MAX


@dataclass(frozen=True)
class Seeds(Rule):
    """Seeds: a count ``S`` (seeds ``0..S-1``) or a list of distinct seeds in ``0..2**63-1``.

    The canonical value is the list. Strings are parsed with :func:`parse_seeds`.

    Parameters
    ----------
    max_count : int, default 1000000
        The most seeds (a count above it, or a longer list, is refused).

    Examples
    --------
    >>> Seeds().check("seeds", 3), Seeds().check("seeds", [5, 2]), Seeds().check("seeds", "1:3")
    ([0, 1, 2], [5, 2], [1, 2])
    >>> Seeds(max_count=4).check("seeds", [1, 1])
    Traceback (most recent call last):
    ...
    ValueError: seeds must be a count 1..4 or a non-empty list of distinct integers in 0..2**63-1 (on the command line also A:B), got [1, 1]
    """

    max_count: int = 1_000_000

    def describe(self) -> str:
        return (f"a count 1..{self.max_count} or a non-empty list of distinct integers in 0..2**63-1 "
                "(on the command line also A:B)")

    def check(self, name: str, value: Any) -> list[int]:
        if isinstance(value, str):
            return parse_seeds(value, name=name, max_count=self.max_count)
        if isinstance(value, range):
            value = list(value)
        if isinstance(value, bool):
            self._type_error(name, value)
        if isinstance(value, (Integral, float)):
            if isinstance(value, float) and not value.is_integer():
                self._type_error(name, value)
            if not 1 <= int(value) <= self.max_count:
                self._value_error(name, value)
            return list(range(int(value)))
        if not isinstance(value, (list, tuple)):
            self._type_error(name, value)
        if any(isinstance(s, bool) or not isinstance(s, Integral) for s in value):
            self._type_error(name, value)
        seeds = [int(s) for s in value]
        if not seeds or len(seeds) > self.max_count or len(set(seeds)) != len(seeds) or any(
                not 0 <= s <= MAX_SEED for s in seeds):
            self._value_error(name, value)
        return seeds


def parse_seeds(text: Any, *, name: str = "seeds", max_count: int = 1_000_000) -> list[int]:
    """The seeds of ``A:B`` (A..B-1), ``a,b,c`` (those), ``S`` (0..S-1), an int or a list.

    This is the one parser of seeds: ``nclab train --seeds``, ``nclab sweep --seeds``,
    ``nclab.sweep.run(seeds=...)`` and every experiment's ``seeds`` key use it.

    Parameters
    ----------
    text : str, int or list of int
        ``"A:B"`` (seeds A..B-1), ``"a,b,c"`` (those), ``"S"`` or ``S`` (0..S-1), or a list of
        distinct seeds; non-strings are checked by :class:`Seeds`.
    name : str, default "seeds"
        How the error message names the key.
    max_count : int, default 1000000
        The most seeds.

    Returns
    -------
    list of int
        The seeds, in the order given.

    Raises
    ------
    ValueError
        Text that is none of these forms, an empty or reversed range, repeated seeds, a seed
        outside ``0..2**63-1`` or more than ``max_count`` seeds; the message names ``name``,
        the value and what is allowed.
    nclab.config.ParameterTypeError
        A value that is neither a string, an integer nor a list of integers.

    Examples
    --------
    >>> parse_seeds("2:5"), parse_seeds("3"), parse_seeds("7,1")
    ([2, 3, 4], [0, 1, 2], [7, 1])
    >>> parse_seeds("5:2", name="--seeds", max_count=10)
    Traceback (most recent call last):
    ...
    ValueError: --seeds must be a count 1..10 or a non-empty list of distinct integers in 0..2**63-1 (on the command line also A:B), got '5:2'
    """
    if not isinstance(text, str):
        return Seeds(max_count).check(name, text)
    raw = text.strip()
    allowed = Seeds(max_count).describe()
    try:
        if ":" in raw:
            a, b = (int(p) for p in raw.split(":", 1))
            if not 0 <= a < b <= MAX_SEED + 1 or b - a > max_count:
                raise ValueError
            return list(range(a, b))
        if "," in raw:
            return Seeds(max_count).check(name, [int(s) for s in raw.split(",") if s.strip()])
        return Seeds(max_count).check(name, int(raw))
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be {allowed}, got {text!r}") from None
