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
    (["--preset", "garrod", "--set", "K=1"], "K must be"),
    (["--set", "K=3", "--set", "n=2", "--set", "d=3", "--set", "bogus=1"], "--set key"),
    (["--set", "n=2", "--set", "d=3"], "K"),
    (["--preset", "garrod", "--set", "lr=-1"], "lr must be"),
    (["--preset", "garrod", "--set", "optimizer=sgd"], "optimizer must be"),
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
