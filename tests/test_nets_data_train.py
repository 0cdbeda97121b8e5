"""nclab.nets data sets, models, training loop and the ``nclab measure`` command."""
from __future__ import annotations

import gzip
import json
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch

from nclab.cli import main
from nclab.nets import MLP, ResNet, data, measure, train_classifier
from nclab.nets.train import penalised_head_loss


# ---------------------------------------------------------------- data

def test_digits_split_and_standardised():
    d = data.digits(test_fraction=0.25, seed=1)
    assert d.x_train.shape[1] == 64 and d.num_classes == 10
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    mean, std = d.x_train.mean(0), d.x_train.std(0)
    assert torch.allclose(mean, torch.zeros(64), atol=1e-5)
    assert torch.all((torch.abs(std - 1) < 1e-4) | (std < 1e-6))
    sub = data.digits(n_per_class=20)
    assert torch.equal(torch.bincount(sub.y_train), torch.full((10,), 20))


def test_gaussian_mixture_separation_and_shapes():
    g = data.gaussian_mixture(4, 3000, 6, separation=5.0, noise=0.5, seed=2, dtype=torch.float64)
    means = torch.stack([g.x_train[g.y_train == k].mean(0) for k in range(4)])
    dist = torch.cdist(means, means)[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(dist, torch.full_like(dist, 2.5), atol=0.1)  # separation x noise
    img = data.gaussian_mixture(3, 2, (3, 4, 4))
    assert img.x_train.shape == (6, 3, 4, 4) and img.x_test.shape == (6, 3, 4, 4)
    with pytest.raises(ValueError, match="separation"):
        data.gaussian_mixture(3, 2, 5, separation=-1.0)


def test_balanced_subsample_errors_on_small_class():
    x, y = torch.randn(7, 2), torch.tensor([0, 0, 0, 1, 1, 1, 1])
    xs, ys = data.balanced_subsample(x, y, 3, seed=0)
    assert torch.equal(torch.bincount(ys), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="n_per_class"):
        data.balanced_subsample(x, y, 4)


def test_missing_roots_name_the_path_and_how_to_get_files(tmp_path):
    missing = tmp_path / "nowhere"
    for reader in (data.mnist, data.fashion_mnist, data.cifar10):
        with pytest.raises(FileNotFoundError, match="nowhere.*never downloads"):
            reader(missing)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.mnist(tmp_path)  # the root exists, the files do not
    with pytest.raises(ValueError, match="data"):
        data.load("imagenet:/x")


def _idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(">" + "i" * array.ndim, *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def test_local_mnist_and_cifar_readers(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n, gz in (("train", 20, True), ("t10k", 10, False)):
        suffix = ".gz" if gz else ""
        _idx(raw / f"{stem}-images-idx3-ubyte{suffix}", rng.integers(0, 255, (n, 28, 28)), gz)
        _idx(raw / f"{stem}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)
    m = data.load(f"mnist:{tmp_path}")
    assert m.x_train.shape == (20, 1, 28, 28) and m.x_test.shape == (10, 1, 28, 28)
    assert m.y_train.tolist() == list(range(10)) * 2
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 255, (10, 3072), dtype=np.uint8), "labels": list(range(10))}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    c = data.cifar10(tmp_path, n_per_class=2)
    assert c.x_train.shape == (20, 3, 32, 32) and c.x_test.shape == (10, 3, 32, 32)


# ---------------------------------------------------------------- models and training

def test_models_shapes_and_grow():
    m = MLP(64, 10, width=16, depth=2, head_layers=3)
    x = torch.randn(5, 64)
    assert m(x).shape == (5, 10) and m.forward_features(x).shape == (5, 16)
    first = m.features.layer1.linear.weight.clone()
    m.grow()
    assert m.depth == 3 and not m.features.layer1.linear.weight.requires_grad
    assert len(m.head) == 3 and m.head.fc.weight.requires_grad
    assert torch.equal(first, m.features.layer1.linear.weight)
    r = ResNet(3, 4, widths=(4, 8), blocks_per_stage=1)
    assert r(torch.randn(2, 3, 16, 16)).shape == (2, 4) and r.feature_dim == 8
    with pytest.raises(ValueError, match="activation"):
        MLP(4, 2, activation="swish")


def test_train_reaches_zero_error_and_tracks_collapse():
    d = data.gaussian_mixture(3, 40, 8, separation=6.0, seed=0)
    torch.manual_seed(0)
    model = MLP(8, 3, width=16, depth=1)
    res = train_classifier(model, d, epochs=30, lr=0.1, batch_size=32, weight_decay=1e-3, track_every=10,
                           schedule="constant", progress=False)
    assert res.epoch_zero_error is not None
    assert list(res.history["epoch"]) == [10, 20, 30]
    assert {"nc1", "nc2_etf_weight", "nc4_ncc_mismatch", "test_error"} <= set(res.history.columns)
    frame = measure(model, d.loaders(64, shuffle=False)[0], layers=[])
    assert np.isclose(frame["nc1"].iloc[0], res.history["nc1"].iloc[-1])
    assert not model.training


def test_weight_decays_and_feature_penalty_act_where_asked():
    d = data.gaussian_mixture(3, 20, 6, separation=4.0, seed=1)

    def run(**kw):
        torch.manual_seed(0)
        model = MLP(6, 3, width=8, depth=1)
        train_classifier(model, d, epochs=40, lr=0.05, batch_size=None, track=False, schedule="constant",
                         progress=False, **kw)
        return model

    base = run(weight_decay=0.0)
    head = run(weight_decay=0.0, head_weight_decay=0.5)
    feat = run(weight_decay=0.5, head_weight_decay=0.0)
    norm = lambda m, part: float(sum((p.detach() ** 2).sum() for p in getattr(m, part).parameters()))  # noqa: E731
    assert norm(head, "head") < norm(base, "head") and norm(feat, "features") < norm(base, "features")
    pen = run(weight_decay=0.0, lam_H=1.0)
    with torch.no_grad():
        assert float(pen.forward_features(d.x_train).norm()) < float(base.forward_features(d.x_train).norm())
    loss = penalised_head_loss(base, d, lam_W=0.0, lam_H=0.0)
    assert np.isclose(loss["total"], loss["fit"])


def test_train_rejects_bad_settings():
    d = data.gaussian_mixture(3, 5, 4)
    with pytest.raises(ValueError, match="loss"):
        train_classifier(MLP(4, 3), d, loss="hinge")
    with pytest.raises(ValueError, match="weight_decay"):
        train_classifier(MLP(4, 3), d, weight_decay=-1.0)


# ---------------------------------------------------------------- CLI

def test_cli_measure_saved_model(tmp_path, capsys):
    torch.manual_seed(0)
    model = MLP(64, 10, width=12, depth=1)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    assert main(["measure", str(path), "--data", "digits", "--json", "--n-per-class", "10"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["layer"] for r in rows] == ["features.layer1.linear", "penultimate"]
    assert rows[-1]["samples"] == 100


def test_cli_measure_bad_input_exit_2(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.save(MLP(64, 10, width=12, depth=1), path)
    cases = [
        [str(tmp_path / "missing.pt"), "--data", "digits"],
        [str(path), "--data", f"mnist:{tmp_path / 'no_root'}"],
        [str(path), "--data", "digits", "--layers", "nope"],
        [str(path), "--data", "cifar"],
    ]
    torch.save(MLP(64, 10).state_dict(), tmp_path / "sd.pt")
    cases.append([str(tmp_path / "sd.pt"), "--data", "digits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(MLP(64, 10, width=8, depth=1)), tmp_path / "ts.pt")
    cases.append([str(tmp_path / "ts.pt"), "--data", "digits"])  # TorchScript runs no hooks: a clear error
    for argv in cases:
        assert main(["measure", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert "ts.pt (a TorchScript archive)" in err and "torch.save(model)" in err


def test_cli_measure_help_says_what_it_takes(capsys):
    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "TorchScript" in text and "--model module:Class" in text and "--state-dict" in text
    assert "--standardize" in text and "as given" in text
    assert "--max-dim D" in text and "wider layers" in text and "O(K D) memory" in text


def test_cli_measure_json_nan_is_null(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "narrow.pt"
    torch.save(MLP(64, 10, width=3, depth=1), path)  # width 3 < K - 1: the ETF metrics are undefined
    assert main(["measure", str(path), "--data", "digits", "--json", "--n-per-class", "5"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_constant=lambda token: pytest.fail(token))
    assert rows[0]["dim"] == 3 and rows[0]["nc2_etf_features"] is None and rows[0]["nc1"] is not None


def test_evaluate_restores_each_modules_own_training_flag():
    from torch.utils.data import DataLoader, TensorDataset

    from nclab.nets.train import evaluate

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    model.train()
    model[1].eval()  # a frozen dropout inside a training model
    loader = DataLoader(TensorDataset(torch.randn(6, 3), torch.tensor([0, 1] * 3)), batch_size=3)
    out = evaluate(model, loader)
    assert set(out) == {"loss", "error"}
    assert model.training and model[0].training and not model[1].training and model[2].training
