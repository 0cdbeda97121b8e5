"""Closed forms and landscape tools of the seed papers (float64).

Shallow UFM (Mixon et al.; Tirer & Bruna; Tirer, Huang, Niles-Weed) and deep UFM (Garrod &
Keating). Every public theory function is importable from here; see the submodules'
docstrings for the papers' equations.
"""
from ._shallow_api import *  # noqa: F401,F403
from ._shallow_api import __all__ as _shallow_all
from ._deep_api import *  # noqa: F401,F403
from ._deep_api import __all__ as _deep_all

__all__ = [*_shallow_all, *_deep_all]
