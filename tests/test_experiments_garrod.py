"""Garrod & Keating 2025 experiments: registered, their quick profiles run, claims decided by their rules."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from nclab.experiments import get, rules, run
from nclab.experiments.garrod2025 import lambda_sweep, width

NAMES = ["garrod2025-theorem1", "garrod2025-fig1", "garrod2025-width", "garrod2025-lambda", "garrod2025-relu",
         "garrod2025-hessian", "garrod2025-dimension"]


def test_all_registered_with_full_profiles():
    for name in NAMES:
        exp = get(name)
        assert exp.paper == "garrod2025" and exp.description
        assert set(exp.quick) <= set(exp.defaults)


#: Claims that fail on the paper's own terms (findings, see the experiment's notes): they must stay as found.
#: The quick ReLU point (4 seeds, 4000 steps) finds no run below the DNC bound; the full profile runs 100 seeds.
FINDINGS = {"garrod2025-dimension": {"dnc_dimension_measured", "below_one_at_K_measured"},
            "garrod2025-relu": {"relu_runs_below_dnc_bound"},
            # at width 30 every quick run ends at DNC (rank 9) for every lam of the grid
            "garrod2025-sukenik": {"rank_falls_as_lam_grows"}}


def _check(name, tmp_path):
    res = run(name, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["experiment"] == name and data["claims"]
    for fig in data["figures"]:
        assert (tmp_path / fig).stat().st_size > 0
    failed = {c.id for c in res.claims if not c.passed}
    assert failed == FINDINGS.get(name, set()), failed
    return res


@pytest.mark.parametrize("name", ["garrod2025-theorem1", "garrod2025-dimension", "garrod2025-hessian",
                                  "garrod2025-fig1", "garrod2025-relu"])
def test_experiments_quick(name, tmp_path):
    """Quick profiles of 1-7 s each on an idle 2-core machine."""
    _check(name, tmp_path)


def test_quick_fig1_and_relu_report_seeds_and_checks(tmp_path):
    fig1 = {c.id: c for c in run("garrod2025-fig1", quick=True).claims}
    assert fig1["both_types"].n_seeds == 4 and fig1["both_types"].rule == "count"
    assert fig1["low_rank_run_below_dnc_run"].passed
    relu = run("garrod2025-relu", quick=True)
    assert [c.id for c in relu.checks] == ["thm7_table_contains_main_text"]  # a transcription check, not a claim
    assert [c.id for c in relu.claims] == ["relu_dnc_above_linear_bound", "relu_runs_below_dnc_bound"]
    assert relu.claims[0].n_seeds == relu.claims[1].n_seeds == 4


def _rows(points, K=10):
    """Synthetic stored rows: ``points`` is [(d, lam, init_H, dnc count, seeds)]."""
    out = []
    for d, lam, init, k, n in points:
        for s in range(n):
            out.append({"config_hash": f"{d}-{lam}-{init}", "seed": s, "K": K, "n": 5, "L": 2, "d": d, "lam": lam,
                        "init_H": init, "label": "dnc" if s < k else "low_rank", "rank": 9 if s < k else 5,
                        "loss": 0.09 if s < k else 0.08})
    return pd.DataFrame(out)


def test_width_rules_magnitude_at_the_ends_and_trend_per_init():
    """100 seeds per point: 0/100 -> 100/100 passes all three; 50/100 at the largest width fails the magnitude."""
    rows = _rows([(10, 2 ** -10, "unit", 0, 100), (50, 2 ** -10, "unit", 40, 100), (200, 2 ** -10, "unit", 100, 100),
                  (10, 2 ** -10, "fan_in", 0, 100), (50, 2 ** -10, "fan_in", 10, 100),
                  (200, 2 ** -10, "fan_in", 50, 100)])
    out = width.judge({"init_H": ["unit", "fan_in"]}, rows)
    got = {c.id: c for c in out.claims}
    assert {k: c.passed for k, c in got.items()} == {
        "p_dnc_about_0_at_smallest_width_unit": True, "p_dnc_about_1_at_largest_width_unit": True,
        "p_dnc_grows_with_width_unit": True, "p_dnc_about_0_at_smallest_width_fan_in": True,
        "p_dnc_about_1_at_largest_width_fan_in": False, "p_dnc_grows_with_width_fan_in": True,
        # synthetic rows carry no balance gap or per-layer metrics: those universal claims have no run, so fail
        "solution_rank_grows_with_width": True, "lemma1_trained_runs_balanced": False,
        "dnc_runs_collapse_at_every_layer": False}
    end = got["p_dnc_about_1_at_largest_width_fan_in"]
    assert end.n_seeds == 100 and end.estimate == 0.5 and end.interval[0] < 0.8 and "about 100%" in end.expected
    assert "underpowered" not in end.note
    table = out.tables["width"]
    assert all(r["n_seeds"] == 100 and len(r["p_dnc_interval"]) == 2 for r in table)
    # 10 seeds (the paper's count, the quick profile's) cannot show "about 0%": 0/10 has Wilson upper 0.28
    few = width.judge({"init_H": ["unit"]}, _rows([(10, 2 ** -10, "unit", 0, 10), (200, 2 ** -10, "unit", 10, 10)]))
    ends = [c for c in few.claims if "about" in c.id]
    assert not any(c.passed for c in ends) and all("≥ 16 seeds" in c.note for c in ends)


def test_lambda_rule_is_a_one_sided_trend_test():
    rising = _rows([(70, 2.0 ** e, "unit", k, 100) for e, k in ((-7, 5), (-10, 15), (-13, 30))])
    flat = _rows([(70, 2.0 ** e, "unit", 10, 100) for e in (-7, -10, -13)])
    falling = _rows([(70, 2.0 ** e, "unit", k, 100) for e, k in ((-7, 30), (-10, 15), (-13, 5))])
    verdicts = [lambda_sweep.judge({}, r).claims[0] for r in (rising, flat, falling)]
    assert [c.passed for c in verdicts] == [True, False, False]
    assert verdicts[0].measured["p_value"] < 0.05 and verdicts[0].n_seeds == 100


def _same_verdicts_as_tables(result):
    """Each end claim and trend claim recomputed from the per-point table of the result (the rank,
    Lemma 1 and per-layer claims are checked by their own tests)."""
    for c in result.claims:
        m = c.measured
        if not isinstance(m, dict) or "k_dnc" not in m:
            continue
        if "k_dnc" in m and isinstance(m["k_dnc"], list):
            xs = [math.log2(d) for d in m["d"]] if "d" in m else [-e for e in m["log2_lam"]]
            assert c.passed == rules.trend(xs, m["k_dnc"], m["n_seeds"]).passed, c.id
        else:
            est = rules.proportion(m["k_dnc"], m["n_seeds"])
            want = est.high <= width.ABOUT_0 if "about_0" in c.id else est.low >= width.ABOUT_1
            assert c.passed == want and c.interval == [est.low, est.high], c.id


@pytest.mark.slow
def test_sweep_experiments_quick(tmp_path):
    """Width and lambda quick profiles (6 and 3 batched calls of 10 seeds, ~5 s each idle): the quick
    numbers of before (same seeds), the trend claims of the reference init pass, and the end claims,
    underpowered at 10 seeds, fail and say what they would need."""
    res = run("garrod2025-width", quick=True, out=tmp_path / "w")
    assert res.metrics["p_dnc_unit"] == [0.0, 0.0, 0.4] and res.metrics["p_dnc_fan_in"] == [0.0, 0.0, 0.0]
    got = {c.id: c for c in res.claims}
    assert got["p_dnc_grows_with_width_unit"].passed and not got["p_dnc_grows_with_width_fan_in"].passed
    assert all(not c.passed and "underpowered" in c.note for k, c in got.items() if "about" in k)
    _same_verdicts_as_tables(res)
    lam = run("garrod2025-lambda", quick=True, out=tmp_path / "l")
    assert lam.metrics["p_dnc"] == [0.0, 0.2, 0.5] and lam.claims[0].passed and lam.claims[0].n_seeds == 10
    _same_verdicts_as_tables(lam)


def test_bad_settings():
    with pytest.raises(ValueError):
        run("garrod2025-theorem1", quick=True, nonsense=1)
    with pytest.raises(ValueError, match="init_H"):
        run("garrod2025-fig1", quick=True, init_H="huge", seeds=1, steps=1, polish_steps=0)
    with pytest.raises(ValueError, match="d"):
        run("garrod2025-hessian", quick=True, d=5)


@pytest.mark.parametrize("name, overrides", [("garrod2025-fig1", {"d": 5}), ("garrod2025-width", {"ds": [5, 10]})])
def test_training_experiments_need_width_at_least_K(name, overrides, tmp_path):
    with pytest.raises(ValueError, match=r"setting 'd' of experiment .* must be at least K = 10 .*d >= K\), got 5"):
        run(name, quick=True, out=tmp_path / "x", **overrides)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name, key, value, match", [
    ("garrod2025-width", "ds", [12, 12], "ds"),
    ("garrod2025-width", "init_H", ["unit", 0.0], "init_H"),
    ("garrod2025-lambda", "lams_log2", [-7], "lams_log2"),
    ("garrod2025-fig1", "lr", 0.0, "lr"),
    ("garrod2025-relu", "table_Ks", [3, 2], "table_Ks"),
    ("garrod2025-fig1", "seeds", 0, "seeds"),
])
def test_config_tables_refuse_bad_values_before_any_run(name, key, value, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run(name, quick=True, store=tmp_path / "s.sqlite", **{key: value})
    assert not (tmp_path / "s.sqlite").exists()


def test_multi_seed_experiments_have_a_grid_and_seed_lists():
    for name in ["garrod2025-fig1", "garrod2025-width", "garrod2025-lambda", "garrod2025-relu"]:
        exp = get(name)
        assert exp.grid is not None and exp.config(seeds=3)["seeds"] == [0, 1, 2]
        assert exp.grid.params["activation"].default == ("relu" if name.endswith("relu") else "linear")


def _real_head_metrics(**changes):
    """A real-head metrics dict of the shape ``judge`` reads (K = 10), with ``changes``."""
    metrics = {"deep-ufm_rank": 4, "deep-ufm_head_loss": {"total": 0.08}, "dnc_bound": 0.09,
               "deep-ufm_train_error": 0.0, "standard_rank": 9, "standard_train_error": 0.0,
               "relu-head_rank": 3, "relu-head_head_loss": {"total": 0.1}, "relu_dnc_bound": 0.11,
               "relu-head_train_error": 0.0}
    metrics.update(changes)
    return metrics


def test_real_head_rank_rule_is_the_papers_number_for_its_data_set():
    from nclab.experiments.garrod2025.real_head import judge

    def claim(data, rank, model="resnet"):
        cfg = {"data": data, "model": model, "rank_tol": 1e-6, "seed": 0, "relu_L": 4}
        return judge(cfg, _real_head_metrics(**{"deep-ufm_rank": rank}), 10)[0]

    assert claim("mnist", 4).passed and not claim("mnist", 3).passed and not claim("mnist", 9).passed
    assert claim("cifar10", 3).passed and not claim("cifar10", 4).passed
    assert claim("digits", 4).passed and claim("digits", 8).passed and not claim("digits", 9).passed
    assert "neither MNIST" in claim("digits", 4).note and "rank = 4" in claim("mnist", 4).expected
    assert "not the paper's ResNet-20" in claim("mnist", 4, model="mlp").note


def test_real_head_relu_claims_rank_at_zero_error_and_the_l4_bound():
    """The ReLU head's rules: 1 <= rank < K - 1 only at zero training error ("not converged" otherwise), and the
    loss strictly below the linear DNC bound at relu_L."""
    from nclab.experiments.garrod2025.real_head import judge

    cfg = {"data": "digits", "model": "mlp", "rank_tol": 1e-6, "seed": 0, "relu_L": 4}

    def claims(**changes):
        return {c.id: c for c in judge(cfg, _real_head_metrics(**changes), 10)}

    ok = claims()
    assert ok["relu-head-low-rank-logits"].passed and ok["relu-head-loss-below-dnc-bound"].passed
    assert "not converged" not in ok["relu-head-low-rank-logits"].note
    assert "L = 4" in ok["relu-head-loss-below-dnc-bound"].expected
    for rank in (0, 9, 10):  # the all-zero point and DNC are not low rank
        assert not claims(**{"relu-head_rank": rank})["relu-head-low-rank-logits"].passed
    assert claims(**{"relu-head_rank": 8})["relu-head-low-rank-logits"].passed
    unfit = claims(**{"relu-head_train_error": 0.9})["relu-head-low-rank-logits"]
    assert not unfit.passed and unfit.note.startswith("not converged (training error 0.9")
    assert claims(**{"relu-head_train_error": 0.9})["relu-head-loss-below-dnc-bound"].note.startswith("not converged")
    assert "not converged" not in ok["relu-head-loss-below-dnc-bound"].note
    assert not claims(**{"relu-head_head_loss": {"total": 0.11}})["relu-head-loss-below-dnc-bound"].passed
    assert not claims(**{"relu-head_head_loss": {"total": 2.329}})["relu-head-loss-below-dnc-bound"].passed


def test_critical_point_claims_balance_gap_and_layers():
    """Lemma 1's balance on a hand-balanced deep linear point, a broken one, and the claims' rules."""
    import torch

    from nclab.experiments.garrod2025._critical import balance_gap, critical_point_claims

    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    S = torch.diag(torch.tensor([2.0, 1.0, 0.5, 0.0], dtype=torch.float64))
    H = U @ S @ V[:4]  # 4 x 6, singular values 2, 1, 0.5
    W1 = U @ S @ U.mT  # W1^T W1 = U S^2 U^T = H H^T
    W2 = Q @ S[:3] @ U.mT  # 3 x 4, W2^T W2 = U S^2 U^T (first three values) = W1 W1^T
    gap = balance_gap(H[None], (W1[None], W2[None]))
    assert float(gap) < 1e-14
    assert float(balance_gap(H[None], (2 * W1[None], W2[None]))) > 0.5
    rows = pd.DataFrame([{"label": "dnc", "balance_gap": 1e-7, "layer_nc1_max": 1e-9, "layer_nc2_max": 1e-8},
                         {"label": "low_rank", "balance_gap": 2e-3, "layer_nc1_max": 0.5, "layer_nc2_max": 0.5}])
    lemma, layers = critical_point_claims(rows, "test")
    assert not lemma.passed and lemma.measured["max_gap"] == 2e-3 and layers.passed and layers.n_seeds == 1
    lemma, _ = critical_point_claims(rows.iloc[:1], "test")
    assert lemma.passed


def test_sukenik_spec_is_the_deep_relu_mse_ufm():
    """UFMSpec.sukenik's objective against the formula written out, float64."""
    import torch

    from nclab.ufm.objective import parts
    from nclab.ufm.spec import UFMParams, UFMSpec

    K, n, d, L, lam = 3, 2, 4, 3, 0.01
    spec = UFMSpec.sukenik(K, n, d, L, lam)
    g = torch.Generator().manual_seed(0)
    H = torch.randn(1, d, K * n, generator=g, dtype=torch.float64)
    Ws = (torch.randn(1, d, d, generator=g, dtype=torch.float64), torch.randn(1, d, d, generator=g, dtype=torch.float64),
          torch.randn(1, K, d, generator=g, dtype=torch.float64))
    X = torch.relu(Ws[1][0] @ torch.relu(Ws[0][0] @ H[0]))
    Y = torch.eye(K, dtype=torch.float64).repeat_interleave(n, dim=1)
    want = ((Ws[2][0] @ X - Y).square().sum() / (2 * K * n)
            + lam / 2 * (H.square().sum() + sum(W.square().sum() for W in Ws)))
    got = parts(spec, UFMParams(H=H, W=Ws))["loss"]
    assert torch.allclose(got, want.reshape(1), rtol=1e-13, atol=0)


def test_sukenik_quick_profile(tmp_path):
    res = _check("garrod2025-sukenik", tmp_path)
    assert [c.id for c in res.claims] == ["p_dnc_grows_with_width", "rank_falls_as_lam_grows"]
    assert {r["d"] for r in res.tables["width"]} == {10, 30, 100} and len(res.tables["lam"]) == 3


def test_critical_point_stats_keep_nan_for_diverged_runs():
    import torch

    from nclab.experiments.garrod2025._critical import critical_point_stats
    from nclab.ufm.spec import UFMParams, UFMSpec

    spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    g = torch.Generator().manual_seed(0)
    H = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    W = (torch.randn(3, 4, 4, generator=g, dtype=torch.float64), torch.randn(3, 3, 4, generator=g, dtype=torch.float64))
    H[1, 0, 0] = float("nan")
    out = critical_point_stats(spec, UFMParams(H=H, W=W))
    assert np.isnan(out["balance_gap"][1]) and np.isnan(out["layer_nc1_max"][1])
    assert np.isfinite(out["balance_gap"][[0, 2]]).all() and np.isfinite(out["layer_nc1_max"][[0, 2]]).all()


def test_final_status_keeps_divergence_and_lets_the_polish_decide():
    from nclab.experiments.garrod2025._gd import final_status

    assert final_status("max_steps", None) == "max_steps"
    assert final_status("diverged", None) == "diverged" and final_status("diverged", "converged") == "diverged"
    assert final_status("max_steps", "converged") == "converged"
    assert final_status("max_steps", "max_steps") == "max_steps"


def test_convergence_notes_count_unpolished_unconverged_and_diverged_runs():
    import pandas as pd

    from nclab.experiments.garrod2025._gd import convergence_notes

    rows = pd.DataFrame({"train_status": ["converged", "max_steps", "max_steps", "diverged", "max_steps"],
                         "polish_steps": [100, 100, 100, 100, 0], "polish_tol": [1e-9] * 5})
    notes = convergence_notes(rows)
    assert len(notes) == 3
    assert notes[0].startswith("not converged: 2 of 5 runs stopped at polish_steps = 100") and "1e-09" in notes[0]
    assert notes[1].startswith("1 of 5 runs had no polish") and notes[2] == "1 of 5 runs diverged in gradient descent."
    assert convergence_notes(rows.assign(train_status="converged")) == []
    assert convergence_notes(rows.drop(columns="train_status")) == []  # a store of an older nclab: nothing to say
