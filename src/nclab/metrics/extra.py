"""Further collapse measurements from the class statistics: the CDNV matrix, uniform duality,
per-class self-duality, principal angles between the classifier and the means, and NC5.

Each is a function of the statistics that :func:`nclab.metrics.class_statistics` (or
``StreamingStats.statistics()``) returns, batched over leading axes and computed in their
dtype and device; unbatched inputs give floats or numpy arrays as the rest of
:mod:`nclab.metrics`. The ``*_from`` forms take and return tensors. The measurements that need
a pass over the samples are in :mod:`nclab.metrics.extra_samples`, the tiled pairwise kernels
in :mod:`nclab.metrics.uniformity`, the MSE-loss decomposition in
:mod:`nclab.metrics.mse_loss`. :func:`extra_metrics` is what
``collapse(..., extra=[...])`` calls.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from nclab._tensor import to_python
from nclab._validation import check_choice, check_int, check_real, fail
from nclab.metrics import _checks, _core, extra_samples, mse_loss, uniformity
from nclab.metrics._core import ClassStatistics

# ----------------------------------------------------------------------------- CDNV matrix


def cdnv_matrix_from(stats: ClassStatistics, exponent: float = 1.0) -> torch.Tensor:
    """Tensor (..., K, K) of :func:`cdnv_matrix` (NaN diagonal)."""
    var = stats.within_sq / stats.counts.to(stats.within_sq.dtype)  # sigma_k^2, as _core.cdnv_from
    D = _core.pair_distances(stats.centred_means)
    out = 0.5 * (var.unsqueeze(-1) + var.unsqueeze(-2)) / D.pow(exponent)
    eye = torch.eye(stats.num_classes, dtype=torch.bool, device=out.device)
    return out.masked_fill(eye, torch.nan)


def cdnv_matrix(stats: ClassStatistics, *, exponent: float = 1.0) -> Any:
    """The K x K matrix of class-distance normalised variances (CDNV).

    Entry (i, j), i != j, is (sigma_i^2 + sigma_j^2) / (2 ||h_bar_i - h_bar_j||^(2 exponent)),
    sigma_k^2 = (1/n_k) sum_{i in k} ||h_i - h_bar_k||^2; the diagonal is NaN (a class against
    itself is undefined). ``exponent=1`` is Galanti et al.'s CDNV (Eq. 3), whose mean over
    i < j is :func:`nclab.metrics.cdnv`; a larger exponent discounts pairs of distant classes
    (the ``dist_exp`` of Wu & Papyan 2024). 0 off the diagonal when the classes collapse.

    Parameters
    ----------
    stats : ClassStatistics
        From :func:`nclab.metrics.class_statistics` or ``StreamingStats.statistics()``.
    exponent : float
        Power of the squared distance in the denominator, >= 0.

    Returns
    -------
    ndarray of shape (..., K, K)

    References
    ----------
    T. Galanti, A. Gyorgy, M. Hutter, "On the role of neural collapse in transfer learning",
    ICLR 2022, arXiv:2112.15121.
    R. Wu, V. Papyan, "Linguistic collapse: neural collapse in (large) language models",
    NeurIPS 2024, arXiv:2405.17767.

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> X = torch.tensor([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]])
    >>> float(cdnv_matrix(class_statistics(X, torch.tensor([0, 0, 1, 1])))[0, 1])  # (1 + 1) / (2 * 16)
    0.0625
    """
    exponent = check_real("exponent", exponent, minimum=0.0)
    with torch.no_grad():
        return to_python(cdnv_matrix_from(stats, exponent))


# ----------------------------------------------------------------------------- duality


def _pair(weight: Any, centred_means: Any) -> tuple[torch.Tensor, torch.Tensor]:
    m = _checks.check_features(centred_means, "centred_means")
    K, d = m.shape[-2:]
    w = _checks.check_weight(weight, m, K, m.shape[:-2])
    return w.expand(*m.shape[:-2], K, d), m


#: Normalisations of :func:`uniform_duality`.
DUALITY_NORMALISATIONS = ("cosine", "frobenius", "none")


def uniform_duality_from(weight: torch.Tensor, centred: torch.Tensor, normalize: str = "cosine", ddof: int = 1) -> torch.Tensor:
    """Tensor (...) of :func:`uniform_duality`."""
    dots = (weight * centred).sum(dim=-1)
    if normalize == "cosine":
        dots = dots / (torch.linalg.vector_norm(weight, dim=-1) * torch.linalg.vector_norm(centred, dim=-1))
    elif normalize == "frobenius":
        dots = dots / (torch.linalg.matrix_norm(weight) * torch.linalg.matrix_norm(centred)).unsqueeze(-1)
    return torch.var(dots, dim=-1, correction=ddof)


def uniform_duality(weight: Any, centred_means: Any, *, normalize: str = "cosine", ddof: int = 1) -> Any:
    """Uniform duality: the variance over classes of the similarity of w_k and m~_k.

    s_k = <w_k, m~_k> (m~_k = h_bar_k - h_bar_G), normalised by ``normalize``:

    - ``"cosine"`` (default): s_k = cos(w_k, m~_k), invariant to the scale of each row;
    - ``"frobenius"``: <w_k, m~_k> / (||W||_F ||M~||_F), the normalisation of
      :func:`nclab.metrics.nc3_duality`;
    - ``"none"``: the raw products, as the public reference code of Wu & Papyan
      (rhubarbwu/neural-collapse, ``similarities(W, M, mG).var()``).

    Returns Var_k(s_k) with ``ddof`` (1, as torch.var there). Wu & Papyan's "UNC3": it is 0
    when every class is equally well aligned with its classifier, which self-duality
    (W proportional to M~) implies but does not require.

    Parameters
    ----------
    weight : array_like, shape (K, d) or (..., K, d)
        Classifier rows (raw, not centred).
    centred_means : array_like, shape (..., K, d)
        Centred class means.
    normalize : {"cosine", "frobenius", "none"}
    ddof : int

    Returns
    -------
    float or ndarray of shape (...)

    References
    ----------
    R. Wu, V. Papyan, "Linguistic collapse: neural collapse in (large) language models",
    NeurIPS 2024, arXiv:2405.17767.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(4)
    >>> round(uniform_duality(3.0 * M, M), 12)
    0.0
    """
    check_choice("normalize", normalize, DUALITY_NORMALISATIONS)
    ddof = check_int("ddof", ddof, minimum=0)
    w, m = _pair(weight, centred_means)
    with torch.no_grad():
        return to_python(uniform_duality_from(w, m, normalize, ddof))


def duality_per_class_from(weight: torch.Tensor, centred: torch.Tensor) -> torch.Tensor:
    """Tensor (..., K) of :func:`duality_per_class`."""
    wn = weight / torch.linalg.vector_norm(weight, dim=-1, keepdim=True)
    mn = centred / torch.linalg.vector_norm(centred, dim=-1, keepdim=True)
    return torch.linalg.vector_norm(wn - mn, dim=-1)


def duality_per_class(weight: Any, centred_means: Any) -> Any:
    """Per-class self-duality ||w_k / ||w_k|| - m~_k / ||m~_k|| ||, one value per class.

    The row-wise form of Papyan et al.'s NC3 (which compares W and M~ as whole matrices,
    :func:`nclab.metrics.nc3_duality`): 0 for class k when w_k points along its centred mean,
    sqrt(2 - 2 cos(w_k, m~_k)) in general, in [0, 2].

    Parameters
    ----------
    weight : array_like, shape (K, d) or (..., K, d)
        Classifier rows (raw).
    centred_means : array_like, shape (..., K, d)

    Returns
    -------
    ndarray of shape (..., K)

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal
    phase of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3)
    >>> duality_per_class(2.0 * M, M).round(12).tolist()
    [0.0, 0.0, 0.0]
    """
    w, m = _pair(weight, centred_means)
    with torch.no_grad():
        return to_python(duality_per_class_from(w, m))


# ----------------------------------------------------------------------------- principal angles


def _row_basis(A: torch.Tensor, rtol: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal basis (..., d, r) of the row space of A (..., K, d), dropped columns zeroed,
    and the numerical rank (...) (s > rtol * s_max, default max(K, d) * eps)."""
    _, s, vh = torch.linalg.svd(A, full_matrices=False)
    tol = _core.default_rtol(A.shape[-2], A.shape[-1], A.dtype) if rtol is None else rtol
    keep = s > tol * s[..., :1]
    return vh.mT * keep.unsqueeze(-2).to(A.dtype), keep.sum(dim=-1)


def principal_angles_from(weight: torch.Tensor, centred: torch.Tensor, rtol: float | None = None) -> torch.Tensor:
    """Tensor (..., min(K - 1, d)) of :func:`principal_angles`."""
    Qw, rw = _row_basis(weight, rtol)
    Qm, rm = _row_basis(centred, rtol)
    _, cos, zh = torch.linalg.svd(Qw.mT @ Qm, full_matrices=False)
    P = Qm @ zh.mT  # principal vectors on the side of the means
    sin = torch.linalg.vector_norm(P - Qw @ (Qw.mT @ P), dim=-2)
    q = min(weight.shape[-2] - 1, weight.shape[-1])
    angles = torch.atan2(sin[..., : cos.shape[-1]], cos)[..., :q]
    index = torch.arange(angles.shape[-1], device=angles.device)
    return torch.where(index < torch.minimum(rw, rm).unsqueeze(-1), angles, torch.nan)


def principal_angles(weight: Any, centred_means: Any, *, rtol: float | None = None) -> Any:
    """Principal angles between the row space of W and the span of the centred class means.

    theta_1 <= theta_2 <= ... (radians) between span{w_k} and span{m~_k} in R^d
    (Bjorck & Golub 1973): with orthonormal bases Q_W, Q_M, cos theta_j are the singular values
    of Q_W^T Q_M. The angles are computed as atan2(sin, cos) from the principal vectors, so
    small angles keep full relative accuracy (as scipy.linalg.subspace_angles). The output has
    min(K - 1, d) entries (the largest rank of M~); entries past min(rank W, rank M~) are NaN.
    All angles are 0 at self-duality (W proportional to M~, or W = a M~ + 1 b^T).

    Parameters
    ----------
    weight : array_like, shape (K, d) or (..., K, d)
        Classifier rows (raw).
    centred_means : array_like, shape (..., K, d)
    rtol : float, optional
        Relative rank tolerance of each matrix (default max(K, d) * eps of the dtype).

    Returns
    -------
    ndarray of shape (..., min(K - 1, d))
        Ascending angles in radians.

    References
    ----------
    A. Bjorck, G. H. Golub, "Numerical methods for computing angles between linear subspaces",
    Math. Comp. 27 (1973), doi:10.1090/S0025-5718-1973-0348991-3.
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117 (NC3).

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(4, 6)
    >>> principal_angles(5.0 * M, M).round(12).tolist()
    [0.0, 0.0, 0.0]
    """
    rtol = _checks.check_rtol(rtol)
    w, m = _pair(weight, centred_means)
    with torch.no_grad():
        return to_python(principal_angles_from(w, m, rtol))


# ----------------------------------------------------------------------------- NC5

#: How :func:`ood_orthogonality` reduces the out-of-distribution features.
OOD_REDUCTIONS = ("mean", "samples")


def ood_orthogonality_from(
    ood: torch.Tensor, centred: torch.Tensor, global_mean: torch.Tensor | None, reduce: str = "mean"
) -> torch.Tensor:
    """Tensor (...) of :func:`ood_orthogonality`."""
    v = ood.mean(dim=-2, keepdim=True) if reduce == "mean" else ood
    if global_mean is not None:
        v = v - global_mean.unsqueeze(-2)
    un = centred / torch.linalg.vector_norm(centred, dim=-1, keepdim=True)
    vn = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return (vn @ un.mT).abs().mean(dim=(-2, -1))


def ood_orthogonality(
    ood_features: Any, centred_means: Any, global_mean: Any | None = None, *, reduce: str = "mean"
) -> Any:
    """NC5: mean |cos| between out-of-distribution features and the centred class means.

    Ammar et al. (2024) observe that, as training goes on, out-of-distribution (OOD) features
    become orthogonal to the in-distribution class means ("NC5"), and measure it by the
    deviation from orthogonality Avg_k |cos(m~_k, v)|. Implemented:

    - ``reduce="mean"`` (default, the paper's form): v = h_bar_OOD - h_bar_G, the mean of the
      OOD features minus the in-distribution global mean, against every m~_k = h_bar_k -
      h_bar_G: Avg_k |<m~_k, v>| / (||m~_k|| ||v||);
    - ``reduce="samples"``: Avg_i Avg_k |cos(m~_k, h_i - h_bar_G)| over the OOD samples h_i.

    Without ``global_mean`` the OOD vectors are not centred (the reference code's choice,
    rhubarbwu/neural-collapse ``orthogonality_deviation``). 0 when the OOD features lie in the
    orthogonal complement of span(M~) (after centring); at most 1.

    Parameters
    ----------
    ood_features : array_like, shape (..., N_ood, d)
        Features of out-of-distribution inputs.
    centred_means : array_like, shape (..., K, d)
        In-distribution centred class means.
    global_mean : array_like, shape (..., d), optional
        In-distribution global mean h_bar_G (``class_statistics(...).global_mean``).
    reduce : {"mean", "samples"}

    Returns
    -------
    float or ndarray of shape (...)

    References
    ----------
    M. Ben Ammar, N. Belkhir, S. Popescu, A. Manzanera, G. Franchi, "NECO: NEural Collapse
    based out-of-distribution detection", ICLR 2024, arXiv:2310.06823.

    Examples
    --------
    >>> import torch
    >>> from nclab.geometry import simplex_etf
    >>> M = simplex_etf(3, 4)                       # ID means in the first 2 coordinates
    >>> ood = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    >>> ood_orthogonality(ood, M, torch.zeros(4))
    0.0
    """
    check_choice("reduce", reduce, OOD_REDUCTIONS)
    m = _checks.check_features(centred_means, "centred_means")
    o = _checks.check_features(ood_features, "ood_features")
    o = o.to(dtype=m.dtype, device=m.device)
    if o.shape[-1] != m.shape[-1]:
        fail("ood_features", f"an array of shape {tuple(o.shape)}", f"feature dimension d = {m.shape[-1]}")
    mu = None
    if global_mean is not None:
        mu = _checks.check_features(torch.as_tensor(global_mean).unsqueeze(-2), "global_mean").squeeze(-2)
        mu = mu.to(dtype=m.dtype, device=m.device)
    with torch.no_grad():
        return to_python(ood_orthogonality_from(o, m, mu, reduce))


# ----------------------------------------------------------------------------- collapse(extra=...)

#: Names accepted by ``collapse(..., extra=[...])`` and the keys each adds, in order.
EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "cdnv_matrix": ("cdnv_matrix",),
    "kernel_distance": ("kernel_distance_mean", "kernel_distance_var"),
    "kernel_log": ("kernel_log_mean", "kernel_log_var"),
    "kernel_riesz": ("kernel_riesz_mean", "kernel_riesz_var"),
    "cosine_std": ("cosine_std",),
    "uniform_duality": ("uniform_duality",),
    "duality_per_class": ("duality_per_class",),
    "principal_angles": ("principal_angles",),
    "ncc_accuracy": ("ncc_accuracy",),
    "agreement_per_class": ("agreement_per_class",),
    "within_stable_rank": ("within_stable_rank",),
    "class_covariance_spectra": ("class_covariance_spectra",),
    "nc5_ood_orthogonality": ("nc5_ood_orthogonality",),
    "mse_decomposition": ("mse_loss", "mse_lnc1", "mse_lnc23", "mse_lperp"),
}
EXTRA_NAMES = tuple(EXTRA_KEYS)
_NEEDS_WEIGHT = ("uniform_duality", "duality_per_class", "principal_angles", "agreement_per_class", "mse_decomposition")
_NEEDS_OOD = ("nc5_ood_orthogonality",)


def check_extra(extra: Any, has_weight: bool, has_ood: bool) -> tuple[str, ...]:
    """The requested names, validated; ``"all"`` is every name whose inputs are given."""
    if extra is None:
        return ()
    if isinstance(extra, str):
        if extra == "all":
            return tuple(n for n in EXTRA_NAMES if (has_weight or n not in _NEEDS_WEIGHT) and (has_ood or n not in _NEEDS_OOD))
        extra = (extra,)
    if not isinstance(extra, Iterable):
        fail("extra", extra, "a list of names from " + ", ".join(repr(n) for n in EXTRA_NAMES) + ", or 'all'")
    names = tuple(extra)
    for name in names:
        check_choice("extra", name, EXTRA_NAMES)
        if name in _NEEDS_WEIGHT and not has_weight:
            fail("extra", name, f"a name that needs no classifier (pass weight= for {name!r})")
        if name in _NEEDS_OOD and not has_ood:
            fail("extra", name, f"a name that needs no OOD features (pass ood_features= for {name!r})")
    return tuple(dict.fromkeys(names))


def needs_predictions(names: tuple[str, ...]) -> bool:
    """Whether ``names`` use the per-sample nearest-class-mean (and classifier) labels."""
    return "ncc_accuracy" in names or "agreement_per_class" in names


def extra_metrics(
    names: tuple[str, ...],
    stats: ClassStatistics,
    x: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    ood: torch.Tensor | None = None,
    rtol: float | None = None,
    predictions: list | None = None,
) -> dict[str, torch.Tensor]:
    """Tensors of the checked ``names`` (:func:`check_extra`) for features x (..., N, d).

    ``predictions``: the chunks (NCC labels, classifier labels) that
    ``_core.full_batch_statistics(..., predictions=[])`` collected (else computed here).
    """
    M, lead = stats.centred_means, stats.centred_means.shape[:-2]
    out: dict[str, torch.Tensor] = {}
    W = None if weight is None else weight.expand(*lead, *weight.shape[-2:])
    unit = M / torch.linalg.vector_norm(M, dim=-1, keepdim=True)
    for name in names:
        if name == "cdnv_matrix":
            out[name] = cdnv_matrix_from(stats)
        elif name.startswith("kernel_"):
            kernel = name[len("kernel_"):]
            out[f"{name}_mean"], out[f"{name}_var"] = uniformity.hyperspherical_from(unit, kernel)
        elif name == "cosine_std":
            out[name] = uniformity.cosine_std_from(unit)
        elif name == "uniform_duality":
            out[name] = uniform_duality_from(W, M)
        elif name == "duality_per_class":
            out[name] = duality_per_class_from(W, M)
        elif name == "principal_angles":
            out[name] = principal_angles_from(W, M, rtol)
        elif name == "nc5_ood_orthogonality":
            out[name] = ood_orthogonality_from(ood, M, stats.global_mean)
    sigma_w = None
    if "within_stable_rank" in names or "mse_decomposition" in names:
        sigma_w = extra_samples.within_covariance_from(x, labels, stats.means)
    if "mse_decomposition" in names:
        parts = mse_loss.mse_decomposition_from(stats.counts, stats.means, sigma_w, W, bias, rtol)
        out.update({f"mse_{k}" if k != "mse_loss" else k: v for k, v in parts.items()})
    sample_names = [n for n in names if n in ("ncc_accuracy", "agreement_per_class", "within_stable_rank",
                                               "class_covariance_spectra")]
    if sample_names:
        preds = None
        if predictions:
            ncc = torch.cat([p[0] for p in predictions], dim=-1)
            net = torch.cat([p[1] for p in predictions], dim=-1) if predictions[0][1] is not None else None
            preds = (ncc, net)
        out.update(extra_samples.sample_metrics(sample_names, stats, x, labels, W, bias, sigma_w, preds))
    return {k: out[k] for n in names for k in EXTRA_KEYS[n]}
