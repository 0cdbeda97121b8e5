"""Shared machinery of the neural collapse metrics: input checks and sufficient statistics.

Every metric of docs/math.md §2 is a function of a few statistics of the features:
class counts n_k, class means M (K x d, rows), the global mean h_bar_G, the per-class
within-class sums of squares sum_{i in k} ||h_i - h_bar_k||^2, and, for NC1, the within-class
covariance projected on the span of the centred means. :class:`ClassStatistics` holds them;
the full-batch path (``collapse``) and the streaming path (``StreamingStats``) both fill one
and hand it to :func:`metrics_from_statistics`, so the two agree by construction.

NC1 (Papyan et al. 2020) is (1/K) tr(Sigma_W Sigma_B^+) with Sigma_B = (1/K) M~^T M~. With the
SVD M~ = U S V^T this is sum_j (v_j^T Sigma_W v_j) / s_j^2 over the singular directions kept by
the rank tolerance: the cost is that of projecting the features on V (N x d x K), never a
d x d pseudo-inverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nclab import _threads
from nclab._tensor import to_python
from nclab._validation import fail
from nclab.classwise import class_means, global_mean_weights
from nclab.geometry import center, etf_gram
from nclab.metrics._checks import ETF_KEYS


@dataclass
class ClassStatistics:
    """Sufficient statistics of a labelled feature set for every collapse metric.

    Both paths to the metrics fill one: :func:`nclab.metrics.class_statistics` (full batch) and
    :meth:`StreamingStats.statistics` / :meth:`ProjectedStats.statistics` (batches, which
    ``update`` and ``merge`` accumulate); :func:`metrics_from_statistics` reads every metric of
    docs/math.md §2 from it, so the two paths agree by construction. A leading batch shape
    ``...`` (features (..., N, d) sharing one label vector) is carried by every field but
    ``counts`` and ``num_samples``.

    Parameters
    ----------
    counts : torch.Tensor, shape (K,), int64
        n_k, the number of samples of each class.
    means : torch.Tensor, shape (..., K, d)
        The class means h_bar_k as rows.
    global_mean : torch.Tensor, shape (..., d)
        h_bar_G = sum_k w_k h_bar_k (the mean of the class means, or the sample mean, as the
        ``global_mean`` option chose; :func:`nclab.classwise.global_mean_weights`).
    centred_means : torch.Tensor, shape (..., K, d)
        M~, rows h_bar_k - h_bar_G.
    within_sq : torch.Tensor, shape (..., K)
        sum_{i in class k} ||h_i - h_bar_k||^2, so tr Sigma_W = within_sq.sum(-1) / N.
    num_samples : int
        N = sum_k n_k.
    basis : torch.Tensor, shape (..., d, q)
        Right singular vectors v_j of M~ (q = min(K - 1, d) once the structural null direction
        of M~ is projected out, :func:`spectral_basis`).
    singular_values : torch.Tensor, shape (..., q)
        The singular values s_j of M~ belonging to ``basis``.
    within_projected : torch.Tensor, shape (..., q), optional
        sum_i ((h_i - h_bar_{y_i}) . v_j)^2 = N v_j^T Sigma_W v_j, what NC1 needs; None when
        not computed (``project=False``, or a :class:`ProjectedStats` before its second pass).

    Attributes
    ----------
    num_classes : int
        K, the length of ``counts``.
    dim : int
        d, the feature dimension.

    References
    ----------
    Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 2020, doi:10.1073/pnas.2015509117: NC1 = (1/K) tr(Sigma_W Sigma_B^+)
    with Sigma_B = (1/K) M~^T M~, here sum_j (v_j^T Sigma_W v_j) / s_j^2 over the kept directions.

    Examples
    --------
    Centred means on a simplex ETF (K = d = 3): M~ = I - 11^T/3 is a projection, so its two
    kept singular values are 1; each of the six residuals +-e (||e||^2 = 0.01) has 2/3 of its
    square in span(M~), 0.04 in all, split evenly over the two directions:

    >>> import torch
    >>> from nclab.metrics import StreamingStats, class_statistics
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> stats = class_statistics(H, y)
    >>> stats.num_classes, stats.dim, stats.num_samples, stats.counts.tolist()
    (3, 3, 6, [2, 2, 2])
    >>> [round(v, 6) for v in stats.within_sq.tolist()]
    [0.02, 0.02, 0.02]
    >>> [round(v, 6) for v in stats.singular_values.tolist()], [round(v, 6) for v in stats.within_projected.tolist()]
    ([1.0, 1.0], [0.02, 0.02])

    The same statistics from two batches, each accumulated by ``update`` and then merged:

    >>> a = StreamingStats(num_classes=3, dim=3).update(H[:3], y[:3])
    >>> b = StreamingStats(num_classes=3, dim=3).update(H[3:], y[3:])
    >>> merged = a.merge(b).statistics()
    >>> merged.counts.tolist(), torch.allclose(merged.means, stats.means)
    ([2, 2, 2], True)
    >>> torch.allclose(merged.within_sq, stats.within_sq), torch.allclose(merged.within_projected, stats.within_projected)
    (True, True)
    """

    counts: torch.Tensor
    means: torch.Tensor
    global_mean: torch.Tensor
    centred_means: torch.Tensor
    within_sq: torch.Tensor
    num_samples: int
    basis: torch.Tensor
    singular_values: torch.Tensor
    within_projected: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        """K, the number of classes (length of ``counts``)."""
        return int(self.counts.shape[0])

    @property
    def dim(self) -> int:
        """d, the feature dimension (last axis of ``means``)."""
        return int(self.means.shape[-1])


def check_statistics(stats: Any, name: str = "stats") -> ClassStatistics:
    """``stats`` itself if it is a :class:`ClassStatistics`; a ValueError naming ``name`` otherwise."""
    if not isinstance(stats, ClassStatistics):
        fail(name, type(stats).__name__,
             "a ClassStatistics (nclab.metrics.class_statistics or StreamingStats.statistics())")
    return stats


def decomposition_threads():
    """Context for the dense eigensolvers and SVDs of the further measurements: one intra-op
    thread unless the user chose a count (``nclab._threads.for_work`` of a work below its
    threshold).

    LAPACK's symmetric eigensolver at these sizes (d or n_k of a few hundred) is bound by its
    BLAS2 tridiagonal reduction, which a second thread slows down: on the project's 2-core
    machine ``eigvalsh`` of a 500 x 500 float32 matrix took 12.8 ms on one thread and 24.6 ms on
    two (load ~1), 41 ms against 282 ms beside other work (load ~12) (bench/RESULTS.md, metrics
    section).
    """
    return _threads.for_work(0.0)


def default_rtol(K: int, d: int, dtype: torch.dtype) -> float:
    """Default relative rank tolerance of M~: max(K, d) * eps(dtype), the LAPACK/numpy convention."""
    return max(K, d) * torch.finfo(dtype).eps


# ----------------------------------------------------------------------------- statistics


#: Weights w (K,) with h_bar_G = sum_k w_k h_bar_k (:func:`nclab.classwise.global_mean_weights`).
mean_weights = global_mean_weights


def complement_basis(w: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis Q (K x (K-1)) of the orthogonal complement of w (Householder).

    M~ = M - 1 w^T M satisfies w^T M~ = 0 exactly in exact arithmetic, so M~^T M~ =
    (Q^T M~)^T (Q^T M~): projecting on Q removes the structural null direction of M~ exactly,
    instead of leaving a rounding-size singular value to the rank tolerance.
    """
    K = w.shape[0]
    u = w / torch.linalg.vector_norm(w)
    v = u.clone()
    v[0] -= 1.0
    vv = torch.dot(v, v)
    H = torch.eye(K, dtype=w.dtype, device=w.device)
    if float(vv) > 0:
        H = H - 2.0 * torch.outer(v, v) / vv
    return H[:, 1:]


def spectral_basis(centred: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right singular vectors V (..., d, q) and singular values (..., q) of M~ (..., K, d).

    The left null direction w of M~ is projected out first (:func:`complement_basis`), so
    q = min(K - 1, d) and the singular values are those of M~ but its structural zero.

    For inputs below float64 with K - 1 <= d, the SVD is taken through the (K-1) x (K-1) Gram
    matrix in float64 (eigh, then V = M~^T U / s): batched small SVDs cost several times more
    than batched small eighs on the CPU, and the float64 Gram resolves singular values down to
    ~1e-8 s_1, far below the input's own rank tolerance (max(K, d) eps >= 1e-5 in float32).
    Directions with s below that resolution are left as zero columns (they fall under any rank
    tolerance of the input's dtype). float64 inputs keep the direct SVD.
    """
    Q = complement_basis(w)
    reduced = Q.mT @ centred  # (..., K-1, d)
    q = reduced.shape[-2]
    if reduced.dtype != torch.float64 and q <= reduced.shape[-1]:
        r64 = reduced.double()
        evals, U = torch.linalg.eigh(r64 @ r64.mT)  # ascending
        s = evals.flip(-1).clamp_min(0.0).sqrt()
        U = U.flip(-1)
        floor = 1e-8 * s[..., :1]
        inv = torch.where(s > floor, 1.0 / s.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(s))
        # M~^T U as (U^T M~)^T: the same products bit for bit, ~8% faster for the history's 256
        # 9 x 70 matrices (bench/RESULTS.md, "Default recording"); V keeps the transposed strides
        V = (U.mT @ r64).mT * inv.unsqueeze(-2)
        return V.to(reduced.dtype), s.to(reduced.dtype)
    _, s, vh = torch.linalg.svd(reduced, full_matrices=False)
    return vh.mT, s


def _chunk_rows(x: torch.Tensor) -> int:
    """Rows per chunk of the residual pass: ~1M elements on the CPU (cache-sized, no big
    temporaries), ~64M on an accelerator."""
    per_row = max(1, x[..., 0, :].numel())
    budget = 1 << (26 if x.device.type != "cpu" else 20)
    return max(64, budget // per_row)


def full_batch_statistics(
    x: torch.Tensor,
    labels: torch.Tensor,
    K: int,
    weighting: str,
    *,
    project: bool = True,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    predictions: list | None = None,
    reference: ClassStatistics | None = None,
) -> tuple[ClassStatistics, torch.Tensor | None]:
    """Statistics of features x (..., N, d) with labels (N,), computed in x's dtype.

    Two passes over x: the class sums (index_add, O(N d)), then, chunk by chunk, the residuals
    r_i = h_i - h_bar_{y_i}, their squared norms, their projections r_i V on the singular
    directions of M~ (O(N d K)), and with ``weight`` the NC4 comparison. Returns the statistics
    and the number of NC4 mismatches (..., ) (None without ``weight``). No N x d temporary.
    A list ``predictions`` receives, chunk by chunk, (nearest-class-mean labels, classifier
    labels or None), each (..., chunk) int64.

    With ``reference`` (the statistics of another set, e.g. the training set) the class means,
    global mean, centred means and their singular directions are the reference's, and only
    the residuals h_i - h_bar_{y_i} (and NC4) come from x: the held-out measurement.
    """
    N, d = x.shape[-2:]
    counts = torch.bincount(labels, minlength=K)
    lead = x.shape[:-2]
    if reference is None:
        means = class_means(x, labels, K)
        w = global_mean_weights(counts, weighting, x.dtype)
        mu = (w.unsqueeze(-1) * means).sum(dim=-2)
        centred = means - mu.unsqueeze(-2)
        basis, svals = spectral_basis(centred, w)
    else:
        def like(t: torch.Tensor, core: int) -> torch.Tensor:  # the reference's, broadcast to x's leading axes
            t = t.to(dtype=x.dtype, device=x.device)
            return t.expand(*lead, *t.shape[t.ndim - core:])

        means, mu, centred = like(reference.means, 2), like(reference.global_mean, 1), like(reference.centred_means, 2)
        basis, svals = like(reference.basis, 2), like(reference.singular_values, 1)
    within_sq = x.new_zeros(*lead, K)
    ncc_needed = weight is not None or predictions is not None
    within_projected = x.new_zeros(*lead, basis.shape[-1]) if project or ncc_needed else None
    mismatches = None
    if weight is not None:
        mismatches = torch.zeros(lead, dtype=torch.int64, device=x.device)
    if ncc_needed:
        B = centred @ basis  # (..., K, q): coordinates of m~_k in span(V)
        D = pair_distances(centred)  # (..., K, K)
    step = min(_chunk_rows(x), N)
    # reused buffers: large fresh temporaries per chunk cost page faults on the CPU
    r_buf = x.new_empty(*lead, step, d)
    rv_buf = x.new_empty(*lead, step, basis.shape[-1]) if within_projected is not None else None
    for start in range(0, N, step):
        y = labels[start : start + step]
        xc = x[..., start : start + step, :]
        m = y.shape[0]
        r = r_buf if m == step else r_buf[..., :m, :].contiguous()
        torch.index_select(means, -2, y, out=r)
        torch.sub(xc, r, out=r)  # r_i = h_i - h_bar_{y_i}
        within_sq.index_add_(-1, y, torch.linalg.vector_norm(r, dim=-1).square())
        if within_projected is None:
            continue
        rv = rv_buf if m == step else rv_buf[..., :m, :].contiguous()
        torch.matmul(r, basis, out=rv)
        within_projected += torch.linalg.vector_norm(rv, dim=-2).square()
        if ncc_needed:
            # ||h - m_k||^2 - ||r||^2 = ||m_y - m_k||^2 + 2 r.(m~_y - m~_k); argmin over k
            scores = rv @ B.mT
            scores.mul_(-2.0).add_(D.index_select(-2, y))
            ncc = scores.min(dim=-1).indices
            net = None if weight is None else classifier_predictions(xc, weight, bias)
            if weight is not None:
                mismatches += (ncc != net).sum(dim=-1)
            if predictions is not None:
                predictions.append((ncc, net))
    stats = ClassStatistics(counts, means, mu, centred, within_sq, N, basis, svals, within_projected)
    return stats, mismatches


# ----------------------------------------------------------------------------- metrics


def nc1_from(stats: ClassStatistics, rtol: float | None) -> torch.Tensor:
    """NC1 = (1/K) tr(Sigma_W Sigma_B^+) = sum_{j kept} v_j^T Sigma_W v_j / s_j^2 (Papyan et al.).

    A direction j is kept when s_j > rtol * s_max (``rtol=None``: max(K, d) * eps). NaN when all
    class means coincide (Sigma_B = 0).
    """
    s = stats.singular_values
    tol = default_rtol(stats.num_classes, stats.dim, s.dtype) if rtol is None else rtol
    smax = s.amax(dim=-1, keepdim=True) if s.shape[-1] else s.new_zeros(*s.shape[:-1], 1)
    keep = s > tol * smax
    ratio = torch.where(keep, stats.within_projected / torch.where(keep, s.square(), 1.0), 0.0)
    out = ratio.sum(dim=-1) / stats.num_samples
    return torch.where(smax.squeeze(-1) > 0, out, torch.nan)


def trace_ratio_from(stats: ClassStatistics) -> torch.Tensor:
    """tr Sigma_W / tr Sigma_B with Sigma_W = (1/N) sum ..., Sigma_B = (1/K) M~^T M~ (THN)."""
    tr_w = stats.within_sq.sum(dim=-1) / stats.num_samples
    tr_b = stats.centred_means.square().sum(dim=(-2, -1)) / stats.num_classes
    return tr_w / tr_b


def pair_distances(centred: torch.Tensor) -> torch.Tensor:
    """||h_bar_i - h_bar_j||^2 (..., K, K) from the Gram matrix of the centred means."""
    G = centred @ centred.mT
    diag = torch.diagonal(G, dim1=-2, dim2=-1)
    return (diag.unsqueeze(-1) + diag.unsqueeze(-2) - 2.0 * G).clamp_min(0.0)


def cdnv_from(stats: ClassStatistics) -> torch.Tensor:
    """CDNV (Galanti et al.): mean over i < j of (sigma_i^2 + sigma_j^2) / (2 ||h_bar_i - h_bar_j||^2)."""
    K = stats.num_classes
    var = stats.within_sq / stats.counts.to(stats.within_sq.dtype)
    D = pair_distances(stats.centred_means)
    i, j = torch.triu_indices(K, K, offset=1, device=D.device)
    num = var[..., i] + var[..., j]
    return (num / (2.0 * D[..., i, j])).mean(dim=-1)


def _unit_frobenius(v: torch.Tensor) -> torch.Tensor:
    """V/||V||_F per matrix of (..., K, d)."""
    return v / torch.linalg.matrix_norm(v).unsqueeze(-1).unsqueeze(-1)


def etf_error(vectors: torch.Tensor) -> torch.Tensor:
    """||G/||G||_F - P/sqrt(K-1)||_F with G = V V^T for rows V (..., K, d) (THN, Zhu et al.)."""
    K = vectors.shape[-2]
    v = _unit_frobenius(vectors)  # G/||G||_F is scale-invariant: V V^T of huge V would overflow
    G = v @ v.mT
    G = G / torch.linalg.matrix_norm(G).unsqueeze(-1).unsqueeze(-1)
    return torch.linalg.matrix_norm(G - etf_gram(K, dtype=G.dtype, device=G.device))


def norm_cv(vectors: torch.Tensor, ddof: int = 1) -> torch.Tensor:
    """std/mean of the row norms of (..., K, d) (Papyan et al.'s equinorm; torch.std default ddof=1)."""
    norms = torch.linalg.vector_norm(vectors, dim=-1)
    return torch.std(norms, dim=-1, correction=ddof) / norms.mean(dim=-1)


def coherence(vectors: torch.Tensor) -> torch.Tensor:
    """Mean over k != k' of |cos(v_k, v_k') + 1/(K-1)| for rows (..., K, d) (Papyan et al.)."""
    K = vectors.shape[-2]
    unit = vectors / torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    C = unit @ unit.mT + 1.0 / (K - 1)
    off = ~torch.eye(K, dtype=torch.bool, device=C.device)
    return C.abs()[..., off].sum(dim=-1) / (K * (K - 1))


def duality_from(weight: torch.Tensor, centred: torch.Tensor) -> torch.Tensor:
    """||W/||W||_F - M~/||M~||_F||_F, W and M~ as (..., K, d) rows (Papyan et al.'s NC3)."""
    wn = weight / torch.linalg.matrix_norm(weight).unsqueeze(-1).unsqueeze(-1)
    mn = centred / torch.linalg.matrix_norm(centred).unsqueeze(-1).unsqueeze(-1)
    return torch.linalg.matrix_norm(wn - mn)


def structure_from(weight: torch.Tensor, centred: torch.Tensor) -> torch.Tensor:
    """||W M~^T/||W M~^T||_F - P/sqrt(K-1)||_F (Zhu et al.'s NC3; K x K matrix W M~ of docs/math.md §2.8)."""
    K = weight.shape[-2]
    A = _unit_frobenius(weight) @ _unit_frobenius(centred).mT  # scale-invariant, as in etf_error
    A = A / torch.linalg.matrix_norm(A).unsqueeze(-1).unsqueeze(-1)
    return torch.linalg.matrix_norm(A - etf_gram(K, dtype=A.dtype, device=A.device))


def bias_from(weight: torch.Tensor, bias: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """||W h_bar_G + b|| (bias check of public NC code; choice, docs/math.md §2.10)."""
    return torch.linalg.vector_norm((weight @ mu.unsqueeze(-1)).squeeze(-1) + bias, dim=-1)


def classifier_predictions(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """argmax_k (W h + b)_k for features (..., N, d) (first index on ties, as torch.argmax)."""
    logits = x @ weight.mT
    if bias is not None:
        logits = logits + bias.unsqueeze(-2)
    return logits.max(dim=-1).indices


def metrics_from_statistics(
    stats: ClassStatistics,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    rtol: float | None = None,
    center_weight: bool = True,
) -> dict[str, torch.Tensor]:
    """Every metric of docs/math.md §2 but NC4, as tensors, from the statistics.

    The ETF metrics (:data:`ETF_KEYS`) are left out when d < K - 1 (callers decide first
    whether that is an error, :func:`check_undefined`).
    """
    M = stats.centred_means
    out: dict[str, torch.Tensor] = {
        "nc1": nc1_from(stats, rtol),
        "nc1_trace_ratio": trace_ratio_from(stats),
        "cdnv": cdnv_from(stats),
        "nc2_etf_features": etf_error(M),
    }
    if weight is not None:
        Wc = center(weight) if center_weight else weight
        out["nc2_etf_weight"] = etf_error(Wc)
    out["equinorm_features"] = norm_cv(M)
    if weight is not None:
        out["equinorm_weight"] = norm_cv(weight)
    out["equiangularity_features"] = coherence(M)
    if weight is not None:
        out["equiangularity_weight"] = coherence(weight)
        lead = M.shape[:-2]
        Wb = weight.expand(*lead, *weight.shape[-2:])
        out["nc3_duality"] = duality_from(Wb, M)
        out["nc3_structure"] = structure_from(Wb, M)
    if bias is not None:
        if weight is None:
            fail("bias", "a bias without a weight", "given together with weight")
        out["bias_norm"] = bias_from(weight, bias, stats.global_mean)
    lead = M.shape[:-2]
    skip = ETF_KEYS if stats.dim < stats.num_classes - 1 else ()
    return {k: v.expand(lead) for k, v in out.items() if k not in skip}


def to_output(values: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Tensors to floats (unbatched) or numpy arrays (batched)."""
    return {k: to_python(v) for k, v in values.items()}
