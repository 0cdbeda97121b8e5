"""Safe parsing of ``key=value`` settings from the command line (never ``eval``).

Values are Python literals (numbers, strings, booleans, None, lists, tuples) or simple
arithmetic on numbers such as ``2**-10``, ``1/3`` or ``1e-3*5``. Anything else is kept as a
plain string, so ``activation=relu`` needs no quotes.

Arithmetic is bounded before it is computed: an integer result may have at most
:data:`MAX_INT_BITS` bits (about 1e1233, far beyond any float) and a value at most
:data:`MAX_VALUE_CHARS` characters of text, so ``((10**1000)**1000)**1000`` is refused at once
(kept as a string, which the key's rule then refuses) instead of running for minutes.
"""
from __future__ import annotations

import ast
import operator
from typing import Any

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}

#: The most bits an integer computed by the value parser may have (2**4096 is about 1e1233).
MAX_INT_BITS = 4096
#: The longest value text the parser evaluates (longer text is kept as a string).
MAX_VALUE_CHARS = 10_000


def _result_bits(op: ast.operator, left: int | float, right: int | float) -> float:
    """An upper bound on the bits of ``left OP right`` when both are ints (0 otherwise)."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0.0
    a, b = max(left.bit_length(), 1), max(right.bit_length(), 1)
    if isinstance(op, ast.Pow):
        return a * max(right, 0) if abs(left) > 1 else 1.0
    if isinstance(op, ast.Mult):
        return a + b
    return max(a, b) + 1


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_evaluate(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_number(_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _number(_evaluate(node.left)), _number(_evaluate(node.right))
        if isinstance(node.op, ast.Pow) and abs(right) > 1024:
            raise ValueError("exponent too large")
        if _result_bits(node.op, left, right) > MAX_INT_BITS:
            raise ValueError("result too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Name) and node.id in ("true", "false", "none", "null"):
        return {"true": True, "false": False}.get(node.id)
    raise ValueError("not a literal")


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("arithmetic needs numbers")
    return value


def parse_value(text: str) -> Any:
    """Parse one command-line value: a literal, simple arithmetic, or else the raw string."""
    text = text.strip()
    if len(text) > MAX_VALUE_CHARS:
        return text
    try:
        return _evaluate(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError, MemoryError):
        return text


def parse_assignments(items: list[str] | None, option: str = "--set") -> dict[str, Any]:
    """Parse ``["key=value", ...]`` into a dict; a malformed item raises ``ValueError``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"{option} must be given as key=value, got {item!r}")
        out[key] = parse_value(value)
    return out
