"""Per-layer neural collapse metrics and logit spectra of UFM parameters, batched over seeds.

Layer names: ``h1`` is H_1; ``h2``..``hL`` the outputs X_1..X_{L-1} of the hidden layers
(after the activation); for ReLU models ``a2``..``aL`` are the pre-activations A_1..A_{L-1}
(docs/math.md §2.14, deep neural collapse). Metrics come from :func:`nclab.metrics.collapse` on the
sample-major view X^T (N x d); the last features X_{L-1} get the classifier W_L and b, the
other layers no classifier. Columns are ``<metric>_<layer>`` (e.g. ``nc1_h1``).

Logit spectra: ``svZ_1..svZ_K`` singular values of Z (K x N), ``svZbar_1..svZbar_K`` those of
the class-mean logits Zbar (K x K), in decreasing order.
"""
from __future__ import annotations

import torch

from nclab import _threads
from nclab.classwise import global_mean_weights
from nclab.layout import class_ordered_means
from nclab.metrics._core import ClassStatistics, metrics_from_statistics, pair_distances, spectral_basis
from nclab.metrics.collapse import KEYS as COLLAPSE_KEYS
from nclab.ufm.objective import forward_all
from nclab.ufm.spec import UFMParams, UFMSpec


def layer_features(spec: UFMSpec, params: UFMParams) -> dict[str, torch.Tensor]:
    """``{layer name: features (S, d, N)}`` in the papers' orientation (see module doc).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    dict of str to torch.Tensor
        ``h1``..``hL`` (and ``a2``..``aL`` for ReLU models), each (S, d, N).

    References
    ----------
    Garrod & Keating, arXiv:2410.23169 (deep UFM, deep neural collapse; docs/math.md §2.14, §6.1).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> {k: tuple(v.shape) for k, v in layer_features(spec, params).items()}
    {'h1': (2, 4, 6), 'h2': (2, 4, 6)}
    """
    out = forward_all(spec, params)
    feats = {f"h{i + 1}": X for i, X in enumerate(out.layers)}
    if spec.activation == "relu":
        feats.update({f"a{i + 2}": A for i, A in enumerate(out.pre)})
    return feats


def _svdvals(A: torch.Tensor) -> torch.Tensor:
    """Singular values (..., k) of A (..., k, m), k <= m, decreasing.

    Below float64 they come from the eigenvalues of the float64 Gram matrix A A^T (batched
    small eighs cost several times less than batched small SVDs on the CPU; the float64 Gram
    resolves singular values down to ~1e-8 s_1, finer than the input's own precision, the
    argument of :func:`nclab.metrics._core.spectral_basis`). float64 inputs keep the direct SVD.
    """
    if A.dtype == torch.float64 or A.shape[-2] > A.shape[-1]:
        return torch.linalg.svdvals(A)
    a = A.double()
    return torch.linalg.eigvalsh(a @ a.mT).flip(-1).clamp_min(0.0).sqrt().to(A.dtype)


def logit_spectra(spec: UFMSpec, Z: torch.Tensor, Zbar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Singular values of Z (S, K, N) and of its class means (S, K, K), as columns of (S,).

    Parameters
    ----------
    spec : UFMSpec
        The model (gives n).
    Z : torch.Tensor, shape (S, K, N)
        Class-ordered logits.
    Zbar : torch.Tensor, shape (S, K, K), optional
        Its class means, when the caller has them (default: computed from Z).

    Returns
    -------
    dict of str to torch.Tensor
        ``svZ_1..svZ_K`` and ``svZbar_1..svZbar_K``, decreasing, each of shape (S,).

    References
    ----------
    Garrod & Keating, arXiv:2410.23169 (deep UFM, deep neural collapse; docs/math.md §2.14, §6.1).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> from nclab.ufm.objective import forward
    >>> sorted(logit_spectra(spec, forward(spec, params)[0]))
    ['svZ_1', 'svZ_2', 'svZ_3', 'svZbar_1', 'svZbar_2', 'svZbar_3']
    """
    if Zbar is None:
        Zbar = class_ordered_means(Z, spec.n)
    sv = _svdvals(Z)
    svbar = _svdvals(Zbar)
    out = {f"svZ_{i + 1}": sv[..., i] for i in range(sv.shape[-1])}
    out.update({f"svZbar_{i + 1}": svbar[..., i] for i in range(svbar.shape[-1])})
    return out


def class_ordered_collapse(X: torch.Tensor, n: int, weight: torch.Tensor | None = None,
                           bias: torch.Tensor | None = None, Z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The metrics of :func:`nclab.metrics.collapse` for class-ordered features, batched.

    Equal to ``collapse(X.mT, class_ordered_labels(K, n), weight, bias, undefined="omit")``
    (global mean of the class means), computed for the UFM
    layout in one pass: the class means are a reshape-mean over blocks of n columns, the
    residuals a broadcast subtraction, their projections on the singular directions of M~ one
    batched product, and NC4's classifier labels the argmax of the logits ``Z`` the step
    already has. The metrics themselves are :func:`nclab.metrics._core.metrics_from_statistics`.

    Parameters
    ----------
    X : torch.Tensor, shape (S, d, N)
        Features as columns, class-ordered (N = K n).
    n : int
        Samples per class.
    weight : torch.Tensor, shape (S, K, d), optional
        The classifier (with ``Z``): adds the classifier metrics and NC4.
    bias : torch.Tensor, shape (S, K), optional
        Its bias (adds ``bias_norm``).
    Z : torch.Tensor, shape (S, K, N), optional
        The logits ``weight @ X + b`` (needed with ``weight``).

    Returns
    -------
    dict of str to torch.Tensor
        The keys of :func:`nclab.metrics.collapse` (ETF keys left out when d < K - 1),
        each of shape (S,).

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (NC1-NC4; docs/math.md §2).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> X = torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
    >>> sorted(class_ordered_collapse(X, 2))[:3]
    ['cdnv', 'equiangularity_features', 'equinorm_features']
    """
    return _collapse_layers([X], n, weight, bias, Z)[0]


#: Keys of :func:`nclab.metrics.collapse` that need the classifier (only the last layer has them).
_CLASSIFIER_KEYS = frozenset({"nc2_etf_weight", "equinorm_weight", "equiangularity_weight", "nc3_duality",
                              "nc3_structure", "bias_norm", "nc4_ncc_mismatch"})


def _collapse_layers(Xs: list[torch.Tensor], n: int, weight: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None, Z: torch.Tensor | None = None) -> list[dict[str, torch.Tensor]]:
    """:func:`class_ordered_collapse` of several layers' features (S, d, N) at once.

    The classifier (``weight``, ``bias``, ``Z``) belongs to the last entry of ``Xs``. The big
    per-layer passes (class means, residuals, their projections) run layer by layer; the
    statistics are then stacked (G, S, ...) so that :func:`metrics_from_statistics` runs once for
    all G layers instead of once a layer (its ops are many and small: the dispatch, not the
    arithmetic, is what they cost). The values are those of one call a layer.
    """
    S, d, N = Xs[0].shape
    K = N // n
    counts = torch.full((K,), n, dtype=torch.long, device=Xs[0].device)
    w = global_mean_weights(counts, "classes", Xs[0].dtype)
    means_cols = [X.reshape(S, d, K, n).mean(-1) for X in Xs]   # (S, d, K) class means as columns
    means = torch.stack(means_cols).mT.contiguous()           # (G, S, K, d), rows h_bar_k
    mu = means.mean(dim=-2)
    centred = means - mu.unsqueeze(-2)
    # layer by layer: the spectral basis (stacking the eighs gains nothing, their cost is per
    # matrix), the residuals, their projections, then their squares in place; one residual
    # buffer for all layers (a fresh S x d x N temporary costs more than the arithmetic on it:
    # new pages)
    bases, svals, projected, within = [], [], [], []
    R = Xs[0].new_empty(S, d, N)
    for X, m, c in zip(Xs, means_cols, centred):
        V, s = spectral_basis(c, w)                           # (S, d, q), (S, q)
        torch.sub(X.reshape(S, d, K, n), m.unsqueeze(-1), out=R.view(S, d, K, n))  # h_i - h_bar_{y_i}
        RV = V.mT @ R                                         # (S, q, N)
        bases.append(V)
        svals.append(s)
        projected.append(RV.square().sum(dim=-1))
        within.append(R.square_().sum(dim=1))                 # (S, N); R is free again
    within_sq = torch.stack(within).reshape(len(Xs), S, K, n).sum(-1)
    rv_last = RV
    stats = ClassStatistics(counts, means, mu, centred, within_sq, N, torch.stack(bases), torch.stack(svals),
                            torch.stack(projected))
    values = metrics_from_statistics(stats, weight, bias)
    last = len(Xs) - 1
    out = [{k: v[g] for k, v in values.items() if g == last or k not in _CLASSIFIER_KEYS} for g in range(len(Xs))]
    if weight is not None:
        # nearest class mean: ||h - m_k||^2 - ||r||^2 = ||m_y - m_k||^2 - 2 r.m~_k + const (as collapse)
        B = centred[last] @ bases[last]                       # (S, K, q)
        D = pair_distances(centred[last])                     # (S, K, K)
        y = torch.arange(K, device=Xs[0].device).repeat_interleave(n)
        scores = (rv_last.mT @ B.mT).mul_(-2.0).add_(D.index_select(-2, y))
        ncc = scores.min(dim=-1).indices                      # (S, N)
        net = Z.max(dim=-2).indices                           # argmax_k of the logits, first on ties
        out[last]["nc4_ncc_mismatch"] = (ncc != net).sum(dim=-1).to(Xs[0].dtype) / N
    return [{k: layer[k] for k in COLLAPSE_KEYS if k in layer} for layer in out]


def layer_metrics(spec: UFMSpec, params: UFMParams, *, collapse: bool = True) -> dict[str, torch.Tensor]:
    """Per-layer NC metrics and logit spectra, each a tensor of shape (S,) (see module doc).

    With ``collapse=False`` only the spectra are returned. One forward pass gives every layer's
    features and the logits; the metrics are those of :func:`nclab.metrics.collapse`, computed
    by :func:`class_ordered_collapse` (the UFM layout is class-ordered), the spectra by
    :func:`logit_spectra`.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.
    collapse : bool, optional
        Compute the per-layer metrics of :func:`nclab.metrics.collapse` (default True).

    Returns
    -------
    dict of str to torch.Tensor
        Columns ``<metric>_<layer>`` and the logit spectra, each of shape (S,).

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (NC1-NC4); Garrod & Keating,
    arXiv:2410.23169 (deep neural collapse, docs/math.md §2.14).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> m = layer_metrics(spec, params)
    >>> "nc1_h1" in m, tuple(m["svZ_1"].shape)
    (True, (2,))
    """
    with torch.no_grad():
        out = forward_all(spec, params)
        S, d, N = out.layers[0].shape
        # after the forward pass the ops are small (the largest, the projections of the residuals,
        # 2 S K d N flops): the thread policy's count for them, one thread below its threshold
        # (nclab._threads; beside other work, two threads on ops this small stall each other)
        with _threads.for_work(2.0 * S * spec.K * d * N):
            result = logit_spectra(spec, out.Z)
            if not collapse:
                return result
            feats = {f"h{i + 1}": X for i, X in enumerate(out.layers)}
            if spec.activation == "relu":
                feats.update({f"a{i + 2}": A for i, A in enumerate(out.pre)})
            last = f"h{spec.L}"
            names = [name for name in feats if name != last] + [last]   # the classifier's layer last
            per_layer = _collapse_layers([feats[name] for name in names], spec.n, params.W[-1], params.b, out.Z)
        by_name = dict(zip(names, per_layer))
        for name in feats:  # columns in the order h1..hL, a2..aL
            for key, value in by_name[name].items():
                result[f"{key}_{name}"] = value
        return result
