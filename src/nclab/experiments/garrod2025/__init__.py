"""Garrod, Keating (2025), *The persistence of neural collapse despite low-rank bias* (NeurIPS; arXiv 2410.23169)."""
from nclab.experiments.garrod2025 import dimension, fig1, hessian, lambda_sweep, real_head, relu, theorem1, width

MODULES = (theorem1, dimension, hessian, fig1, width, lambda_sweep, relu, real_head)
