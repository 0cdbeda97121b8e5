"""THN section 4: the perturbation map F, Eq. 5 and the block spectra of Thm 4.2, float64."""
import math

import pytest
import torch

from nclab.theory import (
    anchored_minimizer,
    block_singular_values,
    class_blocks,
    intra_block_spectrum,
    intra_block_spectrum_values,
    mse_minimizer,
    perturbation_map,
    perturbation_map_large_beta,
    thm42_singular_values,
    unvec,
    vec,
)

f64 = torch.float64


def test_exact_map_matches_finite_differences_of_resolved_minimizer():
    K, n, d = 3, 2, 4
    lam_W, lam_H, beta = 0.2, 0.3, 3.0  # moderate beta: F differs from Eq. 5 here
    W, H = mse_minimizer(K, n, d, lam_W, lam_H)
    F = perturbation_map(W, H, n, lam_W, lam_H, beta)
    g = torch.Generator().manual_seed(0)
    eps = 1e-5
    for _ in range(3):
        E = torch.randn(d, K * n, generator=g, dtype=f64)
        plus = anchored_minimizer(H + eps * E, n, lam_W, lam_H, beta, H_init=H, tol=1e-13).H
        minus = anchored_minimizer(H - eps * E, n, lam_W, lam_H, beta, H_init=H, tol=1e-13).H
        fd = vec(plus - minus) / (2 * eps)
        assert torch.allclose(F @ vec(E), fd, atol=1e-7)


def test_large_beta_form_is_second_order_accurate():
    K, n, d = 3, 2, 4
    lam_W, lam_H = 0.1, 0.2
    W, H = mse_minimizer(K, n, d, lam_W, lam_H)
    errs = []
    for beta in (100.0, 200.0, 400.0):
        F = perturbation_map(W, H, n, lam_W, lam_H, beta)
        F5 = perturbation_map_large_beta(W, H, n, lam_W, lam_H, beta)
        errs.append(float(torch.linalg.matrix_norm(F - F5, ord=2)))
    slopes = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(s - 2) < 0.1 for s in slopes)


@pytest.mark.parametrize("lam_W,lam_H", [(0.01, 0.01), (0.005, 0.05), (0.5, 0.5), (0.1, 2.0)])
def test_block_spectra_match_closed_forms(lam_W, lam_H):
    K, n, d, beta = 3, 3, 5, 50.0
    W, H = mse_minimizer(K, n, d, lam_W, lam_H, rotation=torch.Generator().manual_seed(1))
    F5 = perturbation_map_large_beta(W, H, n, lam_W, lam_H, beta)
    sv = block_singular_values(F5, K, n, d)
    closed = intra_block_spectrum_values(K, n, d, lam_W, lam_H, beta)
    thm = thm42_singular_values(K, d, lam_W, lam_H, beta)
    for k in range(K):
        assert torch.allclose(sv[k, k], closed, atol=1e-12)
        assert float(sv[k, k, 0]) == pytest.approx(thm["sigma_max_kk"], abs=1e-12)
        assert float(sv[k, k, -1]) == pytest.approx(thm["sigma_min_kk"], abs=1e-12)
        for kp in range(K):
            if kp != k:
                assert float(sv[k, kp, 0]) == pytest.approx(thm["sigma_max_kk_prime"], abs=1e-12)
                assert float(sv[k, kp, 1]) < 1e-12  # rank one
    assert sum(m for _, m in intra_block_spectrum(K, n, d, lam_W, lam_H, beta)) == d * n


def test_class_blocks_layout():
    K, n, d = 2, 2, 3
    F = torch.arange((K * n * d) ** 2, dtype=f64).reshape(K * n * d, K * n * d)
    blocks = class_blocks(F, K, n, d)
    m = d * n
    assert torch.equal(blocks[1, 0], F[m:, :m])
    assert torch.equal(blocks[0, 1], F[:m, m:])


def test_theorem_42_assumptions_raise():
    with pytest.raises(ValueError, match="d > K"):
        intra_block_spectrum(4, 2, 4, 0.1, 0.1, 10.0)
    with pytest.raises(ValueError, match="lam_H lam_W < 1"):
        thm42_singular_values(3, 5, 2.0, 0.6, 10.0)
    with pytest.raises(ValueError, match="beta"):
        intra_block_spectrum(3, 2, 5, 0.1, 0.1, 0.0)
    W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    with pytest.raises(ValueError, match="beta"):
        perturbation_map(W, H, 2, 0.1, 0.1, -1.0)


def test_first_order_prediction_of_perturbed_problem():
    K, n, d, beta = 3, 3, 5, 100.0
    lam_W, lam_H = 0.01, 0.02
    W, H = mse_minimizer(K, n, d, lam_W, lam_H)
    F = perturbation_map(W, H, n, lam_W, lam_H, beta)
    E = torch.randn(d, K * n, dtype=f64, generator=torch.Generator().manual_seed(3))
    delta = 1e-4 * E / E.norm()
    dH = anchored_minimizer(H + delta, n, lam_W, lam_H, beta, H_init=H, tol=1e-13).H - H
    pred = unvec(F @ vec(delta), d)
    assert float((dH - pred).norm() / dH.norm()) < 1e-5


def test_weight_map_matches_autograd_and_finite_differences():
    """G (vec dW = G vec dH0) against the autograd implicit Jacobian and a central difference of re-solving."""
    from nclab.experiments.tirer2023.first_order import autograd_maps
    from nclab.theory.shallow.anchored import anchored_minimizer, unvec, vec
    from nclab.theory.shallow.perturbation import weight_perturbation_map
    from nclab.theory.shallow.tirer_bruna import mse_minimizer

    K, n, d, lam_W, lam_H, beta = 3, 2, 4, 0.7, 0.2, 5.0
    W, H = mse_minimizer(K, n, d, lam_W, lam_H, rotation=torch.Generator().manual_seed(1))
    G = weight_perturbation_map(W, H, n, lam_W, lam_H, beta)
    F_auto, G_auto = autograd_maps(W, H, n, lam_W, lam_H, beta)
    assert G.shape == (K * d, d * K * n)
    assert torch.allclose(G, G_auto, rtol=0, atol=1e-12)
    assert torch.allclose(perturbation_map(W, H, n, lam_W, lam_H, beta), F_auto, rtol=0, atol=1e-12)
    E = torch.randn(H.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    h = 1e-5
    Wp = anchored_minimizer(H + h * E, n, lam_W, lam_H, beta, H_init=H, tol=1e-14).W
    Wm = anchored_minimizer(H - h * E, n, lam_W, lam_H, beta, H_init=H, tol=1e-14).W
    assert torch.allclose((Wp - Wm) / (2 * h), unvec(G @ vec(E), K), rtol=0, atol=1e-7)
