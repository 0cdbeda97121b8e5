"""``nclab train``: train a UFM batched over seeds from the command line.

    nclab train --preset garrod --set K=10 --set n=5 --set d=70 --set L=2 --set lam=2**-10 \\
        --set steps=50000 --set lr=0.5 --seeds 0:16 [--json] [--out DIR]

``--set`` keys are the spec's fields (or the preset's own constants) and the options of
:func:`nclab.train`; values are literals or simple arithmetic (``nclab._parse``, never eval).
``H0`` may name a ``.npy`` file of shape (d, N). Everything is validated before any work or
file is written.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from nclab._parse import parse_assignments
from nclab._validation import check_int, fail

PRESET_KEYS = {
    None: ("K", "n", "d", "L", "activation", "loss", "bias", "lam_H", "lam_W", "lam_b", "H0", "beta", "reduction"),
    "garrod": ("K", "n", "d", "L", "lam", "activation", "lam_H", "lam_W", "reduction"),
    "tirer": ("K", "n", "d", "lam_W", "lam_H", "beta", "H0"),
    "mixon": ("C", "N", "p"),
}
PRESET_DEFAULTS = {
    "garrod": {"K": 10, "n": 5, "d": 70, "L": 2, "lam": 2 ** -10},
    "tirer": {"K": 4, "n": 10, "d": 10, "lam_W": 0.01, "lam_H": 0.01},
    "mixon": {"C": 3, "N": 3, "p": 15},
}
TRAIN_KEYS = ("steps", "optimizer", "lr", "momentum", "record_every", "check_every", "init", "init_scale",
              "scale_H", "scale_W", "scale_b", "zero_bias", "tol", "diverge_factor", "polish", "polish_steps",
              "polish_tol", "history_size", "metrics", "dtype", "device")


def parse_seeds(text: str) -> list[int]:
    """``A:B`` (seeds A..B-1), ``a,b,c`` (those seeds) or ``S`` (seeds 0..S-1)."""
    text = text.strip()
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            a, b = int(a), int(b)
            if a < 0 or b <= a:
                raise ValueError
            return list(range(a, b))
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        return list(range(check_int("seeds", int(text), minimum=1)))
    except ValueError:
        fail("--seeds", text, "A:B with 0 <= A < B, a comma-separated list of seeds, or a count S")
    raise AssertionError  # pragma: no cover


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=("garrod", "tirer", "mixon"),
                        help="take the paper's constants: garrod (K n d L lam activation), tirer (K n d lam_W "
                             "lam_H beta), mixon (C N p); without it the keys are UFMSpec's fields")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="a spec field or training option (steps, lr, optimizer, init, init_scale, tol, "
                             "polish, dtype, ...); literals or arithmetic such as 2**-10; repeatable")
    parser.add_argument("--seeds", default="0:4", help="A:B, a,b,c or a count S (default 0:4)")
    parser.add_argument("--device", help="torch device (cpu, cuda)")
    parser.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    parser.add_argument("--out", metavar="DIR", help="write params.npz, history.csv and result.json into DIR")
    parser.add_argument("--history-format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--json", action="store_true", help="print the result summary as JSON")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def build(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(spec, train kwargs) from the parsed arguments; raises ValueError on bad input."""
    from nclab.ufm.spec import UFMSpec

    settings = parse_assignments(args.set)
    preset = args.preset
    spec_keys = PRESET_KEYS[preset]
    unknown = sorted(set(settings) - set(spec_keys) - set(TRAIN_KEYS))
    if unknown:
        fail("--set key", unknown[0], "one of " + ", ".join(spec_keys + TRAIN_KEYS))
    spec_args = dict(PRESET_DEFAULTS.get(preset, {}))
    spec_args.update({k: v for k, v in settings.items() if k in spec_keys})
    if isinstance(spec_args.get("H0"), str):
        path = Path(spec_args["H0"])
        if not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
        spec_args["H0"] = np.load(path)
    if isinstance(spec_args.get("lam_W"), list):
        spec_args["lam_W"] = tuple(spec_args["lam_W"])
    try:
        if preset == "garrod":
            spec = UFMSpec.garrod(**spec_args)
        elif preset == "tirer":
            spec = UFMSpec.tirer(**spec_args)
        elif preset == "mixon":
            spec = UFMSpec.mixon(**spec_args)
        else:
            spec = UFMSpec(**spec_args)
    except TypeError as exc:  # a missing required key
        raise ValueError(f"spec: {exc}; give it with --set KEY=VALUE") from None
    kwargs = {k: v for k, v in settings.items() if k in TRAIN_KEYS}
    if args.device:
        kwargs["device"] = args.device
    if args.dtype:
        kwargs["dtype"] = args.dtype
    kwargs["seeds"] = parse_seeds(args.seeds)
    kwargs["progress"] = True if args.progress else None
    if isinstance(kwargs.get("optimizer"), str) and kwargs.get("optimizer") == "lbfgs":
        kwargs.pop("lr", None)
    return spec, kwargs


def main_train(args: argparse.Namespace) -> int:
    from nclab.ufm.engine import train

    spec, kwargs = build(args)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        fail("--out", args.out, "a directory (or a path that does not exist yet)")
    result = train(spec, **kwargs)
    if args.out:
        result.save(args.out, history_format=args.history_format)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.summary())
        counts = {s: result.status.count(s) for s in dict.fromkeys(result.status)}
        print("  status: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        if args.out:
            print(f"  wrote {args.out}/params.npz, history.{args.history_format}, result.json")
    return 0
