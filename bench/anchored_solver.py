"""Benchmark: exact minimiser of the anchored UFM (THN Eq. 2) to gradient norm 1e-10, float64.

Compares, side by side in one run and on the same problems:
  newton  - nclab.theory.anchored_minimizer (damped Newton on (W, H) via the Kd x Kd Schur
            complement, block-coordinate fallback)
  block   - exact block-coordinate descent alone (W <- W*(H), H <- argmin_H f), the fallback
  lbfgs   - scipy L-BFGS-B on (W, H) with analytic gradients
reporting seconds, iterations and the final gradient norm, and time ratios to newton.

    python bench/anchored_solver.py [--quick]
"""
from __future__ import annotations

import argparse
import time

import torch
from scipy.optimize import minimize

from nclab.layout import one_hot_targets
from nclab.theory import anchored_minimizer, mse_ufm_gradients, mse_ufm_loss, optimal_classifier

TOL = 1e-10


def grad_norm(W, H, H0, n, lam_W, lam_H, beta):
    gW, gH = mse_ufm_gradients(W, H, n, lam_W, lam_H, H0=H0, beta=beta)
    return float(torch.sqrt(gW.square().sum() + gH.square().sum()))


def block(H0, n, lam_W, lam_H, beta, max_iter):
    d, N = H0.shape
    K = N // n
    Y = one_hot_targets(K, n)
    H, eye = H0.clone(), torch.eye(d, dtype=torch.float64)
    for it in range(1, max_iter + 1):
        W = optimal_classifier(H, n, lam_W)
        H = torch.linalg.solve(W.mT @ W + (lam_H + beta) * eye, W.mT @ Y + beta * H0)
        W = optimal_classifier(H, n, lam_W)
        if grad_norm(W, H, H0, n, lam_W, lam_H, beta) <= TOL:
            break
    return W, H, it


def lbfgs(H0, n, lam_W, lam_H, beta, max_iter):
    d, N = H0.shape
    K = N // n
    H0t = H0

    def fun(x):
        t = torch.from_numpy(x)
        W, H = t[: K * d].reshape(K, d), t[K * d:].reshape(d, N)
        gW, gH = mse_ufm_gradients(W, H, n, lam_W, lam_H, H0=H0t, beta=beta)
        return float(mse_ufm_loss(W, H, n, lam_W, lam_H, H0=H0t, beta=beta)), torch.cat([gW.reshape(-1), gH.reshape(-1)]).numpy()

    x0 = torch.cat([optimal_classifier(H0, n, lam_W).reshape(-1), H0.reshape(-1)]).numpy()
    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": 1e-14, "ftol": 0.0, "maxcor": 20})
    t = torch.from_numpy(res.x)
    return t[: K * d].reshape(K, d), t[K * d:].reshape(d, N), res.nit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke version")
    args = ap.parse_args()
    sizes = [(4, 10, 10)] if args.quick else [(4, 10, 10), (10, 20, 20)]
    betas = [1.0, 100.0] if args.quick else [0.1, 1.0, 100.0]
    lam_W, lam_H = 0.01, 0.01
    max_iter = 2000 if args.quick else 20000
    torch.set_num_threads(1)
    print(f"anchored UFM minimiser to grad norm {TOL:g}, lam_W={lam_W}, lam_H={lam_H}, 1 thread, float64")
    print(f"{'K':>3} {'n':>3} {'d':>3} {'beta':>6} | {'method':>6} {'seconds':>9} {'iters':>6} {'grad':>9} {'loss-best':>10} {'t/newton':>8}")
    for K, n, d in sizes:
        g = torch.Generator().manual_seed(0)
        H0 = torch.randn(d, K, generator=g, dtype=torch.float64).repeat_interleave(n, 1)
        H0 = H0 + torch.randn(d, K * n, generator=g, dtype=torch.float64)
        for beta in betas:
            rows = {}
            t = time.perf_counter()
            r = anchored_minimizer(H0, n, lam_W, lam_H, beta, tol=TOL, max_iter=max_iter)
            rows["newton"] = (time.perf_counter() - t, r.iterations, r.W, r.H)
            for name, fn in (("block", block), ("lbfgs", lbfgs)):
                t = time.perf_counter()
                W, H, it = fn(H0, n, lam_W, lam_H, beta, max_iter)
                rows[name] = (time.perf_counter() - t, it, W, H)
            losses = {k: float(mse_ufm_loss(v[2], v[3], n, lam_W, lam_H, H0=H0, beta=beta)) for k, v in rows.items()}
            best = min(losses.values())
            for name, (sec, it, W, H) in rows.items():
                gn = grad_norm(W, H, H0, n, lam_W, lam_H, beta)
                print(f"{K:>3} {n:>3} {d:>3} {beta:>6g} | {name:>6} {sec:>9.4f} {it:>6} {gn:>9.1e} "
                      f"{losses[name] - best:>10.1e} {sec / rows['newton'][0]:>8.1f}")
    print("(timings on a shared machine are noisy; ratios are measured side by side in this run)")


if __name__ == "__main__":
    main()
