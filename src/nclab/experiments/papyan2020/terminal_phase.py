"""Papyan, Han & Donoho (2020), Figs. 5-8 (Han et al. 2022 for MSE): NC1..NC4 fall during the terminal
phase of training, measured on a real network trained on bundled digits (or a data set on disk).

Registered as ``papyan-terminal-phase``.
"""
from __future__ import annotations

import math

import numpy as np

from nclab.config import Choice, ListOf, Param
from nclab.experiments._networks import NC_KEYS, NC_LABELS, backbone, figure, load_data, network_params, source_note, train
from nclab.experiments.registry import Claim, Outcome, register
from nclab.experiments.rules import at_most, exact

_TPT_TEXT = {
    "nc1": r"NC1: the within-class variation of the last-layer features, tr$(\Sigma_W\Sigma_B^+)/K$, decreases "
           "during the terminal phase of training.",
    "nc2_etf_features": "NC2: the centred class means approach a simplex ETF during the terminal phase.",
    "nc2_etf_weight": "NC2: the classifier's rows approach a simplex ETF during the terminal phase.",
    "nc3_duality": "NC3: the classifier converges to the (normalised) centred class means (self-duality).",
    "nc4_ncc_mismatch": "NC4: the network's decisions approach those of the nearest class mean classifier.",
}

# Papyan et al.'s recipe: SGD with momentum 0.9, weight decay 5e-4, lr divided by 10 at 1/3 and
# 2/3 of 350 epochs, batch norm after every hidden layer. Without batch norm (and with weight
# decay 5e-3, constant lr) the CE run's NC1 and NC2 rise in the terminal phase on digits; with
# it every claim reproduces. lr = 0.05: at 0.1 the MSE run with batch norm never fits the data.
# The quick profile keeps lr constant (150 epochs are too few for the step schedule's decays).
PARAMS = {
    **network_params(data="digits", data_root=None, n_per_class=None, model="mlp", width=256, depth=3,
                     activation="relu", batchnorm=True, optimizer="sgd", lr=0.05, momentum=0.9, batch_size=128,
                     weight_decay=5e-4, schedule="step", epochs=350, track_every=10, dtype="float32", seed=0),
    "losses": Param(["ce", "mse"], ListOf(Choice("ce", "mse"), unique=True), "training losses, one run each"),
}

_COLOURS = {"ce": "C0", "mse": "C3"}

#: The fall each NC metric must show over the terminal phase (start of TPT / end of training), fixed from
#: the paper before running: Papyan et al.'s Figs. 5-8 (and Han et al.'s MSE figures) plot the metrics on
#: log axes, where over the terminal phase they fall by an order of magnitude or more.
FACTOR = 10.0


@register(
    "papyan-terminal-phase",
    paper="papyan2020",
    title="NC1-NC4 fall during the terminal phase of training (MLP)",
    description=(
        "Papyan, Han & Donoho (2020), Figs. 5-8: during the terminal phase of training (after the "
        "training error reaches zero) the within-class variation of the last-layer features "
        "collapses (NC1), the class means and classifier approach a simplex ETF (NC2), the "
        "classifier aligns with the class means (NC3) and the network's decision approaches the "
        "nearest class mean (NC4). Han et al. (2022) report the same under MSE loss. Here: an MLP "
        "with batch norm on scikit-learn's digits (or MNIST/CIFAR-10 from disk), trained with CE and "
        "with MSE by SGD (momentum 0.9, weight decay 5e-4; --full: 350 epochs with Papyan et al.'s step "
        "schedule, the quick profile: 150 epochs at a constant rate; the run's note says which). Each "
        "metric must fall by a factor 10 from the first zero-error epoch to the end (one run per loss, "
        "as the paper's one curve per data set and network)."
    ),
    defaults=PARAMS,
    quick=dict(width=128, depth=2, batch_size=256, epochs=150, track_every=15, schedule="constant"),
    seed_key="seed",
)
def papyan_terminal_phase(cfg: dict) -> Outcome:
    data = load_data(cfg)
    out = Outcome(notes=[source_note(data) + f"; model: {cfg['model']} of width {cfg['width']} and depth "
                         f"{cfg['depth']}{' with batch norm' if cfg['batchnorm'] else ''}; {cfg['optimizer']} lr "
                         f"{cfg['lr']:g}, {cfg['schedule']} schedule, {cfg['epochs']} epochs, metrics every "
                         f"{cfg['track_every']} epochs"])
    runs = {}
    for loss in cfg["losses"]:
        res = train(backbone(cfg, data), data, cfg, loss=loss)
        runs[loss] = (res.history, res.epoch_zero_error)
        out.tables[f"history_{loss}"] = res.history.round(6).to_dict(orient="records")
        judge(loss, res.history, res.epoch_zero_error, out)
    out.figures["terminal_phase"] = draw(runs)
    failed = [c.id for c in out.claims if not c.passed and c.kind == "claim"]
    if failed:
        out.notes.append("Claims not reproduced in this run: " + ", ".join(failed) + f" (no fall by a factor "
                         f"{FACTOR:g} over the terminal phase). The MLP on digits is a small model on a small data "
                         "set trained for few epochs; Papyan et al. trained deep conv nets for 350 epochs.")
    return out


def judge(loss: str, hist, start: int | None, out: Outcome) -> None:
    """Add one loss's check (zero training error reached), claims (each NC metric falls by at least the
    factor :data:`FACTOR` over the terminal phase), metrics and notes."""
    out.metrics[f"{loss}_epoch_zero_error"] = start
    out.metrics[f"{loss}_final_test_error"] = float(hist["test_error"].iloc[-1])
    out.claims.append(Claim(
        f"{loss}-zero-train-error", text="Training is continued past the point of zero training error.",
        source="Papyan et al. 2020, Sec. 1 (terminal phase of training)", expected="an epoch with train error 0",
        measured=start, passed=start is not None, kind="check",
        note="precondition of the terminal-phase claims (no terminal phase without it)"))
    tpt = hist[hist["epoch"] >= start] if start is not None else hist.iloc[0:0]
    for key in (*NC_KEYS, "nc1_trace_ratio", "cdnv"):  # the last two: Sigma_B^+-free companions of NC1
        first = float(tpt[key].iloc[0]) if len(tpt) else math.nan
        out.metrics[f"{loss}_{key}_tpt_start"], out.metrics[f"{loss}_{key}_final"] = first, float(hist[key].iloc[-1])
    for key in NC_KEYS:
        first, last = out.metrics[f"{loss}_{key}_tpt_start"], out.metrics[f"{loss}_{key}_final"]
        ratio = fall_ratio(first, last)
        out.claims.append(Claim.decided(
            f"{loss}-{key.replace('_', '-')}-falls", _TPT_TEXT[key],
            "Papyan et al. 2020, Figs. 5-8 (log-scale curves)" + ("; Han et al. 2022 (MSE)" if loss == "mse" else ""),
            at_most(exact(ratio), 1.0 / FACTOR), measured={"tpt_start": first, "final": last, "ratio": ratio},
            note=f"ratio = final / value at the first zero-error epoch; rule fixed from the paper: a fall by a "
                 f"factor ≥ {FACTOR:g} (an order of magnitude on the figures' log axes)"))
    first, last = out.metrics[f"{loss}_nc1_trace_ratio_tpt_start"], out.metrics[f"{loss}_nc1_trace_ratio_final"]
    if out.metrics[f"{loss}_nc1_final"] >= out.metrics[f"{loss}_nc1_tpt_start"] and last < first:
        out.notes.append(
            f"{loss.upper()}: NC1 = tr(Σ_W Σ_B⁺)/K rose during the terminal phase while "
            f"tr(Σ_W)/tr(Σ_B) fell ({first:.4g} → {last:.4g}) and so did the "
            f"CDNV: the within-class spread shrinks overall, but some between-class directions shrink faster "
            f"(small eigenvalues of Σ_B weigh heavily in Σ_B⁺): the class means drift away "
            f"from a full-rank simplex, which would fit a low-rank bias as in Garrod & Keating (2025) "
            f"(not checked here).")


def fall_ratio(first: float, last: float) -> float:
    """``last / first``; 0 when both are 0 (NC4's mismatch already 0), +inf when only ``first`` is 0, NaN
    without a terminal phase."""
    if math.isnan(first) or math.isnan(last):
        return math.nan
    if first == 0:
        return 0.0 if last == 0 else math.inf
    return last / first


def draw(runs: dict):
    """Training error and NC1..NC4 against the epoch, one line per loss (dotted: first zero-error
    epoch). A panel whose values are all positive has a log axis; one with zeros (the training error
    after it reaches 0, an NC4 mismatch of 0) a symlog axis, linear below its smallest positive
    value, so that the zeros are drawn and not dropped (said in the panel)."""
    from matplotlib.lines import Line2D

    fig, axes = figure(3, 2, 3.6, 2.9)
    panels = ["train_error", *NC_KEYS]
    values_of: dict[str, list[np.ndarray]] = {}
    for loss, (hist, start) in runs.items():
        for ax, key in zip(axes, panels):
            values = hist[key].to_numpy(dtype=float)
            values_of.setdefault(key, []).append(values)
            ax.plot(hist["epoch"], values, color=_COLOURS[loss], label=loss.upper(), marker=".", ms=4)
            if start is not None:
                ax.axvline(start, color=_COLOURS[loss], ls=":", lw=1)
    for ax, key in zip(axes, panels):
        every = np.concatenate(values_of.get(key, [np.zeros(0)]))
        every = every[np.isfinite(every)]
        positive = every[every > 0]
        if len(positive) and len(positive) == len(every):
            ax.set_yscale("log")
        elif len(positive):
            ax.set_yscale("symlog", linthresh=float(positive.min()))
            ax.set_ylim(bottom=0)
            ax.text(0.02, 0.02, f"symlog: zeros drawn at 0,\nlinear below {positive.min():.2g}",
                    transform=ax.transAxes, fontsize=6, va="bottom", color="0.3")
        else:
            ax.text(0.02, 0.02, "0 throughout", transform=ax.transAxes, fontsize=7, va="bottom", color="0.3")
        ax.set_xlabel("epoch")
        ax.set_ylabel(NC_LABELS.get(key, "training error"))
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="0.3", ls=":", lw=1))
        labels.append("first zero-error epoch")
        ax.legend(handles, labels, fontsize=6)
    fig.suptitle("Terminal phase of training (dotted: first epoch with zero training error)", fontsize=9)
    return fig
