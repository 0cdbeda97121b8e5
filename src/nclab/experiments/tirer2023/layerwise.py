"""Tirer, Huang & Niles-Weed (2023), Sec. 5: an MLP grown one hidden layer at a time, earlier layers
frozen; NC1 and the trace ratio decrease with depth."""
from __future__ import annotations

import math

import numpy as np
import torch

from nclab._validation import check_int
from nclab.experiments._networks import _NC_LABELS, _backbone, _figure, _load, _source_note, _train
from nclab.experiments.registry import Claim, Outcome, register


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
    from nclab.nets import measure

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
