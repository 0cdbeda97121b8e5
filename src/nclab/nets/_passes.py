"""One home for a measuring pass of a network: hooks at named points, batches fed under their labels.

:class:`Taps` puts forward hooks on named points of a model (a module's output, or the input of
a module such as the classifier) and hands every batch's tensor at each point, with the labels
of the batch, to one ``record(name, tensor, labels)`` callback; nothing is recorded outside a
``taps.batch(labels)`` block. :func:`evaluating` runs a block with the model in eval mode under
``torch.no_grad`` and restores every module's training flag afterwards, also on error.
:func:`feed` is one pass over a loader: each ``(inputs, labels)`` batch validated, moved to the
model's device and dtype and run forward under its labels.

:class:`nclab.nets.Tracker` records the forward passes of a user's own loop with :class:`Taps`;
:func:`nclab.nets.measure` and the Tracker's held-out pass are loops of :func:`feed` over
:class:`Taps` inside :func:`evaluating`.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from nclab._validation import fail

#: A hook point: (name, module, pre): ``pre`` taps the module's first input, else its output.
Point = tuple[str, nn.Module, bool]


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode under ``torch.no_grad`` for the block; every module's flag restored."""
    states = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            yield model
    finally:
        for m, flag in states.items():
            m.training = flag


class Taps:
    """Forward hooks at named points of a model, recording tensors under the current batch's labels."""

    def __init__(self, points: Sequence[Point], record: Callable[[str, torch.Tensor, torch.Tensor], None]) -> None:
        self.points, self.record = list(points), record
        self.labels: torch.Tensor | None = None
        self._handles: list[Any] = []

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> "Taps":
        """Register the hooks (idempotent)."""
        if self._handles:
            return self
        for name, module, pre in self.points:
            if pre:
                hook = module.register_forward_pre_hook(
                    lambda _m, inputs, name=name: self._fire(name, inputs[0] if inputs else None))
            else:
                hook = module.register_forward_hook(lambda _m, _inputs, output, name=name: self._fire(name, output))
            self._handles.append(hook)
        return self

    def detach(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "Taps":
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    @contextlib.contextmanager
    def batch(self, labels: torch.Tensor) -> Iterator["Taps"]:
        """Within the block, tensors at the points are recorded under ``labels``."""
        previous, self.labels = self.labels, labels
        try:
            yield self
        finally:
            self.labels = previous

    def _fire(self, name: str, tensor: Any) -> None:  # returns None: the forward pass is not altered
        if self.labels is not None and isinstance(tensor, torch.Tensor):
            self.record(name, tensor, self.labels)


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device of the model's first parameter (CPU without any) and its first floating dtype."""
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    floating = [p.dtype for p in params if p.is_floating_point()]
    return device, floating[0] if floating else torch.get_default_dtype()


def to_model(x: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Inputs (a tensor, or tuples/lists of them) on ``device``, floating ones cast to ``dtype``."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    if isinstance(x, (tuple, list)):
        return type(x)(to_model(v, device, dtype) for v in x)
    return x


def as_batch(item: Any, index: int, parameter: str = "loader") -> tuple[Any, torch.Tensor]:
    """``(inputs, labels)`` of batch ``index``, the labels an integer tensor (B,); else a ValueError."""
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        got = type(item).__name__ + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        fail(parameter, f"a batch {index} that is a {got}", "an iterable of (inputs, labels) pairs")
    x, y = item[0], item[1]
    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(y)
        except Exception:
            fail(parameter, f"labels of type {type(y).__name__} in batch {index}", "integer label tensors (B,)")
    if y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        fail(parameter, f"labels of shape {tuple(y.shape)} and dtype {y.dtype} in batch {index}",
             "(inputs, labels) pairs with integer labels of shape (B,)")
    if isinstance(x, torch.Tensor) and x.shape[0] != y.shape[0]:
        fail(parameter, f"{x.shape[0]} inputs and {y.shape[0]} labels in batch {index}",
             "(inputs, labels) pairs of equal batch size")
    return x, y


def check_labels(y: torch.Tensor, K: int, index: int, device: torch.device) -> torch.Tensor:
    """Labels as int64 on ``device``, each in 0..K-1; else a ValueError naming the batch."""
    y = y.to(device=device, dtype=torch.int64)
    if y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= K:
            fail("labels", f"a label {low if low < 0 else high} in batch {index}",
                 f"integer class labels in 0..{K - 1} (K = {K} classes)")
    return y


def feed(model: nn.Module, items: Iterable, taps: Taps, num_classes: int, device: torch.device,
         dtype: torch.dtype, *, parameter: str = "loader") -> int:
    """One pass: every ``(inputs, labels)`` batch of ``items`` forward through ``model`` under its
    labels, with ``taps`` attached for the pass (and left as they were); returns the number of samples."""
    count, attached = 0, taps.attached
    taps.attach()
    try:
        for index, item in enumerate(items):
            x, y = as_batch(item, index, parameter)
            y = check_labels(y, num_classes, index, device)
            with taps.batch(y):
                model(to_model(x, device, dtype))
            count += int(y.shape[0])
    finally:
        if not attached:
            taps.detach()
    return count
