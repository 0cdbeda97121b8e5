"""The real-network experiments: registration, config errors, and their quick profiles (slow)."""
from __future__ import annotations

import json

import pytest

from nclab.experiments import get, run

NAMES = ("papyan-terminal-phase", "tirer2023-layerwise", "tirer2023-weight-decay", "garrod2025-real-head")


def test_registered_with_papers_and_data_root_default_none():
    papers = {"papyan-terminal-phase": "papyan2020", "tirer2023-layerwise": "tirer2023",
              "tirer2023-weight-decay": "tirer2023", "garrod2025-real-head": "garrod2025"}
    for name, paper in papers.items():
        exp = get(name)
        assert exp.paper == paper
        assert exp.defaults["data_root"] is None and exp.defaults["data"] == "digits"


def test_files_on_disk_only_when_a_root_is_given(tmp_path):
    with pytest.raises(ValueError, match="data_root"):
        run("tirer2023-layerwise", quick=True, data="mnist")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path / "none"))
    with pytest.raises(ValueError, match="data"):
        run("tirer2023-layerwise", quick=True, data="imagenet")


def test_garrod_needs_a_balanced_training_set():
    with pytest.raises(ValueError, match="n_per_class"):
        run("garrod2025-real-head", quick=True, n_per_class=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_profile_reports_every_claim(name, tmp_path):
    result = run(name, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["claims"] and all(isinstance(c["passed"], bool) for c in data["claims"])
    assert all((tmp_path / f).is_file() for f in data["figures"])
    failed = [c.id for c in result.claims if not c.passed]
    if failed:  # a claim that does not reproduce must come with a note saying so
        assert result.notes and any("not" in n.lower() for n in result.notes[1:]), failed
    if name == "garrod2025-real-head":
        assert result.metrics["deep-ufm_rank"] < result.metrics["standard_rank"]


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
    res = run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path), max_depth=2, epochs=1,
              width=16)
    assert len(res.tables["layerwise"]) == 2
