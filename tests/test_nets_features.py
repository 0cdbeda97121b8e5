"""nclab.nets.measure: equals full-batch metrics of hand-collected features; hooks, modes, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nclab.metrics import collapse
from nclab.nets import MLP, ResNet, measure


def _data(N=120, D=12, K=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(K).repeat_interleave(N // K)
    means = 2.0 * torch.randn(K, D, generator=g, dtype=torch.float64)
    x = means[y] + torch.randn(N, D, generator=g, dtype=torch.float64)
    return x, y


def _model(D=12, K=4, width=8, depth=2, seed=0, batchnorm=False):
    torch.manual_seed(seed)
    return MLP(D, K, width=width, depth=depth, batchnorm=batchnorm).double()


def _collect(model, x, module, pre=False):
    out = []
    if pre:
        h = module.register_forward_pre_hook(lambda m, i: out.append(i[0].detach().clone()))
    else:
        h = module.register_forward_hook(lambda m, i, o: out.append(o.detach().clone()))
    model.eval()
    with torch.no_grad():
        model(x)
    h.remove()
    return out[0]


def _close(a, b, tol=1e-9):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def test_measure_equals_full_batch_metrics_of_hand_collected_features():
    x, y = _data()
    model = _model()
    frame = measure(model, DataLoader(TensorDataset(x, y), batch_size=32))
    assert list(frame["layer"]) == ["features.layer1.linear", "features.layer2.linear", "penultimate"]
    fc = model.head.fc
    H = _collect(model, x, fc, pre=True)
    expected = collapse(H, y, fc.weight.detach(), fc.bias.detach())
    pen = frame.set_index("layer").loc["penultimate"]
    for key, value in expected.items():
        assert _close(float(pen[key]), float(value)), key
    # an intermediate layer: pre-activation, and NC1 after its ReLU
    Z1 = _collect(model, x, model.features.layer1.linear)
    row = frame.set_index("layer").loc["features.layer1.linear"]
    exp1 = collapse(Z1, y)
    for key in ("nc1", "nc1_trace_ratio", "cdnv", "nc2_etf_features", "equinorm_features"):
        assert _close(float(row[key]), float(exp1[key])), key
    assert math.isnan(float(row["nc3_duality"]))  # no classifier for hidden layers
    assert row["activation"] == "features.layer1.act"
    assert _close(float(row["nc1_post_act"]), float(collapse(torch.relu(Z1), y)["nc1"]))
    assert int(pen["samples"]) == x.shape[0]


def test_streaming_over_uneven_batches_equals_full_batch():
    x, y = _data(N=100, seed=3)
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(1))
    x, y = x[perm], y[perm]
    model = _model(seed=2)
    sizes = [1, 37, 5, 50, 7]
    batches, start = [], 0
    for s in sizes:
        batches.append((x[start:start + s], y[start:start + s]))
        start += s
    uneven = measure(model, batches)
    full = measure(model, [(x, y)])
    cols = [c for c in full.columns if full[c].dtype.kind == "f"]
    np.testing.assert_allclose(uneven[cols].to_numpy(), full[cols].to_numpy(), rtol=1e-9, atol=1e-12)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_removed_and_modes_restored_also_on_error():
    x, y = _data()
    model = _model(batchnorm=True)
    model.train()
    model.features.layer1.bn.eval()  # a mixed state must come back as it was
    before = {name: m.training for name, m in model.named_modules()}
    measure(model, DataLoader(TensorDataset(x, y), batch_size=50))
    assert _hook_count(model) == 0
    assert {name: m.training for name, m in model.named_modules()} == before
    bad = [(x[:60], y[:60]), (x[60:], y[60:] + 10)]  # labels out of range in batch 1
    with pytest.raises(ValueError, match="labels"):
        measure(model, bad)
    assert _hook_count(model) == 0
    assert {name: m.training for name, m in model.named_modules()} == before


def test_eval_mode_is_used_during_measurement():
    x, y = _data()
    model = _model(batchnorm=True)
    model.train()
    a = measure(model, [(x, y)], layers=[])
    model.eval()
    b = measure(model, [(x, y)], layers=[])
    assert _close(float(a["nc1"].iloc[0]), float(b["nc1"].iloc[0]))


def test_unknown_layer_lists_available_names():
    x, y = _data()
    with pytest.raises(ValueError, match=r"features\.layer1\.linear"):
        measure(_model(), [(x, y)], layers=["nope"])


def test_wrong_loader_structure():
    x, y = _data()
    with pytest.raises(ValueError, match="loader"):
        measure(_model(), [x])  # tensors, not (inputs, labels)
    with pytest.raises(ValueError, match="loader"):
        measure(_model(), [(x, y.double())])  # float labels
    with pytest.raises(ValueError, match="loader"):
        measure(_model(), [])
    with pytest.raises(ValueError, match="loader"):
        measure(_model(), [(x[:, :5], y)])  # the model rejects the inputs


def test_labels_out_of_range_and_missing_class():
    x, y = _data()
    with pytest.raises(ValueError, match=r"0\.\.3"):
        measure(_model(), [(x, torch.where(y == 3, 7, y))])
    with pytest.raises(ValueError, match="class 3"):
        measure(_model(), [(x[y < 3], y[y < 3])])


def test_model_without_final_linear_needs_a_classifier():
    x, y = _data()
    convs = nn.Sequential(nn.Unflatten(1, (1, 12)), nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Flatten())
    with pytest.raises(ValueError, match="classifier"):
        measure(convs.double(), [(x, y)])
    tail = nn.Sequential(nn.Linear(12, 4), nn.Tanh()).double()  # last Linear is not the output
    with pytest.raises(ValueError, match="classifier"):
        measure(tail, [(x, y)])
    frame = measure(tail, [(x, y)], classifier=False, num_classes=4)
    assert list(frame["layer"]) == ["0"] and frame["activation"].iloc[0] == "1"
    frame = measure(tail, [(x, y)], classifier="0")  # explicit classifier: accepted
    assert frame["layer"].iloc[-1] == "penultimate"


def test_conv_layers_flatten_or_pool_and_dimension_guard():
    torch.manual_seed(0)
    net = ResNet(1, 4, widths=(4, 8), blocks_per_stage=1).double()
    x = torch.randn(40, 1, 8, 8, dtype=torch.float64)
    y = torch.arange(4).repeat_interleave(10)
    flat = measure(net, [(x, y)], layers=["stem"])
    pooled = measure(net, [(x, y)], layers=["stem"], pool="avg")
    assert int(flat["dim"].iloc[0]) == 4 * 8 * 8 and int(pooled["dim"].iloc[0]) == 4
    stem = _collect(net, x, net.stem)
    assert _close(float(pooled["nc1"].iloc[0]), float(collapse(stem.mean(dim=(2, 3)), y)["nc1"]))
    with pytest.raises(ValueError, match="max_dim"):
        measure(net, [(x, y)], layers=["stem"], max_dim=100, method="moment")
    wide = measure(net, [(x, y)], layers=["stem"], max_dim=100)  # auto: the O(K d) accumulator
    assert _close(float(wide["nc1"].iloc[0]), float(collapse(stem.flatten(1), y)["nc1"]), tol=1e-8)
    default = measure(net, [(x, y)])
    assert "stage2.block1.conv1" in set(default["layer"])
    assert default.set_index("layer").loc["stem.conv", "measured_at"] == "stem.bn"


def test_narrow_layer_gives_nan_etf_metrics_not_an_error():
    x, y = _data(K=4)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 2), nn.ReLU(), nn.Linear(2, 4)).double()  # d = 2 < K - 1
    frame = measure(model, [(x, y)])
    assert math.isnan(float(frame["nc2_etf_features"].iloc[0]))
    Z = _collect(model, x, model[0])
    assert _close(float(frame["nc1"].iloc[0]), float(collapse(Z, y, undefined="omit")["nc1"]))


@pytest.mark.parametrize("method", ["moment", "projected"])
def test_narrow_layers_report_every_metric_but_the_etf_ones(method):
    from nclab.metrics import KEYS
    from nclab.metrics._core import ETF_KEYS

    K = 5
    x, y = _data(N=100, K=K, seed=4)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3), nn.Tanh(), nn.Linear(3, K)).double()
    frame = measure(model, [(x[:30], y[:30]), (x[30:], y[30:])], method=method).set_index("layer")
    assert list(frame.index) == ["0", "2", "penultimate"]  # d = 6, 3, 3 with K - 1 = 4: none skipped
    assert list(frame["dim"]) == [6, 3, 3]
    clf = model[4]
    cases = {"2": (_collect(model, x, model[2]), None, None),
             "penultimate": (_collect(model, x, clf, pre=True), clf.weight.detach(), clf.bias.detach())}
    for layer, (H, W, b) in cases.items():
        expected = collapse(H, y, W, b, undefined="omit")
        row = frame.loc[layer]
        for key in KEYS:
            if key in expected:
                assert _close(float(row[key]), float(expected[key])), (layer, key)
            else:
                assert math.isnan(float(row[key])), (layer, key)
        assert all(math.isnan(float(row[key])) for key in ETF_KEYS), layer
    pen = frame.loc["penultimate"]
    for key in ("nc1", "cdnv", "equinorm_features", "nc3_duality", "nc4_ncc_mismatch", "bias_norm"):
        assert math.isfinite(float(pen[key])), key
    assert math.isfinite(float(frame.loc["2", "nc1_post_act"]))  # NC1 after the Tanh
    assert math.isfinite(float(frame.loc["0", "nc2_etf_features"]))  # d = 6 >= K - 1

@pytest.mark.parametrize("global_mean", ["classes", "samples"])
def test_projected_accumulator_equals_moment_accumulator(global_mean):
    x, y = _data(N=120, K=4, seed=5)
    y = y.clone()
    y[:7] = 1  # unbalanced, so the two global means differ
    model = _model(seed=4, width=16)
    batches = [(x[i:i + 25], y[i:i + 25]) for i in range(0, 120, 25)]
    a = measure(model, batches, method="moment", global_mean=global_mean)
    b = measure(model, batches, method="projected", global_mean=global_mean)
    cols = [c for c in a.columns if a[c].dtype.kind == "f"]
    np.testing.assert_allclose(b[cols].to_numpy(), a[cols].to_numpy(), rtol=1e-8, atol=1e-12)
    c = measure(model, batches, max_dim=10, global_mean=global_mean)  # auto: width 16 > 10 -> projected
    np.testing.assert_allclose(c[cols].to_numpy(), a[cols].to_numpy(), rtol=1e-8, atol=1e-12)


def test_generator_loader_cannot_make_a_second_pass():
    x, y = _data()
    gen = ((x[i:i + 30], y[i:i + 30]) for i in range(0, 120, 30))
    with pytest.raises(ValueError, match="re-iterable"):
        measure(_model(), gen)


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=99), max_size=6, unique=True),
       method=st.sampled_from(["moment", "projected"]))
def test_any_batch_split_gives_the_full_batch_metrics(cuts, method):
    x, y = _MODEL_DATA
    edges = [0, *sorted(cuts), 100]
    batches = [(x[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    split = measure(_MODEL, batches, method=method)
    cols = [c for c in _FULL.columns if _FULL[c].dtype.kind == "f"]
    np.testing.assert_allclose(split[cols].to_numpy(), _FULL[cols].to_numpy(), rtol=1e-8, atol=1e-12)


_MODEL = _model(seed=7)
_MODEL_DATA = (lambda xy: (xy[0][torch.randperm(100, generator=torch.Generator().manual_seed(0))],
                           xy[1][torch.randperm(100, generator=torch.Generator().manual_seed(0))]))(_data(N=100))
_FULL = measure(_MODEL, [_MODEL_DATA])


def test_not_a_loader_and_not_a_model():
    x, y = _data()
    with pytest.raises(ValueError, match="loader"):
        measure(_model(), 42)
    with pytest.raises(ValueError, match="model"):
        measure(lambda t: t, [(x, y)])


# ---------------------------------------------------------------- nclab measure on a model of your own

_SCRIPT = '''
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.fc1 = nn.Linear(64, width)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        return self.out(F.relu(self.fc2(self.act(self.fc1(x)))))


if __name__ == "__main__":
    import sys
    torch.manual_seed(0)
    model = Net()
    torch.save(model, sys.argv[1] + "/whole.pt")
    torch.save(model.state_dict(), sys.argv[1] + "/sd.pt")
    torch.jit.save(torch.jit.script(model), sys.argv[1] + "/ts.pt")
'''


def test_measure_cli_script_model_saved_three_ways_equals_live_measure(tmp_path, capsys):
    """A class defined in the user's script, saved whole, as TorchScript and as a state_dict:
    each `nclab measure` form gives the table of nets.measure on the live model (the digits
    inputs as given, the train split); the functional F.relu is reported, not a silent NaN."""
    import importlib.util
    import json
    import subprocess
    import sys

    import pandas as pd
    from torch.utils.data import DataLoader, TensorDataset

    from nclab.cli import main
    from nclab.nets import data as data_mod

    script = tmp_path / "userscript.py"
    script.write_text(_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("userscript_live", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    live = module.Net()
    live.load_state_dict(torch.load(tmp_path / "sd.pt", weights_only=True))
    d = data_mod.digits(standardize=False)
    want = measure(live, DataLoader(TensorDataset(d.x_train, d.y_train), batch_size=256))
    assert list(want["activation"]) == ["act", "functional", ""]

    forms = [[str(tmp_path / "whole.pt"), "--model-code", str(script)],
             [str(tmp_path / "ts.pt"), "--model", f"{script}:Net"],
             ["--model", f"{script}:Net", "--state-dict", str(tmp_path / "sd.pt")]]
    for form in forms:
        assert main(["measure", *form, "--data", "digits", "--json"]) == 0, form
        out, err = capsys.readouterr()
        got = pd.DataFrame(json.loads(out))
        assert list(got["layer"]) == list(want["layer"]) and list(got["activation"]) == list(want["activation"])
        for col in ("nc1", "nc1_post_act", "nc1_trace_ratio", "cdnv", "nc2_etf_features", "nc3_duality",
                    "nc4_ncc_mismatch"):
            np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-6, equal_nan=True)
        assert f"split train ({len(d.y_train)} of 1797 samples): {len(d.y_train)} samples" in err
        assert "inputs as given" in err and "fc2" in err and "called as a function" in err

    # without the class, each form says what to pass
    assert main(["measure", str(tmp_path / "whole.pt"), "--data", "digits"]) == 2
    assert "--model-code SCRIPT.py" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "ts.pt"), "--data", "digits"]) == 2
    err = capsys.readouterr().err
    assert "ts.pt (a TorchScript archive)" in err and "--model module:Class" in err and err.count("\n") == 1
    assert main(["measure", "--state-dict", str(tmp_path / "sd.pt"), "--data", "digits"]) == 2
    assert "--model module:Class" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "whole.pt"), "--model-code", str(script), "--data", "digits",
                 "--standardize", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "inputs standardised" in err and pd.DataFrame(json.loads(out))["nc1"].iloc[0] != want["nc1"].iloc[0]


def test_a_linear_probe_is_measured_on_its_inputs():
    """A model that is itself the nn.Linear classifier (a linear probe on fixed features): the
    penultimate features are its inputs; measure, the Tracker and train_classifier accept it
    (before, the probe pass did not hook the model itself and measure raised)."""
    from nclab.nets import Tracker, train_classifier
    from nclab.nets.data import gaussian_mixture

    torch.manual_seed(0)
    probe = nn.Linear(4, 3).double()
    x, y = torch.randn(30, 4, dtype=torch.float64), torch.arange(30) % 3
    loader = [(x[:13], y[:13]), (x[13:], y[13:])]
    frame = measure(probe, loader)
    assert frame["layer"].tolist() == ["penultimate"] and int(frame["samples"].iloc[0]) == 30
    want = collapse(x, y, weight=probe.weight, bias=probe.bias)
    for key, value in want.items():
        assert float(frame[key].iloc[0]) == pytest.approx(value, rel=1e-12, abs=1e-12), key
    tracker = Tracker(probe, 3)
    with tracker, torch.no_grad():
        for xb, yb in loader:
            with tracker.batch(yb):
                probe(xb)
    assert float(tracker.compute()["nc1"].iloc[0]) == pytest.approx(want["nc1"], rel=1e-12)
    result = train_classifier(nn.Linear(4, 3), gaussian_mixture(3, 10, 4), epochs=1)
    assert np.isfinite(result.history["nc1"].iloc[0])
