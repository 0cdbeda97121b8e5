"""Sweeps: grid parsing, canonical hashing, the SQLite store, resume, errors, CLI bad input, plots."""
from __future__ import annotations

import json
import math
import os
import socket
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nclab import cli, sweep
from nclab.sweep import grid as G
from nclab.sweep.registry import get_kind, register_kind
from nclab.sweep.plots import frequency_table, store_figures, wilson_interval
from nclab.sweep.reading import integrity_check

import toy_kind


@pytest.fixture(autouse=True, scope="module")
def _toy():
    """The synthetic ``toy`` kind of tests/toy_kind.py (the sweep machinery under test)."""
    toy_kind.register()


# ---------------------------------------------------------------- grid parsing
def test_ranges_include_stop_and_keep_types():
    g = G.parse_grid(["d=10:200:10", "lam=2**-12,2**-10", "lr=0.1:0.5:0.1", "x=2**-14:2**-6:*4", "k=3:5"])
    assert g["d"] == list(range(10, 201, 10))
    assert all(isinstance(v, int) for v in g["d"])
    assert g["lam"] == [2.0**-12, 2.0**-10]
    assert len(g["lr"]) == 5 and g["lr"][0] == 0.1 and g["lr"][-1] == 0.5
    assert g["x"] == [2.0**-14, 2.0**-12, 2.0**-10, 2.0**-8, 2.0**-6]
    assert g["k"] == [3, 4, 5]
    assert G.parse_grid(["d=10:25:10"])["d"] == [10, 20]  # stop off the grid: not included
    assert G.parse_grid(["d=5:1:-2"])["d"] == [5, 3, 1]
    assert G.parse_grid(["act=relu,linear"])["act"] == ["relu", "linear"]
    assert G.parse_grid(["w=[1,2],[3,4]"])["w"] == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "item, match",
    [
        ("d=1:b", "must be start:stop"),
        ("d=10:1", "empty"),
        ("d=1:10:0", "step 0"),
        ("d=1:2:3:4", "start:stop"),
        ("d=", "empty value"),
        ("d=1,,2", "empty value"),
        ("d", "key=v1,v2"),
        ("1d=3", "key=v1,v2"),
        ("lam=1:2:*1", "ratio"),
        ("d=0:1e9", "more than"),
    ],
)
def test_malformed_grid_items_raise(item, match):
    with pytest.raises(ValueError, match=match):
        G.parse_grid([item])


def test_repeated_grid_key_raises():
    with pytest.raises(ValueError, match="twice"):
        G.parse_grid(["d=1,2", "d=3"])


@given(st.integers(-50, 50), st.integers(0, 60), st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_integer_range_matches_python_range_with_stop(start, length, step):
    stop = start + length
    assert G.parse_range("k", f"{start}:{stop}:{step}") == list(range(start, stop + 1, step))


def test_seeds():
    assert G.parse_seeds("0:5") == [0, 1, 2, 3, 4]
    assert G.parse_seeds("3") == [0, 1, 2]
    assert G.parse_seeds("4,7") == [4, 7]
    assert G.parse_seeds(range(2, 4)) == [2, 3]
    for bad in ("5:5", "a", "1:2:3", "-1:2", "1,1", [], [1.5], True):
        with pytest.raises(ValueError, match="seeds"):
            G.parse_seeds(bad)


# ---------------------------------------------------------------- canonical configs and hashes
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4),
                       st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3),
                                 st.booleans(), st.none()), max_size=6),
       st.randoms())
@settings(max_examples=60, deadline=None)
def test_hash_ignores_key_order(config, rnd):
    items = list(config.items())
    rnd.shuffle(items)
    assert G.config_hash(dict(items), "k") == G.config_hash(config, "k")
    assert G.canonical_json(dict(items)) == G.canonical_json(config)


def test_canonical_config_normalises_spelling_and_defaults():
    toy = get_kind("toy")
    a = toy.canonical({"x": 1, "y": 2})
    b = toy.canonical({"y": 2.0, "x": 1.0, "steps": 5.0, "fail": False})
    assert a == b and G.config_hash(a, "toy") == G.config_hash(b, "toy")
    assert isinstance(a["x"], float) and isinstance(a["steps"], int)
    assert G.config_hash(toy.canonical({"x": 1.5}), "toy") != G.config_hash(a, "toy")
    assert G.config_hash(a, "toy") != G.config_hash(a, "other-kind")
    with pytest.raises(ValueError, match="key 'z'"):
        toy.canonical({"z": 1})
    with pytest.raises(ValueError, match="steps"):
        toy.canonical({"steps": 1.5})


def test_plan_dedups_equal_points_and_rejects_bad_keys():
    p = sweep.plan("toy", {"x": [1, 1.0, 2]}, 3)
    assert len(p.configs) == 2 and p.runs == 6
    with pytest.raises(ValueError, match="grid key"):
        sweep.plan("toy", ["q=1,2"], 3)
    with pytest.raises(ValueError, match="both"):
        sweep.plan("toy", ["x=1,2"], 3, fixed={"x": 3})
    with pytest.raises(ValueError, match="sweep kind"):
        sweep.plan("nope", None, 3)
    with pytest.raises(ValueError, match="grid point"):
        sweep.plan("toy", {"steps": [1, 0]}, 3)


# ---------------------------------------------------------------- store, resume, errors
def test_store_rows_resume_and_load(tmp_path):
    store = tmp_path / "s.sqlite"
    s1 = sweep.run("toy", {"x": [1, 2]}, "0:7", store, fixed={"y": 3}, executor="inline", batch=3,
                   progress=False)
    assert (s1.planned, s1.submitted, s1.done) == (14, 14, 14)
    df = sweep.load(store, history=True)
    assert len(df) == 14 and set(df["status"]) == {"done"}
    assert df.groupby("config_hash").size().tolist() == [7, 7]
    assert set(df["batch_size"]) == {3, 1}  # 7 seeds in chunks of 3: 3, 3, 1
    row = df[(df["x"] == 2.0) & (df["seed"] == 4)].iloc[0]
    expected = 2.0 * 3 + float(np.random.default_rng(4).standard_normal())
    assert row["value"] == pytest.approx(expected, abs=1e-12)
    assert json.loads(row["config"])["x"] == 2.0
    assert list(row["history"].columns) == ["step", "loss"] and len(row["history"]) == 5
    # resume: same command runs nothing; a bigger grid runs only the new config
    s2 = sweep.run("toy", {"x": [1, 2]}, "0:7", store, fixed={"y": 3}, executor="inline", progress=False)
    assert (s2.skipped, s2.submitted) == (14, 0)
    s3 = sweep.run("toy", {"x": [1, 2, 3]}, "0:7", store, fixed={"y": 3}, executor="inline", progress=False)
    assert (s3.skipped, s3.submitted, s3.done) == (14, 7, 7)
    assert len(sweep.load(store)) == 21
    counts = sweep.status_counts(store)
    assert (counts["done"], counts["error"], counts["pending"], counts["configs"]) == (21, 0, 0, 3)
    assert integrity_check(store) == "ok"
    h = sweep.load_history(store, row["config_hash"], 4)
    assert h["loss"].iloc[0] == pytest.approx(abs(expected))


def test_failing_run_is_an_error_row_and_the_rest_complete(tmp_path):
    store = tmp_path / "e.sqlite"
    s = sweep.run("toy", {"fail": [False, True], "x": [1, 2]}, "0:4", store, fixed={"diverge_seed": 2},
                  executor="inline", batch=2, progress=False)
    assert (s.done, s.diverged, s.error) == (6, 2, 8)
    df = sweep.load(store)
    err = df[df["status"] == "error"]
    assert len(err) == 8 and err["fail"].all()
    assert err["error"].str.contains("RuntimeError: toy run failed on purpose").all()
    ok = df[~df["fail"]]
    assert set(ok["status"]) == {"done", "diverged"}
    assert set(ok.loc[ok["status"] == "diverged", "seed"]) == {2}
    assert sweep.status_counts(store)["error"] == 8


def run_flaky(config, seeds, device):
    """A kind that fails while its marker file exists (tests --retry-errors)."""
    if os.path.exists(config["marker"]):
        raise OSError("marker present")
    return [{"status": "done", "metrics": {"value": float(s)}} for s in seeds]


def test_retry_errors(tmp_path):
    register_kind("test-flaky", run=run_flaky, defaults={"marker": ""})
    marker = tmp_path / "marker"
    marker.write_text("x")
    store = tmp_path / "f.sqlite"
    args = dict(fixed={"marker": str(marker)}, executor="inline", progress=False)
    assert sweep.run("test-flaky", None, 3, store, **args).error == 3
    marker.unlink()
    again = sweep.run("test-flaky", None, 3, store, **args)
    assert (again.skipped, again.submitted) == (3, 0)  # errors are kept without --retry-errors
    retried = sweep.run("test-flaky", None, 3, store, retry_errors=True, **args)
    assert (retried.submitted, retried.done) == (3, 3)
    df = sweep.load(store)
    assert len(df) == 3 and set(df["status"]) == {"done"} and df["error"].isna().all()


def test_incompatible_and_foreign_stores(tmp_path):
    store = tmp_path / "s.sqlite"
    sweep.run("toy", None, 2, store, executor="inline", progress=False)
    register_kind("test-flaky", run=run_flaky, defaults={"marker": ""})
    with pytest.raises(ValueError, match="kind 'toy'"):
        sweep.run("test-flaky", None, 2, store, fixed={"marker": "/nonexistent"}, executor="inline")
    con = sqlite3.connect(store)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    before = store.read_bytes()
    with pytest.raises(ValueError, match="schema version"):
        sweep.run("toy", None, 3, store, executor="inline")
    with pytest.raises(ValueError, match="schema version"):
        sweep.load(store)
    assert store.read_bytes() == before
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_text("not a database")
    with pytest.raises(ValueError, match="not an nclab sweep store"):
        sweep.run("toy", None, 2, foreign, executor="inline")
    with pytest.raises(FileNotFoundError):
        sweep.load(tmp_path / "missing.sqlite")


# ---------------------------------------------------------------- CLI
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "nokind", "--seeds", "0:2"], "sweep kind must be one of"),
        (["sweep", "toy", "--grid", "zz=1,2", "--seeds", "0:2"], "grid key"),
        (["sweep", "toy", "--grid", "x=1:q", "--seeds", "0:2"], "range"),
        (["sweep", "toy", "--grid", "x=5:1", "--seeds", "0:2"], "empty"),
        (["sweep", "toy", "--grid", "x=", "--seeds", "0:2"], "empty"),
        (["sweep", "toy", "--seeds", "3:3"], "seeds"),
        (["sweep", "toy", "--seeds", "0:2", "--batch", "0"], "batch"),
        (["sweep", "toy", "--seeds", "0:2", "--executor", "nowhere"], "executor"),
        (["sweep", "toy", "--seeds", "0:2", "--preset", "garrod"], "preset"),
        (["sweep", "toy", "--seeds", "0:2", "--set", "steps=0.5"], "steps"),
        (["sweep", "ufm", "--set", "K=3", "--seeds", "0:2"], "needs a value"),
        (["sweep", "ufm", "--preset", "garrod", "--set", "K=3", "--set", "n=2", "--set", "L=2",
          "--set", "lam=0.01", "--set", "bogus=1", "--grid", "d=3,4", "--seeds", "0:2"], "bogus"),
        (["sweep", "ufm", "--preset", "garrod", "--set", "K=3", "--set", "n=2", "--set", "L=0",
          "--set", "lam=0.01", "--grid", "d=3,4", "--seeds", "0:2"], "'L' of the UFM run (preset garrod) must be"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    store = tmp_path / "sub" / "x.sqlite"
    extra = [] if "--executor" in argv else ["--executor", "inline"]
    rc = cli.main(argv + ["--store", str(store), *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sub").exists()


def test_cli_unwritable_store_and_unreachable_dask(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["sweep", "toy", "--seeds", "0:2", "--store", str(afile / "x.sqlite")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert cli.main(["sweep", "toy", "--seeds", "0:2", "--store", str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err
    store = tmp_path / "d.sqlite"
    rc = cli.main(["sweep", "toy", "--seeds", "0:2", "--store", str(store),
                   "--executor", f"dask://127.0.0.1:{_free_port()}", "--dask-timeout", "1"])
    assert rc == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not store.exists()


def test_cli_sweep_status_and_dry_run(tmp_path, capsys):
    store = tmp_path / "c.sqlite"
    base = ["sweep", "toy", "--grid", "x=1:3", "--seeds", "0:4", "--store", str(store), "--executor", "inline"]
    assert cli.main(base + ["--dry-run"]) == 0
    assert "3 configs x 4 seeds = 12 runs" in capsys.readouterr().out and not store.exists()
    assert cli.main(base + ["--set", "fail=True", "--batch", "2"]) == 0
    out = capsys.readouterr()
    assert "12 error" in out.out and "--retry-errors" in out.err
    assert cli.main(["sweep-status", str(store), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["error"], counts["done"], counts["pending"]) == (12, 0, 0)
    assert cli.main(base + ["--grid", "y=0,1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["planned"], summary["done"]) == (24, 24)
    assert cli.main(["sweep-status", str(store)]) == 0
    text = capsys.readouterr().out
    assert "done     24" in text and "error    12" in text
    assert cli.main(["sweep-status", str(tmp_path / "none.sqlite")]) == 2


# ---------------------------------------------------------------- the ufm kind
def test_ufm_kind_records_final_metrics_rank_and_label(tmp_path):
    store = tmp_path / "u.sqlite"
    fixed = {"K": 3, "n": 2, "L": 2, "lam": 2**-6, "steps": 30, "lr": 0.5, "record_every": 10}
    s = sweep.run("ufm", {"d": [3, 5]}, "0:3", store, fixed=fixed, preset="garrod", executor="inline",
                  batch=2, progress=False)
    assert (s.done + s.diverged, s.error) == (6, 0), s.errors
    df = sweep.load(store, history=True)
    for col in ("final_loss", "final_fit", "final_reg", "grad_norm", "rank_Z", "label", "train_status",
                "nc1_h1", "svZbar_1", "preset", "lam", "steps"):
        assert col in df.columns, col
    assert set(df["label"]) <= {"dnc", "low_rank", "other"}
    assert df["rank_Z"].between(0, 3).all()
    assert (df["final_loss"] > 0).all()
    assert (df["preset"] == "garrod").all() and (df["lam"] == 2**-6).all()
    assert len(df["history"].iloc[0]) >= 3 and "loss" in df["history"].iloc[0].columns


def test_ufm_kind_matches_direct_batched_training():
    from nclab.sweep.ufm_kind import build_spec, run_ufm
    from nclab.ufm.spec import UFMSpec
    from nclab.ufm.engine import train

    kind = get_kind("ufm")
    cfg = kind.canonical({"K": 3, "n": 2, "d": 4, "L": 2, "lam": 0.01, "steps": 20, "lr": 0.3}, "garrod")
    assert build_spec(cfg) == UFMSpec.garrod(3, 2, 4, 2, 0.01)
    out = run_ufm(cfg, [5, 1], "cpu")
    direct = train(UFMSpec.garrod(3, 2, 4, 2, 0.01), seeds=[5, 1], steps=20, lr=0.3, progress=False)
    fin = direct.final.set_index("seed")
    for res, seed in zip(out, [5, 1]):
        assert res["metrics"]["final_loss"] == pytest.approx(fin.loc[seed, "loss"], rel=1e-6)
    # spelling-independent hash: lam given as an int, d as a float
    same = kind.canonical({"K": 3.0, "n": 2, "d": 4.0, "L": 2, "lam": 0.01, "steps": 20, "lr": 0.3}, "garrod")
    assert G.config_hash(same, "ufm") == G.config_hash(cfg, "ufm")
    a = kind.canonical({"K": 3, "n": 2, "d": 4, "dtype": "double"})
    b = kind.canonical({"K": 3, "n": 2, "d": 4, "dtype": "float64", "lam_W": 0})
    assert a["dtype"] == "float64" and G.config_hash(a, "ufm") == G.config_hash(b, "ufm")
    # d < K - 1: the run trains and leaves the ETF metrics out (as nclab train does), so the kind accepts it
    narrow = kind.canonical({"K": 3, "n": 2, "d": 1, "steps": 5})
    (row,) = run_ufm(narrow, [0], "cpu")
    assert row["status"] == "done" and math.isfinite(row["metrics"]["final_loss"])


# ---------------------------------------------------------------- figures
def test_wilson_interval_known_values():
    low, high = wilson_interval([0, 5, 10], [10, 10, 10])
    assert low[0] == 0 and high[0] == pytest.approx(0.27753, abs=1e-5)
    assert low[1] == pytest.approx(0.23659, abs=1e-5) and high[1] == pytest.approx(0.76341, abs=1e-5)
    assert high[2] == 1 and low[2] == pytest.approx(0.72247, abs=1e-5)
    low, high = wilson_interval(0, 0)
    assert (float(low), float(high)) == (0.0, 1.0)


def test_store_figures(tmp_path):
    store = tmp_path / "p.sqlite"
    sweep.run("toy", {"x": [1, 2, 3], "y": [2**-10, 2**-2]}, "0:6", store, executor="inline", progress=False)
    figs = store_figures(store)
    assert set(figs) == {"status", "p_dnc_vs_x", "rank_vs_x"}
    ax = figs["p_dnc_vs_x"].axes[0]
    assert ax.get_xlabel() == "x" and "DNC" in ax.get_ylabel() and len(ax.get_legend().get_texts()) == 2
    tab = frequency_table(sweep.load(store), "x")
    seeds_dnc = sum(np.random.default_rng(s).standard_normal() > 0 for s in range(6))
    assert (tab["n"] == 12).all() and (tab["count"] == 2 * seeds_dnc).all()
    figs["p_dnc_vs_x"].savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


class _LosingExecutor:
    """Runs inline, but the worker 'dies' on batches of configs with x == 2 (like a lost node)."""

    name = "losing"

    def submit(self, fn, *args):
        class F:
            def result(self_inner):
                if args[1]["x"] == 2.0:
                    raise ConnectionError("worker lost")
                return fn(*args)

        return F()

    def as_completed(self, futures):
        return iter(list(futures))

    def cancel(self, futures):
        pass

    def close(self):
        raise AssertionError("an executor object passed in is not closed by the sweep")


def test_a_lost_worker_leaves_its_runs_pending_and_the_sweep_goes_on(tmp_path):
    from nclab.sweep.runner import SweepIncomplete

    store = tmp_path / "l.sqlite"
    with pytest.raises(SweepIncomplete, match="ConnectionError: worker lost") as info:
        sweep.run("toy", {"x": [1, 2, 3]}, "0:4", store, executor=_LosingExecutor(), batch=2, progress=False)
    s = info.value.summary
    assert (s.done, s.error, s.lost) == (8, 0, 4)
    df = sweep.load(store)
    assert set(df["status"]) == {"done"} and not (df["x"] == 2.0).any()  # the lost runs are not rows
    again = sweep.run("toy", {"x": [1, 2, 3]}, "0:4", store, executor="inline", progress=False)  # no --retry-errors
    assert (again.submitted, again.done) == (4, 4)
    assert set(sweep.load(store)["status"]) == {"done"}
