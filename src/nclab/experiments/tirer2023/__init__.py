"""Tirer, Huang, Niles-Weed (2023), *Perturbation analysis of neural collapse* (ICML; arXiv 2210.16658)."""
from nclab.experiments.tirer2023 import layerwise, spectra, ufm_theorems, weight_decay

MODULES = (ufm_theorems, spectra, layerwise, weight_decay)
