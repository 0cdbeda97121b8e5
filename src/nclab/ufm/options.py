"""The one config table of a UFM run: spec (or preset) keys, train() options, classifier tolerances.

``nclab train`` (:mod:`nclab.ufm._cli`) and the ``ufm`` sweep kind (:mod:`nclab.sweep.ufm_kind`)
both read their ``--set`` keys, defaults and allowed values from :func:`table`, so a key that
one accepts the other accepts, with the same default. A table has three parts:

- the problem: the :class:`nclab.ufm.spec.UFMSpec` fields (no preset), or a preset's own
  constants (:data:`PRESET_TABLES`: ``garrod``, ``tirer``, ``mixon``) with the defaults that
  ``nclab train --preset P`` fills in (``nclab train --preset P --show-config`` prints them);
- :data:`TRAIN_TABLE`: the keyword options of :func:`nclab.ufm.engine.train` (a test checks the
  table against its signature);
- :data:`nclab.ufm.solutions.CLASSIFIER_TABLE`: the DNC / low-rank classifier's tolerances.

``device`` (:data:`RUN_TABLE`) is a key of ``nclab train`` only: a sweep sets the device of
each worker itself (``nclab sweep --device``). ``H0`` is the path of a ``.npy`` file of shape
(d, N). Keys without a default are :data:`REQUIRED` (K, n, d of a plain spec).

Limits checked before any work (:func:`validate_run`, :func:`check_memory`): ``steps`` and
``polish_steps`` at most :data:`MAX_STEPS`; every real setting within
``sqrt(finfo(dtype).max)`` of the run's dtype (about 1.8e19 in float32), so that a product of
two settings (``lr * lam``) still fits the dtype; and the memory the run needs, estimated from
the shapes, the number of seeds and the dtype, at most the limit of
:func:`nclab._validation.memory_limit` (80% of the available memory unless ``--max-memory`` or
``NCLAB_MAX_MEMORY`` says otherwise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from nclab._tensor import resolve_dtype
from nclab._validation import check_memory as _check_memory, fail, memory_limit
from nclab.config import (Bool, Choice, Either, Int, ListOf, Optional, Param, Real, Rule, Text, describe_table,
                          validate)
from nclab.ufm.dynamics import UFM_OPTIMIZERS
from nclab.ufm.init import SCHEMES
from nclab.ufm.solutions import CLASSIFIER_TABLE
from nclab.ufm.spec import ACTIVATIONS, REDUCTIONS, UFM_LOSSES

__all__ = ["MAX_LAYERS", "MAX_SIZE", "MAX_STEPS", "PRESETS", "PRESET_TABLES", "REQUIRED", "RUN_TABLE",
           "SPEC_TABLE", "TRAIN_TABLE", "DType",
           "build_spec", "check_memory", "describe", "estimate_bytes", "split", "table", "train_kwargs", "validate_run"]

PRESETS = ("garrod", "tirer", "mixon", "sukenik")


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: The default of a key the user must set.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class DType(Rule):
    """A float dtype: ``"float32"``/``"float64"`` (also ``"float"``, ``"double"``, a torch dtype);
    the canonical value is the string ``"float32"`` or ``"float64"`` (:func:`nclab._tensor.resolve_dtype`)."""

    def describe(self) -> str:
        return "one of 'float32', 'float64' (or 'float', 'double')"

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, (str, torch.dtype)):
            self._type_error(name, value)
        try:
            return str(resolve_dtype(value)).replace("torch.", "")
        except ValueError:
            self._value_error(name, value)


_LAM = Real(minimum=0.0)
_LAM_W = Either(Real(minimum=0.0), ListOf(Real(minimum=0.0)))
_H0 = Param(None, Optional(Text()), "anchor H0: path of a .npy file of shape (d, N)")

#: The largest size (K, n, d, C, N, p) a table accepts: torch's 32-bit index range; the memory
#: check (:func:`check_memory`) refuses far smaller sizes on a real machine.
MAX_SIZE = 2 ** 31 - 1
#: The most weight matrices L of a UFM.
MAX_LAYERS = 10_000

#: The UFMSpec fields (no preset).
SPEC_TABLE: dict[str, Param] = {
    "K": Param(REQUIRED, Int(minimum=2, maximum=MAX_SIZE), "number of classes"),
    "n": Param(REQUIRED, Int(minimum=1, maximum=MAX_SIZE), "samples per class"),
    "d": Param(REQUIRED, Int(minimum=1, maximum=MAX_SIZE), "feature width"),
    "L": Param(1, Int(minimum=1, maximum=MAX_LAYERS), "number of weight matrices (1: shallow UFM)"),
    "activation": Param("linear", Choice(*ACTIVATIONS), "activation between layers (never on H_1)"),
    "loss": Param("ce", Choice(*UFM_LOSSES), "cross-entropy or squared loss"),
    "bias": Param(False, Bool(), "a bias on the last layer"),
    "lam_H": Param(0.0, _LAM, "weight decay of H_1"),
    "lam_W": Param(0.0, _LAM_W, "weight decay of W_1..W_L (one number or L numbers)"),
    "lam_b": Param(0.0, _LAM, "weight decay of b"),
    "H0": _H0,
    "beta": Param(0.0, _LAM, "anchor strength beta (THN Eq. 2)"),
    "reduction": Param("mean", Choice(*REDUCTIONS), "mean or sum of the fit over the N samples"),
}

#: Each preset's own constants (the arguments of ``UFMSpec.<preset>``) with nclab train's defaults.
PRESET_TABLES: dict[str, dict[str, Param]] = {
    "garrod": {
        "K": Param(10, Int(minimum=2, maximum=MAX_SIZE), "number of classes"),
        "n": Param(5, Int(minimum=1, maximum=MAX_SIZE), "samples per class"),
        "d": Param(70, Int(minimum=1, maximum=MAX_SIZE), "feature width"),
        "L": Param(2, Int(minimum=1, maximum=MAX_LAYERS), "number of weight matrices"),
        "lam": Param(2 ** -10, _LAM, "common weight decay lambda of H_1 and every W_l"),
        "activation": Param("linear", Choice(*ACTIVATIONS), "activation between layers"),
        "lam_H": Param(None, Optional(_LAM), "weight decay of H_1 (None: lam)"),
        "lam_W": Param(None, Optional(_LAM_W), "weight decay of W_1..W_L (None: lam)"),
        "reduction": Param("mean", Choice(*REDUCTIONS), "mean or sum of the CE over the N samples"),
    },
    "tirer": {
        "K": Param(4, Int(minimum=2, maximum=MAX_SIZE), "number of classes"),
        "n": Param(10, Int(minimum=1, maximum=MAX_SIZE), "samples per class"),
        "d": Param(10, Int(minimum=1, maximum=MAX_SIZE), "feature width"),
        "lam_W": Param(0.01, _LAM, "THN's lambda_W"),
        "lam_H": Param(0.01, _LAM, "THN's lambda_H"),
        "beta": Param(None, Optional(_LAM), "anchor strength (None: no anchor)"),
        "H0": _H0,
    },
    "sukenik": {
        "K": Param(10, Int(minimum=2, maximum=MAX_SIZE), "number of classes"),
        "n": Param(5, Int(minimum=1, maximum=MAX_SIZE), "samples per class"),
        "d": Param(30, Int(minimum=1, maximum=MAX_SIZE), "feature width (Sukenik et al. 2024: 30)"),
        "L": Param(4, Int(minimum=1, maximum=MAX_LAYERS), "number of weight matrices (Sukenik et al. 2024: 4)"),
        "lam": Param(0.004, _LAM, "common weight decay of H_1 and every W_l (Sukenik et al. 2024: 0.004)"),
        "activation": Param("relu", Choice(*ACTIVATIONS), "activation between layers"),
    },
    "mixon": {
        "C": Param(3, Int(minimum=2, maximum=MAX_SIZE), "number of classes"),
        "N": Param(3, Int(minimum=1, maximum=MAX_SIZE), "samples per class"),
        "p": Param(15, Int(minimum=1, maximum=MAX_SIZE), "feature dimension"),
    },
}

#: The most optimizer (or polish) steps of one run.
MAX_STEPS = 10 ** 8
_STEPS = Optional(Int(minimum=1, maximum=MAX_STEPS))
_SCALE = Optional(Real(minimum=0.0))
#: The keyword options of :func:`nclab.ufm.engine.train` (but ``seeds``, ``device``, ``progress``).
TRAIN_TABLE: dict[str, Param] = {
    "steps": Param(1000, Int(minimum=0, maximum=MAX_STEPS), "optimizer steps"),
    "optimizer": Param("gd", Choice(*UFM_OPTIMIZERS), "full-batch optimizer"),
    "lr": Param(None, Optional(Real(minimum=0.0, strict=True)), "learning rate (None: 0.1 gd/momentum, 1e-3 adam)"),
    "momentum": Param(0.9, Real(minimum=0.0, maximum=1.0), "heavy-ball momentum"),
    "betas": Param([0.9, 0.999], ListOf(Real(minimum=0.0, maximum=1.0), length=2), "Adam's betas"),
    "eps": Param(1e-8, Real(minimum=0.0, strict=True), "Adam's eps"),
    "record_every": Param(None, _STEPS, "history every this many steps (None: steps // 100)"),
    "check_every": Param(None, _STEPS, "convergence check every this many steps (None: min(record_every, 10))"),
    "init": Param("gaussian", Choice(*SCHEMES), "initialisation scheme"),
    "init_scale": Param(None, _SCALE, "overall init scale (norm: total norm eps)"),
    "scale_H": Param(None, _SCALE, "init scale of H_1"),
    "scale_W": Param(None, _SCALE, "init scale of every W_l"),
    "scale_b": Param(None, _SCALE, "init scale of b"),
    "zero_bias": Param(True, Bool(), "norm init: start with b = 0"),
    "dtype": Param("float32", DType(), "training dtype"),
    "tol": Param(None, Optional(Real(minimum=0.0)), "gradient-norm tolerance per seed (None: run every step)"),
    "diverge_factor": Param(1e6, Real(minimum=1.0), "diverged when loss > this * max(initial loss, 1)"),
    "metrics": Param(True, Bool(), "record per-layer NC metrics"),
    "spectra": Param(True, Bool(), "record the logit singular values"),
    "polish": Param(False, Bool(), "finish with float64 L-BFGS"),
    "polish_steps": Param(500, Int(minimum=0, maximum=MAX_STEPS), "L-BFGS polish steps"),
    "polish_tol": Param(1e-9, Real(minimum=0.0), "L-BFGS polish gradient tolerance"),
    "history_size": Param(10, Int(minimum=1), "L-BFGS curvature pairs"),
    "seed_chunk": Param(None, Optional(Int(minimum=1, maximum=10 ** 6)),
                        "train at most this many seeds at once (None: automatic, by parameter memory)"),
}

#: Keys of a single ``nclab train`` run only (a sweep sets them per worker).
RUN_TABLE: dict[str, Param] = {"device": Param("cpu", Text(), "torch device (cpu, cuda, cuda:1, mps)")}


def _check_preset(preset: str | None) -> None:
    if preset is not None and preset not in PRESETS:
        fail("preset", preset, "one of " + ", ".join(repr(p) for p in PRESETS))


def problem_table(preset: str | None) -> dict[str, Param]:
    """The problem keys: the UFMSpec fields (``preset=None``) or the preset's constants."""
    _check_preset(preset)
    return dict(SPEC_TABLE if preset is None else PRESET_TABLES[preset])


def table(preset: str | None, *, run: bool = False) -> dict[str, Param]:
    """The full table of a UFM run: problem keys, train options, classifier tolerances
    (and :data:`RUN_TABLE` when ``run``, as ``nclab train`` has)."""
    out = {**problem_table(preset), **TRAIN_TABLE, **CLASSIFIER_TABLE}
    if run:
        out.update(RUN_TABLE)
    return out


def _where(preset: str | None) -> str:
    return "the UFM run" + (f" (preset {preset})" if preset else "")


def validate_run(preset: str | None, values: Mapping[str, Any], *, run: bool = False) -> dict[str, Any]:
    """The full canonical config of a UFM run: defaults <- ``values``, every key checked.

    An unknown key, a missing :data:`REQUIRED` key or a value its rule refuses raises
    ``ValueError`` naming the key. Cross-key checks (``lam_W`` of length L, ``H0`` of shape
    (d, N)) are :func:`build_spec`'s.
    """
    tab = table(preset, run=run)
    where = _where(preset)
    unknown = sorted(set(values) - set(tab))
    if unknown:
        raise ValueError(f"setting {unknown[0]!r} of {where} must be one of the keys "
                         f"{', '.join(sorted(tab))}, got {unknown[0]}={values[unknown[0]]!r}")
    missing = [k for k, p in tab.items() if p.default is REQUIRED and k not in values]
    if missing:
        raise ValueError(f"{where} needs a value for {', '.join(repr(m) for m in missing)} (--set KEY=VALUE)")
    config = validate(tab, values, where=where)
    _check_range(config, where)
    return config


def _check_range(config: Mapping[str, Any], where: str) -> None:
    """Refuse a real setting beyond ``sqrt(finfo(dtype).max)`` of the run's dtype (see the module doc)."""
    dtype = getattr(torch, str(config.get("dtype", "float32")))
    bound = float(torch.finfo(dtype).max) ** 0.5
    for key, value in config.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        for v in items:
            if isinstance(v, float) and abs(v) > bound:
                raise ValueError(f"setting {key!r} of {where} must be at most {bound:.3g} in absolute value "
                                 f"for dtype {str(dtype).replace('torch.', '')} (so products of settings fit "
                                 f"the dtype), got {value!r}")


def estimate_bytes(spec: Any, n_seeds: int, dtype: Any = "float32", *, polish: bool = False) -> float:
    """Bytes a UFM run of ``spec`` over ``n_seeds`` seeds needs, estimated from the shapes.

    Per seed: the parameters (H_1: d x N, W_1..W_{L-1}: d x d, W_L: K x d, b: K), counted four
    times (values, gradient and up to two optimizer buffers), and the forward pass (L layers
    of d x N and the K x N logits), counted three times (values, gradients, the loss's
    softmax). A polished run computes in float64. The estimate is a lower bound of the
    allocator's peak, good to a small factor: it guards against sizes the machine cannot hold.
    """
    K, n, d, L = int(spec.K), int(spec.n), int(spec.d), int(spec.L)
    N = K * n
    params = d * N + (L - 1) * d * d + K * d + K
    forward = L * d * N + K * N
    width = 8 if polish else torch.finfo(resolve_dtype(dtype)).bits // 8
    total = int(n_seeds) * width * (4 * params + 3 * forward)  # exact: K may be 10**308
    return float(total) if total < 2 ** 1000 else math.inf


def check_memory(spec: Any, n_seeds: int, dtype: Any = "float32", *, device: Any = "cpu",
                 max_memory: Any = None, polish: bool = False) -> float:
    """Raise ``ValueError`` (before any allocation) when :func:`estimate_bytes` exceeds the memory
    limit (:func:`nclab._validation.memory_limit`); returns the estimate."""
    estimate = estimate_bytes(spec, n_seeds, dtype, polish=polish)
    _check_memory(f"a UFM run with K={spec.K}, n={spec.n}, d={spec.d}, L={spec.L} over {n_seeds} seed(s)",
                  estimate, memory_limit(max_memory, device))
    return estimate


def split(preset: str | None, config: Mapping[str, Any]) -> tuple[dict, dict, dict, dict]:
    """(problem, train, classifier, run) parts of a config; keys not in the table are dropped."""
    problem = problem_table(preset)
    parts = ({k: config[k] for k in problem if k in config},
             {k: config[k] for k in TRAIN_TABLE if k in config},
             {k: config[k] for k in CLASSIFIER_TABLE if k in config},
             {k: config[k] for k in RUN_TABLE if k in config})
    return parts


def _load_h0(value: Any) -> Any:
    if not isinstance(value, (str, Path)):
        return value
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    return np.load(path)


def build_spec(preset: str | None, problem: Mapping[str, Any]) -> Any:
    """The :class:`UFMSpec` of the problem keys (``H0`` a path is loaded; lists become tuples)."""
    from nclab.ufm.spec import UFMSpec

    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in problem.items()}
    if "H0" in kwargs:
        kwargs["H0"] = _load_h0(kwargs["H0"])
    if preset is None:
        return UFMSpec(**kwargs)
    return getattr(UFMSpec, preset)(**kwargs)


def train_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`nclab.ufm.engine.train` from the train options (lists -> tuples)."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items()}


def describe(preset: str | None, *, run: bool = False) -> str:
    """The table as text, one key a line: ``key = default  (allowed) help``."""
    rows = describe_table(table(preset, run=run))
    width = max(len(r["key"]) for r in rows)
    lines = []
    for r in rows:
        default = "<required>" if r["default"] is REQUIRED else repr(r["default"])
        lines.append(f"{r['key']:<{width}} = {default:<12} {r['help']} ({r['allowed']})")
    return "\n".join(lines)
