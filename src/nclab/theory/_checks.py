"""Argument checks shared by the shallow closed forms: the matrices of a UFM point.

Each check converts with :func:`nclab._tensor.as_float_tensor` (real, finite values) and adds
what the closed forms assume: at least two axes, no empty axis, and shapes that agree with
each other and with the samples per class. Messages name the parameter (the project's
``fail`` style), so a bad call never ends in a reshape or matmul error inside torch.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor
from nclab._validation import check_int, fail


def check_matrix(value: Any, name: str, *, batched: bool = True, min_ndim: int = 2) -> torch.Tensor:
    """``value`` as a real, finite float tensor of ``min_ndim`` axes or more (exactly
    ``min_ndim`` when not ``batched``), none of them empty. A tensor that requires grad stays
    in autograd's graph."""
    t = as_float_tensor(value, name)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        t = value.to(dtype=t.dtype)  # checked; keep autograd's graph (closed forms are differentiated)
    if t.ndim < min_ndim or (not batched and t.ndim != min_ndim):
        what = f"at least {min_ndim}" if batched else f"exactly {min_ndim}"
        fail(name, f"an array of shape {tuple(t.shape)}", f"an array with {what} dimensions")
    if t.numel() == 0:
        fail(name, f"an array of shape {tuple(t.shape)}", "a non-empty array")
    return t


def check_columns(H: torch.Tensor, n: Any, name: str = "H", n_name: str = "n") -> tuple[int, int]:
    """``n`` (samples per class, named ``n_name``) checked against the columns of ``H``: (n, K) with K >= 2."""
    n = check_int(n_name, n, minimum=1)
    N = H.shape[-1]
    if N % n or N // n < 2:
        fail(n_name, n, f"a divisor of the number of columns of {name} ({N}) leaving K >= 2 classes")
    return n, N // n


def check_classifier(W: Any, H: torch.Tensor, K: int, *, batched: bool = True) -> torch.Tensor:
    """A classifier ``W`` (..., K, d) for features ``H`` (..., d, N) of ``K`` classes, in the
    dtype and on the device of ``H``."""
    W = check_matrix(W, "W", batched=batched)
    if W.shape[-2:] != (K, H.shape[-2]):
        fail("W", f"an array of shape {tuple(W.shape)}",
             f"shape (..., {K}, {H.shape[-2]}) to match H of shape {tuple(H.shape)} and n")
    return W.to(dtype=H.dtype, device=H.device)


def check_mse_point(W: Any, H: Any, n: Any, *, batched: bool = True) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """(W, H, n, K) of a point of the MSE UFM: H (..., d, K n) class-ordered, W (..., K, d)."""
    H = check_matrix(H, "H", batched=batched)
    n, K = check_columns(H, n)
    return check_classifier(W, H, K, batched=batched), H, n, K


def check_factors(factors: Any, name: str = "factors", *, minimum: int = 1) -> list[torch.Tensor]:
    """A sequence of at least ``minimum`` matrices (each as :func:`check_matrix`, named
    ``factors[i]``), e.g. the factors [H_1, W_1, .., W_L] of a deep UFM."""
    if isinstance(factors, (str, bytes, torch.Tensor)) or not hasattr(factors, "__iter__"):
        fail(name, factors if not isinstance(factors, torch.Tensor) else f"a tensor of shape {tuple(factors.shape)}",
             f"a sequence of at least {minimum} matrices")
    factors = list(factors)
    if len(factors) < minimum:
        fail(name, f"{len(factors)} factors", f"a sequence of at least {minimum} matrices")
    return [check_matrix(F, f"{name}[{i}]") for i, F in enumerate(factors)]
