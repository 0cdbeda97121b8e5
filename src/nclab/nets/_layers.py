"""Which modules of a network :func:`nclab.nets.measure` measures, found by a probe forward pass.

:func:`available_layers`, :func:`default_layers` and :func:`find_classifier` name the candidate
modules; :func:`_probe` runs one forward pass of a few samples with hooks on every module and
returns the measurement plan (:class:`_Layer` per layer, in execution order, then the
``penultimate`` input of the classifier): the module whose output is measured (a directly
consuming normalisation for default layers), the activation that consumes it, the feature
dimension after pooling (:func:`_flat`), and how often it runs per forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nclab._validation import fail
from nclab.nets._passes import to_model as _to

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
_ACTS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.ReLU6)
PENULTIMATE = "penultimate"
#: ``activation`` of a layer whose output only a function (e.g. ``F.relu``), no module, consumes.
FUNCTIONAL = "functional"


def available_layers(model: nn.Module) -> list[str]:
    """Names of every submodule of ``model``: what ``layers=`` of :func:`measure` accepts.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    list of str
        ``model.named_modules()`` names in module order, the model itself (``""``) left out.

    Examples
    --------
    >>> from torch import nn
    >>> available_layers(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)))
    ['0', '1', '2']
    """
    return [name for name, _ in model.named_modules() if name]


def find_classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's classifier: its last ``nn.Linear`` in module order, and its name.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    name : str
    module : torch.nn.Linear

    Raises
    ------
    ValueError
        If the model has no ``nn.Linear``.

    Examples
    --------
    >>> from torch import nn
    >>> name, linear = find_classifier(nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)))
    >>> name, linear.out_features
    ('2', 2)
    """
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    if found is None:
        fail("model", type(model).__name__,
             "a model whose last layer is an nn.Linear classifier (or pass classifier=)")
    return found


def default_layers(model: nn.Module, classifier: nn.Module | None = None) -> list[str]:
    """The layers :func:`measure` takes by default: every Linear/Conv module except ``classifier``.

    Parameters
    ----------
    model : torch.nn.Module
    classifier : torch.nn.Module, optional
        The module left out (the classifier, whose input is the ``penultimate`` row).

    Returns
    -------
    list of str
        Module names in module order.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    >>> default_layers(model, model[3]), default_layers(model)
    (['0'], ['0', '3'])
    """
    return [name for name, m in model.named_modules()
            if name and isinstance(m, (nn.Linear, *_CONVS)) and m is not classifier]


@dataclass
class _Layer:
    name: str
    module: nn.Module
    kind: str
    measured_at: str  # the module whose output is measured
    activation: nn.Module | None = None
    activation_name: str = ""
    dim: int = 0
    calls: int = 0
    stats: Any = None
    post: Any = None
    extra: dict = field(default_factory=dict)


def _flat(t: torch.Tensor, pool: str) -> torch.Tensor:
    if t.ndim <= 2:
        return t.reshape(t.shape[0], -1)
    if pool == "avg":
        return t.flatten(2).mean(dim=2)
    return t.flatten(1)


def _output_tensor(out: Any) -> torch.Tensor | None:
    return out if isinstance(out, torch.Tensor) else None


def _probe(model, x0, wanted, explicit, clf, clf_name, clf_default, names, device, dtype, pool) -> list[_Layer]:
    """One forward of the first batch with hooks on every module: order, dims, activations."""
    events: list[tuple[str, nn.Module, Any, Any]] = []  # (name, module, input0, output)
    handles = []

    def record(name):
        def hook(module, inputs, output):
            events.append((name, module, inputs[0] if inputs else None, output))
        return hook

    for name, module in model.named_modules():
        if name or module is clf:  # the model itself only when it is the classifier (a linear probe)
            handles.append(module.register_forward_hook(record(name)))
    if isinstance(x0, torch.Tensor) and x0.shape[0] > 4:
        x0 = x0[:4]  # a few samples suffice to trace the graph; keeps the probe's memory small
    try:
        out = model(_to(x0, device, dtype))
    except (RuntimeError, TypeError) as exc:  # shape/dtype mismatch between the data and the model
        shape = tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__
        fail("loader", f"inputs of shape {shape} on which the model fails ({str(exc).splitlines()[0]})",
             "inputs the model accepts")
    finally:
        for h in handles:
            h.remove()
    if clf is not None and not any(e[1] is clf for e in events):
        fail("classifier", clf_name, "an nn.Linear that runs in the model's forward pass")

    def consumer(tensor, after: int, kinds) -> int | None:
        for j in range(after + 1, len(events)):
            name_j, mod_j, inp_j, _ = events[j]
            if inp_j is tensor and isinstance(mod_j, kinds) and not list(mod_j.children()):
                return j
        return None

    order: dict[str, int] = {}
    calls: dict[str, int] = {}
    for i, (name, _m, _inp, _out) in enumerate(events):
        order.setdefault(name, i)
        calls[name] = calls.get(name, 0) + 1
    plan = []
    for name in wanted:
        if name not in order:
            if not explicit:  # a default layer the forward pass does not use
                continue
            fail("layers", name, "modules that run in the model's forward pass (this one never ran)")
        i = order[name]
        module = names[name]
        output = _output_tensor(events[i][3])
        if output is None:
            fail("layers", f"{name} (output of type {type(events[i][3]).__name__})", "modules returning a tensor")
        measured_at, at = name, i
        if not explicit:  # follow a directly consuming normalisation
            j = consumer(output, i, _NORMS)
            if j is not None and isinstance(events[j][3], torch.Tensor):
                measured_at, at, output = events[j][0], j, events[j][3]
        layer = _Layer(name, names[name], type(module).__name__, measured_at, calls=calls[measured_at])
        if measured_at != name:
            layer.kind = f"{type(module).__name__}+{type(names[measured_at]).__name__}"
        j = consumer(output, at, _ACTS)
        if j is not None:
            layer.activation, layer.activation_name = events[j][1], events[j][0]
        elif output is not out and not any(e[2] is output for e in events[at + 1:]):
            # no module reads this output as it is: a function (F.relu, torch.tanh, ...) transformed it
            layer.activation_name = FUNCTIONAL
        layer.dim = int(_flat(output, pool).shape[1])
        layer.extra["order"] = at
        plan.append(layer)
    plan.sort(key=lambda layer: layer.extra["order"])
    if clf is not None:
        i = next(k for k, e in enumerate(events) if e[1] is clf)
        if clf_default and events[i][3] is not out:
            fail("model", f"{type(model).__name__} whose last nn.Linear {clf_name!r} does not produce its output",
                 "a model ending in an nn.Linear classifier, or pass classifier= (a module name, or False)")
        pen = _Layer(PENULTIMATE, clf, "input of " + type(clf).__name__, clf_name, calls=calls[clf_name])
        pen.dim = clf.in_features
        plan.append(pen)
        if calls[clf_name] > 1:
            fail("classifier", f"{clf_name}, which runs {calls[clf_name]} times per forward pass",
                 "a classifier that runs once per forward pass")
    return plan
