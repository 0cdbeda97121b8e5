"""``nclab train``: train a UFM batched over seeds from the command line.

    nclab train --preset garrod --set K=10 --set n=5 --set d=70 --set L=2 --set lam=2**-10 \\
        --set steps=50000 --set lr=0.5 --seeds 0:16 [--json] [--out DIR]

``--set`` keys, their defaults and allowed values are the UFM config table of
:mod:`nclab.ufm.options` (the same as ``nclab sweep ufm``'s): the spec's fields (or the preset's
own constants), the options of :func:`nclab.train`, the solution classifier's tolerances
(``rank_rtol``, ``nc_tol``) and ``device``. ``--show-config`` prints them, with the defaults a
preset fills in, and exits. Values are literals or simple arithmetic (``nclab._parse``, never
eval). ``H0`` may name a ``.npy`` file of shape (d, N). Everything is validated before any work
or file is written.
"""
from __future__ import annotations

import argparse
from nclab import _json as json  # NaN and +-inf are written as null
from typing import Any

from nclab._parse import parse_assignments
from nclab._tensor import resolve_device
from nclab._validation import check_output_dir
from nclab.seeds import parse_seeds as _parse_seeds
from nclab.ufm import options as _options


def parse_seeds(text: str) -> list[int]:
    """``A:B`` (seeds A..B-1), ``a,b,c`` (those seeds) or ``S`` (seeds 0..S-1): :func:`nclab.seeds.parse_seeds`."""
    return _parse_seeds(text, name="--seeds")


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=_options.PRESETS,
                        help="take the paper's constants: garrod (K n d L lam activation), tirer (K n d lam_W "
                             "lam_H beta), mixon (C N p), sukenik (K n d L lam activation; MSE), with defaults (see "
                             "--show-config); without it the keys are UFMSpec's fields")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="a spec field or training option (steps, lr, optimizer, init, init_scale, tol, "
                             "polish, dtype, spectra, rank_rtol, ...); literals or arithmetic such as 2**-10; "
                             "repeatable")
    parser.add_argument("--show-config", action="store_true",
                        help="print every --set key of the chosen preset with its default and allowed values "
                             "(the defaults a preset fills in), then exit")
    parser.add_argument("--seeds", default="0:4", help="A:B, a,b,c or a count S (default 0:4)")
    parser.add_argument("--device", help="torch device (cpu, cuda); same as --set device=...")
    parser.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    parser.add_argument("--out", metavar="DIR", help="write params.npz, history.csv and result.json into DIR")
    parser.add_argument("--history-format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--max-memory", metavar="BYTES",
                        help="refuse a run whose estimated memory exceeds this (e.g. 8GB; default: "
                             "NCLAB_MAX_MEMORY, else 80%% of the available memory)")
    parser.add_argument("--json", action="store_true", help="print the result summary as JSON")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The full canonical config of the run (every key of the table, defaults filled in)."""
    values = parse_assignments(args.set)
    if args.device:
        values["device"] = args.device
    if args.dtype:
        values["dtype"] = args.dtype
    return _options.validate_run(args.preset, values, run=True)


def prepare(args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, float]]:
    """(spec, train kwargs, classifier tolerances) from the parsed arguments; ValueError on bad input."""
    config = settings(args)
    problem, train_opts, tolerances, run = _options.split(args.preset, config)
    spec = _options.build_spec(args.preset, problem)
    kwargs = dict(_options.train_kwargs(train_opts), **run)
    kwargs["seeds"] = parse_seeds(args.seeds)
    device = resolve_device(config.get("device", "cpu"))  # an unknown or absent device: ValueError
    _options.check_memory(spec, len(kwargs["seeds"]), config["dtype"], device=device,
                          max_memory=getattr(args, "max_memory", None), polish=config["polish"])
    kwargs["progress"] = True if args.progress else None
    return spec, kwargs, tolerances


def build(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(spec, train kwargs) from the parsed arguments; raises ValueError on bad input."""
    spec, kwargs, _ = prepare(args)
    return spec, kwargs


def main_train(args: argparse.Namespace) -> int:
    from nclab.ufm.engine import train
    from nclab.ufm.solutions import classify_params, format_counts, solution_counts

    if args.show_config:
        print(f"nclab train{' --preset ' + args.preset if args.preset else ''}: --set keys and defaults")
        print(_options.describe(args.preset, run=True))
        return 0
    spec, kwargs, tolerances = prepare(args)
    if args.out:
        check_output_dir("--out", args.out)
    result = train(spec, **kwargs)
    solutions = classify_params(spec, result.params, **tolerances)
    labels = [c["label"] for c in solutions]
    if args.out:
        result.save(args.out, history_format=args.history_format)
    if args.json:
        counts = solution_counts(solutions).to_dict(orient="records")
        print(json.dumps(dict(result.to_dict(), solutions=labels, solution_ranks=[int(c["rank"]) for c in solutions],
                              solution_counts=counts), indent=2, default=str))
    else:
        print(result.summary())
        counts = {s: result.status.count(s) for s in dict.fromkeys(result.status)}
        print("  status: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        print("  solutions: " + format_counts(solutions))
        pairs = list(zip(kwargs["seeds"], solutions))
        per_seed = ", ".join(f"{seed} {c['label']} r{c['rank']}" for seed, c in pairs[:64])
        more = f", ... ({len(pairs) - 64} more: --json lists all)" if len(pairs) > 64 else ""
        print("  per seed (seed label rank): " + per_seed + more)
        if args.out:
            print(f"  wrote {args.out}/params.npz, history.{args.history_format}, result.json")
    return 0
