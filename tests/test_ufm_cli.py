"""`nclab train`: presets, --set parsing, output files, exit codes."""
import json

import numpy as np
import pytest

from nclab.cli import main
from nclab.ufm._cli import parse_seeds


def test_train_garrod_preset_json_and_out(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--preset", "garrod", "--set", "K=4", "--set", "n=2", "--set", "d=6", "--set", "lam=2**-6",
               "--set", "steps=30", "--set", "lr=0.5", "--seeds", "0:3", "--json", "--out", str(out)])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["spec"]["K"] == 4 and result["spec"]["lam_H"] == 2 ** -6 and result["spec"]["L"] == 2
    assert result["seeds"] == [0, 1, 2] and len(result["final"]) == 3 and result["steps"] == 30
    arrays = np.load(out / "params.npz")
    assert arrays["H"].shape == (3, 6, 8) and arrays["W2"].shape == (3, 4, 6)
    assert (out / "history.csv").is_file() and (out / "result.json").is_file()


def test_train_mixon_and_plain_spec_summary(capsys):
    assert main(["train", "--preset", "mixon", "--set", "steps=10", "--set", "init='norm'", "--set", "init_scale=0.1",
                 "--seeds", "2", "--dtype", "float64"]) == 0
    text = capsys.readouterr().out
    assert "K=3 n=3 d=15" in text and "2 max_steps" in text
    assert main(["train", "--set", "K=3", "--set", "n=2", "--set", "d=4", "--set", "loss=mse", "--set", "lam_W=[0.1]",
                 "--set", "steps=5", "--set", "optimizer=lbfgs", "--seeds", "1,5"]) == 0
    assert "lbfgs" not in capsys.readouterr().err


@pytest.mark.parametrize("argv,needle", [
    (["--preset", "garrod", "--set", "K=1"], "setting 'K' of the UFM run (preset garrod) must be an integer >= 2"),
    (["--set", "K=3", "--set", "n=2", "--set", "d=3", "--set", "bogus=1"], "setting 'bogus'"),
    (["--set", "n=2", "--set", "d=3"], "needs a value for 'K'"),
    (["--preset", "garrod", "--set", "lr=-1"], "setting 'lr'"),
    (["--preset", "garrod", "--set", "optimizer=sgd"], "setting 'optimizer'"),
    (["--preset", "garrod", "--set", "spectra=1"], "setting 'spectra'"),
    (["--preset", "garrod", "--set", "nc_tol=-1"], "setting 'nc_tol'"),
    (["--preset", "garrod", "--set", "lam_W=[0.1]"], "lam_W"),
    (["--preset", "garrod", "--seeds", "5:2"], "--seeds"),
    (["--preset", "tirer", "--set", "H0='missing.npy'", "--set", "beta=1"], "missing.npy"),
    (["--preset", "garrod", "--set", "device=cuda:7"], "device"),
])
def test_train_bad_input_exits_2_with_one_line(argv, needle, capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["train", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_parse_seeds():
    assert parse_seeds("0:4") == [0, 1, 2, 3]
    assert parse_seeds("3,7") == [3, 7]
    assert parse_seeds("2") == [0, 1]
    with pytest.raises(ValueError, match="--seeds"):
        parse_seeds("a:b")


def test_train_tirer_anchor_from_npy_and_parquet(tmp_path, capsys):
    H0 = np.random.default_rng(0).standard_normal((5, 8))
    np.save(tmp_path / "H0.npy", H0)
    out = tmp_path / "anch"
    rc = main(["train", "--preset", "tirer", "--set", "K=4", "--set", "n=2", "--set", "d=5", "--set", "beta=2.0",
               "--set", f"H0='{tmp_path / 'H0.npy'}'", "--set", "steps=20", "--set", "lr=0.5", "--seeds", "0:2",
               "--out", str(out), "--history-format", "parquet", "--progress"])
    assert rc == 0
    assert (out / "history.parquet").is_file()
    saved = json.loads((out / "result.json").read_text())
    assert saved["spec"]["H0"]["shape"] == [5, 8] and saved["spec"]["beta"] == 2.0


# ---------------------------------------------------------------- one UFM config table
@pytest.mark.parametrize("preset", [None, "garrod", "tirer", "mixon"])
def test_train_and_sweep_accept_the_same_keys_with_the_same_defaults(preset):
    from nclab.sweep.kinds import REQUIRED
    from nclab.sweep.registry import get_kind
    from nclab.ufm import options

    train_table = options.table(preset, run=True)
    sweep_keys = get_kind("ufm").keys(preset)
    # device is the one key of a single run only: a sweep sets it per worker (nclab sweep --device)
    assert set(train_table) - set(sweep_keys) == set(options.RUN_TABLE) == {"device"}
    assert set(sweep_keys) <= set(train_table)
    for key, default in sweep_keys.items():
        expected = train_table[key].default
        assert (default is REQUIRED) if expected is options.REQUIRED else default == expected, key


def test_table_follows_the_engine_and_preset_signatures():
    import dataclasses
    import inspect

    from nclab.ufm import options
    from nclab.ufm.engine import train
    from nclab.ufm.spec import UFMSpec

    params = inspect.signature(train).parameters
    assert set(options.TRAIN_TABLE) == set(params) - {"spec", "seeds", "device", "progress"}
    for key, p in options.TRAIN_TABLE.items():
        default = params[key].default
        default = list(default) if isinstance(default, tuple) else default
        default = str(default).replace("torch.", "") if key == "dtype" else default
        assert p.default == default, key
    assert options.RUN_TABLE["device"].default == params["device"].default
    fields = {f.name: f.default for f in dataclasses.fields(UFMSpec)}
    assert set(options.SPEC_TABLE) == set(fields)
    for key, p in options.SPEC_TABLE.items():
        assert (p.default is options.REQUIRED) == (fields[key] is dataclasses.MISSING), key
        if p.default is not options.REQUIRED:
            assert p.default == fields[key], key
    for preset, tab in options.PRESET_TABLES.items():
        sig = inspect.signature(getattr(UFMSpec, preset)).parameters
        assert list(tab) == list(sig), preset
        for key, p in tab.items():  # a preset's own defaults where its signature has one
            if sig[key].default is not inspect.Parameter.empty:
                assert p.default == sig[key].default, (preset, key)


def test_spectra_false_is_accepted_by_train_and_sweep(capsys):
    from nclab.sweep.registry import get_kind

    argv = ["train", "--preset", "garrod", "--set", "K=3", "--set", "n=2", "--set", "d=4", "--set", "steps=5",
            "--set", "spectra=False", "--set", "rank_rtol=0.01", "--seeds", "2", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["options"]["spectra"] is False
    assert len(out["solutions"]) == 2 and set(out["solutions"]) <= {"dnc", "low_rank", "other"}
    cfg = get_kind("ufm").canonical({"K": 3, "n": 2, "d": 4, "steps": 5, "spectra": False, "rank_rtol": 0.01},
                                    "garrod")
    assert cfg["spectra"] is False and cfg["rank_rtol"] == 0.01 and cfg["L"] == 2 and cfg["lam"] == 2 ** -10


def test_show_config_prints_the_preset_defaults(capsys, tmp_path):
    assert main(["train", "--preset", "garrod", "--show-config", "--out", str(tmp_path / "never")]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "= 10 " in lines["K"] and "= 70 " in lines["d"] and "= 0.0009765625" in lines["lam"]
    assert {"spectra", "rank_rtol", "nc_tol", "device", "betas"} <= set(lines)
    assert not (tmp_path / "never").exists()
    assert main(["train", "--show-config"]) == 0
    assert "<required>" in capsys.readouterr().out.splitlines()[1]


def test_seeds_share_config_parser_messages():
    from nclab.seeds import parse_seeds as config_parse_seeds
    from nclab.sweep import parse_seeds as sweep_parse_seeds

    for text in ("0:4", "3,7", "2"):
        assert parse_seeds(text) == config_parse_seeds(text) == sweep_parse_seeds(text)
    with pytest.raises(ValueError, match="^--seeds must be"):
        parse_seeds("1,1")
    with pytest.raises(ValueError, match="^seeds must be"):
        sweep_parse_seeds("5:2")


def test_train_below_the_etf_dimension_runs_and_counts_outcomes(capsys):
    """d < K - 1 is a legitimate UFM (no ETF metrics), not a hint at a Python-only keyword;
    the summary counts each outcome with its rank and lists every seed's."""
    argv = ["train", "--preset", "garrod", "--set", "K=4", "--set", "n=2", "--set", "d=2", "--set", "steps=20",
            "--seeds", "0:3"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "undefined" not in out + err
    solutions = next(line for line in out.splitlines() if "solutions:" in line)
    assert "(rank " in solutions and sum(int(part.split()[0]) for part in solutions.split(":")[1].split(", ")) == 3
    assert "per seed" in out and " r" in out.split("per seed")[1]
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(row["count"] for row in result["solution_counts"]) == 3 and len(result["solution_ranks"]) == 3


def test_unknown_key_message_names_the_key_and_value(capsys):
    assert main(["train", "--preset", "garrod", "--set", "foo=1"]) == 2
    err = capsys.readouterr().err
    assert "setting 'foo'" in err and "got foo=1" in err
    assert main(["run", "garrod2025-theorem1", "--set", "foo=1"]) == 2  # an experiment's table: the same message
    err = capsys.readouterr().err
    assert "setting 'foo'" in err and "got foo=1" in err and err.count("\n") == 1


def test_classify_params_tables():
    import nclab
    from nclab.ufm import classify_params

    spec = nclab.UFMSpec.garrod(K=4, n=2, d=6, L=2, lam=2**-6)
    res = nclab.train(spec, seeds=range(3), steps=20, optimizer="gd", lr=0.5)
    seeds = classify_params(spec, res.params, table="seeds")
    counts = classify_params(spec, res.params, table="counts")
    assert list(seeds.columns) == ["seed", "label", "rank", "etf_error", "spread"] and len(seeds) == 3
    assert list(counts.columns) == ["label", "rank", "count", "fraction"] and counts["count"].sum() == 3
    assert counts["fraction"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="table"):
        classify_params(spec, res.params, table="bogus")
    from nclab.theory import classify_params as from_theory
    assert from_theory is classify_params
