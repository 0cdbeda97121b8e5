"""Safe parsing of ``key=value`` settings from the command line (never ``eval``).

Values are Python literals (numbers, strings, booleans, None, lists, tuples) or simple
arithmetic on numbers such as ``2**-10``, ``1/3`` or ``1e-3*5``. Anything else is kept as a
plain string, so ``activation=relu`` needs no quotes.
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
    try:
        return _evaluate(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
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
