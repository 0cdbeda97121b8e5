"""The real-network experiments: registration, config tables, and their quick profiles (slow)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nclab.config import ParameterTypeError
from nclab.experiments import get, run

#: Every claim of each experiment.
_NC = ("nc1", "nc2-etf-features", "nc2-etf-weight", "nc3-duality", "nc4-ncc-mismatch")
CLAIMS = {
    "papyan-terminal-phase": [f"{loss}-{k}-falls" for loss in ("ce", "mse") for k in _NC],
    "tirer2023-layerwise": ["nc1-decreases-with-depth", "nc1-trace-ratio-decreases-with-depth"],
    "tirer2023-weight-decay": [f"{arm}-{c}" for arm in ("mse", "ce") for c in
                               ("features-decay-moves-nc-more", "features-decay-x0-raises-nc",
                                "features-decay-x2-lowers-nc")],
    "garrod2025-real-head": ["low-rank-logits", "standard-wd-low-rank-logits", "loss-below-dnc-bound",
                             "relu-head-low-rank-logits", "relu-head-loss-below-dnc-bound"],
}
PAPERS = {"papyan-terminal-phase": "papyan2020", "tirer2023-layerwise": "tirer2023",
          "tirer2023-weight-decay": "tirer2023", "garrod2025-real-head": "garrod2025"}
SEED_KEYS = {"papyan-terminal-phase": "seed", "tirer2023-layerwise": "seeds", "tirer2023-weight-decay": "seeds",
             "garrod2025-real-head": "seed"}


@pytest.mark.parametrize("name", list(PAPERS))
def test_registered_with_paper_seed_key_and_data_root_default_none(name):
    exp = get(name)
    assert exp.paper == PAPERS[name]
    assert exp.seed_key == SEED_KEYS[name]
    assert exp.defaults["data_root"] is None and exp.defaults["data"] == "digits"


def test_multi_seed_profiles():
    """>= 5 seeds at full scale (the papers show one run per setting); the weight-decay claims need 5 in both."""
    assert get("tirer2023-layerwise").config(quick=False)["seeds"] == list(range(10))
    assert get("tirer2023-layerwise").config(quick=True)["seeds"] == [0, 1, 2]
    assert get("tirer2023-layerwise").config(quick=False)["max_depth"] == 10  # THN Fig. 2 goes to 10 hidden layers
    wd = get("tirer2023-weight-decay")
    assert wd.config()["seeds"] == wd.config(quick=True)["seeds"] == list(range(5))


def test_weight_decay_follows_the_papers_design():
    cfg = get("tirer2023-weight-decay").config(quick=False)
    assert (cfg["weight_decay"], cfg["momentum"], cfg["lr"], cfg["schedule"], cfg["step_every"]) == (
        5e-4, 0.9, 0.05, "step", 40)
    assert cfg["arms"] == ["mse", "ce"] and cfg["factors"] == [0.0, 2.0] and cfg["model"] == "cnn"


@pytest.mark.parametrize("name", list(PAPERS))
@pytest.mark.parametrize("key,value,error", [
    ("data", "imagenet", ValueError), ("data_root", "", ValueError), ("n_per_class", 0, ValueError),
    ("epochs", 0, ValueError), ("lr", 0.0, ValueError), ("dtype", "float16", ValueError),
    ("seed", -1, ValueError), ("epochs", "ten", ParameterTypeError), ("batch_size", 2.5, ParameterTypeError),
])
def test_the_table_refuses_bad_values_naming_the_key(name, key, value, error):
    key = SEED_KEYS[name] if key == "seed" else key
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
    assert get("papyan-terminal-phase").config(quick=False)["losses"] == ["ce", "mse"]


def test_files_on_disk_only_when_a_root_is_given(tmp_path):
    with pytest.raises(ValueError, match="data_root"):
        run("tirer2023-layerwise", quick=True, data="mnist")
    with pytest.raises(FileNotFoundError, match="never downloads"):
        run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path / "none"))


def test_garrod_needs_a_balanced_training_set():
    with pytest.raises(ValueError, match="setting 'n_per_class'.*balanced"):
        run("garrod2025-real-head", quick=True, n_per_class=None)


def _manual_head(head, H, act):
    """Z = W_L act(W_{L-1} ... act(W_1 H)) from the head's weights, written out (no module calls)."""
    names = [n for n, _ in head.named_children() if n.startswith("linear")]
    A = H
    for n in names:
        A = act(A @ getattr(head, n).weight.T)
    Z = A @ head.fc.weight.T
    return Z + head.fc.bias if head.fc.bias is not None else Z


def test_make_head_relu_applies_relu_between_layers_only_float64():
    """The ReLU head's structure in float64: shapes, ReLU after every map but the classifier, none on the input."""
    import torch

    from nclab.nets.models import make_head

    torch.manual_seed(0)
    d, K, L = 7, 4, 4
    head = make_head(d, K, L, activation="relu").to(torch.float64)
    assert list(dict(head.named_children())) == ["linear1", "act1", "linear2", "act2", "linear3", "act3", "fc"]
    assert all(isinstance(getattr(head, f"act{i}"), torch.nn.ReLU) for i in (1, 2, 3))
    for i in (1, 2, 3):
        assert getattr(head, f"linear{i}").weight.shape == (d, d) and getattr(head, f"linear{i}").bias is None
    assert head.fc.weight.shape == (K, d) and head.fc.bias.shape == (K,)
    H = torch.randn(50, d, dtype=torch.float64)  # signed input: no activation may touch it before W_1
    Z = head(H)
    assert Z.dtype == torch.float64 and Z.shape == (50, K)
    assert torch.allclose(Z, _manual_head(head, H, torch.relu), atol=1e-13, rtol=0)
    assert (Z < 0).any()  # no ReLU after the classifier
    assert not torch.allclose(Z, _manual_head(head, H, lambda a: a), atol=1e-3)  # the ReLUs act
    assert not torch.allclose(Z, _manual_head(head, torch.relu(H), torch.relu), atol=1e-3)  # none on H
    linear = make_head(d, K, L, bias=False).to(torch.float64)
    assert [n for n, _ in linear.named_children()] == ["linear1", "linear2", "linear3", "fc"]
    assert torch.allclose(linear(H), _manual_head(linear, H, lambda a: a), atol=1e-13, rtol=0)


def test_make_head_relu_hidden_layers_get_he_normal_init():
    """The ReLU head's hidden maps are N(0, 2/d) (He, fan_in); the classifier and the linear head keep
    PyTorch's default U(-1/sqrt(d), 1/sqrt(d)); He's init keeps the signal's mean square through the ReLUs."""
    import torch

    from nclab.nets.models import make_head

    torch.manual_seed(0)
    d, K, L = 400, 10, 4
    head = make_head(d, K, L, bias=False, activation="relu").to(torch.float64)
    for i in range(1, L):
        w = getattr(head, f"linear{i}").weight.detach().flatten()
        var = float(w.var())
        assert abs(var / (2 / d) - 1) < 0.03, var  # 160000 entries: the estimate's relative error is ~0.4%
        kurtosis = float(((w - w.mean()) ** 4).mean()) / var ** 2
        assert abs(kurtosis - 3) < 0.1, kurtosis  # normal (3), not uniform (1.8)
    bound = 1 / d ** 0.5
    assert float(head.fc.weight.detach().abs().max()) <= bound  # the classifier keeps the default init
    linear = make_head(d, K, L, bias=False)
    assert all(float(getattr(linear, f"linear{i}").weight.detach().abs().max()) <= bound for i in range(1, L))
    tanh = make_head(d, K, L, bias=False, activation="tanh")
    assert float(tanh.linear1.weight.detach().abs().max()) <= bound  # He's init is for ReLU only
    x = torch.relu(torch.randn(2000, d, dtype=torch.float64))
    a, ms = x, []
    for i in range(1, L):
        a = torch.relu(a @ getattr(head, f"linear{i}").weight.detach().T)
        ms.append(float(a.pow(2).mean() / x.pow(2).mean()))
    assert all(0.8 < m < 1.25 for m in ms), ms  # PyTorch's default would give ~1/6, 1/36, 1/216
    torch.manual_seed(3)
    w1 = make_head(8, 3, 3, activation="relu").linear1.weight.detach().clone()
    torch.manual_seed(3)
    assert torch.equal(make_head(8, 3, 3, activation="relu").linear1.weight, w1)  # seeded: reproducible


def test_resnet_needs_images():
    with pytest.raises(ValueError, match="setting 'model'"):
        run("tirer2023-layerwise", quick=True, model="resnet", max_depth=2, epochs=1)


def _layer_rows(values_by_seed):
    return [{"seed": s, "depth": d + 1, "nc1": v, "nc1_trace_ratio": 2 * v}
            for s, vals in enumerate(values_by_seed) for d, v in enumerate(vals)]


def test_layerwise_rule_needs_every_layer_to_decrease_beyond_the_interval():
    from nclab.experiments.tirer2023 import layerwise

    rng = np.random.default_rng(0)
    down = [np.exp(np.cumsum(-0.5 + 0.05 * rng.standard_normal(4))) for _ in range(5)]
    claims = layerwise.judge(_layer_rows(down))
    assert [c.id for c in claims] == CLAIMS["tirer2023-layerwise"]
    assert all(c.passed and c.n_seeds == 5 and c.interval[1] < 0 for c in claims)
    flat_last = [np.r_[v[:3], v[2] * np.exp(0.1 + 0.05 * rng.standard_normal())] for v in down]  # last layer rises
    assert not any(c.passed for c in layerwise.judge(_layer_rows(flat_last)))
    one_seed = layerwise.judge(_layer_rows(down[:1]))  # one seed: an infinite interval, never decided
    assert not any(c.passed for c in one_seed)


def test_weight_decay_rules_paired_difference_and_directions():
    from nclab.experiments.tirer2023 import weight_decay

    cfg = {"factors": [0.0, 2.0]}
    rng = np.random.default_rng(1)
    noise = lambda: 0.01 * rng.standard_normal(6)
    logs = {"head x0": 0.03 + noise(), "head x2": -0.02 + noise(), "features x0": 0.2 + noise(),
            "features x2": -0.07 + noise()}
    claims = {c.id: c for c in weight_decay.judge(cfg, logs, "ce")}
    assert list(claims) == CLAIMS["tirer2023-weight-decay"][3:] and all(c.passed for c in claims.values())
    assert claims["ce-features-decay-moves-nc-more"].n_seeds == 6
    assert [c.id for c in weight_decay.judge(cfg, logs, "mse")] == CLAIMS["tirer2023-weight-decay"][:3]
    wrong = dict(logs, **{"features x2": 0.07 + noise()})  # more decay on the features, less collapse
    claims = {c.id: c for c in weight_decay.judge(cfg, wrong, "ce")}
    assert not claims["ce-features-decay-x2-lowers-nc"].passed and claims["ce-features-decay-x0-raises-nc"].passed
    same = dict(logs, **{"head x0": logs["features x0"] + noise(), "head x2": logs["features x2"] + noise()})
    assert not weight_decay.judge(cfg, same)[0].passed  # the head moves them as much: (a) fails


def _history(fall: float, nc4=(0.0, 0.0)):
    import pandas as pd

    epochs = np.arange(0, 101, 10)
    t = np.clip((epochs - 20) / 80, 0, 1)
    rows = {"epoch": epochs, "train_error": np.where(epochs < 20, 0.1, 0.0), "test_error": 0.05}
    for key in ("nc1", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc1_trace_ratio", "cdnv"):
        rows[key] = 0.5 * fall ** (-t)
    rows["nc4_ncc_mismatch"] = np.interp(t, [0, 1], nc4)
    return pd.DataFrame(rows)


def test_terminal_phase_rule_is_a_fall_by_a_factor_ten():
    from nclab.experiments.papyan2020 import terminal_phase
    from nclab.experiments.registry import Outcome

    for fall, nc4, ok in ((20.0, (0.0, 0.0), True), (5.0, (0.01, 0.0), False), (20.0, (0.01, 0.002), False)):
        out = Outcome()
        terminal_phase.judge("ce", _history(fall, nc4), 20, out)
        verdicts = {c.id: c.passed for c in out.claims if c.kind == "claim"}
        assert list(verdicts) == CLAIMS["papyan-terminal-phase"][:5]
        assert verdicts["ce-nc1-falls"] is (fall >= 10)
        assert verdicts["ce-nc4-ncc-mismatch-falls"] is (nc4[1] <= nc4[0] / 10)
        assert all(verdicts.values()) is ok
        assert [c.id for c in out.claims if c.kind == "check"] == ["ce-zero-train-error"]
    out = Outcome()
    terminal_phase.judge("mse", _history(20.0), None, out)  # no zero-error epoch: nothing is decided
    assert not any(c.passed for c in out.claims)


def test_layerwise_runs_every_seed_and_stage():
    res = run("tirer2023-layerwise", quick=True, max_depth=3, epochs=1, width=16, seeds=2)
    assert [c.id for c in res.claims] == CLAIMS["tirer2023-layerwise"]
    assert [(r["seed"], r["depth"]) for r in res.tables["layerwise"]] == [(s, d) for s in (0, 1) for d in (1, 2, 3)]
    assert all(c.n_seeds == 2 for c in res.claims)
    assert any("Underpowered: 2 seeds" in n for n in res.notes)


def _recomputed_verdicts(name, result):
    """Each claim's verdict recomputed from the result's tables, independently of the judges."""
    from scipy import stats

    def t_interval(x):
        x = np.asarray(x, dtype=float)
        h = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
        return x.mean() - h, x.mean() + h

    if name == "papyan-terminal-phase":
        out = {}
        for loss in ("ce", "mse"):
            hist = result.tables[f"history_{loss}"]
            start = next(r["epoch"] for r in hist if r["train_error"] == 0)
            first = next(r for r in hist if r["epoch"] >= start)
            for k, col in zip(_NC, ("nc1", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch")):
                a, b = first[col], hist[-1][col]
                out[f"{loss}-{k}-falls"] = b <= a / 10 if a > 0 else b == 0
        return out
    if name == "tirer2023-layerwise":
        rows = result.tables["layerwise"]
        out = {}
        for key, cid in (("nc1", "nc1-decreases-with-depth"), ("nc1_trace_ratio", "nc1-trace-ratio-decreases-with-depth")):
            v = {(r["seed"], r["depth"]): r[key] for r in rows}
            seeds, depths = sorted({s for s, _ in v}), sorted({d for _, d in v})
            out[cid] = all(t_interval([np.log(v[s, d] / v[s, d - 1]) for s in seeds])[1] < 0 for d in depths[1:])
        return out
    if name == "tirer2023-weight-decay":
        rows = result.tables["weight_decay"]
        keys = result.config["metrics"]
        out = {}
        for study in ("mse", "ce"):
            by = {(r["seed"], r["run"]): r for r in rows if r["arm"] == study}
            seeds = sorted({s for s, _ in by})
            lr = {arm: np.array([np.mean([np.log(by[s, arm][k] / by[s, "baseline"][k]) for k in keys])
                                 for s in seeds]) for arm in ("head x0", "head x2", "features x0", "features x2")}
            diff = (abs(lr["features x0"]) + abs(lr["features x2"]) - abs(lr["head x0"]) - abs(lr["head x2"])) / 2
            out.update({f"{study}-features-decay-moves-nc-more": t_interval(diff)[0] >= 0,
                        f"{study}-features-decay-x0-raises-nc": t_interval(lr["features x0"])[0] >= 0,
                        f"{study}-features-decay-x2-lowers-nc": t_interval(lr["features x2"])[1] <= 0})
        return out
    return None


#: Quick-profile claims that reproduce on the CPU (a failure of one of these is a regression). The terminal
#: phase of the quick profile (150 epochs, constant lr) does not reach the factor-10 fall, and the quick
#: weight-decay runs (24 epochs at the paper's decay 5e-4) move the metrics by ~0.3%, too little to resolve
#: the directions: verdicts as measured. The standard-decay run of garrod2025-real-head ends with rank 10 at
#: the quick scale (not low rank, the opposite of GK's Figs. 4 and 8), and its ReLU head (L = 4) does not fit the
#: training data at the quick scale (error 0.61 after 800 epochs: rank 3, loss above the bound): reported, not
#: required.
QUICK_MUST_PASS = {"tirer2023-layerwise": CLAIMS["tirer2023-layerwise"],
                   "tirer2023-weight-decay": ["mse-features-decay-moves-nc-more", "ce-features-decay-moves-nc-more"],
                   "garrod2025-real-head": ["low-rank-logits", "loss-below-dnc-bound"], "papyan-terminal-phase": []}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLAIMS))
def test_quick_profile_claims(name, tmp_path):
    """The quick profiles: every verdict equals the paper's rule recomputed from the tables, and the claims
    that reproduce at this scale pass."""
    result = run(name, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert [c["id"] for c in data["claims"]] == CLAIMS[name]
    verdicts = {c["id"]: c["passed"] for c in data["claims"]}
    assert all(verdicts[c] for c in QUICK_MUST_PASS[name]), verdicts
    recomputed = _recomputed_verdicts(name, result)
    if recomputed is not None:
        assert verdicts == recomputed
    assert data["figures"] and all((tmp_path / f).is_file() for f in data["figures"])
    m = result.metrics
    if name == "garrod2025-real-head":
        assert 1 <= m["deep-ufm_rank"] < 9 and m["deep-ufm_rank"] < m["standard_rank"]  # K - 1 = 9 on digits
        assert m["deep-ufm_head_loss"]["total"] < m["dnc_bound"]
    if name == "tirer2023-layerwise":
        assert len(result.tables["layerwise"]) == result.config["max_depth"] * len(result.config["seeds"])
    if name == "papyan-terminal-phase":
        assert [c["id"] for c in data["checks"]] == ["ce-zero-train-error", "mse-zero-train-error"]
        assert all(c["passed"] for c in data["checks"])
        assert any("not reproduced" in n for n in result.notes) == (not all(verdicts.values()))


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
    assert [c.id for c in res.claims] == CLAIMS["garrod2025-real-head"]
    assert "cifar10, 50 training samples" in res.notes[0]
    assert res.config["resnet_widths"] == [4, 8, 16]
    res = run("tirer2023-layerwise", quick=True, data="cifar10", data_root=str(tmp_path), max_depth=2, epochs=1,
              width=16, seeds=1)
    assert len(res.tables["layerwise"]) == 2 and not any(c.passed for c in res.claims)  # one seed: undecided
