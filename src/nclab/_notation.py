"""The papers' notation of the experiments' texts, for the terminal and the HTML pages.

The experiments write their texts (descriptions, claims, notes, figure labels) with TeX
segments ``$...$`` in matplotlib's mathtext, so the same string labels a figure. :func:`prose`
turns those segments into plain Unicode (``$\\Sigma_W$`` reads Σ_W in a terminal and
Σ<sub>W</sub> on a page); ``nclab show``, ``nclab run``, ``nclab reproduce`` and the report pages
all print the texts through it.
"""
from __future__ import annotations

import re
from html import escape
from typing import Any

__all__ = ["prose"]

#: TeX commands of the experiments' texts (matplotlib mathtext, for the figures) and their Unicode.
_TEX = {
    r"\Sigma": "Σ", r"\sigma": "σ", r"\lambda": "λ", r"\mu": "μ", r"\beta": "β", r"\alpha": "α",
    r"\gamma": "γ", r"\delta": "δ", r"\epsilon": "ε", r"\varepsilon": "ε", r"\eta": "η", r"\theta": "θ",
    r"\kappa": "κ", r"\rho": "ρ", r"\tau": "τ", r"\phi": "φ", r"\psi": "ψ", r"\omega": "ω", r"\Delta": "Δ",
    r"\ell": "ℓ", r"\infty": "∞", r"\leq": "≤", r"\le": "≤", r"\geq": "≥", r"\ge": "≥", r"\neq": "≠",
    r"\approx": "≈", r"\times": "×", r"\cdot": "·", r"\to": "→", r"\sqrt": "√", r"\|": "‖",
    r"\top": "ᵀ", r"\dagger": "†", r"\mathrm": "", r"\mathbf": "", r"\mathit": "", r"\operatorname": "",
    r"\left": "", r"\right": "", r"\,": " ", r"\;": " ", r"\ ": " ", r"\{": "{", r"\}": "}",
}
_BAR = re.compile(r"\\(?:bar|overline)\{([^{}]*)\}|\\(?:bar|overline)\s*([A-Za-z])")
_SCRIPT = re.compile(r"([_^])(\{[^{}]*\}|\\?[A-Za-z0-9+\-*])")
_COMMAND = re.compile(r"\\[A-Za-z]+|\\[|,; {}]")


def _math(segment: str, html: bool) -> str:
    segment = re.sub(r"\^\{?\\top\}?", "ᵀ", segment)
    segment = _BAR.sub(lambda m: "".join(ch + "\u0304" for ch in (m.group(1) or m.group(2))), segment)
    segment = _COMMAND.sub(lambda m: _TEX.get(m.group(0), m.group(0).lstrip("\\")), segment)

    def script(m: re.Match) -> str:
        body = m.group(2)
        body = body[1:-1] if body.startswith("{") else body
        if not html:
            return m.group(1) + body
        tag = "sub" if m.group(1) == "_" else "sup"
        return f"<{tag}>{escape(body)}</{tag}>"

    if not html:
        return _SCRIPT.sub(script, segment).replace("{", "").replace("}", "")
    pieces, last = [], 0
    for m in _SCRIPT.finditer(segment):
        pieces.append(escape(segment[last:m.start()].replace("{", "").replace("}", "")))
        pieces.append(script(m))
        last = m.end()
    pieces.append(escape(segment[last:].replace("{", "").replace("}", "")))
    return "".join(pieces)


def prose(text: Any, *, html: bool = True) -> str:
    """A text of an experiment (description, claim, note, setting's help) in the papers' notation.

    Its TeX segments (``$...$``, as in the figures' mathtext) become plain Unicode: Greek
    letters, ``\\bar H`` as H̄, ``^\\top`` as ᵀ, ``\\|`` as ‖, ``\\le`` as ≤. An unpaired ``$``
    and an escaped ``\\$`` stay a dollar sign.

    Parameters
    ----------
    text : object
        The text (anything else is read as ``str(text)``).
    html : bool, default True
        True: for an HTML page, subscripts and superscripts as ``<sub>``/``<sup>`` and the
        rest HTML-escaped. False: for the terminal, plain text that keeps ``_`` and ``^``
        (``Σ_W Σ_B^+``) and escapes nothing.

    Returns
    -------
    str
        The text with every ``$...$`` segment converted.

    Examples
    --------
    >>> from nclab._notation import prose
    >>> prose(r"NC1: tr$(\\Sigma_W\\Sigma_B^+)/K$ < 1")
    'NC1: tr(Σ<sub>W</sub>Σ<sub>B</sub><sup>+</sup>)/K &lt; 1'
    >>> prose(r"tr$\\Sigma_W$/tr$\\Sigma_B$ and $\\bar H$", html=False)
    'trΣ_W/trΣ_B and H̄'
    >>> prose(r"$\\|WW^\\top-\\sqrt{N}P\\|_F$ costs 5$", html=False)
    '‖WWᵀ-√NP‖_F costs 5$'
    """
    text = str(text)
    parts = re.split(r"(?<!\\)\$(.+?)(?<!\\)\$", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(_math(part, html))
        else:
            part = part.replace(r"\$", "$")
            out.append(escape(part) if html else part)
    return "".join(out)
