"""One-pass accumulators for neural collapse metrics of feature sets that do not fit in memory.

Pass 1, :class:`StreamingStats`: per-class counts, sums and sums of squared norms, and the total
second moment sum_i (h_i - c)(h_i - c)^T (d x d), all in float64 (by default) around a shift c
(the first batch's mean, which keeps the cancellations of near-collapsed features small).
Memory O(K d + d^2), independent of N. NC1 needs v^T Sigma_W v for the singular directions v
of the centred means M~, which are unknown until the means are: N Sigma_W =
sum_i (h_i - c)(h_i - c)^T - sum_k n_k (h_bar_k - c)(h_bar_k - c)^T is what one pass can give,
hence the d x d moment (cost O(B d^2) per batch).

Pass 2, :class:`NCCCounter` (only for NC4): with the class means known, counts the samples
whose classifier prediction differs from the nearest class mean.

Both merge (``merge``), so partial statistics from workers combine exactly.

:class:`ProjectedStats` trades the d x d moment for a second pass over the data: memory
O(K d), for wide layers (flattened conv maps) where d^2 does not fit.

This module holds the accumulators' state and its exact updates and merges; what is computed
from that state (statistics, Sigma_W, spectra, the ``collapse`` dict) is in
:mod:`nclab.metrics.streaming_metrics`.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import check_int, fail
from nclab.metrics import _checks, _core
from nclab.metrics import streaming_metrics as _metrics


def _batch(features: Any, labels: Any, K: int, d: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of a stream: features (B, d), labels (B,) in 0..K-1 (empty, or missing classes, allowed)."""
    x = as_float_tensor(features, "features", ndim=2)
    if x.shape[-1] != d:
        fail("features", f"an array of shape {tuple(x.shape)}", f"shape (B, {d})")
    x = x.to(dtype=dtype, device=device)
    y, _ = as_labels(labels, num_samples=x.shape[0], num_classes=K, device=device, require_all_classes=False)
    return x, y


class _ClassSums:
    """Pass-1 sums shared by both accumulators: class counts, sums and squared norms of h - c.

    c (``shift``) is the first batch's mean: sums around it keep precision near collapse.
    """

    def __init__(self, num_classes: int, dim: int, dtype: torch.dtype = torch.float64, device=None) -> None:
        self.num_classes = check_int("num_classes", num_classes, minimum=2)
        self.dim = check_int("dim", dim, minimum=1)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            fail("dtype", dtype, "a floating torch dtype (torch.float64 recommended)")
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        K, d = self.num_classes, self.dim
        self.counts = torch.zeros(K, dtype=torch.int64, device=self.device)
        self.shift = torch.zeros(d, dtype=dtype, device=self.device)
        self.sums = torch.zeros(K, d, dtype=dtype, device=self.device)  # sum (h - c)
        self.sq = torch.zeros(K, dtype=dtype, device=self.device)  # sum ||h - c||^2
        self._shift_set = False
        #: Largest |entry| seen (the overflow check of collapse() on the concatenated batches).
        self._amax = 0.0

    @property
    def num_samples(self) -> int:
        """N, the samples added so far."""
        return int(self.counts.sum())

    def _add(self, features: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Add a batch to the class sums; return (h - c, labels), or None for an empty batch."""
        x, y = _batch(features, labels, self.num_classes, self.dim, self.dtype, self.device)
        if x.shape[0] == 0:
            return None
        # the check collapse() makes on all the samples so far, before anything changes
        self._amax = _checks.check_magnitude(x, "features", num_samples=self.num_samples + x.shape[0], seen=self._amax)
        if not self._shift_set:
            self.shift, self._shift_set = x.mean(dim=0), True
        xc = x - self.shift
        self.counts += torch.bincount(y, minlength=self.num_classes)
        self.sums.index_add_(0, y, xc)
        self.sq.index_add_(0, y, xc.square().sum(dim=-1))
        return xc, y

    def _collapse(self, weight: Any, bias: Any, ncc: Any, global_mean: str, center_weight: bool,
                  rtol: float | None, extra: Any, ood_features: Any) -> dict[str, float]:
        """The shared end of ``collapse`` of both accumulators (``rtol``/``undefined`` checked)."""
        if ncc is not None and not isinstance(ncc, NCCCounter):
            fail("ncc", type(ncc).__name__, f"an NCCCounter from this {type(self).__name__}.ncc_counter()")
        return _metrics.collapse(self, weight, bias, ncc, global_mean, center_weight, rtol, extra, ood_features)


class StreamingStats(_ClassSums):
    """Pass-1 accumulator: ``update(features_batch, labels_batch)`` any number of times.

    Batches are (B, d) with labels (B,), of any dtype/device (converted to ``dtype`` on
    ``device``). ``collapse(...)`` gives the same dict as :func:`nclab.metrics.collapse` on the
    concatenated data (``nc4_ncc_mismatch`` only with an :class:`NCCCounter` from pass 2).
    The state is the class counts, the class sums and squared norms of h - c and the second
    moment sum_i (h_i - c)(h_i - c)^T around a shift c (the first batch's mean), so memory is
    O(K d + d^2) whatever N, and ``merge`` combines two accumulators exactly (each part is
    re-expressed around a common shift).

    Parameters
    ----------
    num_classes : int
        K, >= 2.
    dim : int
        d, the feature dimension, >= 1.
    dtype : torch.dtype, default torch.float64
        A floating dtype for the sums (float64 recommended: near collapse the within-class sums
        are small differences of large ones).
    device : str or torch.device, optional
        Where the sums live (default CPU).
    class_projection : None, "identity" or array_like of shape (d, r), optional
        Also keep each class's scatter of z = h P (K r^2 elements; "identity": P = I, r = d), for
        ``class_covariance_spectra``; None (default) keeps none.

    Raises
    ------
    ValueError
        If ``num_classes`` < 2, ``dim`` < 1, ``dtype`` is not a floating dtype, or
        ``class_projection`` is neither None, "identity" nor a (d, r) matrix. ``update`` raises
        on a batch of the wrong shape or labels, and on entries whose squares would overflow
        (leaving the accumulator unchanged); ``merge`` on statistics of another (K, d) or
        ``class_projection``.

    See Also
    --------
    ProjectedStats : the same metrics in O(K d) memory with a second pass.
    nclab.metrics.collapse : the full-batch metrics.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (the metrics); Chan, Golub,
    LeVeque, "Algorithms for computing the sample variance: analysis and recommendations",
    The American Statistician 37(3), 1983, doi:10.1080/00031305.1983.10483115 (the pairwise
    update and merge of the per-class scatter).

    Examples
    --------
    Centred class means on a simplex ETF (K = d = 3) and residuals +-e, ||e||^2 = 0.01, fed in
    three batches: NC1 = 1/150 and tr Sigma_W / tr Sigma_B = 0.01 / (2/3) = 0.015, as the
    full-batch :func:`nclab.metrics.collapse` gives.

    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3)
    >>> for i in range(0, 6, 2):
    ...     _ = acc.update(H[i : i + 2], y[i : i + 2])
    >>> out = acc.collapse(M)
    >>> acc.num_samples, round(out["nc1"], 6), round(out["nc1_trace_ratio"], 6)
    (6, 0.006667, 0.015)
    >>> [round(v, 6) for v in acc.within_covariance().diagonal().tolist()]  # Sigma_W = e e^T
    [0.01, 0.0, 0.0]

    Two workers' accumulators merge exactly:

    >>> a = StreamingStats(num_classes=3, dim=3).update(H[:3], y[:3])
    >>> b = StreamingStats(num_classes=3, dim=3).update(H[3:], y[3:])
    >>> round(a.merge(b).collapse(M)["nc1"], 6)
    0.006667
    """

    def __init__(self, num_classes: int, dim: int, dtype: torch.dtype = torch.float64, device=None,
                 class_projection: Any = None) -> None:
        super().__init__(num_classes, dim, dtype, device)
        self.second = torch.zeros(self.dim, self.dim, dtype=dtype, device=self.device)  # sum (h - c)(h - c)^T
        #: The per-class moments' projection P (d, r), None for the identity (r = d).
        self.class_projection: torch.Tensor | None = None
        #: Per-class scatter sum_{i in k} (z_i - z_bar_k)(z_i - z_bar_k)^T of z = h P (K, r, r), or None.
        self.class_scatter: torch.Tensor | None = None
        if class_projection is not None:
            r = self.dim
            if isinstance(class_projection, str):
                if class_projection != "identity":
                    fail("class_projection", class_projection, "None, 'identity' or a (d, r) matrix")
            else:
                P = as_float_tensor(class_projection, "class_projection", dtype=dtype, device=self.device)
                if P.ndim != 2 or P.shape[0] != self.dim or P.shape[1] < 1:
                    fail("class_projection", f"an array of shape {tuple(P.shape)}", f"None, 'identity' or shape ({self.dim}, r)")
                self.class_projection, r = P, int(P.shape[1])
            self.class_scatter = torch.zeros(self.num_classes, r, r, dtype=dtype, device=self.device)

    def _project(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.class_projection is None else z @ self.class_projection

    @property
    def class_moment_bytes(self) -> int:
        """Memory of the per-class moments: K r^2 elements (r = d without a projection), 0 if not kept."""
        return 0 if self.class_scatter is None else self.class_scatter.numel() * self.class_scatter.element_size()

    def update(self, features: Any, labels: Any) -> "StreamingStats":
        """Add a batch: features (B, d), labels (B,) in 0..K-1 (classes may be missing from it).

        A batch whose entries would overflow the sums of squares of everything seen so far is
        the ValueError :func:`nclab.metrics.collapse` raises on the concatenated features, and
        leaves the accumulator unchanged."""
        prior = None
        if self.class_scatter is not None:
            prior = (self.counts.clone(), self._project(self.sums).clone())  # before this batch
        added = self._add(features, labels)
        if added is not None:
            xc, y = added
            self.second.addmm_(xc.mT, xc)
            if prior is not None:
                self._add_class_moments(xc, y, *prior)
        return self

    def _add_class_moments(self, xc: torch.Tensor, y: torch.Tensor, n_a: torch.Tensor, sums_a: torch.Tensor) -> None:
        """Chan et al.'s pairwise update of each class's scatter of z = (h - c) P by a batch."""
        K = self.num_classes
        z = self._project(xc)
        n_b = torch.bincount(y, minlength=K)
        mean_b = torch.zeros(K, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, y, z)
        mean_b /= n_b.clamp_min(1).to(z.dtype).unsqueeze(-1)
        zc = z - mean_b[y]
        order = torch.argsort(y, stable=True)
        for k, part in enumerate(torch.split(zc[order], n_b.tolist())):
            if part.shape[0]:
                self.class_scatter[k].addmm_(part.mT, part)
        na, nb = n_a.to(z.dtype), n_b.to(z.dtype)
        delta = mean_b - sums_a / na.clamp_min(1.0).unsqueeze(-1)
        coef = na * nb / (na + nb).clamp_min(1.0)
        self.class_scatter += coef[:, None, None] * delta.unsqueeze(-1) * delta.unsqueeze(-2)

    def _shifted_to(self, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sums, sq, second) re-expressed around another shift (exact algebra)."""
        delta = self.shift - shift  # h - shift = (h - self.shift) + delta
        n = self.counts.to(self.dtype)
        sums = self.sums + n.unsqueeze(-1) * delta
        sq = self.sq + 2.0 * self.sums @ delta + n * delta.dot(delta)
        total = self.sums.sum(dim=0)
        second = self.second + torch.outer(total, delta) + torch.outer(delta, total) + n.sum() * torch.outer(delta, delta)
        return sums, sq, second

    def merge(self, other: "StreamingStats") -> "StreamingStats":
        """A new accumulator holding the statistics of both (neither is changed)."""
        if not isinstance(other, StreamingStats):
            fail("other", type(other).__name__, "a StreamingStats")
        if (other.num_classes, other.dim) != (self.num_classes, self.dim):
            fail("other", f"statistics of (K, d) = ({other.num_classes}, {other.dim})",
                 f"(K, d) = ({self.num_classes}, {self.dim}) as this one")
        mine, theirs = self.class_projection, other.class_projection
        same = (self.class_scatter is None) == (other.class_scatter is None) and (
            (mine is None and theirs is None)
            or (mine is not None and theirs is not None and torch.equal(mine, theirs.to(mine))))
        if not same:
            fail("other", "statistics with other per-class moments", "the same class_projection as this one")
        # both parts passed their checks; together their sums of squares may still overflow
        amax = _checks.check_magnitude(torch.zeros(1, self.dim, dtype=self.dtype), "other",
                                       num_samples=max(1, self.num_samples + other.num_samples),
                                       seen=max(self._amax, other._amax))
        out = StreamingStats(self.num_classes, self.dim, self.dtype, self.device)
        out._amax = amax
        if self.class_scatter is not None:
            out.class_projection = mine
            out.class_scatter = torch.zeros_like(self.class_scatter)
        parts = [s for s in (self, other) if s._shift_set]
        if not parts:
            return out
        if self.class_scatter is not None:  # Chan et al.: scatters add, plus the spread of the two means
            z_means, ns = [], []
            for part in parts:
                n = part.counts.to(device=self.device, dtype=self.dtype)
                mean = part.sums.to(device=self.device, dtype=self.dtype) / n.clamp_min(1.0).unsqueeze(-1)
                z_means.append(out._project(mean + part.shift.to(device=self.device, dtype=self.dtype)))
                ns.append(n)
                out.class_scatter += part.class_scatter.to(device=self.device, dtype=self.dtype)
            if len(parts) == 2:
                coef = ns[0] * ns[1] / (ns[0] + ns[1]).clamp_min(1.0)
                delta = z_means[0] - z_means[1]
                out.class_scatter += coef[:, None, None] * delta.unsqueeze(-1) * delta.unsqueeze(-2)
        out.shift = parts[0].shift.to(device=self.device, dtype=self.dtype).clone()
        out._shift_set = True
        for part in parts:
            sums, sq, second = part._shifted_to(out.shift.to(device=part.device, dtype=part.dtype))
            out.counts += part.counts.to(self.device)
            out.sums += sums.to(device=self.device, dtype=self.dtype)
            out.sq += sq.to(device=self.device, dtype=self.dtype)
            out.second += second.to(device=self.device, dtype=self.dtype)
        return out

    def statistics(self, global_mean: str = "classes") -> _core.ClassStatistics:
        """The :class:`ClassStatistics` of everything seen so far (every class needs a sample)."""
        return _metrics.statistics(self, global_mean)

    def within_covariance(self) -> torch.Tensor:
        """Sigma_W (d, d) from the second moment: N Sigma_W = sum_i (h_i - c)(h_i - c)^T -
        sum_k n_k (h_bar_k - c)(h_bar_k - c)^T (every class needs a sample)."""
        return _metrics.within_covariance(self)

    def class_covariance_spectra(self) -> torch.Tensor:
        """Eigenvalues (K, r), descending, of each class's covariance P^T Sigma_k P (Sigma_k with
        ``class_projection="identity"``, r = d), as :func:`nclab.metrics.class_covariance_spectra`."""
        return _metrics.class_covariance_spectra(self)

    def ncc_counter(self, weight: Any = None, bias: Any | None = None) -> "NCCCounter":
        """Pass 2: a counter holding the current class means and the classifier (W, b) (NC4,
        per-class agreement) or none (nearest-class-mean accuracy only)."""
        return NCCCounter(self, weight, bias)

    def collapse(
        self,
        weight: Any | None = None,
        bias: Any | None = None,
        ncc: "NCCCounter | None" = None,
        *,
        global_mean: str = "classes",
        center_weight: bool = True,
        rtol: float | None = None,
        undefined: str = "raise",
        extra: Any = None,
        ood_features: Any = None,
    ) -> dict[str, float]:
        """The metrics of :func:`nclab.metrics.collapse` from the accumulated statistics.

        ``nc4_ncc_mismatch`` appears only with ``ncc`` (a pass-2 counter of these statistics
        that has seen every sample once); its classifier must be ``weight``/``bias`` if given.
        ``undefined``: as in :func:`nclab.metrics.collapse` (d < K - 1).

        ``extra`` / ``ood_features``: as in :func:`nclab.metrics.collapse`, from the accumulated
        statistics (:data:`nclab.metrics.extra.EXTRA_SOURCES`): the class-statistics names and
        ``within_stable_rank`` / ``mse_decomposition`` (Sigma_W from the d x d moment) always;
        ``ncc_accuracy`` and ``agreement_per_class`` with ``ncc`` (the latter with its classifier);
        ``class_covariance_spectra`` when built with ``class_projection`` (K r^2 memory).
        ``extra="all"`` is every name whose inputs are there.
        """
        rtol = _checks.check_rtol(rtol)
        _checks.check_undefined(undefined, self.dim, self.num_classes)
        return self._collapse(weight, bias, ncc, global_mean, center_weight, rtol, extra, ood_features)


#: Elements of the (rows x 2K) score block of one NC4 chunk (bounds pass-2 memory).
_NCC_CHUNK_ELEMENTS = 1 << 22


class NCCCounter:
    """Pass 2 (NC4): counts samples where argmax_k (W h + b)_k != argmin_k ||h - h_bar_k||.

    Made by :meth:`StreamingStats.ncc_counter` (or :meth:`ProjectedStats.ncc_counter`) after
    pass 1; ``update(features, labels)`` over the same data once more; ``merge`` combines
    counters of the same means and classifier. Besides the mismatches it counts, per class,
    the samples whose nearest class mean is their label (``hits``, for ``ncc_accuracy``) and
    those where the classifier agrees with the nearest class mean (``agreements``).

    Parameters
    ----------
    stats : StreamingStats or ProjectedStats
        The pass-1 accumulator; its current class means are fixed (every class needs a sample).
    weight : array_like, shape (K, d), optional
        The classifier W; None counts only the nearest-class-mean hits.
    bias : array_like, shape (K,), optional
        The classifier's bias b (only with ``weight``).

    Attributes
    ----------
    mismatches : int
        Samples where the classifier and the nearest class mean disagree.
    count : int
        Samples seen.
    hits, agreements : torch.Tensor, shape (K,), int64
        Per class (by label): nearest-class-mean hits; classifier agreements.

    Raises
    ------
    ValueError
        If a class has no sample in ``stats``, ``weight``/``bias`` have the wrong shape, or a
        bias comes without a weight; ``merge`` if the other counter has other means or
        classifier.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (NC4, simplification to the
    nearest class center).

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = StreamingStats(num_classes=3, dim=3).update(H, y)
    >>> first = acc.ncc_counter(M).update(H[:3], y[:3])
    >>> both = first.merge(acc.ncc_counter(M).update(H[3:], y[3:]))
    >>> both.count, both.mismatches, both.hits.tolist(), both.agreements.tolist()
    (6, 0, [2, 2, 2], [2, 2, 2])
    >>> acc.collapse(M, ncc=both)["nc4_ncc_mismatch"]
    0.0
    """

    def __init__(self, stats: "StreamingStats | ProjectedStats", weight: Any = None, bias: Any | None = None) -> None:
        st = stats.statistics("classes")
        K, d = stats.num_classes, stats.dim
        like = stats.sums
        self.num_classes, self.dim, self.dtype, self.device = K, d, stats.dtype, stats.device
        self.weight = None if weight is None else _checks.check_weight(weight, like, K, torch.Size())
        self.bias = None if bias is None else _checks.check_bias(bias, like, K, torch.Size())
        if self.bias is not None and self.weight is None:
            fail("bias", "a bias without a weight", "given together with weight")
        self.means = st.means
        self.shift = stats.shift
        shifted = st.means - stats.shift
        self._sq_means = shifted.square().sum(dim=-1)
        # one product per batch: (h - c) @ [m_k - c; W]^T; W h + b = W (h - c) + (W c + b)
        self._stacked = shifted if self.weight is None else torch.cat([shifted, self.weight])
        self._offset = None if self.weight is None else self.weight @ stats.shift + (0.0 if self.bias is None else self.bias)
        self.mismatches = 0
        self.count = 0
        #: Per class (by label): samples whose nearest class mean is their label (K,).
        self.hits = torch.zeros(K, dtype=torch.int64, device=self.device)
        #: Per class (by label): samples where the classifier agrees with the nearest class mean (K,).
        self.agreements = torch.zeros(K, dtype=torch.int64, device=self.device)

    def update(self, features: Any, labels: Any) -> "NCCCounter":
        """Count the mismatches (NC4), per-class NCC hits and agreements of a batch (B, d)."""
        x, y = _batch(features, labels, self.num_classes, self.dim, self.dtype, self.device)
        if x.shape[0] == 0:
            return self
        _checks.check_magnitude(x, "features")
        K = self.num_classes
        step = max(1, _NCC_CHUNK_ELEMENTS // (2 * K))  # bounded B x 2K temporaries
        mismatches = torch.zeros((), dtype=torch.int64, device=x.device)
        for start in range(0, x.shape[0], step):
            yc = y[start : start + step]
            scores = (x[start : start + step] - self.shift) @ self._stacked.mT
            ncc = (self._sq_means - 2.0 * scores[:, :K]).min(dim=-1).indices
            self.hits.index_add_(0, yc, (ncc == yc).to(torch.int64))
            if self.weight is not None:
                net = (scores[:, K:] + self._offset).max(dim=-1).indices
                agree = ncc == net
                mismatches += (~agree).sum()
                self.agreements.index_add_(0, yc, agree.to(torch.int64))
        self.mismatches += int(mismatches)
        self.count += int(x.shape[0])
        return self

    def merge(self, other: "NCCCounter") -> "NCCCounter":
        """A new counter with both counts (same means and classifier required)."""
        same = isinstance(other, NCCCounter) and torch.equal(self.means, other.means.to(self.means)) and (
            (self.weight is None and other.weight is None)
            or (self.weight is not None and other.weight is not None and torch.equal(self.weight, other.weight.to(self.weight))))
        if not same:
            fail("other", "a counter of other means or classifier", "an NCCCounter of the same statistics and weight")
        out = object.__new__(NCCCounter)
        out.__dict__.update(self.__dict__)
        out.mismatches = self.mismatches + other.mismatches
        out.count = self.count + other.count
        out.hits = self.hits + other.hits.to(self.hits.device)
        out.agreements = self.agreements + other.agreements.to(self.agreements.device)
        return out


class ProjectedStats(_ClassSums):
    """Two-pass accumulator in O(K d) memory: the metrics of :class:`StreamingStats` without
    its d x d second moment.

    Everything but NC1 needs only per-class counts, sums and squared norms (pass 1). NC1 =
    (1/K) tr(Sigma_W Sigma_B^+) = sum_j (v_j^T Sigma_W v_j) / s_j^2 (docs/math.md §2.1) needs
    the within-class scatter along the <= K - 1 right singular vectors v_j of the centred class
    means M~, which are known only once pass 1 is complete. :class:`StreamingStats` keeps the
    whole d x d moment to get them in one pass; this class goes over the data a second time
    instead and accumulates sum_i ((h_i - h_bar_{y_i}) . v_j)^2 = N v_j^T Sigma_W v_j directly:

    1. ``update(features, labels)`` over every batch (pass 1, as ``StreamingStats.update``);
    2. ``begin_pass2(global_mean)`` (fixes the means and v_j; optionally ``ncc_counter(W, b)``
       for NC4, fed in the same pass);
    3. ``update_residuals(features, labels)`` over the same samples again (any batching);
    4. ``collapse(...)`` with the same ``global_mean``: the dict of
       :func:`nclab.metrics.collapse` on the concatenated data (up to rounding).

    Memory O(K d) (no d x d matrix) and cost O(B d K) per batch in each pass, against
    O(K d + d^2) and O(B d^2) for :class:`StreamingStats`. Prefer it for wide layers (d in the
    thousands or more, e.g. flattened conv feature maps, :func:`nclab.nets.measure` switches
    above ``max_dim``) when the data can be read twice; prefer :class:`StreamingStats` for
    d up to about a thousand, a single pass (generators, streams) or ``merge`` of workers.

    Parameters
    ----------
    num_classes : int
        K, >= 2.
    dim : int
        d, the feature dimension, >= 1.
    dtype : torch.dtype, default torch.float64
        A floating dtype for the sums.
    device : str or torch.device, optional
        Where the sums live (default CPU).

    Raises
    ------
    ValueError
        If ``num_classes`` < 2, ``dim`` < 1 or ``dtype`` is not a floating dtype; ``update``
        after ``begin_pass2``, ``update_residuals`` before it, and ``collapse`` before a
        complete pass 2 with the same ``global_mean``.

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (NC1 = (1/K) tr(Sigma_W Sigma_B^+)).

    Examples
    --------
    >>> import torch
    >>> M = torch.eye(3, dtype=torch.float64) - 1 / 3
    >>> e = 0.1 * torch.eye(3, dtype=torch.float64)[0]
    >>> H, y = torch.cat([M + e, M - e]), torch.arange(6) % 3
    >>> acc = ProjectedStats(num_classes=3, dim=3).update(H, y)  # pass 1
    >>> _ = acc.begin_pass2()
    >>> _ = acc.update_residuals(H[:4], y[:4]).update_residuals(H[4:], y[4:])  # pass 2
    >>> round(acc.collapse(M)["nc1"], 6)  # 1/150, as StreamingStats and collapse
    0.006667
    >>> acc.update(H, y)
    Traceback (most recent call last):
    ...
    ValueError: update must be every pass-1 batch before begin_pass2(), got 'a pass-1 batch after begin_pass2()'
    """

    def __init__(self, num_classes: int, dim: int, dtype: torch.dtype = torch.float64, device=None) -> None:
        super().__init__(num_classes, dim, dtype, device)
        #: Pass 2: sum_i ((h_i - h_bar_{y_i}) . v_j)^2 (q,), None before ``begin_pass2``.
        self.within: torch.Tensor | None = None
        #: Samples seen by pass 2 (must reach ``num_samples`` before ``collapse``).
        self.count2 = 0
        self._global_mean: str | None = None

    def update(self, features: Any, labels: Any) -> "ProjectedStats":
        """Pass 1: add a batch, features (B, d), labels (B,) in 0..K-1."""
        if self.within is not None:
            fail("update", "a pass-1 batch after begin_pass2()", "every pass-1 batch before begin_pass2()")
        self._add(features, labels)
        return self

    def statistics(self, global_mean: str = "classes") -> _core.ClassStatistics:
        """The :class:`ClassStatistics` of pass 1; ``within_projected`` only after a pass 2
        with this ``global_mean`` (the basis v_j depends on it)."""
        within = self.within if (self.within is not None and global_mean == self._global_mean) else None
        return _metrics.statistics(self, global_mean, within)

    def begin_pass2(self, global_mean: str = "classes") -> "ProjectedStats":
        """End pass 1: fix the class means and the singular directions v_j for ``global_mean``."""
        stats = self.statistics(global_mean)
        self._global_mean = global_mean
        self._basis = stats.basis
        self._shifted_means = stats.means - self.shift
        self.within = torch.zeros(stats.basis.shape[-1], dtype=self.dtype, device=self.device)
        self.count2 = 0
        return self

    def update_residuals(self, features: Any, labels: Any) -> "ProjectedStats":
        """Pass 2: add the projected within-class residuals of a batch (B, d), labels (B,)."""
        if self.within is None:
            fail("update_residuals", "a pass-2 batch before begin_pass2()", "begin_pass2() after pass 1")
        x, y = _batch(features, labels, self.num_classes, self.dim, self.dtype, self.device)
        _checks.check_magnitude(x, "features", num_samples=max(1, self.count2 + x.shape[0]))
        residual = (x - self.shift) - self._shifted_means[y]
        self.within += (residual @ self._basis).square().sum(dim=0)
        self.count2 += int(x.shape[0])
        return self

    def ncc_counter(self, weight: Any = None, bias: Any | None = None) -> NCCCounter:
        """NC4 (and NCC accuracy): a counter of the pass-1 class means and the classifier (W, b), fed in pass 2."""
        return NCCCounter(self, weight, bias)

    def collapse(
        self,
        weight: Any | None = None,
        bias: Any | None = None,
        ncc: NCCCounter | None = None,
        *,
        global_mean: str = "classes",
        center_weight: bool = True,
        rtol: float | None = None,
        undefined: str = "raise",
        extra: Any = None,
        ood_features: Any = None,
    ) -> dict[str, float]:
        """The metrics of :func:`nclab.metrics.collapse`, as :meth:`StreamingStats.collapse`,
        after a complete pass 2 begun with the same ``global_mean``; ``extra`` as there, but
        for the names that need Sigma_W (d x d) or the per-class covariances."""
        rtol = _checks.check_rtol(rtol)
        _checks.check_undefined(undefined, self.dim, self.num_classes)
        if self.within is None or global_mean != self._global_mean or self.count2 != self.num_samples:
            fail("projected statistics",
                 f"global_mean={global_mean!r} after a pass 2 of {self.count2} of {self.num_samples} samples "
                 f"with global_mean={self._global_mean!r}",
                 "a completed pass 2 (begin_pass2, update_residuals over every sample) with the same global_mean")
        return self._collapse(weight, bias, ncc, global_mean, center_weight, rtol, extra, ood_features)
