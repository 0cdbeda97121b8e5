"""garrod2025-theorem7 (GK Theorem 7, proof B.9): the experiment's engine line, judge and profiles."""
import math

import numpy as np
import pytest
import torch

from nclab import theory as T
from nclab.experiments.garrod2025 import theorem7
from nclab.experiments.registry import get, run
from nclab.ufm.objective import parts
from nclab.ufm.spec import UFMSpec

IDS = {"construction_beats_dnc_bound_in_region", "stated_region_inside_construction_region",
       "construction_not_smooth_critical_point"}


def test_construction_is_linear_in_psi_so_the_engine_line_is_exact():
    one, psi = T.relu_construction(11, 3, 13, 4, 1.0), 0.83
    c = T.relu_construction(11, 3, 13, 4, psi)
    for a, b in zip(c.params.tensors(), one.params.tensors()):
        assert torch.allclose(a, psi * b, atol=1e-14)
    line = theorem7.EngineLine(11, 3, 13, 4)
    lam = 2.0 ** -9
    got = line.losses([0.0, psi, 1.2], lam)
    spec = UFMSpec.garrod(11, 3, 13, 4, lam, activation="relu")
    want = [float(parts(spec, T.relu_construction(11, 3, 13, 4, p).params)["loss"][0]) for p in (0.0, psi, 1.2)]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[0] == pytest.approx(math.log(11))


def test_engine_optimum_is_found_without_the_closed_form_and_agrees_with_it():
    for K, L, lam in [(10, 5, 2.0 ** -9), (17, 4, 2.0 ** -12), (12, 7, 2.0 ** -6)]:
        e = theorem7.engine_optimum(K, 5, K + 2, L, lam)
        assert e["loss"] == pytest.approx(e["loss_closed_form"], abs=1e-12)
        assert e["psi"] == pytest.approx(e["psi_closed_form"], rel=1e-6)


def test_judge_fails_on_a_violation_and_on_a_descending_direction():
    config = get(theorem7.NAME).config(quick=True)
    rows = theorem7.region(config)
    grid = [{"K": 10, "L": 5, "lam": 2.0 ** -9, "loss": 0.14, "dnc_bound": 0.139832, "margin": -1.7e-4},
            {"K": 14, "L": 4, "lam": 2.0 ** -9, "loss": 0.1995, "dnc_bound": 0.2025, "margin": 3e-3}]
    probe = {"K": 10, "L": 5, "d": 12, "lam": 2.0 ** -9, "h": 1e-6, "directions": 3, "psi": 1.0, "loss": 0.13,
             "min_D_plus": 1e-3, "min_D_minus": -2e-4, "min_sum": 8e-4, "kinks_per_layer": [50],
             "padding_kinks_per_layer": [100], "exact_zeros_per_layer": [100], "entries_per_layer": [600],
             "most_negative_pre_activation": 0.0}
    claims = {c.id: c for c in theorem7.judge(config, grid, rows, probe)}
    assert set(claims) == IDS
    a = claims["construction_beats_dnc_bound_in_region"]
    assert not a.passed and a.measured["violations"] == [[10, 5, 2.0 ** -9]]
    assert a.measured["worst_margin"] == pytest.approx(-1.7e-4)
    assert not claims["construction_not_smooth_critical_point"].passed
    assert claims["stated_region_inside_construction_region"].passed
    # a region cell the condition does not cover fails the containment check
    bad = rows + [{"K": 41, "L": 3, "paper": True, "condition": False}]
    assert not {c.id: c for c in theorem7.judge(config, grid[1:], bad, {**probe, "min_D_minus": 1e-3})}[
        "stated_region_inside_construction_region"].passed
    assert not {c.id: c for c in theorem7.judge(config, [], rows, probe)}["construction_beats_dnc_bound_in_region"].passed


def test_config_refuses_a_probe_width_below_K():
    with pytest.raises(ValueError, match="crit_d"):
        run(theorem7.NAME, quick=True, crit_K=12, crit_d=10)


def _check_result(res, cells_at_least):
    claims = {c.id: c for c in res.claims + res.checks}
    assert IDS <= set(claims)
    a = claims["construction_beats_dnc_bound_in_region"]
    assert a.kind == "claim" and a.passed and a.measured["cells"] >= cells_at_least and a.measured["worst_margin"] > 0
    b = claims["stated_region_inside_construction_region"]
    assert b.kind == "check" and b.passed and b.measured["condition_beyond_paper_from"]["L=6 even"] == 8
    c = claims["construction_not_smooth_critical_point"]
    assert c.kind == "check" and c.measured["kinks_per_layer"] == [50, 50, 50, 50]
    assert c.passed == (c.measured["min_D_plus"] > 0 and c.measured["min_D_minus"] > 0)
    assert claims["closed_form_vs_engine"].passed
    fig6 = res.metrics["fig6"]
    assert fig6["loss"] > fig6["dnc_bound"] and np.isclose(fig6["dnc_bound"], 0.147061, atol=1e-6)
    assert any("Figure 6" in n and f"{fig6['loss']:.6f}" in n for n in res.notes)
    assert "theorem7" in res.figure_objects


def test_quick_profile_runs_and_has_the_three_claims():
    res = run(theorem7.NAME, quick=True)
    _check_result(res, cells_at_least=10)


@pytest.mark.slow
def test_full_profile():
    res = run(theorem7.NAME, quick=False)
    _check_result(res, cells_at_least=100)
    assert res.config["directions"] == 200 and res.config["Ks"] == list(range(10, 21))
