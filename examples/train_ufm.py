"""Train a deep UFM (Garrod & Keating's setting) over several seeds in one batched call.

Run: python examples/train_ufm.py [--seeds 4 --steps 2000 --d 70]
"""
import argparse

import torch

import nclab
from nclab.ufm import classify_params


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--d", type=int, default=70, help="width")
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--n", type=int, default=5)
    args = ap.parse_args(argv)
    spec = nclab.UFMSpec.garrod(K=args.K, n=args.n, d=args.d, L=2, lam=2**-10)
    res = nclab.train(spec, seeds=range(args.seeds), steps=args.steps, optimizer="gd", lr=0.5,
                      dtype=torch.float64, progress=False)
    print(res.final[["seed", "loss"]].to_string(index=False))
    print(classify_params(spec, res.params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
