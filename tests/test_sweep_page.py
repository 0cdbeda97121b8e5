"""The sweep page judges a store with the profile the store was made with (issue 16)."""
from __future__ import annotations

import pytest

from nclab import cli, sweep
from nclab.experiments import registry
from nclab.report import sweep_page

TINY = ["--set", "steps=30", "--set", "polish_steps=0", "--set", "K=3", "--set", "d=4", "--set", "n=2"]


def _sweep(store, *profile):
    args = ["sweep", "garrod2025-fig1", *profile, "--seeds", "0:2", *TINY, "--executor", "inline",
            "--no-progress", "--store", str(store)]
    assert cli.main(args) == 0


@pytest.fixture
def configs_asked(monkeypatch):
    """The ``quick`` argument of every Experiment.config call (the judge's settings)."""
    asked = []
    original = registry.Experiment.config

    def spy(self, quick=True, **overrides):
        asked.append(quick)
        return original(self, quick=quick, **overrides)

    monkeypatch.setattr(registry.Experiment, "config", spy)
    return asked


@pytest.mark.parametrize("flag, profile", [((), "quick"), (("--full",), "full")])
def test_store_records_its_profile_and_the_page_judges_with_it(tmp_path, configs_asked, flag, profile):
    store = tmp_path / f"{profile}.sqlite"
    _sweep(store, *flag)
    assert sweep.status_counts(store)["meta"]["profile"] == profile
    configs_asked.clear()
    page = sweep_page.render_store(store)
    assert configs_asked == [profile == "quick"]  # the judge's config came from the recorded profile
    assert "Claims of experiment garrod2025-fig1" in page and f"<th>profile</th><td><code>{profile}</code>" in page
    assert "does not record the profile" not in page

    rows = sweep.load(store, history=True)
    exp = registry.get("garrod2025-fig1")
    for recorded in ("quick", "full"):
        configs_asked.clear()
        outcome = sweep_page.judge_store("garrod2025-fig1", rows, recorded)
        assert configs_asked == [recorded == "quick"]
        assert outcome is not None and len(outcome.metrics["losses"]) == 2
    assert exp.config(quick=False)["seeds"] != exp.config()["seeds"]  # the two profiles do differ


def test_a_store_holds_one_profile(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    _sweep(store)
    capsys.readouterr()
    args = ["sweep", "garrod2025-fig1", "--full", "--seeds", "0:1", *TINY, "--executor", "inline",
            "--no-progress", "--store", str(store)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "quick profile, not its full profile" in err and str(store) in err
    assert len(sweep.load(store)) == 2  # nothing was added


def test_store_without_a_recorded_profile_is_judged_quick_and_says_so(tmp_path, configs_asked):
    import sqlite3

    store = tmp_path / "old.sqlite"
    _sweep(store)
    with sqlite3.connect(store) as con:  # as a store written before the profile was recorded
        con.execute("DELETE FROM meta WHERE key = 'profile'")
    con.close()
    configs_asked.clear()
    page = sweep_page.render_store(store)
    assert configs_asked == [True] and "does not record the profile" in page


def test_judge_store_rejects_an_unknown_profile(tmp_path):
    with pytest.raises(ValueError, match="profile must be 'quick', 'full' or None, got 'paper'"):
        sweep_page.judge_store("garrod2025-fig1", None, "paper")
    store = tmp_path / "ufm.sqlite"
    sweep.run("ufm", None, 1, store, fixed={"K": 3, "n": 2, "d": 4, "steps": 5}, executor="inline",
              progress=False)
    assert "profile" not in sweep.status_counts(store)["meta"]  # a built-in kind has no profile
    assert "<th>profile</th>" not in sweep_page.render_store(store)


@pytest.mark.parametrize("quick", [True, False])
def test_nclab_run_store_records_the_profile(tmp_path, quick):
    store = tmp_path / "run.sqlite"
    res = registry.run("garrod2025-fig1", quick=quick, store=store, seeds=2, steps=30, polish_steps=0, K=3, d=4,
                       n=2, progress=False)
    assert sweep.status_counts(store)["meta"]["profile"] == ("quick" if quick else "full")
    outcome = sweep_page.judge_store("garrod2025-fig1", sweep.load(store, history=True),
                                     "quick" if quick else "full")
    assert [c.to_dict() for c in outcome.claims] == [c.to_dict() for c in res.claims]


def test_store_figures_draw_95_percent_t_intervals_with_ticks_at_the_data(tmp_path):
    import numpy as np
    import toy_kind

    from nclab.experiments import rules
    from nclab.sweep.plots import store_figures

    toy_kind.register()
    store = tmp_path / "toy.sqlite"
    sweep.run("toy", {"x": [1, 2, 8, 64]}, "0:5", store, executor="inline", progress=False)
    figs = store_figures(store)
    ax = figs["rank_vs_x"].axes[0]
    assert "95% t" in ax.get_title()
    (bars,) = ax.containers[0].lines[2]  # the error bars of the one series (no other key swept)
    rows = sweep.load(store)
    for segment, x in zip(bars.get_segments(), (1, 2, 8, 64)):
        est = rules.mean(rows[rows["x"] == x]["rank"].to_numpy(dtype=float))
        np.testing.assert_allclose([segment[0][1], segment[1][1]], [est.low, est.high], rtol=1e-12)
    for name in ("rank_vs_x", "p_dnc_vs_x"):
        ax = figs[name].axes[0]
        assert ax.get_xscale() == "log"  # 1..64 spans over 30x
        assert list(ax.get_xticks()) == [1, 2, 8, 64]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "8", "64"]
        assert ax.xaxis.get_minor_locator().tick_values(1, 64) == []


def test_sweep_page_gives_wide_figures_the_full_width_and_claims_their_table():
    import re

    from matplotlib.figure import Figure

    from nclab.report.html import render_sweep

    wide, narrow = Figure(figsize=(11, 4)), Figure(figsize=(4, 3))
    for fig in (wide, narrow):
        fig.add_subplot().plot([0, 1], [0, 1])
    claim = {"id": "c", "text": r"the rank of $\bar Z$ falls as $\lambda$ grows", "source": "GK", "expected": "< 1",
             "measured": 0.5, "passed": True, "note": r"tr$\Sigma_W$ small"}
    page = render_sweep("s", {"narrow": narrow, "wide": wide}, {}, {"runs": 1}, claims={"Claims": [claim]},
                        notes=[r"at $\lambda = 2^{-9}$"])
    body = re.sub(r'src="data:image/png;base64,[^"]*"', "", page)
    assert re.search(r'<div class="figs wide"><figure><img\s+alt="wide">', body)
    assert re.search(r'<div class="figs grid"><figure><img\s+alt="narrow">', body)
    assert '<table class="claims">' in body and "PASS" in body
    assert "\\lambda" not in body and "\\Sigma" not in body and "\\bar" not in body
    assert "λ" in body and "Σ<sub>W</sub>" in body


def _tiny_store(path, polish_steps, seeds="0:3"):
    args = ["sweep", "garrod2025-fig1", "--seeds", seeds, "--set", "steps=30", "--set", f"polish_steps={polish_steps}",
            "--set", "K=3", "--set", "d=4", "--set", "n=2", "--executor", "inline", "--no-progress",
            "--store", str(path)]
    assert cli.main(args) == 0
    return sweep.load(path)


def test_garrod_rows_record_their_training_status_and_the_page_warns_when_unconverged(tmp_path):
    # 2 polish steps cannot reach polish_tol 1e-9 from 30 GD steps: every run is 'not converged'
    rows = _tiny_store(tmp_path / "short.sqlite", 2)
    assert rows["train_status"].tolist() == ["max_steps"] * 3 and (rows["status"] == "done").all()
    summary = sweep_page.config_summary(rows)
    assert summary[0]["not converged"] == 3 and summary[0]["dnc"] + summary[0]["other"] == 0
    page = sweep_page.render_store(tmp_path / "short.sqlite")
    assert 'class="warning"' in page and "3 of 3 runs stopped at max steps before reaching tol" in page
    assert "Claims of experiment garrod2025-fig1" in page  # judged as before
    assert "not converged: 3 of 3 runs stopped at polish_steps = 2" in page  # the judge's note says so too

    # no polish: GD has no convergence test, said so (not counted as 'not converged')
    rows = _tiny_store(tmp_path / "plain.sqlite", 0, "0:2")
    assert rows["train_status"].tolist() == ["max_steps"] * 2
    assert sweep_page.config_summary(rows)[0]["not converged"] == 0
    assert "2 of 2 runs had no convergence test" in sweep_page.render_store(tmp_path / "plain.sqlite")

    # a full polish at K=3, d=4 reaches the tolerance: converged runs, no warning
    rows = _tiny_store(tmp_path / "long.sqlite", 300, "0:2")
    assert rows["train_status"].tolist() == ["converged"] * 2
    assert sweep_page.sweep_warnings(rows) == []


def test_convergence_tested_reads_tol_lbfgs_and_the_polish():
    import pandas as pd

    tested = sweep_page.convergence_tested
    assert tested({"tol": 1e-6}) and tested({"optimizer": "lbfgs", "tol": None})
    assert tested({"polish": True, "polish_steps": 10}) and not tested({"polish": False, "polish_steps": 10})
    assert tested({"polish_steps": 1}) and not tested({"polish_steps": 0}) and not tested({})
    rows = pd.DataFrame({"status": ["done", "done", "done"], "train_status": ["max_steps"] * 3,
                         "config": ['{"polish": true}', '{"polish_steps": 300}', '{"polish_steps": 0}']})
    assert sweep_page.not_converged(rows).tolist() == [True, True, False]


def test_sukenik_title_gives_the_stored_rows_settings_not_the_profiles(tmp_path):
    store = tmp_path / "sukenik.sqlite"
    sets = ["steps=20", "polish_steps=0", "K=3", "d=4", "n=2", "lr=0.3"]
    args = ["sweep", "garrod2025-sukenik", "--seeds", "0:2", *[a for s in sets for a in ("--set", s)],
            "--executor", "inline", "--no-progress", "--store", str(store)]
    assert cli.main(args) == 0
    rows = sweep.load(store, history=True)
    assert registry.get("garrod2025-sukenik").config()["lr"] == 0.5  # the profile's lr differs from the rows'

    def title(df):
        return sweep_page.judge_store("garrod2025-sukenik", df, "quick").figures["sukenik"]._suptitle.get_text()

    assert title(rows).endswith(": L=4, K=3, n=2, lr=0.3") and "0.5" not in title(rows)
    mixed = rows.assign(lr=[0.1, 0.3])
    assert "lr ∈ {0.1, 0.3} (several in the rows)" in title(mixed)
    assert "lr=0.5 (from the profile)" in title(rows.drop(columns="lr"))  # an older store without the column
