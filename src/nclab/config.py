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
    """A setting of the wrong type (e.g. a string where an integer is allowed).

    A ``TypeError`` and a ``ValueError`` (callers catching bad input catch both); raised by
    every :class:`Rule` for a value of the wrong type, with a message naming the key, the value
    and what is allowed.

    Examples
    --------
    >>> try:
    ...     Int().check("setting 'K'", "four")
    ... except ValueError as err:
    ...     print(type(err).__name__, isinstance(err, TypeError), err)
    ParameterTypeError True setting 'K' must be an integer, got 'four'
    """


class Rule:
    """What a key allows. ``check(name, value)`` returns the canonical value or raises.

    The base class of :class:`Int`, :class:`Real`, :class:`Bool`, :class:`Choice`,
    :class:`Text`, :class:`Optional`, :class:`Either`, :class:`ListOf` and
    :class:`nclab.seeds.Seeds`; a subclass implements :meth:`describe` and :meth:`check`.

    Examples
    --------
    >>> rule = Real(minimum=0.0, strict=True)
    >>> isinstance(rule, Rule), rule.describe(), rule.check("lr", 1)
    (True, 'a finite number > 0', 1.0)
    """

    def describe(self) -> str:  # pragma: no cover - every rule overrides it
        """What the rule allows, as the end of a sentence "``KEY`` must be ...".

        Returns
        -------
        str
            E.g. ``"an integer >= 2"``.

        Examples
        --------
        >>> Int(minimum=2).describe()
        'an integer >= 2'
        """
        raise NotImplementedError

    def check(self, name: str, value: Any) -> Any:  # pragma: no cover
        """The canonical value of ``value``, or an error naming ``name``, the value and what is allowed.

        Parameters
        ----------
        name : str
            How the message names the key (e.g. ``"setting 'K' of experiment 'demo'"``).
        value : Any
            The value to check.

        Returns
        -------
        Any
            The canonical value (e.g. ``4.0`` -> ``4`` for an integer key).

        Raises
        ------
        ParameterTypeError
            A value of the wrong type.
        ValueError
            A value of the right type outside what is allowed.

        Examples
        --------
        >>> Int(minimum=2).check("K", 4.0)
        4
        >>> Int(minimum=2).check("K", 1)
        Traceback (most recent call last):
        ...
        ValueError: K must be an integer >= 2, got 1
        """
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
    """An integer (not a bool) in ``[minimum, maximum]``; a float with an integer value is accepted.

    Parameters
    ----------
    minimum, maximum : int, optional
        The bounds (inclusive); ``None`` for none.

    Examples
    --------
    >>> Int(minimum=1, maximum=10).check("n", 3.0), Int(minimum=1, maximum=10).describe()
    (3, 'an integer >= 1 and <= 10')
    >>> Int().check("n", True)
    Traceback (most recent call last):
    ...
    nclab.config.ParameterTypeError: n must be an integer, got True
    """

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
    """A finite real number in the given bounds (``strict``: ``> minimum``); ints become floats.

    Parameters
    ----------
    minimum, maximum : float, optional
        The bounds; ``None`` for none. ``maximum`` is inclusive.
    strict : bool, default False
        ``True``: values must be ``> minimum``; ``False``: ``>= minimum``.

    Examples
    --------
    >>> Real(minimum=0.0).check("lam", 0), Real(minimum=0.0, strict=True).describe()
    (0.0, 'a finite number > 0')
    >>> Real().check("lam", float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: lam must be a finite number, got inf
    """

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
    """``True`` or ``False`` (not 0/1).

    Examples
    --------
    >>> Bool().check("polish", False)
    False
    >>> Bool().check("polish", 1)
    Traceback (most recent call last):
    ...
    nclab.config.ParameterTypeError: polish must be true or false, got 1
    """

    def describe(self) -> str:
        return "true or false"

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self._type_error(name, value)
        return value


@dataclass(frozen=True)
class Choice(Rule):
    """One of a fixed set of strings.

    Parameters
    ----------
    *options : str
        The allowed strings.

    Examples
    --------
    >>> act = Choice("relu", "linear")
    >>> act.check("activation", "relu"), act.options
    ('relu', ('relu', 'linear'))
    >>> act.check("activation", "tanh")
    Traceback (most recent call last):
    ...
    ValueError: activation must be one of 'relu', 'linear', got 'tanh'
    """

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
    """Any non-empty string (a path, a device name).

    Examples
    --------
    >>> Text().check("device", "cpu")
    'cpu'
    >>> Text().check("device", "")
    Traceback (most recent call last):
    ...
    ValueError: device must be a non-empty string, got ''
    """

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
    """``None`` or a value ``rule`` allows.

    Parameters
    ----------
    rule : Rule
        What a value other than ``None`` must satisfy.

    Examples
    --------
    >>> rule = Optional(Int(minimum=1))
    >>> rule.check("width", None), rule.check("width", 8), rule.describe()
    (None, 8, 'None or an integer >= 1')
    """

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
    """A value the first of ``rules`` that accepts it allows (e.g. ``'unit'`` or a number > 0).

    A value of the wrong type for every rule is a :class:`ParameterTypeError`; one of the right
    type for some rule but outside it is a ``ValueError``.

    Parameters
    ----------
    *rules : Rule
        The alternatives, tried in order.

    Examples
    --------
    >>> scale = Either(Choice("unit"), Real(minimum=0.0, strict=True))
    >>> scale.check("scale", "unit"), scale.check("scale", 2), scale.describe()
    ('unit', 2.0, "one of 'unit' or a finite number > 0")
    >>> scale.check("scale", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: scale must be one of 'unit' or a finite number > 0, got -1.0
    """

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

    A scalar is not a list: it is a type error (``Ks=5`` where a list of integers is expected).

    Parameters
    ----------
    item : Rule
        What every item must satisfy.
    min_len : int, default 1
        The fewest items.
    max_len : int, optional
        The most items (``None``: no limit).
    length : int, optional
        The exact number of items (``min_len`` and ``max_len`` still apply).
    unique : bool, default False
        No value twice.
    sorted_ : bool, default False
        Strictly increasing.

    Examples
    --------
    >>> Ks = ListOf(Int(minimum=2), sorted_=True)
    >>> Ks.check("Ks", (2, 3.0, 5)), Ks.describe()
    ([2, 3, 5], 'a non-empty list of increasing integers >= 2')
    >>> Ks.check("Ks", 5)
    Traceback (most recent call last):
    ...
    nclab.config.ParameterTypeError: Ks must be a non-empty list of increasing integers >= 2, got 5
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
    """One key of a config table: its default, its rule and a line of help.

    Parameters
    ----------
    default : Any
        The key's default value.
    rule : Rule
        What the key allows.
    help : str, default ""
        A line of help (``nclab show``, ``--help``, the docs).

    Examples
    --------
    >>> K = Param(10, Int(minimum=2), "number of classes")
    >>> K.default, K.describe(), K.help
    (10, 'an integer >= 2', 'number of classes')
    """

    default: Any
    rule: Rule
    help: str = ""

    def describe(self) -> str:
        """What the key allows: its rule's :meth:`Rule.describe`.

        Returns
        -------
        str
            E.g. ``"an integer >= 2"``.

        Examples
        --------
        >>> Param([1, 2], ListOf(Int())).describe()
        'a non-empty list of integers'
        """
        return self.rule.describe()


def infer_rule(default: Any) -> Rule:
    """The rule of a plain default value (a table entry written without :class:`Param`).

    Parameters
    ----------
    default : bool, int, float, str, None or non-empty list of these
        The default.

    Returns
    -------
    Rule
        :class:`Bool`, :class:`Int`, :class:`Real` or :class:`Text` (unbounded) for a scalar;
        ``None`` allows ``None``, an integer, a number or a string; a list gives a non-empty
        :class:`ListOf` of its first item's rule.

    Raises
    ------
    TypeError
        Any other default (an empty list, a dict, an object).

    Examples
    --------
    >>> infer_rule(3), infer_rule(0.5), infer_rule([1, 2]).describe()
    (Int(minimum=None, maximum=None), Real(minimum=None, maximum=None, strict=False), 'a non-empty list of integers')
    >>> infer_rule({})
    Traceback (most recent call last):
    ...
    TypeError: cannot infer a rule for default {}; declare it with Param(default, rule)
    """
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
    """A config table from ``{key: Param | plain default}`` (plain defaults get :func:`infer_rule`).

    Parameters
    ----------
    entries : mapping of str to Param or plain default
        The table's entries.

    Returns
    -------
    dict of str to Param
        Every entry as a :class:`Param`.

    Raises
    ------
    TypeError
        A plain default :func:`infer_rule` has no rule for.

    Examples
    --------
    >>> table = as_table({"K": Param(10, Int(minimum=2)), "lr": 0.1})
    >>> table["lr"]
    Param(default=0.1, rule=Real(minimum=None, maximum=None, strict=False), help='')
    """
    return {k: v if isinstance(v, Param) else Param(v, infer_rule(v)) for k, v in entries.items()}


def defaults(table: Mapping[str, Param]) -> dict[str, Any]:
    """``{key: default}`` of a table.

    Parameters
    ----------
    table : mapping of str to Param
        The config table.

    Returns
    -------
    dict
        Every key with its default.

    Examples
    --------
    >>> defaults({"K": Param(10, Int(minimum=2)), "lr": Param(0.1, Real())})
    {'K': 10, 'lr': 0.1}
    """
    return {k: p.default for k, p in table.items()}


def validate(table: Mapping[str, Param], values: Mapping[str, Any], *, where: str,
             base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full canonical config: ``base`` (default: the table's defaults) <- ``values``, each checked.

    Parameters
    ----------
    table : mapping of str to Param
        The config table.
    values : mapping
        The values given (a subset of the table's keys).
    where : str
        What the config belongs to, for the messages (``"experiment 'demo'"``).
    base : mapping, optional
        The values before ``values`` (e.g. a quick profile over the defaults); ``None``: the
        table's defaults. It must hold every key of the table.

    Returns
    -------
    dict
        Every key of the table, in table order, with its canonical value.

    Raises
    ------
    ValueError
        An unknown key (the message lists the allowed ones), or a value outside what its key
        allows; a key's message reads ``setting 'K' of <where> must be ..., got ...``.
    ParameterTypeError
        A value of the wrong type.

    Examples
    --------
    >>> table = {"K": Param(10, Int(minimum=2)), "lr": Param(0.1, Real(minimum=0.0, strict=True))}
    >>> validate(table, {"lr": 1}, where="experiment 'demo'")
    {'K': 10, 'lr': 1.0}
    >>> validate(table, {"k": 4}, where="experiment 'demo'")
    Traceback (most recent call last):
    ...
    ValueError: setting 'k' of experiment 'demo' must be one of the keys K, lr, got k=4
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

    Parameters
    ----------
    where : str
        Names the config (``"experiment 'garrod2025-hessian'"``), as for :func:`validate`.
    key : str
        The key refused.
    value : Any
        Its value.
    allowed : str
        What is allowed, as the end of "must be ...".

    Returns
    -------
    None
        It never returns.

    Raises
    ------
    ValueError
        Always: ``setting 'K' of <where> must be <allowed>, got <value>``.

    Examples
    --------
    >>> refuse("experiment 'garrod2025-hessian'", "K", 5, "an even number")
    Traceback (most recent call last):
    ...
    ValueError: setting 'K' of experiment 'garrod2025-hessian' must be an even number, got 5
    """
    raise ValueError(f"setting {key!r} of {where} must be {allowed}, got {value!r}")


def describe_table(table: Mapping[str, Param]) -> list[dict[str, Any]]:
    """One row per key: ``key``, ``default``, ``allowed``, ``help`` (for ``--help`` and the docs).

    Parameters
    ----------
    table : mapping of str to Param
        The config table.

    Returns
    -------
    list of dict
        One ``{"key", "default", "allowed", "help"}`` row per key, in table order.

    Examples
    --------
    >>> describe_table({"K": Param(10, Int(minimum=2), "number of classes")})
    [{'key': 'K', 'default': 10, 'allowed': 'an integer >= 2', 'help': 'number of classes'}]
    """
    return [{"key": k, "default": p.default, "allowed": p.describe(), "help": p.help} for k, p in table.items()]

