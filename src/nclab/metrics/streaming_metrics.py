"""The metrics of the streaming accumulators: from their sums to the dict of ``collapse``.

:mod:`nclab.metrics.streaming` holds the accumulators (their state, exact updates and merges);
this module computes from that state: the class means, centred means and singular basis
(docs/math.md §2.12), the :class:`~nclab.metrics._core.ClassStatistics`, Sigma_W from the d x d
moment, the per-class covariance spectra, which ``extra`` names an accumulator can give, and the
shared end of ``StreamingStats.collapse`` and ``ProjectedStats.collapse``.

An accumulator is read through its attributes: ``num_classes``, ``dim``, ``dtype``, ``device``,
``counts`` (K,), ``shift`` c (d,), ``sums`` sum (h - c) (K, d), ``sq`` sum ||h - c||^2 (K,);
``second`` sum (h - c)(h - c)^T (d, d) where kept (``StreamingStats``); ``class_scatter``
(K, r, r) where kept. A pass-2 counter (``NCCCounter``) is read through ``means``, ``count``,
``weight``, ``bias``, ``mismatches``, ``hits`` and ``agreements``. Nothing here imports the
accumulators, so they import this module and not the reverse.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._validation import fail
from nclab.metrics import _checks, _core
from nclab.metrics import extra as _extra
from nclab.metrics.collapse import KEYS

#: What a streamed ``class_covariance_spectra`` needs (formatted with K, d and the MiB of K d^2).
CLASS_MOMENTS_HINT = (
    "a StreamingStats built with class_projection='identity' (K d^2 = {K} x {d}^2 elements, {mib:.0f} MiB) "
    "or class_projection=P of shape (d, r) (the spectra of P^T Sigma_k P in K r^2 elements)"
)


def _moments_hint(acc: Any) -> str:
    mib = acc.num_classes * acc.dim**2 * acc.sums.element_size() / 2**20
    return CLASS_MOMENTS_HINT.format(K=acc.num_classes, d=acc.dim, mib=mib)


def class_moments(acc: Any, global_mean: str) -> tuple:
    """The class moments of an accumulator's sums around its shift c.

    Parameters
    ----------
    acc : StreamingStats or ProjectedStats
        The accumulator, read through its attributes (see the module docstring).
    global_mean : {"classes", "samples"}
        h_bar_G: the mean of the class means, or the sample mean.

    Returns
    -------
    n : torch.Tensor, shape (K,)
        The class counts n_k in the accumulator's dtype.
    shifted_means : torch.Tensor, shape (K, d)
        h_bar_k - c.
    w : torch.Tensor, shape (K,)
        The weights of h_bar_G = sum_k w_k h_bar_k.
    mu_shifted : torch.Tensor, shape (d,)
        h_bar_G - c.
    centred : torch.Tensor, shape (K, d)
        M~, rows h_bar_k - h_bar_G.
    within_sq : torch.Tensor, shape (K,)
        sum_{i in k} ||h_i - h_bar_k||^2 = sum ||h_i - c||^2 - n_k ||h_bar_k - c||^2 (clamped at 0).
    basis, singular_values : torch.Tensor, shapes (d, q) and (q,)
        The right singular vectors and singular values of M~ (:func:`nclab.metrics._core.spectral_basis`).

    Raises
    ------
    ValueError
        If a class has no sample (naming the first such class).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> n, shifted, w, mu, centred, within_sq, basis, svals = class_moments(acc, "classes")
    >>> n.tolist(), w.tolist() == [1 / 3] * 3, torch.allclose(centred, M)
    ([2.0, 2.0, 2.0], True, True)
    >>> [round(v, 6) for v in within_sq.tolist()], [round(v, 6) for v in svals.tolist()]
    ([0.02, 0.02, 0.02], [1.0, 1.0])
    """
    K, counts = acc.num_classes, acc.counts
    if bool((counts == 0).any()):
        missing = int(torch.nonzero(counts == 0)[0])
        fail("labels", f"no sample of class {missing}", f"at least one sample in every class 0..{K - 1}")
    n = counts.to(acc.dtype)
    shifted_means = acc.sums / n.unsqueeze(-1)  # h_bar_k - c
    w = _core.mean_weights(counts, global_mean, acc.dtype)
    mu_shifted = (w.unsqueeze(-1) * shifted_means).sum(dim=0)
    centred = shifted_means - mu_shifted
    within_sq = (acc.sq - n * shifted_means.square().sum(dim=-1)).clamp_min(0.0)
    basis, svals = _core.spectral_basis(centred, w)
    return n, shifted_means, w, mu_shifted, centred, within_sq, basis, svals


def statistics(acc: Any, global_mean: str, within_projected: torch.Tensor | None = None) -> _core.ClassStatistics:
    """The :class:`~nclab.metrics._core.ClassStatistics` of an accumulator.

    With the d x d moment S = ``acc.second`` the within-class scatter along the basis is
    v^T (N Sigma_W) v = v^T S v - sum_k n_k ((h_bar_k - c) . v)^2; without it,
    ``within_projected`` (a pass 2's sums, or None).

    Parameters
    ----------
    acc : StreamingStats or ProjectedStats
        The accumulator, read through its attributes (see the module docstring).
    global_mean : {"classes", "samples"}
        h_bar_G: the mean of the class means, or the sample mean.
    within_projected : torch.Tensor, shape (q,), optional
        sum_i ((h_i - h_bar_{y_i}) . v_j)^2 from a second pass (used when ``acc`` keeps no
        second moment).

    Returns
    -------
    stats : ClassStatistics
        Counts, means, global mean, centred means, within-class sums of squares, N, the basis
        and singular values of M~, and ``within_projected``.

    Raises
    ------
    ValueError
        If a class has no sample.

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> stats = statistics(acc, "classes")
    >>> stats.num_samples, [round(v, 6) for v in stats.within_projected.tolist()]
    (6, [0.02, 0.02])
    """
    n, shifted_means, w, mu_shifted, centred, within_sq, basis, svals = class_moments(acc, global_mean)
    second = getattr(acc, "second", None)
    if second is not None:
        proj_means = shifted_means @ basis
        within_projected = (((second @ basis) * basis).sum(dim=0)
                            - (n.unsqueeze(-1) * proj_means.square()).sum(dim=0)).clamp_min(0.0)
    return _core.ClassStatistics(acc.counts, shifted_means + acc.shift, mu_shifted + acc.shift, centred, within_sq,
                                 int(acc.counts.sum()), basis, svals, within_projected)


def within_covariance(acc: Any) -> torch.Tensor:
    """The within-class covariance Sigma_W from an accumulator's second moment.

    N Sigma_W = sum_i (h_i - c)(h_i - c)^T - sum_k n_k (h_bar_k - c)(h_bar_k - c)^T.

    Parameters
    ----------
    acc : StreamingStats
        An accumulator that keeps the d x d moment ``second``.

    Returns
    -------
    sigma_w : torch.Tensor, shape (d, d)
        Sigma_W = (1/N) sum_i (h_i - h_bar_{y_i})(h_i - h_bar_{y_i})^T.

    Raises
    ------
    ValueError
        If a class has no sample.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (Sigma_W).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> [round(abs(v), 6) for v in within_covariance(acc).diagonal().tolist()]  # Sigma_W = e e^T
    [0.01, 0.0, 0.0]
    """
    n, shifted_means = class_moments(acc, "classes")[:2]
    return (acc.second - shifted_means.mT @ (n.unsqueeze(-1) * shifted_means)) / n.sum()


def class_covariance_spectra(acc: Any) -> torch.Tensor:
    """Eigenvalues, descending, of each class's covariance (scatter / n_k) of z = h P.

    Parameters
    ----------
    acc : StreamingStats
        An accumulator built with ``class_projection`` (it keeps ``class_scatter`` (K, r, r)).

    Returns
    -------
    spectra : torch.Tensor, shape (K, r)
        Row k: the eigenvalues of P^T Sigma_k P (Sigma_k with ``class_projection="identity"``),
        descending, clamped at 0.

    Raises
    ------
    ValueError
        If ``acc`` keeps no per-class moments (the message says how to build one that does),
        or a class has no sample.

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> keeps = StreamingStats(num_classes=3, dim=3, class_projection="identity").update(H, y)
    >>> class_covariance_spectra(keeps).round(decimals=6).tolist()  # Sigma_k = e e^T
    [[0.01, 0.0, 0.0], [0.01, 0.0, 0.0], [0.01, 0.0, 0.0]]
    """
    if getattr(acc, "class_scatter", None) is None:
        fail("class_covariance_spectra", "statistics without per-class moments", _moments_hint(acc))
    n = class_moments(acc, "classes")[0]
    with _core.decomposition_threads():
        return torch.linalg.eigvalsh(acc.class_scatter / n[:, None, None]).flip(-1).clamp_min(0.0)


def streaming_names(extra: Any, acc: Any, w: Any, ncc: Any, has_ood: bool) -> tuple[str, ...]:
    """The ``extra`` names an accumulator can give; ``"all"``: those whose inputs are there.

    Parameters
    ----------
    extra : None, str or sequence of str
        Names of :data:`nclab.metrics.extra.EXTRA_NAMES`, or ``"all"``.
    acc : StreamingStats or ProjectedStats
        The accumulator, read through its attributes (see the module docstring).
    w : torch.Tensor or None
        The classifier weight (some names need it).
    ncc : NCCCounter or None
        The pass-2 counter (``ncc_accuracy``, ``agreement_per_class``).
    has_ood : bool
        Whether out-of-distribution features are given.

    Returns
    -------
    names : tuple of str
        The names to compute (duplicates dropped, in the order given; for ``"all"`` the
        available names in the order of :data:`nclab.metrics.extra.EXTRA_NAMES`).

    Raises
    ------
    ValueError
        If a name is unknown, or (outside ``"all"``) its inputs are missing: the message names
        what it needs (the d x d moment, a pass-2 counter, the classifier, per-class moments).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> streaming_names("all", acc, None, None, False)
    ('cdnv_matrix', 'kernel_distance', 'kernel_log', 'kernel_riesz', 'cosine_std', 'within_stable_rank')
    """
    names = _extra.check_extra(extra, w is not None, has_ood)
    has_sigma = getattr(acc, "second", None) is not None
    has_moments = getattr(acc, "class_scatter", None) is not None
    has_net = ncc is not None and ncc.weight is not None

    def available(n: str) -> str | None:  # None, or what is missing
        source = _extra.EXTRA_SOURCES[n]
        if source == "sigma_w" and not has_sigma:
            return "the d x d within-class covariance: a StreamingStats (O(K d + d^2)), not a ProjectedStats"
        if source == "pass2" and ncc is None:
            return "a pass-2 counter: ncc=acc.ncc_counter(...) fed every sample once"
        if n == "agreement_per_class" and not has_net:
            return "a pass-2 counter of the classifier: ncc=acc.ncc_counter(weight, bias)"
        if source == "class_moments" and not has_moments:
            return _moments_hint(acc)
        return None

    if isinstance(extra, str) and extra == "all":
        return tuple(n for n in names if available(n) is None)
    for n in names:
        missing = available(n)
        if missing is not None:
            fail("extra", n, f"a name this {type(acc).__name__} can give; {n!r} needs {missing}")
    return names


def collapse(acc: Any, weight: Any, bias: Any, ncc: Any, global_mean: str, center_weight: bool,
             rtol: float | None, extra: Any = None, ood_features: Any = None) -> dict[str, float]:
    """The dict of :func:`nclab.metrics.collapse` from an accumulator (its ``statistics(global_mean)``).

    The shared end of ``StreamingStats.collapse`` and ``ProjectedStats.collapse``, which check
    ``rtol`` and ``undefined`` and that ``ncc`` is None or a pass-2 counter.

    Parameters
    ----------
    acc : StreamingStats or ProjectedStats
        The accumulator, read through its attributes (see the module docstring).
    weight : array_like, shape (K, d), or None
        The classifier W.
    bias : array_like, shape (K,), or None
        Its bias b (only with ``weight``).
    ncc : NCCCounter or None
        A pass-2 counter of these statistics that saw every sample (gives ``nc4_ncc_mismatch``).
    global_mean : {"classes", "samples"}
        h_bar_G: the mean of the class means, or the sample mean.
    center_weight : bool
        Centre the rows of W before the weight ETF metric.
    rtol : float or None
        NC1's relative rank tolerance (None: max(K, d) eps).
    extra : str or sequence of str, optional
        Further measurements, as in :func:`nclab.metrics.collapse`.
    ood_features : array_like, shape (N_ood, d), optional
        Out-of-distribution features for ``ood_orthogonality``.

    Returns
    -------
    metrics : dict of str to float or numpy.ndarray
        The keys of :data:`nclab.metrics.collapse.KEYS` that the inputs give, then those of
        ``extra``.

    Raises
    ------
    ValueError
        If ``weight``/``bias``/``ood_features`` have the wrong shape, a bias comes without a
        weight, ``ncc`` counted other means, another classifier or not every sample, or an
        ``extra`` name's inputs are missing.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (the metrics, docs/math.md §2).

    Examples
    --------
    >>> import torch
    >>> from nclab.metrics import StreamingStats
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3  # centred means: a simplex ETF, K = d = 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> out = collapse(acc, M, None, None, "classes", True, None)
    >>> round(out["nc1"], 6), round(out["nc1_trace_ratio"], 6), round(out["nc3_duality"], 6)
    (0.006667, 0.015, 0.0)
    """
    K, name = acc.num_classes, type(acc).__name__
    like = acc.sums
    w = None if weight is None else _checks.check_weight(weight, like, K, torch.Size())
    b = None if bias is None else _checks.check_bias(bias, like, K, torch.Size())
    if b is not None and w is None:
        fail("bias", "a bias without a weight", "given together with weight")
    ood = None
    if ood_features is not None:
        ood = _checks.check_features(ood_features, "ood_features").to(dtype=acc.dtype, device=acc.device)
        if ood.ndim != 2 or ood.shape[-1] != acc.dim:
            fail("ood_features", f"an array of shape {tuple(ood.shape)}", f"shape (N_ood, {acc.dim})")
    names = streaming_names(extra, acc, w, ncc, ood is not None)
    stats = acc.statistics(global_mean)
    values = _core.metrics_from_statistics(stats, w, b, rtol=rtol, center_weight=bool(center_weight))
    if ncc is not None:
        if not torch.equal(ncc.means, stats.means.to(ncc.means.dtype)) or ncc.count != stats.num_samples:
            fail("ncc", f"a counter of {ncc.count} samples with other class means",
                 f"a counter made by this {name} after pass 1 that saw all {stats.num_samples} samples")
        if w is not None and ncc.weight is not None and (
            not torch.equal(w, ncc.weight) or (b is not None and (ncc.bias is None or not torch.equal(b, ncc.bias)))
        ):
            fail("ncc", "a counter of another classifier", "the counter of the given weight/bias")
        if ncc.weight is not None:
            values["nc4_ncc_mismatch"] = torch.tensor(ncc.mismatches / ncc.count, dtype=acc.dtype)
    out = {k: values[k] for k in KEYS if k in values}
    if names:
        sigma_w = within_covariance(acc) if any(_extra.EXTRA_SOURCES[n] == "sigma_w" for n in names) else None
        found = _extra.statistics_metrics(names, stats, w, b, ood, rtol, sigma_w)
        if "ncc_accuracy" in names:
            found["ncc_accuracy"] = ncc.hits.sum().to(acc.dtype) / ncc.count
        if "agreement_per_class" in names:
            found["agreement_per_class"] = ncc.agreements.to(acc.dtype) / stats.counts.to(acc.dtype)
        if "class_covariance_spectra" in names:
            found["class_covariance_spectra"] = class_covariance_spectra(acc)
        out.update({k: found[k] for n in names for k in _extra.EXTRA_KEYS[n]})
    return _core.to_output(out)
