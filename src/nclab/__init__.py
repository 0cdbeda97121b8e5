"""nclab: a toolkit for research on neural collapse.

- ``nclab.metrics``: neural collapse metrics (NC1..NC4 variants), spectra, streaming statistics.
- ``nclab.geometry``: simplex ETFs, targets, class statistics.
- ``nclab.UFMSpec``, ``nclab.train``: unconstrained features models trained batched over seeds.
- ``nclab.theory``: closed forms and landscape tools of the seed papers.
- ``nclab.experiments``: every figure/table/theorem check of the papers, ``run(name)``.
- ``nclab.sweep``, ``nclab.nets``, ``nclab.report``: grids x seeds, real networks, HTML reports.
- ``nclab.threads(n)``: a block with ``n`` torch threads (default policy: one for small problems).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "UFMSpec": ("nclab.ufm.spec", "UFMSpec"),
    "train": ("nclab.ufm.engine", "train"),
    "TrainResult": ("nclab.ufm.engine", "TrainResult"),
    "threads": ("nclab._threads", "threads"),
}
_SUBMODULES = ("geometry", "metrics", "ufm", "theory", "experiments", "nets", "sweep", "report")

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> object:  # lazy: `import nclab` stays cheap (not even typing)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"nclab.{name}")
    raise AttributeError(f"module 'nclab' has no attribute {name!r}")
