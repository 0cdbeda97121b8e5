"""HTML pieces the report pages share: value formatting, anchors, badges, embedded PNGs and tables
(the experiments' texts in the papers' notation come from :func:`nclab._notation.prose`)."""
from __future__ import annotations

import base64
import math
import re
from html import escape
from typing import Any, Mapping, Sequence


def format_value(value: Any, *, max_items: int = 8, _nested: bool = False) -> str:
    """A short, readable text form of a measured value or metric.

    Parameters
    ----------
    value : object
        A number, string, mapping, list or tuple (nested), or anything with ``str``.
    max_items : int, optional
        Entries shown of a mapping or list before ``… (N values)``.

    Returns
    -------
    str
        Floats to 4 significant digits; a mapping reads ``k=v, ...`` (nested mappings in
        braces), a list ``[a, b, ...]``.

    Examples
    --------
    >>> from nclab.report import format_value
    >>> format_value({"nc1": 0.0123456, "ranks": [9, 9, 4], "ok": True})
    'nc1=0.01235, ranks=[9, 9, 4], ok=True'
    >>> format_value(list(range(10)), max_items=3)
    '[0, 1, 2, … (10 values)]'
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = list(value.items())
        text = ", ".join(f"{k}={format_value(v, max_items=max_items, _nested=True)}" for k, v in items[:max_items])
        text += f", … ({len(items)} entries)" if len(items) > max_items else ""
        return "{" + text + "}" if _nested else text
    if isinstance(value, (list, tuple)):
        text = ", ".join(format_value(v, max_items=max_items, _nested=True) for v in value[:max_items])
        more = f", … ({len(value)} values)" if len(value) > max_items else ""
        return f"[{text}{more}]"
    return str(value)


def slug(text: str) -> str:
    """An HTML id made of letters, digits, ``-`` and ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def _seconds(s: Any) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "?"
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:04.1f} s"


def _badge(kind: str, text: str | None = None) -> str:
    return f'<span class="badge {kind}">{escape(text or kind.upper())}</span>'


#: A figure wider than this (in pixels) gets the full width of the page, not a column.
WIDE_PX = 760


def png_width(data: bytes | None) -> int:
    """The width in pixels of PNG bytes (0 if not a PNG)."""
    if not data or data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return 0
    return int.from_bytes(data[16:20], "big")


def png_data_uri(data: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure(data: bytes | None, name: str, href: str | None) -> str:
    if data is None:
        return f'<figure class="missing"><p>figure file <code>{escape(name)}</code> not found</p></figure>'
    img = f'<img src="{png_data_uri(data)}" alt="{escape(name)}">'
    if href:
        img = f'<a href="{escape(href)}" title="open the PNG file">{img}</a>'
    return f"<figure>{img}<figcaption>{escape(name)}</figcaption></figure>"


def _table(rows: Sequence[Mapping], *, max_rows: int = 200, cls: str = "data") -> str:
    if not rows:
        return "<p class=muted>(empty table)</p>"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows[:max_rows]:
        body.append("<tr>" + "".join(f"<td>{escape(format_value(row.get(c, '')))}</td>" for c in columns) + "</tr>")
    more = f'<p class="muted">… {len(rows) - max_rows} more rows in results.json</p>' if len(rows) > max_rows else ""
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}'


def _kv_table(mapping: Mapping) -> str:
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td><code>{escape(format_value(v, max_items=20))}</code></td></tr>"
                   for k, v in mapping.items())
    return f'<table class="kv">{rows}</table>'
