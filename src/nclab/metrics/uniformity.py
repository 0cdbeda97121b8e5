"""Pairwise statistics of the normalised centred class means, computed in tiles.

Hyperspherical uniformity (Liu et al. 2023, the "GNC" measure) and the spread of the pairwise
cosines (Papyan, Han, Donoho 2020, Fig. 3) are means and variances over the K (K - 1) / 2
pairs i < j of a function of cos(u_i, u_j), u_k = m~_k / ||m~_k|| with m~_k = h_bar_k - h_bar_G.
The K x K matrix is never formed: blocks of T x T cosines are reduced one at a time and
merged with Chan et al.'s pairwise update of (count, mean, sum of squared deviations), so the
memory is that of the unit vectors plus a few T x T blocks, whatever K is.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from nclab._tensor import to_python
from nclab._validation import check_choice, check_int, check_real, fail
from nclab.metrics import _checks

#: Kernels of :func:`hyperspherical_uniformity`.
KERNELS = ("distance", "log", "riesz")

#: Default block budget: T x T x (batch) elements per block (2**20 = 8 MiB of float64).
TILE_ELEMENTS = 1 << 20


def default_tile(K: int, batch: int = 1) -> int:
    """Rows per block: the largest T with batch * T^2 <= :data:`TILE_ELEMENTS`, at most K.

    Parameters
    ----------
    K : int
        Number of rows (classes).
    batch : int
        Product of the leading (batch) axes.

    Returns
    -------
    int
        The tile T, 1 <= T <= K.

    Examples
    --------
    >>> default_tile(10), default_tile(10_000), default_tile(10_000, batch=4)
    (10, 1024, 512)
    """
    return max(1, min(K, math.isqrt(max(1, TILE_ELEMENTS // max(1, batch)))))


def _unit_rows(vectors: Any, name: str) -> torch.Tensor:
    v = _checks.check_features(vectors, name)
    if v.shape[-2] < 2:
        fail(name, f"an array of shape {tuple(v.shape)}", "at least 2 rows (one per class)")
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


def pair_moments(
    unit: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], tile: int | None = None
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(count, mean, sum of squared deviations) of fn(cos(u_i, u_j)) over the pairs i < j.

    Blocks of ``tile`` x ``tile`` cosines are reduced and merged with the pairwise update of
    Chan, Golub and LeVeque, so no K x K array exists. Peak extra memory: about
    3 * batch * tile^2 elements (the block, its deviations, and on diagonal blocks the pair
    indices).

    Parameters
    ----------
    unit : torch.Tensor, shape (..., K, d)
        Unit rows (not checked: the public functions normalise and check them).
    fn : callable
        Applied to each block of cosines; it may work in place (the block is a fresh product).
    tile : int, optional
        Rows per block (default :func:`default_tile`).

    Returns
    -------
    count : int
        K (K - 1) / 2.
    mean, m2 : torch.Tensor, shape (...)
        Mean and sum of squared deviations of the values over the pairs.

    References
    ----------
    T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a pairwise algorithm for
    computing sample variances", Stanford CS report STAN-CS-79-773 (1979).

    Examples
    --------
    >>> import torch
    >>> u = torch.eye(3, dtype=torch.float64)           # three orthogonal unit rows
    >>> count, mean, m2 = pair_moments(u, lambda c: c, tile=2)
    >>> count, float(mean), float(m2)
    (3, 0.0, 0.0)
    """
    K = unit.shape[-2]
    lead = unit.shape[:-2]
    T = default_tile(K, math.prod(lead)) if tile is None else check_int("tile", tile, minimum=1)
    count = 0
    mean = unit.new_zeros(lead)
    m2 = unit.new_zeros(lead)
    for a in range(0, K, T):
        ua = unit[..., a : a + T, :]
        for b in range(a, K, T):
            values = fn(ua @ unit[..., b : b + T, :].mT)
            if a == b:
                i, j = torch.triu_indices(values.shape[-2], values.shape[-1], offset=1, device=unit.device)
                values = values[..., i, j]
            else:
                values = values.reshape(*lead, -1)
            n = values.shape[-1]
            if n == 0:
                continue
            block_mean = values.mean(dim=-1)
            block_m2 = (values - block_mean.unsqueeze(-1)).square_().sum(dim=-1)
            total = count + n
            delta = block_mean - mean
            mean = mean + delta * (n / total)
            m2 = m2 + block_m2 + delta.square() * (count * n / total)
            count = total
    return count, mean, m2


def _kernel_fn(kernel: str, s: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The kernel as a function of a block of cosines, in place (the block is a fresh product)."""

    def sq_dist(c: torch.Tensor) -> torch.Tensor:  # ||u_i - u_j||^2 = 2 - 2 cos
        return c.mul_(-2.0).add_(2.0).clamp_min_(0.0)

    if kernel == "distance":
        return lambda c: sq_dist(c).sqrt_()
    if kernel == "log":
        return lambda c: sq_dist(c).log_().mul_(-0.5)
    return lambda c: sq_dist(c).pow_(-0.5 * s)


def hyperspherical_uniformity(
    centred_means: Any, kernel: str = "log", *, s: float = 1.0, ddof: int = 0, tile: int | None = None
) -> tuple[Any, Any]:
    """Mean and variance over class pairs of a hyperspherical kernel of the normalised means.

    With u_k = m~_k / ||m~_k|| (m~_k = h_bar_k - h_bar_G, the centred class means) and
    r_ij = ||u_i - u_j|| (chord distance), the kernel values over the K (K - 1) / 2 pairs
    i < j are

    - ``"distance"``: r_ij (larger mean: more uniform);
    - ``"log"``: log(1 / r_ij), the logarithmic energy (the s -> 0 member of the Riesz
      family; smaller mean: more uniform);
    - ``"riesz"``: r_ij^(-s), the Riesz s-energy, s > 0 (s = d - 2 is the Newtonian choice).

    Liu et al. (2023) measure generalised neural collapse ("GNC2") by this energy: at a simplex
    ETF all r_ij^2 = 2K / (K - 1), the variance is 0, and for K <= d + 1 the ETF minimises the
    energy. The variance over pairs is the spread Wu & Papyan (2024) report.

    The pairs are reduced in blocks of ``tile`` x ``tile`` (default: the largest T with
    batch * T^2 <= 2^20): peak memory beyond the input is the unit vectors (batch * K * d
    elements) plus at most 4 * 2^20 elements (32 MiB in float64) of blocks, independent of K:
    K = 10,000 classes in d = 512 (float64) stay under 39 + 32 = 71 MiB.

    Parameters
    ----------
    centred_means : array_like, shape (..., K, d)
        Centred class means as rows (``class_statistics(...).centred_means``); no row may be 0.
    kernel : {"log", "distance", "riesz"}
        The kernel of the chord distance r_ij.
    s : float
        Riesz exponent: a finite number > 0 (r_ij^(-s) is the Riesz s-energy for s > 0; its
        s -> 0 limit is ``"log"``, and s < 0 would reverse which configuration is more
        uniform). Used only by ``kernel="riesz"``, but checked for every kernel.
    ddof : int
        The variance divides by (number of pairs - ddof); 0 (default) as in the public
        reference implementation (rhubarbwu/neural-collapse, ``kernel_stats``). Where
        ddof >= K (K - 1) / 2 the variance is undefined and is NaN (as ``torch.var``).
    tile : int, optional
        Rows per block.

    Returns
    -------
    mean, variance : float or ndarray of shape (...)
        Over the pairs i < j (float for unbatched input).

    References
    ----------
    W. Liu, L. Yu, A. Weller, B. Schoelkopf, "Generalizing and decoupling neural collapse via
    hyperspherical uniformity gap", ICLR 2023, arXiv:2303.06484.
    R. Wu, V. Papyan, "Linguistic collapse: neural collapse in (large) language models",
    NeurIPS 2024, arXiv:2405.17767.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> mean, var = hyperspherical_uniformity(simplex_etf(4), "distance")
    >>> round(mean ** 2, 12), round(var, 12)   # r^2 = 2K/(K-1) = 8/3 on every pair
    (2.666666666667, 0.0)
    """
    check_choice("kernel", kernel, KERNELS)
    s = check_real("s", s, minimum=0.0, strict=True)  # checked whatever the kernel: a bad s is never ignored
    ddof = check_int("ddof", ddof, minimum=0)
    unit = _unit_rows(centred_means, "centred_means")
    with torch.no_grad():
        mean, var = hyperspherical_from(unit, kernel, s=s, ddof=ddof, tile=tile)
    return to_python(mean), to_python(var)


def hyperspherical_from(
    unit: torch.Tensor, kernel: str, *, s: float = 1.0, ddof: int = 0, tile: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors (mean, variance) of :func:`hyperspherical_uniformity` from unit rows.

    Parameters
    ----------
    unit : torch.Tensor, shape (..., K, d)
        Unit rows (not checked).
    kernel, s, ddof, tile
        As in :func:`hyperspherical_uniformity`.

    Returns
    -------
    mean, variance : torch.Tensor, shape (...)
        The variance is NaN where ddof >= the number of pairs.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> mean, var = hyperspherical_from(simplex_etf(3), "distance")
    >>> round(float(mean) ** 2, 12), round(float(var), 12)   # r^2 = 2K/(K-1) = 3
    (3.0, 0.0)
    """
    n, mean, m2 = pair_moments(unit, _kernel_fn(kernel, s), tile)
    return mean, _spread(m2, n, ddof)


def _spread(m2: torch.Tensor, count: int, ddof: int) -> torch.Tensor:
    """m2 / (count - ddof), NaN where that divisor is not positive (an undefined variance)."""
    if count - ddof <= 0:
        return torch.full_like(m2, math.nan)
    return m2 / (count - ddof)


def cosine_std(centred_means: Any, *, ddof: int = 1, tile: int | None = None) -> Any:
    """Standard deviation over class pairs of the cosines of the centred class means.

    Std over i < j of cos(m~_i, m~_j), m~_k = h_bar_k - h_bar_G: Papyan, Han and Donoho's
    equiangularity measure (2020, Fig. 3). It is 0 at any equiangular configuration, the
    simplex ETF included (where every cosine is -1/(K - 1)); the |cos + 1/(K - 1)| form is
    :func:`nclab.metrics.equiangularity`. Computed in tiles as
    :func:`hyperspherical_uniformity` (same memory bound); the unordered pairs carry every
    off-diagonal value of the symmetric cosine matrix once.

    Parameters
    ----------
    centred_means : array_like, shape (..., K, d)
        Centred class means as rows; no row may be 0.
    ddof : int
        Divide by (number of pairs - ddof); 1 (default) as torch.std in the paper's code.
        Where ddof >= K (K - 1) / 2 (K = 2 with the default: one pair) the sample deviation
        is undefined and the result is NaN (as ``torch.std``), not 0.
    tile : int, optional
        Rows per block (default: batch * T^2 <= 2^20).

    Returns
    -------
    float or ndarray of shape (...)

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal
    phase of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> round(cosine_std(simplex_etf(5)), 12)
    0.0
    """
    ddof = check_int("ddof", ddof, minimum=0)
    unit = _unit_rows(centred_means, "centred_means")
    with torch.no_grad():
        return to_python(cosine_std_from(unit, ddof=ddof, tile=tile))


def cosine_std_from(unit: torch.Tensor, *, ddof: int = 1, tile: int | None = None) -> torch.Tensor:
    """Tensor form of :func:`cosine_std` from unit rows.

    Parameters
    ----------
    unit : torch.Tensor, shape (..., K, d)
        Unit rows (not checked).
    ddof, tile
        As in :func:`cosine_std`.

    Returns
    -------
    torch.Tensor, shape (...)
        NaN where ddof >= the number of pairs.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> float(cosine_std_from(simplex_etf(2)))          # one pair: the sample deviation is undefined
    nan
    >>> float(cosine_std_from(simplex_etf(2), ddof=0))
    0.0
    """
    n, _, m2 = pair_moments(unit, lambda c: c, tile)
    return _spread(m2, n, ddof).sqrt()
