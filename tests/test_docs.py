"""The repository stands alone: no file points outside it, and the README's links resolve."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("../" + "shared", "MATH" + ".md")


def _tracked():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.stdout.split() if (ROOT / p).is_file()]


def _offenders(paths):
    bad = []
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        bad += [f"{p.relative_to(ROOT)}: {s}" for s in FORBIDDEN if s in text]
    return bad


def test_docs_examples_readme_point_inside():
    paths = [p for p in _tracked() if p.parts[len(ROOT.parts)] in ("docs", "examples", "README.md", "LICENSE")]
    assert _offenders(paths) == []


def test_no_file_points_outside():
    assert _offenders(_tracked()) == []


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]
    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]
    assert missing == []


def test_cited_math_sections_exist():
    """Every "docs/math.md §N" or "§N.M" citation in the repository names a numbered heading of it."""
    math = (ROOT / "docs" / "math.md").read_text(encoding="utf-8")
    heads = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", math, flags=re.M)
    assert len(heads) == len(set(heads)), "section numbers of docs/math.md repeat"
    bad = []
    for p in _tracked():
        if p.suffix not in (".py", ".md", ".rst"):
            continue
        text = p.read_text(encoding="utf-8")
        for m in re.finditer(r"docs/math\.md[^\n§]{0,3}§(\d+(?:\.\d+)?)((?:(?:, | and )§\d+(?:\.\d+)?)*)", text):
            for sec in [m.group(1)] + re.findall(r"§(\d+(?:\.\d+)?)", m.group(2)):
                if sec not in heads:
                    bad.append(f"{p.relative_to(ROOT)}: §{sec}")
    assert bad == []


# Modules whose every public function and class carries a full numpydoc docstring (issue 15 item 2);
# a module joins this list once it is complete, so adding an undocumented function to it fails here.
NUMPYDOC_MODULES = (
    "nclab.geometry",
    "nclab.theory.shallow.anchored", "nclab.theory.shallow.flow", "nclab.theory.shallow.perturbation",
    "nclab.theory.shallow.strong_collapse", "nclab.theory.shallow.tirer_bruna",
    "nclab.theory.deep.schatten", "nclab.theory.deep.superiority", "nclab.theory.deep.dimensions",
    "nclab.ufm.engine", "nclab.ufm.objective", "nclab.ufm.init", "nclab.ufm.solutions", "nclab.ufm.measure",
    "nclab.ufm.dynamics",
    "nclab.ufm.terms",
    "nclab.sweep.grid", "nclab.sweep.executors", "nclab.sweep.registry", "nclab.sweep.reading",
    "nclab.sweep.local_executor", "nclab.sweep.dask_executor",
    "nclab.experiments.rules", "nclab.experiments.coverage",
    "nclab.nets.data", "nclab.nets._dataset", "nclab.nets._files", "nclab.nets.features", "nclab.nets._layers",
    "nclab.nets.tracker", "nclab.nets.adapters", "nclab.nets._plot", "nclab.nets.train",
    "nclab.metrics.spectrum", "nclab.metrics.collapse",
    "nclab.metrics.structure",
    "nclab.metrics.extra",
    "nclab.metrics.uniformity",
    "nclab.theory.deep.low_rank", "nclab.theory.deep.critical_points", "nclab.theory.deep.landscape",
    "nclab.theory.deep.optimal_rank",
    "nclab.theory.deep.relu_construction",
    "nclab.ufm.spec", "nclab.ufm.result",
    "nclab.metrics.streaming", "nclab.metrics.streaming_metrics",
    "nclab.metrics.subspaces", "nclab.metrics.mse_loss",
    "nclab.metrics.class_subset", "nclab.metrics.extra_samples",
    "nclab.nets.models",
    "nclab.experiments.registry", "nclab.experiments.grid", "nclab.experiments.sweep_kinds",
    "nclab.config", "nclab.seeds",
    "nclab.sweep", "nclab.sweep.kinds", "nclab.sweep.runner", "nclab.sweep.store", "nclab.sweep.plots",
    "nclab.sweep.ufm_kind",
    "nclab.report", "nclab.report.reproduce", "nclab.report.sweep_page",
)
# Single objects of modules not complete as a whole (private modules whose one public object is exported).
NUMPYDOC_OBJECTS = (
    "nclab.metrics._core.ClassStatistics", "nclab._notation.prose",
)


def _public_objects(module):
    import inspect

    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
            yield f"{module.__name__}.{name}", obj


def _missing_sections(qualname, obj):
    import inspect

    doc = inspect.getdoc(obj) or ""
    has = {s: re.search(rf"^{s}\n-{{{len(s)}}}$", doc, flags=re.M) is not None
           for s in ("Parameters", "Returns", "Examples")}
    try:
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
    except (TypeError, ValueError):
        params = []
    need = ["Examples"] + (["Parameters"] if params else []) + (["Returns"] if inspect.isfunction(obj) else [])
    return [f"{qualname}: no {s} section" for s in need if not has[s]]


def _numpydoc_targets():
    import importlib

    for name in NUMPYDOC_MODULES:
        yield from _public_objects(importlib.import_module(name))
    for path in NUMPYDOC_OBJECTS:
        module, _, attr = path.rpartition(".")
        yield path, getattr(importlib.import_module(module), attr)


def test_completed_modules_have_numpydoc_sections():
    """Every public function/class of the completed modules has Parameters (when it takes
    arguments), Returns (functions) and Examples sections."""
    targets = list(_numpydoc_targets())
    assert len(targets) > 100
    bad = [m for q, obj in targets for m in _missing_sections(q, obj)]
    assert bad == []


def test_numpydoc_check_catches_an_undocumented_function():
    def undocumented(x: int) -> int:
        """Only a summary line."""
        return x

    assert len(_missing_sections("undocumented", undocumented)) == 3
