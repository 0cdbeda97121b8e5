"""Han, Papyan and Donoho's decomposition of the MSE loss into L_NC1 + L_NC2/3 + L_perp.

For features h_i with one-hot targets e_{y_i} and a linear classifier (W, b), the
(unregularised) MSE loss L(W, b) = (1/2) Ave_i ||W h_i + b - e_{y_i}||^2 is quadratic in
(W, b), so it splits exactly (Pythagoras) at the least-squares classifier (W_LS, b_LS) of the
same features into the loss of that classifier and a distance to it; the former splits again
over within- and between-class scatter. Everything follows from the class counts, means and
the within-class covariance Sigma_W (d x d).
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import to_python
from nclab.classwise import class_means
from nclab.metrics import _checks, _core, extra_samples

#: Keys of :func:`mse_decomposition`.
MSE_KEYS = ("mse_loss", "lnc1", "lnc23", "lperp")


def mse_decomposition_from(
    counts: torch.Tensor,
    means: torch.Tensor,
    sigma_w: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    rtol: float | None = None,
) -> dict[str, torch.Tensor]:
    """Tensors of :func:`mse_decomposition` from the class counts, means and Sigma_W.

    Everything in the decomposition is a function of these statistics (see
    :func:`mse_decomposition` for the formulas), so the streaming accumulators use this form.

    Parameters
    ----------
    counts : torch.Tensor, shape (K,)
        Class counts n_k (pi_k = n_k / N).
    means : torch.Tensor, shape (..., K, d)
        Class means mu_k as rows.
    sigma_w : torch.Tensor, shape (..., d, d)
        The within-class covariance Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T.
    weight : torch.Tensor, shape (K, d) or (..., K, d)
        The classifier W.
    bias : torch.Tensor, shape (K,) or (..., K), optional
        Its bias b (default 0).
    rtol : float, optional
        Relative tolerance of the pseudo-inverse Sigma_T^+ (default d * eps).

    Returns
    -------
    parts : dict of str to torch.Tensor
        ``mse_loss``, ``lnc1``, ``lnc23``, ``lperp`` (:data:`MSE_KEYS`), each of shape (...).

    References
    ----------
    X. Y. Han, V. Papyan, D. L. Donoho, "Neural collapse under MSE loss: proximity to and
    dynamics on the central path", ICLR 2022, arXiv:2106.02073, Sec. 3.

    Examples
    --------
    Simplex-ETF means with isotropic within-class noise Sigma_W = 0.01 I and W = 0: the loss
    1/2 splits into L_NC1 + L_NC2/3 + L_perp exactly.

    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, 3, dtype=torch.float64)
    >>> sigma_w = 0.01 * torch.eye(3, dtype=torch.float64)
    >>> parts = mse_decomposition_from(torch.tensor([2, 2, 2]), M, sigma_w, torch.zeros(3, 3, dtype=torch.float64))
    >>> {k: round(v.item(), 9) for k, v in parts.items()}
    {'mse_loss': 0.5, 'lnc1': 0.006407792, 'lnc23': 0.000128156, 'lperp': 0.493464052}
    >>> round((parts["lnc1"] + parts["lnc23"] + parts["lperp"]).item(), 12)
    0.5
    """
    K, d = means.shape[-2:]
    pi = counts.to(means.dtype) / counts.sum()
    mu = (pi.unsqueeze(-1) * means).sum(dim=-2)  # sample mean
    Mt = means - mu.unsqueeze(-2)
    sigma_t = sigma_w + Mt.mT @ (pi.unsqueeze(-1) * Mt)
    tol = d * torch.finfo(means.dtype).eps if rtol is None else rtol
    with _core.decomposition_threads():
        W_ls = (pi.unsqueeze(-1) * Mt) @ torch.linalg.pinv(sigma_t, rtol=tol, hermitian=True)
    b_ls = pi - (W_ls @ mu.unsqueeze(-1)).squeeze(-1)
    eye = torch.eye(K, dtype=means.dtype, device=means.device)

    def within(A: torch.Tensor) -> torch.Tensor:  # (1/2) tr(A Sigma_W A^T)
        return 0.5 * ((A @ sigma_w) * A).sum(dim=(-2, -1))

    def between(A: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # (1/2) sum_k pi_k ||A mu_k + c - e_k||^2
        R = means @ A.mT + c.unsqueeze(-2) - eye
        return 0.5 * (pi.unsqueeze(-1) * R.square()).sum(dim=(-2, -1))

    W = weight.expand(*means.shape[:-2], K, d)
    b = torch.zeros_like(b_ls) if bias is None else bias.expand(b_ls.shape)
    dW, db = W - W_ls, b - b_ls
    lperp = 0.5 * ((dW @ sigma_t) * dW).sum(dim=(-2, -1)) + 0.5 * ((dW @ mu.unsqueeze(-1)).squeeze(-1) + db).square().sum(dim=-1)
    return {
        "mse_loss": within(W) + between(W, b),
        "lnc1": within(W_ls),
        "lnc23": between(W_ls, b_ls),
        "lperp": lperp,
    }


def mse_decomposition(
    features: Any,
    labels: Any,
    weight: Any,
    bias: Any | None = None,
    *,
    num_classes: int | None = None,
    rtol: float | None = None,
) -> dict[str, Any]:
    """MSE loss of (W, b) and its decomposition L = L_NC1 + L_NC2/3 + L_perp.

    With targets e_{y_i}, class proportions pi_k = n_k / N, class means mu_k, the sample mean
    mu_G, M~ (rows mu_k - mu_G), Sigma_W (within-class covariance) and
    Sigma_T = Sigma_W + sum_k pi_k (mu_k - mu_G)(mu_k - mu_G)^T (total covariance):

    - ``mse_loss`` L(W, b) = (1/2) Ave_i ||W h_i + b - e_{y_i}||^2
      = (1/2) tr(W Sigma_W W^T) + (1/2) sum_k pi_k ||W mu_k + b - e_k||^2;
    - the least-squares classifier of the features W_LS = diag(pi) M~ Sigma_T^+,
      b_LS = pi - W_LS mu_G (balanced classes: W_LS = (1/K) M~ Sigma_T^+, b_LS = 1/K - W_LS mu_G);
    - ``lnc1`` L_NC1 = (1/2) Ave_i ||W_LS (h_i - mu_{y_i})||^2 = (1/2) tr(W_LS Sigma_W W_LS^T),
      the loss the within-class variability leaves to the best classifier;
    - ``lnc23`` L_NC2/3 = (1/2) sum_k pi_k ||W_LS mu_k + b_LS - e_k||^2, the best classifier's
      error on the class means;
    - ``lperp`` L_perp = (1/2) Ave_i ||(W - W_LS) h_i + (b - b_LS)||^2
      = L(W, b) - L(W_LS, b_LS), the distance of (W, b) from the least-squares classifier.

    L_NC1 + L_NC2/3 = L(W_LS, b_LS), and L = L_NC1 + L_NC2/3 + L_perp exactly (the residual
    of the least-squares fit is orthogonal to every affine function of the features). All
    three vanish at neural collapse with W = W_LS. This is the decomposition of Han, Papyan
    and Donoho (2022, Sec. 3) without weight decay (lambda = 0); Sigma_T^+ is the
    pseudo-inverse (relative tolerance ``rtol``, default d * eps), i.e. the minimum-norm
    least-squares classifier when Sigma_T is singular.

    Parameters
    ----------
    features : array_like, shape (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like of int, shape (N,)
        The class y_i in 0..K-1 of each sample.
    weight : array_like, shape (K, d) or (..., K, d)
        The classifier W.
    bias : array_like, shape (K,) or (..., K), optional
        Its bias b (default 0).
    num_classes : int, optional
        K; default max(labels) + 1.
    rtol : float, optional
        Relative tolerance of the pseudo-inverse Sigma_T^+ (default d * eps).

    Returns
    -------
    dict
        ``mse_loss``, ``lnc1``, ``lnc23``, ``lperp``: floats, or arrays of shape (...).

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, ``weight``/``bias`` not of shape (K, d)/(K,) (or batched), or
        ``rtol`` not a number in [0, 1].

    References
    ----------
    X. Y. Han, V. Papyan, D. L. Donoho, "Neural collapse under MSE loss: proximity to and
    dynamics on the central path", ICLR 2022, arXiv:2106.02073.

    Examples
    --------
    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, dtype=torch.float64)
    >>> X, y = M.repeat(4, 1), torch.arange(3).repeat(4)            # collapsed features
    >>> out = mse_decomposition(X, y, weight=torch.zeros(3, 3))
    >>> {k: round(v, 12) for k, v in out.items()}                  # W = 0: all loss is L_perp
    {'mse_loss': 0.5, 'lnc1': 0.0, 'lnc23': 0.0, 'lperp': 0.5}
    """
    x = _checks.check_features(features)
    y, K = _checks.check_labels(labels, x.shape[-2], num_classes, x.device)
    lead = x.shape[:-2]
    w = _checks.check_weight(weight, x, K, lead)
    b = None if bias is None else _checks.check_bias(bias, x, K, lead)
    rtol = _checks.check_rtol(rtol)
    with torch.no_grad():
        counts = torch.bincount(y, minlength=K)
        means = class_means(x, y, K)
        sigma_w = extra_samples.within_covariance_from(x, y, means)
        return {k: to_python(v) for k, v in mse_decomposition_from(counts, means, sigma_w, w, b, rtol).items()}
