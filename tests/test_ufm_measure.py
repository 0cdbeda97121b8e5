"""The UFM history's metrics (nclab.ufm.measure) as nclab.train records them.

The fused class-ordered path must give what the general metrics give: the reference here is
the per-layer ``nclab.metrics.collapse`` call on the sample-major features (the implementation
that the history used before issue 17), in float64 at small sizes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import nclab
from nclab.layout import class_ordered_labels
from nclab.metrics import collapse
from nclab.ufm import UFMSpec, initialize
from nclab.ufm.measure import class_ordered_collapse, layer_features, layer_metrics, logit_spectra


def _reference(spec, params):
    labels = class_ordered_labels(spec.K, spec.n)
    out = {}
    for name, X in layer_features(spec, params).items():
        kw = {"weight": params.W[-1], "bias": params.b} if name == f"h{spec.L}" else {}
        for key, value in collapse(X.mT, labels, undefined="omit", **kw).items():
            out[f"{key}_{name}"] = torch.as_tensor(value).reshape(-1)
    return out


SPECS = [
    UFMSpec.garrod(4, 3, 5, 3, 0.01),                      # deep linear
    UFMSpec.garrod(4, 3, 2, 2, 0.01),                      # d < K - 1: no ETF metrics
    UFMSpec.garrod(3, 2, 4, 2, 0.01, activation="relu"),   # pre-activations too
    UFMSpec(K=3, n=2, d=4, L=1, bias=True),                # shallow, with bias
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("seeds", [1, 3])
def test_layer_metrics_equal_the_general_metrics(spec, seeds):
    params = initialize(spec, seeds, dtype=torch.float64, scale_b=0.5, zero_bias=False)
    if params.b is not None:
        params.b.copy_(torch.randn(params.b.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    new, old = layer_metrics(spec, params), _reference(spec, params)
    assert {k for k in new if not k.startswith("sv")} == set(old)
    for key, value in old.items():
        assert new[key].shape == (seeds,)
        torch.testing.assert_close(new[key], value, rtol=1e-10, atol=1e-12, msg=key)
    if spec.bias:
        assert "bias_norm_h1" in new and bool((new["bias_norm_h1"] > 0).all())


def test_layer_metrics_float32_at_the_gk_setting_match_float64_collapse():
    # the recording's own setting (K=10, n=5, d=70, L=2 and a ReLU variant): the float32 history
    # values against per-layer collapse() on the same parameters in float64
    for spec in (UFMSpec.garrod(10, 5, 70, 2, 2 ** -10), UFMSpec.garrod(10, 5, 70, 2, 2 ** -10, activation="relu")):
        p32 = initialize(spec, 3, dtype=torch.float32)
        p64 = type(p32).from_tensors([t.double() for t in p32.tensors()], p32.b is not None)
        new, old = layer_metrics(spec, p32), _reference(spec, p64)
        assert list(k for k in new if not k.startswith("sv")) == list(old)   # same columns, same order
        for key, value in old.items():
            assert new[key].dtype == torch.float32
            torch.testing.assert_close(new[key].double(), value, rtol=2e-4, atol=1e-5, msg=key)


def test_layer_metrics_restore_the_thread_count():
    spec = SPECS[2]
    params = initialize(spec, 2, dtype=torch.float64)
    before = torch.get_num_threads()
    layer_metrics(spec, params)
    assert torch.get_num_threads() == before


def test_layer_metrics_are_per_seed():
    spec = SPECS[0]
    params = initialize(spec, 4, dtype=torch.float64)
    perm = [2, 0, 3, 1]
    full, sub = layer_metrics(spec, params), layer_metrics(spec, params.select(perm))
    for key, value in full.items():
        torch.testing.assert_close(sub[key], value[perm], rtol=1e-12, atol=1e-14, msg=key)


def test_class_ordered_collapse_exact_configuration():
    # collapsed features at a simplex ETF, classifier = the class means: NC1 = NC4 = 0, ETF errors 0
    K, n = 4, 3
    M = torch.eye(K, dtype=torch.float64) - 1.0 / K            # centred ETF means as columns (d = K)
    X = M.repeat_interleave(n, dim=1)[None]                    # (1, K, K n)
    W = M.T[None]
    out = class_ordered_collapse(X, n, W, None, W @ X)
    for key in ("nc1", "nc1_trace_ratio", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch"):
        assert abs(float(out[key][0])) < 1e-12, key
    # moving every sample to another class's mean is a full NC4 mismatch for the NCC vs a shifted classifier
    out = class_ordered_collapse(X, n, W.roll(1, dims=1), None, W.roll(1, dims=1) @ X)
    assert float(out["nc4_ncc_mismatch"][0]) == 1.0


def test_spectra_float32_gram_path_and_float64_direct():
    spec = UFMSpec.garrod(4, 3, 6, 2, 0.01)
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(5, 4, 12, generator=g, dtype=torch.float64)
    s64 = logit_spectra(spec, Z)
    Zbar = Z.reshape(5, 4, 4, 3).mean(-1)
    torch.testing.assert_close(torch.stack([s64[f"svZ_{i}"] for i in range(1, 5)], -1),
                               torch.linalg.svdvals(Z), rtol=0, atol=0)
    torch.testing.assert_close(torch.stack([s64[f"svZbar_{i}"] for i in range(1, 5)], -1),
                               torch.linalg.svdvals(Zbar), rtol=0, atol=0)
    s32 = logit_spectra(spec, Z.float())
    for key, value in s64.items():
        assert s32[key].dtype == torch.float32
        torch.testing.assert_close(s32[key].double(), value, rtol=1e-5, atol=1e-6, msg=key)
    # rank-deficient Zbar (collapsed logits): the zero singular value stays near zero
    low = torch.randn(5, 4, 1, generator=g) @ torch.randn(5, 1, 12, generator=g)
    s = logit_spectra(spec, low)
    assert bool((s["svZ_2"] <= 1e-6 * s["svZ_1"] + 1e-7).all())
    assert bool((s["svZ_1"] >= s["svZ_2"]).all())


def test_history_rows_are_the_general_metrics():
    spec = UFMSpec.garrod(3, 2, 4, 2, 1e-2)
    res = nclab.train(spec, seeds=2, steps=40, lr=0.5, record_every=2, dtype=torch.float64, progress=False)
    h = res.history
    assert sorted(h.step.unique()) == list(range(0, 41, 2))
    assert h.nc1_h1.notna().all() and h.svZbar_1.notna().all() and h.loss.notna().all()
    # the recorded values are the general metrics of the final parameters
    ref = _reference(spec, res.params)
    last = h[h.step == 40]
    np.testing.assert_allclose(last.nc1_h2, ref["nc1_h2"].numpy(), rtol=1e-10)
    np.testing.assert_allclose(last.nc4_ncc_mismatch_h2, ref["nc4_ncc_mismatch_h2"].numpy(), atol=0)


def test_frozen_seed_row_has_metrics():
    spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    res = nclab.train(spec, seeds=2, steps=200, optimizer="lbfgs", record_every=50, dtype=torch.float64,
                      progress=False)
    assert res.status == ["converged", "converged"]
    last = res.history.groupby("seed").tail(1)
    assert ((last.step > 0) & (last.step < 250)).all()  # frozen off the record_every grid
    assert last.nc1_h1.notna().all() and last.svZ_1.notna().all()


def _basis_before(centred, w):
    """spectral_basis's float32 path as written before V became (U^T M~)^T (M~^T U)."""
    from nclab.metrics._core import complement_basis
    r64 = (complement_basis(w).mT @ centred).double()
    evals, U = torch.linalg.eigh(r64 @ r64.mT)
    s, U = evals.flip(-1).clamp_min(0.0).sqrt(), U.flip(-1)
    inv = torch.where(s > 1e-8 * s[..., :1], 1.0 / s.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(s))
    return ((r64.mT @ U) * inv.unsqueeze(-2)).to(centred.dtype), s.to(centred.dtype)


def test_spectral_basis_transposed_product_is_bit_identical(monkeypatch):
    from nclab.metrics._core import spectral_basis
    from nclab.ufm import measure
    g = torch.Generator().manual_seed(3)
    M = torch.randn(16, 10, 70, generator=g)  # the history's shape at the GK setting, float32
    M = M - M.mean(-2, keepdim=True)
    w = torch.full((10,), 0.1)
    V, s = spectral_basis(M, w)
    V0, s0 = _basis_before(M, w)
    assert torch.equal(V, V0) and torch.equal(s, s0)
    # and the history's metrics with either basis, bit for bit (float32 parameters)
    spec = UFMSpec.garrod(10, 5, 70, 2, 2 ** -10)
    params = nclab.train(spec, seeds=4, steps=30, lr=0.5, metrics=False, spectra=False, progress=False).params
    now = layer_metrics(spec, params)
    monkeypatch.setattr(measure, "spectral_basis", _basis_before)
    before = layer_metrics(spec, params)
    assert now.keys() == before.keys() and all(torch.equal(now[k], before[k]) for k in now)
