"""Layer-wise neural collapse of a PyTorch network, streamed over a data loader.

:func:`measure` puts forward hooks on named modules and feeds their outputs, batch by batch,
into :class:`nclab.metrics.StreamingStats` (memory O(K d + d^2) per layer, never N x d), so a
network's features are measured with exactly the definitions of :func:`nclab.metrics.collapse`
(docs/math.md §2; Papyan, Han & Donoho 2020 for NC1..NC4, Tirer et al. 2023 for the trace
ratio and the depthwise view, "deep neural collapse" per layer).

Passes over the loader: a probe forward of the first batch (:mod:`nclab.nets._layers`: finds
the execution order, the feature dimensions and which layer outputs feed an activation),
pass 1 (statistics of every layer), and pass 2 for NC4 (nearest-class-mean agreement of the
classifier, which needs the class means of pass 1) and for the residuals of
:class:`nclab.metrics.ProjectedStats` layers.

Conventions:
- Feature maps with more than two axes (conv outputs, B x C x H x W) are flattened to
  B x (C H W) by default (``pool="flatten"``, the definition of the papers: each unit is a
  feature); ``pool="avg"`` averages over the spatial axes instead (B x C, as a global average
  pool would).
- Accumulators (``method``): ``"moment"`` is :class:`nclab.metrics.StreamingStats`, one pass,
  memory and cost per sample O(d^2) (the d x d second moment); ``"projected"`` is
  :class:`nclab.metrics.ProjectedStats`, O(K d): pass 1 the class sums, pass 2 the
  within-class residuals projected on the <= K - 1 singular directions of the centred class
  means (exactly what NC1 needs), cost O(d K) per sample.
  ``"auto"`` (default): moment for d <= ``max_dim``, projected above (wide conv maps).
- The classifier (W, b) is the model's last ``nn.Linear`` unless given; its input is the row
  ``penultimate``, the only row with the weight metrics (NC2 of W, NC3, NC4, bias).
- Default layers: every ``nn.Linear`` / ``nn.Conv*d`` other than the classifier, measured after
  the normalisation (BatchNorm/LayerNorm/GroupNorm) that directly consumes its output if any,
  i.e. before the activation. ``nc1_post_act`` and ``nc1_trace_ratio_post_act`` are NC1 after
  the activation module that directly consumes the measured output, when there is one
  (``activation`` names it). A layer whose output no module reads as it is (an activation
  called as a function, ``F.relu(x)``, which hooks cannot see) has ``activation ==
  "functional"`` and NaN ``nc1_post_act``: use activation modules to measure after them. Layers of dimension d < K - 1 get NaN for the ETF metrics
  (a simplex ETF of K vectors needs d >= K - 1), the other metrics as usual.
- The model runs in eval mode under ``torch.no_grad``; every module's training flag is restored
  and every hook removed afterwards, also when an error is raised.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd
import torch
from torch import nn

from nclab._validation import check_choice, check_int, fail
from nclab.nets._layers import PENULTIMATE, _flat, _probe, available_layers, default_layers, find_classifier
from nclab.nets._passes import Taps, as_batch, evaluating, feed, model_device_dtype

__all__ = ["measure", "available_layers", "default_layers", "find_classifier"]

POOLS = ("flatten", "avg")
METHODS = ("auto", "moment", "projected")


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
    test_loader: Iterable | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Neural collapse metrics of every requested layer of ``model`` on ``loader``.

    Streams the features of each layer into an accumulator (module docstring), so no N x d
    matrix is ever held; the values are those of :func:`nclab.metrics.collapse` on the stacked
    features (docs/math.md §2). The model runs in eval mode under ``torch.no_grad``; training
    flags and hooks are restored afterwards, also on error.

    Parameters
    ----------
    model : torch.nn.Module
        An eager module (TorchScript runs no hooks); it is not moved.
    loader : iterable of (inputs, labels)
        Batches of any sizes, integer labels (B,) in 0..K-1; iterated twice (NC4 and projected
        layers need a second pass), so a DataLoader or a list, not a generator.
    layers : iterable of str, optional
        Module names (see :func:`available_layers`); ``None`` for the defaults (every Linear/Conv
        but the classifier, after a directly consuming normalisation), ``[]`` for the
        penultimate features only.
    classifier : str or torch.nn.Linear or False, optional
        A module name or an ``nn.Linear`` of the model; ``None`` for the last ``nn.Linear``;
        ``False`` for none (no weight metrics, no ``penultimate`` row; then ``num_classes`` is needed).
    device : torch.device or str, optional
        Must be the model's device (the default); statistics accumulate there.
    num_classes : int, optional
        K; default the classifier's ``out_features``.
    pool : {"flatten", "avg"}, default "flatten"
        Feature maps (B, C, H, W) as B x (C H W), or averaged over the spatial axes (B x C).
    nc4 : bool, default True
        Run the pass for NC4 (nearest-class-mean agreement of the classifier).
    dtype : torch.dtype, optional
        Dtype the inputs are cast to (default: the model's parameter dtype).
    stats_dtype : torch.dtype, default torch.float64
        Dtype of the accumulators.
    method : {"auto", "moment", "projected"}, default "auto"
        :class:`nclab.metrics.StreamingStats` (one pass, O(d^2) memory), or
        :class:`nclab.metrics.ProjectedStats` (two passes, O(K d)); ``auto``: moment for
        d <= ``max_dim``, projected above.
    max_dim : int, default 1024
        The widest layer measured with the d x d moment.
    test_loader : iterable of (inputs, labels), optional
        A held-out set, measured in one more pass against the statistics of ``loader`` (its
        class means, global mean and Sigma_B; the residuals and NC4 are the test set's, as
        :func:`nclab.metrics.collapse` with ``reference=``). Then the frame has a ``split``
        column: ``"train"`` rows, then ``"test"`` rows of the same layers.
    **options
        ``global_mean``, ``center_weight``, ``rtol`` of :func:`nclab.metrics.collapse`.

    Returns
    -------
    pandas.DataFrame
        One row per layer in execution order, then ``penultimate`` (the classifier's input,
        the only row with the weight metrics): columns ``layer``, ``module``, ``measured_at``,
        ``activation``, ``dim``, ``samples``, the keys of :func:`nclab.metrics.collapse` (NaN
        where undefined, e.g. the ETF metrics when d < K - 1), ``nc1_post_act`` and
        ``nc1_trace_ratio_post_act`` (NC1 after the activation module that consumes the layer's
        output, NaN without one).

    Raises
    ------
    ValueError
        If a parameter is invalid (named in the message), the loader is empty, yields bad
        batches or misses a class, a second pass differs from the first, or the model fails on
        the inputs.

    References
    ----------
    V. Papyan, X. Y. Han, D. L. Donoho, "Prevalence of neural collapse during the terminal phase
    of deep learning training", PNAS 117 (2020), doi:10.1073/pnas.2015509117 (NC1-NC4).
    T. Tirer, H. Huang, J. Niles-Weed, "Perturbation analysis of neural collapse", ICML 2023,
    arXiv:2210.16658 (the trace ratio).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> data = torch.utils.data.TensorDataset(torch.randn(60, 5), torch.arange(60) % 3)
    >>> frame = measure(model, torch.utils.data.DataLoader(data, batch_size=16))
    >>> frame[["layer", "activation", "dim", "samples"]].values.tolist()
    [['0', '1', 8, 60], ['penultimate', '', 8, 60]]
    >>> bool(frame["nc1"].notna().all())
    True
    """
    from nclab.metrics import KEYS, ProjectedStats, StreamingStats
    from nclab.nets._heldout import HeldOutStats

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
    model_device, model_dtype = model_device_dtype(model)
    if device is not None and torch.device(device) != model_device:
        if not (torch.device(device).type == model_device.type and torch.device(device).index is None):
            fail("device", str(device), f"the model's device {model_device} (move the model with model.to(device))")
    device = model_device
    dtype = model_dtype if dtype is None else dtype
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

    with evaluating(model):
        try:
            iterator = iter(loader)
            first = next(iterator)
        except StopIteration:
            fail("loader", "an empty loader", "at least one (inputs, labels) batch")
        except TypeError:
            fail("loader", type(loader).__name__, "an iterable of (inputs, labels) pairs")
        x0, y0 = as_batch(first, 0)
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
            kind = ProjectedStats if wide else StreamingStats
            layer.stats = kind(K, layer.dim, dtype=stats_dtype, device=device)
            if layer.activation is not None:
                layer.post = kind(K, layer.dim, dtype=stats_dtype, device=device)
        by_name = {layer.name: layer for layer in plan}
        points = [(layer.name, names[layer.measured_at], layer.name == PENULTIMATE) for layer in plan]

        def run_pass(update, items, parameter: str = "loader") -> int:
            """One pass of :func:`feed` with ``update(layer, h, post_h_or_None, y)`` on every layer."""
            def record(name: str, t: torch.Tensor, y: torch.Tensor) -> None:
                layer = by_name[name]
                post = None if layer.post is None else _flat(layer.activation(t.clone()), pool)
                update(layer, _flat(t, pool), post, y)

            return feed(model, items, Taps(points, record), K, device, dtype, parameter=parameter)

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
        projected = [st for layer in plan for st in (layer.stats, layer.post) if isinstance(st, ProjectedStats)]
        for st in projected:
            st.begin_pass2(options.get("global_mean", "classes"))
        if projected or ncc is not None:
            def second_pass(layer, h, post, y):
                if isinstance(layer.stats, ProjectedStats):
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

        # ---- pass 3 (test_loader): the held-out set against the statistics of passes 1-2
        held: dict[str, tuple[Any, Any]] = {}
        if test_loader is not None:
            gm = options.get("global_mean", "classes")
            for layer in plan:
                w_b = (weight, bias) if layer is pen else (None, None)
                held[layer.name] = (HeldOutStats(layer.stats.statistics(gm), *w_b),
                                    None if layer.post is None else HeldOutStats(layer.post.statistics(gm)))

            def held_out_pass(layer, h, post, y):
                main, after = held[layer.name]
                main.update(h, y)
                if after is not None:
                    after.update(post, y)

            try:
                test_items = iter(test_loader)
            except TypeError:
                fail("test_loader", type(test_loader).__name__, "an iterable of (inputs, labels) pairs")
            if run_pass(held_out_pass, test_items, "test_loader") == 0:
                fail("test_loader", "an empty loader", "at least one (inputs, labels) batch")

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
    if test_loader is not None:
        for row in rows:
            row["split"] = "train"
        for layer, train_row in zip(plan, list(rows)):
            main, after = held[layer.name]
            values = dict.fromkeys(KEYS, math.nan)
            values.update(_held_out_values(main, layer.name == PENULTIMATE and nc4, options))
            post = {"nc1_post_act": math.nan, "nc1_trace_ratio_post_act": math.nan}
            if after is not None:
                pv = _held_out_values(after, False, options)
                post = {"nc1_post_act": pv["nc1"], "nc1_trace_ratio_post_act": pv["nc1_trace_ratio"]}
            rows.append({**train_row, "samples": main.num_samples, **values, **post, "split": "test"})
        columns = ["layer", "split", *[c for c in rows[0] if c not in ("layer", "split")]]
        return pd.DataFrame(rows)[columns]
    return pd.DataFrame(rows)


def _held_out_values(acc: Any, with_nc4: bool, options: dict) -> dict:
    values = acc.collapse(rtol=options.get("rtol"), center_weight=options.get("center_weight", True))
    if not with_nc4:
        values.pop("nc4_ncc_mismatch", None)
    return values


def _chain(first: Any, rest: Any):
    yield first
    yield from rest
