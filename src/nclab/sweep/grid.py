"""Sweep grids: parsing ``key=values`` axes, the Cartesian product, canonical configs and hashes.

A grid axis is written ``key=v1,v2,...``; each item is a value (a Python literal or simple
arithmetic such as ``2**-10``, see :mod:`nclab._parse`) or a range:

- ``start:stop:step`` -- arithmetic, ``stop`` INCLUDED when it lies on the grid
  (``d=10:200:10`` is 10, 20, ..., 200; ``lr=0.1:0.5:0.1`` is five values);
- ``start:stop`` -- step 1;
- ``start:stop:*ratio`` -- geometric (``lam=2**-14:2**-6:*4`` is 2^-14, 2^-12, ..., 2^-6).

Seeds are written ``A:B`` (Python style, B excluded: ``0:100`` is 100 seeds), ``A,B,C`` or a
single count ``N`` (seeds 0..N-1).

The canonical form of a config is the kind's full config (every key, defaults included) with
values normalised by the kind, serialised as JSON with sorted keys; its hash (SHA-256, 16 hex
digits) identifies the config in the store, so key order and spelling (``1`` vs ``1.0``) do not
matter.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any, Iterable, Mapping, Sequence

from nclab._parse import parse_value
from nclab._validation import fail
from nclab.seeds import parse_seeds as _parse_seeds

#: Tolerance for deciding whether ``stop`` lies on an arithmetic/geometric range.
_RANGE_RTOL = 1e-9
#: Largest number of values one range may produce (guards against typos like 0:1e9).
MAX_RANGE_VALUES = 1_000_000
#: The most points a grid may have (the product of its axes' lengths, checked before expanding).
MAX_GRID_POINTS = 1_000_000


def _number(key: str, text: str, part: str) -> int | float:
    value = parse_value(part)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(
            f"grid axis {key!r}: range {text!r} must be start:stop[:step] with numbers, "
            f"got {part.strip()!r}"
        )
    return value


def parse_range(key: str, text: str) -> list[int | float]:
    """Expand one range item (``start:stop[:step]`` or ``start:stop:*ratio``), stop included.

    Integer start, stop and step give ints; otherwise floats.

    Parameters
    ----------
    key : str
        The axis name (used in error messages).
    text : str
        The range item.

    Returns
    -------
    list of int or float
        The values of the range.

    Raises
    ------
    ValueError
        A step of the wrong sign, zero, or a ratio <= 0 or == 1; a range that is empty (start
        past stop), since an empty axis empties the whole grid; more than
        :data:`MAX_RANGE_VALUES` values. The message names the axis.

    Examples
    --------
    >>> parse_range("d", "10:50:10")
    [10, 20, 30, 40, 50]
    >>> parse_range("lam", "2**-4:2**-2:*2")
    [0.0625, 0.125, 0.25]
    """
    parts = text.split(":")
    if len(parts) not in (2, 3) or any(not p.strip() for p in parts):
        raise ValueError(f"grid axis {key!r}: range {text!r} must be start:stop[:step] or start:stop:*ratio")
    start = _number(key, text, parts[0])
    stop = _number(key, text, parts[1])
    if len(parts) == 3 and parts[2].strip().startswith("*"):
        ratio = _number(key, text, parts[2].strip()[1:])
        if ratio <= 0 or ratio == 1 or start <= 0 or stop <= 0:
            raise ValueError(
                f"grid axis {key!r}: geometric range {text!r} needs start, stop > 0 and a ratio > 0, != 1"
            )
        count = math.log(stop / start) / math.log(ratio)
        if count < -_RANGE_RTOL:
            raise ValueError(f"grid axis {key!r}: range {text!r} is empty (ratio goes away from stop)")
        n = int(math.floor(count + 1e-9)) + 1
        if n > MAX_RANGE_VALUES:
            raise ValueError(f"grid axis {key!r}: range {text!r} has {n} values, more than {MAX_RANGE_VALUES}")
        values = [start * ratio**i for i in range(n)]
        if abs(values[-1] - stop) <= _RANGE_RTOL * abs(stop):
            values[-1] = stop  # hit stop exactly (2**-6 stays 2**-6)
        if all(isinstance(v, int) for v in (start, stop, ratio)):
            values = [int(round(v)) for v in values]
        return values
    step = _number(key, text, parts[2]) if len(parts) == 3 else 1
    if step == 0:
        raise ValueError(f"grid axis {key!r}: range {text!r} has step 0")
    count = (stop - start) / step
    if count < -_RANGE_RTOL * max(1.0, abs(count)):
        raise ValueError(f"grid axis {key!r}: range {text!r} is empty (step goes away from stop)")
    n = int(math.floor(count + 1e-9 * max(1.0, abs(count)))) + 1
    if n > MAX_RANGE_VALUES:
        raise ValueError(f"grid axis {key!r}: range {text!r} has {n} values, more than {MAX_RANGE_VALUES}")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return [start + i * step for i in range(n)]
    values = [float(start + i * step) for i in range(n)]
    if abs(values[-1] - stop) <= _RANGE_RTOL * max(1.0, abs(stop)):
        values[-1] = float(stop)
    return values


def parse_axis(key: str, text: str) -> list[Any]:
    """Parse the values of one grid axis: comma-separated values and ranges.

    Commas inside brackets (``lam_W=[1,2],[3,4]``) do not split.

    Parameters
    ----------
    key : str
        The axis name.
    text : str
        The values, e.g. ``"1,3:5"``.

    Returns
    -------
    list
        The values in order.

    Raises
    ------
    ValueError
        If the axis is empty or an item is malformed (names the axis).

    Examples
    --------
    >>> parse_axis("d", "1,3:5")
    [1, 3, 4, 5]
    """
    items, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    values: list[Any] = []
    for item in items:
        item = item.strip()
        if not item:
            raise ValueError(f"grid axis {key!r} has an empty value in {text!r}")
        if ":" in item and not item.startswith(("[", "(", "'", '"')):
            values.extend(parse_range(key, item))
        else:
            values.append(parse_value(item))
    return values


def parse_grid(items: Sequence[str] | None) -> dict[str, list[Any]]:
    """Parse ``["key=v1,v2", "d=10:200:10", ...]`` into ``{key: [values]}`` (axis order kept).

    Parameters
    ----------
    items : sequence of str or None
        The axes as CLI strings.

    Returns
    -------
    dict of str to list
        The values of each axis.

    Raises
    ------
    ValueError
        A malformed item, a repeated key or an empty axis.

    Examples
    --------
    >>> parse_grid(["d=4,8", "lam=0.1"])
    {'d': [4, 8], 'lam': [0.1]}
    """
    grid: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--grid must be given as key=v1,v2,... or key=start:stop:step, got {item!r}")
        if key in grid:
            raise ValueError(f"grid key {key!r} is given twice; put all its values in one --grid {key}=...")
        grid[key] = parse_axis(key, text)
    return grid


def as_grid(grid: Mapping[str, Any] | Sequence[str] | None) -> dict[str, list[Any]]:
    """Accept a grid as CLI strings, or a mapping key -> list of values or an axis string.

    Parameters
    ----------
    grid : mapping, sequence of str or None
        The grid; None gives ``{}``.

    Returns
    -------
    dict of str to list
        The values of each axis.

    Raises
    ------
    ValueError
        If an axis is malformed or empty.

    Examples
    --------
    >>> as_grid({"d": [4, 8], "L": "1:3"})
    {'d': [4, 8], 'L': [1, 2, 3]}
    """
    if grid is None:
        return {}
    if isinstance(grid, Mapping):
        out: dict[str, list[Any]] = {}
        for key, values in grid.items():
            if not isinstance(key, str) or not key.isidentifier():
                fail("grid key", key, "an identifier")
            if isinstance(values, str):
                values = parse_axis(key, values)
            elif isinstance(values, (range, list, tuple)) or hasattr(values, "tolist"):
                values = list(values.tolist() if hasattr(values, "tolist") else values)
            else:
                values = [values]
            if not values:
                raise ValueError(f"grid axis {key!r} has no values: the grid would be empty")
            out[key] = values
        return out
    if isinstance(grid, str):
        grid = [grid]
    return parse_grid(list(grid))


def expand(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes, first axis slowest; ``{}`` gives one empty point.

    Parameters
    ----------
    grid : mapping of str to sequence
        The axes.

    Returns
    -------
    list of dict
        One config per grid point.

    Raises
    ------
    ValueError
        If an axis has no values or the grid has more than :data:`MAX_GRID_POINTS` points.

    Examples
    --------
    >>> expand({"a": [1, 2], "b": [3]})
    [{'a': 1, 'b': 3}, {'a': 2, 'b': 3}]
    """
    for key, values in grid.items():
        if len(values) == 0:
            raise ValueError(f"grid axis {key!r} has no values: the grid would be empty")
    size = 1
    for key, values in grid.items():
        size *= len(values)
        if size > MAX_GRID_POINTS:
            raise ValueError(f"the grid has {' x '.join(str(len(v)) for v in grid.values())} points, more than "
                             f"{MAX_GRID_POINTS:,}; use fewer values per axis or several sweeps")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def parse_seeds(spec: Any) -> list[int]:
    """Seeds from ``"A:B"`` (B excluded), ``"A,B,C"``, a count ``N`` (0..N-1), a range or list.

    This is :func:`nclab.seeds.parse_seeds` (the one parser of seeds), kept here under its old
    name.

    Parameters
    ----------
    spec : str, int, sequence or iterable
        The seeds.

    Returns
    -------
    list of int
        The seeds.

    Raises
    ------
    ValueError
        Seeds must be distinct integers >= 0; an empty set raises (names ``seeds``).

    Examples
    --------
    >>> parse_seeds("0:3"), parse_seeds("2,5"), parse_seeds(2)
    ([0, 1, 2], [2, 5], [0, 1])
    """
    if not isinstance(spec, (str, int, float, list, tuple, range)) and hasattr(spec, "__iter__"):
        spec = list(spec)  # a numpy array or a generator of seeds
    return _parse_seeds(spec, name="seeds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy/torch scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"config values must be finite numbers, got {value!r}")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"config value {value!r} of type {type(value).__name__} cannot be stored in a sweep")


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical JSON text of a config: sorted keys, no spaces, floats as ``repr``.

    Parameters
    ----------
    config : mapping
        A config of JSON-able values (numpy/torch scalars are unwrapped).

    Returns
    -------
    str
        The canonical JSON.

    Raises
    ------
    ValueError
        If a value is not finite or cannot be stored.

    Examples
    --------
    >>> canonical_json({"b": 1.0, "a": [1, 2]})
    '{"a":[1,2],"b":1.0}'
    """
    return json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: Mapping[str, Any], kind: str = "") -> str:
    """SHA-256 (first 16 hex digits) of the kind name and the canonical JSON of ``config``.

    Parameters
    ----------
    config : mapping
        The config.
    kind : str, optional
        The sweep kind's name.

    Returns
    -------
    str
        16 hex digits.

    Raises
    ------
    ValueError
        As :func:`canonical_json`.

    Examples
    --------
    >>> config_hash({"a": 1}, "ufm")
    '8393b51722240daf'
    >>> config_hash({"x": 1, "y": 2}) == config_hash({"y": 2, "x": 1})
    True
    """
    text = kind + "\n" + canonical_json(config)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    """Consecutive chunks of at most ``size`` items.

    Parameters
    ----------
    items : sequence
        The items.
    size : int
        Largest chunk, >= 1.

    Returns
    -------
    iterable of list
        The chunks, in order (a generator).

    Examples
    --------
    >>> list(chunks([1, 2, 3, 4, 5], 2))
    [[1, 2], [3, 4], [5]]
    """
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
