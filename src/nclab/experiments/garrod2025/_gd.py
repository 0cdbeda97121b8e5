"""Garrod & Keating 2025, gradient-descent experiments: the grid unit they share and row helpers.

One grid point (K, n, L, d, lam, init_H, activation, optimiser settings) trains all its seeds in
ONE batched :func:`nclab.train` call: full-batch GD (float32, GK's lr 0.5) from the Gaussian
start, then an L-BFGS polish in float64 (``polish_steps``; 0 switches it off) so that final
losses can be compared with the closed forms. Runs are labelled by
:func:`nclab.ufm.classify_solution` (tolerances ``rank_rtol``, ``nc_tol``).

Initialisation (an open choice of ours: GK do not state theirs, and it moves the DNC-vs-low-rank
outcome, which is why the width experiment runs both): W_l ~ N(0, 1/d) always; ``init_H =
"unit"`` draws H_1 ~ N(0, 1) (default), ``"fan_in"`` draws H_1 ~ N(0, 1/d); a number sets the
standard deviation of H_1 directly.

Each seed's row holds its final ``loss``, its ``train_status`` (:func:`final_status`: ``converged``
when the polish reached ``polish_tol``, ``max_steps`` when it did not or when there was no polish,
``diverged``; the sweep page counts the polished ``max_steps`` runs as not converged), ``label``,
``rank``, ``etf_error``, ``spread``, the Lemma 1 balance gap and the largest per-layer NC1/NC2 (:mod:`._critical`), the K x K class-mean
logits as JSON (``mean_logits``, for the figures) and its loss history.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from nclab.config import Choice, Either, Int, Param, Real, refuse
from nclab.experiments import rules
from nclab.experiments.registry import Claim
from nclab.experiments.rules import proportion
from nclab.seeds import Seeds
from nclab.ufm.solutions import CLASSIFIER_TABLE, classify_params


#: The rule of an ``init_H`` value: a named scale or the standard deviation of H_1.
INIT_H = Either(Choice("unit", "fan_in"), Real(minimum=0.0, strict=True))

#: The unit's config table (one grid point) with the defaults of Garrod & Keating's Fig. 1.
UNIT = {
    "K": Param(10, Int(minimum=2), "number of classes"),
    "n": Param(5, Int(minimum=1), "samples per class"),
    "L": Param(2, Int(minimum=1), "number of linear layers after the features"),
    "d": Param(70, Int(minimum=2), "width (at least K)"),
    "lam": Param(2 ** -10, Real(minimum=0.0, strict=True), "weight decay of every layer and of H_1"),
    "init_H": Param("unit", INIT_H, "scale of H_1 at the start: 'unit' N(0, 1), 'fan_in' N(0, 1/d) or a std > 0"),
    "activation": Param("linear", Choice("linear", "relu"), "activation between the layers"),
    "lr": Param(0.5, Real(minimum=0.0, strict=True), "gradient-descent learning rate"),
    "steps": Param(10000, Int(minimum=1), "gradient-descent steps (float32)"),
    "polish_steps": Param(300, Int(minimum=0), "L-BFGS polish steps in float64 (0: none)"),
    "polish_tol": Param(1e-9, Real(minimum=0.0), "gradient tolerance of the L-BFGS polish"),
    **CLASSIFIER_TABLE,
}

#: The experiments' ``seeds`` key.
SEEDS_HELP = "seeds of every grid point (a count S means 0..S-1)"


def unit_table(**defaults: Any) -> dict[str, Param]:
    """The unit table with some defaults replaced (each experiment's own profile)."""
    unknown = set(defaults) - set(UNIT)
    if unknown:
        raise KeyError(f"not unit keys: {sorted(unknown)}")
    return {k: Param(defaults.get(k, p.default), p.rule, p.help) for k, p in UNIT.items()}


def table(unit: dict[str, Param], *, drop: tuple[str, ...] = (), seeds: int = 10, **extra: Param) -> dict[str, Param]:
    """An experiment's config table: the unit keys (less ``drop``), ``seeds`` and its own keys."""
    out = {k: p for k, p in unit.items() if k not in drop and k != "activation"}
    out["seeds"] = Param(seeds, Seeds(), SEEDS_HELP)
    out.update(extra)
    return out


def check_width(K: int, d: int, where: str = "the grid point") -> None:
    """Garrod & Keating's results assume d >= K: a smaller width is refused naming ``d``."""
    if int(d) < int(K):
        refuse(where, "d", d, f"at least K = {K} (Garrod & Keating's results assume width d >= K)")


def check_unit(config: dict) -> None:
    """The cross-key check of one grid point (the :class:`~nclab.experiments.grid.Grid`'s ``check``)."""
    check_width(config["K"], config["d"])


def check_experiment(name: str):
    """The ``check`` of a GD experiment: every width of its grid (``d`` or ``ds``) at least K."""
    def check(config: dict) -> None:
        for d in config.get("ds", [config.get("d")]):
            check_width(config["K"], d, f"experiment {name!r}")
    return check


def scale_H(init_H: Any, d: int) -> float:
    """The standard deviation of H_1 at the start."""
    if init_H == "unit":
        return 1.0
    if init_H == "fan_in":
        return 1.0 / math.sqrt(d)
    return float(init_H)


def final_status(gd: str, polish: str | None) -> str:
    """A run's training status from its phases' :attr:`nclab.TrainResult.status` values.

    The GD phase has no tolerance, so it ends ``max_steps`` unless it ``diverged``; a diverged
    run stays ``diverged`` whatever its polish does. Otherwise the L-BFGS polish decides
    (``converged`` at ``polish_tol``, or ``max_steps``), or, without a polish (``None``), GD's.
    """
    if gd == "diverged" or polish is None:
        return gd
    return polish


def train_point(config: dict, seeds: list, device: str):
    """Train ``seeds`` batched at one grid point; returns (spec, params float64, history, status).

    ``status`` holds each seed's training status (:func:`final_status`).
    """
    from nclab.ufm.engine import train
    from nclab.ufm.spec import UFMSpec

    K, d, steps, polish = config["K"], config["d"], config["steps"], config["polish_steps"]
    make = UFMSpec.sukenik if config.get("objective", "ce") == "mse" else UFMSpec.garrod  # mse: garrod2025-sukenik
    spec = make(K, config["n"], d, config["L"], config["lam"], activation=config["activation"])
    res = train(spec, seeds=list(seeds), steps=steps, optimizer="gd", lr=config["lr"], init="gaussian",
                scale_H=scale_H(config["init_H"], d), metrics=False, record_every=max(1, steps // 60),
                dtype=torch.float32, device=device)
    params, history = res.params.to(torch.float64), res.history.assign(phase="gd")
    status = [final_status(s, None) for s in res.status]
    if polish > 0:
        pol = train(spec, seeds=list(seeds), steps=polish, optimizer="lbfgs", init=params, metrics=False,
                    record_every=max(1, polish // 10), dtype=torch.float64, tol=config["polish_tol"], device=device)
        params = pol.params
        tail = pol.history.assign(step=pol.history["step"] + steps, phase="lbfgs")
        history = pd.concat([history, tail], ignore_index=True)
        status = [final_status(g, p) for g, p in zip(res.status, pol.status)]
    return spec, params, history, status


def gd_unit(config: dict, seeds: list, device: str) -> list[dict]:
    """The grid unit of the gradient-descent experiments: one row per seed (see the module doc)."""
    from nclab.experiments.garrod2025._critical import critical_point_stats
    from nclab.ufm.objective import forward, parts

    spec, params, history, status = train_point(config, seeds, device)
    crit = critical_point_stats(spec, params)
    with torch.no_grad():
        losses = parts(spec, params)["loss"].cpu().numpy()
        Z, _ = forward(spec, params)
        means = Z.reshape(len(seeds), spec.K, spec.K, spec.n).mean(-1).cpu().numpy()
    labels = classify_params(spec, params, rank_rtol=config["rank_rtol"], nc_tol=config["nc_tol"])
    out = []
    for i, seed in enumerate(seeds):
        loss = float(losses[i])
        c = labels[i]
        h = history[history["seed"] == seed][["step", "phase", "loss"]]
        diverged = not math.isfinite(loss) or status[i] == "diverged"
        out.append({"status": "diverged" if diverged else "done",
                    "metrics": {"loss": loss, "train_status": status[i], "label": c["label"],
                                "rank": int(c["rank"]),
                                "etf_error": float(c["etf_error"]), "spread": float(c["spread"]),
                                **{k: float(v[i]) for k, v in crit.items()},
                                "mean_logits": json.dumps(means[i].tolist())},
                    "history": h.reset_index(drop=True)})
    return out


def mean_logits(row: Any) -> np.ndarray:
    """The K x K class-mean logits of one stored row (column k: the mean logits of class k)."""
    return np.asarray(json.loads(row["mean_logits"]), dtype=float)


def points_table(rows: pd.DataFrame, key: str, value) -> list[dict]:
    """Per grid point (config hash, in row order): label fractions, ranks and mean loss.

    ``value(first_row)`` gives the point's value of ``key`` (the swept quantity). Each point
    reports its number of seeds, its DNC count and P(DNC) with the 95% Wilson interval.
    """
    out = []
    for _, group in rows.groupby("config_hash", sort=False):
        first = group.iloc[0]
        kinds = group["label"].tolist()
        ranks = [int(r) for r in group["rank"]]
        k = kinds.count("dnc")
        est = proportion(k, len(kinds))
        out.append({key: value(first), "init_H": first["init_H"], "d": int(first["d"]), "lam": float(first["lam"]),
                    "n_seeds": len(kinds), "k_dnc": k, "p_dnc": k / len(kinds),
                    "p_dnc_interval": [est.low, est.high],
                    "p_low_rank": kinds.count("low_rank") / len(kinds),
                    "p_other": kinds.count("other") / len(kinds), "mean_rank": float(np.mean(ranks)), "ranks": ranks,
                    "mean_loss": float(np.mean(group["loss"].to_numpy(dtype=float)))})
    return out


def seeds_needed(bound: float, *, upper: bool) -> int:
    """The fewest seeds whose most favourable outcome (0 of n for ``upper``, n of n otherwise)
    puts the 95% Wilson bound on the right side of ``bound``: the power floor of an end claim."""
    n = 1
    while n < 100000:
        est = proportion(0, n) if upper else proportion(n, n)
        if (est.high <= bound) if upper else (est.low >= bound):
            return n
        n += 1
    return n


def power_note(n_seeds: int, need: int, full: int, paper: int = 10) -> str:
    """The quick profile's remark: underpowered with ``n_seeds`` per point, what it would need."""
    if n_seeds >= need:
        return ""
    return (f"underpowered: {n_seeds} seeds per point cannot meet this rule even with the most favourable outcome; "
            f"it needs ≥ {need} seeds per point (the full profile runs {full}, 10× the paper's {paper})")


@dataclass(frozen=True)
class PointRuns:
    """The runs of one grid point as a judge reads them (seed order), with the point's closed forms."""

    rows: pd.DataFrame
    notes: list[str]
    K: int
    n: int
    L: int
    lam: float
    losses: np.ndarray
    kinds: list[str]
    ranks: list[int]
    dnc_loss: float  #: the linear DNC closed form at (K, n, L, lam)
    low_rank_loss: float  #: the linear low-rank closed form at (K, n, L, lam)


def point_runs(rows: pd.DataFrame) -> PointRuns:
    """The first grid point's runs, sizes, final losses, labels, ranks and linear closed-form losses."""
    from nclab import theory as T

    rows, notes = first_point(rows)
    first = rows.iloc[0]
    K, n, L, lam = int(first["K"]), int(first["n"]), int(first["L"]), float(first["lam"])
    return PointRuns(rows, notes, K, n, L, lam, rows["loss"].to_numpy(dtype=float), rows["label"].tolist(),
                     [int(r) for r in rows["rank"]], T.dnc_optimum(K, n, L, lam)[1], T.low_rank_optimum(K, n, L, lam)[1])


def first_point(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the first grid point and, when there are more, a note saying so."""
    if len(rows) == 0:
        raise ValueError("no finished runs to judge")
    first = rows["config_hash"].iloc[0]
    notes = []
    if rows["config_hash"].nunique() > 1:
        notes.append(f"the rows hold {rows['config_hash'].nunique()} grid points; judged: the first ({first[:12]})")
    return rows[rows["config_hash"] == first].reset_index(drop=True), notes


def convergence_notes(rows: pd.DataFrame) -> list[str]:
    """The page's note on runs that did not end at a critical point (empty when all did).

    Reads each row's ``train_status`` (:func:`final_status`; rows of an older nclab without it:
    no note): runs whose polish stopped at ``polish_steps`` before ``polish_tol``, runs without a
    polish (no convergence test) and diverged runs. Their labels are those of the last iterate;
    the claims count them as labelled (the rules are unchanged), so the note says so.

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.experiments.garrod2025._gd import convergence_notes
    >>> rows = pd.DataFrame({"train_status": ["converged", "max_steps"], "polish_steps": [100, 100],
    ...                      "polish_tol": [1e-9, 1e-9]})
    >>> print(convergence_notes(rows)[0][:62])
    not converged: 1 of 2 runs stopped at polish_steps = 100 befor
    """
    if "train_status" not in rows.columns or len(rows) == 0:
        return []
    n = len(rows)
    status = rows["train_status"].astype(str)
    polished = pd.to_numeric(rows["polish_steps"], errors="coerce").fillna(0) > 0
    out = []
    late = rows[(status == "max_steps") & polished]
    if len(late):
        steps = ", ".join(str(int(v)) for v in sorted(late["polish_steps"].unique()))
        tols = ", ".join(f"{float(v):g}" for v in sorted(late["polish_tol"].unique()))
        out.append(f"not converged: {len(late)} of {n} runs stopped at polish_steps = {steps} before the gradient "
                   f"norm reached polish_tol = {tols}; their labels and losses are those of the last iterate (the "
                   "claims count them as labelled). Raise steps or polish_steps to judge them at a critical point.")
    untested = int(((status == "max_steps") & ~polished).sum())
    if untested:
        out.append(f"{untested} of {n} runs had no polish (polish_steps = 0), so no convergence test: their labels "
                   "are those of the last GD iterate.")
    diverged = int((status == "diverged").sum())
    if diverged:
        out.append(f"{diverged} of {n} runs diverged in gradient descent.")
    return out


def stored_settings(rows: pd.DataFrame, keys: tuple[str, ...], config: dict | None = None) -> str:
    """The values of ``keys`` that the stored ``rows`` were trained with, for a figure's title.

    ``"L=4, lr=0.5"``; a key whose rows hold several values reads ``"lr ∈ {0.1, 0.5} (several
    in the rows)"``. A key absent from the rows (a store of an older nclab) takes its value from
    ``config`` and says so.

    Examples
    --------
    >>> import pandas as pd
    >>> from nclab.experiments.garrod2025._gd import stored_settings
    >>> stored_settings(pd.DataFrame({"K": [10, 10], "lr": [0.5, 0.1]}), ("K", "lr"))
    'K=10, lr ∈ {0.1, 0.5} (several in the rows)'
    """
    def words(v: Any) -> str:
        return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)

    out = []
    for key in keys:
        if key not in rows.columns:
            if config is not None and key in config:
                out.append(f"{key}={words(config[key])} (from the profile)")
            continue
        values = sorted(rows[key].dropna().unique().tolist())
        if len(values) == 1:
            out.append(f"{key}={words(values[0])}")
        elif values:
            out.append(f"{key} ∈ {{{', '.join(words(v) for v in values)}}} (several in the rows)")
    return ", ".join(out)


def draw_logits(ax, fig, M: np.ndarray, title: str, fontsize: float | None = None) -> None:
    """A mean-logit matrix on a symmetric colour scale."""
    lim = float(np.abs(M).max())
    im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=fontsize)


#: The paper's number of gradient-descent runs per point (GK Fig. 2) and the full profiles' (10x).
PAPER_SEEDS, FULL_SEEDS = 10, 100


def init_words(init: Any) -> str:
    """The start an ``init_H`` value stands for, in words."""
    if init == "unit":
        return "H_1 ∼ N(0, 1), W_l ∼ N(0, 1/d)"
    if init == "fan_in":
        return "H_1 ∼ N(0, 1/d), W_l ∼ N(0, 1/d)"
    return f"H_1 ∼ N(0, {float(init):g}²), W_l ∼ N(0, 1/d)"


def trend_claim(id: str, text: str, source: str, x_name: str, xs: list, scores: list, point_rows: list[dict],
                note: str) -> Claim:
    """A claim that P(DNC) grows along ``scores`` (one-sided Cochran-Armitage, level 0.05).

    ``xs`` are the grid values reported (``x_name``), ``scores`` the test's scores (e.g. log2 d);
    the measured value holds every point's seeds, DNC count, P(DNC) and Wilson interval.
    """
    from scipy.stats import norm

    ks, ns = [r["k_dnc"] for r in point_rows], [r["n_seeds"] for r in point_rows]
    verdict = rules.trend(scores, ks, ns)
    z = float(verdict.estimate.value)
    measured = {x_name: list(xs), "n_seeds": ns, "k_dnc": ks, "p_dnc": [r["p_dnc"] for r in point_rows],
                "p_dnc_interval": [r["p_dnc_interval"] for r in point_rows], "z": z, "p_value": float(norm.sf(z))}
    return Claim.decided(id, text, source, verdict, measured, note=note, n_seeds=min(ns))
