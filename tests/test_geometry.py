"""nclab.geometry: P, ETF frames, Y, class statistics (the lead's module), against loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nclab import classwise, layout
from nclab import geometry as geo


@pytest.mark.parametrize("K", [1, 2, 5])
def test_centering_matrix(K):
    P = geo.centering_matrix(K)
    one = torch.ones(K, dtype=torch.float64)
    torch.testing.assert_close(P @ P, P)
    torch.testing.assert_close(P, P.T)
    torch.testing.assert_close(P @ one, torch.zeros(K, dtype=torch.float64))
    assert float(torch.trace(P)) == pytest.approx(K - 1)


@pytest.mark.parametrize("K", [2, 3, 10])
def test_etf_gram_is_normalised_p(K):
    E = geo.etf_gram(K)
    assert float(torch.linalg.matrix_norm(E)) == pytest.approx(1.0)
    torch.testing.assert_close(E * math.sqrt(K - 1), geo.centering_matrix(K))


@pytest.mark.parametrize("K", [2, 3, 7])
def test_simplex_basis(K):
    U = geo.simplex_basis(K)
    assert U.shape == (K, K - 1)
    torch.testing.assert_close(U.T @ U, torch.eye(K - 1, dtype=torch.float64))
    torch.testing.assert_close(U @ U.T, geo.centering_matrix(K))


@settings(max_examples=20, deadline=None)
@given(K=st.integers(2, 8), extra=st.integers(-1, 4), scale=st.floats(0.1, 10.0), rotate=st.booleans(), seed=st.integers(0, 1000))
def test_simplex_etf_frame(K, extra, scale, rotate, seed):
    d = K + extra
    F = geo.simplex_etf(K, d, scale=scale, rotate=rotate, generator=torch.Generator().manual_seed(seed))
    assert F.shape == (K, d)
    torch.testing.assert_close(torch.linalg.vector_norm(F, dim=1), torch.full((K,), scale, dtype=torch.float64))
    torch.testing.assert_close(F.sum(0), torch.zeros(d, dtype=torch.float64), atol=1e-12 * scale, rtol=0)
    torch.testing.assert_close(F @ F.T, scale**2 * K / (K - 1) * geo.centering_matrix(K))
    for i in range(K):  # equiangular: cos = -1/(K-1)
        for j in range(i + 1, K):
            assert float(F[i] @ F[j]) / scale**2 == pytest.approx(-1.0 / (K - 1))


def test_simplex_etf_options_and_errors():
    assert geo.simplex_etf(4).shape == (4, 4)
    F = geo.simplex_etf(3, 5, dtype=torch.float32)
    assert F.dtype == torch.float32
    with pytest.raises(ValueError, match="d must be at least K - 1"):
        geo.simplex_etf(5, 3)
    with pytest.raises(ValueError, match="K must be"):
        geo.simplex_etf(1, 3)
    with pytest.raises(ValueError, match="scale"):
        geo.simplex_etf(3, 3, scale=-1.0)


def test_random_orthogonal():
    Q = geo.random_orthogonal(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(Q.T @ Q, torch.eye(6, dtype=torch.float64))
    Q2 = geo.random_orthogonal(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(Q, Q2)


def test_targets_and_labels():
    K, n = 3, 4
    Y = layout.one_hot_targets(K, n)
    y = layout.class_ordered_labels(K, n)
    assert Y.shape == (K, K * n)
    for i in range(K * n):
        for k in range(K):
            assert float(Y[k, i]) == (1.0 if int(y[i]) == k else 0.0)
    M = torch.arange(6.0).reshape(2, 3)
    R = layout.repeat_columns(M, 2)
    torch.testing.assert_close(R, torch.kron(M, torch.ones(1, 2)))


def loops(X, y, K):
    N, d = X.shape
    counts = np.array([np.sum(y == k) for k in range(K)])
    means = np.array([X[y == k].mean(0) for k in range(K)])
    Sw = sum(np.outer(X[i] - means[y[i]], X[i] - means[y[i]]) for i in range(N)) / N
    return counts, means, Sw


@pytest.mark.parametrize("weighting", ["classes", "samples"])
def test_class_statistics_against_loops(weighting):
    g = np.random.default_rng(0)
    K, d = 4, 3
    y = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    X = g.normal(size=(10, d))
    counts, means, Sw = loops(X, y, K)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    np.testing.assert_array_equal(classwise.class_counts(yt, K).numpy(), counts)
    np.testing.assert_allclose(classwise.class_sums(Xt, yt, K).numpy(), means * counts[:, None])
    np.testing.assert_allclose(classwise.class_means(Xt, yt, K).numpy(), means)
    mu = means.mean(0) if weighting == "classes" else X.mean(0)
    got_mu = classwise.global_mean(classwise.class_means(Xt, yt, K), classwise.class_counts(yt, K), weighting)
    np.testing.assert_allclose(got_mu.numpy(), mu)
    np.testing.assert_allclose(classwise.within_class_covariance(Xt, yt, K).numpy(), Sw)
    Sb = sum(np.outer(m - mu, m - mu) for m in means) / K
    np.testing.assert_allclose(classwise.between_class_covariance(Xt, yt, K, weighting).numpy(), Sb)


def test_class_statistics_batched():
    g = np.random.default_rng(1)
    X = g.normal(size=(2, 9, 3))
    y = np.arange(9) % 3
    means = classwise.class_means(torch.from_numpy(X), torch.from_numpy(y), 3)
    for s in range(2):
        np.testing.assert_allclose(means[s].numpy(), loops(X[s], y, 3)[1])
    Sw = classwise.within_class_covariance(torch.from_numpy(X), torch.from_numpy(y), 3)
    np.testing.assert_allclose(Sw[1].numpy(), loops(X[1], y, 3)[2])


def test_balanced_weightings_agree_and_bad_weighting():
    means = torch.randn(3, 2, dtype=torch.float64)
    counts = torch.tensor([5, 5, 5])
    torch.testing.assert_close(classwise.global_mean(means, counts, "classes"), classwise.global_mean(means, counts, "samples"))
    with pytest.raises(ValueError, match="global_mean"):
        classwise.global_mean(means, counts, "median")


# ---------------------------------------------------------------- helpers that are the one home of a formula
def test_center_is_p_along_an_axis_float64():
    g = torch.Generator().manual_seed(3)
    M = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    P = geo.centering_matrix(5)
    torch.testing.assert_close(geo.center(M), P @ M, rtol=0, atol=1e-14)
    torch.testing.assert_close(geo.center(M.mT, dim=-1), (P @ M).mT, rtol=0, atol=1e-14)
    assert geo.center(M).dtype == torch.float64


@pytest.mark.parametrize("d,k", [(5, 2), (4, 4), (7, 1)])
def test_random_frame_orthonormal_deterministic_float64(d, k):
    F = geo.random_frame(d, k, generator=torch.Generator().manual_seed(1))
    assert F.shape == (d, k) and F.dtype == torch.float64
    torch.testing.assert_close(F.T @ F, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-13)
    F2 = geo.random_frame(d, k, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    torch.testing.assert_close(F2, F.float())
    if k == d:
        torch.testing.assert_close(geo.random_orthogonal(d, generator=torch.Generator().manual_seed(1)), F)
    with pytest.raises(ValueError, match="k must be"):
        geo.random_frame(3, 4)


def test_class_ordered_sums_and_means_are_h_y_transpose_float64():
    K, n, d = 3, 4, 2
    H = torch.randn(2, d, K * n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = layout.one_hot_targets(K, n)
    torch.testing.assert_close(layout.class_ordered_sums(H, n), H @ Y.T, rtol=0, atol=1e-13)
    torch.testing.assert_close(layout.class_ordered_means(H, n), H @ Y.T / n, rtol=0, atol=1e-13)
    y = layout.class_ordered_labels(K, n)
    torch.testing.assert_close(layout.class_ordered_means(H, n), classwise.class_means(H.mT, y, K).mT, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="n must be a divisor"):
        layout.class_ordered_sums(H, 5)


def test_global_mean_weights_float64():
    counts = torch.tensor([1, 3])
    torch.testing.assert_close(classwise.global_mean_weights(counts, "classes"), torch.tensor([0.5, 0.5], dtype=torch.float64))
    torch.testing.assert_close(classwise.global_mean_weights(counts, "samples"), torch.tensor([0.25, 0.75], dtype=torch.float64))
    from nclab.metrics._core import mean_weights

    assert mean_weights is classwise.global_mean_weights


def test_etf_error_target_is_etf_gram():
    from nclab.metrics._core import etf_error, structure_from

    F = geo.simplex_etf(4, 6, scale=2.5)
    assert float(etf_error(F)) < 1e-14
    assert float(structure_from(F, F)) < 1e-14
    # the distance of a non-ETF Gram to the one target, by hand
    V = torch.eye(4, dtype=torch.float64)
    G = V @ V.T / 2.0
    assert float(etf_error(V)) == pytest.approx(float(torch.linalg.matrix_norm(G - geo.etf_gram(4))), abs=1e-15)
