"""Paper reproductions: one module per paper, each experiment a registered function.

``nclab.experiments.run(name, quick=True, out=None, **overrides)`` runs one (the quick profile;
``quick=False`` runs the papers' scale);
``nclab.experiments.experiments()`` lists them. See :mod:`nclab.experiments.registry`.
"""
from nclab.experiments.grid import Grid
from nclab.experiments.registry import Claim, Experiment, ExperimentResult, Outcome, experiments, get, register, run
from nclab.experiments.sweep_kinds import sweep_kind

__all__ = ["Claim", "Experiment", "ExperimentResult", "Grid", "Outcome", "experiments", "get", "register", "run",
           "sweep_kind"]
