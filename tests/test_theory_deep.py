"""Closed forms of Garrod & Keating 2025 (deep UFM): losses, optima, Theorem 1, dimensions, superiority."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize_scalar

from nclab import theory as T


def test_reference_numbers():
    """Reference numbers of docs/math.md §6.8 (K=10, n=5)."""
    a, ld = T.dnc_optimum(10, 5, 2, 2 ** -10)
    b, lr = T.low_rank_optimum(10, 5, 2, 2 ** -10)
    assert abs(a - 7.0375) < 1e-4 and abs(ld - 0.090662) < 1e-6
    assert abs(b - 7.047) < 1e-3 and abs(lr - 0.080013) < 1e-6
    assert abs(T.dnc_optimum(10, 5, 3, 2 ** -9)[1] - 0.147061) < 1e-6
    assert abs(T.low_rank_optimum(10, 5, 3, 2 ** -9)[1] - 0.116525) < 1e-6


@settings(max_examples=25, deadline=None)
@given(K=st.integers(2, 12), n=st.integers(1, 6), L=st.integers(1, 5), e=st.floats(-14, -4))
def test_optima_against_numerical_minimisation(K, n, L, e):
    lam = 2.0 ** e
    for optimum, loss in ((T.dnc_optimum, T.dnc_loss), (T.low_rank_optimum, T.low_rank_loss)):
        x, v = optimum(K, n, L, lam)
        assert v == pytest.approx(float(loss(x, K, n, L, lam)), abs=1e-12)
        grid = np.linspace(0, 60, 20001)
        assert v <= loss(grid, K, n, L, lam).min() + 1e-12
        if x > 0:
            res = minimize_scalar(lambda t: float(loss(t, K, n, L, lam)), bounds=(0.5 * x, 1.5 * x), method="bounded",
                                  options={"xatol": 1e-10})
            assert v <= res.fun + 1e-12


def test_closed_forms_match_logit_structures():
    """L_DNC and the block loss equal the generic structure loss of their logit matrices."""
    K, n, L, lam = 6, 3, 2, 2 ** -7
    P = torch.eye(K, dtype=torch.float64) - 1.0 / K
    for s in (0.5, 3.0, 9.0):
        assert T.structure_loss(s, P, n, L, lam) == pytest.approx(float(T.dnc_loss(s, K, n, L, lam)), rel=1e-12)
        assert T.structure_loss(s, T.block_matrix(K), n, L, lam) == pytest.approx(float(T.low_rank_loss(s, K, n, L, lam)), rel=1e-12)
    B7 = T.block_matrix(7)
    assert T.structure_loss(2.0, B7, n, L, lam) == pytest.approx(float(T.low_rank_loss(2.0, 7, n, L, lam)), rel=1e-12)


def test_critical_point_equation_roots():
    K, n, L, lam = 10, 5, 2, 2 ** -10
    small, large = T.dnc_critical_points(K, n, L, lam)
    for a in (small, large):
        assert lam * n ** (1 / (L + 1)) == pytest.approx(a ** ((L - 1) / (L + 1)) / (math.exp(a) + K - 1), rel=1e-9)
    assert large == pytest.approx(T.dnc_optimum(K, n, L, lam)[0], rel=1e-12)
    assert len(T.dnc_critical_points(K, n, 1, lam)) == 1
    assert T.dnc_critical_points(K, n, 3, 10.0) == ()
    assert T.dnc_optimum(K, n, 3, 10.0) == (0.0, pytest.approx(math.log(K)))


def test_effective_lambda_is_geometric_mean_and_exact():
    lam_H, lam_W = 1e-3, (2e-2, 5e-3)
    lam_bar = T.effective_lambda(L=2, lam_H=lam_H, lam_W=lam_W)
    assert lam_bar == pytest.approx((lam_H * 2e-2 * 5e-3) ** (1 / 3))
    assert T.dnc_optimum(6, 3, 2, lam_H=lam_H, lam_W=lam_W) == T.dnc_optimum(6, 3, 2, lam_bar)
    # the constructed point with per-parameter lambdas has the closed-form loss (engine objective)
    from nclab.ufm.objective import loss_and_grad, grad_norm
    cp = T.dnc_critical_point(6, 3, 8, 2, lam_H=lam_H, lam_W=list(lam_W), seeds=2)
    parts, g = loss_and_grad(cp.spec, cp.params)
    assert torch.allclose(parts["loss"], torch.tensor(cp.loss, dtype=torch.float64), atol=1e-12)
    assert float(grad_norm(g).max()) < 1e-8


def test_theorem1_condition_matches_statement():
    for K in range(2, 17):
        for L in range(1, 7):
            assert T.theorem1_condition(K, L) == T.theorem1_applies(K, L), (K, L)
    # where it holds, the block construction beats DNC at the same scale
    for beta in (2.0, 6.0):
        assert T.low_rank_loss(beta, 10, 5, 2, 2 ** -10) < T.dnc_loss(beta, 10, 5, 2, 2 ** -10)


def test_theorem7_table():
    assert T.theorem7_relu_rule(10, 5) and T.theorem7_relu_rule(16, 4) and T.theorem7_relu_rule(14, 4)
    assert not T.theorem7_relu_rule(15, 4) and not T.theorem7_relu_rule(9, 5) and not T.theorem7_relu_rule(16, 3)
    for K in range(2, 30):  # the main-text region lies inside the parity region of the proof (B.9)
        for L in range(1, 8):
            if (K >= 10 and L >= 5) or (K >= 16 and L == 4):
                assert T.theorem7_relu_rule(K, L)


@pytest.mark.parametrize("call", [
    lambda: T.dnc_optimum(1, 5, 2, 0.1),
    lambda: T.dnc_optimum(10, 5, 0, 0.1),
    lambda: T.dnc_optimum(10, 5, 2, 0.0),
    lambda: T.low_rank_optimum(10, 5, 2, -1.0),
    lambda: T.effective_lambda(L=2, lam_H=1.0, lam_W=[1.0]),
    lambda: T.dnc_critical_point(10, 5, 9, 2, 0.01),
    lambda: T.low_rank_critical_point(9, 5, 12, 2, 0.01),
    lambda: T.dnc_dimension(10, 9, 2),
    lambda: T.dimension_ratio(10, 9, 12),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_dimension_ratio():
    for K, r in ((10, 5), (10, 2), (6, 3), (16, 8)):
        ds = list(range(K, 400))
        for which in ("low", "high"):
            R = T.dimension_ratio(K, r, ds, C=which)
            assert all(b > a for a, b in zip(R, R[1:]))
            assert R[0] < 1
            assert R[-1] < (K - 1) / r and R[-1] > 0.9 * (K - 1) / r
    cross = T.dimension_crossing(10, 5)
    assert (cross.lower, cross.upper) == (14.0, 16.5)
    assert T.dimension_ratio(10, 5, 14, C="high") == pytest.approx(1.0)
    assert T.dnc_dimension(10, 70, 2) == 2 * 9 * 61
    b = T.low_rank_dimension(5, 70, 2, K=10)
    assert b.lower == 2 * (350 - 25) and b.upper == 2 * (350 - 15)


def test_diagonal_superiority_and_q_K():
    for K in range(3, 12):
        M = T.rank2_superior_matrix(K)
        assert T.is_diagonally_superior(M)
        assert torch.linalg.matrix_rank(M) == 2
        assert T.q_K(K) == 2
    assert T.q_K(2) == 1 and T.is_diagonally_superior(T.block_matrix(2))
    assert T.is_diagonally_superior(T.block_matrix(7))
    assert not T.is_diagonally_superior(torch.ones(4, 4, dtype=torch.float64))
    # no rank-1 matrix is diagonally superior for K >= 3 (random search cannot find one)
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(2000, 5, 1, generator=g, dtype=torch.float64), torch.randn(2000, 1, 5, generator=g, dtype=torch.float64)
    assert not bool(T.is_diagonally_superior(u @ v).any())
    # Theorem 2 flavour: at large depth the rank-2 structure beats DNC
    P = torch.eye(10, dtype=torch.float64) - 0.1
    lam = 2 ** -12
    assert T.structure_optimum(T.rank2_superior_matrix(10), 5, 40, lam)[1] < T.structure_optimum(P, 5, 40, lam)[1]


def test_theorem1_table_calls_float_noise_a_tie():
    from nclab.theory.deep.low_rank import theorem1_table

    rows = {(r["K"], r["L"]): r for r in theorem1_table([2, 4, 6], [2, 3], 5, 2.0 ** -10)}
    # at K = 2 the rank-1 structure is the DNC one: equal losses up to rounding, no winner
    assert rows[2, 2]["tie"] and rows[2, 3]["tie"] and not rows[2, 2]["low_rank_better"]
    for key in ((4, 3), (6, 2), (6, 3)):  # Theorem 1's region: a real win, no tie
        assert rows[key]["low_rank_better"] and not rows[key]["tie"]
    assert not rows[4, 2]["low_rank_better"] and not rows[4, 2]["tie"]
