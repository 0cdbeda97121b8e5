"""mixon2022-fig1/fig2: quick profiles run end to end and every claim passes."""
import json

import numpy as np
import pytest

from nclab.experiments import run
from nclab.experiments.mixon2022.figures import initial_params, record_steps


@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_quick_profile_claims_pass(name, tmp_path):
    result = run(name, quick=True, out=tmp_path)
    assert result.claims and all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["experiment"] == name and data["config"]["init_norm"] == "each"
    assert all((tmp_path / f).exists() for f in data["figures"])


def test_initial_norms_and_schedule():
    H, W, b = initial_params(3, 3, 15, [1e-1, 1e-3], 2, "each")
    assert np.allclose(H.flatten(1).norm(dim=1).numpy(), [1e-1, 1e-1, 1e-3, 1e-3])
    assert np.allclose(W.flatten(1).norm(dim=1).numpy(), [1e-1, 1e-1, 1e-3, 1e-3])
    assert float(b.abs().max()) == 0.0
    H, W, _ = initial_params(3, 3, 15, [1e-2], 1, "total")
    assert float((H.square().sum() + W.square().sum()).sqrt()) == pytest.approx(1e-2)
    steps = record_steps(1000, 20)
    assert steps[0] == 0 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="eps"):
        run("mixon2022-fig1", quick=True, eps=[0.1, -1.0])
    with pytest.raises(ValueError, match="init_norm"):
        run("mixon2022-fig2", quick=True, init_norm="sphere")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mixon2022-fig1", "mixon2022-fig2"])
def test_full_profile_claims_pass(name):
    result = run(name)
    assert all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
