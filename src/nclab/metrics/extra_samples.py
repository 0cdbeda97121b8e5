"""Collapse measurements that need a pass over the samples: nearest-class-mean accuracy,
per-class classifier/NCC agreement, the within-class covariance with its stable rank, and the
spectra of the per-class covariances.

Features (..., N, d) with labels (N,), computed chunk by chunk in the features' dtype and
device (no N x K or N x d temporary beyond one chunk). ``means`` may be given: class means of
another feature set (e.g. the training set's, to measure a held-out set against them).
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor, to_python
from nclab._validation import check_choice, fail
from nclab.classwise import class_means
from nclab.metrics import _checks
from nclab.metrics._core import ClassStatistics, decomposition_threads

#: Elements of one chunk's (rows x 2K) score block.
_CHUNK_ELEMENTS = 1 << 22


def _prepare(features: Any, labels: Any, num_classes: int | None, means: Any | None) -> tuple:
    x = _checks.check_features(features)
    y, K = _checks.check_labels(labels, x.shape[-2], num_classes, x.device)
    if means is None:
        m = class_means(x, y, K)
    else:
        m = as_float_tensor(means, "means", dtype=x.dtype, device=x.device)
        if m.ndim < 2 or tuple(m.shape[-2:]) != (K, x.shape[-1]):
            fail("means", f"an array of shape {tuple(m.shape)}", f"shape (..., {K}, {x.shape[-1]}) (one row per class)")
    return x, y, K, m


def predictions(
    x: torch.Tensor, means: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The nearest-class-mean labels and the classifier's labels of features, chunk by chunk.

    argmin_k ||h - h_bar_k||^2 = argmin_k ||c_k||^2 - 2 (h - c_bar).c_k with c_k = h_bar_k - c_bar
    (c_bar the mean of the means, for precision), and argmax_k (W h + b)_k, from one product
    per chunk with the stacked [c; W]. Ties go to the lowest index (torch.min/max).

    Parameters
    ----------
    x : torch.Tensor, shape (..., N, d)
        The features.
    means : torch.Tensor, shape (..., K, d)
        The class means h_bar_k.
    weight : torch.Tensor, shape (K, d) or (..., K, d), optional
        The classifier W; None gives no classifier labels.
    bias : torch.Tensor, shape (K,) or (..., K), optional
        Its bias b (only with ``weight``).

    Returns
    -------
    ncc : torch.Tensor, shape (..., N), int64
        argmin_k ||h_i - h_bar_k||.
    net : torch.Tensor, shape (..., N), int64, or None
        argmax_k (W h_i + b)_k, None without ``weight``.

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117 (NC4: the classifier
    becomes the nearest-class-center rule).

    Examples
    --------
    Points on a line, class means 0.5 and 4; the bias 2 on class 0 ties the classifier at
    h = (1, 0), which goes to the lower index:

    >>> import torch
    >>> X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [6.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    >>> means = torch.tensor([[0.5, 0.0], [4.0, 0.0]], dtype=torch.float64)
    >>> W = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    >>> ncc, net = predictions(X, means, W, torch.tensor([2.0, 0.0], dtype=torch.float64))
    >>> ncc.tolist(), net.tolist()
    ([0, 0, 1, 0], [0, 0, 1, 1])
    >>> predictions(X, means)[1] is None
    True
    """
    K = means.shape[-2]
    shift = means.mean(dim=-2, keepdim=True)
    c = means - shift
    sq = c.square().sum(dim=-1).unsqueeze(-2)
    stacked = c if weight is None else torch.cat([c, weight.expand(*c.shape[:-2], *weight.shape[-2:])], dim=-2)
    offset = None
    if weight is not None:
        offset = (stacked[..., K:, :] @ shift.mT).squeeze(-1)
        if bias is not None:
            offset = offset + bias
        offset = offset.unsqueeze(-2)
    N = x.shape[-2]
    lead = torch.broadcast_shapes(x.shape[:-2], means.shape[:-2])
    step = max(1, _CHUNK_ELEMENTS // max(1, stacked.shape[-2] * max(1, torch.Size(lead).numel())))
    ncc, net = [], []
    for start in range(0, N, step):
        scores = (x[..., start : start + step, :] - shift) @ stacked.mT
        ncc.append((sq - 2.0 * scores[..., :K]).min(dim=-1).indices)
        if weight is not None:
            net.append((scores[..., K:] + offset).max(dim=-1).indices)
    return torch.cat(ncc, dim=-1), (torch.cat(net, dim=-1) if weight is not None else None)


def _per_class_rate(hits: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=K).to(torch.float64)
    sums = torch.zeros(*hits.shape[:-1], K, dtype=torch.float64, device=hits.device)
    sums.index_add_(-1, labels, hits.to(torch.float64))
    return sums / counts.to(hits.device)


def ncc_accuracy(features: Any, labels: Any, *, means: Any | None = None, num_classes: int | None = None) -> Any:
    """Nearest-class-mean accuracy: the fraction of samples whose nearest class mean is their label.

    argmin_k ||h_i - h_bar_k|| == y_i, averaged over the samples. Papyan et al. (2020, Fig. 7)
    show the classifier agreeing with this rule (NC4, :func:`nclab.metrics.nc4_ncc_mismatch`);
    this is the rule's own accuracy against the labels. With ``means`` (e.g. the training
    set's ``class_statistics(...).means``) a held-out set is measured against those means.

    Parameters
    ----------
    features : array_like, shape (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like of int, shape (N,)
        The class y_i in 0..K-1 of each sample.
    means : array_like, shape (..., K, d), optional
        Class means to use; default the features' own.
    num_classes : int, optional
        K (default max(label) + 1).

    Returns
    -------
    float or ndarray of shape (...)
        The fraction of samples whose nearest class mean is their label.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or ``means`` not of shape (..., K, d).

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal
    phase of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [6.0, 0.0], [2.0, 0.0]])
    >>> ncc_accuracy(X, torch.tensor([0, 0, 1, 1]))   # 2 is nearer class 0's mean 0.5 than 4
    0.75
    """
    x, y, K, m = _prepare(features, labels, num_classes, means)
    with torch.no_grad():
        ncc, _ = predictions(x, m)
        return to_python((ncc == y).to(x.dtype).mean(dim=-1))


def agreement_per_class(
    features: Any,
    labels: Any,
    weight: Any,
    bias: Any | None = None,
    *,
    means: Any | None = None,
    num_classes: int | None = None,
) -> Any:
    """Per-class agreement of the classifier with the nearest-class-mean rule.

    For each class k, the fraction of its samples (by label) with argmax_j (W h + b)_j ==
    argmin_j ||h - h_bar_j||: 1 - the per-class NC4 mismatch (Papyan et al. 2020, Fig. 7;
    the per-class "hits / samples" rate of Wu & Papyan 2024). Their count-weighted mean is
    1 - ``nc4_ncc_mismatch``.

    Parameters
    ----------
    features : array_like, shape (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like of int, shape (N,)
        The class y_i in 0..K-1 of each sample.
    weight : array_like, shape (K, d) or (..., K, d)
        The classifier W.
    bias : array_like, shape (K,) or (..., K), optional
        Its bias b (default none).
    means : array_like, shape (..., K, d), optional
        Class means for the NCC rule; default the features' own.
    num_classes : int, optional
        K (default max(label) + 1).

    Returns
    -------
    ndarray of shape (..., K)
        Per class (by label), the fraction of its samples where the classifier and the
        nearest class mean agree.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, ``weight``/``bias`` not of shape (K, d)/(K,) (or batched), or ``means``
        not of shape (..., K, d).

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117.
    R. Wu, V. Papyan, "Linguistic collapse", NeurIPS 2024, arXiv:2405.17767.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[-1.0, 0.0], [-2.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    >>> W = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    >>> agreement_per_class(X, torch.tensor([0, 0, 1, 1]), W).tolist()
    [1.0, 1.0]
    """
    x, y, K, m = _prepare(features, labels, num_classes, means)
    lead = x.shape[:-2]
    w = _checks.check_weight(weight, x, K, lead)
    b = None if bias is None else _checks.check_bias(bias, x, K, lead)
    with torch.no_grad():
        ncc, net = predictions(x, m, w, b)
        return to_python(_per_class_rate(ncc == net, y, K).to(x.dtype))


# ----------------------------------------------------------------------------- covariances


def _residual_chunks(x: torch.Tensor, y: torch.Tensor, means: torch.Tensor):
    step = max(1, _CHUNK_ELEMENTS // max(1, x[..., 0, :].numel()))
    for start in range(0, x.shape[-2], step):
        yc = y[start : start + step]
        yield x[..., start : start + step, :] - means.index_select(-2, yc)


def within_class_covariance(
    features: Any, labels: Any, *, means: Any | None = None, num_classes: int | None = None
) -> Any:
    """Sigma_W = (1/N) sum_i (h_i - h_bar_{y_i})(h_i - h_bar_{y_i})^T, shape (..., d, d).

    Accumulated chunk by chunk (O(N d^2) time, O(d^2) memory per batch element); the
    statistics of :class:`nclab.metrics.StreamingStats` give the same matrix in one pass.

    Parameters
    ----------
    features : array_like, shape (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like of int, shape (N,)
        The class y_i in 0..K-1 of each sample.
    means : array_like, shape (..., K, d), optional
        Class means to centre with; default the features' own.
    num_classes : int, optional
        K (default max(label) + 1).

    Returns
    -------
    ndarray of shape (..., d, d)
        Sigma_W.

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1, or ``means`` not of shape (..., K, d).

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117 (Sigma_W of NC1).

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [5.0, 1.0], [5.0, -1.0]])
    >>> within_class_covariance(X, torch.tensor([0, 0, 1, 1])).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    x, y, K, m = _prepare(features, labels, num_classes, means)
    with torch.no_grad():
        return to_python(within_covariance_from(x, y, m))


def within_covariance_from(x: torch.Tensor, y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Tensor form of :func:`within_class_covariance`, on checked tensors (no input checks).

    Parameters
    ----------
    x : torch.Tensor, shape (..., N, d)
        The features.
    y : torch.Tensor, shape (N,), int64
        Their classes in 0..K-1.
    means : torch.Tensor, shape (..., K, d)
        The class means to centre with.

    Returns
    -------
    sigma_w : torch.Tensor, shape (..., d, d)
        (1/N) sum_i (h_i - h_bar_{y_i})(h_i - h_bar_{y_i})^T.

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho (2020), doi:10.1073/pnas.2015509117 (Sigma_W of NC1).

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [5.0, 1.0], [5.0, -1.0]], dtype=torch.float64)
    >>> means = torch.tensor([[0.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    >>> within_covariance_from(X, torch.tensor([0, 0, 1, 1]), means).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    d = x.shape[-1]
    lead = torch.broadcast_shapes(x.shape[:-2], means.shape[:-2])
    S = x.new_zeros(*lead, d, d)
    for r in _residual_chunks(x, y, means):
        S += r.mT @ r
    return S / x.shape[-2]


#: What :func:`within_stable_rank` takes the stable rank of.
STABLE_RANK_OF = ("covariance", "activations")


def stable_rank_from(sigma: torch.Tensor, of: str = "covariance") -> torch.Tensor:
    """Tensor form of :func:`within_stable_rank`, on a checked tensor (no input checks).

    Parameters
    ----------
    sigma : torch.Tensor, shape (..., d, d)
        A symmetric PSD matrix, e.g. Sigma_W (negative eigenvalues of rounding are clamped at 0).
    of : {"covariance", "activations"}, default "covariance"
        sum lambda_j^2 / lambda_1^2 (the matrix's stable rank), or tr / lambda_1 (that of its
        square root, the residual matrix).

    Returns
    -------
    srank : torch.Tensor, shape (...)
        The stable rank; NaN for a zero matrix.

    References
    ----------
    M. Rudelson, R. Vershynin, "Sampling from large matrices: an approach through geometric
    functional analysis", J. ACM 54 (2007), doi:10.1145/1255443.1255449.

    Examples
    --------
    Eigenvalues (2, 1, 0): (4 + 1) / 4 = 1.25 for the covariance, (2 + 1) / 2 = 1.5 for the
    activations:

    >>> import torch
    >>> sigma = torch.diag(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64))
    >>> stable_rank_from(sigma).item(), stable_rank_from(sigma, "activations").item()
    (1.25, 1.5)
    """
    with decomposition_threads():
        lam = torch.linalg.eigvalsh(sigma).clamp_min(0.0)
    top = lam[..., -1]
    if of == "covariance":
        return lam.square().sum(dim=-1) / top.square()
    return lam.sum(dim=-1) / top


def within_stable_rank(sigma_w: Any, *, of: str = "covariance") -> Any:
    """Stable rank of the within-class covariance Sigma_W (or of the activations).

    The stable rank of a matrix A is ||A||_F^2 / ||A||_2^2 (Rudelson & Vershynin 2007), at
    most its rank and robust to small singular values. With eigenvalues lambda_1 >= ... of
    Sigma_W:

    - ``of="covariance"`` (default): srank(Sigma_W) = sum lambda_j^2 / lambda_1^2;
    - ``of="activations"``: srank of the N x d matrix of within-class residuals
      h_i - h_bar_{y_i} (= Sigma_W^(1/2) up to scale) = tr Sigma_W / lambda_1.

    NaN when Sigma_W = 0 (full within-class collapse).

    Parameters
    ----------
    sigma_w : array_like, shape (..., d, d)
        Symmetric PSD, e.g. :func:`within_class_covariance`.
    of : {"covariance", "activations"}
        The stable rank of Sigma_W (default), or of the residual matrix.

    Returns
    -------
    float or ndarray of shape (...)
        The stable rank (NaN when Sigma_W = 0).

    Raises
    ------
    ValueError
        If ``of`` is not "covariance" or "activations", or ``sigma_w`` is not a real array of
        square matrices (..., d, d).

    References
    ----------
    M. Rudelson, R. Vershynin, "Sampling from large matrices: an approach through geometric
    functional analysis", J. ACM 54 (2007), doi:10.1145/1255443.1255449.

    Examples
    --------
    >>> import torch
    >>> within_stable_rank(torch.diag(torch.tensor([1.0, 1.0, 0.0])))
    2.0
    """
    check_choice("of", of, STABLE_RANK_OF)
    S = as_float_tensor(sigma_w, "sigma_w")
    if S.ndim < 2 or S.shape[-1] != S.shape[-2]:
        fail("sigma_w", f"an array of shape {tuple(S.shape)}", "a square matrix (..., d, d)")
    with torch.no_grad():
        return to_python(stable_rank_from(S, of))


def class_covariance_spectra(features: Any, labels: Any, *, num_classes: int | None = None) -> Any:
    """Eigenvalues of each class's covariance, descending: shape (..., K, d).

    Sigma_k = (1/n_k) sum_{i in k} (h_i - h_bar_k)(h_i - h_bar_k)^T. The class covariances
    together hold K d^2 numbers (K = 1,000 classes in d = 512: 2 GiB of float64), so a
    one-pass streaming form would need K d^2 memory; this full-batch form takes one class at a
    time, O(n_k d min(n_k, d)) time and O(d^2) memory per batch element (through the
    n_k x n_k Gram matrix when n_k < d, whose nonzero eigenvalues are the same).
    sum_k (n_k / N) Sigma_k = Sigma_W (:func:`within_class_covariance`).

    Parameters
    ----------
    features : array_like, shape (..., N, d)
        The features h_i, one row per sample (a batch shares ``labels``).
    labels : array_like of int, shape (N,)
        The class y_i in 0..K-1 of each sample.
    num_classes : int, optional
        K (default max(label) + 1).

    Returns
    -------
    ndarray of shape (..., K, d)
        Row k: the eigenvalues of Sigma_k, descending (zeros past min(n_k, d)).

    Raises
    ------
    ValueError
        If ``features`` is not a finite real array of shape (..., N, d), ``labels`` not N
        integers in 0..K-1.

    References
    ----------
    V. Papyan, "Traces of class/cross-class structure pervade deep learning spectra", JMLR 21
    (2020), arXiv:2008.11865.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [5.0, 2.0], [5.0, -2.0]])
    >>> class_covariance_spectra(X, torch.tensor([0, 0, 1, 1])).tolist()
    [[1.0, 0.0], [4.0, 0.0]]
    """
    x, y, K, m = _prepare(features, labels, num_classes, None)
    with torch.no_grad():
        return to_python(class_spectra_from(x, y, m))


def class_spectra_from(x: torch.Tensor, y: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Tensor form of :func:`class_covariance_spectra`, on checked tensors (no input checks).

    Parameters
    ----------
    x : torch.Tensor, shape (..., N, d)
        The features.
    y : torch.Tensor, shape (N,), int64
        Their classes in 0..K-1.
    means : torch.Tensor, shape (..., K, d)
        The class means h_bar_k.

    Returns
    -------
    spectra : torch.Tensor, shape (..., K, d)
        Row k: the eigenvalues of Sigma_k, descending (zeros past min(n_k, d)).

    References
    ----------
    V. Papyan, "Traces of class/cross-class structure pervade deep learning spectra", JMLR 21
    (2020), arXiv:2008.11865.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [5.0, 2.0], [5.0, -2.0]], dtype=torch.float64)
    >>> means = torch.tensor([[0.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    >>> class_spectra_from(X, torch.tensor([0, 0, 1, 1]), means).tolist()
    [[1.0, 0.0], [4.0, 0.0]]
    """
    K, d = means.shape[-2:]
    out = x.new_zeros(*x.shape[:-2], K, d)
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y, minlength=K).tolist()
    start = 0
    for k, n in enumerate(counts):
        idx = order[start : start + n]
        start += n
        R = x.index_select(-2, idx) - means[..., k : k + 1, :]
        G = R @ R.mT if n < d else R.mT @ R
        with decomposition_threads():
            lam = torch.linalg.eigvalsh(G / n).flip(-1).clamp_min(0.0)
        out[..., k, : lam.shape[-1]] = lam
    return out


def sample_metrics(
    names: list[str], stats: ClassStatistics, x: torch.Tensor, y: torch.Tensor,
    weight: torch.Tensor | None, bias: torch.Tensor | None, sigma_w: torch.Tensor | None = None,
    labels_given: tuple | None = None,
) -> dict[str, torch.Tensor]:
    """The pass-over-the-samples names of ``collapse(extra=...)``.

    Parameters
    ----------
    names : list of str
        Checked names of ``extra``; those of this module are computed (``ncc_accuracy``,
        ``agreement_per_class``, ``class_covariance_spectra``, ``within_stable_rank``), the
        others ignored.
    stats : ClassStatistics
        The statistics of the features (its class means are the NCC rule's).
    x : torch.Tensor, shape (..., N, d)
        The features.
    y : torch.Tensor, shape (N,), int64
        Their classes.
    weight : torch.Tensor, shape (..., K, d), or None
        The classifier (``agreement_per_class`` needs it).
    bias : torch.Tensor, shape (..., K), or None
        Its bias.
    sigma_w : torch.Tensor, shape (..., d, d), optional
        Sigma_W, if already computed.
    labels_given : tuple, optional
        (NCC labels, classifier labels or None), if already computed (:func:`predictions`).

    Returns
    -------
    values : dict of str to torch.Tensor
        One tensor per computed name.

    Examples
    --------
    Class means 0.5 and 4; the NCC rule errs on h = 2, the classifier (W h)_k = +-h_1 on
    h = 1 and h = 2:

    >>> import torch
    >>> from nclab.metrics import class_statistics
    >>> X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [6.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> W = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    >>> out = sample_metrics(["ncc_accuracy", "agreement_per_class", "class_covariance_spectra"],
    ...                      class_statistics(X, y), X, y, W, None)
    >>> {k: v.tolist() for k, v in out.items()}
    {'ncc_accuracy': 0.75, 'agreement_per_class': [0.5, 0.5], 'class_covariance_spectra': [[0.25, 0.0], [4.0, 0.0]]}
    """
    out: dict[str, torch.Tensor] = {}
    K = stats.num_classes
    if "ncc_accuracy" in names or "agreement_per_class" in names:
        if labels_given is None or ("agreement_per_class" in names and labels_given[1] is None):
            labels_given = predictions(x, stats.means, weight if "agreement_per_class" in names else None, bias)
        ncc, net = labels_given
        if "ncc_accuracy" in names:
            out["ncc_accuracy"] = (ncc == y).to(x.dtype).mean(dim=-1)
        if net is not None:
            out["agreement_per_class"] = _per_class_rate(ncc == net, y, K).to(x.dtype)
    if "class_covariance_spectra" in names:
        out["class_covariance_spectra"] = class_spectra_from(x, y, stats.means)
    if "within_stable_rank" in names:
        if sigma_w is None:
            sigma_w = within_covariance_from(x, y, stats.means)
        out["within_stable_rank"] = stable_rank_from(sigma_w)
    return out
