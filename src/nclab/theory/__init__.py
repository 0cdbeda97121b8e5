"""Closed forms and landscape tools of the seed papers (float64).

- :mod:`nclab.theory.shallow`: the shallow UFM (Mixon et al.; Tirer & Bruna; Tirer, Huang,
  Niles-Weed).
- :mod:`nclab.theory.deep`: the deep UFM (Garrod & Keating).

Every public name of both is importable from here; each has one meaning.
"""
from nclab.theory import deep, shallow
from nclab.theory.deep import *  # noqa: F401,F403
from nclab.theory.shallow import *  # noqa: F401,F403

__all__ = [*shallow.__all__, *deep.__all__]
