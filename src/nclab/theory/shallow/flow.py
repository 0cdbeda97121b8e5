"""Gradient flow on the features with the optimal classifier (THN Eq. 4 and Thm 3.1).

Paper: Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023.
With W = W*(H) = Y H^T (H H^T + n lam_W I)^{-1} (the best classifier for fixed H), the flow

    dH/dt = -Kn grad_H L(W*(H), H) = -W*(H)^T (W*(H) H - Y) - lam_H H          (THN Eq. 4)

(envelope theorem: W*(H) is stationary in W). THN Thm 3.1: if lam_W > 0, lam_H >= 0 and
Sigma_W(H_0) != 0, then along the flow
  - tr Sigma_W / tr Sigma_B strictly decreases (to 0),
  - t -> e^{2 lam_H t} tr Sigma_W(H_t) decreases,
  - t -> e^{2 lam_H t} tr Sigma_B(H_t) strictly increases.
The flow is integrated with scipy's adaptive Runge-Kutta (DOP853) at tight tolerances; the
integration error is estimated by a second solve at 100x tighter tolerances.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp

from nclab._validation import check_int, check_real, fail
from nclab.geometry import center
from nclab.layout import class_ordered_means, one_hot_targets
from nclab.theory._checks import check_columns, check_matrix
from nclab.theory.shallow.tirer_bruna import mse_ufm_loss, optimal_classifier

__all__ = ["FlowResult", "feature_flow_rhs", "trace_covariances", "integrate_feature_flow"]


def trace_covariances(H: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tr Sigma_W, tr Sigma_B) of class-ordered features H (..., d, Kn), THN notation.

    Sigma_W = (1/N) sum (h_ki - h_k)(.)^T, Sigma_B = (1/K) sum (h_k - h_G)(.)^T, h_G the mean of
    the class means (equal to the sample mean here: balanced classes); docs/math.md §1.4.

    Parameters
    ----------
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered features.
    n : int
        Samples per class.

    Returns
    -------
    within : torch.Tensor
        tr Sigma_W, of the leading batch shape.
    between : torch.Tensor
        tr Sigma_B, of the leading batch shape.

    Raises
    ------
    ValueError
        If ``H`` is not a real, finite, non-empty array of two or more axes, or ``n`` does not
        divide its columns into K >= 2 classes.

    Examples
    --------
    >>> H = torch.tensor([[0.0, 2.0, 5.0, 5.0]], dtype=torch.float64)
    >>> [round(float(v), 6) for v in trace_covariances(H, 2)]
    [0.5, 4.0]
    """
    H = check_matrix(H, "H")
    n, K = check_columns(H, n)
    N = H.shape[-1]
    Hk = H.reshape(*H.shape[:-1], K, n)
    means = class_ordered_means(H, n)  # (..., d, K)
    within = (Hk - means.unsqueeze(-1)).square().sum((-3, -2, -1)) / N
    between = center(means, dim=-1).square().sum((-2, -1)) / K
    return within, between


def feature_flow_rhs(H: torch.Tensor, n: int, lam_W: float, lam_H: float) -> torch.Tensor:
    """dH/dt = -W*(H)^T (W*(H) H - Y) - lam_H H, THN Eq. 4 (batched over leading axes).

    Parameters
    ----------
    H : torch.Tensor, shape (..., d, K n)
        Class-ordered features.
    n : int
        Samples per class.
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.

    Returns
    -------
    torch.Tensor, shape (..., d, K n)
        The velocity dH/dt.

    Raises
    ------
    ValueError
        If ``H`` is not a real, finite, non-empty array of two or more axes, ``n`` does not
        divide its columns into K >= 2 classes, ``lam_W <= 0`` or ``lam_H < 0``.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 4 and Theorem 3.1 (docs/math.md §3.5).

    Examples
    --------
    >>> from nclab.theory.shallow import mse_minimizer
    >>> _, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> bool(feature_flow_rhs(H, 2, 0.1, 0.1).abs().max() < 1e-12)  # the minimiser is at rest
    True
    """
    H = check_matrix(H, "H")
    n, _ = check_columns(H, n)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    return _feature_flow_rhs(H, n, lam_W, lam_H)


def _feature_flow_rhs(H: torch.Tensor, n: int, lam_W: float, lam_H: float) -> torch.Tensor:
    """:func:`feature_flow_rhs` without the argument checks (the integrator's inner loop)."""
    W = optimal_classifier(H, n, lam_W)
    K = W.shape[-2]
    WH = W @ H
    R = WH - one_hot_targets(K, n, dtype=H.dtype, device=H.device)  # W H - Y
    return -(W.mT @ R) - lam_H * H


@dataclass
class FlowResult:
    """The flow H_t of THN Eq. 4 sampled at times ``t`` with the quantities of THN Thm 3.1.

    ``nc1_ratio`` = tr Sigma_W / tr Sigma_B; ``within_scaled`` = e^{2 lam_H t} tr Sigma_W;
    ``between_scaled`` = e^{2 lam_H t} tr Sigma_B; ``loss`` = L(W*(H_t), H_t) (THN Eq. 1).
    ``integration_error`` = max_t ||H_t - H_t^ref|| / ||H_t^ref|| against a solve at 100x tighter
    tolerances (None if not checked). ``t_stop`` is where the integration ended (t_final, or
    where the trace ratio reached ``nc1_floor``).

    Parameters
    ----------
    t : numpy.ndarray
        Sample times.
    H : torch.Tensor, shape (T, d, K n)
        Features at the sample times.
    nc1_ratio, within_scaled, between_scaled, trace_within, trace_between, loss : numpy.ndarray
        The quantities above, one per sample time.
    integration_error : float or None
        Relative error estimate.
    nfev : int
        Right-hand side evaluations.
    success : bool
        Whether the solver succeeded.
    message : str
        The solver's message.
    t_stop : float
        End of the integration.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 4 and Theorem 3.1 (docs/math.md §3.5).

    Examples
    --------
    >>> H0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> r = integrate_feature_flow(H0, 2, 0.1, 0.0, 5.0, num_times=5, check_error=False)
    >>> isinstance(r, FlowResult), r.H.shape
    (True, torch.Size([5, 4, 6]))
    """

    t: np.ndarray
    H: torch.Tensor
    nc1_ratio: np.ndarray
    within_scaled: np.ndarray
    between_scaled: np.ndarray
    trace_within: np.ndarray
    trace_between: np.ndarray
    loss: np.ndarray
    integration_error: float | None
    nfev: int
    success: bool
    message: str
    t_stop: float


def integrate_feature_flow(
    H0: torch.Tensor,
    n: int,
    lam_W: float,
    lam_H: float,
    t_final: float,
    *,
    t_eval: np.ndarray | None = None,
    num_times: int = 200,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "DOP853",
    check_error: bool = True,
    nc1_floor: float | None = 1e-10,
) -> FlowResult:
    """Integrate THN Eq. 4 from H0 (d x Kn, class-ordered) over [0, t_final] in float64.

    Parameters
    ----------
    H0 : torch.Tensor, shape (d, K n)
        Initial class-ordered features.
    n : int
        Samples per class (leaving K >= 2 classes).
    lam_W : float
        Classifier regularisation, > 0.
    lam_H : float
        Feature regularisation, >= 0.
    t_final : float
        End time, > 0.
    t_eval : numpy.ndarray, optional
        Increasing sample times in [0, t_final]; default 0 and ``num_times`` - 1 log-spaced times
        in [t_final 1e-4, t_final].
    num_times : int, optional
        Number of default sample times, >= 2.
    rtol, atol : float, optional
        Solver tolerances; ``atol`` is relative to max|H0| (scaled).
    method : str, optional
        The scipy ``solve_ivp`` method (default ``"DOP853"``).
    check_error : bool, optional
        Estimate the integration error by a solve at 100x tighter tolerances.
    nc1_floor : float or None, optional
        Stop when tr Sigma_W / tr Sigma_B falls below it (with lam_H > 0 the within-class part
        decays like e^{-2 lam_H t} and would sink below the solver's absolute tolerance, leaving
        only rounding noise); the samples after the stop are dropped.

    Returns
    -------
    FlowResult
        The sampled flow. The computation runs on the CPU (scipy); tensors are float64 CPU.

    Raises
    ------
    ValueError
        If an argument is out of range or ``t_eval`` is not increasing within [0, t_final].

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Eq. 4 and Theorem 3.1 (docs/math.md §3.5).

    Examples
    --------
    >>> H0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> r = integrate_feature_flow(H0, 2, 0.1, 0.0, 5.0, num_times=5, check_error=False)
    >>> r.success, bool((r.nc1_ratio[1:] < r.nc1_ratio[:-1]).all())  # THN Thm 3.1
    (True, True)
    """
    H0 = check_matrix(H0, "H0", batched=False).to(dtype=torch.float64, device="cpu")
    n = check_int("n", n, minimum=1)
    if not isinstance(check_error, (bool, np.bool_)):
        fail("check_error", check_error, "True or False")
    lam_W = check_real("lam_W", lam_W, minimum=0.0, strict=True)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    t_final = check_real("t_final", t_final, minimum=0.0, strict=True)
    rtol = check_real("rtol", rtol, minimum=0.0, strict=True)
    atol = check_real("atol", atol, minimum=0.0, strict=True)
    d, N = H0.shape
    if N % n or N // n < 2:
        fail("n", n, f"a divisor of the number of columns of H0 ({N}) leaving K >= 2 classes")
    if t_eval is None:
        num_times = check_int("num_times", num_times, minimum=2)
        t_eval = np.concatenate([[0.0], np.geomspace(t_final * 1e-4, t_final, num_times - 1)])
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_final:
        fail("t_eval", "times not increasing within [0, t_final]", "increasing times in [0, t_final]")
    scale = max(float(H0.abs().max()), 1e-300)

    def rhs(_t, y):
        H = torch.from_numpy(y).reshape(d, N)
        return _feature_flow_rhs(H, n, lam_W, lam_H).reshape(-1).numpy()

    events = None
    if nc1_floor is not None:
        nc1_floor = check_real("nc1_floor", nc1_floor, minimum=0.0, strict=True)

        def below_floor(_t, y):
            tw, tb = trace_covariances(torch.from_numpy(y).reshape(d, N), n)
            return float(tw) - nc1_floor * float(tb)

        below_floor.terminal = True
        below_floor.direction = -1
        events = [below_floor]

    def solve(rt, at):
        return solve_ivp(rhs, (0.0, t_final), H0.reshape(-1).numpy().copy(), method=method,
                         t_eval=t_eval, rtol=rt, atol=at * scale, events=events)

    sol = solve(rtol, atol)
    Hs = torch.from_numpy(np.ascontiguousarray(sol.y.T)).reshape(-1, d, N)
    err = None
    if check_error and sol.success:
        ref = solve(rtol / 100.0, atol / 100.0)
        if ref.success:
            Hr = torch.from_numpy(np.ascontiguousarray(ref.y.T)).reshape(-1, d, N)
            m = min(len(Hr), len(Hs))
            err = float(((Hs[:m] - Hr[:m]).flatten(1).norm(dim=1) / Hr[:m].flatten(1).norm(dim=1)).max())
    tw, tb = trace_covariances(Hs, n)
    growth = np.exp(2.0 * lam_H * sol.t)
    W = optimal_classifier(Hs, n, lam_W)
    loss = mse_ufm_loss(W, Hs, n, lam_W, lam_H).numpy()
    tw, tb = tw.numpy(), tb.numpy()
    return FlowResult(
        t=sol.t, H=Hs, nc1_ratio=tw / tb, within_scaled=growth * tw, between_scaled=growth * tb,
        trace_within=tw, trace_between=tb, loss=loss, integration_error=err, nfev=int(sol.nfev),
        success=bool(sol.success), message=str(sol.message), t_stop=float(sol.t_events[0][0]) if
        events and len(sol.t_events[0]) else t_final,
    )
