"""UFM training throughput: nclab batched over seeds vs a per-seed PyTorch loop vs the matmul floor.

Issue 3's benchmark. For each setting it measures, in one run, seed-steps per second of
  (a) a per-seed loop of plain PyTorch training (nn.Parameter + autograd + torch.optim.SGD,
      one seed at a time, the way the papers' scripts do it),
  (b) nclab.train batched over S seeds (full-batch GD, metrics off, default checks),
  (c) the same batched matrix products alone (the floor: forward and backward bmm of one step),
      both the textbook ones and those nclab performs (fewer for deep linear models: it
      re-associates the gradient through the K-row products),
and prints the ratios (b)/(a) (target >= 20) and (b)/(c) (target >= 0.5).

Then the recording row (issue 17, item 2): ``nclab.train(spec, seeds=S, steps=2000)`` at the
GK Fig. 1 setting with its default history (NC metrics and spectra) against the same call with
metrics and spectra off, and with spectra only; interleaved rounds, best of each; target:
default <= 1.10x off.

Settings: GK Fig. 1 (K=10, n=5, d=70, L=2, CE, lam=2^-10), the same with d=512, and the shallow
MSE UFM of THN (K=10, n=5, d=70, L=1). float32.

    python bench/ufm_throughput.py [--quick] [--device cpu|cuda] [--seeds 256] [--threads T]
                                   [--only all|throughput|recording]
"""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from nclab.ufm import UFMSpec, initialize, train


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_seed_loop(spec: UFMSpec, seeds: int, steps: int, lr: float, device: torch.device) -> float:
    """Seed-steps/s of plain PyTorch training, one seed after the other."""
    labels = torch.arange(spec.K, device=device).repeat_interleave(spec.n)
    Y = F.one_hot(labels, spec.K).T.float()
    lam_W = spec.lam_W_layers
    total = 0.0
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)
        H = torch.nn.Parameter(torch.randn(spec.d, spec.N, generator=g).to(device))
        Ws = [torch.nn.Parameter((torch.randn(*s, generator=g) / math.sqrt(spec.d)).to(device))
              for s in spec.weight_shapes()]
        opt = torch.optim.SGD([H, *Ws], lr=lr)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            X = H
            for W in Ws[:-1]:
                X = W @ X
                if spec.activation == "relu":
                    X = torch.relu(X)
            Z = Ws[-1] @ X
            if spec.loss == "ce":
                fit = F.cross_entropy(Z.T, labels)
            else:
                fit = 0.5 * ((Z - Y) ** 2).sum() / spec.N
            reg = 0.5 * spec.lam_H * (H ** 2).sum() + sum(0.5 * lam * (W ** 2).sum() for lam, W in zip(lam_W, Ws))
            (fit + reg).backward()
            opt.step()
        _sync(device)
        total += time.perf_counter() - t0
    return seeds * steps / total


def nclab_batched(spec: UFMSpec, seeds: int, steps: int, lr: float, device: torch.device) -> float:
    """Seed-steps/s of nclab.train over ``seeds`` seeds (training time only, init excluded)."""
    start = initialize(spec, seeds, dtype=torch.float32, device=device)
    train(spec, init=start.select(list(range(min(2, seeds)))), steps=2, lr=lr, metrics=False, device=device)  # warm-up
    _sync(device)
    res = train(spec, init=start, steps=steps, lr=lr, metrics=False, record_every=steps, device=device)
    _sync(device)
    assert all(s != "diverged" for s in res.status)
    return seeds * steps / res.seconds


def recording_cost(spec: UFMSpec, seeds: int, steps: int, lr: float, device: torch.device,
                   rounds: int) -> dict[str, float]:
    """Seconds of ``train`` (best of ``rounds``, interleaved) with the default history, spectra
    only, and neither; same start, same steps, default record/check intervals."""
    start = initialize(spec, seeds, dtype=torch.float32, device=device)
    train(spec, init=start.select([0]), steps=2, lr=lr, device=device, progress=False)  # warm-up
    kinds = {"default": {}, "spectra only": {"metrics": False}, "off": {"metrics": False, "spectra": False}}
    best = {k: math.inf for k in kinds}
    for _ in range(rounds):
        for kind, kw in kinds.items():
            _sync(device)
            res = train(spec, init=start, steps=steps, lr=lr, device=device, progress=False, **kw)
            _sync(device)
            best[kind] = min(best[kind], res.seconds)
    return best


def matmul_floor(spec: UFMSpec, seeds: int, steps: int, device: torch.device, form: str = "layers") -> float:
    """Seed-steps/s of the batched matrix products of one GD step alone (forward + backward).

    ``form="layers"``: the textbook products (W_l X_{l-1} forward, G X^T and W^T G backward),
    what the per-seed loop's autograd computes. ``form="products"``: the products nclab uses
    for deep linear models (re-associated through the K-row products P_l = W_L..W_l, see
    ``nclab.ufm.objective.Objective``).
    """
    p = initialize(spec, seeds, dtype=torch.float32, device=device)
    GZ = torch.randn(seeds, spec.K, spec.N, device=device)
    GA = torch.randn(seeds, spec.d, spec.N, device=device)

    def layers_step():
        X = p.H
        xs = [X]
        for W in p.W[:-1]:
            X = torch.bmm(W, X)
            xs.append(X)
        torch.bmm(p.W[-1], X)
        torch.bmm(GZ, xs[-1].transpose(1, 2))
        torch.bmm(p.W[-1].transpose(1, 2), GZ)
        for l in range(len(p.W) - 2, -1, -1):
            torch.bmm(GA, xs[l].transpose(1, 2))
            torch.bmm(p.W[l].transpose(1, 2), GA)

    def products_step():
        P = [p.W[-1]]
        for W in reversed(p.W[:-1]):
            P.append(torch.bmm(P[-1], W))
        P.reverse()
        torch.bmm(P[0], p.H)
        Q = torch.bmm(GZ, p.H.transpose(1, 2))
        for l in range(len(p.W) - 1):
            torch.bmm(P[l + 1].transpose(1, 2), Q)
            Q = torch.bmm(Q, p.W[l].transpose(1, 2))
        torch.bmm(P[0].transpose(1, 2), GZ)

    one_step = products_step if form == "products" else layers_step
    one_step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    _sync(device)
    return seeds * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke version")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument("--only", choices=("all", "throughput", "recording"), default="all", help="which rows")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the best rate of each is kept")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    S = 16 if args.quick else args.seeds
    gk = UFMSpec.garrod(10, 5, 70, 2, 2 ** -10)
    settings = [
        ("GK Fig.1 K=10 n=5 d=70 L=2 CE", gk, 0.5, 200),
        ("GK d=512 L=2 CE", gk.replace(d=512), 0.5, 6),
        ("THN shallow MSE K=10 n=5 d=70", UFMSpec.tirer(10, 5, 70, 5e-3, 5e-3), 0.5, 200),
    ]
    print(f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"threads={torch.get_num_threads()}, torch {torch.__version__}, float32, S={S}")
    print(f"{'setting':34s} {'loop/s':>10s} {'nclab/s':>11s} {'bmm/s':>11s} {'bmm_nc/s':>11s} {'nclab/loop':>10s} "
          f"{'nc/bmm':>9s} {'nc/bmm_nc':>9s}")
    for name, spec, lr, steps in (settings if args.only != "recording" else []):
        if args.quick:
            steps = max(2, steps // 10)
            args.rounds = 1
        loop_seeds = 2 if args.quick else 4
        loop_steps = steps if spec.d < 512 else 3 * steps
        deep_linear = spec.L >= 2 and spec.activation == "linear" and spec.K < spec.N
        a = b = c = e = 0.0
        for _ in range(args.rounds):  # interleaved rounds, best of each: the machine is shared
            a = max(a, per_seed_loop(spec, loop_seeds, loop_steps, lr, device))
            b = max(b, nclab_batched(spec, S, steps, lr, device))
            c = max(c, matmul_floor(spec, S, steps, device, "layers"))
            e = max(e, matmul_floor(spec, S, steps, device, "products")) if deep_linear else c
        print(f"{name:34s} {a:10.0f} {b:11.0f} {c:11.0f} {e:11.0f} {b / a:10.1f} {b / c:9.2f} {b / e:9.2f}",
              flush=True)
    rec_steps = 40 if args.quick else 2000
    if args.only == "throughput":
        return
    rec = recording_cost(gk, S, rec_steps, 0.5, device, args.rounds)
    print(f"recording, GK Fig.1, S={S}, {rec_steps} steps (best of {args.rounds}): default {rec['default']:.2f} s, "
          f"spectra only {rec['spectra only']:.2f} s, off {rec['off']:.2f} s; default/off "
          f"{rec['default'] / rec['off']:.3f}x, spectra/off {rec['spectra only'] / rec['off']:.3f}x (target <= 1.10x)",
          flush=True)
    print("(seed-steps per second, best of the rounds. bmm: the textbook products of one step; bmm_nc: the products\n"
          " nclab performs (re-associated for deep linear models, = bmm otherwise). Targets: nclab/loop >= 20,\n"
          " nclab/bmm >= 0.5)")


if __name__ == "__main__":
    main()
