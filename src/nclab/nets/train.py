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
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nclab._validation import check_choice, check_int, check_real, fail
from nclab.nets._passes import evaluating
from nclab.nets.data import ClassificationData

__all__ = ["train_classifier", "ClassifierResult", "evaluate", "head_of", "CLASSIFIER_LOSSES", "CLASSIFIER_OPTIMIZERS"]

CLASSIFIER_LOSSES = ("ce", "mse")
CLASSIFIER_OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine")
FEATURE_PENALTIES = ("mean", "sum")


@dataclass
class ClassifierResult:
    """A trained model, its per-epoch history and the first epoch with zero training error."""

    model: nn.Module
    history: pd.DataFrame
    epoch_zero_error: int | None
    seconds: float
    config: dict = field(default_factory=dict)


def head_of(model: nn.Module) -> nn.Module:
    """The head of ``model``: its ``head`` attribute, else its last ``nn.Linear``."""
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


def evaluate(model: nn.Module, loader: DataLoader, *, loss: str = "ce", num_classes: int | None = None,
             device=None, dtype: torch.dtype | None = None) -> dict[str, float]:
    """Mean loss and error rate of ``model`` on ``loader`` (eval mode; every module's mode is restored)."""
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

    ``weight_decay`` applies to the feature extractor, ``head_weight_decay`` (default: the
    same) to the head (``model.head``, else the last Linear); ``lam_H`` is the UFM feature
    penalty (see the module docstring; ``feature_penalty`` picks its normalisation). The
    learning rate follows ``schedule``: ``constant``, ``step`` (divided by 10 at 1/3 and 2/3 of
    the epochs, as Papyan et al., or every ``step_every`` epochs when given, as Tirer et al.'s
    weight-decay study: every 40) or ``cosine``. ``batch_size=None`` is full-batch training.
    Every ``track_every`` epochs (and at the last; only the last when ``track=False``, without
    the collapse metrics) a row goes into ``history``: epoch, lr,
    train loss/error (of the objective's data term, measured in eval mode), test error when
    test data exist, and the collapse metrics of the penultimate features on the training set
    (:func:`nclab.nets.measure`, ``layers=[]``). ``progress`` shows a tqdm bar (default: only
    when stderr is a terminal). The model is moved to ``device``/``dtype`` and left in eval mode.
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
    device=None, dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """The deep-UFM objective of the head on the whole training set (Garrod & Keating, Sec. 3).

    mean CE(Z) + (lam_W/2) sum_l ||W_l||_F^2 + (lam_H/2) ||H_1||_F^2, H_1 the head's input for
    all N training samples (a sum, not a mean), W_l the head's Linear weights (biases ignored).
    Returns the three terms and their total.
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
