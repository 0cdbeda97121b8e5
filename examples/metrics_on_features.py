"""Neural collapse metrics of a feature matrix: a noisy simplex ETF, then pure noise.

Run: python examples/metrics_on_features.py [--n 50]
"""
import argparse

import torch

from nclab.geometry import simplex_etf
from nclab.metrics import collapse


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50, help="samples per class")
    ap.add_argument("--K", type=int, default=10, help="classes")
    ap.add_argument("--d", type=int, default=64, help="feature dimension")
    args = ap.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    means = simplex_etf(args.K, args.d, dtype=torch.float64)           # K x d, rows an ETF
    labels = torch.arange(args.K).repeat_interleave(args.n)
    collapsed = means[labels] + 0.01 * torch.randn(len(labels), args.d, generator=g, dtype=torch.float64)
    noise = torch.randn(len(labels), args.d, generator=g, dtype=torch.float64)
    for name, X in (("near-ETF", collapsed), ("noise", noise)):
        m = collapse(X, labels, weight=means)
        print(f"{name:9s} nc1={float(m['nc1']):.3g} nc2={float(m['nc2_etf_features']):.3g} "
              f"nc4={float(m['nc4_ncc_mismatch']):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
