"""nclab.train: batched == separate runs, seed independence, divergence isolation, the THN
closed-form minimum, L-BFGS polish, results and bad input."""
import math

import numpy as np
import pytest
import torch

import nclab
from nclab.ufm import UFMParams, UFMSpec, initialize, parts, train


def _assert_params_close(a: UFMParams, b: UFMParams, tol=1e-10):
    for x, y in zip(a.tensors(), b.tensors()):
        torch.testing.assert_close(x, y, rtol=0, atol=tol)


@pytest.mark.parametrize("optimizer,lr", [("gd", 0.3), ("momentum", 0.05), ("adam", 0.01), ("lbfgs", None)])
def test_batched_equals_separate_runs(optimizer, lr):
    spec = UFMSpec(K=3, n=2, d=5, L=3, activation="relu", loss="ce", bias=True, lam_H=1e-2, lam_W=(1e-2, 2e-2, 3e-2),
                   lam_b=1e-3)
    steps = 40 if optimizer == "lbfgs" else 60
    kw = dict(steps=steps, optimizer=optimizer, lr=lr, dtype=torch.float64, metrics=False, record_every=10,
              scale_W=0.7)
    batch = train(spec, seeds=[0, 1, 2], **kw)
    for j, seed in enumerate([0, 1, 2]):
        alone = train(spec, seeds=[seed], **kw)
        _assert_params_close(batch.params[j], alone.params)
        assert batch.status[j] == alone.status[0]
        hb = batch.history[batch.history.seed == seed].reset_index(drop=True)
        ha = alone.history.reset_index(drop=True)
        np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=0, atol=1e-10)


def test_seed_result_does_not_depend_on_batch_companions():
    spec = UFMSpec.garrod(K=4, n=2, d=6, L=2, lam=1e-2)
    kw = dict(steps=50, lr=0.5, dtype=torch.float64, metrics=False)
    a = train(spec, seeds=[7], **kw)
    b = train(spec, seeds=[3, 7, 11, 12], **kw)
    c = train(spec, seeds=[7], **kw)
    _assert_params_close(a.params, b.params[1])
    _assert_params_close(a.params, c.params, tol=0)  # same seed, same result (bitwise)


def test_divergence_is_isolated():
    spec = UFMSpec.garrod(K=3, n=2, d=5, L=2, lam=1e-2)
    start = initialize(spec, [0, 1, 2], dtype=torch.float64)
    huge = start.clone()
    for t in huge.tensors():
        t[1] *= 1e3
    kw = dict(steps=300, lr=0.5, dtype=torch.float64, metrics=False, record_every=50, tol=1e-12)
    res = train(spec, init=huge, **kw)
    assert res.status[1] == "diverged"
    assert res.status[0] != "diverged" and res.status[2] != "diverged"
    others = train(spec, init=start.select([0, 2]), **kw)
    _assert_params_close(res.params.select([0, 2]), others.params)
    # the diverged seed stops being recorded when it is frozen
    assert res.history[res.history.seed == 1].step.max() < 300
    assert res.history[res.history.seed == 0].step.max() == 300


def test_loss_blow_up_counts_as_divergence():
    spec = UFMSpec(K=3, n=2, d=4, loss="mse", lam_H=0.1, lam_W=0.1)
    res = train(spec, seeds=2, steps=200, lr=50.0, dtype=torch.float64, metrics=False, diverge_factor=10.0)
    assert res.status == ["diverged", "diverged"]
    assert np.isfinite(res.history.loss).all()  # caught by the blow-up rule before overflow


def _thn_min_value(lam_W, lam_H):
    """THN Thm 2.1 (Tirer & Bruna Thm 3.1): minimum of THN Eq. 1 is c - c^2/2 (c <= 1), 1/2 (c > 1)."""
    c = math.sqrt(lam_W * lam_H)
    return c - c * c / 2 if c <= 1 else 0.5


def _thn_minimiser(K, n, d, lam_W, lam_H):
    c = math.sqrt(lam_W * lam_H)
    rho = (1 - c) * math.sqrt(lam_W / lam_H)
    R = torch.linalg.qr(torch.randn(d, K, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    H = math.sqrt(rho) * R.repeat_interleave(n, dim=1)
    W = math.sqrt(lam_H / lam_W) * math.sqrt(rho) * R.T
    return H, W


@pytest.mark.parametrize("lam_W,lam_H", [(0.05, 0.1), (0.5, 0.02), (3.0, 2.0)])
def test_gd_reaches_thn_closed_form_minimum(lam_W, lam_H):
    K, n, d = 4, 3, 8
    spec = UFMSpec.tirer(K, n, d, lam_W, lam_H)
    best = _thn_min_value(lam_W, lam_H)
    if math.sqrt(lam_W * lam_H) <= 1:
        H, W = _thn_minimiser(K, n, d, lam_W, lam_H)
        star = UFMParams(H[None], (W[None],))
        assert float(parts(spec, star)["loss"][0]) == pytest.approx(best, rel=1e-12)
    res = train(spec, seeds=3, steps=20000, lr=1.0, dtype=torch.float64, tol=1e-9, metrics=False,
                init_scale=0.5)
    assert all(s == "converged" for s in res.status), res.status
    np.testing.assert_allclose(res.final.loss, best, rtol=1e-8)


def test_lbfgs_polish_reaches_tolerance_in_float64():
    spec = UFMSpec.garrod(K=4, n=2, d=6, L=2, lam=2 ** -5)
    res = train(spec, seeds=2, steps=400, lr=0.5, polish=True, polish_tol=1e-9, polish_steps=300, metrics=False)
    assert res.params.dtype == torch.float64
    assert res.status == ["converged", "converged"]
    assert (res.final.grad_norm <= 1e-9).all()
    assert set(res.history.phase) == {"gd", "lbfgs"}


def test_result_history_final_and_save(tmp_path):
    spec = UFMSpec.garrod(K=3, n=2, d=5, L=2, lam=1e-2, activation="relu")
    res = nclab.train(spec, seeds=[4, 2], steps=20, lr=0.5, record_every=5)
    h = res.history
    assert list(h.columns[:8]) == ["step", "seed", "phase", "loss", "fit", "reg", "anchor", "grad_norm"]
    assert sorted(h.step.unique()) == [0, 5, 10, 15, 20] and len(h) == 10
    assert {"svZ_1", "svZbar_3"} <= set(h.columns)
    np.testing.assert_allclose(h.loss, h.fit + h.reg + h.anchor, rtol=1e-6)
    fin = res.final
    assert list(fin.seed) == [4, 2] and list(fin.status) == ["max_steps"] * 2
    assert res.params.H.shape == (2, 5, 6) and res.steps == 20 and res.seconds > 0
    if "nc1_h1" in h.columns:  # needs nclab.metrics
        assert {"nc1_h2", "nc1_a2"} <= set(h.columns)
    paths = res.save(tmp_path / "out")
    arrays = np.load(paths[0])
    assert arrays["W2"].shape == (2, 3, 5) and list(arrays["seeds"]) == [4, 2]
    assert "seed" in open(paths[1]).readline()
    assert "summary" not in res.to_dict() and res.to_dict()["status"] == ["max_steps"] * 2
    assert "seed" in res.summary()


@pytest.mark.parametrize("kwargs,field", [
    (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(optimizer="sgd"), "optimizer"), (dict(steps=-1), "steps"),
    (dict(dtype="float16"), "dtype"), (dict(device="tpu"), "device"), (dict(init="xavier"), "init"),
    (dict(record_every=0), "record_every"), (dict(tol=-1.0), "tol"), (dict(momentum=1.5, optimizer="momentum"), "momentum"),
])
def test_train_rejects_bad_input(kwargs, field):
    spec = UFMSpec(K=2, n=1, d=2)
    with pytest.raises(ValueError, match=rf"^{field}"):
        train(spec, **kwargs)


def test_cuda_device_rejected_when_absent():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="^device"):
        train(UFMSpec(K=2, n=1, d=2), device="cuda")


def test_init_params_shape_checked():
    spec = UFMSpec(K=3, n=2, d=4)
    wrong = initialize(UFMSpec(K=3, n=2, d=5), 2)
    with pytest.raises(ValueError, match="^H"):
        train(spec, init=wrong, steps=1)
    with pytest.raises(ValueError, match="^seeds"):
        train(spec, init=initialize(spec, 2), seeds=3, steps=1)


from hypothesis import given, settings, strategies as st  # noqa: E402

_HYP_SPEC = UFMSpec(K=3, n=2, d=4, L=2, activation="relu", loss="mse", bias=True, lam_H=1e-2, lam_W=1e-2)
_HYP_KW = dict(steps=12, lr=0.2, dtype=torch.float64, metrics=False, spectra=False, record_every=6)
_HYP_ALONE = {}


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True))
def test_any_seed_subset_matches_single_seed_runs(seeds):
    batch = train(_HYP_SPEC, seeds=seeds, **_HYP_KW)
    for j, seed in enumerate(seeds):
        if seed not in _HYP_ALONE:
            _HYP_ALONE[seed] = train(_HYP_SPEC, seeds=[seed], **_HYP_KW).params
        _assert_params_close(batch.params[j], _HYP_ALONE[seed])
    assert list(batch.final.seed) == seeds


@pytest.mark.parametrize("optimizer,lr,make", [
    ("gd", 0.2, lambda ps, lr: torch.optim.SGD(ps, lr=lr)),
    ("momentum", 0.05, lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9)),
    ("adam", 0.01, lambda ps, lr: torch.optim.Adam(ps, lr=lr)),
])
def test_optimizers_follow_pytorch_conventions(optimizer, lr, make):
    """Our batched GD / heavy ball / Adam equal torch.optim's SGD, SGD(momentum), Adam on one seed."""
    spec = UFMSpec(K=3, n=2, d=4, L=2, activation="relu", loss="ce", bias=True, lam_H=1e-2, lam_W=2e-2, lam_b=1e-2)
    start = initialize(spec, [3], dtype=torch.float64, scale_b=0.3)
    ours = train(spec, init=start, steps=25, optimizer=optimizer, lr=lr, dtype=torch.float64, metrics=False,
                 spectra=False)
    leaves = [t.clone().requires_grad_() for t in start.tensors()]
    opt = make(leaves, lr)
    for _ in range(25):
        opt.zero_grad()
        parts(spec, UFMParams.from_tensors(leaves, True))["loss"].sum().backward()
        opt.step()
    ref = UFMParams.from_tensors([t.detach() for t in leaves], True)
    _assert_params_close(ours.params, ref, tol=1e-11)


# --- seed chunks (issue 17 item 5): the same trajectories whatever the chunk -----------------

def _chunked_pair(spec, optimizer, seeds=5, chunk=2, **kw):
    common = dict(seeds=seeds, optimizer=optimizer, dtype=torch.float64, progress=False, **kw)
    return nclab.train(spec, seed_chunk=chunk, **common), nclab.train(spec, seed_chunk=seeds, **common)


@pytest.mark.parametrize("optimizer,kw", [
    ("gd", dict(steps=60, lr=0.5)),
    ("momentum", dict(steps=60, lr=0.2)),
    ("adam", dict(steps=60, lr=0.05)),
    ("lbfgs", dict(steps=80, tol=1e-10)),
    ("gd", dict(steps=40, lr=0.5, polish=True, polish_steps=30)),
])
def test_seed_chunks_give_the_one_batch_result(optimizer, kw):
    spec = UFMSpec.garrod(3, 2, 4, 2, 1e-2)
    chunked, whole = _chunked_pair(spec, optimizer, **kw)
    assert chunked.options["seed_chunk"] == 2 and whole.options["seed_chunk"] == 5
    assert chunked.status == whole.status and chunked.steps == whole.steps
    for a, b in zip(chunked.params.tensors(), whole.params.tensors()):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    h1, h2 = chunked.history, whole.history
    assert list(h1.columns) == list(h2.columns) and len(h1) == len(h2)
    assert (h1[["step", "seed", "phase"]].to_numpy() == h2[["step", "seed", "phase"]].to_numpy()).all()
    num = h1.select_dtypes("number").columns
    np.testing.assert_allclose(h1[num].to_numpy(), h2[num].to_numpy(), rtol=1e-9, atol=1e-12)


def test_seed_chunks_keep_per_seed_status_with_divergence():
    spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    start = nclab.ufm.initialize(spec, 4, dtype=torch.float64)
    start.H[1] *= 1e3  # seed 1 diverges at this step size, the others do not
    kw = dict(init=start, steps=50, lr=0.5, dtype=torch.float64, progress=False, tol=1e-8)
    a = nclab.train(spec, seed_chunk=3, **kw)
    b = nclab.train(spec, **kw)
    assert a.status == b.status and "diverged" in a.status and a.status[1] == "diverged"
    torch.testing.assert_close(a.params.H, b.params.H, rtol=1e-10, atol=1e-12)


def test_automatic_seed_chunk_by_parameter_memory():
    from nclab.ufm import seed_chunk_size
    from nclab.ufm.engine import CHUNK_BYTES

    narrow, wide = UFMSpec.garrod(10, 5, 70, 2, 2 ** -10), UFMSpec.garrod(10, 5, 512, 2, 2 ** -10)
    assert seed_chunk_size(narrow, 256) == 256  # GK Fig. 1: 36 kB a seed, one batch
    per_seed = wide.num_parameters() * 4
    assert seed_chunk_size(wide, 256) == CHUNK_BYTES // per_seed == 10
    assert seed_chunk_size(wide, 256, torch.float64) == 5 and seed_chunk_size(wide, 3) == 3
    res = nclab.train(UFMSpec.garrod(3, 2, 4, 2, 1e-2), seeds=3, steps=2, progress=False)
    assert res.options["seed_chunk"] == 3


@pytest.mark.parametrize("value", [0, -1, 1.5, "x"])
def test_seed_chunk_rejected(value):
    with pytest.raises(ValueError, match="seed_chunk"):
        nclab.train(UFMSpec.garrod(3, 2, 4, 2, 1e-2), seeds=2, steps=2, seed_chunk=value, progress=False)


def test_recorder_frame_is_the_concat_of_per_call_frames():
    import pandas as pd

    from nclab.ufm.result import Recorder
    spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    P = initialize(spec, 3, dtype=torch.float64)
    gn = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    good = {k: torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) for k in ("loss", "fit", "reg", "anchor")}
    mixed = {**good, "loss": torch.tensor([1.0, math.inf, 3.0], dtype=torch.float64)}
    bad = {**good, "loss": torch.full((3,), math.nan, dtype=torch.float64)}
    rec = Recorder(spec, [5, 9, 2], metrics=True, spectra=True)
    rec(10, "gd", torch.arange(3), P, good, gn)
    rec(0, "gd", torch.arange(3), P, mixed, gn)                      # a seed's metrics NaN
    rec(3, "gd", torch.arange(3), P, good, gn, which=torch.tensor([False, True, False]))
    rec(4, "lbfgs_polish", torch.arange(3), P, bad, gn)                # no metric columns at all
    rec(4, "gd", torch.tensor([0, 2]), P.select(torch.tensor([0, 2])), {k: v[[0, 2]] for k, v in good.items()},
        gn[[0, 2]])
    assert "nc1_h1" not in rec.rows[3] and "nc1_h1" in rec.rows[0]
    expected = pd.concat([pd.DataFrame(r) for r in rec.rows], ignore_index=True) \
        .sort_values(["step", "seed"], kind="stable").reset_index(drop=True)
    got = rec.frame()
    pd.testing.assert_frame_equal(got, expected)
    assert got.nc1_h1.isna().sum() == 4 and list(got.step[:3]) == [0, 0, 0]
