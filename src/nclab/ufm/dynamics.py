"""Optimizer steps batched over a leading seed axis (docs/design.md, "UFM").

Every update acts on each seed separately (elementwise, or per-seed reductions), so a seed's
trajectory never depends on the other seeds in its batch. State can be compacted with
``select(index)`` when seeds are frozen (converged or diverged).

- ``GD``: full-batch gradient descent, p <- p - lr g (small lr approximates gradient flow).
- ``Momentum``: heavy ball in PyTorch's SGD convention, v <- mu v + g, p <- p - lr v.
- ``Adam``: Kingma & Ba with bias correction (PyTorch's defaults betas=(0.9, 0.999), eps=1e-8).
- ``LBFGS``: a batched L-BFGS on flattened parameters (S, P): two-loop recursion with
  per-seed curvature pairs (a pair with y^T s <= 1e-12 ||s|| ||y|| is skipped for that seed),
  initial scaling gamma = s^T y / y^T y, and a per-seed backtracking Armijo line search
  (c1 = 1e-4, t halves from 1, at most ``max_backtracks`` trials, each one batched evaluation).
  A seed whose line search fails drops its history and retries along -g; a second failure in a
  row marks it ``stalled`` (usually: its gradient is at the floor of the float precision).
"""
from __future__ import annotations

from typing import Callable

import torch

from nclab._validation import check_choice, check_int, check_real, fail

UFM_OPTIMIZERS = ("gd", "momentum", "adam", "lbfgs")
DEFAULT_LR = {"gd": 0.1, "momentum": 0.1, "adam": 1e-3, "lbfgs": 1.0}


class GD:
    """p <- p - lr g for every tensor (in place).

    Parameters
    ----------
    lr : float
        Step size, > 0.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0 (names ``lr``).

    Examples
    --------
    >>> p, g = [torch.tensor([1.0], dtype=torch.float64)], [torch.tensor([2.0], dtype=torch.float64)]
    >>> GD(0.1).step(p, g)
    >>> round(p[0].item(), 6)
    0.8
    """

    def __init__(self, lr: float) -> None:
        self.lr = check_real("lr", lr, minimum=0.0, strict=True)

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        """One update p <- p - lr g.

        Parameters
        ----------
        params : list of torch.Tensor
            Parameters with a leading seed axis, updated in place.
        grads : list of torch.Tensor
            Their gradients.

        Returns
        -------
        None
        """
        for p, g in zip(params, grads):
            p.add_(g, alpha=-self.lr)

    def select(self, index: torch.Tensor) -> None:
        """Keep the state of the seeds in ``index`` (none for plain GD).

        Parameters
        ----------
        index : torch.Tensor
            Indices (or a boolean mask) of the seeds that stay.

        Returns
        -------
        None
        """
        pass


class Momentum(GD):
    """Heavy ball: v <- mu v + g, p <- p - lr v (PyTorch SGD with momentum, no dampening).

    Parameters
    ----------
    lr : float
        Step size, > 0.
    momentum : float, optional
        mu in [0, 1] (default 0.9).

    Raises
    ------
    ValueError
        If ``lr`` or ``momentum`` is out of range.

    Examples
    --------
    >>> opt = Momentum(0.1, 0.5)
    >>> p = [torch.tensor([1.0], dtype=torch.float64)]
    >>> for _ in range(2):
    ...     opt.step(p, [torch.tensor([1.0], dtype=torch.float64)])
    >>> round(p[0].item(), 6)  # 1 - 0.1 - 0.1 * 1.5
    0.75
    """

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.mu = check_real("momentum", momentum, minimum=0.0, maximum=1.0)
        self.v: list[torch.Tensor] | None = None

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        """One heavy-ball update.

        Parameters
        ----------
        params : list of torch.Tensor
            Parameters with a leading seed axis, updated in place.
        grads : list of torch.Tensor
            Their gradients.

        Returns
        -------
        None
        """
        if self.v is None:
            self.v = [g.clone() for g in grads]
        else:
            for v, g in zip(self.v, grads):
                v.mul_(self.mu).add_(g)
        for p, v in zip(params, self.v):
            p.add_(v, alpha=-self.lr)

    def select(self, index: torch.Tensor) -> None:
        """Keep the velocity of the seeds in ``index``.

        Parameters
        ----------
        index : torch.Tensor
            Indices (or a boolean mask) of the seeds that stay.

        Returns
        -------
        None
        """
        if self.v is not None:
            self.v = [v[index] for v in self.v]


class Adam(GD):
    """Adam with bias correction; elementwise, hence exactly per seed.

    Parameters
    ----------
    lr : float
        Step size, > 0.
    betas : tuple of float, optional
        Moment decay rates in [0, 1] (default (0.9, 0.999)).
    eps : float, optional
        Denominator guard, > 0 (default 1e-8).

    Raises
    ------
    ValueError
        If a parameter is out of range (names ``lr``, ``betas[0]``, ``betas[1]`` or ``eps``).

    References
    ----------
    Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015, arXiv:1412.6980.

    Examples
    --------
    >>> p = [torch.tensor([1.0], dtype=torch.float64)]
    >>> Adam(0.01).step(p, [torch.tensor([3.0], dtype=torch.float64)])
    >>> round(p[0].item(), 6)  # the first step has length lr
    0.99
    """

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(lr)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            fail("betas", betas, "a pair (beta1, beta2) of numbers in [0, 1]")
        self.b1 = check_real("betas[0]", betas[0], minimum=0.0, maximum=1.0)
        self.b2 = check_real("betas[1]", betas[1], minimum=0.0, maximum=1.0)
        self.eps = check_real("eps", eps, minimum=0.0, strict=True)
        self.t = 0
        self.m: list[torch.Tensor] | None = None
        self.v: list[torch.Tensor] | None = None

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        """One Adam update.

        Parameters
        ----------
        params : list of torch.Tensor
            Parameters with a leading seed axis, updated in place.
        grads : list of torch.Tensor
            Their gradients.

        Returns
        -------
        None
        """
        if self.m is None:
            self.m = [torch.zeros_like(g) for g in grads]
            self.v = [torch.zeros_like(g) for g in grads]
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m.mul_(self.b1).add_(g, alpha=1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            denom = (v / c2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)

    def select(self, index: torch.Tensor) -> None:
        """Keep the moments of the seeds in ``index``.

        Parameters
        ----------
        index : torch.Tensor
            Indices (or a boolean mask) of the seeds that stay.

        Returns
        -------
        None
        """
        if self.m is not None:
            self.m = [m[index] for m in self.m]
            self.v = [v[index] for v in self.v]


def make_optimizer(name: str, lr: float | None, momentum: float = 0.9,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> GD:
    """A first-order optimizer by name ("gd", "momentum", "adam").

    Parameters
    ----------
    name : {"gd", "momentum", "adam"}
        The optimizer.
    lr : float or None
        Step size; None takes the default of :data:`DEFAULT_LR`.
    momentum : float, optional
        For ``"momentum"``.
    betas : tuple of float, optional
        For ``"adam"``.
    eps : float, optional
        For ``"adam"``.

    Returns
    -------
    GD
        A :class:`GD`, :class:`Momentum` or :class:`Adam`.

    Raises
    ------
    ValueError
        If ``name`` is unknown (names ``optimizer``) or a parameter is out of range.

    Examples
    --------
    >>> type(make_optimizer("adam", None)).__name__, make_optimizer("gd", None).lr
    ('Adam', 0.1)
    """
    name = check_choice("optimizer", name, UFM_OPTIMIZERS[:3])
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "gd":
        return GD(lr)
    if name == "momentum":
        return Momentum(lr, momentum)
    return Adam(lr, betas, eps)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=1)


class LBFGS:
    """Batched L-BFGS with a per-seed Armijo backtracking line search (see module doc).

    ``evaluate(x) -> (f, g)`` maps flat parameters (S, P) to losses (S,) and gradients (S, P).

    Parameters
    ----------
    history_size : int, optional
        Curvature pairs kept, >= 1 (default 10).
    c1 : float, optional
        Armijo constant in (0, 0.5] (default 1e-4).
    max_backtracks : int, optional
        Line-search trials per step, >= 1 (default 40).

    Raises
    ------
    ValueError
        If a parameter is out of range.

    References
    ----------
    Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer 2006, Algorithm 7.4
    (two-loop recursion), doi:10.1007/978-0-387-40065-5.

    Examples
    --------
    >>> def evaluate(x):
    ...     return 0.5 * (x * x).sum(1), x.clone()
    >>> x = torch.tensor([[3.0, -1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> f, g = evaluate(x)
    >>> opt = LBFGS()
    >>> for _ in range(3):
    ...     x, f, g, stalled = opt.step(x, f, g, evaluate)
    >>> bool(f.max() < 1e-12), stalled.tolist()
    (True, [False, False])
    """

    def __init__(self, history_size: int = 10, c1: float = 1e-4, max_backtracks: int = 40) -> None:
        self.m = check_int("history_size", history_size, minimum=1)
        self.c1 = check_real("c1", c1, minimum=0.0, strict=True, maximum=0.5)
        self.max_backtracks = check_int("max_backtracks", max_backtracks, minimum=1)
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.rho: list[torch.Tensor] = []
        self.failures: torch.Tensor | None = None

    def select(self, index: torch.Tensor) -> None:
        """Keep the history of the seeds in ``index``.

        Parameters
        ----------
        index : torch.Tensor
            Indices (or a boolean mask) of the seeds that stay.

        Returns
        -------
        None
        """
        self.s = [s[index] for s in self.s]
        self.y = [y[index] for y in self.y]
        self.rho = [r[index] for r in self.rho]
        if self.failures is not None:
            self.failures = self.failures[index]

    def direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion with per-seed pairs.

        Parameters
        ----------
        g : torch.Tensor, shape (S, P)
            Gradients.

        Returns
        -------
        torch.Tensor, shape (S, P)
            The search directions.
        """
        q = g.clone()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            a = rho * _dot(s, q)
            q.sub_(y * a.unsqueeze(1))
            alphas.append(a)
        gamma = torch.ones_like(g[:, 0])
        gnorm = g.norm(dim=1)
        gamma = torch.where(gnorm > 1, 1.0 / gnorm.clamp_min(1e-300), gamma)
        scaled = torch.zeros_like(gamma, dtype=torch.bool)
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            use = (rho > 0) & ~scaled  # the most recent valid pair of each seed sets its scaling
            gamma = torch.where(use, 1.0 / (rho * _dot(y, y)).clamp_min(1e-300), gamma)
            scaled |= use
        r = q * gamma.unsqueeze(1)
        for s, y, rho, a in zip(self.s, self.y, self.rho, reversed(alphas)):
            bta = rho * _dot(y, r)
            r.add_(s * (a - bta).unsqueeze(1))
        return r.neg_()

    def step(
        self,
        x: torch.Tensor,
        f: torch.Tensor,
        g: torch.Tensor,
        evaluate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One iteration for every seed: returns (x, f, g, stalled mask).

        Parameters
        ----------
        x : torch.Tensor, shape (S, P)
            Flat parameters.
        f : torch.Tensor, shape (S,)
            Losses at ``x``.
        g : torch.Tensor, shape (S, P)
            Gradients at ``x``.
        evaluate : callable
            ``evaluate(x) -> (f, g)``, batched over seeds.

        Returns
        -------
        x, f, g : torch.Tensor
            The new point, its losses and gradients (unchanged for a seed whose search failed).
        stalled : torch.Tensor of bool, shape (S,)
            Seeds whose line search failed twice in a row.
        """
        S = x.shape[0]
        if self.failures is None:
            self.failures = torch.zeros(S, dtype=torch.long, device=x.device)
        d = self.direction(g)
        slope = _dot(g, d)
        bad = ~(slope < 0)
        if bool(bad.any()):  # not a descent direction: steepest descent for that seed
            d = torch.where(bad.unsqueeze(1), -g / g.norm(dim=1, keepdim=True).clamp_min(1.0), d)
            slope = _dot(g, d)
        t = torch.ones(S, dtype=x.dtype, device=x.device)
        pending = torch.ones(S, dtype=torch.bool, device=x.device)
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        for _ in range(self.max_backtracks):
            xt = x + t.unsqueeze(1) * d
            ft, gt = evaluate(xt)
            ok = pending & torch.isfinite(ft) & (ft <= f + self.c1 * t * slope)
            x_new = torch.where(ok.unsqueeze(1), xt, x_new)
            g_new = torch.where(ok.unsqueeze(1), gt, g_new)
            f_new = torch.where(ok, ft, f_new)
            pending = pending & ~ok
            if not bool(pending.any()):
                break
            t = torch.where(pending, t * 0.5, t)
        failed = pending
        # curvature pairs; a failed seed keeps x and drops its history
        s_vec, y_vec = x_new - x, g_new - g
        sy = _dot(s_vec, y_vec)
        valid = (~failed) & (sy > 1e-12 * s_vec.norm(dim=1) * y_vec.norm(dim=1)) & (sy > 0)
        rho = torch.where(valid, 1.0 / torch.where(valid, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        self.s.append(s_vec)
        self.y.append(y_vec)
        self.rho.append(rho)
        if failed.any():
            self.rho = [torch.where(failed, torch.zeros_like(r), r) for r in self.rho]
        if len(self.s) > self.m:
            self.s.pop(0), self.y.pop(0), self.rho.pop(0)
        self.failures = torch.where(failed, self.failures + 1, torch.zeros_like(self.failures))
        stalled = self.failures >= 2
        return x_new, f_new, g_new, stalled
