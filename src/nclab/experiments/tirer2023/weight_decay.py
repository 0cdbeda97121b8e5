"""Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 3: weight decay changed on the head only vs on the
feature extractor only; the features' decay moves the NC metrics more.

Registered as ``tirer2023-weight-decay``.
"""
from __future__ import annotations

import math

import numpy as np

from nclab.config import Choice, ListOf, Param, Real
from nclab.experiments._networks import (NC_LABELS, backbone, figure, load_data, network_params, penultimate_metrics,
                                         source_note, train)
from nclab.experiments.registry import Claim, Outcome, register
from nclab.metrics.collapse import KEYS as COLLAPSE_KEYS

PARAMS = {
    **network_params(data="digits", data_root=None, n_per_class=None, model="mlp", width=128, depth=3,
                     activation="relu", loss="ce", optimizer="sgd", lr=0.05, batch_size=128, weight_decay=5e-3,
                     schedule="constant", epochs=300, track_every=1000, dtype="float32", seed=0),
    "factors": Param([0.0, 2.0], ListOf(Real(minimum=0.0), unique=True),
                     "multiples of weight_decay put on the head only, then on the features only"),
    "metrics": Param(["nc1", "nc1_trace_ratio", "nc2_etf_features", "nc3_duality"],
                     ListOf(Choice(*COLLAPSE_KEYS), unique=True), "collapse metrics whose change is averaged"),
}


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
    defaults=PARAMS,
    quick=dict(depth=2, batch_size=256, epochs=60),
    seed_key="seed",
)
def tirer2023_weight_decay(cfg: dict) -> Outcome:
    data = load_data(cfg)
    values = train_runs(cfg, data)
    d_head, d_feat = change(cfg, values, "head"), change(cfg, values, "features")
    out = Outcome(notes=[source_note(data), "Change = mean over metrics and factors of |log(metric / baseline)|; "
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
    out.figures["weight_decay"] = draw(cfg, values)
    if d_feat <= d_head:
        out.notes.append("Not reproduced here: the head's weight decay moved the metrics at least as much.")
    return out


def train_runs(cfg: dict, data) -> dict[str, dict[str, float]]:
    """``{run: {metric: value}}`` for the baseline and each factor on the head or the features."""
    wd = cfg["weight_decay"]
    runs = {"baseline": (wd, wd)}
    for f in cfg["factors"]:
        runs[f"head x{f:g}"] = (wd, f * wd)
        runs[f"features x{f:g}"] = (f * wd, wd)
    values = {}
    for name, (wd_feat, wd_head) in runs.items():
        model = backbone(cfg, data)
        train(model, data, cfg, weight_decay=wd_feat, head_weight_decay=wd_head, track=False)
        frame = penultimate_metrics(model, data)
        values[name] = {k: float(frame[k].iloc[-1]) for k in cfg["metrics"]}
    return values


def change(cfg: dict, values: dict[str, dict[str, float]], prefix: str) -> float:
    """Mean over metrics and factors of |log(metric / baseline)| for the runs on ``prefix``."""
    base = values["baseline"]
    logs = [abs(math.log(values[f"{prefix} x{f:g}"][k] / base[k])) for f in cfg["factors"] for k in cfg["metrics"]]
    return float(np.mean(logs))


def draw(cfg: dict, values: dict[str, dict[str, float]]):
    """One bar panel per metric: its value in every run (grey: baseline, blue: head, red: features)."""
    keys = cfg["metrics"]
    fig, axes = figure(len(keys), 1, 3.0, 3.0)
    names = list(values)
    for ax, k in zip(axes, keys):
        ax.bar(range(len(names)), [values[n][k] for n in names],
               color=["grey"] + [("C0" if n.startswith("head") else "C3") for n in names[1:]])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel(NC_LABELS.get(k, k))
    return fig
