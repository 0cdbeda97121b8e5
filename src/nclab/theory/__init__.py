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

#: The solution classifier of trained deep UFMs lives in :mod:`nclab.ufm.solutions`; these names
#: are reachable from here too (imported on first use: nclab.ufm imports the theory).
_FROM_UFM = ("classify_params", "classify_solution", "solution_counts", "solution_table")


def __getattr__(name: str):
    if name in _FROM_UFM:
        from nclab.ufm import solutions

        return getattr(solutions, name)
    raise AttributeError(f"module 'nclab.theory' has no attribute {name!r}")
