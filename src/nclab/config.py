"""Config tables: every key of a run declared once, with its default and what it allows.

An experiment, a sweep kind or a UFM run declares its settings as a mapping ``{key: Param}``;
:func:`validate` checks user values against it and returns the canonical config. The same
table gives the CLI its ``--set`` keys, the sweep engine its grid keys and the documentation
its defaults, so no caller re-states a key's type or range.

Errors follow scikit-learn's ``check_scalar``: a value of the wrong type raises
:class:`ParameterTypeError` (a ``TypeError``), a value of the right type outside what is
allowed raises ``ValueError``. Both messages name the key, the value and what is allowed, and
both are bad input for the CLI (exit 2); ``ParameterTypeError`` also subclasses ``ValueError``
so that callers catching bad input catch both. The rule of a run's seeds, and the one parser
of seeds, live in :mod:`nclab.seeds`.

Examples
--------
>>> from nclab.config import Int, ListOf, Param, validate
>>> table = {"K": Param(10, Int(minimum=2)), "ds": Param([10, 20], ListOf(Int(minimum=1)))}
>>> validate(table, {"K": 4.0}, where="experiment 'demo'")
{'K': 4, 'ds': [10, 20]}
>>> validate(table, {"ds": []}, where="experiment 'demo'")
Traceback (most recent call last):
...
ValueError: setting 'ds' of experiment 'demo' must be a non-empty list of integers >= 1, got []
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real as _RealNumber
from typing import Any, Mapping

class ParameterTypeError(TypeError, ValueError):
    """A setting of the wrong type (e.g. a string where an integer is allowed)."""


class Rule:
    """What a key allows. ``check(name, value)`` returns the canonical value or raises."""

    def describe(self) -> str:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def check(self, name: str, value: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _type_error(self, name: str, value: Any) -> None:
        raise ParameterTypeError(f"{name} must be {self.describe()}, got {_show(value)}")

    def _value_error(self, name: str, value: Any) -> None:
        raise ValueError(f"{name} must be {self.describe()}, got {_show(value)}")


def _show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened in the middle past ``limit`` characters (a 1000-digit int)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for repr (Python's int max str digits)
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 4:]} ({len(text)} characters)"


def _bounds(minimum: float | None, maximum: float | None, strict: bool = False) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    return (" " + " and ".join(parts)) if parts else ""


@dataclass(frozen=True)
class Int(Rule):
    """An integer (not a bool) in ``[minimum, maximum]``; a float with an integer value is accepted."""

    minimum: int | None = None
    maximum: int | None = None

    def describe(self) -> str:
        return "an integer" + _bounds(self.minimum, self.maximum)

    def check(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (Integral, float)):
            self._type_error(name, value)
        if isinstance(value, float) and not value.is_integer():
            self._type_error(name, value)
        value = int(value)
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            self._value_error(name, value)
        return value


@dataclass(frozen=True)
class Real(Rule):
    """A finite real number in the given bounds (``strict``: ``> minimum``); ints become floats."""

    minimum: float | None = None
    maximum: float | None = None
    strict: bool = False

    def describe(self) -> str:
        return "a finite number" + _bounds(self.minimum, self.maximum, self.strict)

    def check(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, _RealNumber):
            self._type_error(name, value)
        try:
            value = float(value)
        except OverflowError:  # an int beyond the float range, e.g. 10**400
            self._value_error(name, value)
        low = self.minimum is not None and (value <= self.minimum if self.strict else value < self.minimum)
        if not math.isfinite(value) or low or (self.maximum is not None and value > self.maximum):
            self._value_error(name, value)
        return value


@dataclass(frozen=True)
class Bool(Rule):
    """``True`` or ``False`` (not 0/1)."""

    def describe(self) -> str:
        return "true or false"

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self._type_error(name, value)
        return value


@dataclass(frozen=True)
class Choice(Rule):
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def __init__(self, *options: str) -> None:
        object.__setattr__(self, "options", tuple(options))

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            self._type_error(name, value)
        if value not in self.options:
            self._value_error(name, value)
        return value


@dataclass(frozen=True)
class Text(Rule):
    """Any non-empty string (a path, a device name)."""

    def describe(self) -> str:
        return "a non-empty string"

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            self._type_error(name, value)
        if not value:
            self._value_error(name, value)
        return value


@dataclass(frozen=True)
class Optional(Rule):
    """``None`` or a value ``rule`` allows."""

    rule: Rule

    def describe(self) -> str:
        return f"None or {self.rule.describe()}"

    def check(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.rule.check(name, value)
        except ParameterTypeError:
            self._type_error(name, value)
        except ValueError:
            self._value_error(name, value)


@dataclass(frozen=True)
class Either(Rule):
    """A value the first of ``rules`` that accepts it allows (e.g. ``'unit'`` or a number > 0)."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def describe(self) -> str:
        return " or ".join(r.describe() for r in self.rules)

    def check(self, name: str, value: Any) -> Any:
        wrong_value = False
        for rule in self.rules:
            try:
                return rule.check(name, value)
            except ParameterTypeError:
                continue
            except ValueError:
                wrong_value = True
        if wrong_value:
            self._value_error(name, value)
        self._type_error(name, value)


_PLURAL = {"an integer": "integers", "a finite number": "finite numbers", "true or false": "booleans",
           "a non-empty string": "non-empty strings"}


def _plural(description: str) -> str:
    for one, many in _PLURAL.items():
        if description.startswith(one):
            return many + description[len(one):]
    return f"items each {description}"


@dataclass(frozen=True)
class ListOf(Rule):
    """A list (or tuple) of values ``item`` allows, of length in ``[min_len, max_len]`` (or ``length``).

    ``unique``: no value twice; ``sorted_``: strictly increasing. A scalar is not a list: it is a
    type error (``Ks=5`` where a list of integers is expected).
    """

    item: Rule
    min_len: int = 1
    max_len: int | None = None
    length: int | None = None
    unique: bool = False
    sorted_: bool = False

    def describe(self) -> str:
        if self.length is not None:
            size = f"a list of {self.length} "
        elif self.min_len == 1 and self.max_len is None:
            size = "a non-empty list of "
        elif self.max_len is None:
            size = f"a list of at least {self.min_len} " if self.min_len else "a list of "
        else:
            size = f"a list of {self.min_len} to {self.max_len} "
        extra = ("distinct " if self.unique and not self.sorted_ else "") + ("increasing " if self.sorted_ else "")
        return size + extra + _plural(self.item.describe())

    def check(self, name: str, value: Any) -> list:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            self._type_error(name, value)
        n = len(value)
        if (self.length is not None and n != self.length) or n < self.min_len or (
                self.max_len is not None and n > self.max_len):
            self._value_error(name, value)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.item.check(f"{name}[{i}]", v))
            except ParameterTypeError:
                self._type_error(name, value)
            except ValueError:
                self._value_error(name, value)
        if self.unique and len({repr(v) for v in out}) != len(out):
            self._value_error(name, value)
        if self.sorted_ and any(not a < b for a, b in zip(out, out[1:])):
            self._value_error(name, value)
        return out


@dataclass(frozen=True)
class Param:
    """One key of a config table: its default, its rule and a line of help."""

    default: Any
    rule: Rule
    help: str = ""

    def describe(self) -> str:
        return self.rule.describe()


def infer_rule(default: Any) -> Rule:
    """The rule of a plain default value (a table entry written without :class:`Param`)."""
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, int):
        return Int()
    if isinstance(default, float):
        return Real()
    if isinstance(default, str):
        return Text()
    if default is None:
        return Optional(Either(Int(), Real(), Text()))
    if isinstance(default, (list, tuple)) and default:
        return ListOf(infer_rule(default[0]), min_len=1)
    raise TypeError(f"cannot infer a rule for default {default!r}; declare it with Param(default, rule)")


def as_table(entries: Mapping[str, Any]) -> dict[str, Param]:
    """A config table from ``{key: Param | plain default}`` (plain defaults get :func:`infer_rule`)."""
    return {k: v if isinstance(v, Param) else Param(v, infer_rule(v)) for k, v in entries.items()}


def defaults(table: Mapping[str, Param]) -> dict[str, Any]:
    """``{key: default}`` of a table."""
    return {k: p.default for k, p in table.items()}


def validate(table: Mapping[str, Param], values: Mapping[str, Any], *, where: str,
             base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full canonical config: ``base`` (default: the table's defaults) <- ``values``, each checked.

    Unknown keys raise ``ValueError`` listing the allowed ones; a key's message reads
    ``setting 'K' of <where> must be ..., got ...``.
    """
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ValueError(f"setting {unknown[0]!r} of {where} must be one of the keys "
                         f"{', '.join(sorted(table))}, got {unknown[0]}={values[unknown[0]]!r}")
    merged = dict(defaults(table) if base is None else base)
    merged.update(values)
    return {k: table[k].rule.check(f"setting {k!r} of {where}", merged[k]) for k in table}


def refuse(where: str, key: str, value: Any, allowed: str) -> None:
    """Raise the ``ValueError`` of a cross-key check the table cannot express, worded like the table's.

    ``where`` names the config (``"experiment 'garrod2025-hessian'"``), so the message reads
    ``setting 'K' of experiment 'garrod2025-hessian' must be an even number, got 5``.
    """
    raise ValueError(f"setting {key!r} of {where} must be {allowed}, got {value!r}")


def describe_table(table: Mapping[str, Param]) -> list[dict[str, Any]]:
    """One row per key: ``key``, ``default``, ``allowed``, ``help`` (for ``--help`` and the docs)."""
    return [{"key": k, "default": p.default, "allowed": p.describe(), "help": p.help} for k, p in table.items()]

