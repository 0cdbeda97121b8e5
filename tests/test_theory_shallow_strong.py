"""Mixon, Parshall, Pi: strong neural collapse, the invariant subspace S and the risk on S, float64."""
import math

import pytest
import torch

from nclab.theory import (
    S_dimension,
    distance_to_S,
    flow_on_S,
    mixon_gradients,
    mixon_risk,
    project_S,
    risk_on_S,
    strong_nc_errors,
    strong_nc_point,
)

f64 = torch.float64
C, N, p = 3, 3, 5


def _random(seed, S=None):
    g = torch.Generator().manual_seed(seed)
    lead = () if S is None else (S,)
    return (torch.randn(*lead, p, C * N, generator=g, dtype=f64), torch.randn(*lead, C, p, generator=g, dtype=f64),
            torch.randn(*lead, C, generator=g, dtype=f64))


def _flat(H, W, b):
    return torch.cat([H.reshape(-1), W.reshape(-1), b.reshape(-1)])


def _unflat(x):
    a, b_ = p * C * N, C * p
    return x[:a].reshape(p, C * N), x[a:a + b_].reshape(C, p), x[a + b_:]


def test_strong_nc_point_is_exact():
    H, W, b = strong_nc_point(C, N, p, generator=torch.Generator().manual_seed(0))
    errs = strong_nc_errors(H, W, b, N)
    assert all(float(v) < 1e-14 for v in errs.values())
    assert float(mixon_risk(H, W, b, N)) < 1e-28
    assert float(W.square().sum()) == pytest.approx(math.sqrt(N) * (C - 1))
    assert float(H.square().sum()) == pytest.approx(math.sqrt(N) * (C - 1))
    assert float(distance_to_S(H, W, b, N)) < 1e-14
    with pytest.raises(ValueError, match="p"):
        strong_nc_point(5, 2, 3)


def test_projection_is_orthogonal_projector_of_rank_dim_S():
    D = p * C * N + C * p + C
    P = torch.stack([_flat(*project_S(*_unflat(e), N)) for e in torch.eye(D, dtype=f64)], dim=1)
    assert torch.allclose(P @ P, P, atol=1e-13)  # idempotent
    assert torch.allclose(P, P.mT, atol=1e-13)  # orthogonal in the E inner product
    assert round(float(torch.trace(P))) == S_dimension(C, p)


def test_S_invariant_under_gradient_step_and_risk_on_S():
    H, W, b = _random(1)
    Hs, Ws, bs = project_S(H, W, b, N)
    for _ in range(5):
        gH, gW, gb = mixon_gradients(Hs, Ws, bs, N)
        Hs, Ws, bs = Hs - 0.7 * gH, Ws - 0.7 * gW, bs - 0.7 * gb
        assert float(distance_to_S(Hs, Ws, bs, N)) < 1e-14
        assert float(risk_on_S(Ws, bs[0], N)) == pytest.approx(float(mixon_risk(Hs, Ws, bs, N)), rel=1e-12)


def test_gradients_match_autograd_batched():
    H, W, b = _random(2, S=2)
    params = [t.clone().requires_grad_(True) for t in (H, W, b)]
    mixon_risk(*params, N).sum().backward()
    for got, ref in zip(mixon_gradients(H, W, b, N), params):
        assert torch.allclose(got, ref.grad, atol=1e-14)


def test_flow_on_S_matches_small_step_descent():
    H, W, b = project_S(*_random(3), N)
    W, H, b = 0.1 * W, 0.1 * H, 0.0 * b
    sigma0 = torch.linalg.svdvals(W)[: C - 1]
    h, steps = 1e-3, 20000  # t = 20
    for _ in range(steps):
        gH, gW, gb = mixon_gradients(H, W, b, N)
        H, W, b = H - h * gH, W - h * gW, b - h * gb
    sigma, beta = flow_on_S(sigma0, 0.0, h * steps, C, N)
    assert torch.allclose(torch.linalg.svdvals(W)[: C - 1], sigma, rtol=2e-3)
    assert float(b[0]) == pytest.approx(float(beta), rel=2e-3)


def test_errors_are_batched_and_distance_relative():
    H, W, b = _random(4, S=3)
    errs = strong_nc_errors(H, W, b, N)
    assert all(v.shape == (3,) for v in errs.values())
    d = distance_to_S(H, W, b, N)
    assert d.shape == (3,) and bool((d > 0).all()) and bool((d <= 1).all())


def test_flow_on_S_at_large_times_reaches_strong_nc_without_overflow():
    import math

    from nclab.theory.shallow.strong_collapse import flow_on_S

    sigma, beta = flow_on_S(0.5, 0.0, 1e4, 3, 2)
    assert float(sigma) == pytest.approx(2 ** 0.25, rel=1e-12) and float(beta) == pytest.approx(1 / 3, rel=1e-12)
    s1, _ = flow_on_S(0.5, 0.0, 1.0, 3, 2)  # the logistic form at a small time, written out
    a, u0 = 1 / (3 * math.sqrt(2)), 0.25 / math.sqrt(2)
    u = u0 * math.exp(2 * a) / (1 - u0 + u0 * math.exp(2 * a))
    assert float(s1) == pytest.approx(math.sqrt(u * math.sqrt(2)), rel=1e-13)
