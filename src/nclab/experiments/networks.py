"""Neural collapse in real PyTorch networks: the papers' real-network experiments.

- ``papyan-terminal-phase`` (Papyan, Han & Donoho 2020, Figs. 5-8; Han et al. 2022 for MSE):
  NC1..NC4 fall during the terminal phase of training (after zero training error).
- ``tirer2023-layerwise`` (Tirer, Huang & Niles-Weed 2023, Sec. 5): an MLP grown one hidden
  layer at a time, earlier layers frozen; NC1 and the trace ratio decrease with depth.
- ``tirer2023-weight-decay`` (THN Sec. 5): weight decay changed on the head only vs on the
  feature extractor only; the features' decay moves the NC metrics more.
- ``garrod2025-real-head`` (Garrod & Keating 2025, Sec. 6): backbone + deep linear head
  (L = 3, d = 64, lam_W = 5e-3, lam_H = 1e-6): low-rank class-mean logits, loss below the DNC bound
  (in :mod:`nclab.experiments.networks_head`, registered on importing this module).

Quick profiles use scikit-learn's bundled digits; MNIST/FashionMNIST/CIFAR-10 are used only
when ``data`` names them and ``data_root`` points at local files (nothing is downloaded).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .._validation import check_choice, check_int, fail
from .registry import Claim, Outcome, register

_DATA = ("digits", "gaussian", "mnist", "fashionmnist", "cifar10")
_NC_KEYS = ("nc1", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch")
_NC_LABELS = {"nc1": r"NC1: tr$(\Sigma_W\Sigma_B^+)/K$", "nc1_trace_ratio": r"tr$\Sigma_W$/tr$\Sigma_B$",
              "nc2_etf_features": r"NC2 ($\bar H$ ETF error)", "nc2_etf_weight": "NC2 (W ETF error)",
              "nc3_duality": "NC3 (W vs $\\bar H$)", "nc4_ncc_mismatch": "NC4 (NCC mismatch)"}


_TPT_TEXT = {
    "nc1": "NC1: the within-class variation of the last-layer features, tr(Sigma_W Sigma_B^+)/K, decreases "
           "during the terminal phase of training.",
    "nc2_etf_features": "NC2: the centred class means approach a simplex ETF during the terminal phase.",
    "nc2_etf_weight": "NC2: the classifier's rows approach a simplex ETF during the terminal phase.",
    "nc3_duality": "NC3: the classifier converges to the (normalised) centred class means (self-duality).",
    "nc4_ncc_mismatch": "NC4: the network's decisions approach those of the nearest class mean classifier.",
}


def _dtype(name: str) -> torch.dtype:
    check_choice("dtype", name, ("float32", "float64"))
    return torch.float64 if name == "float64" else torch.float32


def _load(cfg: dict):
    """The data set of a config: ``data`` (+ ``data_root`` for files on disk), ``n_per_class``."""
    from ..nets import data as nd

    kind = check_choice("data", cfg["data"], _DATA)
    n = cfg.get("n_per_class")
    seed = int(cfg.get("seed", 0))
    if kind == "digits":
        return nd.digits(seed=seed, n_per_class=n)
    if kind == "gaussian":
        return nd.gaussian_mixture(10, 150, 64, separation=3.0, seed=seed).subsample(n, seed=seed)
    if cfg.get("data_root") is None:
        fail("data_root", None, f"the folder holding the {kind} files when data={kind!r} "
             "(nclab never downloads; use data='digits' otherwise)")
    reader = {"mnist": nd.mnist, "fashionmnist": nd.fashion_mnist, "cifar10": nd.cifar10}[kind]
    return reader(cfg["data_root"], n_per_class=n, seed=seed)


def _backbone(cfg: dict, data, *, head_layers: int = 1, width: int | None = None):
    """An MLP (flat or image inputs) or a CIFAR-style ResNet (image inputs), seeded locally."""
    from ..nets import MLP, ResNet

    arch = check_choice("model", cfg.get("model", "mlp"), ("mlp", "resnet"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.get("seed", 0)))
        if arch == "resnet":
            shape = data.input_shape
            if len(shape) != 3:
                fail("model", "resnet", f"'mlp' for data of shape {shape} (a ResNet needs C x H x W images)")
            w = tuple(cfg.get("resnet_widths", (16, 32, 64)))
            return ResNet(shape[0], data.num_classes, widths=w, blocks_per_stage=int(cfg.get("resnet_blocks", 3)),
                          head_layers=head_layers)
        return MLP(int(np.prod(data.input_shape)), data.num_classes, width=int(width or cfg["width"]),
                   depth=int(cfg["depth"]), activation=cfg.get("activation", "relu"),
                   batchnorm=bool(cfg.get("batchnorm", False)), head_layers=head_layers)


def _train(model, data, cfg: dict, **overrides: Any):
    from ..nets import train_classifier

    kw = dict(epochs=int(cfg["epochs"]), loss=cfg.get("loss", "ce"), optimizer=cfg.get("optimizer", "sgd"),
              lr=float(cfg["lr"]), momentum=float(cfg.get("momentum", 0.9)), batch_size=cfg.get("batch_size"),
              weight_decay=float(cfg.get("weight_decay", 0.0)),
              schedule=cfg.get("schedule", "constant"), track_every=int(cfg.get("track_every", 10)),
              device=cfg["device"], dtype=_dtype(cfg.get("dtype", "float32")), seed=int(cfg.get("seed", 0)),
              progress=False)
    kw.update(overrides)
    return train_classifier(model, data, **kw)


def _figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _source_note(data) -> str:
    return f"data: {data.name}, {data.x_train.shape[0]} training samples, K = {data.num_classes}"


# ------------------------------------------------------------------ Papyan et al.: terminal phase

@register(
    "papyan-terminal-phase",
    paper="networks",
    title="NC1-NC4 fall during the terminal phase of training (MLP)",
    description=(
        "Papyan, Han & Donoho (2020), Figs. 6-9: during the terminal phase of training (after the "
        "training error reaches zero) the within-class variation of the last-layer features "
        "collapses (NC1), the class means and classifier approach a simplex ETF (NC2), the "
        "classifier aligns with the class means (NC3) and the network's decision approaches the "
        "nearest class mean (NC4). Han et al. (2022) report the same under MSE loss. Here: an MLP "
        "with batch norm on scikit-learn's digits (or MNIST/CIFAR-10 from disk), trained with CE and "
        "with MSE by SGD (momentum 0.9, weight decay 5e-4, step schedule), as Papyan et al."
    ),
    # Papyan et al.'s recipe: SGD with momentum 0.9, weight decay 5e-4, lr divided by 10 at 1/3 and
    # 2/3 of 350 epochs, batch norm after every hidden layer. Without batch norm (and with weight
    # decay 5e-3, constant lr) the CE run's NC1 and NC2 rise in the terminal phase on digits; with
    # it every claim reproduces. lr = 0.05: at 0.1 the MSE run with batch norm never fits the data.
    # The quick profile keeps lr constant (150 epochs are too few for the step schedule's decays).
    defaults=dict(data="digits", data_root=None, n_per_class=None, model="mlp", width=256, depth=3,
                  activation="relu", batchnorm=True, losses=("ce", "mse"), optimizer="sgd", lr=0.05,
                  momentum=0.9, batch_size=128, weight_decay=5e-4, schedule="step", epochs=350,
                  track_every=10, dtype="float32", seed=0),
    quick=dict(width=128, depth=2, batch_size=256, epochs=150, track_every=15, schedule="constant"),
)
def papyan_terminal_phase(cfg: dict) -> Outcome:
    data = _load(cfg)
    losses = (cfg["losses"],) if isinstance(cfg["losses"], str) else tuple(cfg["losses"])
    for loss in losses:
        check_choice("losses", loss, ("ce", "mse"))
    out = Outcome(notes=[_source_note(data)])
    fig, axes = _figure(3, 2, 3.6, 2.9)
    panels = ["train_error", *_NC_KEYS]
    positive: dict[str, bool] = {}
    for loss, colour in zip(losses, ("C0", "C3")):
        model = _backbone(cfg, data)
        res = _train(model, data, cfg, loss=loss)
        hist = res.history
        out.tables[f"history_{loss}"] = hist.round(6).to_dict(orient="records")
        start = res.epoch_zero_error
        out.metrics[f"{loss}_epoch_zero_error"] = start
        out.metrics[f"{loss}_final_test_error"] = float(hist["test_error"].iloc[-1])
        out.claims.append(Claim(
            f"{loss}-zero-train-error", text="Training is continued past the point of zero training error.",
            source="Papyan et al. 2020, Sec. 1 (terminal phase of training)", expected="an epoch with train error 0",
            measured=start, passed=start is not None))
        tpt = hist[hist["epoch"] >= start] if start is not None else hist.iloc[0:0]
        for key in _NC_KEYS:
            first = float(tpt[key].iloc[0]) if len(tpt) else math.nan
            last = float(hist[key].iloc[-1])
            out.metrics[f"{loss}_{key}_tpt_start"], out.metrics[f"{loss}_{key}_final"] = first, last
            ok = (last <= first) if key == "nc4_ncc_mismatch" else (last < first)
            out.claims.append(Claim(
                f"{loss}-{key.replace('_', '-')}-falls",
                text=_TPT_TEXT[key],
                source="Papyan et al. 2020, Figs. 6-9" + ("; Han et al. 2022 (MSE)" if loss == "mse" else ""),
                expected=("final <= value at the start of the terminal phase" if key == "nc4_ncc_mismatch"
                          else "final < value at the start of the terminal phase"),
                measured={"tpt_start": first, "final": last}, passed=bool(ok) and start is not None))
        for key in ("nc1_trace_ratio", "cdnv"):  # Sigma_B^+-free companions of NC1, for diagnosis
            first = float(tpt[key].iloc[0]) if len(tpt) else math.nan
            out.metrics[f"{loss}_{key}_tpt_start"], out.metrics[f"{loss}_{key}_final"] = first, float(hist[key].iloc[-1])
            if key == "nc1_trace_ratio" and out.metrics[f"{loss}_nc1_final"] >= out.metrics[f"{loss}_nc1_tpt_start"] \
                    and float(hist[key].iloc[-1]) < first:
                out.notes.append(
                    f"{loss.upper()}: NC1 = tr(Sigma_W Sigma_B^+)/K rose during the terminal phase while "
                    f"tr(Sigma_W)/tr(Sigma_B) fell ({first:.4g} -> {float(hist[key].iloc[-1]):.4g}) and so did the "
                    f"CDNV: the within-class spread shrinks overall, but some between-class directions shrink faster "
                    f"(small eigenvalues of Sigma_B weigh heavily in Sigma_B^+): the class means drift away "
                    f"from a full-rank simplex, which would fit a low-rank bias as in Garrod & Keating (2025) "
                    f"(not checked here).")
        for ax, key in zip(axes, panels):
            values = hist[key].to_numpy(dtype=float)
            positive[key] = positive.get(key, False) or bool(np.any(values > 0))
            ax.plot(hist["epoch"], np.where(values > 0, values, np.nan), color=colour, label=loss.upper())
            if start is not None:
                ax.axvline(start, color=colour, ls=":", lw=1)
    for ax, key in zip(axes, panels):
        if positive.get(key):  # matplotlib refuses a log axis without a positive value (e.g. NC4 = 0 throughout)
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(_NC_LABELS.get(key, "training error"))
        ax.legend(fontsize=7)
    fig.suptitle("Terminal phase of training (dotted: first epoch with zero training error)", fontsize=9)
    out.figures["terminal_phase"] = fig
    failed = [c.id for c in out.claims if not c.passed]
    if failed:
        out.notes.append("Claims not reproduced in this run: " + ", ".join(failed) + ". The MLP on digits is a "
                         "small model on a small data set; metrics that plateau or rise after zero training error "
                         "are reported as measured (Papyan et al. trained deep conv nets for 350 epochs).")
    return out


# ------------------------------------------------------------------ Tirer et al.: layer-wise MLP

@register(
    "tirer2023-layerwise",
    paper="tirer2023",
    title="Layer-wise trained MLP: NC1 decreases with depth",
    description=(
        "Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 3: an MLP is trained layer by layer; at "
        "each stage one hidden layer is added on top of the frozen earlier layers and trained "
        "with a fresh linear head. The within-class variability of the newest layer's features "
        "(NC1 and tr(Sigma_W)/tr(Sigma_B)) decreases with depth, as the anchored UFM predicts "
        "(Cor. 3.2: each layer acts as a perturbation of the previous features)."
    ),
    defaults=dict(data="digits", data_root=None, n_per_class=None, model="mlp", width=128, depth=1, max_depth=6,
                  activation="relu", loss="mse", optimizer="sgd", lr=0.05, batch_size=128, weight_decay=5e-4,
                  schedule="constant", epochs=100, track_every=1000, dtype="float32", seed=0),
    quick=dict(max_depth=4, epochs=40, batch_size=256),
)
def tirer2023_layerwise(cfg: dict) -> Outcome:
    from ..nets import measure

    data = _load(cfg)
    max_depth = check_int("max_depth", cfg["max_depth"], minimum=2)
    cfg = dict(cfg, depth=1)
    model = _backbone(cfg, data)
    rows = []
    for depth in range(1, max_depth + 1):
        if depth > 1:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(cfg["seed"]) + depth)
                model.grow(freeze=True)
        res = _train(model, data, cfg, track=False)
        train_loader, _ = data.loaders(512, shuffle=False)
        frame = measure(model, train_loader, layers=[])
        pen = frame.iloc[-1]
        rows.append({"depth": depth, "nc1": float(pen["nc1"]), "nc1_trace_ratio": float(pen["nc1_trace_ratio"]),
                     "nc2_etf_features": float(pen["nc2_etf_features"]),
                     "train_error": float(res.history["train_error"].iloc[-1]) if len(res.history) else math.nan})
    out = Outcome(notes=[_source_note(data), "Each stage trains only the new hidden layer and a new linear head "
                         f"for {cfg['epochs']} epochs; earlier layers are frozen."])
    out.tables["layerwise"] = rows
    fig, axes = _figure(1, 1, 4.6, 3.4)
    ax = axes[0]
    depths = [r["depth"] for r in rows]
    for key, marker in (("nc1", "o"), ("nc1_trace_ratio", "s")):
        values = [r[key] for r in rows]
        ax.plot(depths, values, marker=marker, label=_NC_LABELS[key])
        diffs = np.diff(values)
        out.metrics[key] = values
        out.claims.append(Claim(
            f"{key.replace('_', '-')}-decreases-with-depth",
            text="Training the MLP layer by layer, the within-class variability of the deepest features "
                 f"({_NC_LABELS[key]}) decreases as layers are added.",
            source="Tirer, Huang & Niles-Weed 2023, Sec. 5 (layer-wise training), Cor. 3.2",
            expected="strictly decreasing in the number of layers",
            measured=[round(v, 6) for v in values], passed=bool(np.all(diffs < 0))))
    ax.set_yscale("log")
    ax.set_xlabel("number of hidden layers (earlier ones frozen)")
    ax.set_ylabel("NC1 of the deepest features")
    ax.set_xticks(depths)
    ax.legend(fontsize=8)
    out.figures["layerwise_nc1"] = fig
    if not all(c.passed for c in out.claims):
        out.notes.append("The decrease was not monotone in this run (see the table); reported as measured.")
    return out


# ------------------------------------------------------------------ Tirer et al.: weight decay

@register(
    "tirer2023-weight-decay",
    paper="tirer2023",
    title="Weight decay on the features vs on the head",
    description=(
        "Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 4: a network is trained with the "
        "baseline weight decay, and with the decay doubled or zeroed either on the last layer "
        "(the head W) only or on the feature mapping only. The NC metrics move much more when "
        "the regularisation of the features changes than when that of the head changes, in "
        "line with the perturbation analysis of the UFM (Thm 4.2: the features' regularisation "
        "enters the near-collapse dynamics directly)."
    ),
    defaults=dict(data="digits", data_root=None, n_per_class=None, model="mlp", width=128, depth=3,
                  activation="relu", loss="ce", optimizer="sgd", lr=0.05, batch_size=128, weight_decay=5e-3,
                  factors=(0.0, 2.0), metrics=("nc1", "nc1_trace_ratio", "nc2_etf_features", "nc3_duality"),
                  schedule="constant", epochs=300, track_every=1000, dtype="float32", seed=0),
    quick=dict(depth=2, batch_size=256, epochs=60),
)
def tirer2023_weight_decay(cfg: dict) -> Outcome:
    from ..nets import measure

    data = _load(cfg)
    wd = float(cfg["weight_decay"])
    factors = tuple(float(f) for f in cfg["factors"])
    keys = tuple(cfg["metrics"])
    runs = {"baseline": (wd, wd)}
    for f in factors:
        runs[f"head x{f:g}"] = (wd, f * wd)
        runs[f"features x{f:g}"] = (f * wd, wd)
    values: dict[str, dict[str, float]] = {}
    for name, (wd_feat, wd_head) in runs.items():
        model = _backbone(cfg, data)
        _train(model, data, cfg, weight_decay=wd_feat, head_weight_decay=wd_head, track=False)
        frame = measure(model, data.loaders(512, shuffle=False)[0], layers=[])
        values[name] = {k: float(frame[k].iloc[-1]) for k in keys}
    base = values["baseline"]

    def change(prefix: str) -> float:
        logs = [abs(math.log(values[f"{prefix} x{f:g}"][k] / base[k])) for f in factors for k in keys]
        return float(np.mean(logs))

    d_head, d_feat = change("head"), change("features")
    out = Outcome(notes=[_source_note(data), "Change = mean over metrics and factors of |log(metric / baseline)|; "
                         "'features' = weight decay of every parameter before the head (the feature mapping)."])
    out.metrics.update({"change_head": d_head, "change_features": d_feat, "values": values})
    out.tables["weight_decay"] = [{"run": k, **v} for k, v in values.items()]
    out.claims.append(Claim(
        "features-decay-moves-nc-more",
        text="Changing the weight decay of the features changes the NC metrics more than changing the "
             "weight decay of the last layer.",
        source="Tirer, Huang & Niles-Weed 2023, Sec. 5 (weight-decay experiment, ResNet18/CIFAR-10)",
        expected="change_features > change_head", measured={"change_features": d_feat, "change_head": d_head},
        passed=d_feat > d_head))
    fig, axes = _figure(len(keys), 1, 3.0, 3.0)
    names = list(values)
    for ax, k in zip(axes, keys):
        ax.bar(range(len(names)), [values[n][k] for n in names],
               color=["grey"] + [("C0" if n.startswith("head") else "C3") for n in names[1:]])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(_NC_LABELS.get(k, k))
    out.figures["weight_decay"] = fig
    if d_feat <= d_head:
        out.notes.append("Not reproduced here: the head's weight decay moved the metrics at least as much.")
    return out



# ------------------------------------------------------------------ Garrod & Keating: deep linear head
# (its own module; imported here so that importing this module registers every network experiment)

from . import networks_head  # noqa: E402,F401  (registers garrod2025-real-head)
