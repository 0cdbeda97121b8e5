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
