"""Layer-wise neural collapse metrics of your own PyTorch network, streamed over a loader.

Run: python examples/measure_network.py [--n 100 --epochs 30]
"""
import argparse

import torch
from torch import nn

from nclab.nets import measure


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100, help="samples per class")
    ap.add_argument("--K", type=int, default=4, help="classes")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    centres = 3 * torch.randn(args.K, 8)
    y = torch.arange(args.K).repeat_interleave(args.n)
    x = centres[y] + torch.randn(len(y), 8)
    data = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(data, batch_size=64)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, args.K))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _ in range(args.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    table = measure(model.eval(), loader)
    print(table[["layer", "dim", "nc1", "nc1_trace_ratio", "nc2_etf_features"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
