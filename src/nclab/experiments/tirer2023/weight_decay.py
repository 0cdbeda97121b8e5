"""Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 3: weight decay changed on the head only vs on the
feature extractor only; the features' decay moves the NC metrics more, and more decay gives more collapse.

Registered as ``tirer2023-weight-decay``. The paper's design, in both of its arms: MSE loss with a
classifier without bias, and cross-entropy with a bias; the baseline weight decay 5e-4 on every
parameter, then doubled or zeroed on the head only and on the features only (five runs per arm
and seed); SGD with momentum 0.9 and lr 0.05 divided by 10 every 40 epochs. The paper trains
ResNet18 on CIFAR-10 (``--set model=resnet18 --set data=cifar10 --set data_root=DIR``, read from
disk, never downloaded); the quick and default profiles run the same design with a small CNN on
scikit-learn's bundled digits (the quick one on 40 images per class for 24 epochs, the lr divided
every 8).

Claims, per arm, over the seeds (paired by seed, 95% t intervals): the features' change moves
the NC metrics more than the head's (mean over the factors of |log(metric / baseline)|, averaged
over the metrics), and the direction of each change of the features' decay (zeroed: less
collapse, the metrics rise; doubled: more collapse, they fall).
"""
from __future__ import annotations

import math

import numpy as np

from nclab.config import Choice, ListOf, Param, Real
from nclab.experiments._networks import (NC_LABELS, backbone, figure, load_data, network_params, penultimate_metrics,
                                         seeds_param, source_note, train)
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.rules import at_least, at_most, mean
from nclab.metrics.collapse import KEYS as COLLAPSE_KEYS

#: Seeds of the profiles: the claims need at least 5 (THN's Fig. 3 shows one run per setting).
FULL_SEEDS = 5
QUICK_SEEDS = 5

#: The paper's two arms: loss and whether the classifier has a bias.
ARMS = {"mse": ("mse", False), "ce": ("ce", True)}

PARAMS = {
    **network_params(data="digits", data_root=None, n_per_class=None, model="cnn", width=128, depth=3,
                     activation="relu", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=128, weight_decay=5e-4,
                     schedule="step", step_every=40, epochs=120, track_every=1000, dtype="float32"),
    "arms": Param(list(ARMS), ListOf(Choice(*ARMS), unique=True),
                  "arms of the study: 'mse' (squared loss, classifier without bias), 'ce' (cross-entropy, with bias)"),
    "seeds": seeds_param(FULL_SEEDS),
    "factors": Param([0.0, 2.0], ListOf(Real(minimum=0.0), unique=True),
                     "multiples of weight_decay put on the head only, then on the features only"),
    "metrics": Param(["nc1", "nc1_trace_ratio", "nc2_etf_features", "nc3_duality"],
                     ListOf(Choice(*COLLAPSE_KEYS), unique=True), "collapse metrics whose change is averaged"),
}

_SOURCE = "Tirer, Huang & Niles-Weed 2023, Sec. 5 / Fig. 3 (weight-decay experiment, ResNet18/CIFAR-10)"


@register(
    "tirer2023-weight-decay",
    paper="tirer2023",
    title="Weight decay on the features vs on the head (both arms)",
    description=(
        "Tirer, Huang & Niles-Weed (2023), Sec. 5 / Fig. 3: a network is trained with the "
        "baseline weight decay (5e-4), and with the decay doubled or zeroed either on the last layer "
        "(the head W) only or on the feature mapping only, for MSE without bias and for CE with bias. "
        "The NC metrics move much more when the regularisation of the features changes than when that "
        "of the head changes, and more decay on the features gives more collapse, in line with the "
        "perturbation analysis of the UFM (Thm 4.2: λ_H attenuates the intra-class blocks, which "
        "dominate). Every run is trained once per seed; the claims are decided on 95% t intervals over "
        "the seeds."
    ),
    defaults=PARAMS,
    quick=dict(n_per_class=40, epochs=24, step_every=8, seeds=QUICK_SEEDS),
    seed_key="seeds",
)
def tirer2023_weight_decay(cfg: dict) -> Outcome:
    runs = {arm: {seed: train_runs(dict(cfg, seed=seed), arm) for seed in cfg["seeds"]} for arm in cfg["arms"]}
    logs = {arm: log_ratios(cfg, r) for arm, r in runs.items()}
    out = Outcome(notes=[source_note(load_data(dict(cfg, seed=cfg["seeds"][0]))) + " (split per seed)",
                         (f"{cfg['model']} backbone; SGD momentum {cfg['momentum']:g}, lr {cfg['lr']:g} divided by 10 every "
                          f"{cfg['step_every']} epochs, {cfg['epochs']} epochs, baseline weight decay "
                          f"{cfg['weight_decay']:g}. log ratio = log(metric / baseline metric of the same seed), "
                          f"averaged over the metrics {', '.join(cfg['metrics'])}; change = mean over the factors of "
                          "|log ratio|. 'features' = the weight decay of every parameter before the head.")],
                  claims=[c for arm in cfg["arms"] for c in judge(cfg, logs[arm], arm)],
                  figures={f"weight_decay_{arm}": draw(cfg, runs[arm]) for arm in cfg["arms"]})
    out.tables["weight_decay"] = [{"arm": arm, "seed": s, "run": k, **v} for arm, r in runs.items()
                                  for s, vals in r.items() for k, v in vals.items()]
    out.tables["log_ratio"] = [{"arm": arm, "run": a, "seeds": len(v), **mean(v).to_dict()}
                               for arm, lg in logs.items() for a, v in lg.items()]
    for arm, lg in logs.items():
        out.metrics.update({f"{arm}:log_ratio": {a: list(v) for a, v in lg.items()},
                            **{f"{arm}:{k}": v for k, v in changes(cfg, lg).items()}})
    if len(cfg["seeds"]) < 5:
        out.notes.append(f"Underpowered: {len(cfg['seeds'])} seeds (t intervals with {len(cfg['seeds']) - 1} "
                         "degrees of freedom); the claims need ≥ 5.")
    return out


def train_runs(cfg: dict, arm: str = "ce") -> dict[str, dict[str, float]]:
    """``{run: {metric: value}}`` of one seed and arm: the baseline and each factor on the head or the features."""
    loss, bias = ARMS[arm]
    cfg = dict(cfg, loss=loss, head_bias=bias)
    data = load_data(cfg)
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


def log_ratios(cfg: dict, runs: dict) -> dict[str, np.ndarray]:
    """``{run: per-seed log ratio to the baseline, averaged over the metrics}`` for every non-baseline run."""
    arms = [a for a in next(iter(runs.values())) if a != "baseline"]
    return {a: np.array([np.mean([math.log(v[a][k] / v["baseline"][k]) for k in cfg["metrics"]])
                         for v in runs.values()]) for a in arms}


def changes(cfg: dict, logs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-seed change of the head's and of the features' runs: mean over the factors of |log ratio|."""
    return {f"change_{p}": np.mean([np.abs(logs[f"{p} x{f:g}"]) for f in cfg["factors"]], axis=0)
            for p in ("head", "features")}


def judge(cfg: dict, logs: dict[str, np.ndarray], arm: str = "ce") -> list[Claim]:
    """One arm: (a) the features' change exceeds the head's; (b) the direction of each change of the features' decay."""
    ch = changes(cfg, logs)
    diff = ch["change_features"] - ch["change_head"]
    what = {"mse": "MSE, classifier without bias", "ce": "cross-entropy, classifier with bias"}[arm]
    claims = [Claim.decided(
        f"{arm}-features-decay-moves-nc-more",
        "Changing the weight decay of the features changes the NC metrics more than changing the weight decay "
        f"of the last layer ({what}).", _SOURCE, at_least(mean(diff), 0.0),
        measured={"change_features": mean(ch["change_features"]).to_dict(),
                  "change_head": mean(ch["change_head"]).to_dict(), "difference": mean(diff).to_dict()},
        note="decided on the per-seed difference change_features - change_head (paired by seed)")]
    for f in cfg["factors"]:
        if f == 1.0:
            continue
        more = f > 1.0
        est = mean(logs[f"features x{f:g}"])
        claims.append(Claim.decided(
            f"{arm}-features-decay-x{f:g}-{'lowers' if more else 'raises'}-nc",
            f"{'More' if more else 'Less'} weight decay on the features gives {'more' if more else 'less'} "
            f"collapse: the NC metrics {'fall' if more else 'rise'} when the features' decay is multiplied by "
            f"{f:g} ({what}).", _SOURCE, at_most(est, 0.0) if more else at_least(est, 0.0),
            note="estimate: per-seed log(metric / baseline), averaged over the metrics"))
    return claims


def draw(cfg: dict, runs: dict):
    """Per metric, two panels. Top: bars of its geometric mean over the seeds in every run, on a
    linear axis from 0 (grey: baseline, blue: the head's weight decay times the factor, red: the
    features' weight decay times the factor), the seeds as dots. Bottom: the per-seed change
    against the baseline of the same seed, in %, mean with its 95% t interval over the seeds
    (what the claims judge), and a labelled line at 0 (no change)."""
    from matplotlib.patches import Patch

    keys = cfg["metrics"]
    fig, axes = figure(len(keys), 2, 3.0, 2.8)
    top, bottom = axes[:len(keys)], axes[len(keys):]
    names = list(next(iter(runs.values())))
    colors = ["grey"] + [("C0" if n.startswith("head") else "C3") for n in names[1:]]
    seeds = len(runs)
    for ax, low, k in zip(top, bottom, keys):
        per_seed = np.array([[vals[n][k] for n in names] for vals in runs.values()])
        ax.bar(range(len(names)), np.exp(np.log(per_seed).mean(axis=0)), color=colors)
        for row in per_seed:
            ax.plot(range(len(names)), row, "k.", ms=3)
        ax.set_ylim(bottom=0)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([])
        ax.set_ylabel(NC_LABELS.get(k, k))
        change = 100 * (per_seed[:, 1:] / per_seed[:, :1] - 1)
        for j in range(change.shape[1]):
            est = mean(change[:, j])
            lo, hi = (est.low, est.high) if np.isfinite(est.low) else (est.value, est.value)
            low.errorbar([j + 1], [est.value], yerr=[[est.value - lo], [hi - est.value]], fmt="o",
                         color=colors[j + 1], capsize=3)
        low.axhline(0, color="grey", lw=0.8, label="baseline (no change)")
        low.set_xlim(-0.5, len(names) - 0.5)
        low.set_xticks(range(len(names)))
        low.set_xticklabels(names, rotation=60, fontsize=7)
        low.set_ylabel("change vs baseline (%)")
    fig.legend(handles=[Patch(color="grey", label=f"baseline: weight decay {cfg['weight_decay']:g} everywhere"),
                        Patch(color="C0", label="head xF: the last layer's weight decay times F"),
                        Patch(color="C3", label="features xF: the decay before the head times F")],
               fontsize=7, loc="outside upper center", ncol=3)
    bottom[0].legend(fontsize=6, loc="best", title=f"mean, 95% t interval ({seeds} seeds)", title_fontsize=6)
    return fig
