"""Conversion of user arrays (numpy or torch, CPU or CUDA) to torch tensors, and back.

Metrics and theory compute in torch in the dtype of their input: float64 in, float64 out;
integer or boolean features are promoted to the default float dtype, and half-precision
features (float16, bfloat16) are computed in float32 (:func:`promote_float`): torch's CPU
linear algebra has no half kernels, and sums of squares overflow float16 at 65504. :func:`resolve_dtype`
and :func:`resolve_device` are the one reading of a user's ``dtype``/``device`` setting
(UFM engine, sweeps).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nclab._validation import fail


#: Floating dtypes too narrow to compute in: promoted to float32 by :func:`promote_float`.
HALF_DTYPES = (torch.float16, torch.bfloat16)


def promote_float(tensor: torch.Tensor) -> torch.Tensor:
    """The dtype to compute in: integer/bool to the default float, float16/bfloat16 to float32.

    Other floating tensors are returned as they are (autograd kept: ``.to`` is differentiable).
    """
    if tensor.dtype in HALF_DTYPES:
        return tensor.to(torch.float32)
    if not tensor.is_floating_point() and not tensor.is_complex():
        return tensor.to(torch.get_default_dtype())
    return tensor


def as_float_tensor(
    value: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    finite: bool = True,
    ndim: int | tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Return ``value`` as a floating torch tensor, checking dimensions and finiteness.

    A torch tensor keeps its device and (floating) dtype unless ``dtype``/``device`` are given;
    a numpy array keeps its floating dtype. Without ``dtype``, integers become the default float
    dtype and float16/bfloat16 become float32 (:func:`promote_float`). ``ndim`` is the allowed number of dimensions (an
    int, or a tuple of allowed ints). NaN or inf raises ``ValueError`` when ``finite``.
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        try:
            array = np.asarray(value)
        except Exception:  # pragma: no cover - numpy raises many types here
            fail(name, type(value).__name__, "an array of numbers")
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        ):
            fail(name, f"array of dtype {array.dtype}", "an array of real numbers")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        fail(name, f"tensor of dtype {tensor.dtype}", "a real-valued array")
    if dtype is None:
        tensor = promote_float(tensor)
    tensor = tensor.to(dtype=dtype or tensor.dtype, device=device or tensor.device)
    if tensor.device.type == "meta":
        fail(name, "a tensor on the meta device (shapes without values)", "a tensor with values (cpu or cuda)")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if tensor.ndim not in allowed:
            fail(
                name,
                f"an array of shape {tuple(tensor.shape)}",
                "an array with " + " or ".join(str(a) for a in allowed) + " dimensions",
            )
    # a finite sum proves every entry finite (cheap); only otherwise look at each entry
    if finite and tensor.numel() and not bool(torch.isfinite(tensor.sum())) and not bool(torch.isfinite(tensor).all()):
        fail(name, "an array containing NaN or inf", "finite values only")
    return tensor


def as_labels(
    value: Any,
    name: str = "labels",
    *,
    num_samples: int | None = None,
    num_classes: int | None = None,
    device: torch.device | str | None = None,
    require_all_classes: bool = True,
) -> tuple[torch.Tensor, int]:
    """Return integer class labels of shape (N,) as int64 and the number of classes K.

    Labels must be integers in 0..K-1. ``num_classes`` defaults to ``max(label) + 1``; every
    class 0..K-1 must have at least one sample and K must be at least 2. With
    ``require_all_classes=False`` (a batch of a stream: ``num_classes`` must be given) the labels
    may be empty and may miss classes.
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        array = np.asarray(value)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            fail(name, f"an array of dtype {array.dtype}", "an array of integer class labels")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim != 1:
        fail(name, f"an array of shape {tuple(tensor.shape)}", "a 1-d array of shape (N,)")
    if tensor.is_floating_point():
        if not bool(torch.isfinite(tensor).all()) or not bool((tensor == tensor.round()).all()):
            fail(name, "non-integer values", "integer class labels 0..K-1")
    elif tensor.dtype == torch.bool or tensor.is_complex():
        fail(name, f"labels of dtype {tensor.dtype}", "integer class labels 0..K-1")
    tensor = tensor.to(dtype=torch.int64, device=device or tensor.device)
    if num_samples is not None and tensor.shape[0] != num_samples:
        fail(name, f"{tensor.shape[0]} labels", f"one label per sample of the features ({num_samples} samples)")
    if not require_all_classes:
        if num_classes is None:
            raise TypeError("as_labels(require_all_classes=False) needs num_classes")
        if tensor.numel() == 0:
            return tensor, int(num_classes)
    if tensor.numel() == 0:
        fail(name, "an empty array", "at least one label per class")
    low, high = int(tensor.min()), int(tensor.max())
    K = high + 1 if num_classes is None else int(num_classes)
    if low < 0 or high >= K:
        bad = low if low < 0 else high
        fail(name, f"a label {bad}", f"integer class labels in 0..{K - 1}")
    if K < 2:  # named after what set K: labels of one class, or num_classes=1
        if num_classes is not None:
            fail("num_classes", K, "at least 2 (the number of classes must be at least 2)")
        fail(name, f"labels of {K} class", "labels of at least 2 classes (the number of classes must be at least 2)")
    if not require_all_classes:
        return tensor, K
    if K > tensor.numel():  # before counting: bincount would allocate K counters
        fail("num_classes" if num_classes is not None else name,
             f"{K} classes" if num_classes is not None else f"labels up to {high} ({K} classes)",
             f"at most the number of samples ({tensor.numel()}): every class needs a sample")
    counts = torch.bincount(tensor, minlength=K)
    if bool((counts == 0).any()):
        missing = int(torch.nonzero(counts == 0)[0])
        fail(name, f"no sample of class {missing}", f"at least one sample in every class 0..{K - 1}")
    return tensor, K


def to_python(value: torch.Tensor) -> float | np.ndarray:
    """A 0-d tensor becomes a float, a batched one a numpy array (on the CPU)."""
    if value.ndim == 0:
        return float(value)
    return value.detach().cpu().numpy()


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """torch.float32/float64 (or the strings "float32", "float64", "double", "float")."""
    names = {"float32": torch.float32, "float": torch.float32, "float64": torch.float64, "double": torch.float64,
             "torch.float32": torch.float32, "torch.float64": torch.float64}
    if isinstance(dtype, str):
        if dtype not in names:
            fail("dtype", dtype, "one of 'float32', 'float64'")
        return names[dtype]
    if dtype not in (torch.float32, torch.float64):
        fail("dtype", dtype, "torch.float32 or torch.float64")
    return dtype


def resolve_device(device: torch.device | str | None) -> torch.device:
    """A torch device that exists here ("cpu", "cuda", "cuda:1", "mps"), else ValueError."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        fail("device", device, "a torch device such as 'cpu' or 'cuda'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            fail("device", str(device), "an available device ('cpu'; CUDA is not available here)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            fail("device", str(device), f"a CUDA device index below {torch.cuda.device_count()}")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            fail("device", str(device), "an available device ('cpu'; MPS is not available here)")
    elif dev.type != "cpu":
        fail("device", str(device), "'cpu', 'cuda' or 'cuda:INDEX'")
    return dev
