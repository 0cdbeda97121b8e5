"""Tirer, Huang, Niles-Weed (2023), *Perturbation analysis of neural collapse* (ICML; arXiv 2210.16658).

One module per theorem or figure: :mod:`.flow` (Thm 3.1), :mod:`.depthwise` (Cor. 3.2),
:mod:`.minimizer` (Tirer & Bruna Thm 3.1, Cor. 2.2), :mod:`.spectra` (Fig. 1, Thm 4.2) on the
UFM, and :mod:`.layerwise`, :mod:`.weight_decay` (Sec. 5) on real networks.
"""
from nclab.experiments.tirer2023 import depthwise, flow, layerwise, minimizer, spectra, weight_decay

MODULES = (flow, depthwise, minimizer, spectra, layerwise, weight_decay)
