"""Schatten quasi-norms and the balanced-factorisation identity (Garrod & Keating 2025, Lemma 1).

For Z = F_L ... F_0 with L + 1 factors (F_0 = H_1, F_l = W_l), GK Lemma 1 (docs/math.md §6.3):

    min over factorisations of (lam/2) sum_l ||F_l||_F^2 = (lam/2)(L+1) ||Z||_{S_p}^p,  p = 2/(L+1),

attained exactly by balanced factors (all F_l share the singular values s_i(Z)^{1/(L+1)}), which
every critical point has. :func:`factorisation_check` tests the identity numerically: L-BFGS over
invertible gauges G_l (F_l -> G_{l+1} F_l G_l^{-1}, the product is unchanged) from random
unbalanced starts must never go below the Schatten value and should reach it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from nclab._validation import check_int, check_real, fail
from nclab.metrics.spectrum import schatten_power  # the one definition; re-exported here
from nclab.theory._checks import check_factors, check_matrix

__all__ = ["schatten_power", "schatten_regulariser", "factor_regulariser", "balance_gap", "factorisation_check",
           "FactorisationCheck"]


def schatten_regulariser(Z: torch.Tensor, L: int, lam: float, *, rtol: float = 1e-12) -> torch.Tensor:
    """(lam/2)(L+1) sum_i s_i(Z)^{2/(L+1)}: the regulariser of the deep UFM at any critical point (GK Lemma 1).

    Singular values below ``rtol`` * s_max are treated as exact zeros: with p = 2/(L+1) < 1 a
    rounding-level s ~ 1e-16 would otherwise add s^p ~ 1e-11 each.

    Parameters
    ----------
    Z : torch.Tensor, shape (..., K, N)
        The product of the factors (logits).
    L : int
        Number of weight layers, >= 1 (L + 1 factors).
    lam : float
        Regularisation strength, >= 0.
    rtol : float, optional
        Relative threshold below which singular values count as zero.

    Returns
    -------
    torch.Tensor
        The regulariser, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``Z`` is not a real, finite, non-empty array of two or more axes, or ``L``, ``lam``
        or ``rtol`` is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (docs/math.md §6.3).

    Examples
    --------
    >>> Z = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    >>> round(float(schatten_regulariser(Z, 1, 1.0)), 6)  # (1/2) 2 (4 + 1)
    5.0
    """
    L = check_int("L", L, minimum=1)
    L = check_int("L", L, minimum=1)
    lam = check_real("lam", lam, minimum=0.0)
    rtol = check_real("rtol", rtol, minimum=0.0)
    s = torch.linalg.svdvals(check_matrix(Z, "Z"))
    s = torch.where(s > rtol * s[..., :1], s, torch.zeros_like(s))
    return 0.5 * lam * (L + 1) * s.pow(2.0 / (L + 1)).sum(-1)


def factor_regulariser(factors: Sequence[torch.Tensor], lams: Sequence[float] | float) -> torch.Tensor:
    """sum_l (lam_l/2) ||F_l||_F^2 over factors [H_1, W_1, .., W_L] (each (..., r, c)); batched.

    Parameters
    ----------
    factors : sequence of torch.Tensor
        The factors F_0 = H_1, F_1 = W_1, ..., F_L = W_L.
    lams : float or sequence of float
        One strength for all factors, or one per factor.

    Returns
    -------
    torch.Tensor
        The regulariser, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``factors`` is not a sequence of real, finite, non-empty matrices, or ``lams`` is not
        one strength >= 0 or one per factor.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (docs/math.md §6.3).

    Examples
    --------
    >>> F = [torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))] * 2
    >>> round(float(factor_regulariser(F, 1.0)), 6)
    5.0
    """
    factors = check_factors(factors)
    if isinstance(lams, (str, bytes)) or not hasattr(lams, "__iter__"):
        lams = [check_real("lams", lams, minimum=0.0)] * len(factors)
    else:
        lams = [check_real(f"lams[{i}]", lam, minimum=0.0) for i, lam in enumerate(lams)]
        if len(lams) != len(factors):
            fail("lams", f"{len(lams)} strengths", f"one strength, or one per factor ({len(factors)})")
    return sum(0.5 * lam * (F * F).sum(dim=(-2, -1)) for lam, F in zip(lams, factors))


def balance_gap(factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """max_l ||F_{l+1}^T F_{l+1} - F_l F_l^T||_F / ||F_l F_l^T||_F: 0 for balanced factors (GK Lemma 1).

    Parameters
    ----------
    factors : sequence of torch.Tensor
        The factors [H_1, W_1, .., W_L], at least two.

    Returns
    -------
    torch.Tensor
        The largest relative imbalance, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``factors`` is not a sequence of at least two real, finite, non-empty matrices that
        multiply in order.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (docs/math.md §6.3).

    Examples
    --------
    >>> F = [torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))] * 2
    >>> float(balance_gap(F))
    0.0
    """
    factors = check_factors(factors, minimum=2)
    for i, (lower, upper) in enumerate(zip(factors[:-1], factors[1:])):
        if upper.shape[-1] != lower.shape[-2]:
            fail(f"factors[{i + 1}]", f"an array of shape {tuple(upper.shape)}",
                 f"{lower.shape[-2]} columns, the rows of factors[{i}] (the factors multiply in order)")
    gaps = []
    for lower, upper in zip(factors[:-1], factors[1:]):
        a = upper.mT @ upper
        b = lower @ lower.mT
        gaps.append(torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b).clamp_min(1e-300))
    return torch.stack(gaps).amax(dim=0)


@dataclass
class FactorisationCheck:
    """Result of :func:`factorisation_check`: the Schatten value, the smallest regulariser found
    from each start, the product error of the gauge-transformed factors, and the starts' values.

    Parameters
    ----------
    schatten : float
        (lam/2)(L+1) ||Z||_{S_p}^p.
    found : list of float
        The regulariser reached from each start.
    start : list of float
        The regulariser at each start.
    product_error : float
        Largest relative change of the product over the gauges.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (docs/math.md §6.3).

    Examples
    --------
    >>> r = FactorisationCheck(schatten=1.0, found=[1.2, 1.0], start=[2.0, 2.0], product_error=0.0)
    >>> r.min_found
    1.0
    """

    schatten: float
    found: list[float]
    start: list[float]
    product_error: float

    @property
    def min_found(self) -> float:
        """The smallest regulariser found over the starts.

        Returns
        -------
        float
            ``min(found)``.

        Examples
        --------
        >>> FactorisationCheck(1.0, [1.5, 1.1], [2.0, 2.0], 0.0).min_found
        1.1
        """
        return min(self.found)


def factorisation_check(
    factors: Sequence[torch.Tensor], lam: float, *, starts: int = 3, steps: int = 200, spread: float = 0.3,
    seed: int = 0,
) -> FactorisationCheck:
    """L-BFGS over gauges of a factorisation [H_1, W_1, .., W_L] (unbatched, float64) (GK Lemma 1).

    From ``starts`` random invertible gauges G_l = exp(spread * A_l) (A_l Gaussian / sqrt(d)),
    minimise (lam/2) sum ||G_{l+1} F_l G_l^{-1}||^2 (G_0 = I on the sample side, G_{L+1} = I on
    the logit side). The identity says no result is below (lam/2)(L+1)||Z||_{S_p}^p.

    Parameters
    ----------
    factors : sequence of torch.Tensor
        The factors [H_1, W_1, .., W_L], unbatched.
    lam : float
        Regularisation strength, > 0.
    starts : int, optional
        Number of random starts.
    steps : int, optional
        L-BFGS iterations per start.
    spread : float, optional
        Scale of the random gauges.
    seed : int, optional
        Seed of the gauges.

    Returns
    -------
    FactorisationCheck
        The Schatten value and what each start reached.

    Raises
    ------
    ValueError
        If ``lam`` is not a finite number > 0.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Lemma 1 (docs/math.md §6.3).

    Examples
    --------
    >>> F = [torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64)]
    >>> r = factorisation_check(F, 1.0, starts=1, steps=20)
    >>> round(r.schatten, 6), r.min_found >= r.schatten - 1e-9
    (1.0, True)
    """
    lam = check_real("lam", lam, minimum=0.0, strict=True)
    F = [torch.as_tensor(f, dtype=torch.float64).detach().cpu() for f in factors]
    L = len(F) - 1
    Z = F[0]
    for f in F[1:]:
        Z = f @ Z
    target = float(schatten_regulariser(Z, L, lam))
    g = torch.Generator().manual_seed(seed)
    dims = [f.shape[0] for f in F[:-1]]  # inner dimensions d_1..d_L
    found, begin, perr = [], [], 0.0

    def apply(logs):
        G = [torch.linalg.matrix_exp(a) for a in logs]
        out, prev_inv = [], None
        for l, f in enumerate(F):
            x = f if prev_inv is None else f @ prev_inv
            if l < L:
                x = G[l] @ x
                prev_inv = torch.linalg.matrix_exp(-logs[l])
            out.append(x)
        return out

    for _ in range(starts):
        logs = [(spread * torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5).requires_grad_(True) for d in dims]
        with torch.no_grad():
            begin.append(float(factor_regulariser(apply(logs), lam)))
        opt = torch.optim.LBFGS(logs, lr=1.0, max_iter=steps, tolerance_grad=1e-13, tolerance_change=1e-15,
                                history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            val = factor_regulariser(apply(logs), lam)
            val.backward()
            return val

        opt.step(closure)
        with torch.no_grad():
            out = apply(logs)
            found.append(float(factor_regulariser(out, lam)))
            P = out[0]
            for f in out[1:]:
                P = f @ P
            perr = max(perr, float(torch.linalg.matrix_norm(P - Z) / torch.linalg.matrix_norm(Z)))
    return FactorisationCheck(schatten=target, found=found, start=begin, product_error=perr)
