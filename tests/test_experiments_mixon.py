"""mixon2022-fig1/fig2: quick profiles run end to end, every claim passes, the table refuses bad settings."""
import json

import numpy as np
import pytest

from nclab.experiments import get, run
from nclab.experiments.mixon2022._gd import initial_params, record_steps
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
    assert a.claims[0].measured == b.claims[0].measured
    assert list(a.claims[0].measured["WWt"]) == ["0.1", "0.001"]


@pytest.mark.parametrize("overrides, key", [
    ({"eps": [0.1, -1.0]}, "eps"), ({"eps": []}, "eps"), ({"eps": 0.1}, "eps"), ({"eps": [0.1, 0.1]}, "eps"),
    ({"init_norm": "sphere"}, "init_norm"), ({"dtype": "float16"}, "dtype"), ({"seeds": 0}, "seeds"),
    ({"seeds": [1, 1]}, "seeds"), ({"steps": 0}, "steps"), ({"lr": 0}, "lr"), ({"num_records": 1}, "num_records"),
    ({"C": 1}, "C"), ({"spread_bound": 0.5}, "spread_bound"), ({"p": 1}, "p"),
])
@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_bad_settings_are_refused_naming_the_key(name, overrides, key):
    with pytest.raises(ValueError, match=f"setting '{key}' of experiment '{name}'"):
        run(name, quick=True, **overrides)


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
@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_full_profile_claims_pass(name):
    result = run(name)
    assert all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
