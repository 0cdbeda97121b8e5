"""Track neural collapse, layer by layer, while training a small network on digits in your own loop.

Run: python examples/track_digits.py [--epochs 15 --out track_digits]

``nclab.nets.Tracker`` measures after each epoch (one pass over the training loader in eval mode,
then the held-out loader against the training statistics) and keeps a tidy table: one row per
(epoch, split, layer). The table goes to ``OUT/collapse.csv`` and ``tracker.plot()`` to
``OUT/collapse.png``.
"""
import argparse
from pathlib import Path

import torch
from torch import nn

from nclab.nets import Tracker, digits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--n", type=int, default=None, help="training samples per class (default: all)")
    ap.add_argument("--out", default="track_digits", help="output folder")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    data = digits(n_per_class=args.n)
    train, test = data.loaders(batch_size=128, seed=0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    tracker = Tracker(model, num_classes=10, layers=["1"])  # "1": the first ReLU; plus the penultimate features
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        tracker.epoch_end(train, test_loader=test)
    table = tracker.table
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "collapse.csv", index=False)
    tracker.plot(["nc1", "nc2_etf_features", "nc4_ncc_mismatch"]).savefig(out / "collapse.png", dpi=100)
    last = table[(table["epoch"] == table["epoch"].max()) & (table["layer"] == "penultimate")]
    print(last[["epoch", "split", "nc1", "nc2_etf_features", "nc3_duality", "nc4_ncc_mismatch"]].to_string(index=False))
    print(f"wrote {out / 'collapse.csv'} and {out / 'collapse.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
