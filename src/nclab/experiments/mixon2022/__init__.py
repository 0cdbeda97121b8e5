"""Mixon, Parshall, Pi (2022), *Neural collapse with unconstrained features* (SampTA; arXiv 2011.11619).

One module per figure: :mod:`.fig1` (strong-NC errors) and :mod:`.fig2` (distance to the
invariant subspace S); both run the gradient descent of :mod:`._gd`.
"""
from nclab.experiments.mixon2022 import fig1, fig2

MODULES = (fig1, fig2)
