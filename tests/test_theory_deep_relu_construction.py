"""GK Theorem 7 (arXiv 2410.23169 v2, proof B.9): the ReLU low-rank construction, float64.

The closed form is checked against the engine's ReLU objective (an independent evaluation: the
engine runs the forward pass with torch.relu), the construction's structure is checked entry by
entry, and the equal-scale region against the sentences of B.9.
"""
import math

import numpy as np
import pytest
import torch

from nclab import theory as T
from nclab.theory.deep.relu_construction import (
    relu_construction,
    relu_construction_loss,
    relu_construction_optimum,
    relu_equal_scale_condition,
)
from nclab.ufm.objective import forward_all, parts
from nclab.ufm.spec import UFMSpec

CASES = [(10, 5, 12, 5, 0.9), (14, 5, 14, 4, 1.1), (11, 5, 13, 5, 0.8), (17, 3, 17, 4, 1.2), (4, 2, 6, 2, 1.3),
         (3, 1, 5, 3, 0.7), (2, 4, 2, 6, 1.05), (9, 2, 9, 7, 0.95)]


def _engine(c, lam):
    spec = UFMSpec.garrod(c.K, c.n, c.d, c.L, lam, activation="relu")
    with torch.no_grad():
        return float(parts(spec, c.params)["loss"][0]), forward_all(spec, c.params)


@pytest.mark.parametrize("K,n,d,L,psi", CASES)
def test_engine_relu_objective_equals_the_closed_form(K, n, d, L, psi):
    c = relu_construction(K, n, d, L, psi)
    for lam in (2.0 ** -12, 2.0 ** -9, 2.0 ** -4):
        engine, _ = _engine(c, lam)
        assert engine == pytest.approx(float(relu_construction_loss(psi, K, n, L, lam)), abs=1e-10)


@pytest.mark.parametrize("K,n,d,L,psi", CASES)
def test_relu_acts_as_the_identity_and_Z_has_the_block_structure(K, n, d, L, psi):
    c = relu_construction(K, n, d, L, psi)
    _, out = _engine(c, 0.01)
    assert len(out.pre) == L - 1
    for A, X in zip(out.pre, out.layers[1:]):
        assert float(A.min()) >= -1e-12
        assert torch.allclose(A, X, atol=1e-12)  # ReLU changed nothing beyond rounding
        # pre-activations: phi (X̄ + Ȳ) (x) 1_n^T in the first K rows, 0 below; zeros on the partner entries
        G = A[0, :K, ::n] / A[0, 0, 0]
        assert torch.allclose(A[0, :K], torch.repeat_interleave(A[0, :K, ::n], n, dim=1), atol=1e-12)
        assert A.shape[1] == K or float(A[0, K:].abs().max()) == 0.0
        m = K // 2
        expect = torch.zeros(K, K, dtype=torch.float64)
        expect[: 2 * m, : 2 * m] = 0.5
        for i in range(m):
            expect[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        if K % 2:
            expect[-1, -1] = 1.0
        assert torch.allclose(G, expect, atol=1e-12)
    # Z = beta X̄ (x) 1_n^T: pairs beta(1, -1), the extra class of odd K has 2 beta on its own entry
    Z = out.Z[0]
    M = torch.zeros(K, K, dtype=torch.float64)
    for i in range(K // 2):
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    if K % 2:
        M[-1, -1] = 2.0
    assert torch.allclose(Z, torch.repeat_interleave(c.beta * M, n, dim=1), atol=1e-10 * max(1.0, c.beta))
    assert torch.allclose(c.M, c.beta * M, atol=1e-12)
    assert int(torch.linalg.matrix_rank(Z, rtol=1e-10)) == (K + 1) // 2


@pytest.mark.parametrize("K,n,d,L,psi", CASES[:4])
def test_factors_are_balanced_with_the_stated_norm(K, n, d, L, psi):
    c = relu_construction(K, n, d, L, psi)
    q = 2 * K + (4 if K % 2 == 0 else 6)
    norms = [float((t ** 2).sum()) for t in c.params.tensors()]
    assert norms == pytest.approx([q * psi ** 2] * (L + 1), rel=1e-12)
    # B.9's singular values of H_2 = W_1 H_1 (even K): K sqrt(n) phi_2 once and 2 sqrt(n) phi_2 K/2 times
    s = torch.linalg.svdvals(c.params.W[0][0] @ c.params.H[0])
    if K % 2 == 0:
        assert float(s[0] / s[1]) == pytest.approx(K / 2, rel=1e-12)
        assert int((s > 1e-10 * s[0]).sum()) == K // 2 + 1


def test_beta_scale_formula():
    # beta sqrt(n) = 2^{L-1} psi^{L+1} ((K+2)/K)^{3/2} (even K)
    c = relu_construction(10, 5, 10, 5, 0.9)
    assert c.beta * math.sqrt(5) == pytest.approx(2 ** 4 * 0.9 ** 6 * (12 / 10) ** 1.5, rel=1e-14)


@pytest.mark.parametrize("K,L", [(10, 5), (14, 4), (11, 5), (17, 4), (8, 6), (10, 3)])
def test_optimum_is_a_minimum_of_the_closed_form_and_of_the_engine(K, L):
    n, lam = 5, 2.0 ** -9
    psi, beta, loss = relu_construction_optimum(K, n, L, lam)
    grid = np.linspace(0.5 * psi, 1.5 * psi, 2001)
    assert loss <= float(relu_construction_loss(grid, K, n, L, lam).min()) + 1e-13
    assert loss == pytest.approx(float(relu_construction_loss(psi, K, n, L, lam)), abs=1e-14)
    c = relu_construction(K, n, K, L, psi)
    assert c.beta == pytest.approx(beta, rel=1e-12)
    assert _engine(c, lam)[0] == pytest.approx(loss, abs=1e-10)
    for p in (psi * (1 - 1e-3), psi * (1 + 1e-3)):  # the engine rises on both sides of psi*
        assert _engine(relu_construction(K, n, K, L, p), lam)[0] > loss


def test_against_the_linear_dnc_bound_at_R_numbers():
    # beats the bound inside the region (10, 5), (14, 4), (11, 5), (17, 4) and at (8, 6) beyond it;
    # not at (12, 4), (15, 4) (outside the region) nor at Fig. 6's L = 3
    lam = 2.0 ** -9
    for K, L, beats in [(10, 5, True), (14, 4, True), (11, 5, True), (17, 4, True), (8, 6, True),
                        (12, 4, False), (15, 4, False), (10, 3, False)]:
        assert (relu_construction_optimum(K, 5, L, lam)[2] < T.dnc_optimum(K, 5, L, lam)[1]) is beats
    assert relu_construction_optimum(10, 5, 3, lam)[2] == pytest.approx(0.167825, abs=1e-6)


def test_equal_scale_region_reproduces_the_proof_sentences():
    Ks = range(2, 41)
    region = {L: [K for K in Ks if relu_equal_scale_condition(K, L)] for L in range(2, 11)}
    assert region[2] == [] and region[3] == []
    even = {L: min(K for K in region[L] if K % 2 == 0) for L in range(4, 11)}
    odd = {L: min(K for K in region[L] if K % 2 == 1) for L in range(4, 11)}
    assert even[4] == 14 and odd[4] == 17  # "L = 4, K >= 14" / "L = 4, K >= 17"
    assert even[5] == 10 and odd[5] == 11  # "L >= 5, K >= 10" / "L >= 5, K >= 11" at L = 5
    for L in range(4, 11):  # above its smallest K every K of that parity is in (monotone in K)
        for K in Ks:
            if K >= (even if K % 2 == 0 else odd)[L]:
                assert K in region[L], (K, L)
    # the paper's parity region is inside (for L >= 5 the construction reaches smaller K: L = 6, K >= 8)
    for K in Ks:
        for L in range(2, 11):
            if T.theorem7_relu_rule(K, L):
                assert relu_equal_scale_condition(K, L), (K, L)
    assert even[6] == 8 and relu_equal_scale_condition(8, 6) and not T.theorem7_relu_rule(8, 6)


def test_equal_scale_condition_matches_the_closed_forms_at_equal_output_scale():
    # independent of lam and n: compare the regularisers of the closed forms at beta = alpha
    for K in (6, 9, 10, 13, 14, 17, 20):
        for L in (2, 3, 4, 5, 6):
            lam, n = 0.01, 3
            q = 2 * K + (4 if K % 2 == 0 else 6)
            beta = 3.0
            unit = relu_construction(K, n, K, L, 1.0).beta  # beta(psi) = unit psi^{L+1}
            psi_b = (beta / unit) ** (1.0 / (L + 1))
            reg_lr = 0.5 * lam * (L + 1) * q * psi_b ** 2
            reg_dnc = float(T.dnc_loss(beta, K, n, L, lam)) - math.log1p((K - 1) * math.exp(-beta))
            assert (reg_lr < reg_dnc) is relu_equal_scale_condition(K, L), (K, L)


@pytest.mark.parametrize("call,name", [
    (lambda: relu_construction(1, 5, 5, 3, 1.0), "K"),
    (lambda: relu_construction(4, 0, 5, 3, 1.0), "n"),
    (lambda: relu_construction(4, 5, 3, 3, 1.0), "d"),
    (lambda: relu_construction(4, 5, 5, 1, 1.0), "L"),
    (lambda: relu_construction(4, 5, 5, 3, -1.0), "psi"),
    (lambda: relu_construction(4, 5, 5, 3, float("nan")), "psi"),
    (lambda: relu_construction(4.5, 5, 5, 3, 1.0), "K"),
    (lambda: relu_construction_loss(-0.1, 4, 5, 3, 0.01), "psi"),
    (lambda: relu_construction_loss(1.0, 4, 5, 3, 0.0), "lam"),
    (lambda: relu_construction_optimum(4, 5, 1, 0.01), "L"),
    (lambda: relu_construction_optimum(4, 5, 3, -1.0), "lam"),
    (lambda: relu_equal_scale_condition(1, 4), "K"),
    (lambda: relu_equal_scale_condition(10, 1), "L"),
])
def test_bad_inputs_raise_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        call()


def test_zero_scale_is_the_zero_point():
    c = relu_construction(6, 2, 6, 3, 0.0)
    assert c.beta == 0.0 and all(float(t.abs().max()) == 0.0 for t in c.params.tensors())
    assert float(relu_construction_loss(0.0, 6, 2, 3, 0.1)) == pytest.approx(math.log(6))
    # a huge lam: the zero point wins
    assert relu_construction_optimum(6, 2, 3, 10.0) == (0.0, 0.0, pytest.approx(math.log(6)))
