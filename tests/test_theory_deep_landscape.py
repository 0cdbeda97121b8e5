"""Constructed critical points, the Schatten identity, Hessian spectra and the solution classifier (GK 2025)."""
import numpy as np
import pytest
import torch

from nclab import theory as T
from nclab.ufm.solutions import classify_params, classify_solution
from nclab.ufm.objective import grad_norm, loss_and_grad, parts


@pytest.mark.parametrize("kind", ["dnc", "low_rank"])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("d", [10, 13])
def test_constructed_points_are_critical(kind, L, d):
    make = T.dnc_critical_point if kind == "dnc" else T.low_rank_critical_point
    cp = make(10, 5, d, L, 2 ** -10, seeds=[0, 1])
    out, g = loss_and_grad(cp.spec, cp.params)
    assert float(grad_norm(g).max()) < 1e-8
    assert torch.allclose(out["loss"], torch.full((2,), cp.loss, dtype=torch.float64), atol=1e-12)
    assert cp.rank == (9 if kind == "dnc" else 5)
    F = [cp.params.H[0], *[w[0] for w in cp.params.W]]
    assert float(T.balance_gap(F)) < 1e-10


def test_schatten_identity_at_critical_points():
    cp = T.low_rank_critical_point(6, 3, 7, 2, 2 ** -6)
    Z = cp.params.W[1][0] @ cp.params.W[0][0] @ cp.params.H[0]
    reg = float(parts(cp.spec, cp.params)["reg"][0])
    assert reg == pytest.approx(float(T.schatten_regulariser(Z, 2, 2 ** -6)), rel=1e-12)


def test_no_factorisation_below_schatten():
    cp = T.dnc_critical_point(5, 2, 6, 2, 2 ** -6)
    F = [cp.params.H[0], *[w[0] for w in cp.params.W]]
    res = T.factorisation_check(F, 2 ** -6, starts=3, steps=150)
    assert res.product_error < 1e-10
    assert min(res.start) > res.schatten * (1 + 1e-3)  # the random gauges really unbalance the factors
    assert res.min_found >= res.schatten * (1 - 1e-9)
    assert max(res.found) <= res.schatten * (1 + 1e-6)  # and L-BFGS finds the balanced minimum again


@pytest.mark.parametrize("kind", ["dnc", "low_rank"])
def test_lanczos_matches_dense_hessian(kind):
    make = T.dnc_critical_point if kind == "dnc" else T.low_rank_critical_point
    cp = make(4, 2, 5, 2, 2 ** -8)
    f, theta = T.flat_objective(cp.spec, cp.params)
    dense = torch.linalg.eigvalsh(T.dense_hessian(f, theta)).numpy()
    lz = T.hessian_extremes(f, theta, k=2)
    assert np.allclose(lz.largest, dense[-2:], atol=1e-8)
    assert np.allclose(lz.smallest, dense[:2], atol=1e-8)
    assert lz.min >= -1e-8  # GK Thm 4 (PSD at the DNC point for small lam); the block point likewise here
    assert T.near_zero_count(dense, atol=1e-8) > 0
    v = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hv = T.hvp_function(f, theta)(v)
    assert torch.allclose(hv, T.dense_hessian(f, theta) @ v, atol=1e-10)


def test_dense_hessian_refuses_large():
    cp = T.dnc_critical_point(10, 5, 12, 2, 2 ** -10)
    f, theta = T.flat_objective(cp.spec, cp.params)
    with pytest.raises(ValueError, match="max_params"):
        T.dense_hessian(f, theta, max_params=100)


def test_classifier_labels_constructed_points():
    for make, label, rank in ((T.dnc_critical_point, "dnc", 9), (T.low_rank_critical_point, "low_rank", 5)):
        cp = make(10, 5, 12, 2, 2 ** -10, seeds=3)
        out = classify_params(cp.spec, cp.params)
        assert [o["label"] for o in out] == [label] * 3 and all(o["rank"] == rank for o in out)
    # means alone, and a perturbation breaking collapse
    P = torch.eye(4, dtype=torch.float64) - 0.25
    assert classify_solution(5 * P)[0]["label"] == "dnc"
    assert classify_solution(5 * P + 1.0)[0]["label"] == "dnc"  # column shifts do not matter (centred)
    assert classify_solution(torch.eye(4, dtype=torch.float64))[0]["label"] == "dnc"
    M = 5 * P + torch.diag(torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64))
    assert classify_solution(M)[0]["label"] == "other"
    assert classify_solution(M, nc_tol=10.0)[0]["label"] == "dnc"
    assert classify_solution(torch.zeros(4, 4, dtype=torch.float64))[0]["label"] == "other"
    Z = (5 * P).repeat_interleave(3, dim=1)
    noisy = Z + 0.5 * torch.randn(Z.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4).repeat_interleave(3)
    assert classify_solution(Z, labels)[0]["label"] == "dnc"
    assert classify_solution(noisy, labels)[0]["label"] == "other"
    with pytest.raises(ValueError):
        classify_solution(torch.zeros(4, 5))
    batch = torch.stack([5 * P, torch.full((4, 4), float("nan"), dtype=torch.float64)])
    out = classify_solution(batch)
    assert out[0]["label"] == "dnc" and out[1]["label"] == "other" and out[1]["rank"] == 0


def test_classifier_means_of_shuffled_samples_and_tolerance_constants_float64():
    from nclab.ufm import solutions

    assert solutions.CLASSIFIER_TABLE["rank_rtol"].default == solutions.DNC_RANK_RTOL == 1e-3
    assert solutions.CLASSIFIER_TABLE["nc_tol"].default == solutions.DNC_NC_TOL == 0.05
    g = torch.Generator().manual_seed(2)
    P = torch.eye(4, dtype=torch.float64) - 0.25
    Z = (5 * P).repeat_interleave(3, dim=1) + 0.01 * torch.randn(4, 12, generator=g, dtype=torch.float64)
    labels = torch.arange(4).repeat_interleave(3)
    perm = torch.randperm(12, generator=g)
    a, b = classify_solution(Z, labels)[0], classify_solution(Z[:, perm], labels[perm])[0]
    assert a["label"] == b["label"] == "dnc" and a["rank"] == b["rank"] == 3
    assert b["etf_error"] == pytest.approx(a["etf_error"], abs=1e-14)
    assert b["spread"] == pytest.approx(a["spread"], abs=1e-14)
    # the class-mean path equals classifying the means themselves (spread aside)
    means = Z.reshape(4, 4, 3).mean(-1)
    assert classify_solution(means)[0]["etf_error"] == pytest.approx(a["etf_error"], abs=1e-14)
