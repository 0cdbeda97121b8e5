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

:meth:`Tracker.plot` draws the table (:mod:`nclab.nets._plot`); :meth:`Tracker.log_to` and
:func:`nclab.nets.adapters.lightning_callback` connect it to TensorBoard and PyTorch Lightning
(:mod:`nclab.nets.adapters`, optional packages).

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
from nclab.nets._heldout import HeldOutStats
from nclab.nets._layers import find_classifier
from nclab.nets._passes import Taps, evaluating, feed, model_device_dtype
from nclab.nets._plot import plot_table
from nclab.nets.adapters import write_scalars

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
    classifier : str or torch.nn.Module, optional
        The classifier module or its name; default: the model's last ``nn.Linear``.
    dtype : torch.dtype, default torch.float64
        Dtype of the accumulators (features are converted on arrival).

    Raises
    ------
    ValueError
        If a layer name is not a submodule of ``model``, or ``num_classes`` < 2.

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal phase
    of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117 (the metrics).

    Examples
    --------
    Inside a plain training loop, one table row per (epoch, split, layer):

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> tracker = Tracker(model, num_classes=3, layers=["1"])
    >>> with tracker:
    ...     for epoch in range(2):
    ...         for i in range(0, 60, 20):
    ...             with tracker.batch(y[i:i + 20]):
    ...                 loss = nn.functional.cross_entropy(model(x[i:i + 20]), y[i:i + 20])
    ...             opt.zero_grad(); loss.backward(); opt.step()
    ...         _ = tracker.epoch_end()
    >>> tracker.table[["epoch", "layer", "samples"]].values.tolist()
    [[0, 'penultimate', 60], [0, '1', 60], [1, 'penultimate', 60], [1, '1', 60]]
    """

    def __init__(self, model: nn.Module, num_classes: int, *, layers: Sequence[str] = (),
                 classifier: str | nn.Module | None = None, dtype: torch.dtype = torch.float64) -> None:
        if not isinstance(model, nn.Module):
            fail("model", type(model).__name__, "a torch.nn.Module")
        self.model, self.num_classes, self.dtype = model, check_int("num_classes", num_classes, minimum=2), dtype
        modules = dict(model.named_modules())
        if isinstance(classifier, nn.Module):  # a module of the model, as measure(classifier=) takes it
            names = [name for name, module in modules.items() if module is classifier]
            if not names:
                fail("classifier", type(classifier).__name__, "a submodule of the model (or its name)")
            classifier = names[0]
        if classifier is None:
            classifier, self.classifier = find_classifier(model)
        elif isinstance(classifier, str) and classifier in modules:
            self.classifier = modules[classifier]
        else:
            fail("classifier", classifier, f"a submodule name of the model ({', '.join(list(modules)[1:6])}, ...)")
        self.classifier_name = classifier
        unknown = [name for name in layers if name not in modules or not name]
        if unknown:
            fail("layers", unknown[0], f"submodule names of the model ({', '.join(list(modules)[1:6])}, ...)")
        self.layers = {name: modules[name] for name in layers}
        self.stats: dict[str, StreamingStats] = {}
        self.rows: list[dict[str, Any]] = []
        self._points = [(PENULTIMATE, self.classifier, True), *((n, m, False) for n, m in self.layers.items())]
        self._taps = Taps(self._points, self._record)
        self._epoch = 0

    # ------------------------------------------------------------------ hooks
    def attach(self) -> "Tracker":
        """Register the forward hooks (idempotent).

        Returns
        -------
        Tracker
            ``self``; ``with tracker:`` attaches for the block and detaches after it.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3).attach()
        >>> with tracker.batch(y):
        ...     _ = model(x)
        >>> tracker.detach(); int(tracker.compute()["samples"].iloc[0])
        60
        """
        self._taps.attach()
        return self

    def detach(self) -> None:
        """Remove the hooks; the statistics recorded so far stay.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3).attach()
        >>> tracker.detach()
        >>> with tracker.batch(y):  # detached: not recorded
        ...     _ = model(x)
        >>> tracker.stats
        {}
        """
        self._taps.detach()

    def __enter__(self) -> "Tracker":
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    @contextlib.contextmanager
    def batch(self, labels: Any) -> Iterator["Tracker"]:
        """Within this block, forward passes are recorded under the labels of their batch.

        A forward pass outside a ``tracker.batch(...)`` block (or while detached) is not recorded.

        Parameters
        ----------
        labels : array_like of shape (B,)
            The integer labels (0..K-1) of the batch the block's forward passes see.

        Returns
        -------
        context manager
            Yields the tracker.

        Raises
        ------
        ValueError
            If a label is outside 0..K-1 or not an integer, or (at the forward pass) the batch
            has another number of samples.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3)
        >>> with tracker:
        ...     _ = model(x)  # no labels: not recorded
        ...     with tracker.batch(y[:30]):
        ...         _ = model(x[:30])
        >>> int(tracker.stats["penultimate"].num_samples)
        30
        """
        y, _ = as_labels(labels, "labels", num_classes=self.num_classes, require_all_classes=False)
        with self._taps.batch(y):  # a forward pass outside tracker.batch(...) is not recorded
            yield self

    def _record(self, name: str, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = _flat_batch(name, features, labels)
        if name not in self.stats:
            self.stats[name] = StreamingStats(self.num_classes, x.shape[1], dtype=self.dtype)
        self.stats[name].update(x, labels.to(x.device))

    def _classifier_params(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The classifier's detached (weight, bias) for NC2-NC4 of the penultimate layer;
        (None, None) when it has no weight tensor, bias None when it has none."""
        weight = getattr(self.classifier, "weight", None)
        if not isinstance(weight, torch.Tensor):
            return None, None
        bias = getattr(self.classifier, "bias", None)
        return weight.detach(), None if bias is None else bias.detach()

    # ------------------------------------------------------------------ results
    def reset(self) -> None:
        """Forget the statistics (e.g. at the start of an epoch; :meth:`epoch_end` does it).

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3)
        >>> with tracker, tracker.batch(y):
        ...     _ = model(x)
        >>> tracker.reset(); tracker.stats
        {}
        """
        self.stats = {}

    def statistics(self, layer: str = PENULTIMATE, global_mean: str = "classes") -> Any:
        """The class statistics of ``layer`` recorded so far.

        They are the ``reference`` of a held-out measurement:
        ``nclab.metrics.collapse(test_features, test_labels, reference=tracker.statistics())``.

        Parameters
        ----------
        layer : str, default "penultimate"
            A tracked layer with recorded passes.
        global_mean : {"classes", "samples"}, default "classes"
            The global mean: the mean of the class means, or of the samples.

        Returns
        -------
        nclab.metrics.ClassStatistics

        Raises
        ------
        ValueError
            If ``layer`` has no recorded pass.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3)
        >>> with tracker, tracker.batch(y):
        ...     _ = model(x)
        >>> stats = tracker.statistics()
        >>> stats.num_samples, tuple(stats.means.shape)
        (60, (3, 8))
        """
        if layer not in self.stats:
            fail("layer", layer, f"a tracked layer with recorded passes ({', '.join(self.stats) or 'none yet'})")
        return self.stats[layer].statistics(global_mean)

    def compute(self, **options: Any) -> pd.DataFrame:
        """The metrics of every tracked layer from the passes recorded so far.

        Parameters
        ----------
        **options
            ``global_mean``, ``center_weight``, ``rtol``, ``undefined`` of
            :meth:`nclab.metrics.StreamingStats.collapse`.

        Returns
        -------
        pandas.DataFrame
            One row per layer (``penultimate`` first, with the classifier's current weight and
            bias): ``layer``, ``dim``, ``samples`` and the keys of :func:`nclab.metrics.collapse`
            but NC4 (it needs a second pass; see the module docstring).

        Raises
        ------
        ValueError
            If nothing was recorded or a class was never seen.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(60, 5), torch.arange(60) % 3
        >>> tracker = Tracker(model, 3)
        >>> with tracker, torch.no_grad(), tracker.batch(y):
        ...     _ = model(x)
        >>> from nclab.metrics import collapse
        >>> h = model[1](model[0](x))
        >>> want = collapse(h, y, weight=model[2].weight, bias=model[2].bias)["nc1"]
        >>> bool(abs(tracker.compute()["nc1"].iloc[0] - want) < 1e-6 * want)
        True
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
            if name == PENULTIMATE:
                weight, bias = self._classifier_params()
                kwargs = {k: v for k, v in (("weight", weight), ("bias", bias)) if v is not None}
            values = acc.collapse(**kwargs, **options)
            rows.append({"layer": name, "dim": acc.dim, "samples": acc.num_samples, **values})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ per epoch
    def epoch_end(self, loader: Any = None, *, test_loader: Any = None, epoch: int | None = None,
                  **options: Any) -> pd.DataFrame:
        """Record this epoch's metrics as rows of :attr:`table` and start the next epoch.

        Parameters
        ----------
        loader : iterable of (inputs, labels), optional
            If given, the metrics are those of the model as it is now: one pass over ``loader``
            in ``model.eval()`` under ``torch.no_grad()`` (training flags restored), with NC4 of
            the classifier, exactly :func:`nclab.nets.measure` on the tracked layers. If not,
            the rows come from the forward passes recorded during the epoch (:meth:`compute`,
            a running estimate without NC4).
        test_loader : iterable of (inputs, labels), optional
            A held-out set, measured against the training statistics of this epoch (class
            means, global mean, Sigma_B; :func:`nclab.metrics.collapse` with ``reference=``):
            rows with ``split == "test"``.
        epoch : int, optional
            The epoch number of the rows; default: 0, 1, 2, ... per call.
        **options
            ``global_mean``, ``center_weight``, ``rtol`` of the metrics.

        Returns
        -------
        pandas.DataFrame
            This epoch's rows: ``epoch``, ``split``, ``layer``, ``dim``, ``samples`` and the
            metric keys of :func:`nclab.metrics.collapse`.

        Raises
        ------
        ValueError
            If nothing was recorded (without ``loader``), a class is missing, or an option is unknown.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> data = torch.utils.data.TensorDataset(torch.randn(60, 5), torch.arange(60) % 3)
        >>> loader = torch.utils.data.DataLoader(data, batch_size=20)
        >>> tracker = Tracker(model, 3)
        >>> for epoch in range(2):
        ...     pass  # train one epoch here
        ...     _ = tracker.epoch_end(loader, test_loader=loader)
        >>> tracker.table[["epoch", "split", "layer"]].values.tolist()[:2]
        [[0, 'train', 'penultimate'], [0, 'test', 'penultimate']]
        """
        unknown = set(options) - {"global_mean", "center_weight", "rtol"}
        if unknown:
            fail("option", sorted(unknown)[0], "one of global_mean, center_weight, rtol")
        number = self._epoch if epoch is None else check_int("epoch", epoch, minimum=0)
        if loader is not None:
            from nclab.nets.features import measure

            frame = measure(self.model, loader, layers=list(self.layers), classifier=self.classifier_name,
                            num_classes=self.num_classes, test_loader=test_loader, method="moment",
                            max_dim=1 << 62, stats_dtype=self.dtype, **options)
            if "split" not in frame.columns:
                frame.insert(1, "split", "train")
            frame = frame.drop(columns=["module", "measured_at", "activation", "nc1_post_act",
                                        "nc1_trace_ratio_post_act"])
        else:
            frame = self.compute(**options)
            frame.insert(1, "split", "train")
            if test_loader is not None:
                frame = pd.concat([frame, self._held_out(test_loader, options)], ignore_index=True)
        order = {name: i for i, name in enumerate([PENULTIMATE, *self.layers])}
        frame["_order"] = frame["split"].map({"train": 0, "test": 1}) * len(order) + frame["layer"].map(order)
        frame = frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
        frame.insert(0, "epoch", number)
        self.rows.extend(frame.to_dict("records"))
        self._epoch = number + 1
        self.reset()
        return frame

    def _held_out(self, test_loader: Any, options: dict) -> pd.DataFrame:
        """Rows of ``test_loader`` against the statistics recorded so far (hooked passes, eval, no_grad)."""
        gm = options.get("global_mean", "classes")
        sink: dict[str, HeldOutStats] = {}
        for name, acc in self.stats.items():
            w_b = (None, None)
            if name == PENULTIMATE:
                w_b = tuple(None if t is None else t.to(self.dtype) for t in self._classifier_params())
            sink[name] = HeldOutStats(acc.statistics(gm), *w_b)
        def record(name: str, features: torch.Tensor, labels: torch.Tensor) -> None:
            if name in sink:
                sink[name].update(_flat_batch(name, features, labels), labels)

        try:
            items = iter(test_loader)
        except TypeError:
            fail("test_loader", type(test_loader).__name__, "an iterable of (inputs, labels) pairs")
        device, dtype = model_device_dtype(self.model)
        with evaluating(self.model):
            count = feed(self.model, items, Taps(self._points, record), self.num_classes, device, dtype,
                         parameter="test_loader")
        if count == 0:
            fail("test_loader", "an empty loader", "at least one (inputs, labels) batch")
        rows = []
        for name, acc in sink.items():
            values = acc.collapse(rtol=options.get("rtol"), center_weight=options.get("center_weight", True))
            values.pop("nc4_ncc_mismatch", None)  # as the train rows of compute(): no NC4
            rows.append({"layer": name, "split": "test", "dim": acc.reference.dim, "samples": acc.num_samples,
                         **values})
        return pd.DataFrame(rows)

    @property
    def table(self) -> pd.DataFrame:
        """Every row recorded by :meth:`epoch_end`: a tidy frame, one row per (epoch, split, layer).

        Returns
        -------
        pandas.DataFrame
            Columns ``epoch``, ``split``, ``layer``, ``dim``, ``samples`` and the metrics; empty
            before the first :meth:`epoch_end`.

        Examples
        --------
        >>> from torch import nn
        >>> Tracker(nn.Sequential(nn.Linear(4, 3)), 3).table.empty
        True
        """
        return pd.DataFrame(self.rows)

    def plot(self, metrics: Sequence[str] = ("nc1", "nc2_etf_features", "nc3_duality"), *, ax: Any = None) -> Any:
        """The recorded metrics against the epoch, one panel per metric, one line per (layer, split).

        Parameters
        ----------
        metrics : sequence of str, default ("nc1", "nc2_etf_features", "nc3_duality")
            Columns of :attr:`table`; those absent from it are skipped.
        ax : sequence of matplotlib Axes, optional
            One axes per metric; default: a new figure.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (no pyplot state).

        Raises
        ------
        ValueError
            If :meth:`epoch_end` recorded nothing yet or no metric is a column of the table.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> data = torch.utils.data.TensorDataset(torch.randn(60, 5), torch.arange(60) % 3)
        >>> tracker = Tracker(model, 3)
        >>> for epoch in range(2):
        ...     _ = tracker.epoch_end(torch.utils.data.DataLoader(data, batch_size=30))
        >>> len(tracker.plot(["nc1"]).axes)
        1
        """
        return plot_table(self.table, metrics, ax=ax)

    def log_to(self, writer: Any, *, prefix: str = "nc") -> int:
        """Write the last recorded epoch's metrics as scalars to a TensorBoard ``SummaryWriter``.

        Parameters
        ----------
        writer : torch.utils.tensorboard.SummaryWriter or str
            A writer (anything with ``add_scalar(tag, value, step)``), or a log directory for a
            new ``SummaryWriter`` (needs the optional ``tensorboard`` package).
        prefix : str, default "nc"
            Tags are ``{prefix}/{split}/{layer}/{metric}``.

        Returns
        -------
        int
            The number of scalars written.

        Raises
        ------
        ImportError
            If ``writer`` is a path and tensorboard is not installed (``pip install tensorboard``).
        ValueError
            If :meth:`epoch_end` recorded nothing yet.

        Examples
        --------
        >>> class Writer:  # stands in for SummaryWriter
        ...     def __init__(self): self.tags = []
        ...     def add_scalar(self, tag, value, step): self.tags.append(tag)
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> data = torch.utils.data.TensorDataset(torch.randn(60, 5), torch.arange(60) % 3)
        >>> tracker = Tracker(model, 3)
        >>> _ = tracker.epoch_end(torch.utils.data.DataLoader(data, batch_size=30))
        >>> w = Writer(); n = tracker.log_to(w); w.tags[0]
        'nc/train/penultimate/nc1'
        """
        if not self.rows:
            fail("tracker", "no recorded epoch", "tracker.epoch_end(...) called before log_to()")
        return write_scalars(self.rows, writer, prefix=prefix)


def _flat_batch(name: str, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Detached features (B, d) of one batch, one label per sample; else a ValueError."""
    x = features.detach().reshape(features.shape[0], -1)
    if x.shape[0] != labels.shape[0]:
        fail("labels", f"{labels.shape[0]} labels", f"one per sample of the batch ({x.shape[0]} at {name!r})")
    return x
