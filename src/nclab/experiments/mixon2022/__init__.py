"""Mixon, Parshall, Pi (2022), *Neural collapse with unconstrained features* (SampTA; arXiv 2011.11619)."""
from nclab.experiments.mixon2022 import figures

MODULES = (figures,)
