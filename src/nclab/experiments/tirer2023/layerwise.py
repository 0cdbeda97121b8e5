"""Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 2: an MLP grown one hidden layer at a time, earlier
layers frozen; NC1 and the trace ratio decrease with depth (decided over seeds, layer by layer).

Registered as ``tirer2023-layerwise``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from nclab.config import Int, Param
from nclab.experiments._networks import (NC_LABELS, backbone, figure, load_data, network_params, penultimate_metrics,
                                         seeds_param, source_note, train)
from nclab.experiments.bands import geometric_band
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.rules import Verdict, mean

#: Seeds of the full profile: THN's Fig. 2 shows one run, the full profile runs 10x that.
FULL_SEEDS = 10
QUICK_SEEDS = 3

PARAMS = {
    **network_params(data="digits", data_root=None, n_per_class=None, model="mlp", width=128, activation="relu",
                     loss="mse", optimizer="sgd", lr=0.05, batch_size=128, weight_decay=5e-4, schedule="constant",
                     epochs=100, track_every=1000, dtype="float32"),
    "seeds": seeds_param(FULL_SEEDS),
    "max_depth": Param(10, Int(minimum=2), "hidden layers of the last stage (the first stage has one; THN Fig. 2: "
                       "10)"),
}

#: The collapse metrics whose decrease with depth is claimed.
KEYS = ("nc1", "nc1_trace_ratio")


@register(
    "tirer2023-layerwise",
    paper="tirer2023",
    title="Layer-wise trained MLP: NC1 decreases with depth",
    description=(
        "Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 2: an MLP is trained layer by layer; at "
        "each stage one hidden layer is added on top of the frozen earlier layers and trained "
        "with a fresh linear head. The within-class variability of the newest layer's features "
        "(NC1 and tr(Σ_W)/tr(Σ_B)) decreases with depth, as the anchored UFM predicts "
        "(Cor. 3.2: each layer acts as a perturbation of the previous features). One run per "
        "seed; each added layer's decrease is decided on a 95% t interval over the seeds."
    ),
    defaults=PARAMS,
    quick=dict(max_depth=4, epochs=40, batch_size=256, seeds=QUICK_SEEDS),
    seed_key="seeds",
)
def tirer2023_layerwise(cfg: dict) -> Outcome:
    data = {s: load_data(dict(cfg, seed=s)) for s in cfg["seeds"]}  # each seed's own split, loaded once
    rows = [dict(r, seed=s) for s in cfg["seeds"] for r in grow_and_measure(dict(cfg, seed=s), data[s])]
    out = Outcome(notes=[source_note(data[cfg["seeds"][0]]) + " (split per seed)",
                         ("Each stage trains only the new hidden layer and a new linear head "
                          f"for {cfg['epochs']} epochs; earlier layers are frozen.")],
                  tables={"layerwise": rows}, claims=judge(rows), figures={"layerwise_nc1": draw(rows)})
    out.tables["steps"] = step_table(rows)
    out.metrics.update({key: {str(s): [r[key] for r in rows if r["seed"] == s] for s in cfg["seeds"]} for key in KEYS})
    if len(cfg["seeds"]) < 5:
        out.notes.append(f"Underpowered: {len(cfg['seeds'])} seeds (t intervals with {len(cfg['seeds']) - 1} "
                         f"degrees of freedom); the full profile runs {FULL_SEEDS}.")
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


def steps(rows: list[dict], key: str) -> dict[int, np.ndarray]:
    """``{depth d: per-seed log(key at depth d / key at depth d-1)}`` for every added layer."""
    by_seed: dict[int, dict[int, float]] = {}
    for r in rows:
        by_seed.setdefault(r["seed"], {})[r["depth"]] = r[key]
    depths = sorted(next(iter(by_seed.values())))[1:]
    return {d: np.log([v[d] / v[d - 1] for v in by_seed.values()]) for d in depths}


def step_table(rows: list[dict]) -> list[dict]:
    """One row per metric and added layer: the mean per-seed log ratio and its 95% t interval."""
    return [{"metric": key, "depth": d, **mean(v).to_dict()} for key in KEYS for d, v in steps(rows, key).items()]


def judge(rows: list[dict]) -> list[Claim]:
    """NC1 and the trace ratio decrease at every added layer: the upper end of the 95% t interval of the
    per-seed log ratio (depth d over depth d-1) is below 0 for every d; the worst layer is reported."""
    claims = []
    for key in KEYS:
        ests = {d: mean(v) for d, v in steps(rows, key).items()}
        worst = max(ests, key=lambda d: ests[d].high)
        verdict = Verdict(all(e.high < 0 for e in ests.values()),
                          "every added layer: upper end of the 95% t interval of log(NC1 at d / NC1 at d-1) < 0",
                          ests[worst], "direction")
        claims.append(Claim.decided(
            f"{key.replace('_', '-')}-decreases-with-depth",
            "Training the MLP layer by layer, the within-class variability of the deepest features "
            f"({NC_LABELS[key]}) decreases as layers are added.",
            "Tirer, Huang & Niles-Weed 2023, Sec. 5 / Fig. 2 (layer-wise training), Cor. 3.2", verdict,
            measured={f"depth {d}": e.to_dict() for d, e in ests.items()},
            note=f"estimate and interval: the added layer with the weakest decrease (depth {worst})"))
    return claims


def draw(rows: list[dict]):
    """Both measures of NC1 against the number of hidden layers: one thin line per seed, the geometric
    mean over the seeds in bold with the 95% t interval of the mean log (shaded)."""
    fig, axes = figure(1, 1, 4.6, 3.4)
    ax = axes[0]
    depths = sorted({r["depth"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    for key, marker, colour in zip(KEYS, ("o", "s"), ("C0", "C1")):
        values = np.array([[r[key] for r in rows if r["seed"] == s] for s in seeds])
        for v in values:
            ax.plot(depths, v, color=colour, lw=0.6, alpha=0.5)
        geometric_band(ax, depths, values, color=colour, marker=marker, label=NC_LABELS[key])
    ax.set_yscale("log")
    ax.set_xlabel("number of hidden layers (earlier ones frozen)")
    ax.set_ylabel("NC1 of the deepest features")
    ax.set_xticks(depths)
    ax.legend(fontsize=8)
    return fig
