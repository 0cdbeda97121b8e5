"""The real-network experiments: registration, config tables, and their quick profiles (slow)."""
from __future__ import annotations

import json

import pytest

from nclab.config import ParameterTypeError
from nclab.experiments import get, run

#: Every claim of each experiment; at the quick profile on the CPU all of them reproduce.
CLAIMS = {
    "papyan-terminal-phase": [f"{loss}-{c}" for loss in ("ce", "mse") for c in (
        "zero-train-error", "nc1-falls", "nc2-etf-features-falls", "nc2-etf-weight-falls", "nc3-duality-falls",
        "nc4-ncc-mismatch-falls")],
    "tirer2023-layerwise": ["nc1-decreases-with-depth", "nc1-trace-ratio-decreases-with-depth"],
    "tirer2023-weight-decay": ["features-decay-moves-nc-more"],
    "garrod2025-real-head": ["low-rank-logits", "loss-below-dnc-bound"],
}
PAPERS = {"papyan-terminal-phase": "papyan2020", "tirer2023-layerwise": "tirer2023",
          "tirer2023-weight-decay": "tirer2023", "garrod2025-real-head": "garrod2025"}


@pytest.mark.parametrize("name", list(PAPERS))
def test_registered_with_paper_seed_key_and_data_root_default_none(name):
    exp = get(name)
    assert exp.paper == PAPERS[name]
    assert exp.seed_key == "seed"
    assert exp.defaults["data_root"] is None and exp.defaults["data"] == "digits"


@pytest.mark.parametrize("name", list(PAPERS))
@pytest.mark.parametrize("key,value,error", [
    ("data", "imagenet", ValueError), ("data_root", "", ValueError), ("n_per_class", 0, ValueError),
    ("epochs", 0, ValueError), ("lr", 0.0, ValueError), ("dtype", "float16", ValueError),
    ("seed", -1, ValueError), ("epochs", "ten", ParameterTypeError), ("batch_size", 2.5, ParameterTypeError),
])
def test_the_table_refuses_bad_values_naming_the_key(name, key, value, error):
    with pytest.raises(error, match=f"setting '{key}' of experiment '{name}'"):
        get(name).config(quick=True, **{key: value})


def test_experiment_keys_are_declared():
    with pytest.raises(ValueError, match="max_depth"):
        get("tirer2023-layerwise").config(max_depth=1)
    with pytest.raises(ValueError, match="depth"):  # layer-wise training always starts at one hidden layer
        get("tirer2023-layerwise").config(depth=3)
    with pytest.raises(ValueError, match="losses"):
        get("papyan-terminal-phase").config(losses=["ce", "hinge"])
    with pytest.raises(ValueError, match="metrics"):
        get("tirer2023-weight-decay").config(metrics=["nc9"])
    with pytest.raises(ValueError, match="lam_H"):
        get("garrod2025-real-head").config(lam_H=0.0)
    assert get("papyan-terminal-phase").config()["losses"] == ["ce", "mse"]


def test_files_on_disk_only_when_a_root_is_given(tmp_path):
    with pytest.raises(ValueError, match="data_root"):
        run("tirer2023-layerwise", quick=True, data="mnist")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path / "none"))


def test_garrod_needs_a_balanced_training_set():
    with pytest.raises(ValueError, match="setting 'n_per_class'.*balanced"):
        run("garrod2025-real-head", quick=True, n_per_class=None)


def test_resnet_needs_images():
    with pytest.raises(ValueError, match="setting 'model'"):
        run("tirer2023-layerwise", quick=True, model="resnet", max_depth=2, epochs=1)


def test_a_failed_claim_comes_with_its_note():
    """One epoch per stage: whatever the verdicts, the note on a non-monotone decrease appears exactly
    when a claim fails, and the table has one row per stage."""
    res = run("tirer2023-layerwise", quick=True, max_depth=3, epochs=1, width=16)
    assert [c.id for c in res.claims] == CLAIMS["tirer2023-layerwise"]
    assert [r["depth"] for r in res.tables["layerwise"]] == [1, 2, 3]
    failed = any(not c.passed for c in res.claims)
    assert any("not monotone" in n for n in res.notes) == failed


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLAIMS))
def test_quick_profile_claims_pass(name, tmp_path):
    """The quick profiles reproduce every claim (as the recorded baseline does), with no failure note."""
    result = run(name, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert [c["id"] for c in data["claims"]] == CLAIMS[name]
    assert all(c["passed"] is True for c in data["claims"]), [c for c in data["claims"] if not c["passed"]]
    assert data["figures"] and all((tmp_path / f).is_file() for f in data["figures"])
    assert not any("not reproduced" in n.lower() or "not monotone" in n for n in result.notes), result.notes
    m = result.metrics
    if name == "garrod2025-real-head":
        assert 1 <= m["deep-ufm_rank"] < 9 and m["deep-ufm_rank"] < m["standard_rank"]  # K - 1 = 9 on digits
        assert m["deep-ufm_head_loss"]["total"] < m["dnc_bound"]
    if name == "tirer2023-weight-decay":
        assert m["change_features"] > m["change_head"] >= 0
    if name == "tirer2023-layerwise":
        assert len(result.tables["layerwise"]) == result.config["max_depth"]
    if name == "papyan-terminal-phase":
        assert m["ce_epoch_zero_error"] is not None and m["mse_epoch_zero_error"] is not None


def _fake_cifar(root, n=6):
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = np.arange(10 * n) % 10
        data = (rng.integers(0, 60, (10 * n, 3072)) + 20 * labels[:, None]).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels.tolist()}, f)


def test_on_disk_data_and_resnet_backbone_run_end_to_end(tmp_path):
    """The MNIST/CIFAR-10 path (files on disk, ResNet backbone), on a tiny fake CIFAR-10 folder."""
    _fake_cifar(tmp_path)
    res = run("garrod2025-real-head", quick=True, data="cifar10", data_root=str(tmp_path), model="resnet",
              resnet_widths=(4, 8, 16), resnet_blocks=1, n_per_class=5, epochs=2, dtype="float32")
    assert {c.id for c in res.claims} == {"low-rank-logits", "loss-below-dnc-bound"}
    assert "cifar10, 50 training samples" in res.notes[0]
    assert res.config["resnet_widths"] == [4, 8, 16]
    res = run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path), max_depth=2, epochs=1,
              width=16)
    assert len(res.tables["layerwise"]) == 2
