"""``nclab measure CHECKPOINT --data SPEC``: layer-wise neural collapse of a saved model."""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from nclab._json import atomic_path, dumps
from nclab._tensor import resolve_device
from nclab._validation import check_int, check_output_file, fail


def configure_measure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a model saved with torch.save(model) (the whole eager module, not a "
                        "state_dict nor TorchScript, which runs no forward hooks; unpickling runs code: load only "
                        "files you trust)")
    parser.add_argument("--data", required=True, metavar="SPEC",
                        help="digits | gaussian | mnist:ROOT | fashionmnist:ROOT | cifar10:ROOT | FILE.npz "
                        "(arrays x and labels); nothing is downloaded")
    parser.add_argument("--split", choices=("train", "test"), default="train", help="which split to measure")
    parser.add_argument("--layers", metavar="A,B,...", help="module names (default: every Linear/Conv; "
                        "'none' for the penultimate features only)")
    parser.add_argument("--classifier", metavar="NAME", help="the classifier module (default: the last nn.Linear; "
                        "'none' for no classifier, then --num-classes is needed)")
    parser.add_argument("--num-classes", type=int, help="number of classes (default: the classifier's outputs)")
    parser.add_argument("--pool", choices=("flatten", "avg"), default="flatten",
                        help="conv feature maps: flatten (default) or global average pool")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-per-class", type=int, help="balanced subsample of the split")
    parser.add_argument("--max-dim", type=int, default=2048, metavar="D",
                        help="layers with at most D (flattened) features keep the exact D x D second moment "
                        "(one pass, memory O(D^2)); wider layers, e.g. conv feature maps, use a second pass "
                        "over the data in O(K D) memory instead (the same metrics up to rounding; default 2048)")
    parser.add_argument("--device", default="cpu", help="torch device the model is moved to (default cpu)")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.add_argument("--csv", metavar="FILE", help="also write the table as CSV")


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files holding ``<name>/constants.pkl`` and ``code/``."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_model(path: str | Path, device: str = "cpu"):
    """The eager ``nn.Module`` pickled at ``path`` by ``torch.save(model)``.

    A TorchScript archive is refused (``ValueError``): TorchScript runs no forward hooks, and
    :func:`nclab.nets.measure` reads every layer through them.
    """
    import torch
    from torch import nn

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    if _is_torchscript(path):
        fail("checkpoint", f"{path} (a TorchScript archive)", "an eager model saved with torch.save(model): "
             "TorchScript runs no forward hooks, which the layer-wise measurement needs")
    try:
        model = torch.load(str(path), map_location=device, weights_only=False)
    except Exception as exc:
        fail("checkpoint", str(path), f"a file written by torch.save(model) ({str(exc).splitlines()[0]})")
    if isinstance(model, dict):
        fail("checkpoint", f"{path} (a dict, e.g. a state_dict)", "a whole model: torch.save(model, path)")
    if not isinstance(model, nn.Module):
        fail("checkpoint", f"{path} (a {type(model).__name__})", "a saved torch.nn.Module")
    return model


def main_measure(args: argparse.Namespace) -> int:
    import pandas as pd
    from torch.utils.data import DataLoader, TensorDataset

    from nclab.nets import data as data_mod
    from nclab.nets.features import measure

    batch_size = check_int("--batch-size", args.batch_size, minimum=1)
    max_dim = check_int("--max-dim", args.max_dim, minimum=1)
    if args.n_per_class is not None:
        check_int("--n-per-class", args.n_per_class, minimum=1)
    if args.num_classes is not None:
        check_int("--num-classes", args.num_classes, minimum=2)
    if args.csv:
        check_output_file("--csv", args.csv)
    resolve_device(args.device)
    dataset = data_mod.load(args.data)
    x, y = (dataset.x_train, dataset.y_train) if args.split == "train" else (dataset.x_test, dataset.y_test)
    if args.n_per_class is not None:
        x, y = data_mod.balanced_subsample(x, y, args.n_per_class)
    model = load_model(args.checkpoint, args.device)
    model.to(args.device)
    layers = None
    if args.layers is not None:
        layers = [] if args.layers.strip().lower() == "none" else [s.strip() for s in args.layers.split(",") if s.strip()]
    classifier = None
    if args.classifier is not None:
        classifier = False if args.classifier.strip().lower() == "none" else args.classifier
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    frame = measure(model, loader, layers=layers, classifier=classifier, num_classes=args.num_classes,
                    pool=args.pool, max_dim=max_dim)
    if args.csv:
        with atomic_path(args.csv) as tmp:  # a crash or a full disk leaves no partial CSV
            frame.to_csv(tmp, index=False)
    if args.json:
        print(dumps(frame.to_dict(orient="records"), indent=2))  # undefined metrics (NaN) are null
        return 0
    cols = ["layer", "dim", "nc1", "nc1_post_act", "nc1_trace_ratio", "cdnv", "nc2_etf_features",
            "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(frame[cols].to_string(index=False))
    print(f"{dataset.name} ({args.split}): {len(y)} samples, {frame['samples'].iloc[0]} measured", file=sys.stderr)
    return 0
