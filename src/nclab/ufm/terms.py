"""The terms of the UFM objective, batched over a leading seed axis S (docs/math.md §7.1).

One home per formula: the targets, the data term ``fit`` with its scale, the regulariser and
THN's anchor, each as plain differentiable torch code (autograd and ``torch.func`` work through
them, twice)::

    fit  = (1/N) sum_i CE(z_i, y_i)            or  (1/N) sum_i 1/2 ||z_i - y_i||^2
           (``reduction="sum"``: without the 1/N),
    reg  = lam_H/2 ||H_1||^2 + sum_l lam_W[l]/2 ||W_l||^2 + lam_b/2 ||b||^2,
    anchor = beta/(2N) ||H_1 - H0||^2          (THN Eq. 2; H0 = 0 when the spec has none).

:mod:`nclab.ufm.objective` composes them with the forward pass (``parts``, ``loss``) and holds
the hand-written batched gradient (``Objective``) that uses them.
"""
from __future__ import annotations

import torch

from nclab.layout import class_ordered_labels, one_hot_targets
from nclab.ufm.spec import UFMParams, UFMSpec


def targets(
    spec: UFMSpec, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot targets Y = I_K (x) 1_n^T (K, N) and class-ordered labels (N,).

    Parameters
    ----------
    spec : UFMSpec
        The model (gives K and n).
    dtype : torch.dtype, optional
        Element type of Y (default float64).
    device : torch.device or str, optional
        Device of both.

    Returns
    -------
    Y : torch.Tensor, shape (K, N)
    labels : torch.Tensor, shape (N,)

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> Y, labels = targets(UFMSpec.tirer(3, 2, 4, 0.1, 0.1))
    >>> tuple(Y.shape), labels.tolist()
    ((3, 6), [0, 0, 1, 1, 2, 2])
    """
    return (one_hot_targets(spec.K, spec.n, dtype=dtype, device=device),
            class_ordered_labels(spec.K, spec.n, device=device))

def fit_of_logits(spec: UFMSpec, Z: torch.Tensor) -> torch.Tensor:
    """The data term per seed: mean CE or mean 1/2||z - y||^2 over the N samples; shape (S,).

    With ``reduction="sum"`` the sum instead of the mean (:func:`fit_scale`).

    Parameters
    ----------
    spec : UFMSpec
        The model (loss, reduction, K, n).
    Z : torch.Tensor, shape (S, K, N)
        Class-ordered logits.

    Returns
    -------
    torch.Tensor, shape (S,)
        The fit term.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> from nclab.ufm.objective import forward
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> [round(v, 6) for v in fit_of_logits(spec, forward(spec, params)[0]).tolist()]
    [0.005]
    """
    Y, labels = targets(spec, dtype=Z.dtype, device=Z.device)
    if spec.loss == "ce":
        true = Z[..., labels, torch.arange(spec.N, device=Z.device)]
        return (torch.logsumexp(Z, dim=-2) - true).sum(dim=-1) * fit_scale(spec)
    return 0.5 * ((Z - Y) ** 2).sum(dim=(-2, -1)) * fit_scale(spec)


def fit_scale(spec: UFMSpec) -> float:
    """1/N for the mean loss (default), 1 for ``reduction="sum"``.

    Parameters
    ----------
    spec : UFMSpec
        The model.

    Returns
    -------
    float
        The factor of the summed fit term.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> round(fit_scale(UFMSpec.tirer(3, 2, 4, 0.1, 0.1)), 6)
    0.166667
    """
    return 1.0 / spec.N if spec.reduction == "mean" else 1.0


def _sq(t: torch.Tensor) -> torch.Tensor:
    return (t * t).sum(dim=tuple(range(1, t.ndim)))


def regulariser(spec: UFMSpec, params: UFMParams) -> torch.Tensor:
    """lam_H/2 ||H_1||^2 + sum_l lam_W[l]/2 ||W_l||^2 + lam_b/2 ||b||^2 per seed, shape (S,).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    torch.Tensor, shape (S,)
        The regulariser.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> [round(v, 6) for v in regulariser(spec, params).tolist()]
    [0.09]
    """
    reg = 0.5 * spec.lam_H * _sq(params.H)
    for lam, W in zip(spec.lam_W_layers, params.W):
        reg = reg + 0.5 * lam * _sq(W)
    if params.b is not None:
        reg = reg + 0.5 * spec.lam_b * _sq(params.b)
    return reg


def anchor_term(spec: UFMSpec, params: UFMParams) -> torch.Tensor:
    """beta/(2N) ||H_1 - H0||^2 per seed (THN Eq. 2), shape (S,); zeros when beta = 0.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    torch.Tensor, shape (S,)
        The anchor term.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 2 (docs/math.md §3.6).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> anchor_term(spec, params).tolist()
    [0.0]
    """
    if not spec.anchored:
        return params.H.new_zeros(params.H.shape[0])
    H0 = 0.0 if spec.H0 is None else spec.H0.to(dtype=params.H.dtype, device=params.H.device)
    return 0.5 * spec.beta / spec.N * _sq(params.H - H0)
