"""Small-lambda numerics of GK's closed-form losses (issue 13 item 7), against mpmath.

At lam <= 2^-50 the optimal scales exceed 35 and the fit terms fall below float64's epsilon,
so ``log(1 + x)`` loses them; the closed forms must use ``log1p``. The reference minimises the
same loss in 50-digit arithmetic by a grid and a ternary search, independent of the scipy path.
"""
import mpmath as mp
import pytest

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
@pytest.mark.parametrize("k", [10, 60, 100])
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
