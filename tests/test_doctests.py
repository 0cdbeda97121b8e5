"""Every Examples section of nclab's docstrings runs as a doctest (so the documentation cannot rot)."""
import doctest
import importlib
import pkgutil

import pytest

import nclab

MODULES = sorted(m.name for m in pkgutil.walk_packages(nclab.__path__, "nclab.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples of {name} failed"
