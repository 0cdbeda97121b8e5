"""Layer-wise neural collapse of a PyTorch network, streamed over a data loader.

:func:`measure` puts forward hooks on named modules and feeds their outputs, batch by batch,
into :class:`nclab.metrics.StreamingStats` (memory O(K d + d^2) per layer, never N x d), so a
network's features are measured with exactly the definitions of :func:`nclab.metrics.collapse`
(MATH.md section 1; Papyan, Han & Donoho 2020 for NC1..NC4, Tirer et al. 2023 for the trace
ratio and the depthwise view, "deep neural collapse" per layer).

Passes over the loader: a probe forward of the first batch (finds the execution order, the
feature dimensions and which layer outputs feed an activation), pass 1 (statistics of every
layer), and pass 2 only for NC4 (nearest-class-mean agreement of the classifier, which needs
the class means of pass 1).

Conventions:
- Feature maps with more than two axes (conv outputs, B x C x H x W) are flattened to
  B x (C H W) by default (``pool="flatten"``, the definition of the papers: each unit is a
  feature); ``pool="avg"`` averages over the spatial axes instead (B x C, as a global average
  pool would).
- Accumulators (``method``): ``"moment"`` is :class:`nclab.metrics.StreamingStats`, one pass,
  memory and cost per sample O(d^2) (the d x d second moment); ``"projected"`` keeps O(K d):
  pass 1 the class sums, pass 2 the within-class residuals projected on the <= K - 1 singular
  directions of the centred class means (exactly what NC1 needs), cost O(d K) per sample.
  ``"auto"`` (default): moment for d <= ``max_dim``, projected above (wide conv maps).
- The classifier (W, b) is the model's last ``nn.Linear`` unless given; its input is the row
  ``penultimate``, the only row with the weight metrics (NC2 of W, NC3, NC4, bias).
- Default layers: every ``nn.Linear`` / ``nn.Conv*d`` other than the classifier, measured after
  the normalisation (BatchNorm/LayerNorm/GroupNorm) that directly consumes its output if any,
  i.e. before the activation. ``nc1_post_act`` and ``nc1_trace_ratio_post_act`` are NC1 after
  the activation module that directly consumes the measured output, when there is one
  (``activation`` names it). Layers of dimension d < K - 1 get NaN for the ETF metrics
  (a simplex ETF of K vectors needs d >= K - 1), the other metrics as usual.
- The model runs in eval mode under ``torch.no_grad``; every module's training flag is restored
  and every hook removed afterwards, also when an error is raised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd
import torch
from torch import nn

from .._validation import check_choice, check_int, fail

__all__ = ["measure", "available_layers", "default_layers", "find_classifier"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
_ACTS = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.ReLU6)
POOLS = ("flatten", "avg")
METHODS = ("auto", "moment", "projected")
PENULTIMATE = "penultimate"


def available_layers(model: nn.Module) -> list[str]:
    """Names of every submodule of ``model`` (what ``layers=`` accepts)."""
    return [name for name, _ in model.named_modules() if name]


def find_classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's last ``nn.Linear`` (by module order) and its name."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    if found is None:
        fail("model", type(model).__name__,
             "a model whose last layer is an nn.Linear classifier (or pass classifier=)")
    return found


def default_layers(model: nn.Module, classifier: nn.Module | None = None) -> list[str]:
    """Every Linear/Conv module except ``classifier``, in module order."""
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


def _as_batch(item: Any, index: int) -> tuple[Any, torch.Tensor]:
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        got = type(item).__name__ + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        fail("loader", f"a batch {index} that is a {got}", "an iterable of (inputs, labels) pairs")
    x, y = item[0], item[1]
    if not isinstance(y, torch.Tensor):
        try:
            y = torch.as_tensor(y)
        except Exception:
            fail("loader", f"labels of type {type(y).__name__} in batch {index}", "integer label tensors (B,)")
    if y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        fail("loader", f"labels of shape {tuple(y.shape)} and dtype {y.dtype} in batch {index}",
             "(inputs, labels) pairs with integer labels of shape (B,)")
    if isinstance(x, torch.Tensor) and x.shape[0] != y.shape[0]:
        fail("loader", f"{x.shape[0]} inputs and {y.shape[0]} labels in batch {index}",
             "(inputs, labels) pairs of equal batch size")
    return x, y


def _flat(t: torch.Tensor, pool: str) -> torch.Tensor:
    if t.ndim <= 2:
        return t.reshape(t.shape[0], -1)
    if pool == "avg":
        return t.flatten(2).mean(dim=2)
    return t.flatten(1)


def _output_tensor(out: Any) -> torch.Tensor | None:
    return out if isinstance(out, torch.Tensor) else None


def measure(
    model: nn.Module,
    loader: Iterable,
    layers: Iterable[str] | None = None,
    classifier: str | nn.Module | None = None,
    device: torch.device | str | None = None,
    *,
    num_classes: int | None = None,
    pool: str = "flatten",
    nc4: bool = True,
    dtype: torch.dtype | None = None,
    stats_dtype: torch.dtype = torch.float64,
    method: str = "auto",
    max_dim: int = 1024,
    **options: Any,
) -> pd.DataFrame:
    """Neural collapse metrics of every requested layer of ``model`` on ``loader``.

    ``loader`` yields ``(inputs, labels)`` batches (any sizes). ``layers``: module names
    (see :func:`available_layers`), ``None`` for the defaults (module docstring), ``[]`` for
    the penultimate features only. ``classifier``: a module name, an ``nn.Linear`` of the
    model, ``None`` for the last ``nn.Linear``, or ``False`` for none (no weight metrics, no
    penultimate row; then ``num_classes`` is needed). ``num_classes`` defaults to the
    classifier's ``out_features``. ``dtype`` casts the inputs (default: the model's parameter
    dtype); statistics accumulate in ``stats_dtype`` on ``device`` (default: the model's device;
    the model itself is not moved). ``method``/``max_dim``: the accumulator per layer (module
    docstring); ``nc4=False`` skips the NC4 pass. ``options`` go to ``StreamingStats.collapse``
    (``global_mean``, ``center_weight``, ``rtol``). Returns one row per layer in execution
    order, then ``penultimate``: columns ``layer``, ``module``, ``measured_at``, ``activation``,
    ``dim``, ``samples``, the keys of :func:`nclab.metrics.collapse` (NaN where undefined),
    ``nc1_post_act`` and ``nc1_trace_ratio_post_act``.
    """
    from ..metrics import KEYS, StreamingStats

    if not isinstance(model, nn.Module):
        fail("model", type(model).__name__, "a torch.nn.Module")
    if isinstance(model, torch.jit.ScriptModule):
        fail("model", "a TorchScript module (TorchScript runs no forward hooks)",
             "an eager nn.Module: save it with torch.save(model) and load that")
    check_choice("pool", pool, POOLS)
    check_choice("method", method, METHODS)
    max_dim = check_int("max_dim", max_dim, minimum=1)
    unknown_opts = set(options) - {"global_mean", "center_weight", "rtol"}
    if unknown_opts:
        fail("option", sorted(unknown_opts)[0], "one of global_mean, center_weight, rtol")
    params = list(model.parameters())
    model_device = params[0].device if params else torch.device("cpu")
    if device is not None and torch.device(device) != model_device:
        if not (torch.device(device).type == model_device.type and torch.device(device).index is None):
            fail("device", str(device), f"the model's device {model_device} (move the model with model.to(device))")
    device = model_device
    if dtype is None:
        floating = [p.dtype for p in params if p.is_floating_point()]
        dtype = floating[0] if floating else torch.get_default_dtype()
    names = dict(model.named_modules())
    modules_to_names = {id(m): n for n, m in model.named_modules()}

    # ---- classifier
    clf_name, clf = "", None
    if classifier is None:
        clf_name, clf = find_classifier(model)
    elif classifier is False:
        pass
    elif isinstance(classifier, str):
        if classifier not in names or not classifier:
            fail("classifier", classifier, "the name of an nn.Linear of the model: "
                 + ", ".join(n for n, m in names.items() if isinstance(m, nn.Linear)))
        clf_name, clf = classifier, names[classifier]
    elif isinstance(classifier, nn.Module):
        if id(classifier) not in modules_to_names:
            fail("classifier", type(classifier).__name__, "a submodule of the model")
        clf_name, clf = modules_to_names[id(classifier)], classifier
    else:
        fail("classifier", classifier, "None, False, a module name or an nn.Linear of the model")
    if clf is not None and not isinstance(clf, nn.Linear):
        fail("classifier", f"{clf_name} ({type(clf).__name__})", "an nn.Linear (K x d weight)")
    if num_classes is None:
        if clf is None:
            fail("num_classes", None, "the number of classes (needed when classifier=False)")
        num_classes = clf.out_features
    K = check_int("num_classes", num_classes, minimum=2)
    if clf is not None and clf.out_features != K:
        fail("num_classes", K, f"the classifier's out_features ({clf.out_features})")

    # ---- layers
    explicit = layers is not None
    if layers is None:
        wanted = default_layers(model, clf)
    else:
        if isinstance(layers, str):
            layers = [layers]
        wanted = list(layers)
        for name in wanted:
            if not isinstance(name, str) or name not in names or not name:
                fail("layers", name, "names of modules of the model: " + ", ".join(available_layers(model)))
    if len(set(wanted)) != len(wanted):
        fail("layers", wanted, "distinct module names")

    states = {m: m.training for m in model.modules()}
    handles: list[Any] = []
    current: dict[str, Any] = {}
    try:
        model.eval()
        with torch.no_grad():
            try:
                iterator = iter(loader)
                first = next(iterator)
            except StopIteration:
                fail("loader", "an empty loader", "at least one (inputs, labels) batch")
            except TypeError:
                fail("loader", type(loader).__name__, "an iterable of (inputs, labels) pairs")
            x0, y0 = _as_batch(first, 0)
            plan = _probe(model, x0, wanted, explicit, clf, clf_name, classifier is None, names, device, dtype, pool)
            for layer in plan:
                if layer.calls > 1:
                    fail("layers", f"{layer.name}, which runs {layer.calls} times per forward pass",
                         "modules that run once per forward pass")
                wide = method == "projected" or (method == "auto" and layer.dim > max_dim)
                if method == "moment" and layer.dim > max_dim:
                    fail("layers", f"{layer.name} with {layer.dim} features after pool={pool!r}",
                         f"at most max_dim = {max_dim} features for method='moment' (use method='auto', "
                         "pool='avg' or fewer layers)")
                kind = _ProjectedStats if wide else StreamingStats
                layer.stats = kind(K, layer.dim, dtype=stats_dtype, device=device)
                if layer.activation is not None:
                    layer.post = kind(K, layer.dim, dtype=stats_dtype, device=device)

            def run_pass(update, items) -> None:
                """One pass over ``items`` with ``update(layer, h, post_h_or_None, y)`` on every layer."""
                def make_hook(layer: _Layer, pre: bool):
                    def hook(_module, inputs, output=None):
                        t = inputs[0] if pre else output
                        post = None if layer.post is None else _flat(layer.activation(t.clone()), pool)
                        update(layer, _flat(t, pool), post, current["y"])  # returns None: nothing altered
                    return hook

                for layer in plan:
                    target = names[layer.measured_at]
                    if layer.name == PENULTIMATE:
                        handles.append(target.register_forward_pre_hook(make_hook(layer, True)))
                    else:
                        handles.append(target.register_forward_hook(make_hook(layer, False)))
                for index, item in enumerate(items):
                    x, y = _as_batch(item, index)
                    current["y"] = _check_labels(y, K, index, device)
                    model(_to(x, device, dtype))
                for h in handles:
                    h.remove()
                handles.clear()

            # ---- pass 1: class sums (and the d x d moment of StreamingStats layers)
            def first_pass(layer, h, post, y):
                layer.stats.update(h, y)
                if post is not None:
                    layer.post.update(post, y)

            run_pass(first_pass, _chain(first, iterator))
            for layer in plan:
                for st in (layer.stats, layer.post):
                    if st is not None and bool((st.counts == 0).any()):
                        missing = int(torch.nonzero(st.counts == 0)[0])
                        fail("loader", f"no sample of class {missing}", f"at least one sample of every class 0..{K - 1}")

            # ---- pass 2: residual projections of wide layers, NC4 of the classifier
            pen = next((layer for layer in plan if layer.name == PENULTIMATE), None)
            ncc = None
            weight = bias = None
            if pen is not None:
                weight = clf.weight.detach().to(stats_dtype)
                bias = None if clf.bias is None else clf.bias.detach().to(stats_dtype)
                if nc4:
                    ncc = pen.stats.ncc_counter(weight, bias)
            projected = [st for layer in plan for st in (layer.stats, layer.post) if isinstance(st, _ProjectedStats)]
            for st in projected:
                st.begin_pass2(options.get("global_mean", "classes"))
            if projected or ncc is not None:
                def second_pass(layer, h, post, y):
                    if isinstance(layer.stats, _ProjectedStats):
                        layer.stats.update_residuals(h, y)
                        if post is not None:
                            layer.post.update_residuals(post, y)
                    if layer is pen and ncc is not None:
                        ncc.update(h, y)

                run_pass(second_pass, loader)
                seen = [st.count2 for st in projected] + ([ncc.count] if ncc is not None else [])
                expected = plan[0].stats.num_samples
                if any(c != expected for c in seen):
                    fail("loader", f"a second pass of {min(seen)} samples after {expected}",
                         "a re-iterable loader yielding the same samples each pass (not a generator)")
    finally:
        for h in handles:
            h.remove()
        for m, flag in states.items():
            m.training = flag

    rows = []
    for layer in plan:
        row: dict[str, Any] = {"layer": layer.name, "module": layer.kind, "measured_at": layer.measured_at,
                               "activation": layer.activation_name, "dim": layer.dim,
                               "samples": layer.stats.num_samples}
        values = dict.fromkeys(KEYS, math.nan)
        post = {"nc1_post_act": math.nan, "nc1_trace_ratio_post_act": math.nan}
        opts = dict(options, undefined="omit")  # d < K - 1: the ETF metrics stay NaN
        if layer.name == PENULTIMATE:
            values.update(layer.stats.collapse(weight, bias, ncc, **opts))
        else:
            values.update(layer.stats.collapse(**opts))
        if layer.post is not None:
            pv = layer.post.collapse(**opts)
            post = {"nc1_post_act": pv["nc1"], "nc1_trace_ratio_post_act": pv["nc1_trace_ratio"]}
        row.update(values)
        row.update(post)
        rows.append(row)
    return pd.DataFrame(rows)


def _chain(first: Any, rest: Any):
    yield first
    yield from rest


def _to(x: Any, device, dtype) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)
    if isinstance(x, (tuple, list)):
        return type(x)(_to(v, device, dtype) for v in x)
    return x


def _check_labels(y: torch.Tensor, K: int, index: int, device) -> torch.Tensor:
    y = y.to(device=device, dtype=torch.int64)
    if y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= K:
            fail("labels", f"a label {low if low < 0 else high} in batch {index}",
                 f"integer class labels in 0..{K - 1} (K = {K} classes)")
    return y


def _probe(model, x0, wanted, explicit, clf, clf_name, clf_default, names, device, dtype, pool) -> list[_Layer]:
    """One forward of the first batch with hooks on every module: order, dims, activations."""
    events: list[tuple[str, nn.Module, Any, Any]] = []  # (name, module, input0, output)
    handles = []

    def record(name):
        def hook(module, inputs, output):
            events.append((name, module, inputs[0] if inputs else None, output))
        return hook

    for name, module in model.named_modules():
        if name:
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


class _ProjectedStats:
    """Two-pass collapse statistics in O(K d) memory (no d x d moment), for wide layers.

    Pass 1 (``update``): per-class counts, sums and squared norms around a shift c (the first
    batch's mean). Pass 2 (``update_residuals``, after ``begin_pass2``): sum_i ((h_i -
    h_bar_{y_i}) . v_j)^2 for the right singular vectors v_j of the centred class means M~,
    i.e. N v_j^T Sigma_W v_j, all that NC1 = (1/K) tr(Sigma_W Sigma_B^+) needs (MATH.md
    section 1). Quacks like :class:`nclab.metrics.StreamingStats` for ``NCCCounter`` and
    ``collapse``; the metric formulas are those of ``nclab.metrics`` (``_core``).
    """

    def __init__(self, num_classes: int, dim: int, dtype: torch.dtype = torch.float64, device=None) -> None:
        self.num_classes, self.dim, self.dtype = num_classes, dim, dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.counts = torch.zeros(num_classes, dtype=torch.int64, device=self.device)
        self.shift = torch.zeros(dim, dtype=dtype, device=self.device)
        self.sums = torch.zeros(num_classes, dim, dtype=dtype, device=self.device)
        self.sq = torch.zeros(num_classes, dtype=dtype, device=self.device)
        self._shift_set, self._stats, self._global_mean = False, None, None
        self.within = None
        self.count2 = 0

    @property
    def num_samples(self) -> int:
        return int(self.counts.sum())

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = features.to(dtype=self.dtype, device=self.device)
        y = labels.to(device=self.device)
        if x.shape[0] == 0:
            return
        if not self._shift_set:
            self.shift, self._shift_set = x.mean(dim=0), True
        xc = x - self.shift
        self.counts += torch.bincount(y, minlength=self.num_classes)
        self.sums.index_add_(0, y, xc)
        self.sq.index_add_(0, y, xc.square().sum(dim=-1))

    def statistics(self, global_mean: str = "classes"):
        """The pass-1 ``ClassStatistics`` (``within_projected`` after pass 2 for this weighting)."""
        from ..metrics import _core

        n = self.counts.to(self.dtype)
        shifted_means = self.sums / n.unsqueeze(-1)
        w = _core.mean_weights(self.counts, global_mean, self.dtype)
        mu_shifted = (w.unsqueeze(-1) * shifted_means).sum(dim=0)
        centred = shifted_means - mu_shifted
        within_sq = (self.sq - n * shifted_means.square().sum(dim=-1)).clamp_min(0.0)
        basis, svals = _core.spectral_basis(centred, w)
        within = self.within if (self.within is not None and global_mean == self._global_mean) else None
        return _core.ClassStatistics(self.counts, shifted_means + self.shift, mu_shifted + self.shift, centred,
                                     within_sq, self.num_samples, basis, svals, within)

    def begin_pass2(self, global_mean: str = "classes") -> None:
        self._global_mean = global_mean
        self._stats = self.statistics(global_mean)
        self._shifted_means = self._stats.means - self.shift
        self.within = torch.zeros(self._stats.basis.shape[-1], dtype=self.dtype, device=self.device)
        self.count2 = 0

    def update_residuals(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = features.to(dtype=self.dtype, device=self.device)
        y = labels.to(device=self.device)
        residual = (x - self.shift) - self._shifted_means[y]
        self.within += (residual @ self._stats.basis).square().sum(dim=0)
        self.count2 += int(x.shape[0])

    def ncc_counter(self, weight, bias=None):
        from ..metrics import NCCCounter

        return NCCCounter(self, weight, bias)  # uses statistics(), sums, shift, dims: duck-typed

    def collapse(self, weight=None, bias=None, ncc=None, *, global_mean: str = "classes",
                 center_weight: bool = True, rtol: float | None = None, undefined: str = "raise") -> dict:
        from ..metrics import KEYS, _core

        rtol = _core.check_rtol(rtol)
        _core.check_undefined(undefined, self.dim, self.num_classes)
        if self.within is None or global_mean != self._global_mean or self.count2 != self.num_samples:
            fail("projected statistics", f"global_mean={global_mean!r} after pass 2 with {self._global_mean!r}",
                 "a completed pass 2 with the same global_mean")
        stats = self.statistics(global_mean)
        values = _core.metrics_from_statistics(stats, weight, bias, rtol=rtol, center_weight=bool(center_weight))
        if ncc is not None:
            values["nc4_ncc_mismatch"] = torch.tensor(ncc.mismatches / ncc.count, dtype=self.dtype)
        return _core.to_output({k: values[k] for k in KEYS if k in values})

