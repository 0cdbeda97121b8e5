"""`nclab metrics FILE.npz`: JSON round trip and exit code 2 on every bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nclab.cli import main
from nclab.metrics import collapse


def write(tmp_path, name="m.npz", **arrays):
    g = np.random.default_rng(0)
    base = dict(features=g.normal(size=(12, 4)), labels=np.arange(12) % 3, weight=g.normal(size=(3, 4)), bias=g.normal(size=3))
    base.update(arrays)
    path = tmp_path / name
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path, base


def run(capsys, *argv):
    code = main(["metrics", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_round_trip(tmp_path, capsys):
    path, arrays = write(tmp_path)
    code, out, err = run(capsys, path)
    assert code == 0 and err == ""
    got = json.loads(out)
    want = collapse(arrays["features"], arrays["labels"], arrays["weight"], arrays["bias"])
    assert list(got) == list(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-15)
    code, out, _ = run(capsys, path, "--json", "--global-mean", "samples", "--no-center-weight", "--rtol", "1e-8")
    assert code == 0 and len(out.strip().splitlines()) == 1
    want = collapse(arrays["features"], arrays["labels"], arrays["weight"], arrays["bias"],
                    global_mean="samples", center_weight=False, rtol=1e-8)
    assert json.loads(out) == pytest.approx(want, rel=1e-15)


def test_features_only_and_batched(tmp_path, capsys):
    g = np.random.default_rng(1)
    path, _ = write(tmp_path, features=g.normal(size=(2, 12, 4)), weight=None, bias=None)
    code, out, _ = run(capsys, path)
    got = json.loads(out)
    assert code == 0 and "nc3_duality" not in got and len(got["nc1"]) == 2


def test_omit_undefined_flag(tmp_path, capsys):
    path, _ = write(tmp_path, features=np.random.default_rng(2).normal(size=(12, 1)), weight=None, bias=None)
    code, out, _ = run(capsys, path, "--omit-undefined")
    assert code == 0 and "nc2_etf_features" not in json.loads(out) and "nc1" in json.loads(out)


def test_undefined_metric_is_null(tmp_path, capsys):
    path, _ = write(tmp_path, features=np.zeros((12, 4)), weight=None, bias=None)
    code, out, _ = run(capsys, path)
    assert code == 0 and json.loads(out)["nc1"] is None


BAD = {
    "non-integer labels": (dict(labels=np.arange(12) % 3 + 0.5), "labels"),
    "labels out of range": (dict(labels=np.r_[np.arange(11) % 3, -1]), "label -1"),
    "string labels": (dict(labels=np.array(list("abcabcabcabc"))), "labels"),
    "one class": (dict(labels=np.zeros(12, dtype=int)), "number of classes"),
    "empty class": (dict(labels=np.arange(12) % 3 * 2), "no sample of class 1"),
    "shape mismatch": (dict(labels=np.arange(11) % 3), "one label per sample"),
    "nan features": (dict(features=np.full((12, 4), np.nan)), "NaN or inf"),
    "inf weight": (dict(weight=np.full((3, 4), np.inf)), "NaN or inf"),
    "weight shape": (dict(weight=np.ones((3, 5))), "weight"),
    "bias shape": (dict(bias=np.ones(4)), "bias"),
    "d < K-1": (dict(features=np.ones((12, 1)), weight=None, bias=None), "d >= K - 1"),
    "no labels": (dict(labels=None), "'labels'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exit_2(tmp_path, capsys, case):
    arrays, match = BAD[case]
    path, _ = write(tmp_path, **arrays)
    code, out, err = run(capsys, path)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and match in err and "Traceback" not in err


def test_bad_files_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "missing.npz")
    assert code == 2 and "missing.npz" in err
    junk = tmp_path / "junk.npz"
    junk.write_text("not an archive")
    code, _, err = run(capsys, junk)
    assert code == 2 and "npz" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "single.npy", np.ones(3))
    code, _, err = run(capsys, tmp_path / "single.npy")
    assert code == 2
    code, _, err = run(capsys, tmp_path)
    assert code == 2
    path, _ = write(tmp_path)
    code, _, err = run(capsys, path, "--rtol", "-1")
    assert code == 2 and "rtol" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["metrics", "--help"])
    assert exc.value.code == 0
    assert "FILE.npz" in capsys.readouterr().out


def test_real_subprocess(tmp_path):
    path, arrays = write(tmp_path)
    exe = Path(sys.executable).with_name("nclab")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nclab"]
    ok = subprocess.run([*cmd, "metrics", str(path), "--json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["nc1"] == pytest.approx(collapse(arrays["features"], arrays["labels"])["nc1"])


def test_lists_the_arrays_found_and_accepts_the_other_names(tmp_path, capsys):
    g = np.random.default_rng(3)
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3), b=np.ones(3))
    code, out, err = run(capsys, path)
    assert code == 2 and "['a', 'b']" in err and "'features'" in err and "'X'" in err and out == ""
    X, y = g.normal(size=(12, 4)), np.arange(12) % 3
    path = tmp_path / "xy.npz"
    np.savez(path, X=X, y=y)
    code, out, err = run(capsys, path)
    assert code == 0 and "note: using array 'X' as 'features'" in err and "'y' as 'labels'" in err
    assert json.loads(out)["nc1"] == pytest.approx(collapse(X, y)["nc1"], rel=1e-15)


def test_classes_subset(tmp_path, capsys):
    path, arrays = write(tmp_path)
    code, out, err = run(capsys, path, "--classes", "2,0")
    assert code == 0 and err == ""
    want = collapse(arrays["features"], arrays["labels"], arrays["weight"], arrays["bias"], classes=[2, 0])
    assert json.loads(out) == pytest.approx(want, rel=1e-15)
    for bad, match in (("0,x", "--classes must be comma-separated"), ("0,3", "3 is not a class"),
                       ("1,1", "more than once"), ("1", "at least 2")):
        code, out, err = run(capsys, path, "--classes", bad)
        assert code == 2 and out == "" and match in err and "Traceback" not in err
