"""Garrod, Keating (2025), *The persistence of neural collapse despite low-rank bias* (NeurIPS; arXiv 2410.23169)."""
from nclab.experiments.garrod2025 import gradient_descent, real_head, theory_checks

MODULES = (theory_checks, gradient_descent, real_head)
