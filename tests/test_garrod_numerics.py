"""Small-lambda numerics of GK's closed-form losses (issue 13 item 7), against mpmath.

At lam <= 2^-50 the optimal scales exceed 35 and the fit terms fall below float64's epsilon,
so ``log(1 + x)`` loses them; the closed forms must use ``log1p``. The reference minimises the
same loss in 50-digit arithmetic by a grid and a ternary search, independent of the scipy path.
"""
import mpmath as mp
import numpy as np
import pytest
import torch

from nclab import theory as T
from nclab.theory.deep.low_rank import dnc_loss, dnc_optimum, low_rank_loss, low_rank_optimum


def _lr(b, K, n, L, lam):
    m, odd = divmod(K, 2)
    p, s = mp.mpf(2) / (L + 1), mp.sqrt(n)
    pair = mp.log(1 + mp.exp(-2 * b) + (K - 2) * mp.exp(-b))
    if odd:
        return ((K - 1) * pair + mp.log(1 + (K - 1) * mp.exp(-b))) / K + lam / 2 * (L + 1) * (m * (2 * b * s) ** p + (b * s) ** p)
    return pair + lam / 2 * (L + 1) * m * (2 * b * s) ** p


def _dnc(a, K, n, L, lam):
    return mp.log(1 + (K - 1) * mp.exp(-a)) + lam / 2 * (L + 1) * (K - 1) * (a * mp.sqrt(n)) ** (mp.mpf(2) / (L + 1))


def _argmin(g):
    xs = [mp.mpf(i) / 4 for i in range(4, 4 * 120)]
    i = min(range(len(xs)), key=lambda j: g(xs[j]))
    a, b = xs[i - 1], xs[i + 1]
    for _ in range(110):
        c, d = a + (b - a) / 3, b - (b - a) / 3
        if g(c) < g(d):
            b = d
        else:
            a = c
    return a, g(a)


@pytest.mark.parametrize("K,L", [(10, 2), (5, 3)])
@pytest.mark.parametrize("k", [10, 50, 60, 100])
def test_optima_match_mpmath_down_to_lambda_2_pow_minus_100(K, L, k):
    n = 5
    with mp.workdps(50):
        lam = mp.mpf(2) ** -k
        b_ex, v_ex = _argmin(lambda x: _lr(x, K, n, L, lam))
        a_ex, w_ex = _argmin(lambda x: _dnc(x, K, n, L, lam))
        b, v = low_rank_optimum(K, n, L, float(lam))
        a, w = dnc_optimum(K, n, L, float(lam))
        assert b == pytest.approx(float(b_ex), rel=1e-9)
        assert v == pytest.approx(float(v_ex), rel=1e-12)
        assert a == pytest.approx(float(a_ex), rel=1e-9)
        assert w == pytest.approx(float(w_ex), rel=1e-12)
        # the ratio the Theorem 6 experiment uses keeps its precision
        assert v / w == pytest.approx(float(v_ex / w_ex), rel=1e-11)


@pytest.mark.parametrize("x", [38.0, 60.0, 200.0])
def test_losses_keep_relative_precision_where_the_fit_is_below_epsilon(x):
    with mp.workdps(50):
        lam = 2.0 ** -100
        for K in (4, 7, 10):
            assert float(low_rank_loss(x, K, 5, 3, lam)) == pytest.approx(float(_lr(mp.mpf(x), K, 5, 3, mp.mpf(lam))), rel=1e-13)
            assert float(dnc_loss(x, K, 5, 3, lam)) == pytest.approx(float(_dnc(mp.mpf(x), K, 5, 3, mp.mpf(lam))), rel=1e-13)


def test_beta_star_is_not_stuck_at_small_lambda():
    # issue 13: beta* stuck at 37.43 for lam <= 2^-60 where the exact minimiser is about 42.1
    with mp.workdps(50):
        b_ex, _ = _argmin(lambda x: _lr(x, 10, 5, 2, mp.mpf(2) ** -60))
    b, _ = low_rank_optimum(10, 5, 2, 2.0 ** -60)
    assert b > 40 and b == pytest.approx(float(b_ex), rel=1e-9)


def _mp_objective(K, n, L, lam, shapes, theta, labels):
    """The deep UFM objective (mean CE + lam/2 sum ||.||^2) in mpmath, of a flat parameter list."""
    mats, i = [], 0
    for r, c in shapes:
        mats.append(mp.matrix(r, c))
        for a in range(r):
            for b in range(c):
                mats[-1][a, b] = theta[i]
                i += 1
    Z = mats[0]
    for W in mats[1:]:
        Z = W * Z
    N = K * n
    fit = sum(mp.log(sum(mp.exp(Z[j, c]) for j in range(K))) - Z[labels[c], c] for c in range(N)) / N
    reg = lam / 2 * sum(x * x for x in theta)
    return fit + reg


@pytest.mark.parametrize("k", [10, 60])
@pytest.mark.parametrize("kind", ["dnc", "low_rank"])
def test_stable_hessian_matches_mpmath_where_the_engine_loses_it(k, kind):
    # v^T H v of the stable CE objective (float64, torch.func) against a central second difference in
    # 80-digit mpmath of the same objective: independent of both torch paths
    K, n, d, L, lam = 4, 1, 4, 2, 2.0 ** -k
    make = T.dnc_critical_point if kind == "dnc" else T.low_rank_critical_point
    cp = make(K, n, d, L, lam)
    g, theta = T.stable_flat_objective(cp.spec, cp.params)
    f, _ = T.flat_objective(cp.spec, cp.params)
    Hs, He = T.dense_hessian(g, theta), T.dense_hessian(f, theta)
    top = torch.linalg.eigh(Hs)[1][:, -1]
    rand = torch.as_tensor(np.random.default_rng(0).standard_normal(theta.numel()))
    shapes = [(d, K * n)] + [(d, d)] * (L - 1) + [(K, d)]
    labels = [c // n for c in range(K * n)]
    errs_engine = []
    with mp.workdps(80):
        x0 = [mp.mpf(float(t)) for t in theta]
        h = mp.mpf(10) ** -15
        for v in (top, rand):
            vv = [mp.mpf(float(t)) for t in v]
            F = lambda s: _mp_objective(K, n, L, mp.mpf(lam), shapes, [a + s * b for a, b in zip(x0, vv)], labels)  # noqa: E731
            exact = float((F(h) - 2 * F(0) + F(-h)) / h ** 2)
            assert float(v @ Hs @ v) == pytest.approx(exact, rel=1e-8)
            errs_engine.append(abs(float(v @ He @ v) - exact) / abs(exact))
    if k == 60:  # the cause of the Theorem 6 collapse: the engine's autograd Hessian is wrong here
        assert max(errs_engine) > 1e-3
    else:
        assert max(errs_engine) < 1e-8


def test_stable_ce_value_and_gradient_at_large_margins():
    z = torch.tensor([[50.0, 0.3], [1.0, 45.0], [-2.0, 2.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1])
    ce = T.stable_ce(z, labels)
    (gz,) = torch.autograd.grad(ce.sum(), z)
    with mp.workdps(50):
        for c in range(2):
            col = [mp.mpf(float(z[j, c].detach())) for j in range(3)]
            lse = mp.log(sum(mp.exp(x) for x in col))
            assert float(ce[c]) == pytest.approx(float(lse - col[labels[c]]), rel=1e-13)
            for j in range(3):
                p = mp.exp(col[j] - lse) - (1 if j == labels[c] else 0)
                assert float(gz[j, c]) == pytest.approx(float(p), rel=1e-12)


def test_dnc_point_at_an_explicit_scale_beyond_the_zero_solution():
    # K=10, L=2, lam=2^-4.5: the DNC critical point exists (large root) but loses to Z = 0
    roots = T.dnc_critical_points(10, 5, 2, 2.0 ** -4.5)
    assert dnc_optimum(10, 5, 2, 2.0 ** -4.5)[0] == 0.0 and len(roots) == 2
    cp = T.dnc_critical_point(10, 5, 10, 2, 2.0 ** -4.5, scale=roots[-1])
    f, theta = T.flat_objective(cp.spec, cp.params)
    from torch.func import grad
    assert float(grad(f)(theta).norm()) < 1e-12 and cp.scale == roots[-1]
