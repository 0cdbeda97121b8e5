"""Papyan, Han, Donoho (2020), *Prevalence of neural collapse during the terminal phase of deep learning
training* (PNAS; arXiv 2008.08186), measured on real PyTorch networks."""
from nclab.experiments.papyan2020 import terminal_phase

MODULES = (terminal_phase,)
