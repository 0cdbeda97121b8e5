"""Unconstrained features models: spec, initial points, objective, batched training.

- :class:`UFMSpec` (``nclab.ufm.spec``): one problem (shallow, deep, anchored; paper presets
  ``UFMSpec.mixon``, ``UFMSpec.tirer``, ``UFMSpec.garrod``); :class:`UFMParams` the parameters
  batched over a leading seed axis.
- :func:`initialize` (``nclab.ufm.init``): per-seed initial points.
- ``nclab.ufm.objective``: ``forward``, ``parts`` (differentiable), ``loss_and_grad``
  (hand-written batched gradients).
- :func:`train` (``nclab.ufm.train``) -> :class:`TrainResult` (``nclab.ufm.result``).
- :func:`layer_metrics` (``nclab.ufm.measure``): per-layer NC metrics and logit spectra.

Note: ``nclab.ufm.train`` the attribute is the function; the module is
``importlib.import_module("nclab.ufm.train")``.
"""
from __future__ import annotations

from .init import initialize
from .measure import layer_metrics
from .objective import forward, forward_all, loss_and_grad, parts
from .spec import UFMParams, UFMSpec
from .train import TrainResult, train

__all__ = ["UFMSpec", "UFMParams", "initialize", "forward", "forward_all", "parts", "loss_and_grad",
           "train", "TrainResult",
           "layer_metrics"]
