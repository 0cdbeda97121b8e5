"""``nclab metrics FILE.npz``: the neural collapse metrics of saved features, as JSON.

The .npz file holds ``features`` (N, d) or (..., N, d), ``labels`` (N,), and optionally
``weight`` (K, d) and ``bias`` (K,); other arrays are ignored. These are the names of
``nclab measure --data FILE.npz`` too (:mod:`nclab._npz`); ``x``/``X``/``inputs`` and
``y``/``Y``/``targets`` are accepted with a note on stderr. Bad input (a missing or
unreadable file, a missing array, a bad label or shape, NaN/inf) is one line on stderr and
exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

from nclab._json import dumps
from nclab._npz import CONVENTION, pick
from nclab._tensor import as_float_tensor, resolve_device
from nclab._validation import check_real, fail

ARRAYS = ("features", "labels", "weight", "bias")


def configure_metrics(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Neural collapse metrics (NC1, trace ratio, CDNV, NC2 ETF errors, equinorm, "
        "equiangularity, NC3 duality/structure, NC4, bias norm; see docs/math.md §2) of the "
        "features in an .npz file with arrays 'features' (N, d) or (..., N, d), 'labels' (N,), "
        "and optionally 'weight' (K, d) and 'bias' (K,) (x, X or inputs and y, Y or targets are accepted "
        "with a note; the same names as 'nclab measure --data FILE.npz'). Prints a JSON object."
    )
    parser.add_argument("file", metavar="FILE.npz", help="numpy .npz archive (np.savez) with the arrays above")
    parser.add_argument("--json", action="store_true",
                        help="print compact one-line JSON (default: indented JSON)")
    parser.add_argument("--global-mean", choices=("classes", "samples"), default="classes",
                        help="global mean h_G: mean of class means (default) or sample mean")
    parser.add_argument("--no-center-weight", action="store_true",
                        help="NC2 on the raw classifier rows W (default: centred across classes)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="relative rank tolerance of the centred class means for NC1 "
                        "(default: max(K, d) * machine epsilon)")
    parser.add_argument("--num-classes", type=int, default=None, metavar="K",
                        help="number of classes (default: max(label) + 1)")
    parser.add_argument("--omit-undefined", action="store_true",
                        help="with d < K - 1, leave out the ETF metrics instead of failing")
    parser.add_argument("--classes", default=None, metavar="K1,K2,...",
                        help="the metrics of a subset of the classes (comma-separated labels, at least 2): "
                        "their samples and classifier rows only")
    parser.add_argument("--device", default="cpu", help="torch device to compute on (default cpu)")


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read the arrays of an .npz file; FileNotFoundError/ValueError on a bad file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise ValueError(f"FILE must be an .npz file, got the directory {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"FILE must be an .npz archive written by numpy.savez, got {str(path)!r} (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError(f"FILE must be an .npz archive (np.savez), got a single array in {str(path)!r}")
            found = list(data.files)
            arrays, notes = {}, []
            for key in ARRAYS:
                name, note = pick(found, key)
                if name is not None:
                    arrays[key] = data[name]
                    if note:
                        notes.append(note)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"FILE must be a readable .npz archive, got {str(path)!r} ({exc})") from None
    except ValueError as exc:
        if "must be" in str(exc):
            raise
        raise ValueError(f"FILE must be a readable .npz archive without pickled objects, got {str(path)!r} ({exc})") from None
    for key in ("features", "labels"):
        if key not in arrays:
            raise ValueError(f"FILE must contain {CONVENTION}, got arrays {found} in {str(path)!r} "
                             f"(none of them serves as {key!r})")
    for note in notes:
        print(f"nclab metrics: note: {note}", file=sys.stderr)
    return arrays


def parse_classes(text: str | None) -> list[int] | None:
    """``--classes 3,7,9`` as a list of ints (range and duplicates are checked by collapse)."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        fail("--classes", text, "comma-separated class labels, e.g. 0,3,7")


def main_metrics(args: argparse.Namespace) -> int:
    from nclab.metrics.collapse import collapse

    if args.rtol is not None:
        check_real("--rtol", args.rtol, minimum=0.0, maximum=1.0)
    classes = parse_classes(args.classes)
    device = resolve_device(args.device)
    arrays = load_arrays(args.file)
    features = arrays["features"]
    if device.type != "cpu":
        features = as_float_tensor(features, "features", device=device)
    result = collapse(
        features,
        arrays["labels"],
        arrays.get("weight"),
        arrays.get("bias"),
        global_mean=args.global_mean,
        center_weight=not args.no_center_weight,
        rtol=args.rtol,
        num_classes=args.num_classes,
        undefined="omit" if args.omit_undefined else "raise",
        classes=classes,
    )
    print(dumps(result, indent=None if args.json else 2))  # undefined metrics (NaN) are null
    return 0
