"""What both figures of Mixon, Parshall, Pi share: the config table and the gradient-descent run.

Both figures run gradient descent on R_e(H, W, b) = 1/(2CN) ||W H + b 1^T - Y||^2 (C = N = 3,
p = 15) with the UFM engine (``nclab.train``, ``UFMSpec.mixon``) from random starts with
||H_0||_F = ||W_0||_F = eps and b_0 = 0, one batch holding every (eps, seed). The engine is run
in chunks between recorded iterations (plain GD has no state, so chunking changes nothing)
and the strong-NC errors / distance to S come from :mod:`nclab.theory.shallow.strong_collapse`.

The rate claims of both figures share :func:`seed_slopes` and :func:`rate_over_seeds`: one
log-log slope in eps per seed, decided on the 95% t interval of their mean over the seeds.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from nclab.config import Choice, Int, ListOf, Param, Real, refuse
from nclab.experiments.rules import Verdict, mean
from nclab.seeds import Seeds

PAPER = "mixon2022"
SOURCE = "Mixon, Parshall, Pi 2022"

#: The config table of both figures (the paper's settings; "not stated by MPP" marks a choice
#: of ours, docs/math.md §5.6).
PARAMS = {
    "C": Param(3, Int(minimum=2), "number of classes"),
    "N": Param(3, Int(minimum=1), "samples per class"),
    "p": Param(15, Int(minimum=1), "feature dimension (at least C - 1)"),
    "eps": Param([1e-1, 1e-2, 1e-3, 1e-4], ListOf(Real(minimum=0.0, strict=True), unique=True),
                 "initial norms ε, one run each (taken in decreasing order)"),
    "seeds": Param(10, Seeds(), "seeds of the random starts: a count S (seeds 0..S-1) or a list (the paper "
                   "shows one random start per ε; the full profile runs 10× that)"),
    "steps": Param(5000, Int(minimum=1), "gradient-descent iterations"),
    "lr": Param(0.5, Real(minimum=0.0, strict=True), "step size (not stated by MPP)"),
    "num_records": Param(80, Int(minimum=2), "about this many log-spaced recorded iterations"),
    "init_norm": Param("each", Choice("each", "total"),
                       "'each': ‖H_0‖_F = ‖W_0‖_F = ε (paper caption); 'total': ‖(H_0, W_0)‖_E = ε"),
    "dtype": Param("float64", Choice("float64", "float32"), "floating type of the gradient descent"),
}
QUICK = {"eps": [1e-1, 1e-2, 1e-3], "seeds": 3, "steps": 1500, "num_records": 40}

#: Allowed distance of a fitted eps-exponent (both ends of its 95% interval over seeds) to the
#: theory's exponent. Fixed before any run: the next order in eps moves a slope fitted over
#: eps <= 0.1 by about 0.05, the tolerance is twice that.
RATE_TOL = 0.1

#: The three strong-NC errors of Fig. 1 and their axis labels.
ERROR_LABELS = {
    "WWt": r"$\|WW^\top-\sqrt{N}P\|_F$",
    "H": r"$\|H-(W\otimes 1_N)^\top/\sqrt{N}\|_F/\|H\|_F$",
    "b": r"$\|b-\frac{1}{C}1_C\|_2$",
}


def check_config(experiment: str):
    """The ``check`` of a figure's config: ``p >= C - 1`` (a simplex of C classes needs C - 1 dimensions)."""
    def check(config: dict) -> None:
        C, p = config["C"], config["p"]
        if p < C - 1:
            refuse(f"experiment {experiment!r}", "p", p, f">= C - 1 = {C - 1} (a simplex of C classes needs C - 1 "
                   "dimensions)")
    return check


def seed_slopes(eps: list[float], values: np.ndarray) -> np.ndarray:
    """Per seed, the least-squares slope of log ``values[:, s]`` (E, S) against log eps (NaN if < 2 eps)."""
    if len(eps) < 2:
        return np.full(values.shape[1], np.nan)
    lx = np.log(np.asarray(eps, dtype=float))
    with np.errstate(divide="ignore"):
        ly = np.log(np.asarray(values, dtype=float))
    return np.array([np.polyfit(lx, ly[:, s], 1)[0] if np.all(np.isfinite(ly[:, s])) else np.nan
                     for s in range(values.shape[1])])


def rate_over_seeds(slopes: np.ndarray, target: float, tol: float = RATE_TOL) -> Verdict:
    """Passes when the whole 95% t interval of the mean slope over seeds lies in ``target +- tol``.

    One seed (an infinite interval) or a NaN slope cannot pass.
    """
    est = mean(slopes)
    ok = bool(np.all(np.isfinite(slopes)) and target - tol <= est.low and est.high <= target + tol)
    return Verdict(ok, f"95% t interval over seeds of the per-seed log-log slope in ε within {target:g} ± {tol:g}",
                   est, "rate")


def initial_params(C: int, N: int, p: int, eps: list[float], seeds: list[int], init_norm: str = "each"):
    """Random starts of MPP's figures: per seed one Gaussian direction, scaled to each eps.

    Returns (H (E*S, p, CN), W (E*S, C, p), b zeros (E*S, C)) in float64, eps-major order.
    ``init_norm="each"``: ||H0||_F = ||W0||_F = eps (MPP's caption); ``"total"``: ||(H0, W0)||_E = eps.
    """
    Hs, Ws = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        H = torch.randn(p, C * N, generator=g, dtype=torch.float64)
        W = torch.randn(C, p, generator=g, dtype=torch.float64)
        if init_norm == "each":
            H, W = H / H.norm(), W / W.norm()
        else:
            total = math.sqrt(float(H.square().sum() + W.square().sum()))
            H, W = H / total, W / total
        Hs.append(H)
        Ws.append(W)
    H = torch.cat([e * torch.stack(Hs) for e in eps])
    W = torch.cat([e * torch.stack(Ws) for e in eps])
    return H, W, torch.zeros(W.shape[0], C, dtype=torch.float64)


def record_steps(steps: int, num_records: int) -> np.ndarray:
    """0 and about ``num_records`` log-spaced iterations in [1, steps]."""
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, steps, num_records)).astype(int)]))


def _measure(params, N: int) -> dict[str, np.ndarray]:
    """The three strong-NC errors, the relative distance to S and the risk of a batch of points."""
    from nclab.theory.shallow.strong_collapse import distance_to_S, mixon_risk, strong_nc_errors

    H, W, b = (t.to(torch.float64) for t in (params.H, params.W[-1], params.b))
    out = {k: v.cpu().numpy() for k, v in strong_nc_errors(H, W, b, N).items()}
    out["distance"] = distance_to_S(H, W, b, N).cpu().numpy()
    out["risk"] = mixon_risk(H, W, b, N).cpu().numpy()
    return out


def run_gradient_descent(config: dict, eps: list[float]) -> dict:
    """GD on MPP's model with the engine, recording the three errors and the distance to S.

    ``eps`` are the initial norms in the order of the result's first axis. Returns ``steps``
    (T,), ``errors`` {name: (E, S, T)}, ``distance`` (E, S, T) relative to ||Z||_E, ``risk``
    (E, S, T), ``seconds``. A step size for which GD diverges is a ``ValueError`` naming ``lr``.
    """
    C, N, p, seeds = config["C"], config["N"], config["p"], config["seeds"]
    H, W, b = initial_params(C, N, p, eps, seeds, config["init_norm"])
    run = descend(H, W, b, config)
    shape = (len(eps), len(seeds), len(run["steps"]))
    arrays = {k: v.reshape(shape) for k, v in run.items() if k not in ("steps", "seconds")}
    return {"steps": run["steps"], "errors": {k: arrays[k] for k in ERROR_LABELS}, "distance": arrays["distance"],
            "risk": arrays["risk"], "seconds": run["seconds"]}


def descend(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, config: dict) -> dict:
    """GD on R_e with the engine from a batch of starts (B of them), measured at log-spaced iterations.

    Uses ``config``'s C, N, p, steps, lr, num_records, dtype and device. Returns ``steps`` (T,),
    the three strong-NC errors, ``distance`` (relative to ||Z||_E) and ``risk``, each (B, T), and
    ``seconds``. A step size for which GD diverges is a ``ValueError`` naming ``lr``.
    """
    from nclab import train
    from nclab.ufm.spec import UFMParams, UFMSpec

    C, N, p = config["C"], config["N"], config["p"]
    dtype, device = getattr(torch, config["dtype"]), config["device"]
    spec = UFMSpec.mixon(C, N, p)
    params = UFMParams(H=H, W=(W,), b=b).to(dtype=dtype, device=device)
    marks = record_steps(config["steps"], config["num_records"])
    records: dict[str, list] = {}
    seconds, done = 0.0, 0
    for mark in marks:
        if mark > done:
            res = train(spec, steps=int(mark - done), optimizer="gd", lr=config["lr"], init=params,
                        record_every=int(mark - done), metrics=False, progress=False, device=device, dtype=dtype)
            if any(s == "diverged" for s in res.status):
                raise ValueError(f"lr must be a step size for which gradient descent does not diverge, "
                                 f"got {config['lr']!r}")
            params, done = res.params, int(mark)
            seconds += res.seconds
        for k, v in _measure(params, N).items():
            records.setdefault(k, []).append(v)
    return {"steps": marks, **{k: np.stack(v, -1) for k, v in records.items()}, "seconds": seconds}
