"""Paper reproductions: one module per paper, each experiment a registered function.

``nclab.experiments.run(name, quick=False, out=None, **overrides)`` runs one;
``nclab.experiments.experiments()`` lists them. See :mod:`nclab.experiments.registry`.
"""
from nclab.experiments.registry import Claim, Experiment, ExperimentResult, Outcome, experiments, get, register, run

__all__ = ["Claim", "Experiment", "ExperimentResult", "Outcome", "experiments", "get", "register", "run"]
