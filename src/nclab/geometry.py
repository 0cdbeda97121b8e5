"""Geometry of neural collapse: simplex ETFs, targets, class statistics, Kronecker helpers.

Notation (docs/math.md §1): K classes, n samples per class, N = Kn. The papers keep features
as H in R^{d x N}; this module works sample-major, features X of shape (..., N, d) with labels
(N,), as the metric API does (pass ``H.mT`` for a UFM's H). Leading axes are batch axes.

- P = I_K - (1/K) 1 1^T, the simplex centring matrix.
- A simplex ETF is K vectors whose Gram matrix is scale^2 * K/(K-1) * P.
- Y = I_K (x) 1_n^T, the K x N one-hot target of class-ordered samples.
- Class means h_bar_k, M = [h_bar_1 .. h_bar_K]; global mean h_bar_G (``weighting="classes"``:
  mean of class means, the default; ``"samples"``: the sample mean; equal for balanced data).
- Sigma_W = (1/N) sum (h - h_bar_k)(h - h_bar_k)^T, Sigma_B = (1/K) sum_k (h_bar_k - h_bar_G)(.)^T.

This module is the one home of these formulas: metrics, theory and the UFM engine call it
instead of rebuilding P, the ETF target, Y, class-ordered labels or class means. For
class-ordered features in the papers' orientation H (..., d, Kn) (a UFM's H or logits Z),
:func:`class_ordered_sums` gives H Y^T and :func:`class_ordered_means` the class means
(..., d, K); :func:`center` applies P along an axis (as ``x - mean``).
"""
from __future__ import annotations

import torch

from nclab._validation import check_choice, check_int, check_real, fail

GLOBAL_MEAN_WEIGHTINGS = ("classes", "samples")


def centering_matrix(K: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """P = I_K - (1/K) 1 1^T (K x K)."""
    K = check_int("K", K, minimum=1)
    return torch.eye(K, dtype=dtype, device=device) - torch.full((K, K), 1.0 / K, dtype=dtype, device=device)


def etf_gram(K: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Normalised target Gram ETF* = P / ||P||_F = P / sqrt(K - 1) (THN, Zhu et al.)."""
    K = check_int("K", K, minimum=2)
    return centering_matrix(K, dtype=dtype, device=device) / (K - 1) ** 0.5


def center(x: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """P applied along axis ``dim``: ``x - mean(x, dim)`` (e.g. rows (..., K, d) -> P M)."""
    return x - x.mean(dim=dim, keepdim=True)


def random_frame(
    d: int, k: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """A Haar-random d x k matrix with orthonormal columns (k <= d).

    QR of a float64 Gaussian drawn from ``generator`` with the sign fix (R's diagonal made
    positive), cast to ``dtype``/``device`` afterwards: the same draw on every device.
    """
    d, k = check_int("d", d, minimum=1), check_int("k", k, minimum=1)
    if k > d:
        fail("k", k, f"at most d = {d} orthonormal columns")
    q, r = torch.linalg.qr(torch.randn(d, k, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r)).unsqueeze(0)).to(dtype=dtype, device=device)


def random_orthogonal(
    d: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """A Haar-random d x d orthogonal matrix (:func:`random_frame` with k = d)."""
    d = check_int("d", d, minimum=1)
    return random_frame(d, d, generator=generator, dtype=dtype, device=device)


def simplex_basis(K: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """An orthonormal basis U (K x (K-1)) of range(P) = {x : 1^T x = 0}; U U^T = P."""
    K = check_int("K", K, minimum=2)
    # Helmert-type basis: deterministic and exact.
    U = torch.zeros(K, K - 1, dtype=torch.float64)
    for j in range(1, K):
        U[:j, j - 1] = 1.0
        U[j, j - 1] = -float(j)
        U[:, j - 1] /= (j * (j + 1)) ** 0.5
    return U.to(dtype=dtype, device=device)


def simplex_etf(
    K: int,
    d: int | None = None,
    *,
    scale: float = 1.0,
    rotate: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> torch.Tensor:
    """K simplex-ETF vectors in R^d as the rows of a (K, d) matrix.

    Rows have norm ``scale``, sum to zero, and have Gram matrix scale^2 K/(K-1) P. Needs
    d >= K - 1 (default d = K). ``rotate`` applies a Haar-random orthogonal map of R^d drawn
    from ``generator``; otherwise the frame lies in the first K-1 coordinates.
    """
    K = check_int("K", K, minimum=2)
    d = K if d is None else check_int("d", d, minimum=1)
    if d < K - 1:
        fail("d", d, f"at least K - 1 = {K - 1} for a simplex ETF of K = {K} vectors")
    scale = check_real("scale", scale, minimum=0.0)
    frame = torch.zeros(K, d, dtype=torch.float64)
    frame[:, : K - 1] = simplex_basis(K) * (scale * (K / (K - 1)) ** 0.5)
    if rotate:
        frame = frame @ random_orthogonal(d, generator=generator)
    return frame.to(dtype=dtype, device=device)


def one_hot_targets(K: int, n: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Y = I_K (x) 1_n^T, the K x Kn targets of class-ordered samples."""
    K, n = check_int("K", K, minimum=1), check_int("n", n, minimum=1)
    return torch.kron(torch.eye(K, dtype=dtype, device=device), torch.ones(1, n, dtype=dtype, device=device))


def class_ordered_labels(K: int, n: int, *, device=None) -> torch.Tensor:
    """Labels (0,..,0, 1,..,1, ..., K-1) with n of each: the papers' column order."""
    K, n = check_int("K", K, minimum=1), check_int("n", n, minimum=1)
    return torch.arange(K, device=device).repeat_interleave(n)


def repeat_columns(M: torch.Tensor, n: int) -> torch.Tensor:
    """M (x) 1_n^T: repeat each column of (..., d, K) n times, giving (..., d, Kn)."""
    return M.repeat_interleave(check_int("n", n, minimum=1), dim=-1)


def _class_blocks(H: torch.Tensor, n: int) -> torch.Tensor:
    n = check_int("n", n, minimum=1)
    if H.shape[-1] % n:
        fail("n", n, f"a divisor of the number of columns ({H.shape[-1]})")
    return H.reshape(*H.shape[:-1], H.shape[-1] // n, n)


def class_ordered_sums(H: torch.Tensor, n: int) -> torch.Tensor:
    """H Y^T: per-class sums of class-ordered columns (..., d, Kn) -> (..., d, K)."""
    return _class_blocks(H, n).sum(-1)


def class_ordered_means(H: torch.Tensor, n: int) -> torch.Tensor:
    """Class means of class-ordered columns (..., d, Kn) -> (..., d, K) (column k: class k)."""
    return _class_blocks(H, n).mean(-1)


def class_counts(labels: torch.Tensor, K: int) -> torch.Tensor:
    """Number of samples per class, shape (K,)."""
    return torch.bincount(labels, minlength=K)


def class_sums(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Per-class sums of features (..., N, d) -> (..., K, d), in O(N d) (index_add)."""
    lead, (N, d) = features.shape[:-2], features.shape[-2:]
    flat = features.reshape(-1, N, d)
    out = flat.new_zeros(flat.shape[0], K, d)
    out.index_add_(1, labels, flat)
    return out.reshape(*lead, K, d)


def class_means(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Class means h_bar_k as the rows of (..., K, d)."""
    counts = class_counts(labels, K).to(features.dtype)
    return class_sums(features, labels, K) / counts.unsqueeze(-1)


def global_mean_weights(counts: torch.Tensor, weighting: str = "classes", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Weights w (K,) with h_bar_G = sum_k w_k h_bar_k: 1/K (``"classes"``) or n_k/N (``"samples"``)."""
    check_choice("global_mean", weighting, GLOBAL_MEAN_WEIGHTINGS)
    if weighting == "classes":
        return torch.full(counts.shape, 1.0 / counts.shape[0], dtype=dtype, device=counts.device)
    c = counts.to(dtype)
    return c / c.sum()


def global_mean(
    means: torch.Tensor, counts: torch.Tensor, weighting: str = "classes"
) -> torch.Tensor:
    """Global mean h_bar_G = sum_k w_k h_bar_k from class means (..., K, d) and counts (K,).

    ``weighting="classes"`` (default) is the mean of class means; ``"samples"`` weights each
    class by its count (the sample mean). They agree on balanced data. The weights are
    :func:`global_mean_weights` (the metrics use the same ones).
    """
    w = global_mean_weights(counts, weighting, means.dtype)
    return (w.unsqueeze(-1) * means).sum(dim=-2)


def within_class_covariance(features: torch.Tensor, labels: torch.Tensor, K: int) -> torch.Tensor:
    """Sigma_W = (1/N) sum_{k,i} (h_ki - h_bar_k)(h_ki - h_bar_k)^T, shape (..., d, d)."""
    centred = features - class_means(features, labels, K)[..., labels, :]
    return centred.mT @ centred / features.shape[-2]


def between_class_covariance(
    features: torch.Tensor, labels: torch.Tensor, K: int, weighting: str = "classes"
) -> torch.Tensor:
    """Sigma_B = (1/K) sum_k (h_bar_k - h_bar_G)(h_bar_k - h_bar_G)^T, shape (..., d, d)."""
    means = class_means(features, labels, K)
    centred = means - global_mean(means, class_counts(labels, K), weighting).unsqueeze(-2)
    return centred.mT @ centred / K
