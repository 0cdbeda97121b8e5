"""Benchmark: extreme Hessian eigenvalues of the deep UFM at the DNC critical point (GK 2025, Thm 4).

K = 10, n = 5, L = 3, lam = 2^-9, widths d = 24 (dense reference), 70, 256, 1024 (up to about 2.2 million parameters):
Lanczos (scipy eigsh on Hessian-vector products from torch.func) against the dense Hessian
(built column block by column block from batched HVPs, then numpy eigvalsh) where the dense one fits
in memory (``--dense-max`` parameters). Prints parameter counts, eigenvalues, times and the ratio
dense/Lanczos measured in the same run.

Then the Theorem 4 sweep (``--sweep``, on by default): the minimum and maximum Hessian eigenvalues
at the DNC point (large root) of K = 10, n = 5, d = 70, L = 3 over 12 lams 2^-3 .. 2^-14 by Lanczos,
as the ``garrod2025-lambda-hessian`` experiment runs it, with the total time (target < 60 s on 2 cores).

    python bench/hessian.py [--quick] [--device cuda] [--widths 70 256 1024] [--dense-max 4000] [--no-sweep]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def dense_spectrum(f, theta, chunk: int = 256) -> np.ndarray:
    from torch.func import vmap

    from nclab.theory import hvp_function

    hvp = hvp_function(f, theta)
    P = theta.numel()
    cols = []
    eye = torch.eye(P, dtype=theta.dtype, device=theta.device)
    for start in range(0, P, chunk):
        cols.append(vmap(hvp)(eye[start:start + chunk]).cpu())
    H = torch.cat(cols).numpy()
    return np.linalg.eigvalsh(0.5 * (H + H.T))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small widths (12, 24) for a smoke run")
    ap.add_argument("--widths", type=int, nargs="*", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dense-max", type=int, default=4000, help="largest parameter count for the dense Hessian")
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--no-sweep", action="store_true", help="skip the Theorem 4 lam sweep")
    args = ap.parse_args()
    from nclab.theory import dnc_critical_point, flat_objective, hessian_extremes

    widths = args.widths or ([12, 24] if args.quick else [24, 70, 256, 1024])
    K, n, L, lam = 10, 5, 3, 2 ** -9
    print(f"deep linear UFM, DNC critical point: K={K} n={n} L={L} lam=2^-9, device={args.device}, "
          f"torch threads={torch.get_num_threads()}")
    print(f"{'d':>6} {'params':>9} {'min eig':>12} {'max eig':>11} {'matvecs':>8} {'lanczos s':>10} "
          f"{'dense s':>9} {'dense/lanczos':>13} {'|diff|':>9}")
    warm = dnc_critical_point(K, n, K, L, lam, device=args.device)  # torch.func / BLAS warm-up, not timed
    hessian_extremes(*flat_objective(warm.spec, warm.params), k=1, tol=1e-4)
    for d in widths:
        cp = dnc_critical_point(K, n, d, L, lam, device=args.device)
        f, theta = flat_objective(cp.spec, cp.params)
        P = theta.numel()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        ext = hessian_extremes(f, theta, k=1, tol=args.tol)
        dense_s, ratio, diff = float("nan"), float("nan"), float("nan")
        if P <= args.dense_max:
            t = time.perf_counter()
            ev = dense_spectrum(f, theta)
            dense_s = time.perf_counter() - t
            ratio = dense_s / ext.seconds
            diff = max(abs(ev[0] - ext.min), abs(ev[-1] - ext.max))
        print(f"{d:>6} {P:>9} {ext.min:>12.3e} {ext.max:>11.5f} {ext.matvecs:>8} {ext.seconds:>10.2f} "
              f"{dense_s:>9.2f} {ratio:>13.2f} {diff:>9.1e}", flush=True)
    if not args.no_sweep:
        theorem4_sweep(args.tol)


def theorem4_sweep(tol: float, K: int = 10, n: int = 5, d: int = 70, L: int = 3) -> float:
    """Lanczos min/max eigenvalue at the DNC point over 12 lams; prints each and returns the total seconds."""
    from nclab.experiments.garrod2025.lambda_hessian import REL_TOL, extremes

    print(f"Theorem 4 sweep: K={K} n={n} d={d} L={L}, 12 lams, Lanczos tol {tol:g}")
    start = time.perf_counter()
    for e in range(-3, -15, -1):
        t = time.perf_counter()
        r = extremes([K, n, d, L], 2.0 ** e, tol)
        if r is None:
            print(f"  lam=2^{e:<4} no DNC critical point ({time.perf_counter() - t:.2f} s)")
            continue
        lo, hi, _ = r
        print(f"  lam=2^{e:<4} min {lo:>11.3e} max {hi:>9.5f} {'saddle' if lo < -REL_TOL * hi else 'PSD':>6} "
              f"({time.perf_counter() - t:.2f} s)", flush=True)
    total = time.perf_counter() - start
    print(f"Theorem 4 sweep total: {total:.2f} s (target < 60 s)")
    return total


if __name__ == "__main__":
    main()
