"""mixon2022-fig1/fig2/subspace: quick profiles run end to end, every claim passes, the table refuses bad settings."""
import json

import numpy as np
import pytest

from nclab.experiments import get, run
from nclab.experiments.coverage import paper_coverage
from nclab.experiments.mixon2022._gd import RATE_TOL, initial_params, rate_over_seeds, record_steps, seed_slopes
from nclab.experiments.sweep_kinds import run_experiment


@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_quick_profile_claims_pass(name, tmp_path):
    result = run(name, quick=True, out=tmp_path)
    assert result.claims and all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["experiment"] == name and data["config"]["init_norm"] == "each"
    assert data["config"]["seeds"] == [0, 1, 2] and data["config"]["dtype"] == "float64"
    assert all((tmp_path / f).exists() for f in data["figures"])


def test_initial_norms_and_schedule():
    H, W, b = initial_params(3, 3, 15, [1e-1, 1e-3], [0, 1], "each")
    assert np.allclose(H.flatten(1).norm(dim=1).numpy(), [1e-1, 1e-1, 1e-3, 1e-3])
    assert np.allclose(W.flatten(1).norm(dim=1).numpy(), [1e-1, 1e-1, 1e-3, 1e-3])
    assert float(b.abs().max()) == 0.0
    H, W, _ = initial_params(3, 3, 15, [1e-2], [0], "total")
    assert float((H.square().sum() + W.square().sum()).sqrt()) == pytest.approx(1e-2)
    steps = record_steps(1000, 20)
    assert steps[0] == 0 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)


def test_seeds_are_a_list_and_each_seed_is_its_own_start():
    H, _, _ = initial_params(3, 3, 15, [1.0], [0, 7], "each")
    H7, _, _ = initial_params(3, 3, 15, [1.0], [7], "each")
    assert torch_equal(H[1], H7[0]) and not torch_equal(H[0], H7[0])
    assert get("mixon2022-fig1").config(seeds=2)["seeds"] == [0, 1]
    assert get("mixon2022-fig1").seed_key == get("mixon2022-fig2").seed_key == "seeds"


def torch_equal(a, b):
    return bool((a == b).all())


def test_eps_taken_in_decreasing_order():
    a = run("mixon2022-fig1", quick=True, eps=[1e-3, 1e-1], seeds=1, steps=50, num_records=5)
    b = run("mixon2022-fig1", quick=True, eps=[1e-1, 1e-3], seeds=1, steps=50, num_records=5)
    assert [c.measured for c in a.claims] == [c.measured for c in b.claims]
    assert list(a.claims[0].measured["WWt"]) == ["0.1", "0.001"]


@pytest.mark.parametrize("overrides, key", [
    ({"eps": [0.1, -1.0]}, "eps"), ({"eps": []}, "eps"), ({"eps": 0.1}, "eps"), ({"eps": [0.1, 0.1]}, "eps"),
    ({"init_norm": "sphere"}, "init_norm"), ({"dtype": "float16"}, "dtype"), ({"seeds": 0}, "seeds"),
    ({"seeds": [1, 1]}, "seeds"), ({"steps": 0}, "steps"), ({"lr": 0}, "lr"), ({"num_records": 1}, "num_records"),
    ({"C": 1}, "C"), ({"p": 1}, "p"),
])
@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_bad_settings_are_refused_naming_the_key(name, overrides, key):
    with pytest.raises(ValueError, match=f"setting '{key}' of experiment '{name}'"):
        run(name, quick=True, **overrides)


def test_fig2_burn_in_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="setting 'burn_in' of experiment 'mixon2022-fig2'"):
        run("mixon2022-fig2", quick=True, burn_in=0)
    with pytest.raises(ValueError, match="setting 'burn_in'.*< steps"):
        run("mixon2022-fig2", quick=True, burn_in=1500)


EXPONENTS = {"mixon2022-fig1": {"WWt_error_rate": 2.0, "H_error_rate": 1.0, "b_error_rate": 1.0},
             "mixon2022-fig2": {"distance_is_O_eps": 1.0, "final_distance_is_O_eps": 1.0}}


@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_rate_claims_fit_the_theory_exponents_over_seeds(name):
    result = run(name, quick=True)
    claims = {c.id: c for c in result.claims}
    for cid, target in EXPONENTS[name].items():
        c = claims[cid]
        assert c.rule == "rate" and c.n_seeds == 3 and len(c.measured["slope_per_seed"]) == 3
        low, high = c.interval
        assert target - RATE_TOL <= low <= c.estimate <= high <= target + RATE_TOL
        assert c.estimate == pytest.approx(np.mean(c.measured["slope_per_seed"]))


def test_rate_rule_can_fail():
    assert rate_over_seeds(np.array([1.0, 1.01, 0.99]), 1.0).passed
    assert not rate_over_seeds(np.array([1.3, 1.31, 1.29]), 1.0).passed  # wrong exponent
    assert not rate_over_seeds(np.array([0.5, 1.5, 1.0]), 1.0).passed  # interval too wide
    assert not rate_over_seeds(np.array([1.0]), 1.0).passed  # one seed: infinite interval
    assert not rate_over_seeds(np.array([1.0, np.nan]), 1.0).passed
    eps = [1e-1, 1e-2, 1e-3]
    vals = np.array([[3 * e ** 2, 5 * e ** 2] for e in eps])
    assert np.allclose(seed_slopes(eps, vals), [2.0, 2.0])
    assert np.isnan(seed_slopes([0.1], vals[:1])).all()


def test_fig1_with_one_eps_fails_its_rate_claims():
    result = run("mixon2022-fig1", quick=True, eps=[1e-2], steps=50, num_records=5)
    assert not any(c.passed for c in result.claims)


def test_subspace_quick_profile_claims_pass(tmp_path):
    result = run("mixon2022-subspace", quick=True, out=tmp_path)
    claims = [c for c in result.claims if c.kind == "claim"]
    assert len(claims) == 5 and all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
    assert all(c.n_seeds == 60 for c in claims[:4]) and claims[4].n_seeds == 20
    assert (tmp_path / "subspace_convergence.png").exists()


def test_points_on_S_lie_on_S_and_autograd_matches_the_closed_gradient():
    import torch

    from nclab.experiments.mixon2022.subspace import autograd_gradient, points_on_S
    from nclab.theory.shallow.strong_collapse import distance_to_S, mixon_gradients

    H, W, b = points_on_S(4, 2, 6, [0.5, 2.0], [0, 1, 2])
    assert H.shape == (6, 6, 8) and W.shape == (6, 4, 6) and b.shape == (6, 4)
    assert float(distance_to_S(H, W, b, 2).max()) < 1e-15
    assert torch.allclose(W[3:], 4 * W[:3], rtol=0, atol=1e-14)  # one direction per seed, scaled
    g = torch.Generator().manual_seed(5)
    Hr, Wr, br = (torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (H, W, b))
    for auto, closed in zip(autograd_gradient(Hr, Wr, br, 2), mixon_gradients(Hr, Wr, br, 2)):
        assert torch.allclose(auto, closed, rtol=1e-12, atol=1e-14)
    # off S the gradient leaves S: the invariance check is not vacuous
    assert float(distance_to_S(*autograd_gradient(Hr, Wr, br, 2), 2).min()) > 1e-2


def test_subspace_claims_can_fail():
    from nclab.experiments.mixon2022.subspace import judge

    cfg = get("mixon2022-subspace").config(quick=True)
    ok, bad = np.zeros(4), np.array([0.0, 0.0, 1e-6, 0.0])
    final = {"WWt": np.array([0.0, 0.0, 0.0, 0.5]), "H": np.zeros(4), "b": np.zeros(4)}
    claims = {c.id: c for c in judge(cfg, bad, np.ones(4), bad, bad, final, final["WWt"] <= 1e-8)}
    assert not any(claims[k].passed for k in ("gradient_lies_in_S", "gd_started_on_S_stays_on_S",
                                              "risk_on_S_decomposes", "flow_on_S_reaches_strong_nc"))
    claims = {c.id: c for c in judge(cfg, ok, np.zeros(4), ok, ok, final, np.ones(4, bool))}
    assert claims["gradient_lies_in_S"].passed and not claims["gradient_off_S_leaves_S"].passed


def test_coverage_names_the_claims_of_the_quick_runs():
    made = {f"{n}/{c.id}" for n in ("mixon2022-fig1", "mixon2022-fig2", "mixon2022-subspace")
            for c in run(n, quick=True).claims if c.kind == "claim"}
    items = paper_coverage("mixon2022")
    covered = {c for item in items for c in item.claims}
    assert covered and covered <= made and made <= covered
    assert {i.ref for i in items} >= {"Lemma 1", "Theorem 2", "Theorem 3", "Lemma 4", "Figure 1", "Figure 2"}
    assert all(i.reason.startswith("not covered") for i in items if not i.claims)


def test_divergent_step_size_names_lr():
    with pytest.raises(ValueError, match="lr must be a step size"):
        run("mixon2022-fig1", quick=True, lr=50.0, seeds=1, steps=200, num_records=3)


def test_sweep_gives_one_row_per_seed():
    cfg = get("mixon2022-fig1").config(quick=True, steps=30, num_records=4)
    rows = run_experiment("mixon2022-fig1", cfg, [0, 3], "cpu")
    key = "final_WWt_eps=0.1"
    assert len(rows) == 2 and rows[0]["metrics"][key] != rows[1]["metrics"][key]
    alone = run("mixon2022-fig1", quick=True, steps=30, num_records=4, seeds=[3])
    assert rows[1]["metrics"][key] == alone.metrics[key]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2", "mixon2022-subspace"])
def test_full_profile_claims_pass(name):
    result = run(name, quick=False)
    assert all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
