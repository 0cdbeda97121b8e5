"""nets.Tracker: metrics from the forward passes of a user's loop equal nets.measure / collapse on the same features."""
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
