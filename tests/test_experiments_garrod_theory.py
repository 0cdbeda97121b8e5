"""Garrod & Keating's closed-form experiments (theorem1, dimension, hessian): config tables and pieces."""
import subprocess
import sys

import numpy as np
import pytest

from nclab.experiments import get, run
from nclab.experiments.garrod2025 import dimension, hessian, theorem1

CLOSED_FORM = ["garrod2025-theorem1", "garrod2025-dimension", "garrod2025-hessian"]


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_deterministic_and_every_key_declared(name):
    exp = get(name)
    assert exp.seed_key is None and exp.grid is None
    module = {"garrod2025-theorem1": theorem1, "garrod2025-dimension": dimension, "garrod2025-hessian": hessian}[name]
    assert set(module.PARAMS) == set(exp.params) - {"device"}
    assert all(p.help for p in module.PARAMS.values())


@pytest.mark.parametrize("name, overrides, key", [
    ("garrod2025-theorem1", {"Ks": []}, "Ks"), ("garrod2025-theorem1", {"Ks": 5}, "Ks"),
    ("garrod2025-theorem1", {"Ks": [1, 2]}, "Ks"), ("garrod2025-theorem1", {"Ls": [3, 2]}, "Ls"),
    ("garrod2025-theorem1", {"lam": 0}, "lam"), ("garrod2025-theorem1", {"depths": [4]}, "depths"),
    ("garrod2025-theorem1", {"n": 0}, "n"),
    ("garrod2025-dimension", {"pairs": [[10]]}, "pairs"), ("garrod2025-dimension", {"pairs": [[10, 9]]}, "pairs"),
    ("garrod2025-dimension", {"pairs": [[10, 0]]}, "pairs"), ("garrod2025-dimension", {"d_max": -5}, "d_max"),
    ("garrod2025-dimension", {"d_max": 17}, "d_max"),
    ("garrod2025-hessian", {"K": 7}, "K"), ("garrod2025-hessian", {"d": 5}, "d"),
    ("garrod2025-hessian", {"small": [4, 2, 5]}, "small"), ("garrod2025-hessian", {"small": [3, 2, 5, 2]}, "small"),
    ("garrod2025-hessian", {"small": [4, 2, 3, 2]}, "small"), ("garrod2025-hessian", {"lams_log2": [-6, -8]}, "lams_log2"),
    ("garrod2025-hessian", {"lams_log2": [-6, -10, -8]}, "lams_log2"), ("garrod2025-hessian", {"lams_log2": [1, -2, -4]}, "lams_log2"),
    ("garrod2025-hessian", {"lanczos_tol": 0}, "lanczos_tol"),
])
def test_bad_settings_are_refused_naming_the_key(name, overrides, key):
    with pytest.raises(ValueError, match=f"setting '{key}' of experiment '{name}'"):
        run(name, quick=True, **overrides)


@pytest.mark.parametrize("name, setting", [
    ("garrod2025-theorem1", "Ks=[]"), ("garrod2025-theorem1", "Ks=5"),
    ("garrod2025-dimension", "pairs=[[10]]"), ("garrod2025-dimension", "d_max=-5"),
])
def test_cli_refuses_bad_settings_with_exit_2(name, setting, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nclab", "run", name, "--quick", "--set", setting, "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert f"setting '{setting.split('=')[0]}' of experiment '{name}'" in proc.stderr
    assert not (tmp_path / "result.json").exists()


def test_dimension_curves_and_claims():
    curves = {(10, 5): dimension.ratio_curves(10, 5, 30)}
    c = curves[(10, 5)]
    assert c["ds"][0] == 10 and c["ds"][-1] == 30 and len(c["low"]) == len(c["high"]) == 21
    assert all(lo <= hi for lo, hi in zip(c["low"], c["high"])) and c["limit"] == pytest.approx(1.8)
    claims = {cl.id: cl for cl in dimension.judge(curves, [14.0, 16.5])}
    assert all(cl.passed for cl in claims.values())
    assert not dimension.judge(curves, [14.0, 16.0])[-1].passed


def test_smaller_dimension_run_passes():
    res = run("garrod2025-dimension", pairs=[[6, 3], [5, 2]], d_max=40)
    assert all(c.passed for c in res.claims), [c.to_dict() for c in res.claims]
    assert set(res.claims[0].measured) == {"6,3", "5,2"}


def test_theorem2_tail_rule():
    loss = lambda dnc, block, r2: {"dnc (rank 9)": dnc, "block (rank 5)": block, "rank 2": r2}  # noqa: E731
    assert theorem1.lower_rank_wins_from(loss([1, 3, 3], [2, 2, 2], [3, 1, 1])) == ([1, 2], True)
    assert theorem1.lower_rank_wins_from(loss([3, 1, 3], [2, 2, 2], [1, 3, 1]))[1] is False  # not a tail
    assert theorem1.lower_rank_wins_from(loss([1, 3], [2, 2], [3, 1]))[1] is False  # only the last depth


def test_small_theorem1_table_run():
    res = run("garrod2025-theorem1", Ks=[2, 4, 6], Ls=[2, 3], depths=[1, 16, 48])
    claims = {c.id: c for c in res.claims}
    assert all(c.passed for c in res.claims), [c.to_dict() for c in res.claims]
    assert claims["condition_region"].measured["grid"] == "K 2..6, L 2..3"
    assert len(res.tables["theorem1"]) == 6 and [r["L"] for r in res.tables["theorem2_depth"]] == [1, 16, 48]


def test_hessian_pieces_at_a_small_size():
    cfg = get("garrod2025-hessian").config(quick=True, lams_log2=[-6, -8, -10])
    dense, agree = hessian.dense_spectra(cfg)
    Ks, ns, ds, Ls = cfg["small"]
    P = ds * Ks * ns + (Ls - 1) * ds * ds + Ks * ds
    assert agree and set(dense) == {"dnc", "low_rank"} and all(len(ev) == P for ev in dense.values())
    assert np.all(np.diff(dense["dnc"]) >= 0)
    ratios = hessian.norm_ratios(cfg)
    assert len(ratios) == 3 and all(0.1 < r < 10 for r in ratios)
