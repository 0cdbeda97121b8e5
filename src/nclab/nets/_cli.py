"""``nclab measure [CHECKPOINT] --data SPEC``: layer-wise neural collapse of a saved model.

Three ways to hand over a model of your own (the same table as :func:`nclab.nets.measure` on
the live model):

- ``torch.save(model)``: the whole eager module. Its class must be importable when the file is
  read: when it lives in your script, pass ``--model-code SCRIPT.py`` (the script is imported
  as a module, so its ``if __name__ == "__main__":`` block does not run, and the pickle's
  ``__main__.Net`` is looked up there) or ``--model module:Class``.
- ``--model module:Class --state-dict FILE``: a ``state_dict`` (``torch.save(model.state_dict())``)
  loaded into ``Class(**--model-kwargs)``; ``module`` is an importable module name or a path
  ``script.py``.
- TorchScript (``torch.jit.save``): TorchScript runs no Python forward hooks, so it is measured
  only through an eager class: ``CHECKPOINT --model module:Class`` loads the archive's weights
  into ``Class``. Without ``--model`` it is refused with a message that says so.

Unpickling runs code: load only files you trust.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pickle
import sys
import types
import warnings
import zipfile
from pathlib import Path

from nclab._json import atomic_path, dumps
from nclab._tensor import resolve_device
from nclab._validation import check_int, check_output_file, fail


def configure_measure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Layer-wise neural collapse of a saved PyTorch model: a whole model saved with "
                          "torch.save(model), a state_dict with --model module:Class --state-dict FILE, or a "
                          "TorchScript file with --model module:Class (its weights are loaded into the eager class: "
                          "TorchScript runs no forward hooks, so it is refused on its own).")
    parser.add_argument("checkpoint", nargs="?",
                        help="a model saved with torch.save(model) (the whole eager module; a state_dict goes to "
                        "--state-dict, and a TorchScript file needs --model module:Class; unpickling runs code: "
                        "load only files you trust)")
    parser.add_argument("--model", metavar="MODULE:CLASS",
                        help="the model's class, imported before loading: an importable module or a path "
                        "script.py, then ':Class' (needed for --state-dict and for TorchScript files)")
    parser.add_argument("--model-code", metavar="SCRIPT.py",
                        help="a Python file defining the class of a torch.save(model) file written from a script "
                        "(imported as a module; its __main__ block does not run)")
    parser.add_argument("--model-kwargs", metavar="DICT", default="{}",
                        help="keyword arguments of Class(...) for --state-dict / TorchScript, a Python literal "
                        "dict such as \"{'width': 32}\" (default {})")
    parser.add_argument("--state-dict", metavar="FILE",
                        help="a state_dict saved with torch.save(model.state_dict()), loaded into --model's class")
    parser.add_argument("--data", required=True, metavar="SPEC",
                        help="digits | gaussian | mnist:ROOT | fashionmnist:ROOT | cifar10:ROOT | FILE.npz "
                        "(arrays 'features' and 'labels'; x/X/inputs and y/Y/targets accepted); the inputs are "
                        "used as given (digits: pixel values 0..16, MNIST/CIFAR: values in [0, 1]) unless "
                        "--standardize; nothing is downloaded")
    parser.add_argument("--standardize", action="store_true",
                        help="standardise the inputs with the training split's statistics (digits: per pixel; "
                        "MNIST: global; CIFAR-10: per channel; .npz and gaussian: per coordinate), as "
                        "nclab.nets.data does by default")
    parser.add_argument("--split", choices=("train", "test", "all"), default="train",
                        help="which split to measure: train (default; digits holds out a stratified 25%% as "
                        "test, seed 0), test, or all (both); an .npz file is one split")
    parser.add_argument("--held-out", nargs="?", const="test", metavar="SPEC",
                        help="also measure a held-out set against the statistics of the measured split "
                        "(class means, global mean, Sigma_B; rows with split=test): bare --held-out is the test "
                        "split of --data; --held-out SPEC is another data spec (its test split, or the whole "
                        "file for an .npz)")
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


def _import_file(path: str | Path, name: str = "nclab_user_model") -> types.ModuleType:
    """The Python file ``path`` imported as module ``name`` (``__name__`` is not ``"__main__"``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        fail("--model-code", str(path), "a Python source file (.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.resolve().parent))  # the script's own imports of its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        fail("--model-code", str(path), f"a file that imports without error ({type(exc).__name__}: "
             f"{str(exc).splitlines()[0] if str(exc) else ''})")
    return module


def import_class(text: str):
    """``(module, class)`` of ``MODULE:CLASS``; MODULE is an importable name or a path to a .py file."""
    mod_name, sep, cls_name = str(text).rpartition(":")
    if not sep or not mod_name or not cls_name:
        fail("--model", text, "MODULE:CLASS, e.g. mynet:Net or path/to/script.py:Net")
    if mod_name.endswith(".py") or "/" in mod_name:
        module = _import_file(mod_name)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            fail("--model", text, f"an importable module or a path script.py before ':' ({exc})")
        except Exception as exc:
            fail("--model", text, f"a module that imports without error ({type(exc).__name__}: {exc})")
    cls = getattr(module, cls_name, None)
    if cls is None:
        fail("--model", text, f"a class defined in {mod_name} (it has no {cls_name!r})")
    return module, cls


def _pickle_module(user: types.ModuleType | None):
    """A ``pickle`` stand-in for ``torch.load`` that finds ``__main__.X`` (and the user module's own
    name) in ``user``: a class pickled from a script is looked up in that script."""
    if user is None:
        return pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module in ("__main__", getattr(user, "__name__", "")) and hasattr(user, name):
                return getattr(user, name)
            return super().find_class(module, name)

    shim = types.ModuleType("nclab_pickle")
    shim.__dict__.update({k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    shim.Unpickler = Unpickler
    shim.load = lambda f, **kw: Unpickler(f, **kw).load()
    return shim


def _check_module(obj, path: Path):
    from torch import nn

    if isinstance(obj, dict):
        fail("checkpoint", f"{path} (a dict, e.g. a state_dict)",
             "a whole model (torch.save(model, path)), or pass it as --state-dict FILE with --model module:Class")
    if not isinstance(obj, nn.Module):
        fail("checkpoint", f"{path} (a {type(obj).__name__})", "a saved torch.nn.Module")
    return obj


def _instantiate(cls, kwargs: dict, spec: str):
    try:
        return cls(**kwargs)
    except Exception as exc:
        fail("--model", spec, f"a class that builds with --model-kwargs {kwargs!r} ({type(exc).__name__}: {exc})")


def _load_weights(model, state, source: str):
    try:
        model.load_state_dict(state)
    except Exception as exc:
        fail(source, "weights that do not fit --model's class", f"a state_dict of that class ({one_line(exc)})")
    return model


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_model(path: str | Path | None, device: str = "cpu", *, model: str | None = None,
               model_code: str | None = None, state_dict: str | None = None, model_kwargs: dict | None = None):
    """The eager ``nn.Module`` to measure (module docstring: the three ways)."""
    import torch

    kwargs = dict(model_kwargs or {})
    user = cls = None
    if model_code is not None:
        user = _import_file(model_code)
    if model is not None:
        user_mod, cls = import_class(model)
        user = user or user_mod
    if state_dict is not None:
        if cls is None:
            fail("--state-dict", state_dict, "a state_dict together with --model module:Class (the class to load it into)")
        if path is not None:
            fail("checkpoint", path, "no CHECKPOINT together with --state-dict (one source of weights)")
        sd_path = Path(state_dict)
        if not sd_path.is_file():
            raise FileNotFoundError(2, "No such file", str(sd_path))
        try:
            state = torch.load(str(sd_path), map_location=device, weights_only=True)
        except Exception as exc:
            fail("--state-dict", str(sd_path), f"a file written by torch.save(model.state_dict()) ({one_line(exc)})")
        if isinstance(state, torch.nn.Module):
            state = state.state_dict()
        if not isinstance(state, dict):
            fail("--state-dict", f"{sd_path} (a {type(state).__name__})", "a state_dict (a dict of tensors)")
        return _load_weights(_instantiate(cls, kwargs, model), state, "--state-dict")
    if path is None:
        fail("checkpoint", None, "a model file (torch.save(model) or TorchScript), or --model module:Class "
             "--state-dict FILE")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    if _is_torchscript(path):
        if cls is None:
            fail("checkpoint", f"{path} (a TorchScript archive)",
                 "an eager model: TorchScript runs no forward hooks, which the layer-wise measurement needs; "
                 "pass --model module:Class to load its weights into your eager class, or save the model with "
                 "torch.save(model)")
        try:
            with warnings.catch_warnings():  # torch's deprecation note of torch.jit is not the user's concern here
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(str(path), map_location=device)
        except Exception as exc:
            fail("checkpoint", str(path), f"a readable TorchScript archive ({one_line(exc)})")
        return _load_weights(_instantiate(cls, kwargs, model), scripted.state_dict(), "checkpoint")
    try:
        obj = torch.load(str(path), map_location=device, weights_only=False, pickle_module=_pickle_module(user))
    except Exception as exc:
        reason = one_line(exc)
        if "Can't get attribute" in reason or "No module named" in reason:
            fail("checkpoint", f"{path}, whose model class cannot be found ({reason})",
                 "a file whose class is importable: pass --model-code SCRIPT.py (the script that defines it) "
                 "or --model module:Class")
        fail("checkpoint", str(path), f"a file written by torch.save(model) ({reason})")
    if isinstance(obj, dict) and cls is not None:  # a state_dict given as CHECKPOINT with --model
        return _load_weights(_instantiate(cls, kwargs, model), obj, "checkpoint")
    return _check_module(obj, path)


def _split(dataset, split: str):
    import torch

    if split == "train" or dataset.x_test is dataset.x_train:
        return dataset.x_train, dataset.y_train
    if split == "test":
        return dataset.x_test, dataset.y_test
    return torch.cat([dataset.x_train, dataset.x_test]), torch.cat([dataset.y_train, dataset.y_test])


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
    try:
        model_kwargs = ast.literal_eval(args.model_kwargs)  # literals only, never eval
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        model_kwargs = None
    if not isinstance(model_kwargs, dict) or not all(isinstance(k, str) for k in model_kwargs):
        fail("--model-kwargs", args.model_kwargs, "a literal dict with string keys, e.g. \"{'width': 32}\"")
    resolve_device(args.device)
    dataset = data_mod.load(args.data, standardize=bool(args.standardize))
    one_split = dataset.x_test is dataset.x_train
    x, y = _split(dataset, args.split)
    total = len(y)
    if args.n_per_class is not None:
        x, y = data_mod.balanced_subsample(x, y, args.n_per_class)
    model = load_model(args.checkpoint, args.device, model=args.model, model_code=args.model_code,
                       state_dict=args.state_dict, model_kwargs=model_kwargs)
    model.to(args.device)
    layers = None
    if args.layers is not None:
        layers = [] if args.layers.strip().lower() == "none" else [s.strip() for s in args.layers.split(",") if s.strip()]
    classifier = None
    if args.classifier is not None:
        classifier = False if args.classifier.strip().lower() == "none" else args.classifier
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    test_loader, held_note = None, ""
    if args.held_out is not None:
        if args.held_out == "test":
            if one_split or args.split != "train":
                fail("--held-out", "the test split", "a data set with a train/test split measured with --split train "
                     f"(here {'one split' if one_split else '--split ' + args.split}); or pass --held-out SPEC")
            held = (dataset.x_test, dataset.y_test)
            held_note = f"; held out: its test split ({len(dataset.y_test)} samples)"
        else:
            other = data_mod.load(args.held_out, standardize=bool(args.standardize))
            held = (other.x_test, other.y_test)
            held_note = f"; held out: {other.name} ({len(other.y_test)} samples)"
        test_loader = DataLoader(TensorDataset(*held), batch_size=batch_size, shuffle=False)
    frame = measure(model, loader, layers=layers, classifier=classifier, num_classes=args.num_classes,
                    pool=args.pool, max_dim=max_dim, test_loader=test_loader)
    if args.csv:
        with atomic_path(args.csv) as tmp:  # a crash or a full disk leaves no partial CSV
            frame.to_csv(tmp, index=False)
    if args.json:
        print(dumps(frame.to_dict(orient="records"), indent=2))  # undefined metrics (NaN) are null
    else:
        cols = ["layer", *(["split"] if "split" in frame.columns else []), "dim", "activation", "nc1", "nc1_post_act", "nc1_trace_ratio", "cdnv", "nc2_etf_features",
                "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch"]
        with pd.option_context("display.width", 200, "display.max_columns", 20,
                               "display.float_format", "{:.4g}".format):
            print(frame[cols].to_string(index=False))
    whole = len(dataset.y_train) + (0 if one_split else len(dataset.y_test))
    split = "the whole file" if one_split else f"split {args.split} ({total} of {whole} samples)"
    sub = f", {args.n_per_class} per class" if args.n_per_class is not None else ""
    inputs = "inputs standardised (--standardize)" if args.standardize else "inputs as given (no --standardize)"
    print(f"measured {dataset.name}, {split}: {int(frame['samples'].iloc[0])} samples{sub}{held_note}; {inputs}",
          file=sys.stderr)
    functional = list(dict.fromkeys(r.layer for r in frame.itertuples() if r.activation == "functional"))
    if functional:
        print(f"note: {', '.join(functional)} feed(s) an activation called as a function (e.g. F.relu), which "
              "forward hooks cannot see: nc1_post_act is NaN there; use activation modules (nn.ReLU) to "
              "measure after the activation", file=sys.stderr)
    return 0
