"""nclab.metrics.spectrum: singular values, numerical rank, Schatten quasi-norms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nclab.metrics import numerical_rank, schatten_norm, schatten_power, singular_values


def low_rank(seed, m, n, r, batch=()):
    g = np.random.default_rng(seed)
    return g.normal(size=(*batch, m, r)) @ g.normal(size=(*batch, r, n))


def test_singular_values_descending_batched_and_typed():
    A = low_rank(0, 5, 4, 4, batch=(3,))
    s = singular_values(A)
    assert isinstance(s, np.ndarray) and s.shape == (3, 4)
    assert np.all(np.diff(s, axis=-1) <= 0)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False), rtol=1e-12)
    t = singular_values(torch.from_numpy(A))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64


def test_known_spectrum():
    A = np.diag([3.0, 0.0, 4.0])
    np.testing.assert_allclose(singular_values(A), [4.0, 3.0, 0.0])
    assert numerical_rank(A) == 2
    assert schatten_power(A, 1.0) == pytest.approx(7.0)
    assert schatten_norm(A, 2.0) == pytest.approx(5.0)
    assert schatten_power(A, 0.5) == pytest.approx(2.0 + 3.0**0.5)
    assert schatten_norm(A, 0.5) == pytest.approx((2.0 + 3.0**0.5) ** 2)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), r=st.integers(0, 6), seed=st.integers(0, 10**6))
def test_numerical_rank_of_products(m, n, r, seed):
    r = min(r, m, n)
    A = low_rank(seed, m, n, max(r, 1)) * (r > 0)
    assert numerical_rank(A) == r
    assert numerical_rank(A, rtol=0.0, atol=1e-300) >= r


def test_rank_tolerances_and_batches():
    A = np.diag([1.0, 1e-3, 1e-8])
    assert numerical_rank(A) == 2  # default rtol 1e-6
    assert numerical_rank(A, rtol=1e-2) == 1
    assert numerical_rank(A, rtol=0.0, atol=1e-6) == 2
    assert numerical_rank(A, rtol=1e-12) == 3
    batch = np.stack([A, np.zeros((3, 3)), np.eye(3)])
    np.testing.assert_array_equal(numerical_rank(batch), [2, 0, 3])
    assert numerical_rank(torch.from_numpy(batch)).tolist() == [2, 0, 3]


def test_schatten_matches_definition_batched_and_differentiable():
    A = torch.from_numpy(low_rank(3, 4, 6, 3, batch=(2,))).requires_grad_(True)
    p = 2.0 / 3.0  # GK Lemma 1 with L = 2
    s = torch.linalg.svdvals(A)
    val = schatten_power(A, p)
    torch.testing.assert_close(val, (s[..., :3] ** p).sum(-1) + (s[..., 3:] ** p).sum(-1))
    torch.testing.assert_close(schatten_norm(A, p), val ** (1 / p))
    schatten_power(A[..., :3, :3], 1.0).sum().backward()
    assert A.grad is not None and torch.isfinite(A.grad).all()


@pytest.mark.parametrize("p", [0.0, -1.0, 2.5, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match="p must be"):
        schatten_norm(np.eye(2), p)
    with pytest.raises(ValueError, match="p must be"):
        schatten_power(np.eye(2), p)


def test_bad_matrices():
    with pytest.raises(ValueError, match="x must be"):
        singular_values(np.ones(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        numerical_rank(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="rtol"):
        numerical_rank(np.eye(2), rtol=-1)


def test_one_schatten_power_float64():
    from nclab.theory.deep import schatten as theory_schatten
    from nclab.theory.deep import schatten_power as deep_schatten_power

    assert theory_schatten.schatten_power is schatten_power and deep_schatten_power is schatten_power
    x = torch.diag(torch.tensor([3.0, 2.0, 0.5], dtype=torch.float64))
    assert float(schatten_power(x, 2.0 / 3.0)) == pytest.approx(sum(s ** (2 / 3) for s in (3.0, 2.0, 0.5)), rel=1e-15)
