"""Dimension counts of solution sets in the deep UFM (Garrod & Keating 2025, Theorem 5).

GK Thm 5 (text; the crossing is derived, docs/math.md §6.12): the set of parameters realising DNC has dimension
D_DNC = L (K-1)(d-K+1); a rank-r solution Z* has D_Z* = L (r d - C(r)) with
r(r+1)/2 <= C(r) <= r^2. Their ratio R(d) = (K-1)(d-K+1)/(r d - C(r)) increases with the width d,
is < 1 at d = K and tends to (K-1)/r > 1: wide networks give DNC the larger share of the landscape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from nclab._validation import check_choice, check_int, fail

__all__ = ["dnc_dimension", "low_rank_dimension", "dimension_ratio", "dimension_crossing", "DimensionBounds"]


@dataclass(frozen=True)
class DimensionBounds:
    """Lower and upper bounds of a dimension count or ratio (GK Thm 5).

    Parameters
    ----------
    lower : float
        Lower bound.
    upper : float
        Upper bound.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 5 (docs/math.md §6.12).

    Examples
    --------
    >>> DimensionBounds(lower=1.0, upper=2.0).upper
    2.0
    """

    lower: float
    upper: float


def _check(K: int, d: int, L: int) -> tuple[int, int, int]:
    K = check_int("K", K, minimum=2)
    L = check_int("L", L, minimum=1)
    d = check_int("d", d, minimum=1)
    if d < K:
        fail("d", d, f"an integer >= K = {K} (GK Thm 5 assumes d >= K)")
    return K, d, L


def _check_r(r: int, K: int) -> int:
    r = check_int("r", r, minimum=1)
    if r >= K - 1:
        fail("r", r, f"a rank 1 <= r < K - 1 = {K - 1} (a low-rank solution, GK Thm 5)")
    return r


def dnc_dimension(K: int, d: int, L: int) -> int:
    """D_DNC = L (K-1)(d-K+1), the dimension of the DNC solution set (GK Thm 5).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    d : int
        Width, >= K.
    L : int
        Number of layers, >= 1.

    Returns
    -------
    int
        D_DNC.

    Raises
    ------
    ValueError
        If ``d < K`` or a parameter is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 5 (docs/math.md §6.12).

    Examples
    --------
    >>> dnc_dimension(10, 16, 3)
    189
    """
    K, d, L = _check(K, d, L)
    return L * (K - 1) * (d - K + 1)


def low_rank_dimension(r: int, d: int, L: int, K: int | None = None) -> DimensionBounds:
    """Bounds on D_Z* = L (r d - C(r)) with r(r+1)/2 <= C(r) <= r^2 (GK Thm 5): (lower, upper).

    Parameters
    ----------
    r : int
        Rank of the solution, >= 1 (and < K - 1 when ``K`` is given).
    d : int
        Width.
    L : int
        Number of layers, >= 1.
    K : int, optional
        Number of classes; checks ``d >= K`` and ``r < K - 1`` when given.

    Returns
    -------
    DimensionBounds
        The bounds on D_Z*.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 5 (docs/math.md §6.12).

    Examples
    --------
    >>> low_rank_dimension(5, 16, 3, K=10)
    DimensionBounds(lower=165.0, upper=195.0)
    """
    r = check_int("r", r, minimum=1)
    if K is not None:
        K, d, L = _check(K, d, L)
        r = _check_r(r, K)
    else:
        d, L = check_int("d", d, minimum=r), check_int("L", L, minimum=1)
    return DimensionBounds(lower=float(L * (r * d - r * r)), upper=float(L * (r * d - r * (r + 1) // 2)))


def dimension_ratio(
    K: int, r: int, d: int | Sequence[int], *, C: str = "both"
) -> float | DimensionBounds | list:
    """R(d) = (K-1)(d-K+1)/(r d - C(r)) of GK Thm 5; L cancels.

    ``C="low"`` uses C(r) = r(r+1)/2 (the smaller ratio), ``"high"`` C(r) = r^2 (the larger);
    ``"both"`` returns :class:`DimensionBounds`. ``d`` may be an int or a sequence (a list is
    returned then).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    r : int
        Rank, 1 <= r < K - 1.
    d : int or sequence of int
        Width(s), >= K.
    C : {"both", "low", "high"}, optional
        Which bound of C(r).

    Returns
    -------
    float, DimensionBounds or list
        The ratio (bounds), one per width for a sequence.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 5 (docs/math.md §6.12).

    Examples
    --------
    >>> [round(x, 6) for x in dimension_ratio(10, 5, [14, 20], C="low")]
    [0.818182, 1.164706]
    """
    check_choice("C", C, ("low", "high", "both"))
    K = check_int("K", K, minimum=2)
    r = _check_r(r, K)
    if not isinstance(d, (int,)) and hasattr(d, "__iter__"):
        return [dimension_ratio(K, r, int(x), C=C) for x in d]
    K, d, _ = _check(K, d, 1)
    num = (K - 1) * (d - K + 1)
    low = num / (r * d - r * (r + 1) / 2)
    high = num / (r * d - r * r)
    if C == "low":
        return low
    if C == "high":
        return high
    return DimensionBounds(lower=low, upper=high)


def dimension_crossing(K: int, r: int) -> DimensionBounds:
    """Widths d where R(d) = 1 for C(r) = r^2 (lower) and r(r+1)/2 (upper): d = ((K-1)^2 - C)/(K-1-r).

    K = 10, r = 5 gives 14 and 16.5 (docs/math.md §6.12).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    r : int
        Rank, 1 <= r < K - 1.

    Returns
    -------
    DimensionBounds
        The two crossing widths.

    Raises
    ------
    ValueError
        If ``r`` or ``K`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 5 (docs/math.md §6.12).

    Examples
    --------
    >>> dimension_crossing(10, 5)
    DimensionBounds(lower=14.0, upper=16.5)
    """
    K = check_int("K", K, minimum=2)
    r = _check_r(r, K)
    return DimensionBounds(lower=((K - 1) ** 2 - r * r) / (K - 1 - r),
                           upper=((K - 1) ** 2 - r * (r + 1) / 2) / (K - 1 - r))
