"""The claims contract over a whole quick reproduction: statistics where seeds vary, a complete coverage map.

One ``nclab reproduce --quick`` run (several minutes on 2 cores) feeds every test here, so the module is
``slow`` (run by ``make test-slow`` and CI).
"""
from __future__ import annotations

import io
import json

import pytest

from nclab.experiments import registry
from nclab.experiments.coverage import STATUSES, Item, coverage_rows, paper_coverage, uncovered_count
from nclab.report.reproduce import reproduce


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    summary = reproduce(quick=True, out=out, progress=False, log=io.StringIO())
    assert summary.exit_code == 0, summary.crashed
    return out


@pytest.fixture(scope="module")
def results(quick_out):
    return json.loads((quick_out / "results.json").read_text())


def _seeds(entry) -> list:
    cfg = entry["config"]
    value = cfg.get("seeds")
    return value if isinstance(value, list) else []


def test_every_claim_over_seeds_reports_count_estimate_and_interval(results):
    missing = []
    for e in results["experiments"]:
        if len(_seeds(e)) < 2:
            continue
        for c in e["claims"]:
            if c.get("n_seeds") is None or c.get("interval") is None:
                missing.append(f"{e['experiment']}/{c['id']}")
    assert missing == []


def test_claims_and_checks_are_apart(results):
    for e in results["experiments"]:
        assert all(c["kind"] == "claim" for c in e["claims"])
        assert all(c["kind"] == "check" for c in e.get("checks", []))


def test_every_paper_declares_a_coverage_map_with_a_reason_for_each_gap():
    for paper in registry.PAPERS:
        items = paper_coverage(paper)
        assert items, f"{paper} declares no COVERAGE"
        for item in items:
            assert isinstance(item, Item)
            assert item.claims or item.reason.strip(), item


def test_every_claim_the_coverage_map_names_exists(results):
    claims = {f"{e['experiment']}/{c['id']}" for e in results["experiments"] for c in e["claims"]}
    named = {c for paper in registry.PAPERS for item in paper_coverage(paper) for c in item.claims}
    assert sorted(named - claims) == []


def test_every_claim_is_in_the_coverage_map(results):
    named = {c for paper in registry.PAPERS for item in paper_coverage(paper) for c in item.claims}
    claims = {f"{e['experiment']}/{c['id']}" for e in results["experiments"] for c in e["claims"]}
    assert sorted(claims - named) == []


def test_results_json_carries_the_resolved_map(results):
    cov = results["coverage"]
    assert set(cov) == set(registry.PAPERS)
    for rows in cov.values():
        assert rows and all(r["status"] in STATUSES for r in rows)


def test_coverage_rows_resolve_each_status():
    items = [Item("Thm 1", "a", claims=("e1/a", "e1/b")), Item("Thm 2", "b", claims=("e1/a",)),
             Item("Fig 1", "c", claims=("e2/x",)), Item("Lemma 1", "d", reason="not covered: needs CIFAR-10"),
             Item("Thm 9", "e", reason="full text not read", known=False)]
    entries = [{"experiment": "e1", "status": "ok", "claims": [{"id": "a", "passed": True}, {"id": "b", "passed": False}]}]
    rows = coverage_rows(items, entries)
    assert [r["status"] for r in rows] == ["not reproduced", "reproduced", "not run", "not covered", "unknown"]
    assert rows[0]["failed"] == ["e1/b"] and rows[2]["missing"] == ["e2/x"]
    assert uncovered_count(rows) == 2
    with pytest.raises(ValueError, match="needs claims or a reason"):
        Item("Thm 3", "f")


#: What a reader must never see on a page: TeX source (MathJax is not available offline) and internal markers.
RAW = ("$\\", "\\Sigma", "\\frac", "\\lambda", "[open]", "[derived]", "[text]", "TODO")


def _visible(page: str) -> str:
    """A page without its stylesheet and its embedded images (base64 can hold any letters)."""
    import re

    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return re.sub(r'src="data:image/png;base64,[^"]*"', "", page)


def test_no_page_of_the_quick_report_shows_tex_source_or_internal_markers(quick_out):
    from nclab.report.html import render_report
    from nclab.report.reproduce import load_report

    pages = {"index.html": (quick_out / "index.html").read_text(encoding="utf-8")}
    for result in sorted(quick_out.glob("*/result.json")):  # nclab report OUT/NAME/result.json: one page each
        report, base = load_report(result)
        pages[result.parent.name] = render_report(report, base_dir=base)
    assert len(pages) > 20
    found = {f"{name}: {marker!r}": text[max(0, text.index(marker) - 80):text.index(marker) + 80]
             for name, page in pages.items() for text in [_visible(page)] for marker in RAW if marker in text}
    assert found == {}
