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
