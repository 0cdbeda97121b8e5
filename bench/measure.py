"""Benchmark: layer-wise neural-collapse measurement of a small ResNet, streaming vs collect-all.

10,000 generated 3 x 32 x 32 images (K = 10 Gaussian classes), a CIFAR-style ResNet (widths
16/32/64, one basic block per stage), every conv layer after its BatchNorm (global-average-
pooled, ``pool="avg"``) plus the penultimate features with the classifier:

- ``streaming``: :func:`nclab.nets.measure` (probe + pass 1 statistics + pass 2 for NC4; memory
  O(K d + d^2) per layer);
- ``streaming-nonc4``: the same without pass 2 (``nc4=False``);
- ``collect``: forward hooks store every layer's features for all N samples, then
  :func:`nclab.metrics.collapse` runs full batch per layer (one forward pass, N x d per layer).

Each method runs in its own subprocess, so its peak resident memory (``ru_maxrss``) above the
baseline after data and model creation is its own. Prints samples/s and the peak memory of
both, and their ratios, measured in the same run. ``--quick``: 1,000 images.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _setup(n_total: int):
    import torch

    from nclab.nets import ResNet

    K, shape = 10, (3, 32, 32)
    gen = torch.Generator().manual_seed(0)
    means = 0.5 * torch.randn(K, *shape, generator=gen)
    y = torch.arange(K).repeat_interleave(n_total // K)
    x = torch.empty(y.shape[0], *shape)
    for start in range(0, y.shape[0], 1000):  # float32 in chunks: no large temporaries
        stop = min(start + 1000, y.shape[0])
        x[start:stop] = means[y[start:stop]] + torch.randn(stop - start, *shape, generator=gen)
    torch.manual_seed(0)
    model = ResNet(3, K, widths=(16, 32, 64), blocks_per_stage=1).eval()
    return model, x, y


def _child(method: str, n_total: int, batch_size: int, pool: str) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from nclab.metrics import collapse
    from nclab.nets import find_classifier, measure

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    model, x, y = _setup(n_total)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    # every BatchNorm output (= each conv layer after its normalisation, before the ReLU)
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if pool == "flatten":  # only the last stage (64 x 8 x 8 = 4096 features per layer)
        names = [n for n in names if n.startswith("stage3")]
    base = _rss_mb()
    start = time.perf_counter()
    if method.startswith("streaming"):
        frame = measure(model, loader, layers=names, pool=pool, nc4=method == "streaming")
        nc1 = frame.set_index("layer")["nc1"].to_dict()
    else:
        clf_name, clf = find_classifier(model)
        modules = dict(model.named_modules())
        store: dict[str, list] = {n: [] for n in names + ["penultimate"]}
        handles = [modules[n].register_forward_hook(
            lambda m, i, o, n=n: store[n].append(
                (o.detach().flatten(2).mean(2) if pool == "avg" else o.detach().flatten(1)) if o.ndim > 2 else o.detach()))
            for n in names]
        handles.append(clf.register_forward_pre_hook(lambda m, i: store["penultimate"].append(i[0].detach())))
        with torch.no_grad():
            for xb, _ in loader:
                model(xb)
        for h in handles:
            h.remove()
        nc1 = {}
        for n, parts in store.items():
            H = torch.cat(parts).double()
            extra = (clf.weight.detach().double(), clf.bias.detach().double()) if n == "penultimate" else ()
            nc1[n] = collapse(H, y, *extra)["nc1"]
    seconds = time.perf_counter() - start
    return {"method": method, "seconds": seconds, "samples_per_s": n_total / seconds,
            "peak_extra_mb": _rss_mb() - base, "nc1": nc1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images instead of 10,000")
    parser.add_argument("--n", type=int, default=None, help="number of images")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--pool", choices=("avg", "flatten"), default="avg",
                        help="avg: every BatchNorm output average-pooled; flatten: the last stage's "
                        "BatchNorm outputs flattened (4096 features each)")
    parser.add_argument("--child", choices=("streaming", "streaming-nonc4", "collect"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n_total = args.n or (1000 if args.quick else 10000)
    if args.child:
        print(json.dumps(_child(args.child, n_total, args.batch_size, args.pool)))
        return 0
    results = {}
    for method in ("streaming", "streaming-nonc4", "collect"):
        cmd = [sys.executable, __file__, "--child", method, "--n", str(n_total), "--batch-size", str(args.batch_size),
               "--pool", args.pool]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        results[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    s, s0, c = results["streaming"], results["streaming-nonc4"], results["collect"]
    worst = max(abs(s["nc1"][k] - c["nc1"][k]) / max(abs(c["nc1"][k]), 1e-12) for k in c["nc1"])
    print(f"ResNet (16/32/64, 1 block/stage), {n_total} images 3x32x32, K = 10, "
          f"{len(c['nc1'])} measured layers (conv maps {'average-pooled' if args.pool == 'avg' else 'flattened'}), "
          f"batch {args.batch_size}, "
          f"threads {os.environ.get('OMP_NUM_THREADS', 'default')}")
    for r in (s, s0, c):
        print(f"  {r['method']:15s}: {r['seconds']:7.2f} s  {r['samples_per_s']:9.1f} samples/s  "
              f"peak memory above baseline {r['peak_extra_mb']:8.1f} MB")
    print(f"  ratio streaming/collect: speed {s['samples_per_s'] / c['samples_per_s']:.2f}x, "
          f"peak memory {s['peak_extra_mb'] / max(c['peak_extra_mb'], 1e-9):.2f}x; without the NC4 pass: "
          f"speed {s0['samples_per_s'] / c['samples_per_s']:.2f}x")
    print(f"  largest relative NC1 difference between the two: {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
