"""Unconstrained features models: spec, initial points, objective, batched training.

- :class:`UFMSpec` (``nclab.ufm.spec``): one problem (shallow, deep, anchored; paper presets
  ``UFMSpec.mixon``, ``UFMSpec.tirer``, ``UFMSpec.garrod``); :class:`UFMParams` the parameters
  batched over a leading seed axis.
- :func:`initialize` (``nclab.ufm.init``): per-seed initial points.
- ``nclab.ufm.terms``: the objective's terms (targets, fit, regulariser, anchor), one home each.
- ``nclab.ufm.objective``: ``forward``, ``parts`` (differentiable), ``loss_and_grad``
  (hand-written batched gradients).
- :func:`train` (``nclab.ufm.engine``) -> :class:`TrainResult` (``nclab.ufm.result``).
- :func:`classify_params` (``nclab.ufm.solutions``): label trained runs DNC / low rank / other.
- :func:`layer_metrics` (``nclab.ufm.measure``): per-layer NC metrics and logit spectra.
"""
from __future__ import annotations

from nclab.ufm.init import initialize
from nclab.ufm.measure import layer_metrics
from nclab.ufm.objective import forward, forward_all, loss_and_grad, parts
from nclab.ufm.spec import UFMParams, UFMSpec
from nclab.ufm.engine import TrainResult, seed_chunk_size, train
from nclab.ufm.solutions import classify_params, classify_solution, solution_counts, solution_table

__all__ = ["UFMSpec", "UFMParams", "initialize", "forward", "forward_all", "parts", "loss_and_grad",
           "train", "TrainResult", "seed_chunk_size",
           "layer_metrics", "classify_params", "classify_solution",
           "solution_counts", "solution_table"]
