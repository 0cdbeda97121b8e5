"""The ``ufm`` sweep kind: train a UFM batched over seeds and record its final state.

Config keys are those of ``nclab train``: the :class:`nclab.ufm.spec.UFMSpec` fields (or, with
a preset, the parameters of ``UFMSpec.garrod`` / ``UFMSpec.tirer`` / ``UFMSpec.mixon``, i.e. each
paper's own constants) and the keyword options of :func:`nclab.ufm.engine.train`; both lists
are read from the engine's signatures, so the kind follows the engine. Two more keys are the
solution classifier's tolerances (``rank_rtol``, ``nc_tol`` of
:func:`nclab.ufm.solutions.classify_solution`; GK's rule is [open] in MATH.md).

Recorded per seed (metrics): ``final_loss``, ``final_fit``, ``final_reg``, ``final_anchor``,
``grad_norm``, ``last_step`` (last recorded step), ``train_status`` (converged | max_steps |
diverged), every per-layer NC metric and logit singular value of the last history row
(``nc1_h1``, ``svZbar_1``, ...), ``rank_Z`` (rank of the centred class-mean logits),
``label`` (``dnc`` | ``low_rank`` | ``other``), ``etf_error`` and ``spread``; the history
(every recorded step) is stored compressed. A diverged seed is a row with status
``diverged``.
"""
from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from typing import Any

from nclab._validation import check_real, fail
from nclab.sweep.kinds import REQUIRED, register_kind

PRESETS = ("garrod", "tirer", "mixon")
#: train() arguments that are not config keys (the sweep supplies them).
_NOT_KEYS = {"spec", "seeds", "device", "progress", "self", "cls"}
#: Spec/preset arguments that cannot come from a command line (arrays).
_ARRAY_KEYS = {"H0"}
#: Keys added by the kind: the solution classifier's tolerances.
CLASSIFIER_DEFAULTS = {"rank_rtol": 1e-3, "nc_tol": 0.05}
#: Metric names given to the final-row columns that would collide with config keys.
_RENAME = {"loss": "final_loss", "fit": "final_fit", "reg": "final_reg", "anchor": "final_anchor",
           "step": "last_step", "status": "train_status"}


def _engine():
    import importlib

    spec_module = importlib.import_module("nclab.ufm.spec")
    train_module = importlib.import_module("nclab.ufm.engine")  # nclab.ufm.engine the function shadows it
    return spec_module.UFMSpec, train_module.train


def _parameters(func: Any) -> dict[str, tuple[Any, Any]]:
    """``{name: (default or REQUIRED, annotation)}`` of a function's parameters."""
    hints = typing.get_type_hints(func)
    out = {}
    for name, p in inspect.signature(func).parameters.items():
        if name in _NOT_KEYS or name in _ARRAY_KEYS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        out[name] = (default, hints.get(name, Any))
    return out


@functools.lru_cache(maxsize=None)
def _tables(preset: str | None) -> tuple[dict, dict, dict]:
    """(spec keys, train keys, annotations) for ``preset`` (None: the UFMSpec fields)."""
    UFMSpec, train = _engine()
    if preset is None:
        import dataclasses

        hints = typing.get_type_hints(UFMSpec)
        spec_keys = {}
        for f in dataclasses.fields(UFMSpec):
            if f.name in _ARRAY_KEYS:
                continue
            default = REQUIRED if f.default is dataclasses.MISSING else f.default
            spec_keys[f.name] = (default, hints.get(f.name, Any))
    else:
        spec_keys = _parameters(getattr(UFMSpec, preset))
    train_keys = _parameters(train)
    clash = set(spec_keys) & set(train_keys)
    if clash:  # pragma: no cover - engine change
        raise RuntimeError(f"ufm sweep kind: spec and train() share keys {sorted(clash)}")
    annotations = {k: a for k, (_, a) in {**spec_keys, **train_keys}.items()}
    return spec_keys, train_keys, annotations


def _canonical_default(value: Any) -> Any:
    if value is REQUIRED or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return list(value)
    return str(value).replace("torch.", "")  # torch.float32 -> "float32"


def schema(preset: str | None) -> dict[str, Any]:
    """Every config key of the ufm kind (for ``preset``) with its default."""
    spec_keys, train_keys, _ = _tables(preset)
    out = {k: _canonical_default(d) for k, (d, _) in {**spec_keys, **train_keys}.items()}
    out.update(CLASSIFIER_DEFAULTS)
    return out


def _allows(annotation: Any, *types_: type) -> bool:
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    plain = {typing.get_origin(a) or a for a in args}
    return any(t in plain for t in types_)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Canonical value of ``key`` by its annotation: 100.0 -> 100 for ints, 1 -> 1.0 for floats."""
    if value is None or isinstance(value, str) or annotation is Any:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if _allows(annotation, float):
            return float(value)
        if _allows(annotation, int) and float(value).is_integer():
            return int(value)
        return value
    if isinstance(value, (list, tuple)):
        return [_coerce(f"{key}[{i}]", v, float if _allows(annotation, tuple, list, typing.Sequence) else Any)
                for i, v in enumerate(value)]
    return value


def _split(config: dict) -> tuple[str | None, dict, dict, dict]:
    preset = config.get("preset")
    spec_keys, train_keys, _ = _tables(preset)
    spec_kw = {k: config[k] for k in spec_keys if k in config}  # a key new to the engine: its default
    train_kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in train_keys}
    classify_kw = {k: config[k] for k in CLASSIFIER_DEFAULTS if k in config}
    return preset, spec_kw, train_kw, classify_kw


def build_spec(config: dict) -> Any:
    """The UFMSpec of a (canonical) ufm-kind config; invalid values raise ``ValueError``."""
    UFMSpec, _ = _engine()
    preset, spec_kw, _, _ = _split(config)
    spec_kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec_kw.items()}
    if preset is None:
        return UFMSpec(**spec_kw)
    return getattr(UFMSpec, preset)(**spec_kw)


def normalize(config: dict) -> dict:
    """Canonical values, checked by building the spec and a zero-step training call on the CPU."""
    preset = config.get("preset")
    _, _, annotations = _tables(preset)
    out = {k: (_coerce(k, v, annotations[k]) if k in annotations else v) for k, v in config.items()}
    out["rank_rtol"] = check_real("rank_rtol", out["rank_rtol"], minimum=0.0, maximum=1.0)
    out["nc_tol"] = check_real("nc_tol", out["nc_tol"], minimum=0.0)
    if isinstance(out.get("dtype"), str):  # "torch.float64", "double" -> "float64"
        from nclab.ufm.init import resolve_dtype

        out["dtype"] = str(resolve_dtype(out["dtype"])).replace("torch.", "")
    spec = build_spec(out)
    _, train = _engine()
    _, _, train_kw, _ = _split(out)
    try:  # the engine validates its options; a zero-step run on one seed is cheap
        train(spec, seeds=[0], device="cpu", progress=False, **dict(train_kw, steps=0, polish=False))
    except TypeError as exc:  # pragma: no cover - an option of the wrong type
        raise ValueError(f"ufm sweep: {exc}") from None
    return out


def _number(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value
    return value


def run_ufm(config: dict, seeds: list, device: str) -> list:
    """Train the config's UFM on ``seeds`` in one batched call; one result dict per seed."""
    from nclab.ufm.solutions import classify_params

    _, train = _engine()
    _, _, train_kw, classify_kw = _split(config)
    spec = build_spec(config)
    result = train(spec, seeds=list(seeds), device=device, progress=False, **train_kw)
    finals = {int(r["seed"]): r for r in result.final.to_dict("records")}
    labels = classify_params(spec, result.params, **classify_kw)
    histories = _split_history(result.history)
    out = []
    for i, seed in enumerate(seeds):
        metrics = {}
        for col, value in finals[int(seed)].items():
            if col in ("phase", "seed"):
                continue
            metrics[_RENAME.get(col, col)] = _number(value)
        diverged = result.status[i] == "diverged"
        cls = labels[i]
        metrics.update({"rank_Z": None if diverged else cls["rank"], "label": None if diverged else cls["label"],
                        "etf_error": None if diverged else cls["etf_error"], "spread": None if diverged else cls["spread"],
                        "train_seconds": result.seconds / len(seeds)})
        out.append({"status": "diverged" if diverged else "done", "metrics": metrics,
                    "history": histories.get(int(seed))})
    return out


def _split_history(history: Any) -> dict[int, dict[str, list]]:
    """The tidy history split per seed as {seed: {column: list}} (one pass, numpy slicing)."""
    import numpy as np

    if history is None or len(history) == 0:
        return {}
    seeds = history["seed"].to_numpy()
    order = np.argsort(seeds, kind="stable")
    sorted_seeds = seeds[order]
    columns = {c: history[c].to_numpy()[order] for c in history.columns if c != "seed"}
    starts = np.flatnonzero(np.r_[True, sorted_seeds[1:] != sorted_seeds[:-1]])
    ends = np.r_[starts[1:], len(sorted_seeds)]
    return {int(sorted_seeds[a]): {c: v[a:b].tolist() for c, v in columns.items()} for a, b in zip(starts, ends)}


def _check_preset(preset: str | None) -> dict:
    if preset is not None and preset not in PRESETS:
        fail("preset of sweep kind 'ufm'", preset, "one of " + ", ".join(repr(p) for p in PRESETS))
    return schema(preset)


register_kind(
    "ufm",
    run=run_ufm,
    schema=_check_preset,
    normalize=normalize,
    presets=PRESETS,
    preload=("nclab.ufm.engine", "nclab.ufm.solutions", "nclab.metrics"),
    description="train a UFM (UFMSpec fields or a paper preset, and train() options) batched over seeds",
)
