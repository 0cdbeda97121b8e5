"""Neural collapse metrics from the forward passes of your own training loop.

:func:`nclab.nets.measure` takes over a loader and runs its own passes. A :class:`Tracker` instead
listens to the forward passes your loop already makes: forward hooks feed each batch's features
into one streaming accumulator per layer (:class:`nclab.metrics.StreamingStats`, float64, memory
O(K d + d^2) per layer), and :meth:`Tracker.compute` turns them into the metrics of
:func:`nclab.metrics.collapse`, one row per layer. The penultimate features are the input of the
classifier (the model's last ``nn.Linear`` unless ``classifier=`` names another module), measured
with the classifier's current weight and bias.

The statistics of an epoch gather features computed while the weights moved, a running estimate
(as the online accumulators of rhubarbwu/neural-collapse); for the metrics of a fixed model, track
one pass in ``model.eval()`` under ``torch.no_grad()``, or use :func:`nclab.nets.measure`. NC4 needs
the class means before it can count (a second pass) and is left out.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from nclab.nets import Tracker
>>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
>>> x, y = torch.randn(60, 5), torch.arange(60) % 3
>>> tracker = Tracker(model, num_classes=3, layers=["1"])
>>> with tracker:
...     for i in range(0, 60, 20):
...         with tracker.batch(y[i:i + 20]):
...             _ = model(x[i:i + 20])
>>> table = tracker.compute()
>>> list(table["layer"]), int(table["samples"].iloc[0])
(['penultimate', '1'], 60)
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from nclab._tensor import as_labels
from nclab._validation import check_int, fail
from nclab.metrics.streaming import StreamingStats
from nclab.nets._layers import find_classifier

__all__ = ["Tracker"]

PENULTIMATE = "penultimate"


class Tracker:
    """Accumulate neural-collapse statistics from the forward passes of a training loop.

    Parameters
    ----------
    model : torch.nn.Module
        The network; hooks are registered on it while the tracker is attached.
    num_classes : int
        K, the number of classes (labels in 0..K-1).
    layers : sequence of str, optional
        Names of further submodules (``dict(model.named_modules())``) whose outputs, flattened per
        sample, are tracked besides the penultimate features.
    classifier : str, optional
        Name of the classifier module; default: the model's last ``nn.Linear``.
    dtype : torch.dtype, default torch.float64
        Dtype of the accumulators (features are converted on arrival).

    Raises
    ------
    ValueError
        If a layer name is not a submodule of ``model``, or ``num_classes`` < 2.

    References
    ----------
    Papyan, Han, Donoho (2020), *Prevalence of neural collapse during the terminal phase of deep
    learning training*, PNAS, doi:10.1073/pnas.2015509117 (the metrics).
    """

    def __init__(self, model: nn.Module, num_classes: int, *, layers: Sequence[str] = (),
                 classifier: str | None = None, dtype: torch.dtype = torch.float64) -> None:
        if not isinstance(model, nn.Module):
            fail("model", type(model).__name__, "a torch.nn.Module")
        self.model, self.num_classes, self.dtype = model, check_int("num_classes", num_classes, minimum=2), dtype
        modules = dict(model.named_modules())
        if classifier is None:
            classifier, self.classifier = find_classifier(model)
        elif classifier in modules:
            self.classifier = modules[classifier]
        else:
            fail("classifier", classifier, f"a submodule name of the model ({', '.join(list(modules)[1:6])}, ...)")
        self.classifier_name = classifier
        unknown = [name for name in layers if name not in modules or not name]
        if unknown:
            fail("layers", unknown[0], f"submodule names of the model ({', '.join(list(modules)[1:6])}, ...)")
        self.layers = {name: modules[name] for name in layers}
        self.stats: dict[str, StreamingStats] = {}
        self._labels: torch.Tensor | None = None
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ hooks
    def attach(self) -> "Tracker":
        """Register the forward hooks (idempotent); returns ``self``."""
        if self._handles:
            return self
        self._handles.append(self.classifier.register_forward_pre_hook(
            lambda _m, inputs: self._record(PENULTIMATE, inputs[0])))
        for name, module in self.layers.items():
            self._handles.append(module.register_forward_hook(
                lambda _m, _inputs, output, name=name: self._record(name, output)))
        return self

    def detach(self) -> None:
        """Remove the hooks (the statistics stay)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "Tracker":
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    @contextlib.contextmanager
    def batch(self, labels: Any) -> Iterator["Tracker"]:
        """Within this block, forward passes are recorded under ``labels`` (B,) of their batch."""
        y, _ = as_labels(labels, "labels", num_classes=self.num_classes, require_all_classes=False)
        self._labels = y
        try:
            yield self
        finally:
            self._labels = None

    def _record(self, name: str, features: Any) -> None:
        if self._labels is None or not isinstance(features, torch.Tensor):
            return  # a forward pass outside tracker.batch(...) is not recorded
        x = features.detach().reshape(features.shape[0], -1)
        if x.shape[0] != self._labels.shape[0]:
            fail("labels", f"{self._labels.shape[0]} labels", f"one per sample of the batch ({x.shape[0]} at {name!r})")
        if name not in self.stats:
            self.stats[name] = StreamingStats(self.num_classes, x.shape[1], dtype=self.dtype)
        self.stats[name].update(x, self._labels.to(x.device))

    # ------------------------------------------------------------------ results
    def reset(self) -> None:
        """Forget the statistics (e.g. at the start of an epoch)."""
        self.stats = {}

    def statistics(self, layer: str = PENULTIMATE, global_mean: str = "classes") -> Any:
        """The :class:`nclab.metrics.ClassStatistics` of ``layer`` so far: the ``reference`` of a held-out
        measurement (``nclab.metrics.collapse(test_features, test_labels, reference=tracker.statistics())``)."""
        if layer not in self.stats:
            fail("layer", layer, f"a tracked layer with recorded passes ({', '.join(self.stats) or 'none yet'})")
        return self.stats[layer].statistics(global_mean)

    def compute(self, **options: Any) -> pd.DataFrame:
        """The metrics of every tracked layer: a frame with ``layer``, ``dim``, ``samples`` and the
        keys of :func:`nclab.metrics.collapse` (NC4 left out; see the module doc).

        ``options`` go to :meth:`nclab.metrics.StreamingStats.collapse` (``global_mean``,
        ``center_weight``, ``rtol``, ``undefined``). Raises ``ValueError`` if nothing was recorded
        or a class was never seen.
        """
        if not self.stats:
            fail("tracker", "no recorded forward pass", "forward passes inside tracker.batch(labels) while attached")
        rows = []
        for name in [PENULTIMATE, *self.layers]:
            if name not in self.stats:
                continue
            acc = self.stats[name]
            missing = [k for k in range(self.num_classes) if int(acc.counts[k]) == 0]
            if missing:
                fail("tracker", f"no sample of class {missing[0]} at layer {name!r}",
                     "every class seen at least once before compute()")
            kwargs = {}
            if name == PENULTIMATE and isinstance(getattr(self.classifier, "weight", None), torch.Tensor):
                kwargs["weight"] = self.classifier.weight.detach()
                if getattr(self.classifier, "bias", None) is not None:
                    kwargs["bias"] = self.classifier.bias.detach()
            values = acc.collapse(**kwargs, **options)
            rows.append({"layer": name, "dim": acc.dim, "samples": acc.num_samples, **values})
        return pd.DataFrame(rows)
