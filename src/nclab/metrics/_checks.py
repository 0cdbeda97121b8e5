"""Input checks of the metrics: one ValueError style (parameter, value, what is allowed).

Features are (..., N, d) floating tensors (numpy or torch, dtype and device kept), labels (N,)
integers in 0..K-1 with every class present, classifier weight (..., K, d) and bias (..., K)
converted to the features' dtype and device.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import check_choice, check_int, check_real, fail


def check_features(features: Any, name: str = "features") -> torch.Tensor:
    """Features (..., N, d) as a floating tensor (dtype and device kept), finite."""
    x = as_float_tensor(features, name)
    if x.ndim < 2:
        fail(name, f"an array of shape {tuple(x.shape)}", "an array of shape (N, d) or (..., N, d)")
    if x.shape[-1] < 1:
        fail(name, f"an array of shape {tuple(x.shape)}", "a feature dimension d >= 1")
    if x.shape[-2] < 1:  # nothing to measure (and the labels' count check would blame the labels)
        fail(name, f"an array of shape {tuple(x.shape)}", "a non-empty array (at least one row)")
    check_magnitude(x, name)
    return x


def check_magnitude(x: torch.Tensor, name: str, *, num_samples: int | None = None, seen: float = 0.0) -> float:
    """Refuse entries so large that the metrics' sums of squares overflow ``x``'s dtype.

    A matrix (n, d) whose entries are at most ``a`` in magnitude has squared distances and sums
    of squares at most ``4 a^2 n d``; above the dtype's largest number every metric would come
    out NaN or inf (e.g. float64 features times 1e300), so this is a ValueError naming the
    overflow instead. For one batch of a stream, ``num_samples`` is n of everything so far and
    ``seen`` the largest magnitude of the earlier batches (the check of the concatenation).
    Returns the largest magnitude, of ``x`` and ``seen``.
    """
    if x.numel() == 0 or x.ndim < 2:
        return seen
    amax = max(seen, float(x.detach().abs().max()))
    largest = float(torch.finfo(x.dtype).max)
    n = x.shape[-2] if num_samples is None else num_samples
    limit = (largest / (4.0 * n * x.shape[-1])) ** 0.5
    if amax > limit:
        fail(name, f"values up to {amax:.3g} in magnitude",
             f"at most {limit:.3g} in magnitude: larger values overflow {x.dtype} (max {largest:.3g}) in the "
             "metrics' sums of squares; rescale them (most collapse metrics are scale-invariant)")
    return amax


def check_labels(labels: Any, num_samples: int, num_classes: int | None, device) -> tuple[torch.Tensor, int]:
    """Labels (N,) in 0..K-1 with every class present; returns (int64 labels, K)."""
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=2)
    return as_labels(labels, "labels", num_samples=num_samples, num_classes=num_classes, device=device)


def check_weight(weight: Any, like: torch.Tensor, K: int, lead: torch.Size, name: str = "weight") -> torch.Tensor:
    """Classifier weight (K, d) or (..., K, d), converted to the features' dtype and device.

    Its leading axes must broadcast to the features' leading axes ``lead``.
    """
    w = as_float_tensor(weight, name, dtype=like.dtype, device=like.device)
    d = like.shape[-1]
    if w.ndim < 2 or tuple(w.shape[-2:]) != (K, d):
        fail(name, f"an array of shape {tuple(w.shape)}", f"shape (K, d) = ({K}, {d}) or (..., {K}, {d})")
    check_magnitude(w, name)
    _check_lead(name, w.shape[:-2], lead)
    return w


def check_bias(bias: Any, like: torch.Tensor, K: int, lead: torch.Size, name: str = "bias") -> torch.Tensor:
    """Classifier bias (K,) or (..., K) in the features' dtype and device."""
    b = as_float_tensor(bias, name, dtype=like.dtype, device=like.device)
    if b.ndim < 1 or b.shape[-1] != K:
        fail(name, f"an array of shape {tuple(b.shape)}", f"shape (K,) = ({K},) or (..., {K})")
    _check_lead(name, b.shape[:-1], lead)
    return b


def _check_lead(name: str, shape: torch.Size, lead: torch.Size) -> None:
    try:
        ok = torch.broadcast_shapes(shape, lead) == lead
    except RuntimeError:
        ok = False
    if not ok:
        fail(name, f"leading axes {tuple(shape)}", f"leading axes that broadcast to the features' {tuple(lead)}")


def check_ddof(ddof: Any, count: int, what: str) -> int:
    """``ddof`` an integer in 0..count-1: a spread over ``count`` values divides by count - ddof > 0."""
    ddof = check_int("ddof", ddof, minimum=0)
    if ddof >= count:
        fail("ddof", ddof, f"an integer in 0..{count - 1}: smaller than the number of {what} ({count}), "
             "the spread divides by their number - ddof")
    return ddof


def check_rtol(rtol: float | None) -> float | None:
    return None if rtol is None else check_real("rtol", rtol, minimum=0.0, maximum=1.0)


def check_min_dim(d: int, K: int, what: str, name: str = "features") -> None:
    """The ETF metrics need d >= K - 1 (a simplex ETF of K vectors spans K - 1 dimensions).

    ``name`` is the argument the user passed (``features`` for collapse(), ``vectors`` or
    ``centred_means`` for the single metrics), so the error names what they can change."""
    if d < K - 1:
        fail(name, f"an array with d = {d} columns", f"d >= K - 1 = {K - 1} for {what} (K = {K} rows/classes)")


#: Metrics that compare with a simplex ETF, which needs d >= K - 1.
ETF_KEYS = ("nc2_etf_features", "nc2_etf_weight", "equiangularity_features", "equiangularity_weight", "nc3_structure")
UNDEFINED_CHOICES = ("raise", "omit")


def check_undefined(undefined: str, d: int, K: int) -> None:
    """``undefined="raise"``: d < K - 1 is a ValueError; ``"omit"``: the ETF keys are left out."""
    check_choice("undefined", undefined, UNDEFINED_CHOICES)
    if undefined == "raise":
        check_min_dim(d, K, "the ETF metrics of collapse() (or pass undefined='omit')")

