"""The ``ufm`` sweep kind: train a UFM batched over seeds and record its final state.

Config keys, defaults and allowed values are those of ``nclab train``: the UFM config table of
:mod:`nclab.ufm.options` (the :class:`nclab.ufm.spec.UFMSpec` fields or, with a preset, the
parameters of ``UFMSpec.garrod`` / ``UFMSpec.tirer`` / ``UFMSpec.mixon`` with their defaults;
the options of :func:`nclab.ufm.engine.train`; the solution classifier's tolerances
``rank_rtol``, ``nc_tol`` of :func:`nclab.ufm.solutions.classify_solution`, since GK do not
state their rule (choice, docs/math.md §7.4)). Only ``device`` is not a key: the sweep sets it per worker.

Recorded per seed (metrics): ``final_loss``, ``final_fit``, ``final_reg``, ``final_anchor``,
``grad_norm``, ``last_step`` (last recorded step), ``train_status`` (converged | max_steps |
diverged), every per-layer NC metric and logit singular value of the last history row
(``nc1_h1``, ``svZbar_1``, ...), ``rank_Z`` (rank of the centred class-mean logits),
``label`` (``dnc`` | ``low_rank`` | ``other``), ``etf_error`` and ``spread``; the history
(every recorded step) is stored compressed. A diverged seed is a row with status
``diverged``.
"""
from __future__ import annotations

import math
from typing import Any

from nclab._validation import fail
from nclab.sweep.kinds import REQUIRED, SweepKind
from nclab.ufm import options as _options
from nclab.ufm.solutions import DNC_NC_TOL, DNC_RANK_RTOL

PRESETS = _options.PRESETS
#: The solution classifier's default tolerances (their home: :mod:`nclab.ufm.solutions`).
CLASSIFIER_DEFAULTS = {"rank_rtol": DNC_RANK_RTOL, "nc_tol": DNC_NC_TOL}
#: Metric names given to the final-row columns that would collide with config keys.
_RENAME = {"loss": "final_loss", "fit": "final_fit", "reg": "final_reg", "anchor": "final_anchor",
           "step": "last_step", "status": "train_status"}


def _engine():
    import importlib

    spec_module = importlib.import_module("nclab.ufm.spec")
    train_module = importlib.import_module("nclab.ufm.engine")  # nclab.ufm.engine the function shadows it
    return spec_module.UFMSpec, train_module.train


def schema(preset: str | None) -> dict[str, Any]:
    """Every config key of the ufm kind (for ``preset``) with its default (the UFM config table).

    Parameters
    ----------
    preset : str or None
        One of :data:`PRESETS`, or ``None`` for the :class:`nclab.ufm.spec.UFMSpec` fields.

    Returns
    -------
    dict
        Key -> default; :data:`nclab.sweep.kinds.REQUIRED` for keys without one.

    Examples
    --------
    >>> keys = schema(None)
    >>> [k for k, v in keys.items() if v is REQUIRED], keys["steps"] > 0, "lam" in schema("garrod")
    (['K', 'n', 'd'], True, True)
    """
    return {k: (REQUIRED if p.default is _options.REQUIRED else p.default) for k, p in _options.table(preset).items()}


def _split(config: dict) -> tuple[str | None, dict, dict, dict]:
    preset = config.get("preset")
    problem, train_kw, classify_kw, _ = _options.split(preset, config)
    return preset, problem, _options.train_kwargs(train_kw), classify_kw


def build_spec(config: dict) -> Any:
    """The UFMSpec of a (canonical) ufm-kind config.

    Parameters
    ----------
    config : dict
        A ufm-kind config (with ``preset`` for a preset's parameters); keys that are not the
        problem's (training options, classifier tolerances) are ignored.

    Returns
    -------
    nclab.ufm.spec.UFMSpec
        The problem.

    Raises
    ------
    ValueError
        Invalid values, naming the key.

    Examples
    --------
    >>> build_spec(normalize(dict(schema(None), K=3, n=2, d=4, steps=5)))
    UFMSpec(K=3, n=2, d=4, L=1, activation='linear', loss='ce', bias=False, lam_H=0.0, lam_W=0.0, lam_b=0.0, beta=0.0, reduction='mean')
    """
    preset, problem, _, _ = _split(config)
    return _options.build_spec(preset, problem)


def normalize(config: dict) -> dict:
    """Canonical values by the config table, then checked by building the spec and a zero-step training call.

    The zero-step call on the CPU checks cross-key constraints and the engine's options
    before any work; the memory one seed needs is checked too.

    Parameters
    ----------
    config : dict
        A full ufm-kind config (every key of :func:`schema`, and ``preset`` for a preset).

    Returns
    -------
    dict
        The canonical config (``preset`` kept when given).

    Raises
    ------
    ValueError
        A value outside what its key allows, a cross-key constraint, or a run too big for
        memory; the message names the key.

    Examples
    --------
    >>> cfg = normalize(dict(schema(None), K=3, n=2, d=4, steps=5.0))
    >>> cfg["steps"], cfg["optimizer"], cfg["dtype"]
    (5, 'gd', 'float32')
    >>> normalize(dict(schema(None), K=1, n=2, d=4))
    Traceback (most recent call last):
    ...
    ValueError: ...K...
    """
    preset = config.get("preset")
    values = {k: v for k, v in config.items() if k != "preset"}
    out = _options.validate_run(preset, values)
    if preset is not None:
        out["preset"] = preset
    spec = build_spec(out)
    # one seed's memory, before the zero-step call allocates it (a batch's seeds share the limit too)
    _options.check_memory(spec, 1, out["dtype"], polish=out["polish"])
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
    """Train the config's UFM on ``seeds`` in one batched call; one result dict per seed.

    Parameters
    ----------
    config : dict
        A canonical ufm-kind config (:func:`normalize`).
    seeds : list of int
        The seeds, trained together.
    device : str
        The torch device.

    Returns
    -------
    list of dict
        Per seed ``{"status": "done" | "diverged", "metrics": ..., "history": ...}``: the
        metrics listed in the module docstring (``rank_Z``, ``label``, ``etf_error``, ``spread``
        are ``None`` for a diverged seed) and the seed's history as ``{column: list}``.

    Examples
    --------
    >>> cfg = normalize(dict(schema(None), K=3, n=2, d=4, steps=5))
    >>> out = run_ufm(cfg, [0, 1], "cpu")
    >>> [r["status"] for r in out], out[0]["metrics"]["last_step"], out[0]["metrics"]["label"] in ("dnc", "low_rank", "other")
    (['done', 'done'], 5, True)
    """
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


#: The ``ufm`` kind (registered by name in :mod:`nclab.sweep.registry`).
UFM_KIND = SweepKind(
    name="ufm",
    run=run_ufm,
    description="train a UFM (UFMSpec fields or a paper preset, and train() options) batched over seeds",
    schema=_check_preset,
    normalize=normalize,
    presets=PRESETS,
    preload=(run_ufm.__module__, "nclab.ufm.engine", "nclab.ufm.solutions", "nclab.metrics"),
)
