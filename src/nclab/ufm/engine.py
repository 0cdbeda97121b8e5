"""``nclab.train``: a UFM trained batched over seeds, with per-seed status and a tidy history.

One call runs S seeds at once (leading seed axis, batched matmuls, hand-written gradients of
:class:`nclab.ufm.objective.Objective`). Each seed's trajectory depends only on its own seed:
a seed that converges (gradient norm <= ``tol``) or diverges (non-finite loss/gradient, or
loss > ``diverge_factor`` * max(initial loss, 1)) is frozen and removed from the batch, the
others go on. Convergence and divergence are checked every ``check_every`` steps (default
min(record_every, 10)); the history is recorded every ``record_every`` steps (and at the
first and last step, and when a seed is frozen).

Optimizers: "gd" (full-batch gradient descent), "momentum" (heavy ball), "adam", "lbfgs"
(batched L-BFGS with per-seed Armijo backtracking, :class:`nclab.ufm.dynamics.LBFGS`).
``polish=True`` follows the first-order phase with an L-BFGS phase in float64 to
``polish_tol`` (the history's ``phase`` column tells them apart). An L-BFGS seed whose line
search fails twice in a row (its gradient is at the float floor, or it sits at a saddle) is
frozen with status "max_steps".

Plain GD takes fused in-place steps between checks (:meth:`Objective.gd_step`); deep linear
models use the re-associated K-row products (see :class:`nclab.ufm.objective.Objective`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from nclab import _threads
from nclab._validation import check_choice, check_int, check_real, fail
from nclab.ufm.dynamics import GD, LBFGS, UFM_OPTIMIZERS, make_optimizer
from nclab.ufm.init import SCHEMES, initialize, normalize_seeds, resolve_device, resolve_dtype
from nclab.ufm.objective import Objective, grad_norm
from nclab.ufm.result import STATUSES, Progress, RemapRecorder, Recorder, TrainResult
from nclab.ufm.spec import UFMParams, UFMSpec

__all__ = ["train", "TrainResult", "STATUSES", "seed_chunk_size", "CHUNK_BYTES"]


# ====================================================================== phases
@dataclass
class _Phase:
    final: list[torch.Tensor]      # full-S parameter tensors
    status: list[str]
    step: int


class _Store:
    """Frozen seeds' parameters, gathered piece by piece; no copy when no seed froze early."""

    def __init__(self, S: int) -> None:
        self.S = S
        self.pieces: list[tuple[torch.Tensor, list[torch.Tensor]]] = []

    def put(self, positions: torch.Tensor, tensors: list[torch.Tensor], rows: torch.Tensor | None = None) -> None:
        if rows is not None:
            tensors = [t[rows.to(t.device)] for t in tensors]
        self.pieces.append((positions.clone(), tensors))

    def assemble(self) -> list[torch.Tensor]:
        if len(self.pieces) == 1 and torch.equal(self.pieces[0][0], torch.arange(self.S)):
            return self.pieces[0][1]
        first = self.pieces[0][1]
        out = [t.new_empty((self.S, *t.shape[1:])) for t in first]
        for positions, tensors in self.pieces:
            for o, t in zip(out, tensors):
                o[positions.to(o.device)] = t
        return out


def _first_order(obj: Objective, params: UFMParams, opt, steps: int, step0: int, phase: str, tol: float | None,
                 check_every: int, record_every: int, diverge_factor: float, record: Recorder,
                 progress: Progress) -> _Phase:
    has_bias = params.b is not None
    S = params.num_seeds
    store = _Store(S)
    status = ["max_steps"] * S
    active = torch.arange(S)
    cur = list(params.tensors())  # updated in place: the caller passes a private copy
    loss0: torch.Tensor | None = None
    fused = type(opt) is GD  # plain GD: fused in-place steps between checks
    t = 0
    for t in range(steps + 1):
        last = t == steps
        check = last or t % check_every == 0
        rec = last or t % record_every == 0
        P = UFMParams.from_tensors(cur, has_bias)
        if fused and not (check or rec):
            obj.gd_step(P, opt.lr)
            continue
        parts, grads = obj.loss_and_grad(P, need_parts=check or rec)
        if check or rec:
            gn = grad_norm(grads)
            loss = parts["loss"]
            if loss0 is None:
                loss0 = loss.clone()
            bad = ~torch.isfinite(loss) | ~torch.isfinite(gn) | (loss > diverge_factor * loss0.clamp_min(1.0))
            conv = (gn <= tol) & ~bad if tol is not None else torch.zeros_like(bad)
            freeze = bad | conv
            if rec:
                record(step0 + t, phase, active, P, parts, gn)
            elif bool(freeze.any()):
                record(step0 + t, phase, active, P, parts, gn, which=freeze)
            if bool(freeze.any()) or last:
                keep = ~freeze
                idx = torch.nonzero(freeze).flatten().cpu()
                for j in idx.tolist():
                    status[int(active[j])] = "diverged" if bool(bad[j]) else "converged"
                if last:
                    store.put(active, cur)
                    break
                if len(idx):
                    store.put(active[idx], cur, idx)
                kept = torch.nonzero(keep).flatten()
                active = active[kept.cpu()]
                cur = [c[kept] for c in cur]
                grads = UFMParams.from_tensors([g[kept] for g in grads.tensors()], has_bias)
                loss0 = loss0[kept]
                opt.select(kept)
                if len(active) == 0:
                    break
            progress.update(step0 + t, len(active))
        opt.step(cur, grads.tensors())
    progress.update(step0 + t, len(active))
    return _Phase(store.assemble(), status, step0 + t)


def _lbfgs(obj: Objective, params: UFMParams, steps: int, step0: int, phase: str, tol: float,
           record_every: int, diverge_factor: float, history_size: int, record: Recorder,
           progress: Progress) -> _Phase:
    S = params.num_seeds
    template = params
    store = _Store(S)
    status = ["max_steps"] * S
    active = torch.arange(S)
    opt = LBFGS(history_size=history_size)

    def evaluate_full(x: torch.Tensor):
        P = template.unflatten(x)
        parts, grads = obj.loss_and_grad(P, need_parts=True)
        return P, parts, grads

    def evaluate(x: torch.Tensor):
        _, parts, grads = evaluate_full(x)
        return parts["loss"], grads.flat()

    x = params.flat().clone()
    P, parts, grads = evaluate_full(x)
    f, g = parts["loss"], grads.flat()
    loss0 = f.clone()
    stalled = torch.zeros(S, dtype=torch.bool, device=x.device)
    t = 0
    for t in range(steps + 1):
        last = t == steps
        gn = g.norm(dim=1)
        bad = ~torch.isfinite(f) | ~torch.isfinite(gn) | (f > diverge_factor * loss0.clamp_min(1.0))
        conv = (gn <= tol) & ~bad
        freeze = bad | conv | stalled
        rec = last or t % record_every == 0
        if (rec or bool(freeze.any())) and P is None:
            P, parts, _ = evaluate_full(x)  # fit/reg/anchor parts for the record
        if rec:
            record(step0 + t, phase, active, P, parts, gn)
        elif bool(freeze.any()):
            record(step0 + t, phase, active, P, parts, gn, which=freeze)
        if bool(freeze.any()) or last:
            idx = torch.nonzero(freeze).flatten().cpu()
            for j in idx.tolist():
                status[int(active[j])] = "diverged" if bool(bad[j]) else ("converged" if bool(conv[j]) else "max_steps")
            Pfin = template.unflatten(x).tensors()
            if last:
                store.put(active, Pfin)
                break
            if len(idx):
                store.put(active[idx], Pfin, idx)
            kept = torch.nonzero(~freeze).flatten()
            active = active[kept.cpu()]
            x, f, g, loss0 = x[kept], f[kept], g[kept], loss0[kept]
            opt.select(kept)
            if len(active) == 0:
                break
        progress.update(step0 + t, len(active))
        x, f, g, stalled = opt.step(x, f, g, evaluate)
        P = parts = None
    progress.update(step0 + t, len(active))
    return _Phase(store.assemble(), status, step0 + t)


# ====================================================================== train
#: Bytes of parameters one batch of seeds may hold before :func:`train` splits the seeds into
#: chunks (bench/RESULTS.md, "Seed chunks at wide d": on a 2-core CPU the fastest chunks held
#: 5-13 MB; at the GK Fig. 1 setting all 256 seeds (9 MB) in one batch was fastest).
CHUNK_BYTES = 12 * 2 ** 20


def seed_chunk_size(spec: UFMSpec, seeds: int, dtype: torch.dtype | str = torch.float32) -> int:
    """Seeds :func:`train` runs at once by default: all of them, or as many as fit in
    :data:`CHUNK_BYTES` of parameters when one batch would not.

    Wide deep UFMs are memory-bound on a CPU: at d = 512 each seed holds 1.2 MB of float32
    parameters, and the elementwise passes of a step over a batch of 256 seeds (300 MB) run at
    memory speed; chunks that stay in cache ran 1.8x faster (bench/RESULTS.md).

    Parameters
    ----------
    spec : UFMSpec
        The model (its parameter count per seed).
    seeds : int
        Seeds to train, S >= 1.
    dtype : torch.dtype or str, optional
        Element type of the parameters.

    Returns
    -------
    int
        The chunk size, between 1 and ``seeds``.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> seed_chunk_size(UFMSpec.garrod(10, 5, 70, 2, 2 ** -10), 256)   # GK Fig. 1: one batch
    256
    >>> seed_chunk_size(UFMSpec.garrod(10, 5, 512, 2, 2 ** -10), 256)  # 1.2 MB per seed
    10
    """
    seeds = check_int("seeds", seeds, minimum=1)
    per_seed = spec.num_parameters() * resolve_dtype(dtype).itemsize
    return max(1, min(seeds, CHUNK_BYTES // max(per_seed, 1)))


def _run_chunk(spec, start, make_opt, optimizer, steps, tol, check_every, record_every, diverge_factor, history_size,
               polish, polish_steps, polish_tol, record, bar, dtype, device):
    """Train one chunk of seeds (the phases of :func:`train`): (final params, status, last step)."""
    opt = make_opt() if optimizer != "lbfgs" else None  # a fresh optimizer state per chunk
    # torch's intra-op threads: one for small problems, every core for large ones, unless the
    # user chose (nclab._threads)
    with torch.no_grad(), _threads.for_work(_threads.ufm_work(spec, start.num_seeds)):
        obj = Objective(spec, dtype=dtype, device=device)
        if optimizer == "lbfgs":
            res = _lbfgs(obj, start, steps, 0, "lbfgs", 1e-9 if tol is None else tol, record_every,
                         diverge_factor, history_size, record, bar)
        else:
            res = _first_order(obj, start, opt, steps, 0, optimizer, tol, check_every, record_every,
                               diverge_factor, record, bar)
        final = UFMParams.from_tensors(res.final, spec.bias)
        status, step = res.status, res.step
        if polish:
            live = [i for i, s in enumerate(status) if s != "diverged"]
            if live:
                obj64 = Objective(spec, dtype=torch.float64, device=device)
                sub = final.select(live).to(dtype=torch.float64)
                pol = _lbfgs(obj64, sub, polish_steps, step, "lbfgs", polish_tol,
                             max(1, polish_steps // 20), diverge_factor, history_size,
                             RemapRecorder(record, live), bar)
                polished = UFMParams.from_tensors(pol.final, spec.bias)
                final = final.to(dtype=torch.float64)
                for k, tensor in enumerate(final.tensors()):
                    tensor[torch.as_tensor(live, device=device)] = polished.tensors()[k]
                for j, i in enumerate(live):
                    status[i] = pol.status[j]
                step = pol.step
    return final, status, step


def train(
    spec: UFMSpec,
    seeds: int | Iterable[int] | None = None,
    steps: int = 1000,
    optimizer: str = "gd",
    lr: float | None = None,
    *,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    record_every: int | None = None,
    check_every: int | None = None,
    init: str | UFMParams = "gaussian",
    init_scale: float | None = None,
    scale_H: float | None = None,
    scale_W: float | None = None,
    scale_b: float | None = None,
    zero_bias: bool = True,
    device: str | torch.device | None = "cpu",
    dtype: torch.dtype | str = torch.float32,
    tol: float | None = None,
    diverge_factor: float = 1e6,
    progress: bool | None = None,
    metrics: bool = True,
    spectra: bool = True,
    polish: bool = False,
    polish_steps: int = 500,
    polish_tol: float = 1e-9,
    history_size: int = 10,
    seed_chunk: int | None = None,
) -> TrainResult:
    """Train a UFM (``spec``) from every seed at once; see the module docstring.

    Fit, regulariser and anchor terms are those of docs/math.md §7.1 (mean loss over the
    N samples, lam/2 ||.||^2 per parameter).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    seeds : int or iterable of int, optional
        A count S (seeds 0..S-1) or a sequence of seeds (default 1 seed, or the seed axis of
        ``init`` when it is a :class:`UFMParams`).
    steps : int, optional
        Steps of the first phase, >= 0 (default 1000).
    optimizer : {"gd", "momentum", "adam", "lbfgs"}, optional
        The optimizer (default ``"gd"``).
    lr : float, optional
        Step size; defaults to 0.1 (gd, momentum), 1e-3 (adam); L-BFGS takes no lr.
    momentum, betas, eps : optional
        Optimizer constants (:mod:`nclab.ufm.dynamics`).
    record_every : int, optional
        History interval (default steps // 100, at least 1).
    check_every : int, optional
        Convergence/divergence check interval (default min(record_every, 10)).
    init : str or UFMParams, optional
        A scheme of :func:`nclab.ufm.init.initialize` (with ``init_scale``, ``scale_H``,
        ``scale_W``, ``scale_b``, ``zero_bias``) or parameters to start from.
    init_scale, scale_H, scale_W, scale_b : float, optional
        Scales of the initialisation.
    zero_bias : bool, optional
        Keep b = 0 at the start of the ``"norm"`` scheme.
    device : str or torch.device, optional
        Device (default CPU).
    dtype : torch.dtype or str, optional
        Element type (default float32).
    tol : float, optional
        Gradient-norm tolerance per seed (None: run all steps; L-BFGS default 1e-9, about the
        float64 floor of typical problems).
    diverge_factor : float, optional
        A seed whose loss exceeds this times max(initial loss, 1) is frozen as diverged.
    progress : bool, optional
        Show a progress bar (default: when interactive).
    metrics : bool, optional
        Record per-layer NC metrics (needs :mod:`nclab.metrics`).
    spectra : bool, optional
        Record the singular values of Z and of its class means.
    polish : bool, optional
        Follow with an L-BFGS phase in float64 to ``polish_tol``.
    polish_steps : int, optional
        Steps of the polish phase.
    polish_tol : float, optional
        Gradient-norm tolerance of the polish phase.
    history_size : int, optional
        L-BFGS curvature pairs.
    seed_chunk : int, optional
        Train at most this many seeds at once, chunk after chunk (default: automatic, see
        :func:`seed_chunk_size`: all seeds at once unless one batch of parameters would exceed
        :data:`CHUNK_BYTES`). Every seed's trajectory is the same whatever the chunk.

    Returns
    -------
    TrainResult
        Final parameters, per-seed status, the tidy history and the options used.

    Raises
    ------
    ValueError
        If ``spec`` is not a UFMSpec or an option is out of range (the message names it, e.g.
        ``optimizer``, ``steps``, ``lr``, ``init``, ``seeds``).

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658 (the MSE UFM); Mixon, Parshall, Pi,
    arXiv:2011.11619 (with bias); Garrod & Keating, arXiv:2410.23169 (the deep UFM); presets
    in docs/math.md §7.2.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> result = train(spec, 2, 200, "lbfgs", dtype=torch.float64, metrics=False, progress=False)
    >>> result.status
    ['converged', 'converged']
    >>> result.history.groupby("seed")["loss"].last().round(6).tolist()  # THN's minimum
    [0.095, 0.095]
    """
    if not isinstance(spec, UFMSpec):
        fail("spec", type(spec).__name__, "a UFMSpec")
    optimizer = check_choice("optimizer", optimizer, UFM_OPTIMIZERS)
    steps = check_int("steps", steps, minimum=0)
    dtype = resolve_dtype(dtype)
    device = resolve_device(device)
    if lr is not None:
        lr = check_real("lr", lr, minimum=0.0, strict=True)
    record_every = max(1, steps // 100) if record_every is None else check_int("record_every", record_every, minimum=1)
    check_every = min(record_every, 10) if check_every is None else check_int("check_every", check_every, minimum=1)
    if tol is not None:
        tol = check_real("tol", tol, minimum=0.0)
    diverge_factor = check_real("diverge_factor", diverge_factor, minimum=1.0)
    for name, flag in (("metrics", metrics), ("spectra", spectra), ("polish", polish), ("zero_bias", zero_bias)):
        if not isinstance(flag, (bool, np.bool_)):
            fail(name, flag, "True or False")
    polish_steps = check_int("polish_steps", polish_steps, minimum=0)
    history_size = check_int("history_size", history_size, minimum=1)
    if seed_chunk is not None:
        seed_chunk = check_int("seed_chunk", seed_chunk, minimum=1)
    polish_tol = check_real("polish_tol", polish_tol, minimum=0.0)
    if isinstance(init, UFMParams):
        start = init.check(spec).detach().to(dtype=dtype, device=device).clone()
        seeds = list(range(start.num_seeds)) if seeds is None else normalize_seeds(seeds)
        if len(seeds) != start.num_seeds:
            fail("seeds", seeds, f"{start.num_seeds} seeds (the seed axis of init)")
        init_name = "given"
    else:
        init_name = check_choice("init", init, SCHEMES)
        seeds = normalize_seeds(1 if seeds is None else seeds)
        start = initialize(spec, seeds, init_name, init_scale, scale_H=scale_H, scale_W=scale_W,
                           scale_b=scale_b, zero_bias=zero_bias, dtype=dtype, device=device)
    opt = None
    if optimizer != "lbfgs":
        opt = make_optimizer(optimizer, lr, momentum, betas, eps)
    options = {"steps": steps, "optimizer": optimizer, "lr": opt.lr if opt else None, "momentum": momentum,
               "betas": list(betas), "eps": eps, "record_every": record_every, "check_every": check_every,
               "init": init_name, "init_scale": init_scale, "scale_H": scale_H, "scale_W": scale_W,
               "scale_b": scale_b, "zero_bias": zero_bias, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
               "tol": tol, "diverge_factor": diverge_factor, "polish": polish, "polish_steps": polish_steps,
               "polish_tol": polish_tol, "history_size": history_size,
               "metrics": bool(metrics), "spectra": bool(spectra)}

    S = len(seeds)
    chunk = seed_chunk_size(spec, S, dtype) if seed_chunk is None else min(seed_chunk, S)
    options["seed_chunk"] = chunk
    record = Recorder(spec, seeds, bool(metrics), bool(spectra))
    per_chunk = steps + (polish_steps if polish else 0)
    starts = list(range(0, S, chunk))
    bar = Progress(per_chunk * len(starts), progress, "ufm train")
    t0 = time.perf_counter()
    finals, status, step = [], [], 0
    try:
        for c, first in enumerate(starts):
            positions = list(range(first, min(S, first + chunk)))
            part = start if len(positions) == S else start.select(positions)
            rec = record if len(positions) == S else RemapRecorder(record, positions)
            bar.offset = c * per_chunk
            final_c, status_c, step_c = _run_chunk(spec, part, lambda: make_optimizer(optimizer, lr, momentum, betas, eps),
                                                   optimizer, steps, tol, check_every, record_every,
                                                   diverge_factor, history_size, polish, polish_steps, polish_tol,
                                                   rec, bar, dtype, device)
            finals.append(final_c)
            status += status_c
            step = max(step, step_c)
    finally:
        bar.close()
    if len({f.dtype for f in finals}) > 1:  # polished chunks are float64; one whose seeds all diverged is not
        finals = [f.to(dtype=torch.float64) for f in finals]
    final = finals[0] if len(finals) == 1 else UFMParams.cat(finals)
    seconds = time.perf_counter() - t0
    return TrainResult(spec=spec, seeds=seeds, params=final, history=record.frame(), status=status,
                       seconds=seconds, steps=step, options=options)
