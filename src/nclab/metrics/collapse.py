"""Neural collapse metrics (docs/math.md §2), full batch, measured from samples.

:func:`collapse` and the single metrics of features and labels (:func:`class_statistics`,
:func:`nc1`, :func:`nc1_trace_ratio`, :func:`cdnv`, :func:`nc4_ncc_mismatch`) live here; the
functions of given class vectors (``nc2_etf``, ``equinorm``, ``equiangularity``,
``nc3_duality``, ``nc3_structure``, ``bias_norm``) are in :mod:`nclab.metrics.structure`.

Features are sample-major, ``features`` (N, d) or batched (..., N, d), ``labels`` (N,) in
0..K-1 (shared by the batch), classifier ``weight`` (K, d) or (..., K, d) (``nn.Linear``
layout), ``bias`` (K,) or (..., K). numpy arrays and torch tensors (CPU or CUDA) are accepted;
everything is computed in the features' dtype and device. Unbatched inputs give floats,
batched ones numpy arrays of shape (...).

Metrics (the names are the keys of :func:`collapse`):

- ``nc1``: (1/K) tr(Sigma_W Sigma_B^+) (Papyan, Han, Donoho 2020), computed in the span of the
  centred class means M~ (SVD of K columns, relative rank tolerance ``rtol``).
- ``nc1_trace_ratio``: tr Sigma_W / tr Sigma_B (Tirer, Huang, Niles-Weed 2023, Thm 3.1).
- ``cdnv``: mean over i < j of (sigma_i^2 + sigma_j^2) / (2 ||h_bar_i - h_bar_j||^2)
  (Galanti, Gyorgy, Hutter 2022).
- ``nc2_etf_features`` / ``nc2_etf_weight``: ||G/||G||_F - P/sqrt(K-1)||_F with G the Gram
  matrix of M~ / of W (W centred across classes unless ``center_weight=False``) (THN; Zhu et al.).
- ``equinorm_*``: std/mean of ||h_bar_k - h_bar_G|| / of ||w_k|| (Papyan et al.; std with ddof 1).
- ``equiangularity_*``: mean over k != k' of |cos + 1/(K-1)| (Papyan et al.; raw W).
- ``nc3_duality``: ||W/||W||_F - M~/||M~||_F||_F (Papyan et al.; raw W).
- ``nc3_structure``: ||W M~^T/||W M~^T||_F - P/sqrt(K-1)||_F (Zhu et al. 2021; raw W).
- ``nc4_ncc_mismatch``: fraction of samples whose argmax_k (W h + b)_k differs from the
  nearest class mean (Papyan et al.).
- ``bias_norm``: ||W h_bar_G + b|| (a check from public NC measurement code; choice, docs/math.md §2.10).

Options: ``global_mean="classes"`` (h_bar_G = mean of class means; ``"samples"``: the sample
mean), ``center_weight=True`` (NC2 on centred W), ``rtol`` (relative rank tolerance of M~ for
NC1; default max(K, d) * eps of the dtype), ``num_classes`` (default max(label) + 1),
``undefined="raise"`` (d < K - 1 is an error; ``"omit"`` drops the ETF metrics instead).
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._validation import check_choice, fail
from nclab.classwise import GLOBAL_MEAN_WEIGHTINGS
from nclab.metrics import _checks, _core, class_subset
from nclab.metrics._core import ClassStatistics
from nclab.metrics import extra as _extra

#: The keys of :func:`collapse`, in order; weight/bias ones only appear when those are given.
KEYS = (
    "nc1",
    "nc1_trace_ratio",
    "cdnv",
    "nc2_etf_features",
    "nc2_etf_weight",
    "equinorm_features",
    "equinorm_weight",
    "equiangularity_features",
    "equiangularity_weight",
    "nc3_duality",
    "nc3_structure",
    "nc4_ncc_mismatch",
    "bias_norm",
)

Array = Any  # numpy array or torch tensor


def _prepare(features: Array, labels: Array, num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    x = _checks.check_features(features)
    y, K = _checks.check_labels(labels, x.shape[-2], num_classes, x.device)
    return x, y, K


def _check_reference(reference: Any, K: int, d: int) -> ClassStatistics:
    """The reference statistics of a held-out measurement: a ClassStatistics of K classes in dimension d."""
    _core.check_statistics(reference, "reference")
    if (reference.num_classes, reference.dim) != (K, d):
        fail("reference", f"statistics of (K, d) = ({reference.num_classes}, {reference.dim})",
             f"the features' (K, d) = ({K}, {d})")
    return reference


def class_statistics(
    features: Array, labels: Array, *, global_mean: str = "classes", num_classes: int | None = None
) -> ClassStatistics:
    """Class counts, means, global mean, centred means M~ and within-class sums of squares.

    The building block of every metric (docs/math.md §1.3, §2.12); ``centred_means`` is what
    :func:`nc2_etf`, :func:`nc3_duality` and :func:`nc3_structure` take for the features.

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    global_mean : {"classes", "samples"}, default "classes"
        h_bar_G: the mean of the class means, or the sample mean.
    num_classes : int, optional
        K; default max(labels) + 1.

    Returns
    -------
    stats : ClassStatistics
        Counts (..., K), means h_bar_k (..., K, d), ``global_mean`` (..., d), ``centred_means``
        M~ rows h_bar_k - h_bar_G (..., K, d) and the within-class sums of squares.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117 (class means and global mean).

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3  # sigma_k^2 = 0.01
    >>> stats = class_statistics(H, y)
    >>> torch.allclose(stats.centred_means, M)
    True
    """
    x, y, K = _prepare(features, labels, num_classes)
    with torch.no_grad():
        stats, _ = _core.full_batch_statistics(x, y, K, global_mean)
    return stats


def collapse(
    features: Array,
    labels: Array,
    weight: Array | None = None,
    bias: Array | None = None,
    *,
    global_mean: str = "classes",
    center_weight: bool = True,
    rtol: float | None = None,
    num_classes: int | None = None,
    undefined: str = "raise",
    extra: Any = None,
    ood_features: Array | None = None,
    reference: ClassStatistics | None = None,
    classes: Any = None,
) -> dict[str, Any]:
    """Every neural collapse metric of docs/math.md §2, in two passes over the features.

    Returns a dict with the keys of :data:`KEYS` (``nc2_etf_weight``, ``equinorm_weight``,
    ``equiangularity_weight``, ``nc3_*`` and ``nc4_ncc_mismatch`` only with ``weight``,
    ``bias_norm`` only with ``bias``); floats for unbatched features, numpy arrays of shape
    (...) for batched (..., N, d). The ETF metrics (``nc2_etf_*``, ``equiangularity_*``,
    ``nc3_structure``) need d >= K - 1: with d < K - 1, ``undefined="raise"`` (default) raises
    ValueError and ``undefined="omit"`` leaves those keys out. Cost O(N d K): the class
    sums, one projection of the within-class residuals on the <= K - 1 singular directions of
    M~, and with ``weight`` one (N x d) @ (d x K) product for the classifier.

    ``extra``: names from :data:`nclab.metrics.extra.EXTRA_KEYS` (or ``"all"``: every one
    whose inputs are given) add those measurements after the default keys, which do not
    change; ``ood_features`` (..., N_ood, d) are the out-of-distribution features of
    ``"nc5_ood_orthogonality"``.

    ``reference``: the :class:`ClassStatistics` of another set (:func:`class_statistics` of the
    training features, or ``StreamingStats.statistics()``) to measure these features against:
    the class means, global mean and Sigma_B are the reference's, the within-class residuals
    h_i - h_bar_{y_i} and NC4 (nearest *reference* mean against the classifier) are these
    features' (test-set collapse; docs/math.md §2). Measured against its own statistics a set
    gives the plain metrics.

    ``classes``: a list of m >= 2 distinct class indices; every metric is then that of the
    m-class problem (the samples of those classes, class ``classes[j]`` relabelled j, the
    rows ``classes`` of ``weight`` and ``bias``, and of ``reference`` whose global mean and
    centred means are recomputed for the subset), as :func:`collapse` on the filtered arrays;
    per-class outputs follow the order of ``classes`` (:mod:`nclab.metrics.class_subset`).

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    weight : array_like or torch.Tensor, shape (K, d) or (..., K, d), optional
        The classifier W (``nn.Linear`` layout); adds the weight, NC3 and NC4 keys.
    bias : array_like or torch.Tensor, shape (K,) or (..., K), optional
        The classifier bias b (needs ``weight``); adds ``bias_norm``.
    global_mean : {"classes", "samples"}, default "classes"
        h_bar_G: the mean of the class means, or the sample mean.
    center_weight : bool, default True
        Centre W across classes for ``nc2_etf_weight``.
    rtol : float, optional
        Relative rank tolerance of M~ for NC1; default max(K, d) * eps of the dtype.
    num_classes : int, optional
        K; default max(labels) + 1.
    undefined : {"raise", "omit"}, default "raise"
        What to do with the ETF metrics when d < K - 1.
    extra : str or sequence of str, optional
        Names from :data:`nclab.metrics.extra.EXTRA_KEYS`, or ``"all"``.
    ood_features : array_like or torch.Tensor, shape (..., N_ood, d), optional
        Out-of-distribution features for ``"nc5_ood_orthogonality"``.
    reference : ClassStatistics, optional
        Statistics of another set (K classes, dimension d) to measure against.
    classes : sequence of int, optional
        m >= 2 distinct class indices: measure the m-class subproblem.

    Returns
    -------
    metrics : dict of str to float or numpy.ndarray
        The keys of :data:`KEYS` that apply (then the ``extra`` ones), each a float for
        unbatched features or an array of shape (...) for batched ones.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.
        Also if ``bias`` is given without ``weight``, ``weight``/``bias``/``ood_features``/
        ``reference`` do not match (K, d), ``classes`` is not m >= 2 distinct classes, an
        ``extra`` name is unknown or lacks its inputs, or d < K - 1 with ``undefined="raise"``.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117 (NC1-NC4).
    Galanti, Gyorgy, Hutter, "On the role of neural collapse in transfer learning", ICLR 2022,
    arXiv:2112.15121 (CDNV).
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658 (trace ratio, Thm 3.1; NC2 metric, Section 2).
    Zhu et al., "A geometric analysis of neural collapse with unconstrained features",
    NeurIPS 2021, arXiv:2105.02375 (NC3 structure).

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> M = 5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    >>> y = torch.arange(30) % 3
    >>> train = M[y] + 0.1 * torch.randn(30, 4, generator=g, dtype=torch.float64)
    >>> test = M[y] + 0.3 * torch.randn(30, 4, generator=g, dtype=torch.float64)
    >>> ref = class_statistics(train, y)
    >>> same = collapse(train, y, reference=ref)["nc1"] == collapse(train, y)["nc1"]
    >>> held_out = collapse(test, y, reference=ref)["nc1"] > collapse(train, y)["nc1"]
    >>> bool(same), bool(held_out)
    (True, True)

    On an exact configuration (simplex ETF means, classifier W = M, spread 0.1 along e_1):

    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> out = collapse(H, y, M)
    >>> round(out["nc1"], 6), round(out["nc1_trace_ratio"], 6), round(out["cdnv"], 6)
    (0.006667, 0.015, 0.005)
    >>> round(out["nc2_etf_features"], 9), round(out["nc3_duality"], 9), out["nc4_ncc_mismatch"]
    (0.0, 0.0, 0.0)
    """
    check_choice("global_mean", global_mean, GLOBAL_MEAN_WEIGHTINGS)
    x, y, K = _prepare(features, labels, num_classes)
    rtol = _checks.check_rtol(rtol)
    lead = x.shape[:-2]
    w = None if weight is None else _checks.check_weight(weight, x, K, lead)
    b = None if bias is None else _checks.check_bias(bias, x, K, lead)
    if b is not None and w is None:
        fail("bias", "a bias without a weight", "given together with weight")
    ref = None if reference is None else _check_reference(reference, K, x.shape[-1])
    if classes is not None:
        subset = class_subset.check_classes(classes, K)
        x, y, w, b = class_subset.restrict(subset, x, y, K, w, b)
        ref = None if ref is None else class_subset.restrict_statistics(ref, subset, global_mean)
        K = len(subset)
    _checks.check_undefined(undefined, x.shape[-1], K)  # d >= K - 1 of the (sub)problem measured
    names = _extra.check_extra(extra, w is not None, ood_features is not None)
    ood = None
    if ood_features is not None:
        ood = _checks.check_features(ood_features, "ood_features").to(dtype=x.dtype, device=x.device)
        if ood.shape[-1] != x.shape[-1]:
            fail("ood_features", f"an array of shape {tuple(ood.shape)}", f"shape (..., N_ood, {x.shape[-1]})")
    with torch.no_grad():
        preds = [] if _extra.needs_predictions(names) else None  # NCC labels from the residual pass
        stats, mismatches = _core.full_batch_statistics(x, y, K, global_mean, weight=w, bias=b, predictions=preds,
                                                        reference=ref)
        values = _core.metrics_from_statistics(stats, w, b, rtol=rtol, center_weight=bool(center_weight))
        if w is not None:
            values["nc4_ncc_mismatch"] = mismatches.to(x.dtype) / x.shape[-2]
        out = {k: values[k] for k in KEYS if k in values}
        if names:
            out.update(_extra.extra_metrics(names, stats, x, y, w, b, ood, rtol, predictions=preds))
    return _core.to_output(out)


# ----------------------------------------------------------------------------- single metrics


def nc1(
    features: Array,
    labels: Array,
    *,
    global_mean: str = "classes",
    rtol: float | None = None,
    num_classes: int | None = None,
) -> Any:
    """NC1 = (1/K) tr(Sigma_W Sigma_B^+) (Papyan, Han, Donoho 2020, Fig. 6; docs/math.md §2.1).

    Sigma_B = (1/K) M~^T M~ has rank <= K - 1; with M~ = U S V^T, NC1 = sum_j v_j^T Sigma_W v_j /
    s_j^2 over the directions with s_j > rtol * s_max (default rtol = max(K, d) * eps). The
    null direction of M~ that centring creates is removed exactly first. NaN if all class
    means coincide.

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    global_mean : {"classes", "samples"}, default "classes"
        h_bar_G: the mean of the class means, or the sample mean.
    rtol : float, optional
        Relative rank tolerance of M~; default max(K, d) * eps of the dtype.
    num_classes : int, optional
        K; default max(labels) + 1.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117, Fig. 6.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3  # sigma_k^2 = 0.01
    >>> round(nc1(H, y), 6)  # Sigma_W = 0.01 e_1 e_1^T, Sigma_B^+ = 3 P: (1/3) 0.03 (2/3)
    0.006667
    >>> nc1(M, torch.arange(3))  # no within-class spread
    0.0
    """
    x, y, K = _prepare(features, labels, num_classes)
    rtol = _checks.check_rtol(rtol)
    with torch.no_grad():
        stats, _ = _core.full_batch_statistics(x, y, K, global_mean)
        return _core.to_python(_core.nc1_from(stats, rtol))


def nc1_trace_ratio(
    features: Array, labels: Array, *, global_mean: str = "classes", num_classes: int | None = None
) -> Any:
    """tr Sigma_W / tr Sigma_B (Tirer, Huang, Niles-Weed 2023, Thm 3.1; docs/math.md §2.2).

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    global_mean : {"classes", "samples"}, default "classes"
        h_bar_G: the mean of the class means, or the sample mean.
    num_classes : int, optional
        K; default max(labels) + 1.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.

    References
    ----------
    Tirer, Huang, Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658, Theorem 3.1.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3  # sigma_k^2 = 0.01
    >>> nc1_trace_ratio(H, y)  # tr Sigma_W = 0.01, tr Sigma_B = 2/3
    0.015
    """
    x, y, K = _prepare(features, labels, num_classes)
    with torch.no_grad():
        stats, _ = _core.full_batch_statistics(x, y, K, global_mean, project=False)
        return _core.to_python(_core.trace_ratio_from(stats))


def cdnv(features: Array, labels: Array, *, num_classes: int | None = None) -> Any:
    """Class-distance normalised variance (Galanti, Gyorgy, Hutter 2022; docs/math.md §2.3).

    Mean over class pairs i < j of (sigma_i^2 + sigma_j^2) / (2 ||h_bar_i - h_bar_j||^2) with
    sigma_c^2 = mean over class c of ||h - h_bar_c||^2.

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    num_classes : int, optional
        K; default max(labels) + 1.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        A float for unbatched features, an array over the batch dimensions otherwise.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.

    References
    ----------
    Galanti, Gyorgy, Hutter, "On the role of neural collapse in transfer learning", ICLR 2022,
    arXiv:2112.15121 (the class-distance normalised variance; docs/math.md §2.3).

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3  # sigma_k^2 = 0.01
    >>> cdnv(H, y)  # (0.01 + 0.01) / (2 * 2) for every pair
    0.005
    """
    x, y, K = _prepare(features, labels, num_classes)
    with torch.no_grad():
        stats, _ = _core.full_batch_statistics(x, y, K, "classes", project=False)
        return _core.to_python(_core.cdnv_from(stats))


def nc4_ncc_mismatch(
    features: Array, labels: Array, weight: Array, bias: Array | None = None, *, num_classes: int | None = None
) -> Any:
    """NC4: fraction of samples where argmax_k (W h + b)_k differs from the nearest class mean.

    Papyan et al. 2020, Fig. 7 (ties go to the lowest class index in both rules).

    Parameters
    ----------
    features : array_like or torch.Tensor, shape (N, d) or (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like, shape (N,)
        The class y_i in 0..K-1 of each sample.
    weight : array_like or torch.Tensor, shape (K, d) or (..., K, d)
        The classifier W.
    bias : array_like or torch.Tensor, shape (K,) or (..., K), optional
        The classifier bias b; default none.
    num_classes : int, optional
        K; default max(labels) + 1.

    Returns
    -------
    value : float or numpy.ndarray of shape (...)
        The mismatch fraction in [0, 1].

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or a keyword is outside its allowed values.
        Also if ``weight`` or ``bias`` does not match (K, d).

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117, Fig. 7.

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3  # sigma_k^2 = 0.01
    >>> nc4_ncc_mismatch(H, y, M)
    0.0
    >>> nc4_ncc_mismatch(H, y, M, torch.tensor([9.0, 0.0, 0.0], dtype=torch.float64))  # always 0
    0.6666666666666666
    """
    x, y, K = _prepare(features, labels, num_classes)
    lead = x.shape[:-2]
    w = _checks.check_weight(weight, x, K, lead)
    b = None if bias is None else _checks.check_bias(bias, x, K, lead)
    with torch.no_grad():
        _, mismatches = _core.full_batch_statistics(x, y, K, "classes", project=False, weight=w, bias=b)
        return _core.to_python(mismatches.to(x.dtype) / x.shape[-2])
