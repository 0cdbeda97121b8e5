"""What every Garrod & Keating experiment shares: the paper's key and citation, a tolerance test."""
from __future__ import annotations

PAPER = "garrod2025"
SRC = "Garrod & Keating 2025"


#: Digits and minus sign to their superscripts, for exponents in the page's texts (2⁻¹⁰).
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power_of_two(exponent: float) -> str:
    """``2`` to the power ``exponent`` as the page writes it, in Unicode superscripts.

    Parameters
    ----------
    exponent : float
        The exponent, e.g. ``log2(lam)``.

    Returns
    -------
    str
        ``"2⁻¹⁰"`` for an integer exponent, ``"2^(-4.5)"`` otherwise.

    Examples
    --------
    >>> from nclab.experiments.garrod2025._paper import power_of_two
    >>> power_of_two(-10), power_of_two(-100.0), power_of_two(-4.5)
    ('2⁻¹⁰', '2⁻¹⁰⁰', '2^(-4.5)')
    """
    e = float(exponent)
    return "2" + f"{e:.0f}".translate(_SUPERSCRIPT) if e.is_integer() else f"2^({e:g})"


def near(value: float, target: float, tol: float) -> bool:
    """``|value - target| <= tol``."""
    return bool(abs(value - target) <= tol)
