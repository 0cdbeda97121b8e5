"""Garrod, Keating (2025), *The persistence of neural collapse despite low-rank bias* (NeurIPS; arXiv 2410.23169)."""
from nclab.experiments.garrod2025 import fig1, lambda_sweep, real_head, relu, theory_checks, width

MODULES = (theory_checks, fig1, width, lambda_sweep, relu, real_head)
