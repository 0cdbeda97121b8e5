"""nclab.metrics.extra, extra_samples and uniformity: collapsed values on an exact simplex ETF,
invariances, loops written from the papers' formulas (float64), and collapse(extra=...)."""
from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg
import torch

from nclab import metrics
from nclab.geometry import random_orthogonal, simplex_etf
from nclab.metrics import EXTRA_KEYS, KEYS, class_statistics, collapse
from nclab.metrics import extra as extra_mod
from nclab.metrics import extra_samples, mse_loss, subspaces, uniformity

F64 = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def noisy(K=5, n=6, d=8, seed=0, spread=0.4):
    """Generic labelled features (unequal counts), a classifier and OOD features."""
    g = gen(seed)
    y = torch.cat([torch.arange(K), torch.randint(0, K, (K * n - K,), generator=g)])
    centres = 2.0 * torch.randn(K, d, generator=g, dtype=F64)
    X = centres[y] + spread * torch.randn(len(y), d, generator=g, dtype=F64) + 1.5
    W = centres + 0.3 * torch.randn(K, d, generator=g, dtype=F64)
    b = 0.2 * torch.randn(K, generator=g, dtype=F64)
    ood = torch.randn(7, d, generator=g, dtype=F64)
    return X, y, W, b, ood


def etf_features(K=4, n=3, d=6, scale=2.0, noise=0.0, seed=0):
    """Features whose class means are exactly a rotated, shifted simplex ETF.

    Within-class residuals come in +/- pairs (n even adds a pair per class), so the class
    means are exact; ``noise`` = 0 is full collapse.
    """
    g = gen(seed)
    M = simplex_etf(K, d, scale=scale, rotate=True, generator=g)
    mu = torch.randn(d, generator=g, dtype=F64)
    rows, labels = [], []
    for k in range(K):
        r = noise * torch.randn(n, d, generator=g, dtype=F64)
        for i in range(n):
            rows += [M[k] + mu + r[i], M[k] + mu - r[i]]
            labels += [k, k]
    return torch.stack(rows), torch.tensor(labels), M, mu


def naive_means(X, y, K):
    X, y = np.asarray(X), np.asarray(y)
    means = [sum(X[i] for i in range(len(y)) if y[i] == k) / sum(1 for i in range(len(y)) if y[i] == k) for k in range(K)]
    return np.array(means), sum(means) / K


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def rotate_all(Q, *arrays):
    return [a @ Q for a in arrays]


# ----------------------------------------------------------------------------- collapse(extra=...)


def test_collapse_defaults_unchanged_and_extra_keys_appended():
    X, y, W, b, ood = noisy()
    plain = collapse(X, y, W, b)
    assert list(plain) == [k for k in KEYS if k in plain]
    full = collapse(X, y, W, b, extra="all", ood_features=ood)
    assert list(full)[: len(plain)] == list(plain)
    assert all(full[k] == plain[k] for k in plain)
    expected = [k for name in EXTRA_KEYS for k in EXTRA_KEYS[name]]
    assert list(full)[len(plain):] == expected
    some = collapse(X, y, extra=["cosine_std", "cdnv_matrix"])
    assert list(some)[-2:] == ["cosine_std", "cdnv_matrix"]
    assert list(collapse(X, y, extra=[])) == list(collapse(X, y))
    # "all" without a classifier or OOD features leaves their names out
    assert "uniform_duality" not in collapse(X, y, extra="all")
    assert "nc5_ood_orthogonality" not in collapse(X, y, W, extra="all")


def test_collapse_extra_values_equal_the_functions():
    X, y, W, b, ood = noisy(seed=3)
    out = collapse(X, y, W, b, extra="all", ood_features=ood)
    st = class_statistics(X, y)
    M = st.centred_means
    np.testing.assert_allclose(out["cdnv_matrix"], metrics.cdnv_matrix(st), rtol=1e-13)
    for kernel in ("distance", "log", "riesz"):
        mean, var = metrics.hyperspherical_uniformity(M, kernel)
        assert out[f"kernel_{kernel}_mean"] == pytest.approx(mean, rel=1e-13)
        assert out[f"kernel_{kernel}_var"] == pytest.approx(var, rel=1e-10)
    assert out["cosine_std"] == pytest.approx(metrics.cosine_std(M), rel=1e-12)
    assert out["uniform_duality"] == pytest.approx(metrics.uniform_duality(W, M), rel=1e-12)
    np.testing.assert_allclose(out["duality_per_class"], metrics.duality_per_class(W, M), rtol=1e-13)
    np.testing.assert_allclose(out["principal_angles"], metrics.principal_angles(W, M), rtol=1e-12)
    assert out["ncc_accuracy"] == metrics.ncc_accuracy(X, y)
    np.testing.assert_array_equal(out["agreement_per_class"], metrics.agreement_per_class(X, y, W, b))
    sw = metrics.within_class_covariance(X, y)
    assert out["within_stable_rank"] == pytest.approx(metrics.within_stable_rank(sw), rel=1e-12)
    np.testing.assert_allclose(out["class_covariance_spectra"], metrics.class_covariance_spectra(X, y), rtol=1e-12, atol=1e-14)
    assert out["nc5_ood_orthogonality"] == pytest.approx(metrics.ood_orthogonality(ood, M, st.global_mean), rel=1e-13)


def test_collapse_extra_batched_equals_each_element():
    X, y, W, b, ood = noisy(seed=4)
    X2 = torch.stack([X, 0.5 * X + 1.0])
    batched = collapse(X2, y, W, b, extra="all", ood_features=ood)
    for i in range(2):
        one = collapse(X2[i], y, W, b, extra="all", ood_features=ood)
        for k, v in one.items():
            np.testing.assert_allclose(np.asarray(batched[k])[i], v, rtol=1e-10, atol=1e-13, err_msg=k)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["cosine_std", "nc6"], r"extra must be one of .*'cdnv_matrix'.*got 'nc6'"),
        ("everything", r"extra must be one of .*got 'everything'"),
        (["uniform_duality"], r"extra must be a name that needs no classifier .*weight=.*got 'uniform_duality'"),
        (["nc5_ood_orthogonality"], r"extra must be .*ood_features=.*got 'nc5_ood_orthogonality'"),
        (3, r"extra must be a list of names"),
    ],
)
def test_bad_extra_raises(extra, match):
    X, y, *_ = noisy()
    with pytest.raises(ValueError, match=match):
        collapse(X, y, extra=extra)


def test_bad_ood_features_raise():
    X, y, W, *_ = noisy()
    with pytest.raises(ValueError, match="ood_features"):
        collapse(X, y, extra=["nc5_ood_orthogonality"], ood_features=torch.zeros(3, X.shape[1] + 1))


# ----------------------------------------------------------------------------- CDNV matrix


def naive_cdnv_matrix(X, y, K, exponent):
    X, y = np.asarray(X), np.asarray(y)
    means, _ = naive_means(X, y, K)
    var = [np.mean([np.sum((X[i] - means[k]) ** 2) for i in range(len(y)) if y[i] == k]) for k in range(K)]
    out = np.full((K, K), np.nan)
    for i in range(K):
        for j in range(K):
            if i != j:
                out[i, j] = (var[i] + var[j]) / (2 * np.sum((means[i] - means[j]) ** 2) ** exponent)
    return out


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5])
def test_cdnv_matrix_loop(exponent):
    X, y, *_ = noisy(seed=1)
    got = metrics.cdnv_matrix(class_statistics(X, y), exponent=exponent)
    np.testing.assert_allclose(got, naive_cdnv_matrix(X, y, 5, exponent), rtol=1e-12)


def test_cdnv_matrix_mean_is_cdnv_and_etf_value():
    X, y, *_ = noisy(seed=2)
    C = metrics.cdnv_matrix(class_statistics(X, y))
    assert np.nanmean(C) == pytest.approx(metrics.cdnv(X, y), rel=1e-13)
    Xe, ye, M, _ = etf_features()
    Ce = metrics.cdnv_matrix(class_statistics(Xe, ye))
    assert np.all(np.isnan(np.diag(Ce)))
    np.testing.assert_allclose(Ce[~np.eye(4, dtype=bool)], 0.0, atol=1e-28)
    # equal within-class noise on an ETF: one value off the diagonal
    Xn, yn, M, _ = etf_features(noise=0.1)
    st = class_statistics(Xn, yn)
    var = (st.within_sq / st.counts).numpy()
    off = metrics.cdnv_matrix(st)[~np.eye(4, dtype=bool)]
    dist2 = 2 * 4 / 3 * 4.0  # ||m_i - m_j||^2 = 2 scale^2 K/(K-1)
    expected = [(var[i] + var[j]) / (2 * dist2) for i in range(4) for j in range(4) if i != j]
    np.testing.assert_allclose(off, expected, rtol=1e-12)


def test_cdnv_matrix_needs_class_statistics():
    X, y, *_ = noisy()
    with pytest.raises(ValueError, match=r"stats must be a ClassStatistics .*, got 'str'"):
        metrics.cdnv_matrix("abc")
    with pytest.raises(ValueError, match=r"stats must be a ClassStatistics .*, got 'Tensor'"):
        metrics.cdnv_matrix(X)  # the features are not their statistics


def test_cdnv_matrix_invariances():
    X, y, *_ = noisy(seed=5)
    base = metrics.cdnv_matrix(class_statistics(X, y))
    Q = random_orthogonal(X.shape[1], generator=gen(1))
    np.testing.assert_allclose(metrics.cdnv_matrix(class_statistics(X @ Q + 3.0, y)), base, rtol=1e-11)
    np.testing.assert_allclose(metrics.cdnv_matrix(class_statistics(7.0 * X, y)), base, rtol=1e-11)
    perm = torch.tensor([2, 0, 4, 1, 3])  # class k becomes perm[k]
    P = metrics.cdnv_matrix(class_statistics(X, perm[y]))
    np.testing.assert_allclose(P[np.ix_(perm.numpy(), perm.numpy())], base, rtol=1e-12)


# ----------------------------------------------------------------------------- uniformity kernels


def naive_kernel(M, kernel, s=1.0, ddof=0):
    M = np.asarray(M)
    U = [m / np.linalg.norm(m) for m in M]
    vals = []
    for i in range(len(U)):
        for j in range(i + 1, len(U)):
            r = np.linalg.norm(U[i] - U[j])
            vals.append({"distance": r, "log": math.log(1.0 / r), "riesz": r ** (-s)}[kernel])
    return np.mean(vals), np.var(vals, ddof=ddof)


@pytest.mark.parametrize("kernel", ["distance", "log", "riesz"])
@pytest.mark.parametrize("tile", [None, 1, 3, 50])
def test_kernels_loop_and_tiles(kernel, tile):
    X, y, *_ = noisy(K=11, seed=6)
    M = class_statistics(X, y).centred_means
    mean, var = metrics.hyperspherical_uniformity(M, kernel, s=2.5, tile=tile)
    ref_mean, ref_var = naive_kernel(M, kernel, s=2.5)
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-9)
    _, var1 = metrics.hyperspherical_uniformity(M, kernel, s=2.5, ddof=1, tile=tile)
    assert var1 == pytest.approx(naive_kernel(M, kernel, s=2.5, ddof=1)[1], rel=1e-9)


@pytest.mark.parametrize("K, d", [(3, 2), (5, 5), (6, 12)])
def test_kernels_on_simplex_etf(K, d):
    M = simplex_etf(K, d, scale=3.0, rotate=True, generator=gen(K))
    r2 = 2 * K / (K - 1)
    expected = {"distance": math.sqrt(r2), "log": -0.5 * math.log(r2), "riesz": r2 ** -1.5}
    for kernel, value in expected.items():
        mean, var = metrics.hyperspherical_uniformity(M, kernel, s=3.0)
        assert mean == pytest.approx(value, rel=1e-12)
        assert abs(var) < 1e-24
    assert metrics.cosine_std(M) < 1e-12


def test_kernels_and_cosine_std_invariances():
    X, y, *_ = noisy(K=7, seed=7)
    M = class_statistics(X, y).centred_means
    Q = random_orthogonal(M.shape[1], generator=gen(2))
    perm = torch.randperm(7, generator=gen(3))
    for kernel in ("distance", "log", "riesz"):
        base = metrics.hyperspherical_uniformity(M, kernel)
        for other in (M @ Q, 4.0 * M, M[perm]):
            np.testing.assert_allclose(metrics.hyperspherical_uniformity(other, kernel), base, rtol=1e-10)
    base = metrics.cosine_std(M)
    for other in (M @ Q, 4.0 * M, M[perm]):
        assert metrics.cosine_std(other) == pytest.approx(base, rel=1e-11)


def test_cosine_std_loop():
    X, y, *_ = noisy(K=9, seed=8)
    M = np.asarray(class_statistics(X, y).centred_means)
    vals = [cos(M[i], M[j]) for i in range(9) for j in range(i + 1, 9)]
    assert metrics.cosine_std(M) == pytest.approx(np.std(vals, ddof=1), rel=1e-11)
    assert metrics.cosine_std(M, ddof=0, tile=2) == pytest.approx(np.std(vals), rel=1e-11)



def test_undefined_spread_is_nan_not_zero():
    """With one pair (K = 2) a sample deviation (ddof = 1) is undefined: NaN, as np.std gives,
    never the 0 that would read as perfect equiangularity; the means stay defined."""
    M = np.array([[1.0, 0.0], [0.3, 0.9]])
    assert math.isnan(metrics.cosine_std(M))
    assert metrics.cosine_std(M, ddof=0) == 0.0
    for kernel in uniformity.KERNELS:
        mean, var = metrics.hyperspherical_uniformity(M, kernel, ddof=1)
        assert math.isfinite(mean) and math.isnan(var)
        assert metrics.hyperspherical_uniformity(M, kernel)[1] == 0.0
    X = np.random.default_rng(0).normal(size=(6, 3)) + np.repeat(np.eye(3)[:2] * 4, 3, axis=0)
    y = np.repeat([0, 1], 3)
    assert math.isnan(collapse(X, y, extra=["cosine_std"])["cosine_std"])
    # batched: the NaN is per problem only where the pairs run out (here everywhere: K = 2)
    batch = metrics.cosine_std(np.stack([M, M[::-1]]))
    assert np.isnan(batch).all() and batch.shape == (2,)

def test_kernel_bad_inputs():
    M = simplex_etf(4)
    with pytest.raises(ValueError, match="kernel must be one of"):
        metrics.hyperspherical_uniformity(M, "gauss")
    with pytest.raises(ValueError, match="s must be"):
        metrics.hyperspherical_uniformity(M, "riesz", s=0.0)
    for kernel in uniformity.KERNELS:  # s is checked whatever the kernel: a bad one is never ignored
        for bad in (None, "1", math.nan, math.inf, 1j, [1.0], -1.0):
            with pytest.raises(ValueError, match=r"s must be a finite number > 0, got"):
                metrics.hyperspherical_uniformity(M, kernel, s=bad)
    assert metrics.hyperspherical_uniformity(M, "riesz", s=0.5)[1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="tile must be"):
        metrics.hyperspherical_uniformity(M, tile=0)


def test_tiled_kernel_memory_at_ten_thousand_classes():
    """K = 10,000, d = 512, float64: peak RSS growth under the stated 39 + 32 MiB bound."""
    script = textwrap.dedent(
        """
        import resource, torch
        from nclab.metrics import hyperspherical_uniformity
        M = torch.randn(10000, 512, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        hyperspherical_uniformity(M[:64], "log")
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mean, var = hyperspherical_uniformity(M, "log")
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) / 1024, mean)
        """
    )
    # a fixed mmap threshold: freed blocks go back to the system, so RSS counts live memory
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    grown, mean = map(float, out.stdout.split())
    bound = (10000 * 512 * 8 + 4 * (1 << 20) * 8) / 2**20  # unit vectors + 4 blocks of 2^20
    assert grown < bound, (grown, bound)
    assert math.isfinite(mean)


# ----------------------------------------------------------------------------- duality


@pytest.mark.parametrize("normalize", ["cosine", "frobenius", "none"])
def test_uniform_duality_loop(normalize):
    X, y, W, *_ = noisy(seed=9)
    M = np.asarray(class_statistics(X, y).centred_means)
    Wn = np.asarray(W)
    sims = []
    for k in range(5):
        dot = float(np.dot(Wn[k], M[k]))
        if normalize == "cosine":
            dot /= np.linalg.norm(Wn[k]) * np.linalg.norm(M[k])
        elif normalize == "frobenius":
            dot /= np.linalg.norm(Wn) * np.linalg.norm(M)
        sims.append(dot)
    got = metrics.uniform_duality(W, M, normalize=normalize)
    assert got == pytest.approx(np.var(sims, ddof=1), rel=1e-12)


def test_duality_per_class_loop_and_etf():
    X, y, W, *_ = noisy(seed=10)
    M = np.asarray(class_statistics(X, y).centred_means)
    Wn = np.asarray(W)
    ref = [np.linalg.norm(Wn[k] / np.linalg.norm(Wn[k]) - M[k] / np.linalg.norm(M[k])) for k in range(5)]
    np.testing.assert_allclose(metrics.duality_per_class(W, M), ref, rtol=1e-12)
    Xe, ye, Me, _ = etf_features(K=5, d=7)
    Mc = class_statistics(Xe, ye).centred_means
    np.testing.assert_allclose(metrics.duality_per_class(2.5 * Me, Mc), 0.0, atol=1e-7)
    for normalize in ("cosine", "frobenius", "none"):
        assert metrics.uniform_duality(2.5 * Me, Mc, normalize=normalize) < 1e-24


def test_duality_invariances():
    X, y, W, *_ = noisy(seed=11)
    M = class_statistics(X, y).centred_means
    Q = random_orthogonal(M.shape[1], generator=gen(4))
    perm = torch.randperm(5, generator=gen(5))
    for normalize in ("cosine", "frobenius"):
        base = metrics.uniform_duality(W, M, normalize=normalize)
        for Wo, Mo in ((W @ Q, M @ Q), (3.0 * W, 0.2 * M), (W[perm], M[perm])):
            assert metrics.uniform_duality(Wo, Mo, normalize=normalize) == pytest.approx(base, rel=1e-10)
    base = metrics.duality_per_class(W, M)
    np.testing.assert_allclose(metrics.duality_per_class(W @ Q, M @ Q), base, rtol=1e-11)
    np.testing.assert_allclose(metrics.duality_per_class(3.0 * W, 0.2 * M), base, rtol=1e-12)
    np.testing.assert_allclose(metrics.duality_per_class(W[perm], M[perm]), base[perm.numpy()], rtol=1e-13)


# ----------------------------------------------------------------------------- principal angles


def test_principal_angles_scipy_and_invariances():
    X, y, W, *_ = noisy(K=5, d=9, seed=12)
    M = class_statistics(X, y).centred_means
    got = metrics.principal_angles(W, M)
    ref = np.sort(scipy.linalg.subspace_angles(np.asarray(W).T, np.asarray(M).T))
    assert got.shape == (4,)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    Q = random_orthogonal(9, generator=gen(6))
    perm = torch.randperm(5, generator=gen(7))
    for Wo, Mo in ((W @ Q, M @ Q), (3.0 * W, 0.1 * M), (W[perm], M[perm])):
        np.testing.assert_allclose(metrics.principal_angles(Wo, Mo), got, rtol=1e-9, atol=1e-12)


def test_principal_angles_etf_and_rank_deficient():
    Xe, ye, Me, _ = etf_features(K=4, d=6)
    Mc = class_statistics(Xe, ye).centred_means
    offset = torch.ones(4, 1, dtype=F64) * torch.randn(1, 6, generator=gen(8), dtype=F64)
    for W in (3.0 * Me, 3.0 * Me + offset):  # W = a M~ (+ 1 b^T): span(M~) inside the row space
        np.testing.assert_allclose(metrics.principal_angles(W, Mc), 0.0, atol=1e-12)
    W1 = torch.zeros(4, 6, dtype=F64)
    W1[:, 0] = torch.arange(1.0, 5.0)  # rank one: one angle, the rest NaN
    got = metrics.principal_angles(W1, Mc)
    ref = scipy.linalg.subspace_angles(np.asarray(W1[:1]).T, np.asarray(Mc).T)
    assert got[0] == pytest.approx(ref[0], rel=1e-10)
    assert np.all(np.isnan(got[1:]))


# ----------------------------------------------------------------------------- NCC accuracy, agreement


def naive_ncc(X, means):
    X, means = np.asarray(X), np.asarray(means)
    return [int(np.argmin([np.sum((x - m) ** 2) for m in means])) for x in X]


def test_ncc_accuracy_loop_invariances_and_held_out():
    X, y, W, b, _ = noisy(seed=13, spread=3.0)
    means, _ = naive_means(X, y, 5)
    pred = naive_ncc(X, means)
    ref = np.mean([pred[i] == int(y[i]) for i in range(len(y))])
    got = metrics.ncc_accuracy(X, y)
    assert got == pytest.approx(ref, abs=1e-15)
    assert 0.3 < got < 1.0
    Q = random_orthogonal(X.shape[1], generator=gen(9))
    perm = torch.tensor([3, 1, 4, 0, 2])
    for Xo, yo in ((X @ Q + 2.0, y), (5.0 * X, y), (X, perm[y])):
        assert metrics.ncc_accuracy(Xo, yo) == got
    Xt, yt, *_ = noisy(seed=14, spread=3.0)  # held out, against the training means
    pred_t = naive_ncc(Xt, means)
    ref_t = np.mean([pred_t[i] == int(yt[i]) for i in range(len(yt))])
    assert metrics.ncc_accuracy(Xt, yt, means=class_statistics(X, y).means) == pytest.approx(ref_t, abs=1e-15)
    Xe, ye, *_ = etf_features(noise=0.05)
    assert metrics.ncc_accuracy(Xe, ye) == 1.0
    with pytest.raises(ValueError, match="means must be"):
        metrics.ncc_accuracy(X, y, means=torch.zeros(4, X.shape[1]))


def test_agreement_per_class_loop_etf_and_nc4():
    X, y, W, b, _ = noisy(seed=15, spread=3.0)
    means, _ = naive_means(X, y, 5)
    ncc = naive_ncc(X, means)
    logits = np.asarray(X) @ np.asarray(W).T + np.asarray(b)
    net = [int(np.argmax(row)) for row in logits]
    ref = [np.mean([ncc[i] == net[i] for i in range(len(y)) if y[i] == k]) for k in range(5)]
    got = metrics.agreement_per_class(X, y, W, b)
    np.testing.assert_allclose(got, ref, atol=1e-15)
    counts = np.bincount(np.asarray(y), minlength=5)
    mismatch = metrics.nc4_ncc_mismatch(X, y, W, b)
    assert np.dot(got, counts) / counts.sum() == pytest.approx(1.0 - mismatch, abs=1e-14)
    perm = torch.tensor([3, 1, 4, 0, 2])
    inv = torch.argsort(perm)
    np.testing.assert_allclose(metrics.agreement_per_class(X, perm[y], W[inv], b[inv]), got[inv.numpy()], atol=1e-15)
    Xe, ye, Me, mu = etf_features(noise=0.05)
    We = 2.0 * Me
    be = -(We @ mu)  # W h + b = W (h - mu): the NCC rule for equinorm means
    np.testing.assert_array_equal(metrics.agreement_per_class(Xe, ye, We, be), np.ones(4))


# ----------------------------------------------------------------------------- covariances


def test_within_covariance_and_stable_rank():
    X, y, *_ = noisy(seed=16)
    Xn, yn = np.asarray(X), np.asarray(y)
    means, _ = naive_means(X, y, 5)
    S = sum(np.outer(Xn[i] - means[yn[i]], Xn[i] - means[yn[i]]) for i in range(len(yn))) / len(yn)
    np.testing.assert_allclose(metrics.within_class_covariance(X, y), S, rtol=1e-11, atol=1e-14)
    lam = np.linalg.eigvalsh(S)
    assert metrics.within_stable_rank(S) == pytest.approx(np.sum(lam**2) / lam.max() ** 2, rel=1e-11)
    assert metrics.within_stable_rank(S, of="activations") == pytest.approx(np.sum(lam) / lam.max(), rel=1e-11)
    R = Xn - means[yn]
    assert metrics.within_stable_rank(S, of="activations") == pytest.approx(
        np.linalg.norm(R, "fro") ** 2 / np.linalg.norm(R, 2) ** 2, rel=1e-10)
    Q = random_orthogonal(X.shape[1], generator=gen(10))
    base = metrics.within_stable_rank(S)
    for Xo, yo in ((X @ Q + 1.0, y), (3.0 * X, y), (X, torch.tensor([4, 2, 0, 1, 3])[y])):
        assert metrics.within_stable_rank(metrics.within_class_covariance(Xo, yo)) == pytest.approx(base, rel=1e-10)


def test_stable_rank_exact_and_collapsed():
    # residuals +/- sigma e_j for j < r in every class: Sigma_W = (sigma^2 / r) * I_r -> srank r
    K, d, r = 3, 6, 4
    M = simplex_etf(K, d)
    rows, labels = [], []
    for k in range(K):
        for j in range(r):
            e = torch.zeros(d, dtype=F64)
            e[j] = 0.3
            rows += [M[k] + e, M[k] - e]
            labels += [k, k]
    X, y = torch.stack(rows), torch.tensor(labels)
    S = metrics.within_class_covariance(X, y)
    assert metrics.within_stable_rank(S) == pytest.approx(r, rel=1e-12)
    assert metrics.within_stable_rank(S, of="activations") == pytest.approx(r, rel=1e-12)
    spectra = metrics.class_covariance_spectra(X, y)
    np.testing.assert_allclose(spectra, np.tile([0.09 / r] * r + [0.0] * (d - r), (K, 1)), atol=1e-15)
    Xc = torch.tensor([[1.0, 2.0], [1.0, 2.0], [-3.0, 0.5], [-3.0, 0.5]])  # exact collapse: Sigma_W = 0
    assert math.isnan(metrics.within_stable_rank(metrics.within_class_covariance(Xc, torch.tensor([0, 0, 1, 1]))))


@pytest.mark.parametrize("n, d", [(3, 8), (12, 4)])  # n_k < d (Gram path) and n_k >= d
def test_class_covariance_spectra_loop(n, d):
    X, y, *_ = noisy(K=3, n=n, d=d, seed=17)
    Xn, yn = np.asarray(X), np.asarray(y)
    got = metrics.class_covariance_spectra(X, y)
    for k in range(3):
        rows = Xn[yn == k]
        R = rows - rows.mean(axis=0)
        lam = np.sort(np.linalg.eigvalsh(R.T @ R / len(rows)))[::-1]
        np.testing.assert_allclose(got[k], np.clip(lam, 0, None), atol=1e-12)
    counts = np.bincount(yn, minlength=3)
    Sw = metrics.within_class_covariance(X, y)
    assert np.sum(got * (counts / counts.sum())[:, None]) == pytest.approx(np.trace(Sw), rel=1e-12)
    Q = random_orthogonal(d, generator=gen(11))
    np.testing.assert_allclose(metrics.class_covariance_spectra(X @ Q, y), got, atol=1e-12)


# ----------------------------------------------------------------------------- NC5


@pytest.mark.parametrize("reduce", ["mean", "samples"])
def test_ood_orthogonality_loop_and_invariances(reduce):
    X, y, W, b, ood = noisy(seed=18)
    st = class_statistics(X, y)
    M, mu = np.asarray(st.centred_means), np.asarray(st.global_mean)
    O = np.asarray(ood)
    vs = [O.mean(axis=0) - mu] if reduce == "mean" else [o - mu for o in O]
    ref = np.mean([abs(cos(M[k], v)) for v in vs for k in range(5)])
    got = metrics.ood_orthogonality(ood, st.centred_means, st.global_mean, reduce=reduce)
    assert got == pytest.approx(ref, rel=1e-12)
    raw = np.mean([abs(cos(M[k], O.mean(axis=0))) for k in range(5)])
    if reduce == "mean":
        assert metrics.ood_orthogonality(ood, st.centred_means) == pytest.approx(raw, rel=1e-12)
    Q = random_orthogonal(X.shape[1], generator=gen(12))
    s2 = class_statistics(X @ Q, y)
    assert metrics.ood_orthogonality(ood @ Q, s2.centred_means, s2.global_mean, reduce=reduce) == pytest.approx(got, rel=1e-10)
    s3 = class_statistics(4.0 * X, torch.tensor([2, 4, 1, 0, 3])[y])
    assert metrics.ood_orthogonality(4.0 * ood, s3.centred_means, s3.global_mean, reduce=reduce) == pytest.approx(got, rel=1e-10)


def test_ood_orthogonality_collapsed():
    Xe, ye, Me, mu = etf_features(K=4, d=7)
    st = class_statistics(Xe, ye)
    # OOD features in the orthogonal complement of span(M~), around the ID global mean
    _, _, vh = torch.linalg.svd(Me)
    comp = vh[3:]  # rows spanning the complement (rank M~ = 3)
    ood = mu + torch.randn(10, comp.shape[0], generator=gen(13), dtype=F64) @ comp
    out = collapse(Xe, ye, extra=["nc5_ood_orthogonality"], ood_features=ood)
    assert out["nc5_ood_orthogonality"] < 1e-13
    assert metrics.ood_orthogonality(ood, st.centred_means, st.global_mean, reduce="samples") < 1e-13


# ----------------------------------------------------------------------------- dtype, doctests


def test_tensor_forms_keep_dtype():
    X, y, W, b, ood = noisy(seed=19)
    st = class_statistics(X.float(), y)
    assert extra_mod.cdnv_matrix_from(st).dtype == torch.float32
    unit = st.centred_means / st.centred_means.norm(dim=-1, keepdim=True)
    assert uniformity.hyperspherical_from(unit, "log")[0].dtype == torch.float32
    assert subspaces.principal_angles_from(W.float(), st.centred_means).dtype == torch.float32
    assert extra_samples.class_spectra_from(X.float(), y, st.means).dtype == torch.float32


@pytest.mark.parametrize("module", [extra_mod, extra_samples, subspaces, uniformity, mse_loss])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------- MSE decomposition


def naive_mse_parts(X, y, W, b):
    """Loops: the loss, the least-squares classifier by numpy lstsq on [h, 1], and each term."""
    X, y, W, b = (np.asarray(a, dtype=np.float64) for a in (X, y, W, b))
    y = y.astype(int)
    N, K = len(y), W.shape[0]
    E = np.eye(K)
    loss = np.mean([0.5 * np.sum((W @ X[i] + b - E[y[i]]) ** 2) for i in range(N)])
    A = np.hstack([X, np.ones((N, 1))])
    coef, *_ = np.linalg.lstsq(A, E[y], rcond=None)
    W_ls, b_ls = coef[:-1].T, coef[-1]
    means, _ = naive_means(X, y, K)
    lnc1 = np.mean([0.5 * np.sum((W_ls @ (X[i] - means[y[i]])) ** 2) for i in range(N)])
    counts = np.bincount(y, minlength=K)
    lnc23 = sum(counts[k] / N * 0.5 * np.sum((W_ls @ means[k] + b_ls - E[k]) ** 2) for k in range(K))
    lperp = np.mean([0.5 * np.sum(((W - W_ls) @ X[i] + (b - b_ls)) ** 2) for i in range(N)])
    return {"mse_loss": loss, "lnc1": lnc1, "lnc23": lnc23, "lperp": lperp}


def test_mse_decomposition_loop_and_identity():
    X, y, W, b, _ = noisy(K=4, n=10, d=6, seed=20, spread=1.0)
    got = metrics.mse_decomposition(X, y, 0.1 * W, b)
    ref = naive_mse_parts(X, y, 0.1 * W, b)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-10), k
    assert got["lnc1"] + got["lnc23"] + got["lperp"] == pytest.approx(got["mse_loss"], rel=1e-12)
    assert min(got.values()) > 0


def test_mse_decomposition_collapsed_and_invariances():
    Xe, ye, Me, mu = etf_features(K=4, d=6)  # exact collapse on a shifted ETF
    st = class_statistics(Xe, ye)
    # the least-squares classifier of collapsed features: W_LS = (1/K) M~ Sigma_B^+ (rows m~_k / (K/(K-1) scale^2))
    W_ls = st.centred_means / (4 / 3 * 4.0)
    b_ls = 0.25 - W_ls @ mu
    out = metrics.mse_decomposition(Xe, ye, W_ls, b_ls)
    for k in ("mse_loss", "lnc1", "lnc23", "lperp"):
        assert abs(out[k]) < 1e-12, (k, out[k])
    X, y, W, b, _ = noisy(K=4, n=10, d=6, seed=21, spread=1.0)
    base = metrics.mse_decomposition(X, y, 0.1 * W, b)
    Q = random_orthogonal(6, generator=gen(14))
    perm = torch.tensor([2, 0, 3, 1])
    inv = torch.argsort(perm)
    for args in ((X @ Q, y, 0.1 * W @ Q, b), (3.0 * X, y, 0.1 * W / 3.0, b), (X, perm[y], 0.1 * W[inv], b[inv])):
        got = metrics.mse_decomposition(*args)
        for k in base:
            assert got[k] == pytest.approx(base[k], rel=1e-9), k


def test_collapse_extra_mse_equals_function():
    X, y, W, b, _ = noisy(K=4, n=10, d=6, seed=22)
    out = collapse(X, y, 0.1 * W, b, extra=["mse_decomposition", "within_stable_rank"])
    ref = metrics.mse_decomposition(X, y, 0.1 * W, b)
    assert out["mse_loss"] == pytest.approx(ref["mse_loss"], rel=1e-12)
    for k in ("lnc1", "lnc23", "lperp"):
        assert out[f"mse_{k}"] == pytest.approx(ref[k], rel=1e-12)


def test_statistics_from_streaming_accumulators_give_the_same_values():
    X, y, W, b, ood = noisy(seed=23)
    acc = metrics.StreamingStats(num_classes=5, dim=X.shape[1])
    for part in torch.arange(len(y)).split(7):
        acc.update(X[part], y[part])
    streamed, full = acc.statistics(), class_statistics(X, y)
    np.testing.assert_allclose(metrics.cdnv_matrix(streamed), metrics.cdnv_matrix(full), rtol=1e-10)
    M1, M2 = streamed.centred_means, full.centred_means
    np.testing.assert_allclose(metrics.hyperspherical_uniformity(M1, "riesz"), metrics.hyperspherical_uniformity(M2, "riesz"), rtol=1e-10)
    assert metrics.uniform_duality(W, M1) == pytest.approx(metrics.uniform_duality(W, M2), rel=1e-10)
    np.testing.assert_allclose(metrics.principal_angles(W, M1), metrics.principal_angles(W, M2), rtol=1e-9, atol=1e-12)
    assert metrics.ood_orthogonality(ood, M1, streamed.global_mean) == pytest.approx(
        metrics.ood_orthogonality(ood, M2, full.global_mean), rel=1e-10)


# ----------------------------------------------------------------------------- held-out (reference statistics)
def test_reference_statistics_of_the_same_set_give_the_plain_metrics():
    from nclab.metrics import class_statistics

    g = torch.Generator().manual_seed(3)
    M = 4 * torch.randn(5, 7, generator=g, dtype=torch.float64)
    y = torch.arange(60) % 5
    X = M[y] + 0.5 * torch.randn(60, 7, generator=g, dtype=torch.float64)
    W, b = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    plain = collapse(X, y, W, b)
    held = collapse(X, y, W, b, reference=class_statistics(X, y))
    assert plain.keys() == held.keys()
    for k in plain:
        assert held[k] == pytest.approx(plain[k], rel=1e-12, abs=1e-14), k


def test_reference_measures_the_test_residuals_around_the_training_means():
    """Against a loop: NC1 of the test set with the training means and the training Sigma_B; NC4 with the
    nearest training mean."""
    from nclab.metrics import class_statistics

    g = torch.Generator().manual_seed(4)
    K, d = 4, 6
    M = 3 * torch.randn(K, d, generator=g, dtype=torch.float64)
    ytr, yte = torch.arange(40) % K, torch.arange(32) % K
    tr = M[ytr] + 0.3 * torch.randn(40, d, generator=g, dtype=torch.float64)
    te = M[yte] + 0.8 * torch.randn(32, d, generator=g, dtype=torch.float64) + 0.2
    W = torch.randn(K, d, generator=g, dtype=torch.float64)
    got = collapse(te, yte, W, reference=class_statistics(tr, ytr))
    means = torch.stack([tr[ytr == k].mean(0) for k in range(K)])
    Mc = means - means.mean(0)
    SB = Mc.T @ Mc / K
    R = te - means[yte]
    SW = R.T @ R / len(yte)
    assert got["nc1"] == pytest.approx(float(torch.trace(SW @ torch.linalg.pinv(SB)) / K), rel=1e-9)
    assert got["nc1_trace_ratio"] == pytest.approx(float(torch.trace(SW) / torch.trace(SB)), rel=1e-12)
    ncc = torch.cdist(te, means).argmin(1)
    assert got["nc4_ncc_mismatch"] == pytest.approx(float((ncc != (te @ W.T).argmax(1)).double().mean()))
    assert got["nc2_etf_features"] == pytest.approx(collapse(tr, ytr)["nc2_etf_features"], rel=1e-12)
    with pytest.raises(ValueError, match="reference"):
        collapse(te[:, :5], yte, reference=class_statistics(tr, ytr))


def test_decompositions_run_on_one_thread_unless_the_user_chose(monkeypatch):
    """The per-class spectra, stable rank and MSE decomposition call LAPACK on one intra-op
    thread (nclab.metrics._core.decomposition_threads); a count the user set wins."""
    import os

    import nclab
    from nclab._threads import user_threads
    from nclab.metrics import class_covariance_spectra, mse_decomposition, within_stable_rank

    seen = []
    eigvalsh, pinv = torch.linalg.eigvalsh, torch.linalg.pinv
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda A: (seen.append(torch.get_num_threads()), eigvalsh(A))[1])
    monkeypatch.setattr(torch.linalg, "pinv", lambda A, **kw: (seen.append(torch.get_num_threads()), pinv(A, **kw))[1])
    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 4
    X = torch.randn(40, 6, generator=g, dtype=torch.float64) + 3.0 * torch.randn(4, 6, generator=g, dtype=torch.float64)[y]
    W = torch.randn(4, 6, generator=g, dtype=torch.float64)

    def run():
        seen.clear()
        class_covariance_spectra(X, y)
        within_stable_rank(torch.eye(6))
        mse_decomposition(X, y, W)
        return set(seen)

    if user_threads() is None:
        assert run() == {1}
    if (os.cpu_count() or 1) >= 2:
        with nclab.threads(2):
            assert run() == {2}
