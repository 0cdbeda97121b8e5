"""Adapters of :class:`nclab.nets.Tracker` to optional packages: TensorBoard and PyTorch Lightning.

Neither package is required by nclab; each adapter imports its package when called and says
how to install it when it is missing.

- :func:`write_scalars`: the last epoch's rows of a tracker's table as TensorBoard scalars
  (what :meth:`nclab.nets.Tracker.log_to` calls), tags ``{prefix}/{split}/{layer}/{metric}``.
- :func:`lightning_callback`: a Lightning ``Callback`` that records a tracker during
  ``trainer.fit`` and closes each epoch with :meth:`nclab.nets.Tracker.epoch_end`.

This module does not import the tracker (the tracker imports it): the callback takes any object
with the tracker's methods.
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

from nclab._validation import fail

__all__ = ["write_scalars", "lightning_callback"]


def write_scalars(rows: Sequence[dict[str, Any]], writer: Any, *, prefix: str = "nc") -> int:
    """Write the last epoch's rows as scalars to a TensorBoard ``SummaryWriter``.

    Parameters
    ----------
    rows : sequence of dict
        Rows of a tracker's table (``epoch``, ``split``, ``layer``, metrics), the last epoch last.
    writer : torch.utils.tensorboard.SummaryWriter or str or path
        A writer (anything with ``add_scalar(tag, value, step)``), or a log directory for a
        new ``SummaryWriter`` (needs the optional ``tensorboard`` package).
    prefix : str, default "nc"
        Tags are ``{prefix}/{split}/{layer}/{metric}``, the step the epoch.

    Returns
    -------
    int
        The number of scalars written (the numeric metrics of the last epoch's rows).

    Raises
    ------
    ImportError
        If ``writer`` is a path and tensorboard is not installed (``pip install tensorboard``).
    ValueError
        If ``rows`` is empty.

    Examples
    --------
    >>> class Writer:  # stands in for SummaryWriter
    ...     def __init__(self): self.tags = []
    ...     def add_scalar(self, tag, value, step): self.tags.append((tag, value, step))
    >>> rows = [{"epoch": 0, "split": "train", "layer": "penultimate", "dim": 8, "nc1": 2.0},
    ...         {"epoch": 1, "split": "train", "layer": "penultimate", "dim": 8, "nc1": 0.5}]
    >>> w = Writer(); write_scalars(rows, w), w.tags
    (1, [('nc/train/penultimate/nc1', 0.5, 1)])
    """
    if not rows:
        fail("rows", "no rows", "the rows of at least one epoch (tracker.epoch_end(...) before log_to())")
    if isinstance(writer, (str, bytes)) or hasattr(writer, "__fspath__"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("Tracker.log_to(path) needs TensorBoard, an optional package: "
                              "pip install tensorboard (or pass your own SummaryWriter)") from exc
        writer = SummaryWriter(writer)
    last = rows[-1]["epoch"]
    count = 0
    for row in rows:
        if row["epoch"] != last:
            continue
        for key, value in row.items():
            if key in ("epoch", "split", "layer", "dim", "samples") or not isinstance(value, (int, float)):
                continue
            writer.add_scalar(f"{prefix}/{row['split']}/{row['layer']}/{key}", float(value), int(last))
            count += 1
    return count


def lightning_callback(tracker: Any, *, loader: Any = None, test_loader: Any = None, writer: Any = None) -> Any:
    """A PyTorch Lightning callback that records ``tracker`` during ``trainer.fit``.

    Each training batch's forward pass is recorded under its labels (``batch[1]``), and at the
    end of every training epoch :meth:`Tracker.epoch_end` runs (with ``loader`` /
    ``test_loader`` if given) and, with ``writer``, :meth:`Tracker.log_to`.

    Parameters
    ----------
    tracker : nclab.nets.Tracker
        The tracker of the LightningModule's network.
    loader, test_loader : iterable of (inputs, labels), optional
        Passed to :meth:`Tracker.epoch_end`.
    writer : SummaryWriter or str, optional
        Passed to :meth:`Tracker.log_to` after every epoch.

    Returns
    -------
    lightning.pytorch.Callback
        The callback (``Trainer(callbacks=[...])``).

    Raises
    ------
    ImportError
        If neither ``lightning`` nor ``pytorch_lightning`` is installed (an optional package,
        never required by nclab: ``pip install lightning``).

    Examples
    --------
    >>> from torch import nn
    >>> from nclab.nets import Tracker
    >>> tracker = Tracker(nn.Sequential(nn.Linear(4, 3)), 3)
    >>> try:
    ...     callback = lightning_callback(tracker)
    ... except ImportError as exc:
    ...     print("pip install lightning" in str(exc))
    ... else:
    ...     print(True)
    True
    """
    if not all(callable(getattr(tracker, name, None)) for name in ("attach", "detach", "batch", "epoch_end", "log_to")):
        fail("tracker", type(tracker).__name__, "an nclab.nets.Tracker")
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError as exc:
            raise ImportError("lightning_callback needs PyTorch Lightning, an optional package: "
                              "pip install lightning") from exc

    class NeuralCollapseCallback(Callback):
        def __init__(self):
            self._batch = contextlib.ExitStack()  # the open tracker.batch(labels) of the current step

        def on_train_start(self, trainer, pl_module):
            tracker.attach()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self._batch.enter_context(tracker.batch(batch[1]))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self._batch.close()

        def on_train_epoch_end(self, trainer, pl_module):
            tracker.epoch_end(loader, test_loader=test_loader, epoch=int(trainer.current_epoch))
            if writer is not None:
                tracker.log_to(writer)

        def on_train_end(self, trainer, pl_module):
            tracker.detach()

    return NeuralCollapseCallback()
