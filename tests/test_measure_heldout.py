"""`nclab measure --held-out`: the held-out rows of the CLI are nets.measure(..., test_loader=...)."""
import json

import numpy as np
import torch

from nclab.cli import main
from nclab.nets import MLP, digits, measure


def test_cli_held_out_rows_equal_measure_with_a_test_loader(tmp_path, capsys):
    torch.manual_seed(0)
    model = MLP(64, 10, width=12, depth=1)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    assert main(["measure", str(path), "--data", "digits", "--held-out", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [(r["layer"], r["split"]) for r in rows] == [
        ("features.layer1.linear", "train"), ("penultimate", "train"),
        ("features.layer1.linear", "test"), ("penultimate", "test")]
    assert "held out: its test split (450 samples)" in captured.err
    data = digits(standardize=False)
    train, test = (torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=256)
                   for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)))
    want = measure(model, train, test_loader=test)
    for row, (_, expected) in zip(rows, want.iterrows()):
        for key in ("samples", "nc1", "nc1_trace_ratio", "nc3_duality", "nc4_ncc_mismatch"):
            if expected[key] is not None and np.isfinite(expected[key]):
                assert row[key] == expected[key] or abs(row[key] - expected[key]) <= 1e-9 * abs(expected[key]), key
    assert rows[3]["nc1"] != rows[1]["nc1"] and rows[3]["samples"] == 450


def test_cli_held_out_of_a_single_split_is_exit_2(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.save(MLP(4, 3, width=6, depth=1), path)
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", features=x, labels=np.arange(30) % 3)
    assert main(["measure", str(path), "--data", str(tmp_path / "d.npz"), "--held-out"]) == 2
    err = capsys.readouterr().err
    assert "--held-out" in err and "one split" in err and "Traceback" not in err
    # another file as the held-out set works
    assert main(["measure", str(path), "--data", str(tmp_path / "d.npz"), "--held-out", str(tmp_path / "d.npz"),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    train = {r["layer"]: r for r in rows if r["split"] == "train"}
    for r in rows:
        if r["split"] == "test":  # the same file as its own held-out set: the train metrics
            assert abs(r["nc1"] - train[r["layer"]]["nc1"]) <= 1e-9 * abs(train[r["layer"]]["nc1"])
