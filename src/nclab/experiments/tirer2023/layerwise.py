"""Tirer, Huang & Niles-Weed (2023), Sec. 5: an MLP grown one hidden layer at a time, earlier layers
frozen; NC1 and the trace ratio decrease with depth.

Registered as ``tirer2023-layerwise``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from nclab.config import Int, Param
from nclab.experiments._networks import (NC_LABELS, backbone, figure, load_data, network_params, penultimate_metrics,
                                         source_note, train)
from nclab.experiments.registry import Claim, Outcome, register

PARAMS = {
    **network_params(data="digits", data_root=None, n_per_class=None, model="mlp", width=128, activation="relu",
                     loss="mse", optimizer="sgd", lr=0.05, batch_size=128, weight_decay=5e-4, schedule="constant",
                     epochs=100, track_every=1000, dtype="float32", seed=0),
    "max_depth": Param(6, Int(minimum=2), "hidden layers of the last stage (the first stage has one)"),
}

#: The collapse metrics whose decrease with depth is claimed.
KEYS = ("nc1", "nc1_trace_ratio")


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
    defaults=PARAMS,
    quick=dict(max_depth=4, epochs=40, batch_size=256),
    seed_key="seed",
)
def tirer2023_layerwise(cfg: dict) -> Outcome:
    data = load_data(cfg)
    rows = grow_and_measure(cfg, data)
    out = Outcome(notes=[source_note(data), "Each stage trains only the new hidden layer and a new linear head "
                         f"for {cfg['epochs']} epochs; earlier layers are frozen."],
                  tables={"layerwise": rows}, claims=judge(rows), figures={"layerwise_nc1": draw(rows)})
    out.metrics.update({key: [r[key] for r in rows] for key in KEYS})
    if not all(c.passed for c in out.claims):
        out.notes.append("The decrease was not monotone in this run (see the table); reported as measured.")
    return out


def grow_and_measure(cfg: dict, data) -> list[dict]:
    """Train stage by stage (depth 1 .. max_depth); one row of penultimate metrics per stage."""
    cfg = dict(cfg, depth=1)
    model = backbone(cfg, data)
    rows = []
    for depth in range(1, cfg["max_depth"] + 1):
        if depth > 1:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg["seed"] + depth)
                model.grow(freeze=True)
        res = train(model, data, cfg, track=False)
        pen = penultimate_metrics(model, data).iloc[-1]
        rows.append({"depth": depth, "nc1": float(pen["nc1"]), "nc1_trace_ratio": float(pen["nc1_trace_ratio"]),
                     "nc2_etf_features": float(pen["nc2_etf_features"]),
                     "train_error": float(res.history["train_error"].iloc[-1]) if len(res.history) else math.nan})
    return rows


def judge(rows: list[dict]) -> list[Claim]:
    """NC1 and the trace ratio strictly decrease in the number of layers."""
    claims = []
    for key in KEYS:
        values = [r[key] for r in rows]
        claims.append(Claim(
            f"{key.replace('_', '-')}-decreases-with-depth",
            text="Training the MLP layer by layer, the within-class variability of the deepest features "
                 f"({NC_LABELS[key]}) decreases as layers are added.",
            source="Tirer, Huang & Niles-Weed 2023, Sec. 5 (layer-wise training), Cor. 3.2",
            expected="strictly decreasing in the number of layers",
            measured=[round(v, 6) for v in values], passed=bool(np.all(np.diff(values) < 0))))
    return claims


def draw(rows: list[dict]):
    """Both measures of NC1 against the number of hidden layers."""
    fig, axes = figure(1, 1, 4.6, 3.4)
    ax = axes[0]
    depths = [r["depth"] for r in rows]
    for key, marker in zip(KEYS, ("o", "s")):
        ax.plot(depths, [r[key] for r in rows], marker=marker, label=NC_LABELS[key])
    ax.set_yscale("log")
    ax.set_xlabel("number of hidden layers (earlier ones frozen)")
    ax.set_ylabel("NC1 of the deepest features")
    ax.set_xticks(depths)
    ax.legend(fontsize=8)
    return fig
