"""nets.Tracker: metrics from the forward passes of a user's loop equal nets.measure / collapse on the same features."""
import functools

import numpy as np
import pytest
import torch
from torch import nn

from nclab.metrics import collapse
from nclab.nets import Tracker


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 4)).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(80, 6, generator=g, dtype=torch.float64)
    y = torch.arange(80) % 4
    return model, x, y


def test_tracker_equals_collapse_on_the_same_features():
    model, x, y = _model_and_data()
    tracker = Tracker(model, num_classes=4, layers=["1"])
    with tracker, torch.no_grad():
        for i in range(0, 80, 16):  # batches of a loop
            with tracker.batch(y[i:i + 16]):
                model(x[i:i + 16])
    table = tracker.compute().set_index("layer")
    with torch.no_grad():
        h1 = model[1](model[0](x))
        pen = model[3](model[2](h1))
    want_pen = collapse(pen, y, weight=model[4].weight, bias=model[4].bias)
    want_h1 = collapse(h1, y)
    for key, value in want_pen.items():
        if key != "nc4_ncc_mismatch":
            assert table.loc["penultimate", key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert "nc4_ncc_mismatch" not in table.columns
    for key, value in want_h1.items():
        if key in table.columns and np.isfinite(value):
            assert table.loc["1", key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert int(table.loc["penultimate", "samples"]) == 80 and int(table.loc["1", "dim"]) == 12


def test_passes_outside_a_batch_block_and_after_detach_are_not_recorded():
    model, x, y = _model_and_data()
    tracker = Tracker(model, num_classes=4)
    with tracker:
        model(x)  # no labels given: ignored
        with tracker.batch(y):
            model(x)
    model(x)  # detached
    assert tracker.compute()["samples"].tolist() == [80]
    tracker.reset()
    with pytest.raises(ValueError, match="tracker"):
        tracker.compute()


def test_bad_input_names_the_parameter():
    model, x, y = _model_and_data()
    with pytest.raises(ValueError, match="layers"):
        Tracker(model, 4, layers=["nope"])
    with pytest.raises(ValueError, match="classifier"):
        Tracker(model, 4, classifier="nope")
    with pytest.raises(ValueError, match="classifier"):
        Tracker(model, 4, classifier=nn.Linear(9, 4))  # not a module of the model
    assert Tracker(model, 4, classifier=model[4]).classifier_name == "4"
    with pytest.raises(ValueError, match="num_classes"):
        Tracker(model, 1)
    tracker = Tracker(model, 4)
    with tracker, pytest.raises(ValueError, match="labels"):
        with tracker.batch(y[:10]):
            model(x)
    tracker = Tracker(model, 4)
    with tracker, tracker.batch(torch.zeros(8, dtype=torch.long)):
        model(x[:8])
    with pytest.raises(ValueError, match="class 1"):
        tracker.compute()


def test_tracker_statistics_are_the_reference_of_a_held_out_set():
    model, x, y = _model_and_data()
    tracker = Tracker(model, num_classes=4)
    with tracker, torch.no_grad(), tracker.batch(y[:60]):
        model(x[:60])
    with torch.no_grad():
        pen = model[3](model[2](model[1](model[0](x))))
    held = collapse(pen[60:], y[60:], reference=tracker.statistics())
    own = collapse(pen[:60], y[:60], reference=tracker.statistics())
    assert own["nc1"] == pytest.approx(collapse(pen[:60], y[:60])["nc1"], rel=1e-9)
    assert np.isfinite(held["nc1"])
    with pytest.raises(ValueError, match="layer"):
        tracker.statistics("nope")



# ---------------------------------------------------------------- per-epoch table, held-out, adapters

@functools.lru_cache(maxsize=None)
def _digits_loop(epochs=3, test=False):
    """A plain training loop on digits with tracker.epoch_end(...) after each epoch, and the
    features collected by hand after each epoch with the same weights."""
    from nclab.nets import digits

    data = digits(n_per_class=20, dtype=torch.float64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 10)).double()
    train, test_loader = data.loaders(batch_size=50, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tracker = Tracker(model, num_classes=10, layers=["1"])
    by_hand = []
    for _epoch in range(epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        tracker.epoch_end(train, test_loader=test_loader if test else None)
        with torch.no_grad():
            h1, h1_test = model[1](model[0](data.x_train)), model[1](model[0](data.x_test))
            pen, pen_test = model[3](model[2](h1)), model[3](model[2](h1_test))
        by_hand.append((h1, pen, h1_test, pen_test, model[4].weight.detach().clone(), model[4].bias.detach().clone()))
    return tracker, data, by_hand


def _assert_row(row, want):
    for key, value in want.items():
        assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_three_epochs_on_digits_give_rows_equal_to_collapse_by_hand():
    tracker, data, by_hand = _digits_loop()
    table = tracker.table
    assert table["epoch"].tolist() == [0, 0, 1, 1, 2, 2]
    assert table["layer"].tolist() == ["penultimate", "1"] * 3 and set(table["split"]) == {"train"}
    y = data.y_train
    for epoch, (h1, pen, _h1t, _pent, W, b) in enumerate(by_hand):
        rows = table[table["epoch"] == epoch].set_index("layer")
        _assert_row(rows.loc["penultimate"], collapse(pen, y, weight=W, bias=b))
        _assert_row(rows.loc["1"], collapse(h1, y))
        assert rows.loc["penultimate", "samples"] == len(y) and rows.loc["1", "dim"] == 24
    nc1 = table[table["layer"] == "penultimate"]["nc1"].to_numpy()
    assert len(set(np.round(nc1, 12))) == 3  # training moves the features between epochs


def test_held_out_rows_are_the_test_set_against_the_training_statistics():
    from nclab.metrics import class_statistics

    tracker, data, by_hand = _digits_loop(epochs=2, test=True)
    table = tracker.table
    assert table["split"].tolist() == ["train", "train", "test", "test"] * 2
    for epoch, (h1, pen, h1_test, pen_test, W, b) in enumerate(by_hand):
        rows = table[(table["epoch"] == epoch) & (table["split"] == "test")].set_index("layer")
        ref_pen, ref_h1 = class_statistics(pen, data.y_train), class_statistics(h1, data.y_train)
        _assert_row(rows.loc["penultimate"], collapse(pen_test, data.y_test, weight=W, bias=b, reference=ref_pen))
        _assert_row(rows.loc["1"], collapse(h1_test, data.y_test, reference=ref_h1))
        assert rows.loc["penultimate", "samples"] == len(data.y_test)


def test_the_train_loader_as_test_loader_gives_the_train_metrics():
    model, x, y = _model_and_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    for mode in ("measure", "hooks"):
        tracker = Tracker(model, num_classes=4, layers=["1"])
        if mode == "measure":
            frame = tracker.epoch_end(loader, test_loader=loader)
        else:
            with tracker, torch.no_grad():
                for xb, yb in loader:
                    with tracker.batch(yb):
                        model(xb)
            frame = tracker.epoch_end(test_loader=loader)
        train = frame[frame["split"] == "train"].drop(columns="split").reset_index(drop=True)
        test = frame[frame["split"] == "test"].drop(columns="split").reset_index(drop=True)
        assert list(train["layer"]) == list(test["layer"]) == ["penultimate", "1"]
        for key in train.columns:
            if train[key].dtype.kind == "f":
                np.testing.assert_allclose(test[key], train[key], rtol=1e-10, atol=1e-13, err_msg=f"{mode} {key}")
        assert ("nc4_ncc_mismatch" in frame.columns) == (mode == "measure")
        assert tracker.stats == {}  # epoch_end starts the next epoch


def test_measure_test_loader_on_a_conv_net_with_projected_layers():
    from nclab.nets import measure

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 9), nn.ReLU(), nn.Linear(9, 4)).double()
    x, y = torch.randn(80, 1, 8, 8, dtype=torch.float64), torch.arange(80) % 4
    noisy = x + 0.5 * torch.randn_like(x)
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    dl_noisy = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(noisy, y), batch_size=16)
    same = measure(model, dl, test_loader=dl, max_dim=100)  # layer "0" (144 features) is projected
    assert list(same.columns[:2]) == ["layer", "split"] and same["split"].tolist() == ["train"] * 3 + ["test"] * 3
    cols = [c for c in same.columns if same[c].dtype.kind == "f"]
    np.testing.assert_allclose(same[cols].iloc[3:].to_numpy(), same[cols].iloc[:3].to_numpy(), rtol=1e-10)
    held = measure(model, dl, test_loader=dl_noisy).set_index(["layer", "split"])
    with torch.no_grad():
        h0, h0n = model[0](x).flatten(1), model[0](noisy).flatten(1)
    from nclab.metrics import class_statistics
    want = collapse(h0n, y, reference=class_statistics(h0, y))
    _assert_row(held.loc[("0", "test")], want)
    assert "split" not in measure(model, dl).columns  # unchanged without a test loader


def test_plot_and_tensorboard_writer():
    tracker, _data, _ = _digits_loop(epochs=2, test=True)
    fig = tracker.plot(["nc1", "nc3_duality"])
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4  # (2 layers) x (train, test)
    with pytest.raises(ValueError, match="metrics"):
        tracker.plot(["nope"])

    class Writer:
        def __init__(self):
            self.scalars = {}

        def add_scalar(self, tag, value, step):
            self.scalars[tag] = (value, step)

    w = Writer()
    n = tracker.log_to(w)
    last = tracker.table[tracker.table["epoch"] == 1].set_index(["split", "layer"])
    assert n == len(w.scalars) and w.scalars["nc/test/1/nc1"] == (pytest.approx(last.loc[("test", "1"), "nc1"]), 1)
    with pytest.raises(ValueError, match="tracker"):
        Tracker(nn.Sequential(nn.Linear(3, 2)), 2).plot()


def test_optional_packages_missing_give_a_clear_message(monkeypatch):
    import sys

    from nclab.nets import lightning_callback

    model, x, y = _model_and_data()
    tracker = Tracker(model, 4)
    tracker.epoch_end(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=40))
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install lightning"):
        lightning_callback(tracker)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        tracker.log_to("runs/x")
    with pytest.raises(ValueError, match="tracker"):
        lightning_callback(object())
    with pytest.raises(ValueError, match="option"):
        tracker.epoch_end(foo=1)


def test_measure_equals_a_tracker_pass_on_the_same_model_and_loader():
    """nets.measure(...) and a Tracker's hooked pass (eval, no_grad) over the same loader, on the same
    layers, agree on every metric key both produce to 1e-12 in float64: train rows and held-out rows."""
    from nclab.nets import measure

    model, x, y = _model_and_data(seed=3)
    test_x = x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    sizes = [7, 16, 1, 30, 26]  # uneven batches, one of a single sample
    starts = np.cumsum([0, *sizes])
    loader = [(x[a:b], y[a:b]) for a, b in zip(starts[:-1], starts[1:])]
    test_loader = [(test_x[a:a + 25], y[a:a + 25]) for a in range(0, 80, 25)]
    want = measure(model, loader, layers=["1", "3"], test_loader=test_loader).set_index(["layer", "split"])

    tracker = Tracker(model, num_classes=4, layers=["1", "3"])
    model.eval()
    with tracker, torch.no_grad():
        for xb, yb in loader:
            with tracker.batch(yb):
                model(xb)
    got = tracker.epoch_end(test_loader=test_loader).set_index(["layer", "split"])
    assert sorted(got.index) == sorted(want.index) and len(got) == 6
    keys = [c for c in got.columns if c in want.columns and got[c].dtype.kind == "f"]
    assert {"nc1", "nc1_trace_ratio", "nc2_etf_features", "nc3_duality"} <= set(keys)
    compared = 0
    for index in got.index:
        for key in keys:
            a, b = float(got.loc[index, key]), float(want.loc[index, key])
            if np.isnan(b):
                assert np.isnan(a), (index, key)
                continue
            assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (index, key)
            compared += 1
        assert int(got.loc[index, "samples"]) == int(want.loc[index, "samples"]) == 80
        assert int(got.loc[index, "dim"]) == int(want.loc[index, "dim"])
    assert compared > 6 * 5
    # the keys measure has and a hooked Tracker pass leaves out: NC4 (it needs a second pass) only
    assert {c for c in want.columns if c.startswith("nc")} - set(got.columns) == {
        "nc4_ncc_mismatch", "nc1_post_act", "nc1_trace_ratio_post_act"}


def test_lightning_callback_driven_as_trainer_fit_calls_it(monkeypatch):
    """Without Lightning installed: a stand-in ``lightning.pytorch`` module with a ``Callback`` base,
    and the hooks called in the order trainer.fit calls them. Each training batch is recorded under
    its labels, every epoch end gives table rows (and scalars with a writer), the hooks are removed
    at the end; the rows equal a Tracker fed by hand."""
    import sys
    import types

    from nclab.nets import lightning_callback

    package, module = types.ModuleType("lightning"), types.ModuleType("lightning.pytorch")
    module.Callback = type("Callback", (), {})
    package.pytorch = module
    monkeypatch.setitem(sys.modules, "lightning", package)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", module)

    class Writer:
        def __init__(self):
            self.steps = []

        def add_scalar(self, tag, value, step):
            self.steps.append(step)

    model, x, y = _model_and_data()
    batches = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 80, 20)]
    tracker, writer = Tracker(model, num_classes=4, layers=["1"]), Writer()
    callback = lightning_callback(tracker, writer=writer)
    assert isinstance(callback, module.Callback)
    trainer = types.SimpleNamespace(current_epoch=0)
    callback.on_train_start(trainer, model)
    for epoch in range(2):
        trainer.current_epoch = epoch
        for index, batch in enumerate(batches):
            callback.on_train_batch_start(trainer, model, batch, index)
            with torch.no_grad():
                model(batch[0])
            callback.on_train_batch_end(trainer, model, None, batch, index)
        model(x[:3])  # outside a training batch: not recorded
        callback.on_train_epoch_end(trainer, model)
    callback.on_train_end(trainer, model)
    with tracker.batch(y):
        model(x)  # after fit: the hooks are gone
    assert tracker.stats == {}
    table = tracker.table
    assert table["epoch"].tolist() == [0, 0, 1, 1] and set(table["samples"]) == {80}
    assert sorted(set(writer.steps)) == [0, 1] and len(writer.steps) > 0

    by_hand = Tracker(model, num_classes=4, layers=["1"])
    with by_hand, torch.no_grad():
        for xb, yb in batches:
            with by_hand.batch(yb):
                model(xb)
    want = by_hand.compute().set_index("layer")
    got = table[table["epoch"] == 1].set_index("layer")
    for key in ("nc1", "nc2_etf_features", "nc3_duality"):
        assert got.loc["penultimate", key] == pytest.approx(want.loc["penultimate", key], rel=1e-12), key
