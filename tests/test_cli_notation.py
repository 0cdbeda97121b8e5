"""The terminal prints the experiments' texts in the papers' notation (issue 16 item 5): ``nclab list``,
``show``, ``run`` and the ``reproduce`` summary turn ``$...$`` into plain Unicode; ``--json`` stays raw."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nclab import cli
from nclab.config import Param, Real
from nclab.experiments import registry
from nclab.experiments.registry import Claim, Outcome

NAME = "test-toy-notation"


@pytest.fixture
def tex_experiment():
    @registry.register(
        NAME,
        paper="tirer2023",
        title=r"tr$\Sigma_W$/tr$\Sigma_B$ of a toy",
        description=r"A toy whose texts hold TeX: NC1 is tr$(\Sigma_W\Sigma_B^+)/K$ and NC2 the $\bar H$ ETF error.",
        defaults={"lam_H": Param(0.01, Real(minimum=0.0), r"the feature decay $\lambda_H$ ($\ge 0$)")},
    )
    def toy(config):
        return Outcome(
            claims=[Claim("nc1-small", r"tr$\Sigma_W$ is small.", "toy", r"tr$\Sigma_W$/tr$\Sigma_B$ $\le$ 0.5",
                          0.25, True),
                    Claim("h-bar", r"$\bar H$ is an ETF.", "toy", r"$\|\bar H^\top \bar H - I\|_F$ < 1e-9",
                          0.5, False)],
            notes=[r"$\lambda_H = 10^{-2}$, $\sigma_{min}(W) > 0$"],
        )

    yield NAME
    registry._REGISTRY.pop(NAME, None)


def _no_tex(text: str) -> None:
    assert "$\\" not in text and "\\Sigma" not in text and "\\bar" not in text and "\\lambda" not in text, text


def test_show_prints_unicode_and_json_stays_raw(tex_experiment, capsys):
    assert cli.main(["show", tex_experiment]) == 0
    out = capsys.readouterr().out
    _no_tex(out)
    assert "trΣ_W/trΣ_B of a toy" in out.splitlines()[0]
    assert "NC1 is tr(Σ_WΣ_B^+)/K and NC2 the H\u0304 ETF error." in out
    assert "the feature decay λ_H (≥ 0)" in out

    assert cli.main(["show", tex_experiment, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["title"] == r"tr$\Sigma_W$/tr$\Sigma_B$ of a toy"
    assert [r["help"] for r in info["settings"] if r["key"] == "lam_H"] == [r"the feature decay $\lambda_H$ ($\ge 0$)"]


def test_list_prints_the_title_in_unicode(tex_experiment, capsys):
    assert cli.main(["list"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(tex_experiment)]
    assert len(line) == 1 and line[0].endswith("trΣ_W/trΣ_B of a toy")


def test_run_prints_rules_and_notes_in_unicode(tex_experiment, tmp_path, capsys):
    assert cli.main(["run", tex_experiment, "--out", str(tmp_path / "text")]) == 0
    out = capsys.readouterr().out
    _no_tex(out)
    assert "[PASS] nc1-small: expected trΣ_W/trΣ_B ≤ 0.5, measured 0.25" in out
    assert "[FAIL] h-bar: expected ‖H\u0304ᵀ H\u0304 - I‖_F < 1e-9, measured 0.5" in out
    assert "note: λ_H = 10^-2, σ_min(W) > 0" in out

    assert cli.main(["run", tex_experiment, "--json", "--out", str(tmp_path / "json")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["claims"][0]["expected"] == r"tr$\Sigma_W$/tr$\Sigma_B$ $\le$ 0.5"
    assert data["notes"] == [r"$\lambda_H = 10^{-2}$, $\sigma_{min}(W) > 0$"]
    saved = json.loads((tmp_path / "text" / "result.json").read_text())
    assert saved["claims"][1]["expected"] == r"$\|\bar H^\top \bar H - I\|_F$ < 1e-9"  # the file stays raw too


def test_reproduce_summary_prints_failed_rules_in_unicode():
    from nclab.report.html import claim_counts
    from nclab.report.reproduce import ReproduceSummary, summary_lines

    exps = [{"experiment": NAME, "paper": "tirer2023", "status": "ok",
             "claims": [{"id": "h-bar", "passed": False, "expected": r"$\|\bar H^\top \bar H - I\|_F$ < 1e-9",
                         "measured": 0.5}]}]
    summary = ReproduceSummary({"experiments": exps}, Path("out"), Path("out/index.html"), Path("out/results.json"),
                               1.0, claim_counts(exps))
    lines = summary_lines(summary)
    _no_tex("\n".join(lines))
    assert f"  FAILED  {NAME} / h-bar: expected ‖H\u0304ᵀ H\u0304 - I‖_F < 1e-9, measured 0.5" in lines


def test_show_of_every_registered_experiment_prints_no_tex(capsys):
    from nclab.report.reproduce import load_experiment_modules

    load_experiment_modules()
    names = [e.name for e in registry.experiments()]
    assert len(names) >= 20
    for name in names:
        assert cli.main(["show", name]) == 0
        _no_tex(capsys.readouterr().out)


#: ASCII pseudo-math that issue 16 asked the pages to stop showing (the notation is written in plain
#: Unicode: Σ_W, √, ⁻¹, ᵀ, ≥, ≤, ‖·‖, λ, ⊗). Config keys such as lam_W may still be named where a text
#: tells the user what to type, so lam_W is not in this list.
ASCII_MATH = r"Sigma_|sqrt\(|\^-1|\^T\b|>=|<=|\|\||\bbeta\^|\(x\)|\\[A-Za-z]+\{?"


def test_static_texts_of_every_experiment_are_in_the_papers_notation():
    """Titles, descriptions, settings' help and the coverage maps hold no ASCII pseudo-math and no
    TeX source (a TeX segment would be converted, but the static texts are written in Unicode)."""
    import re

    from nclab.experiments import registry
    from nclab.experiments.coverage import paper_coverage

    found = []
    for e in registry.experiments():
        texts = {"title": e.title, "description": e.description,
                 **{f"help[{k}]": p.help or "" for k, p in e.params.items()}}
        for where, text in texts.items():
            found += [f"{e.name} {where}: {text[max(0, m.start() - 30):m.end() + 20]!r}"
                      for m in re.finditer(ASCII_MATH, text)]
    for paper in registry.PAPERS:
        for item in paper_coverage(paper):
            for where, text in (("statement", item.statement), ("reason", item.reason or "")):
                found += [f"{paper} {item.ref} {where}: {text[max(0, m.start() - 30):m.end() + 20]!r}"
                          for m in re.finditer(ASCII_MATH, text)]
    assert found == []
    assert re.search(ASCII_MATH, "tr Sigma_W / tr Sigma_B") and re.search(ASCII_MATH, "d >= K")
