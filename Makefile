# nclab: `make run` sets up .venv and runs the quick reproduction; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
OUT    ?= out

.PHONY: setup run test test-slow test-paper bench docs clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first: the CPU build that lies on this disk; the project's range admits it.
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev,docs]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/nclab reproduce --quick --out $(OUT)

test: setup
	$(PY) -m pytest -q --durations=10

test-slow: setup
	# exit code 5 means no test was selected: not a failure while no slow test exists
	$(PY) -m pytest -q -m slow --durations=12 || [ $$? -eq 5 ]

test-paper: setup
	# the full profiles that take longer than CI allows (Garrod & Keating Fig. 2 at 100 seeds per point)
	$(PY) -m pytest -q -m paper

bench: setup
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

docs: setup
	# the API reference (autodoc + napoleon's numpydoc reader); any warning fails the build
	rm -rf docs/_build
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache docs/_build
