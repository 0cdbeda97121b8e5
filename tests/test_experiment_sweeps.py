"""A multi-seed experiment through the sweep engine: kill -9 then resume, Dask, run == sweep, report.

Garrod & Keating's width experiment at a few GD steps (seconds): ``nclab sweep garrod2025-width``
killed mid-sweep and resumed holds every (config, seed) once with the rows of an uninterrupted
sweep; ``nclab run garrod2025-width --store`` gives the rows of the same grid swept by
``nclab sweep``; ``nclab report STORE`` draws the experiment's figure and claims.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from nclab import cli, sweep
from nclab.sweep.reading import integrity_check
from sweep_kill import kill_after_rows

FAST = ["--set", "steps=1500", "--set", "polish_steps=20"]
SWEEP = ["sweep", "garrod2025-width", "--grid", "d=12,30", "--seeds", "0:8", *FAST, "--no-progress"]
#: What a row's result is (the rest is timing and bookkeeping).
RESULT = ["config_hash", "seed", "status", "d", "init_H", "steps", "loss", "label", "rank", "etf_error", "spread",
          "mean_logits"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")


def _nclab(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nclab", *args], env=ENV, capture_output=True, text=True,
                          timeout=300, **kwargs)


def _rows(path) -> pd.DataFrame:
    df = sweep.load(path, history=True)
    return df.sort_values(["config_hash", "seed"]).reset_index(drop=True)


def _assert_same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) == 16
    pd.testing.assert_frame_equal(a[RESULT], b[RESULT])
    for ha, hb in zip(a["history"], b["history"]):
        pd.testing.assert_frame_equal(ha, hb)


def _kill_mid_sweep(store, extra) -> int:
    """Start the sweep CLI, SIGKILL its process group once some rows are stored; rows at the kill."""
    return kill_after_rows([sys.executable, "-m", "nclab", *SWEEP, "--store", str(store), *extra], store, 3, ENV)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted sweep (inline, batches of 1 seed)."""
    store = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    done = _nclab([*SWEEP, "--batch", "1", "--executor", "inline", "--store", str(store)])
    assert done.returncode == 0, done.stderr
    return _rows(store)


def _check_resumed(store, reference) -> None:
    partial = sweep.load(store)
    assert 3 <= len(partial) < 16, "the kill did not land mid-sweep"
    assert integrity_check(store) == "ok"
    again = _nclab([*SWEEP, "--batch", "1", "--executor", "inline", "--store", str(store)])
    assert again.returncode == 0, again.stderr
    assert f"{len(partial)} already done, {16 - len(partial)} ran" in again.stdout
    df = _rows(store)
    assert not df.duplicated(["config_hash", "seed"]).any() and set(df["status"]) == {"done"}
    assert sorted(df["seed"].unique()) == list(range(8)) and df.groupby("config_hash").size().tolist() == [8, 8]
    assert integrity_check(store) == "ok"
    assert sweep.status_counts(store)["pending"] == 0
    _assert_same_results(df, reference)
    before = partial.set_index(["config_hash", "seed"])["finished_at"]  # rows of before the kill are kept
    assert (df.set_index(["config_hash", "seed"]).loc[before.index, "finished_at"] == before).all()


def test_width_sweep_killed_then_resumed_equals_an_uninterrupted_sweep(tmp_path, reference):
    store = tmp_path / "k.sqlite"
    _kill_mid_sweep(store, ["--batch", "1", "--executor", "inline"])
    _check_resumed(store, reference)


@pytest.mark.slow
def test_width_sweep_on_dask_killed_then_resumed(tmp_path, reference):
    """The same on a Dask LocalCluster of 2 worker processes (its start-up takes seconds)."""
    pytest.importorskip("distributed")
    store = tmp_path / "dask.sqlite"
    _kill_mid_sweep(store, ["--batch", "1", "--executor", "dask-local:2"])
    _check_resumed(store, reference)
    assert sweep.load(store)["worker"].nunique() >= 2


def test_run_equals_sweep_seed_for_seed_and_report_draws_the_experiment(tmp_path, reference):
    """``nclab run --store`` plans the same (config, seed) units as ``nclab sweep``: same rows;
    ``nclab report`` judges the store as the experiment does."""
    store, swept = tmp_path / "run.sqlite", tmp_path / "sweep.sqlite"
    args = ["run", "garrod2025-width", "--set", "ds=[12,30]", "--set", "init_H=['unit']", "--set", "seeds=8",
            *FAST, "--store", str(store), "--out", str(tmp_path / "out"), "--json"]
    ran = _nclab(args)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    done = _nclab([*SWEEP, "--executor", "inline", "--store", str(swept)])
    assert done.returncode == 0, done.stderr
    a, b = _rows(store), _rows(swept)
    _assert_same_results(a, b)
    assert set(a["batch_size"]) == {8}  # one batched training call per grid point
    pd.testing.assert_frame_equal(a[RESULT], reference[RESULT])  # batches of 1 seed: the same runs
    p_dnc = [float(np.mean(a[a["d"] == d]["label"] == "dnc")) for d in (12, 30)]
    assert result["metrics"]["p_dnc_unit"] == p_dnc
    # nclab report STORE: the experiment's claims and its figure, besides the store figures
    assert cli.main(["report", str(swept)]) == 0
    page = (tmp_path / "sweep.html").read_text()
    assert "p_dnc_grows_with_width" in page and "Claims of experiment garrod2025-width" in page
    assert '<img src="data:image/png;base64,' in page and 'alt="width"' in page  # the experiment's figure
    claims = [c["id"] for c in result["claims"]]
    assert claims == ["p_dnc_about_0_at_smallest_width_unit", "p_dnc_about_1_at_largest_width_unit",
                      "p_dnc_grows_with_width_unit",  # the claims of the one init_H of the grid
                      "solution_rank_grows_with_width", "lemma1_trained_runs_balanced",
                      "dnc_runs_collapse_at_every_layer"]


def test_report_judge_matches_the_run(tmp_path):
    from nclab.experiments import run
    from nclab.report.sweep_page import judge_store

    store = tmp_path / "fig1.sqlite"
    res = run("garrod2025-fig1", seeds=3, steps=300, polish_steps=5, store=store)
    outcome = judge_store("garrod2025-fig1", sweep.load(store, history=True))
    assert [c.to_dict() for c in outcome.claims] == [c.to_dict() for c in res.claims]
    assert res.metrics == outcome.metrics and len(res.metrics["losses"]) == 3
    assert set(outcome.figures) == {"fig1"}
    assert judge_store("ufm", sweep.load(store)) is None
