"""Training real classifiers into the terminal phase, with neural-collapse metrics per epoch.

:func:`train_classifier` minimises, over a network ``backbone -> head`` (see
:mod:`nclab.nets.models`),

    loss(z, y) + (wd_features/2) ||theta||^2 + (wd_head/2) sum_l ||W_l||^2 + lam_H * pen(H)

with ``loss`` the mean cross-entropy or the mean of (1/2)||z - y||^2 (MSE on one-hot targets,
THN Eq. 1 with the 1/(Kn) normalisation), separate weight decays for the feature extractor and
the head layers (as PyTorch's ``weight_decay``, i.e. the gradient of (wd/2)||w||^2), and the
UFM-style feature penalty on the penultimate features H (the head's input):
``feature_penalty="mean"``: (lam_H/2) mean_i ||h_i||^2 (THN Eq. 1, Zhu et al. 2021);
``"sum"``: (lam_H/2) ||H||_F^2 over the whole training set, estimated per batch as
(N/B)(lam_H/2) sum_batch ||h_i||^2 (the deep UFM of Garrod & Keating 2025, Sec. 3).
Training runs a fixed number of epochs, past zero training error (the terminal phase of
Papyan, Han & Donoho 2020); the collapse metrics of the penultimate features on the training
set are recorded every ``track_every`` epochs into ``history`` (a pandas DataFrame).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nclab._validation import check_choice, check_int, check_real, fail
from nclab.nets._passes import evaluating
from nclab.nets.data import ClassificationData

__all__ = ["train_classifier", "ClassifierResult", "evaluate", "head_of", "penalised_head_loss", "CLASSIFIER_LOSSES", "CLASSIFIER_OPTIMIZERS"]

CLASSIFIER_LOSSES = ("ce", "mse")
CLASSIFIER_OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine")
FEATURE_PENALTIES = ("mean", "sum")


@dataclass
class ClassifierResult:
    """What :func:`train_classifier` returns.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (left in eval mode).
    history : pandas.DataFrame
        One row per recorded epoch: ``epoch``, ``lr``, ``train_loss``, ``train_error``,
        ``test_error`` (with test data) and the collapse metrics of the penultimate features.
    epoch_zero_error : int or None
        The first epoch with zero training error (the start of the terminal phase), or None.
    seconds : float
        Wall time of the training.
    config : dict
        The training settings.

    Examples
    --------
    >>> from torch import nn
    >>> from nclab.nets import gaussian_mixture
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> result = train_classifier(model, gaussian_mixture(3, 10, 4), epochs=2)
    >>> result.history["epoch"].tolist(), result.config["loss"], result.model is model
    ([1, 2], 'ce', True)
    """

    model: nn.Module
    history: pd.DataFrame
    epoch_zero_error: int | None
    seconds: float
    config: dict = field(default_factory=dict)


def head_of(model: nn.Module) -> nn.Module:
    """The head of ``model``: its ``head`` attribute, else its last ``nn.Linear``.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    torch.nn.Module
        The module whose input is the penultimate features and whose weights get
        ``head_weight_decay`` in :func:`train_classifier`.

    Raises
    ------
    ValueError
        If the model has neither a ``head`` module nor an ``nn.Linear``.

    Examples
    --------
    >>> from torch import nn
    >>> head_of(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)))
    Linear(in_features=6, out_features=2, bias=True)
    """
    head = getattr(model, "head", None)
    if isinstance(head, nn.Module):
        return head
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        fail("model", type(model).__name__, "a model with a 'head' module or an nn.Linear classifier")
    return last


def _loss_fn(kind: str, num_classes: int):
    if kind == "ce":
        return nn.functional.cross_entropy

    def mse(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = nn.functional.one_hot(y, num_classes).to(z.dtype)
        return 0.5 * ((z - target) ** 2).sum(dim=1).mean()

    return mse


def _loaders(data, batch_size: int | None, seed: int, device) -> tuple[DataLoader, DataLoader | None, int, int]:
    """(train loader, test loader or None, N, K) from ClassificationData or a DataLoader."""
    if isinstance(data, ClassificationData):
        N = data.x_train.shape[0]
        bs = N if batch_size is None else batch_size
        gen = torch.Generator().manual_seed(int(seed))
        train = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=bs, shuffle=bs < N, generator=gen)
        test = None
        if data.x_test is not None and data.x_test.shape[0] > 0 and data.x_test is not data.x_train:
            test = DataLoader(TensorDataset(data.x_test, data.y_test), batch_size=max(bs, 256), shuffle=False)
        return train, test, N, data.num_classes
    if isinstance(data, DataLoader):
        N = len(data.dataset)  # type: ignore[arg-type]
        K = 0
        for _, y in data:
            K = max(K, int(y.max()) + 1)
        return data, None, N, K
    fail("data", type(data).__name__, "a ClassificationData or a torch DataLoader of (inputs, labels)")
    raise AssertionError  # pragma: no cover


def evaluate(model: nn.Module, loader: Iterable, *, loss: str = "ce", num_classes: int | None = None,
             device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> dict[str, float]:
    """Mean loss and error rate of ``model`` on ``loader``.

    Runs in eval mode under ``torch.no_grad``; every module's training flag is restored.

    Parameters
    ----------
    model : torch.nn.Module
    loader : iterable of (inputs, labels)
        Batches with integer labels (B,).
    loss : {"ce", "mse"}, default "ce"
        Mean cross-entropy, or the mean of (1/2)||z - onehot(y)||^2.
    num_classes : int, optional
        K of the one-hot targets (default: the number of outputs).
    device : torch.device or str, optional
        Where the batches are moved (the model's device).
    dtype : torch.dtype, optional
        Dtype the inputs are cast to.

    Returns
    -------
    dict
        ``{"loss": mean loss, "error": fraction misclassified}``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
    >>> evaluate(model, [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))])["error"]
    0.5
    """
    total, wrong, loss_sum = 0, 0, 0.0
    with evaluating(model):
        for x, y in loader:
            x = x.to(device=device, dtype=dtype) if dtype is not None else x.to(device)
            y = y.to(device)
            z = model(x)
            K = num_classes or z.shape[1]
            loss_sum += float(_loss_fn(loss, K)(z, y)) * y.shape[0]
            wrong += int((z.argmax(dim=1) != y).sum())
            total += y.shape[0]
    return {"loss": loss_sum / total, "error": wrong / total}


def train_classifier(
    model: nn.Module,
    data: ClassificationData | DataLoader,
    *,
    epochs: int = 100,
    loss: str = "ce",
    optimizer: str = "sgd",
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int | None = 128,
    weight_decay: float = 5e-4,
    head_weight_decay: float | None = None,
    lam_H: float = 0.0,
    feature_penalty: str = "mean",
    schedule: str = "step",
    step_every: int | None = None,
    track_every: int = 1,
    track: bool = True,
    metric_options: dict[str, Any] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> ClassifierResult:
    """Train ``model`` for ``epochs`` epochs and track neural collapse (Papyan et al. 2020).

    The objective is the module docstring's; training runs past zero training error, into the
    terminal phase. The model is moved to ``device``/``dtype`` and left in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier ``backbone -> head`` (the head: ``model.head``, else the last ``nn.Linear``).
    data : ClassificationData or torch.utils.data.DataLoader
        The training (and test) data; a DataLoader is used as it is, without test data.
    epochs : int, default 100
    loss : {"ce", "mse"}, default "ce"
        Mean cross-entropy, or the mean of (1/2)||z - onehot(y)||^2.
    optimizer : {"sgd", "adam"}, default "sgd"
    lr : float, default 0.05
        The initial learning rate, > 0.
    momentum : float, default 0.9
        SGD momentum, in [0, 1].
    batch_size : int or None, default 128
        ``None`` is full-batch training.
    weight_decay : float, default 5e-4
        Weight decay of the feature extractor (PyTorch's: the gradient of (wd/2)||w||^2).
    head_weight_decay : float, optional
        Weight decay of the head (default ``weight_decay``).
    lam_H : float, default 0.0
        The UFM feature penalty on the head's input H.
    feature_penalty : {"mean", "sum"}, default "mean"
        (lam_H/2) mean_i ||h_i||^2, or (lam_H/2) ||H||_F^2 over the training set (estimated per
        batch as (N/B)(lam_H/2) sum_batch ||h_i||^2).
    schedule : {"step", "constant", "cosine"}, default "step"
        ``step``: the rate divided by 10 at 1/3 and 2/3 of the epochs (Papyan et al.), or every
        ``step_every`` epochs when given (Tirer et al.'s weight-decay study: every 40).
    step_every : int, optional
    track_every : int, default 1
        Record a row of ``history`` every this many epochs, and at the last.
    track : bool, default True
        ``False``: only the last epoch's row, without the collapse metrics.
    metric_options : dict, optional
        Options of :func:`nclab.nets.measure` (``global_mean``, ``center_weight``, ``rtol``).
    device : torch.device or str, optional
        Default: the model's device.
    dtype : torch.dtype, optional
        Default: the model's floating dtype.
    seed : int, default 0
        Seed of the batch shuffling.
    progress : bool, optional
        A tqdm bar; default only when stderr is a terminal.

    Returns
    -------
    ClassifierResult
        The model and ``history``: per recorded epoch ``epoch``, ``lr``, ``train_loss`` and
        ``train_error`` (of the data term, in eval mode), ``test_error`` when test data exist,
        and the collapse metrics of the penultimate features on the training set
        (:func:`nclab.nets.measure` with ``layers=[]``).

    Raises
    ------
    ValueError
        If a parameter is invalid (named in the message) or the model has nothing to train.
    FloatingPointError
        If the objective becomes non-finite (lower ``lr``).

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal phase
    of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117.
    T. Tirer, H. Huang, J. Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658 (the MSE loss, Eq. 1).
    C. Garrod, J. P. Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169 (the summed feature penalty of the deep UFM, Sec. 3).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from nclab.nets import gaussian_mixture
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> data = gaussian_mixture(3, 20, 4, separation=8.0)
    >>> result = train_classifier(model, data, epochs=3, batch_size=20, track_every=3)
    >>> result.history["epoch"].tolist()
    [3]
    >>> {"train_loss", "train_error", "test_error", "nc1", "nc4_ncc_mismatch"} <= set(result.history.columns)
    True
    """
    epochs = check_int("epochs", epochs, minimum=1)
    check_choice("loss", loss, CLASSIFIER_LOSSES)
    check_choice("optimizer", optimizer, CLASSIFIER_OPTIMIZERS)
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("feature_penalty", feature_penalty, FEATURE_PENALTIES)
    lr = check_real("lr", lr, minimum=0.0, strict=True)
    momentum = check_real("momentum", momentum, minimum=0.0, maximum=1.0)
    weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    head_weight_decay = weight_decay if head_weight_decay is None else check_real(
        "head_weight_decay", head_weight_decay, minimum=0.0)
    lam_H = check_real("lam_H", lam_H, minimum=0.0)
    track_every = check_int("track_every", track_every, minimum=1)
    if step_every is not None:
        step_every = check_int("step_every", step_every, minimum=1)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    if not isinstance(model, nn.Module):
        fail("model", type(model).__name__, "a torch.nn.Module")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    if dtype is None:  # inputs follow the model's floating dtype
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    train_loader, test_loader, N, K = _loaders(data, batch_size, seed, device)

    head = head_of(model)
    head_ids = {id(p) for p in head.parameters()}
    feat_params = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head_params = [p for p in head.parameters() if p.requires_grad]
    groups = [g for g in ({"params": feat_params, "weight_decay": weight_decay},
                          {"params": head_params, "weight_decay": head_weight_decay}) if g["params"]]
    if not groups:
        fail("model", "a model without trainable parameters", "at least one parameter with requires_grad")
    opt = (torch.optim.SGD(groups, lr=lr, momentum=momentum) if optimizer == "sgd"
           else torch.optim.Adam(groups, lr=lr))
    if schedule == "step" and step_every is not None:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_every, 0.1)
    elif schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [max(1, epochs // 3), max(2, 2 * epochs // 3)], 0.1)
    elif schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    else:
        sched = None
    loss_fn = _loss_fn(loss, K)

    captured: list[torch.Tensor] = []
    hook = None
    if lam_H > 0:
        hook = head.register_forward_pre_hook(lambda _m, inp: captured.append(inp[0]))

    from nclab.nets.features import measure  # lazy: features imports the metrics package

    rows: list[dict] = []
    epoch_zero: int | None = None
    show = sys.stderr.isatty() if progress is None else bool(progress)
    start = time.perf_counter()
    try:
        from tqdm.auto import tqdm

        bar = tqdm(range(1, epochs + 1), disable=not show, desc="train", leave=False)
        for epoch in bar:
            model.train()
            for x, y in train_loader:
                x = x.to(device=device, dtype=dtype) if dtype is not None else x.to(device)
                y = y.to(device)
                captured.clear()
                z = model(x)
                objective = loss_fn(z, y)
                if lam_H > 0:
                    h = captured[-1].flatten(1)
                    sq = (h ** 2).sum(dim=1)
                    scale = N if feature_penalty == "sum" else 1.0
                    objective = objective + 0.5 * lam_H * scale * sq.mean()
                if not torch.isfinite(objective):
                    raise FloatingPointError(f"training diverged at epoch {epoch} (loss {float(objective)}); lower lr")
                opt.zero_grad(set_to_none=True)
                objective.backward()
                opt.step()
            current_lr = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step()
            last = epoch == epochs
            record = last or (track and epoch % track_every == 0)
            if not record and epoch_zero is not None:
                continue
            stats = evaluate(model, train_loader, loss=loss, num_classes=K, device=device, dtype=dtype)
            if stats["error"] == 0 and epoch_zero is None:
                epoch_zero = epoch
            if not record:
                continue
            row: dict[str, Any] = {"epoch": epoch, "lr": current_lr, "train_loss": stats["loss"],
                                   "train_error": stats["error"]}
            if test_loader is not None:
                row["test_error"] = evaluate(model, test_loader, loss=loss, num_classes=K,
                                             device=device, dtype=dtype)["error"]
            if track:
                frame = measure(model, train_loader, layers=[], device=device, dtype=dtype,
                                num_classes=K, **(metric_options or {}))
                metrics = frame.iloc[-1].to_dict()
                for key in ("layer", "module", "measured_at", "activation", "dim", "samples",
                            "nc1_post_act", "nc1_trace_ratio_post_act"):
                    metrics.pop(key, None)
                row.update(metrics)
            rows.append(row)
            bar.set_postfix(loss=f"{stats['loss']:.3g}", err=f"{stats['error']:.3f}")
    finally:
        if hook is not None:
            hook.remove()
        model.eval()
    history = pd.DataFrame(rows)
    cfg = dict(epochs=epochs, loss=loss, optimizer=optimizer, lr=lr, momentum=momentum, batch_size=batch_size,
               weight_decay=weight_decay, head_weight_decay=head_weight_decay, lam_H=lam_H,
               feature_penalty=feature_penalty, schedule=schedule, step_every=step_every, seed=seed)
    return ClassifierResult(model, history, epoch_zero, time.perf_counter() - start, cfg)


def penalised_head_loss(
    model: nn.Module, data: ClassificationData, *, lam_W: float, lam_H: float,
    device: torch.device | str | None = None, dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """The deep-UFM objective of the head on the whole training set (Garrod & Keating, Sec. 3).

    mean CE(Z) + (lam_W/2) sum_l ||W_l||_F^2 + (lam_H/2) ||H_1||_F^2, with H_1 the head's input for
    all N training samples (a sum, not a mean) and W_l the head's Linear weights (biases ignored).
    Evaluated in eval mode under ``torch.no_grad`` (training flags restored).

    Parameters
    ----------
    model : torch.nn.Module
        A network ``backbone -> head`` (``model.head``, else its last ``nn.Linear``).
    data : ClassificationData
        Its training split is used.
    lam_W, lam_H : float
        The weight and feature penalties.
    device : torch.device or str, optional
        Where the inputs are moved (the model's device).
    dtype : torch.dtype, optional
        Dtype the inputs are cast to.

    Returns
    -------
    dict
        ``fit`` (the mean cross-entropy), ``reg_W``, ``reg_H`` and their sum ``total``.

    References
    ----------
    C. Garrod, J. P. Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Sec. 3 (the deep UFM objective).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from nclab.nets import gaussian_mixture
    >>> model = nn.Linear(4, 3)
    >>> with torch.no_grad():
    ...     _ = model.weight.fill_(1.0)
    >>> terms = penalised_head_loss(model, gaussian_mixture(3, 5, 4), lam_W=0.1, lam_H=0.0)
    >>> round(terms["reg_W"], 12), terms["reg_H"]
    (0.6, 0.0)
    """
    head = head_of(model)
    feats: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, inp: feats.append(inp[0].detach().flatten(1)))
    try:
        with evaluating(model):
            ce_sum, total = 0.0, 0
            loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=1024, shuffle=False)
            for x, y in loader:
                x = x.to(device=device, dtype=dtype) if dtype is not None else x.to(device)
                z = model(x)
                ce_sum += float(nn.functional.cross_entropy(z, y.to(z.device), reduction="sum"))
                total += y.shape[0]
    finally:
        hook.remove()
    H = torch.cat(feats)
    w_sq = sum(float((m.weight.detach() ** 2).sum()) for m in head.modules() if isinstance(m, nn.Linear))
    fit, reg_W, reg_H = ce_sum / total, 0.5 * lam_W * w_sq, 0.5 * lam_H * float((H.double() ** 2).sum())
    return {"fit": fit, "reg_W": reg_W, "reg_H": reg_H, "total": fit + reg_W + reg_H}
