"""Where torch's intra-op threads start to pay: the threshold of :mod:`nclab._threads`.

Times one batched matmul ``(S, d, d) @ (S, d, N)`` (the UFM engine's op: a layer's weights
times the features of every seed) and one elementwise update of the same features, with one
thread and with every core, over a range of sizes, on an otherwise idle machine (a loaded
machine only moves the crossover up). Prints the work per op (matmul: 2 S d^2 N flops;
elementwise: S d N elements) and the speed-up of all cores over one thread.

    python bench/threads.py [--dtype float32|float64] [--repeat 7] [--train]

``--train`` adds the table that sets the threshold: whole ``nclab.train`` calls of the
Garrod & Keating deep linear UFM (K = 10, n = 5, L = 2, 300 GD steps, default recording) over
widths d and seed counts S, at one thread and at every core; the work per op is the engine's
largest matmul, 2 S d^2 N flops (:func:`nclab._threads.ufm_work`).
"""
from __future__ import annotations

import argparse
import os
import time

import torch


def per_op(fn, repeat: int) -> tuple[float, float]:
    """(best, median) seconds of one call of ``fn`` (calls batched to >= 20 ms per measurement).

    The best is the idle machine's figure; the median shows the stalls of a loaded one (an
    intra-op thread that the scheduler preempted holds the whole op up for a time slice)."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(0.02 / once))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    samples.sort()
    return samples[0], samples[len(samples) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--train", action="store_true", help="also time whole nclab.train calls")
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    cores = os.cpu_count() or 1
    default = torch.get_num_threads()
    print(f"torch {torch.__version__}, {cores} cores, torch default threads {default}, {args.dtype}")
    print("best and median microseconds per op; speed-up = 1 thread / all threads")
    print(f"{'op':6s} {'S':>4s} {'d':>4s} {'N':>4s} {'work':>10s} {'1 best':>9s} {'1 median':>9s} "
          f"{'all best':>9s} {'all median':>10s} {'best':>6s} {'median':>6s}")
    N = 50
    for S in (1, 4, 16, 64, 256):
        for d in (8, 16, 32, 64, 128, 256):
            W = torch.randn(S, d, d, dtype=dtype)
            H = torch.randn(S, d, N, dtype=dtype)
            G = torch.randn(S, d, N, dtype=dtype)
            ops = {"bmm": (lambda: torch.bmm(W, H), 2 * S * d * d * N),
                   "axpy": (lambda: H.add_(G, alpha=-1e-9), S * d * N)}
            for name, (fn, work) in ops.items():
                times = {}
                for n in (1, default):
                    torch.set_num_threads(n)
                    times[n] = per_op(fn, args.repeat)
                torch.set_num_threads(default)
                (b1, m1), (bn, mn) = times[1], times[default]
                print(f"{name:6s} {S:4d} {d:4d} {N:4d} {work:10.3g} {b1 * 1e6:9.1f} {m1 * 1e6:9.1f} "
                      f"{bn * 1e6:9.1f} {mn * 1e6:10.1f} {b1 / bn:6.2f} {m1 / mn:6.2f}", flush=True)
    if args.train:
        train_table(dtype, default)
    return 0


def train_table(dtype, default: int) -> None:
    """Seconds of whole GK ``train`` calls at one thread and at ``default`` threads."""
    from nclab import UFMSpec, train
    from nclab._threads import threads, ufm_work

    print(f"\nnclab.train, GK K=10 n=5 L=2, 300 steps: best of 3 seconds; speed-up = 1 thread / {default}")
    print(f"{'S':>4s} {'d':>4s} {'work':>10s} {'1 thread':>9s} {f'{default} threads':>10s} {'speed-up':>8s}")
    for S in (4, 16, 64, 256):
        for d in (12, 30, 80, 200):
            spec = UFMSpec.garrod(K=10, n=5, d=d, L=2, lam=2 ** -10)
            times = {}
            for n in (1, default):
                best = float("inf")
                with threads(n):  # explicit: the engine's auto policy leaves the count alone
                    for _ in range(3):
                        t0 = time.perf_counter()
                        train(spec, seeds=S, steps=300, lr=0.5, dtype=dtype)
                        best = min(best, time.perf_counter() - t0)
                times[n] = best
            print(f"{S:4d} {d:4d} {ufm_work(spec, S):10.3g} {times[1]:9.3f} {times[default]:10.3f} "
                  f"{times[1] / times[default]:8.2f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
