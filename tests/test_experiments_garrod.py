"""Garrod & Keating 2025 experiments: registered, their quick profiles run and every claim passes."""
import json

import pytest

from nclab.experiments import get, run

NAMES = ["garrod2025-theorem1", "garrod2025-fig1", "garrod2025-width", "garrod2025-lambda", "garrod2025-relu",
         "garrod2025-hessian", "garrod2025-dimension"]


def test_all_registered_with_full_profiles():
    for name in NAMES:
        exp = get(name)
        assert exp.paper == "garrod2025" and exp.description
        assert set(exp.quick) <= set(exp.defaults)


def _check(name, tmp_path):
    res = run(name, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["experiment"] == name and data["claims"]
    for fig in data["figures"]:
        assert (tmp_path / fig).stat().st_size > 0
    failed = [(c.id, c.measured) for c in res.claims if not c.passed]
    assert not failed, failed
    return res


@pytest.mark.parametrize("name", ["garrod2025-theorem1", "garrod2025-dimension", "garrod2025-hessian",
                                  "garrod2025-fig1", "garrod2025-relu"])
def test_experiments_quick(name, tmp_path):
    """Quick profiles of 1-7 s each on an idle 2-core machine."""
    _check(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["garrod2025-width", "garrod2025-lambda"])
def test_sweep_experiments_quick(name, tmp_path):
    """Width and lambda sweeps: 6 and 3 batched training calls of 10 seeds (~5-6 s each idle, more under load)."""
    _check(name, tmp_path)


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
