"""Further collapse measurements from the class statistics: the CDNV matrix, uniform duality
and per-class self-duality; and ``collapse(..., extra=[...])``, which reaches every further
measurement of :mod:`nclab.metrics`.

Each is a function of the statistics that :func:`nclab.metrics.class_statistics` (or
``StreamingStats.statistics()``) returns, batched over leading axes and computed in their
dtype and device; unbatched inputs give floats or numpy arrays as the rest of
:mod:`nclab.metrics`. The ``*_from`` forms take and return tensors. The measurements that need
a pass over the samples are in :mod:`nclab.metrics.extra_samples`, principal angles and NC5 in
:mod:`nclab.metrics.subspaces`, the tiled pairwise kernels
in :mod:`nclab.metrics.uniformity`, the MSE-loss decomposition in
:mod:`nclab.metrics.mse_loss`. :func:`extra_metrics` is what
``collapse(..., extra=[...])`` calls.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from nclab._tensor import to_python
from nclab._validation import check_choice, check_int, check_real, fail
from nclab.metrics import _core, extra_samples, mse_loss, uniformity
from nclab.metrics.subspaces import _pair, ood_orthogonality_from, principal_angles_from
from nclab.metrics._core import ClassStatistics

# ----------------------------------------------------------------------------- CDNV matrix


def cdnv_matrix_from(stats: ClassStatistics, exponent: float = 1.0) -> torch.Tensor:
    """Tensor (..., K, K) of :func:`cdnv_matrix` (NaN diagonal), in the dtype of ``stats``.

    Unchecked tensor form: no validation, keeps the autograd graph.

    Parameters
    ----------
    stats : ClassStatistics
        Class statistics (counts (..., K), within_sq (..., K), centred_means (..., K, d)).
    exponent : float
        Power of the squared distance in the denominator.

    Returns
    -------
    torch.Tensor of shape (..., K, K)

    References
    ----------
    T. Galanti, A. Gyorgy, M. Hutter, "On the role of neural collapse in transfer learning",
    ICLR 2022, arXiv:2112.15121 (Eq. 3).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> X = torch.tensor([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]], dtype=torch.float64)
    >>> st = class_statistics(X, torch.tensor([0, 0, 1, 1]))
    >>> cdnv_matrix_from(st)[0, 1].item()
    0.0625
    """
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
        Off-diagonal CDNV of each class pair, NaN on the diagonal.

    Raises
    ------
    ValueError
        If ``stats`` is not a ClassStatistics or ``exponent`` is negative or not a real number.

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
    stats = _core.check_statistics(stats)
    exponent = check_real("exponent", exponent, minimum=0.0)
    with torch.no_grad():
        return to_python(cdnv_matrix_from(stats, exponent))


# ----------------------------------------------------------------------------- duality


#: Normalisations of :func:`uniform_duality`.
DUALITY_NORMALISATIONS = ("cosine", "frobenius", "none")


def uniform_duality_from(weight: torch.Tensor, centred: torch.Tensor, normalize: str = "cosine", ddof: int = 1) -> torch.Tensor:
    """Tensor (...) of :func:`uniform_duality`; unchecked, keeps the autograd graph.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., K, d)
        Classifier rows, already broadcast to the batch of ``centred``.
    centred : torch.Tensor, shape (..., K, d)
        Centred class means.
    normalize : {"cosine", "frobenius", "none"}
        Normalisation of the products <w_k, m~_k> (see :func:`uniform_duality`).
    ddof : int
        Delta degrees of freedom of the variance over classes.

    Returns
    -------
    torch.Tensor of shape (...)

    References
    ----------
    R. Wu, V. Papyan, "Linguistic collapse: neural collapse in (large) language models",
    NeurIPS 2024, arXiv:2405.17767.

    Examples
    --------
    >>> from nclab.geometry import simplex_etf
    >>> M = torch.as_tensor(simplex_etf(3))
    >>> round(uniform_duality_from(2.0 * M, M).item(), 12)
    0.0
    """
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
        Normalisation of the products <w_k, m~_k>, as listed above.
    ddof : int
        Delta degrees of freedom of the variance over the K classes, >= 0.

    Returns
    -------
    float or ndarray of shape (...)
        Var_k(s_k).

    Raises
    ------
    ValueError
        If ``normalize`` is not one of the names, ``ddof`` is not an integer >= 0, or the
        shapes of ``weight`` and ``centred_means`` do not match.

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
    """Tensor (..., K) of :func:`duality_per_class`; unchecked, keeps the autograd graph.

    Parameters
    ----------
    weight : torch.Tensor, shape (..., K, d)
        Classifier rows.
    centred : torch.Tensor, shape (..., K, d)
        Centred class means.

    Returns
    -------
    torch.Tensor of shape (..., K)
        ||w_k / ||w_k|| - m~_k / ||m~_k|| || per class.

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal
    phase of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117.

    Examples
    --------
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> M = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    >>> duality_per_class_from(W, M).tolist()
    [0.0, 2.0]
    """
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
        Centred class means m~_k = h_bar_k - h_bar_G.

    Returns
    -------
    ndarray of shape (..., K)
        The per-class distance, in [0, 2].

    Raises
    ------
    ValueError
        If the shapes of ``weight`` and ``centred_means`` do not match.

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
    """The requested names, validated; ``"all"`` is every name whose inputs are given.

    Parameters
    ----------
    extra : None, str or iterable of str
        ``None`` (nothing), ``"all"``, one name of :data:`EXTRA_NAMES` or a list of them.
    has_weight : bool
        Whether a classifier was given (the names that need one are refused without it).
    has_ood : bool
        Whether OOD features were given (``"nc5_ood_orthogonality"`` needs them).

    Returns
    -------
    tuple of str
        The names, duplicates dropped, in the order given.

    Raises
    ------
    ValueError
        If ``extra`` is not a name or a list of names, a name is unknown, or a name needs
        a classifier or OOD features that were not given.

    Examples
    --------
    >>> check_extra(["cdnv_matrix", "cosine_std", "cdnv_matrix"], has_weight=False, has_ood=False)
    ('cdnv_matrix', 'cosine_std')
    >>> "uniform_duality" in check_extra("all", has_weight=False, has_ood=False)
    False
    """
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
    """Whether ``names`` use the per-sample nearest-class-mean (and classifier) labels.

    Parameters
    ----------
    names : tuple of str
        Checked names (:func:`check_extra`).

    Returns
    -------
    bool
        True when ``"ncc_accuracy"`` or ``"agreement_per_class"`` is among them.

    Examples
    --------
    >>> needs_predictions(("cdnv_matrix", "ncc_accuracy"))
    True
    >>> needs_predictions(("cdnv_matrix",))
    False
    """
    return "ncc_accuracy" in names or "agreement_per_class" in names


#: Where each name of :data:`EXTRA_KEYS` comes from, which decides how it streams:
#: ``"statistics"`` needs only the class counts and means (O(K d), every accumulator),
#: ``"sigma_w"`` also the d x d within-class covariance (:class:`nclab.metrics.StreamingStats`,
#: O(K d + d^2)), ``"pass2"`` the nearest-class-mean labels of a second pass
#: (:class:`nclab.metrics.NCCCounter`, O(K d)), ``"class_moments"`` the K per-class covariances
#: (K d^2; ``StreamingStats(class_projection=P)`` keeps them projected, K r^2).
EXTRA_SOURCES: dict[str, str] = {
    "cdnv_matrix": "statistics",
    "kernel_distance": "statistics",
    "kernel_log": "statistics",
    "kernel_riesz": "statistics",
    "cosine_std": "statistics",
    "uniform_duality": "statistics",
    "duality_per_class": "statistics",
    "principal_angles": "statistics",
    "nc5_ood_orthogonality": "statistics",
    "within_stable_rank": "sigma_w",
    "mse_decomposition": "sigma_w",
    "ncc_accuracy": "pass2",
    "agreement_per_class": "pass2",
    "class_covariance_spectra": "class_moments",
}


def statistics_metrics(
    names: tuple[str, ...],
    stats: ClassStatistics,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    ood: torch.Tensor | None = None,
    rtol: float | None = None,
    sigma_w: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Tensors of the ``"statistics"`` and ``"sigma_w"`` names among ``names`` (:data:`EXTRA_SOURCES`):
    what the full-batch and the streaming paths share. ``sigma_w`` (..., d, d) is needed for
    the latter.

    Parameters
    ----------
    names : tuple of str
        Checked names (:func:`check_extra`); those of other sources are skipped.
    stats : ClassStatistics
        Class statistics, batch shape (...).
    weight : torch.Tensor, shape (K, d) or (..., K, d), optional
        Classifier rows; needed by the names of ``_NEEDS_WEIGHT``.
    bias : torch.Tensor, shape (..., K), optional
        Classifier bias (``"mse_decomposition"``).
    ood : torch.Tensor, shape (..., N_ood, d), optional
        OOD features (``"nc5_ood_orthogonality"``).
    rtol : float, optional
        Relative rank tolerance of the SVD-based measurements (default max(K, d) * eps).
    sigma_w : torch.Tensor, shape (..., d, d), optional
        Within-class covariance; needed by the ``"sigma_w"`` names.

    Returns
    -------
    dict of str to torch.Tensor
        The keys of :data:`EXTRA_KEYS` of each computed name.

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> X = torch.tensor([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]], dtype=torch.float64)
    >>> st = class_statistics(X, torch.tensor([0, 0, 1, 1]))
    >>> statistics_metrics(("cdnv_matrix",), st)["cdnv_matrix"][1, 0].item()
    0.0625
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
        elif name == "within_stable_rank":
            out[name] = extra_samples.stable_rank_from(sigma_w)
        elif name == "mse_decomposition":
            parts = mse_loss.mse_decomposition_from(stats.counts, stats.means, sigma_w, W, bias, rtol)
            out.update({f"mse_{k}" if k != "mse_loss" else k: v for k, v in parts.items()})
    return out


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

    Parameters
    ----------
    names : tuple of str
        Checked names (:func:`check_extra`).
    stats : ClassStatistics
        Class statistics of ``x`` and ``labels``.
    x : torch.Tensor, shape (..., N, d)
        Features.
    labels : torch.Tensor, shape (N,)
        Class labels in 0..K-1.
    weight : torch.Tensor, shape (K, d) or (..., K, d), optional
        Classifier rows.
    bias : torch.Tensor, shape (..., K), optional
        Classifier bias.
    ood : torch.Tensor, shape (..., N_ood, d), optional
        OOD features.
    rtol : float, optional
        Relative rank tolerance of the SVD-based measurements.
    predictions : list of (torch.Tensor, torch.Tensor or None), optional
        Chunks of per-sample NCC labels and classifier labels.

    Returns
    -------
    dict of str to torch.Tensor
        For each name in order, the keys :data:`EXTRA_KEYS` lists.

    References
    ----------
    See the functions each name calls (:func:`cdnv_matrix`, :func:`uniform_duality`,
    :func:`duality_per_class`, :mod:`nclab.metrics.uniformity`,
    :mod:`nclab.metrics.subspaces`, :mod:`nclab.metrics.extra_samples`,
    :mod:`nclab.metrics.mse_loss`).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> X = torch.tensor([[0.0, 1.0], [0.0, -1.0], [4.0, 1.0], [4.0, -1.0]], dtype=torch.float64)
    >>> st = class_statistics(X, torch.tensor([0, 0, 1, 1]))
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> out = extra_metrics(("cdnv_matrix", "ncc_accuracy"), st, X, y)
    >>> sorted(out), out["ncc_accuracy"].item()
    (['cdnv_matrix', 'ncc_accuracy'], 1.0)
    """
    lead = stats.centred_means.shape[:-2]
    W = None if weight is None else weight.expand(*lead, *weight.shape[-2:])
    sigma_w = None
    if any(EXTRA_SOURCES[n] == "sigma_w" for n in names):
        sigma_w = extra_samples.within_covariance_from(x, labels, stats.means)
    out = statistics_metrics(names, stats, W, bias, ood, rtol, sigma_w)
    sample_names = [n for n in names if EXTRA_SOURCES[n] in ("pass2", "class_moments")]
    if sample_names:
        preds = None
        if predictions:
            ncc = torch.cat([p[0] for p in predictions], dim=-1)
            net = torch.cat([p[1] for p in predictions], dim=-1) if predictions[0][1] is not None else None
            preds = (ncc, net)
        out.update(extra_samples.sample_metrics(sample_names, stats, x, labels, W, bias, sigma_w, preds))
    return {k: out[k] for n in names for k in EXTRA_KEYS[n]}
