"""Shallow MSE UFM theory (Tirer & Bruna Thm 3.1; THN Eq. 1-4, Cor. 2.2, Thm 3.1) vs numerics, float64."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

from nclab.layout import one_hot_targets
from nclab.theory import (
    anchored_hessian_blocks,
    anchored_layers,
    anchored_minimizer,
    feature_flow_rhs,
    integrate_feature_flow,
    mse_minimizer,
    mse_minimizer_rho,
    mse_minimum_value,
    mse_ufm_gradients,
    mse_ufm_loss,
    optimal_classifier,
    trace_covariances,
    unvec,
    vec,
)

f64 = torch.float64


def _lbfgs_min(K, n, d, lam_W, lam_H, seed, H0=None, beta=0.0):
    rng = np.random.default_rng(seed)
    N = K * n
    Y = one_hot_targets(K, n).numpy()

    def fun(x):
        W = x[: K * d].reshape(K, d)
        H = x[K * d:].reshape(d, N)
        R = W @ H - Y
        val = (R ** 2).sum() / (2 * N) + lam_W / (2 * K) * (W ** 2).sum() + lam_H / (2 * N) * (H ** 2).sum()
        gW = R @ H.T / N + lam_W / K * W
        gH = W.T @ R / N + lam_H / N * H
        if beta:
            val += beta / (2 * N) * ((H - H0) ** 2).sum()
            gH = gH + beta / N * (H - H0)
        return val, np.concatenate([gW.ravel(), gH.ravel()])

    x0 = rng.standard_normal(K * d + d * N)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15})
    return res.fun


@settings(max_examples=12, deadline=None)
@given(
    K=st.integers(2, 4),
    n=st.integers(1, 3),
    extra=st.integers(0, 2),
    lam_W=st.floats(1e-3, 2.0),
    lam_H=st.floats(1e-3, 2.0),
)
def test_minimizer_is_stationary_collapsed_and_attains_minimum(K, n, extra, lam_W, lam_H):
    d = K + extra
    W, H = mse_minimizer(K, n, d, lam_W, lam_H, rotation=torch.Generator().manual_seed(K + n))
    val = float(mse_ufm_loss(W, H, n, lam_W, lam_H))
    assert val == pytest.approx(mse_minimum_value(K, n, lam_W, lam_H), abs=1e-12)
    gW, gH = mse_ufm_gradients(W, H, n, lam_W, lam_H)
    assert float(gW.abs().max()) < 1e-12 and float(gH.abs().max()) < 1e-12
    Hbar = H[:, ::n]
    rho = mse_minimizer_rho(lam_W, lam_H)
    assert torch.allclose(Hbar.mT @ Hbar, rho * torch.eye(K, dtype=f64), atol=1e-12)
    assert torch.allclose(H, Hbar.repeat_interleave(n, dim=1))
    if math.sqrt(lam_W * lam_H) > 1:
        assert float(W.abs().max()) == 0.0 and float(H.abs().max()) == 0.0


@pytest.mark.parametrize("lam_W,lam_H", [(0.05, 0.02), (0.5, 0.8), (2.0, 1.0)])
def test_minimum_value_matches_lbfgs(lam_W, lam_H):
    K, n, d = 3, 2, 4
    best = min(_lbfgs_min(K, n, d, lam_W, lam_H, seed) for seed in range(3))
    assert best == pytest.approx(mse_minimum_value(K, n, lam_W, lam_H), abs=1e-9)


def test_optimal_classifier_solves_normal_equations():
    g = torch.Generator().manual_seed(0)
    K, n, d, lam_W = 3, 4, 5, 0.3
    H = torch.randn(2, d, K * n, generator=g, dtype=f64)
    W = optimal_classifier(H, n, lam_W)
    Y = one_hot_targets(K, n)
    for s in range(2):
        # least squares on [H^T; sqrt(n lam_W) I] W^T = [Y^T; 0]
        A = torch.cat([H[s].mT, math.sqrt(n * lam_W) * torch.eye(d, dtype=f64)])
        rhs = torch.cat([Y.mT, torch.zeros(d, K, dtype=f64)])
        ref = torch.linalg.lstsq(A, rhs).solution.mT
        assert torch.allclose(W[s], ref, atol=1e-12)
    gW, _ = mse_ufm_gradients(W, H, n, lam_W, 0.1)
    assert float(gW.abs().max()) < 1e-13


def test_minimizer_rotation_and_bad_input():
    K, n, d = 3, 2, 5
    Q = torch.linalg.qr(torch.randn(d, d, dtype=f64, generator=torch.Generator().manual_seed(1)))[0]
    W, H = mse_minimizer(K, n, d, 0.1, 0.2, rotation=Q)
    assert torch.allclose(H[:, ::n], math.sqrt(mse_minimizer_rho(0.1, 0.2)) * Q[:, :K])
    with pytest.raises(ValueError, match="d >= K"):
        mse_minimizer(4, 2, 3, 0.1, 0.1)
    with pytest.raises(ValueError, match="lam_H"):
        mse_minimizer(3, 2, 4, 0.1, 0.0)
    with pytest.raises(ValueError, match="orthonormal"):
        mse_minimizer(3, 2, 4, 0.1, 0.1, rotation=2 * torch.eye(4, dtype=f64))


def _problem(seed=0, K=3, n=3, d=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, K * n, generator=g, dtype=f64), K, n, d


def test_hessian_blocks_match_autograd():
    H0, K, n, d = _problem()
    g = torch.Generator().manual_seed(5)
    W = torch.randn(K, d, generator=g, dtype=f64)
    H = torch.randn(d, K * n, generator=g, dtype=f64)
    lam_W, lam_H, beta = 0.1, 0.05, 2.0
    N = K * n

    def f(x):
        return N * mse_ufm_loss(unvec(x[: K * d], K), unvec(x[K * d:], d), n, lam_W, lam_H, H0=H0, beta=beta)

    full = torch.autograd.functional.hessian(f, torch.cat([vec(W), vec(H)]))
    A, B, C = anchored_hessian_blocks(W, H, n, lam_W, lam_H, beta)
    assert torch.allclose(full[K * d:, K * d:], A, atol=1e-12)
    assert torch.allclose(full[: K * d, : K * d], C, atol=1e-12)
    assert torch.allclose(full[K * d:, : K * d], B, atol=1e-12)


@pytest.mark.parametrize("beta", [0.05, 1.0, 100.0])
def test_anchored_minimizer_gradient_and_lbfgs(beta):
    H0, K, n, d = _problem(1)
    lam_W, lam_H = 0.2, 0.1
    res = anchored_minimizer(H0, n, lam_W, lam_H, beta)
    assert res.converged and res.grad_norm <= 1e-10 and res.local_min
    best = min(_lbfgs_min(K, n, d, lam_W, lam_H, s, H0=H0.numpy(), beta=beta) for s in range(3))
    assert res.loss <= best + 1e-9


def test_anchor_at_zero_is_plain_ufm_and_cor22():
    K, n, d = 3, 2, 4
    lam_W, lam_H, beta = 0.3, 0.1, 0.4
    res = anchored_minimizer(torch.zeros(d, K * n, dtype=f64), n, lam_W, lam_H, beta,
                             H_init=torch.randn(d, K * n, dtype=f64, generator=torch.Generator().manual_seed(2)))
    assert res.loss == pytest.approx(mse_minimum_value(K, n, lam_W, lam_H + beta), abs=1e-10)
    # THN Cor. 2.2: anchored at H*, the minimiser is (W*, H*), also from a perturbed start
    W_star, H_star = mse_minimizer(K, n, d, lam_W, lam_H)
    start = H_star + 0.05 * torch.randn(d, K * n, dtype=f64, generator=torch.Generator().manual_seed(3))
    res = anchored_minimizer(H_star, n, lam_W, lam_H, 5.0, H_init=start)
    assert torch.allclose(res.H, H_star, atol=1e-10) and torch.allclose(res.W, W_star, atol=1e-10)


def test_anchored_layers_reduce_trace_ratio_for_large_beta():
    H0, K, n, d = _problem(4, K=3, n=4, d=6)
    out = anchored_layers(H0, n, 0.1, 0.05, 20.0, layers=4)
    ratios = [float(torch.div(*trace_covariances(r.H, n))) for r in out]
    r0 = float(torch.div(*trace_covariances(H0, n)))
    assert all(b < a for a, b in zip([r0] + ratios, ratios))
    assert all(r.converged for r in out)


def test_flow_rhs_is_minus_Kn_gradient_at_optimal_classifier():
    H, K, n, d = _problem(6)
    lam_W, lam_H = 0.1, 0.05
    W = optimal_classifier(H, n, lam_W)
    _, gH = mse_ufm_gradients(W, H, n, lam_W, lam_H)
    assert torch.allclose(feature_flow_rhs(H, n, lam_W, lam_H), -K * n * gH, atol=1e-13)
    # envelope theorem: d/dH L(W*(H), H) equals the partial gradient at W*(H)
    Hr = H.clone().requires_grad_(True)
    total = mse_ufm_loss(optimal_classifier(Hr, n, lam_W), Hr, n, lam_W, lam_H)
    (grad,) = torch.autograd.grad(total, Hr)
    assert torch.allclose(grad, gH, atol=1e-13)


@pytest.mark.parametrize("lam_W,lam_H", [(0.1, 0.05), (0.2, 0.0)])
def test_flow_theorem_31_quantities_and_accuracy(lam_W, lam_H):
    H0, K, n, d = _problem(7, K=3, n=3, d=5)
    res = integrate_feature_flow(H0, n, lam_W, lam_H, 60.0, num_times=40)
    assert res.success and res.integration_error < 1e-6
    assert np.all(np.diff(res.nc1_ratio) < 0)
    tol = 10 * res.integration_error + 1e-12
    assert np.all(np.diff(res.within_scaled) <= tol * res.within_scaled[:-1])
    assert np.all(np.diff(res.between_scaled) > 0)
    # against explicit RK4 with a small fixed step at t = 2
    h, H = 1e-3, H0.clone()
    for _ in range(2000):
        k1 = feature_flow_rhs(H, n, lam_W, lam_H)
        k2 = feature_flow_rhs(H + h / 2 * k1, n, lam_W, lam_H)
        k3 = feature_flow_rhs(H + h / 2 * k2, n, lam_W, lam_H)
        k4 = feature_flow_rhs(H + h * k3, n, lam_W, lam_H)
        H = H + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    at2 = integrate_feature_flow(H0, n, lam_W, lam_H, 2.0, t_eval=np.array([0.0, 2.0]), check_error=False)
    assert torch.allclose(at2.H[-1], H, atol=1e-9)


def test_trace_covariances_match_geometry():
    from nclab.classwise import between_class_covariance, within_class_covariance
    from nclab.layout import class_ordered_labels

    H, K, n, d = _problem(8)
    labels = class_ordered_labels(K, n)
    tw, tb = trace_covariances(H, n)
    assert float(tw) == pytest.approx(float(torch.trace(within_class_covariance(H.mT, labels, K))), rel=1e-12)
    assert float(tb) == pytest.approx(float(torch.trace(between_class_covariance(H.mT, labels, K))), rel=1e-12)


def test_cross_block_equals_kronecker_form():
    from nclab.theory import commutation_matrix

    K, n, d = 3, 2, 4
    g = torch.Generator().manual_seed(9)
    W = torch.randn(K, d, generator=g, dtype=f64)
    H = torch.randn(d, K * n, generator=g, dtype=f64)
    R = W @ H - one_hot_targets(K, n)
    T = commutation_matrix(K, d)
    assert torch.equal(T @ vec(W), vec(W.mT))
    ref = torch.kron(R.mT.contiguous(), torch.eye(d, dtype=f64)) @ T + torch.kron(H.mT.contiguous(), W.mT.contiguous())
    _, B, _ = anchored_hessian_blocks(W, H, n, 0.1, 0.1, 1.0)
    assert torch.allclose(B, ref, atol=1e-14)
