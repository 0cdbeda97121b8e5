"""Hessian spectra of the deep UFM objective (Garrod & Keating 2025, Theorems 4 and 6).

The objective is the engine's (:func:`nclab.ufm.objective.parts`), flattened per seed in the
order H_1, W_1, .., W_L (:meth:`UFMParams.flat`). Hessian-vector products use ``torch.func``
(reverse-over-reverse: ``vjp`` of ``grad``, recorded once), so the Hessian is never formed; the extreme
eigenvalues come from Lanczos (``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``). The dense
Hessian (``torch.func.hessian``) is for small sizes and cross-checks only.

GK Thm 4: at the DNC critical point with small lam the Hessian has no negative eigenvalue (PSD,
with many zero eigenvalues from the continuous symmetries). GK Thm 6 (K even, lam -> 0): the
ratio of Hessian norms at the DNC and the low-rank points tends to a constant.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

from nclab._validation import check_choice, check_int, check_real, fail

__all__ = ["flat_objective", "stable_flat_objective", "stable_ce", "hvp_function", "dense_hessian", "hessian_extremes", "HessianExtremes",
           "near_zero_count"]


def flat_objective(spec, params, seed: int = 0) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """(f, theta): the engine's objective of one seed as a function of its flat parameter vector.

    ``params`` is a :class:`nclab.ufm.spec.UFMParams`; ``seed`` picks the seed index. ``f`` maps
    a (P,) tensor to a scalar and is differentiable twice (torch.func).

    Parameters
    ----------
    spec : nclab.ufm.spec.UFMSpec
        The model and objective (e.g. ``CriticalPoint.spec``).
    params : nclab.ufm.spec.UFMParams
        The point, with one or more seeds.
    seed : int, optional
        Index of the seed of ``params`` to take (default 0).

    Returns
    -------
    f : callable
        Maps a flat (P,) tensor, in the order H_1, W_1, .., W_L (then biases, if the spec has
        them) of :meth:`UFMParams.flat`, to the engine's scalar objective
        (:func:`nclab.ufm.objective.parts`' ``"loss"``).
    theta : torch.Tensor
        Shape (P,): the seed's parameters, detached copy, in ``params``' dtype and device.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Eq. 1 (the deep UFM objective; docs/math.md §6.1).

    Examples
    --------
    >>> from nclab.theory.deep.critical_points import dnc_critical_point
    >>> cp = dnc_critical_point(3, 1, 3, 2, 0.01)  # K=3, n=1, d=3, L=2: P = 9 + 9 + 9 = 27
    >>> f, theta = flat_objective(cp.spec, cp.params)
    >>> theta.shape[0], round(float(f(theta)), 6), round(cp.loss, 6)
    (27, 0.100998, 0.100998)
    """
    from nclab.ufm.objective import parts
    from nclab.ufm.spec import UFMParams

    one = params.select(int(seed))
    theta = one.flat()[0].detach().clone()

    def f(x: torch.Tensor) -> torch.Tensor:
        return parts(spec, UFMParams.from_flat(spec, x.unsqueeze(0)))["loss"][0]

    return f, theta


def stable_ce(Z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy in a form whose first and second derivatives keep relative precision.

    Parameters
    ----------
    Z : torch.Tensor
        Logits, shape (..., K, N).
    labels : torch.Tensor
        True class of each column, shape (N,).

    Returns
    -------
    torch.Tensor
        Shape (..., N): ``softplus(t)`` with ``t = logsumexp_{j != y}(z_j - z_y)``, equal to
        ``logsumexp(z) - z_y``.

    Notes
    -----
    The engine's ``logsumexp(z) - z_y`` differentiates to ``softmax(z) - e_y``; when the margin
    exceeds about 37 the true class's ``p_y`` rounds to 1, so ``p_y - 1`` and the softmax
    Hessian's ``p_y (1 - p_y)`` are 0 instead of ``sum_{j != y} p_j`` (GK's Theorem 6 Hessians at
    lam <= 2^-50). Here the derivative with respect to ``z_y`` is ``-sigmoid(t)`` and the others
    ``sigmoid(t) softmax_{j != y}``, both products of small accurate numbers; softplus is written
    ``max(t, 0) + log1p(exp(-|t|))`` (no overflow for either sign of t). Derived, not from GK.

    Examples
    --------
    >>> Z = torch.tensor([[50.0], [0.0]], dtype=torch.float64)
    >>> y = torch.tensor([0])
    >>> f"{float(stable_ce(Z, y)[0]):.4e}"  # log(1 + e^-50) = e^-50 to rounding
    '1.9287e-22'
    >>> float((torch.logsumexp(Z, 0) - Z[0])[0])  # the plain form loses it
    0.0
    """
    rows = torch.arange(Z.shape[-2], device=Z.device).unsqueeze(-1)
    true = Z.gather(-2, labels.view(*([1] * (Z.ndim - 2)), 1, -1).expand(*Z.shape[:-2], 1, -1))
    D = torch.where(rows == labels.unsqueeze(0), torch.full_like(Z, -torch.inf), Z - true)
    t = torch.logsumexp(D, dim=-2)
    tp, tn = t.clamp(min=0.0), t.clamp(max=0.0)
    return tp + torch.log1p(torch.exp(tn - tp))


def stable_flat_objective(spec, params, seed: int = 0) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """(f, theta) like :func:`flat_objective`, with the cross-entropy in :func:`stable_ce`'s form.

    Parameters
    ----------
    spec : UFMSpec
        A cross-entropy spec without anchor (the deep UFM of GK).
    params : UFMParams
        The point; ``seed`` picks the seed index.
    seed : int
        Seed index.

    Returns
    -------
    tuple
        ``f`` (a (P,) tensor to a scalar, twice differentiable by ``torch.func``) and ``theta``.

    Notes
    -----
    Same objective as the engine's (mean CE + regulariser; equal to it to rounding), but its
    gradient and Hessian keep relative precision when the fit term is below float64's epsilon
    (lam <= 2^-50 at GK's critical points), where the engine's autograd Hessian loses its CE part.

    Raises
    ------
    ValueError
        If ``spec`` is not a cross-entropy spec or is anchored.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Eq. 1 and Theorem 6 (the small-lam Hessians this form is for;
    docs/math.md §6.13).

    Examples
    --------
    >>> from nclab.theory.deep.critical_points import dnc_critical_point
    >>> cp = dnc_critical_point(3, 1, 3, 2, 0.01)  # K=3, n=1, d=3, L=2: P = 9 + 9 + 9 = 27
    >>> f, theta = stable_flat_objective(cp.spec, cp.params)
    >>> g, _ = flat_objective(cp.spec, cp.params)
    >>> bool(abs(float(f(theta)) - float(g(theta))) < 1e-15)
    True
    """
    from nclab.ufm.objective import forward_all
    from nclab.ufm.terms import fit_scale, regulariser, targets
    from nclab.ufm.spec import UFMParams

    if spec.loss != "ce" or spec.anchored:
        fail("spec", spec, "a cross-entropy spec without anchor (the deep UFM)")
    one = params.select(int(seed))
    theta = one.flat()[0].detach().clone()
    labels = targets(spec, dtype=theta.dtype, device=theta.device)[1]

    def f(x: torch.Tensor) -> torch.Tensor:
        p = UFMParams.from_flat(spec, x.unsqueeze(0))
        fit = stable_ce(forward_all(spec, p).Z, labels).sum(dim=-1) * fit_scale(spec)
        return (fit + regulariser(spec, p))[0]

    return f, theta


def hvp_function(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> H(theta) v with ``torch.func``: the reverse-mode derivative of ``grad(f)`` at theta.

    ``torch.func.vjp(grad(f), theta)`` records the gradient computation once; each product is
    then one backward pass (H is symmetric, so v^T H = (H v)^T). On the CPU this is ~30x faster
    per product than forward-over-reverse (``jvp`` of ``grad``), which gives the same numbers.

    Parameters
    ----------
    f : callable
        Scalar function of a (P,) tensor, twice differentiable by ``torch.func`` (e.g. from
        :func:`flat_objective`).
    theta : torch.Tensor
        Shape (P,): the point.

    Returns
    -------
    callable
        ``hvp(v)``: for a (P,) tensor v of theta's dtype and device, the (P,) tensor H(theta) v.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorems 4 and 6 (the Hessians studied; docs/math.md §6.11).

    Examples
    --------
    >>> from nclab.theory.deep.critical_points import dnc_critical_point
    >>> cp = dnc_critical_point(3, 1, 3, 2, 0.01)  # K=3, n=1, d=3, L=2: P = 9 + 9 + 9 = 27
    >>> f, theta = flat_objective(cp.spec, cp.params)
    >>> v = torch.linspace(-1.0, 1.0, theta.numel(), dtype=torch.float64)
    >>> bool(torch.allclose(hvp_function(f, theta)(v), dense_hessian(f, theta) @ v))
    True
    """
    from torch.func import grad, vjp

    _, pullback = vjp(grad(f), theta)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return pullback(v)[0]

    return hvp


def dense_hessian(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, *, max_params: int = 6000) -> torch.Tensor:
    """The full (P, P) Hessian by ``torch.func.hessian``; refuses P > ``max_params`` (memory P^2).

    Parameters
    ----------
    f : callable
        Scalar function of a (P,) tensor, twice differentiable by ``torch.func``.
    theta : torch.Tensor
        Shape (P,): the point.
    max_params : int, optional
        Largest P accepted (default 6000, a 288 MB float64 matrix).

    Returns
    -------
    torch.Tensor
        Shape (P, P), theta's dtype: the Hessian, symmetrised as (H + H^T) / 2.

    Raises
    ------
    ValueError
        If P > ``max_params``.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 4 (no negative eigenvalue at DNC for small lam; docs/math.md §6.11).

    Examples
    --------
    >>> from nclab.theory.deep.critical_points import dnc_critical_point
    >>> cp = dnc_critical_point(3, 1, 3, 2, 0.01)  # K=3, n=1, d=3, L=2: P = 9 + 9 + 9 = 27
    >>> f, theta = flat_objective(cp.spec, cp.params)
    >>> e = torch.linalg.eigvalsh(dense_hessian(f, theta))
    >>> bool(e.min() > -1e-12), near_zero_count(e.numpy(), atol=1e-8)  # PSD; L(rd - r(r+1)/2) = 6 zeros
    (True, 6)
    """
    P = theta.numel()
    if P > max_params:
        fail("number of parameters", P, f"at most max_params = {max_params} for a dense Hessian (use hessian_extremes)")
    from torch.func import hessian

    Hm = hessian(f)(theta)
    return 0.5 * (Hm + Hm.T)


@dataclass
class HessianExtremes:
    """Extreme Hessian eigenvalues: ``smallest``/``largest`` (k each, ascending), the parameter
    count, the number of Hessian-vector products and the seconds taken.

    Returned by :func:`hessian_extremes`; ``min``, ``max`` and ``norm`` are the smallest, the
    largest and the largest absolute eigenvalue found.

    Parameters
    ----------
    smallest : numpy.ndarray
        The k smallest eigenvalues, ascending (empty when only the largest were asked for).
    largest : numpy.ndarray
        The k largest eigenvalues, ascending (empty when only the smallest were asked for).
    num_params : int
        P, the number of parameters.
    matvecs : int
        Number of Hessian-vector products used.
    seconds : float
        Wall time of the computation.
    notes : list of str, optional
        Remarks on the computation (empty by default).

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorems 4 and 6.

    Examples
    --------
    >>> import numpy as np
    >>> h = HessianExtremes(np.array([-0.5]), np.array([2.0]), 10, 40, 0.1)
    >>> h.min, h.max, h.norm
    (-0.5, 2.0, 2.0)
    """

    smallest: np.ndarray
    largest: np.ndarray
    num_params: int
    matvecs: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def min(self) -> float:
        """The smallest eigenvalue found (needs ``smallest``)."""
        return float(self.smallest[0])

    @property
    def max(self) -> float:
        """The largest eigenvalue found (needs ``largest``)."""
        return float(self.largest[-1])

    @property
    def norm(self) -> float:
        """Spectral norm max |eigenvalue|."""
        return max(abs(self.min), abs(self.max))


def hessian_extremes(
    f: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor,
    *,
    k: int = 1,
    which: str = "both",
    tol: float = 1e-10,
    maxiter: int | None = None,
    ncv: int | None = None,
    seed: int = 0,
) -> HessianExtremes:
    """The k smallest and/or largest Hessian eigenvalues by Lanczos (scipy ``eigsh``, GK Thms 4/6).

    The smallest are found as the largest of (sigma I - H) with sigma = the largest eigenvalue
    (a spectral shift; Lanczos converges best at the top of a spectrum). ``which``: "both",
    "smallest" or "largest". Computes in theta's dtype/device; only vectors cross to numpy.

    Parameters
    ----------
    f : callable
        Scalar function of a (P,) tensor, twice differentiable by ``torch.func``.
    theta : torch.Tensor
        Shape (P,): the point.
    k : int, optional
        Number of eigenvalues at each end, 1 <= k < P - 1 (default 1).
    which : {"both", "smallest", "largest"}, optional
        Which end(s) to return (the largest are always computed, for the shift).
    tol : float, optional
        Relative accuracy passed to ``eigsh`` (default 1e-10; 0 means machine precision).
    maxiter : int, optional
        Maximum number of Arnoldi update iterations passed to ``eigsh`` (default scipy's).
    ncv : int, optional
        Number of Lanczos vectors passed to ``eigsh`` (default scipy's).
    seed : int, optional
        Seed of the random start vector (default 0).

    Returns
    -------
    HessianExtremes
        The eigenvalues found, ascending, with P, the number of Hessian-vector products and
        the seconds taken.

    Raises
    ------
    ValueError
        If ``which``, ``k`` or ``tol`` is out of range (k >= P - 1: use :func:`dense_hessian`).
    scipy.sparse.linalg.ArpackNoConvergence
        If Lanczos does not converge within ``maxiter``.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorem 4 (smallest eigenvalue >= 0 at DNC) and Theorem 6 (Hessian norms)
    (docs/math.md §6.11, §6.13).

    Examples
    --------
    >>> from nclab.theory.deep.critical_points import dnc_critical_point
    >>> cp = dnc_critical_point(3, 1, 3, 2, 0.01)  # K=3, n=1, d=3, L=2: P = 9 + 9 + 9 = 27
    >>> f, theta = flat_objective(cp.spec, cp.params)
    >>> h = hessian_extremes(f, theta, k=2)
    >>> e = torch.linalg.eigvalsh(dense_hessian(f, theta))
    >>> bool(np.allclose(h.largest, e[-2:].numpy())), abs(h.min) < 1e-8, h.num_params
    (True, True, 27)
    """
    check_choice("which", which, ("both", "smallest", "largest"))
    k = check_int("k", k, minimum=1)
    tol = check_real("tol", tol, minimum=0.0)
    P = theta.numel()
    if k >= P - 1:
        fail("k", k, f"an integer < P - 1 = {P - 1} for Lanczos (use dense_hessian)")
    hvp = hvp_function(f, theta)
    count = [0]
    start = time.perf_counter()

    def mv(x: np.ndarray, shift: float | None = None) -> np.ndarray:
        count[0] += 1
        v = torch.as_tensor(np.ascontiguousarray(x).reshape(-1), dtype=theta.dtype).to(theta.device)
        out = hvp(v)
        if shift is not None:
            out = shift * v - out
        return out.detach().cpu().numpy().astype(np.float64)

    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(P)
    kw = {"tol": tol, "maxiter": maxiter, "ncv": ncv, "v0": v0}
    top = eigsh(LinearOperator((P, P), matvec=mv, dtype=np.float64), k=k, which="LA", **kw)[0]
    largest = np.sort(top)
    smallest = np.array([])
    notes = []
    if which in ("both", "smallest"):
        sigma = float(largest[-1]) * 1.01 + 1e-12
        shifted = LinearOperator((P, P), matvec=lambda x: mv(x, sigma), dtype=np.float64)
        mu = eigsh(shifted, k=k, which="LA", **kw)[0]
        smallest = np.sort(sigma - mu)
    if which == "smallest":
        largest = np.array([])
    return HessianExtremes(smallest, largest, P, count[0], time.perf_counter() - start, notes)


def near_zero_count(eigenvalues, *, atol: float) -> int:
    """Number of eigenvalues with |e| <= atol (the degenerate directions of GK Thm 4).

    Parameters
    ----------
    eigenvalues : array_like
        Eigenvalues (any shape; cast to float64).
    atol : float
        Absolute tolerance.

    Returns
    -------
    int
        The count of entries with |e| <= ``atol``.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Theorems 4 and 5 (zero eigenvalues from the continuous symmetries;
    docs/math.md §6.11, §6.12).

    Examples
    --------
    >>> near_zero_count([-1e-9, 0.5, 2e-9, -0.1], atol=1e-8)
    2
    """
    e = np.asarray(eigenvalues, dtype=np.float64)
    return int((np.abs(e) <= atol).sum())
