"""nclab.metrics.collapse and the single metrics: closed cases, loop references, invariances."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nclab import metrics
from nclab.geometry import random_orthogonal, simplex_etf
from nclab.metrics import KEYS, collapse

ALL = set(KEYS)
FEATURE_KEYS = {"nc1", "nc1_trace_ratio", "cdnv", "nc2_etf_features", "equinorm_features", "equiangularity_features"}


# ----------------------------------------------------------------------------- reference


def reference(X, y, W=None, b=None, weighting="classes", center_weight=True):
    """Plain loops over numpy float64, straight from docs/math.md §1 and §2."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    N, d = X.shape
    K = int(y.max()) + 1
    counts = [sum(1 for i in range(N) if y[i] == k) for k in range(K)]
    means = []
    for k in range(K):
        s = np.zeros(d)
        for i in range(N):
            if y[i] == k:
                s += X[i]
        means.append(s / counts[k])
    if weighting == "classes":
        mu = sum(means) / K
    else:
        mu = sum(X[i] for i in range(N)) / N
    Mt = [m - mu for m in means]
    Sw = np.zeros((d, d))
    for i in range(N):
        r = X[i] - means[y[i]]
        Sw += np.outer(r, r)
    Sw /= N
    Sb = sum(np.outer(m, m) for m in Mt) / K
    out = {}
    out["nc1"] = np.trace(Sw @ np.linalg.pinv(Sb, rcond=1e-10, hermitian=True)) / K
    out["nc1_trace_ratio"] = np.trace(Sw) / np.trace(Sb)
    var = []
    for k in range(K):
        var.append(sum(np.sum((X[i] - means[k]) ** 2) for i in range(N) if y[i] == k) / counts[k])
    pairs = []
    for i in range(K):
        for j in range(i + 1, K):
            pairs.append((var[i] + var[j]) / (2 * np.sum((means[i] - means[j]) ** 2)))
    out["cdnv"] = float(np.mean(pairs))
    P = np.eye(K) - np.ones((K, K)) / K
    etf = P / math.sqrt(K - 1)

    def etf_err(rows):
        G = np.array([[rows[i] @ rows[j] for j in range(K)] for i in range(K)])
        return np.linalg.norm(G / np.linalg.norm(G) - etf)

    def cv(rows):
        n = np.array([np.linalg.norm(r) for r in rows])
        return np.std(n, ddof=1) / np.mean(n)

    def coh(rows):
        tot = 0.0
        for i in range(K):
            for j in range(K):
                if i != j:
                    c = rows[i] @ rows[j] / (np.linalg.norm(rows[i]) * np.linalg.norm(rows[j]))
                    tot += abs(c + 1.0 / (K - 1))
        return tot / (K * (K - 1))

    out["nc2_etf_features"] = etf_err(Mt)
    out["equinorm_features"] = cv(Mt)
    out["equiangularity_features"] = coh(Mt)
    if W is not None:
        W = np.asarray(W, dtype=np.float64)
        Wc = [w - W.mean(axis=0) for w in W] if center_weight else list(W)
        out["nc2_etf_weight"] = etf_err(Wc)
        out["equinorm_weight"] = cv(list(W))
        out["equiangularity_weight"] = coh(list(W))
        Mrows = np.array(Mt)
        out["nc3_duality"] = np.linalg.norm(W / np.linalg.norm(W) - Mrows / np.linalg.norm(Mrows))
        A = W @ Mrows.T
        out["nc3_structure"] = np.linalg.norm(A / np.linalg.norm(A) - etf)
        bb = np.zeros(K) if b is None else np.asarray(b, dtype=np.float64)
        mism = 0
        for i in range(N):
            net = int(np.argmax(W @ X[i] + bb))
            ncc = int(np.argmin([np.sum((X[i] - means[k]) ** 2) for k in range(K)]))
            mism += net != ncc
        out["nc4_ncc_mismatch"] = mism / N
        if b is not None:
            out["bias_norm"] = np.linalg.norm(W @ mu + bb)
    return out


def random_problem(seed, K=4, d=6, n=(3, 5, 2, 4), with_bias=True, spread=2.0):
    g = np.random.default_rng(seed)
    counts = list(n)[:K] if len(n) >= K else [n[0]] * K
    y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    g.shuffle(y)
    centres = spread * g.normal(size=(K, d))
    X = centres[y] + g.normal(size=(len(y), d))
    W = g.normal(size=(K, d))
    b = g.normal(size=K) if with_bias else None
    return X, y, W, b


def assert_close(got, want, rtol=1e-9, atol=1e-12):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


# ----------------------------------------------------------------------------- closed cases


@pytest.mark.parametrize("K,d,rotate,scale", [(2, 1, False, 1.0), (3, 3, True, 2.5), (5, 4, True, 0.3), (10, 16, True, 7.0)])
def test_perfect_simplex_etf_gives_zero(K, d, rotate, scale):
    g = torch.Generator().manual_seed(K)
    M = simplex_etf(K, d, scale=scale, rotate=rotate, generator=g)
    counts = [1 + (k % 3) for k in range(K)]  # unbalanced on purpose
    y = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    X = M[y]
    W = 0.7 * M
    out = collapse(X, y, W, torch.zeros(K))
    assert set(out) == ALL
    for key, value in out.items():
        assert abs(value) < 1e-10, (key, value)


def test_etf_with_offset_and_matching_bias_is_zero():
    K, d = 4, 7
    M = simplex_etf(K, d, scale=3.0, rotate=True, generator=torch.Generator().manual_seed(1))
    offset = torch.arange(d, dtype=torch.float64)
    y = torch.arange(K).repeat(3)
    W = 2.0 * M
    out = collapse(M[y] + offset, y, W, -(W @ offset))
    for key, value in out.items():
        assert abs(value) < 1e-10, (key, value)


def hand_case():
    X = np.array([[1.5, 0], [0.5, 0], [0, 1.5], [0, 0.5], [-0.5, -1], [-1.5, -1]])
    y = np.array([0, 0, 1, 1, 2, 2])
    W = np.array([[1.0, 0], [0, 1], [-1, -1]])  # = centred means, rows
    b = np.array([0, 0, -2.2])
    return X, y, W, b


def test_hand_computed_configuration():
    X, y, W, b = hand_case()
    out = collapse(X, y, W, b)
    nc2 = math.sqrt(2 - 4 / math.sqrt(5))  # ||G/sqrt(10) - P/sqrt(2)||, <G, P> = 4
    cv = math.sqrt(3) * (math.sqrt(2) - 1) / (2 + math.sqrt(2))  # norms 1, 1, sqrt(2), ddof 1
    coh = (math.sqrt(2) - 0.5) / 3  # |0 + 1/2| once, |-1/sqrt(2) + 1/2| twice
    expected = {
        "nc1": 1 / 6,  # Sigma_W = diag(1/6, 1/12), Sigma_B^-1 = [[2,-1],[-1,2]], /K
        "nc1_trace_ratio": (1 / 4) / (4 / 3),
        "cdnv": (0.5 / 4 + 0.5 / 10 + 0.5 / 10) / 3,
        "nc2_etf_features": nc2,
        "nc2_etf_weight": nc2,
        "equinorm_features": cv,
        "equinorm_weight": cv,
        "equiangularity_features": coh,
        "equiangularity_weight": coh,
        "nc3_duality": 0.0,
        "nc3_structure": nc2,
        "nc4_ncc_mismatch": 1 / 6,  # sample (-0.5, -1): logits (-0.5, -1, -0.7)
        "bias_norm": 2.2,
    }
    assert_close(out, expected, rtol=1e-12, atol=1e-14)


def test_single_metric_functions_match_collapse():
    X, y, W, b = random_problem(3)
    out = collapse(X, y, W, b)
    stats = metrics.class_statistics(X, y)
    Mt = stats.centred_means
    assert metrics.nc1(X, y) == pytest.approx(out["nc1"], rel=1e-12)
    assert metrics.nc1_trace_ratio(X, y) == pytest.approx(out["nc1_trace_ratio"], rel=1e-12)
    assert metrics.cdnv(X, y) == pytest.approx(out["cdnv"], rel=1e-12)
    assert metrics.nc2_etf(Mt) == pytest.approx(out["nc2_etf_features"], rel=1e-12)
    assert metrics.nc2_etf(W) == pytest.approx(out["nc2_etf_weight"], rel=1e-12)
    assert metrics.nc2_etf(W, center=False) == pytest.approx(collapse(X, y, W, center_weight=False)["nc2_etf_weight"])
    assert metrics.equinorm(Mt) == pytest.approx(out["equinorm_features"], rel=1e-12)
    assert metrics.equinorm(W) == pytest.approx(out["equinorm_weight"], rel=1e-12)
    assert metrics.equiangularity(Mt) == pytest.approx(out["equiangularity_features"], rel=1e-12)
    assert metrics.equiangularity(W) == pytest.approx(out["equiangularity_weight"], rel=1e-12)
    assert metrics.nc3_duality(W, Mt) == pytest.approx(out["nc3_duality"], rel=1e-12)
    assert metrics.nc3_structure(W, Mt) == pytest.approx(out["nc3_structure"], rel=1e-12)
    assert metrics.nc4_ncc_mismatch(X, y, W, b) == pytest.approx(out["nc4_ncc_mismatch"])
    assert metrics.bias_norm(W, b, stats.global_mean) == pytest.approx(out["bias_norm"], rel=1e-12)


# ----------------------------------------------------------------------------- references


@pytest.mark.parametrize("weighting", ["classes", "samples"])
@pytest.mark.parametrize("center_weight", [True, False])
def test_against_loop_reference(weighting, center_weight):
    X, y, W, b = random_problem(7)
    got = collapse(X, y, W, b, global_mean=weighting, center_weight=center_weight)
    assert_close(got, reference(X, y, W, b, weighting, center_weight), rtol=1e-8)


@settings(max_examples=25, deadline=None)
@given(
    K=st.integers(2, 5),
    extra_d=st.integers(0, 4),
    counts=st.lists(st.integers(1, 4), min_size=5, max_size=5),
    seed=st.integers(0, 2**31 - 1),
    weighting=st.sampled_from(["classes", "samples"]),
    with_weight=st.booleans(),
)
def test_against_loop_reference_hypothesis(K, extra_d, counts, seed, weighting, with_weight):
    d = K - 1 + extra_d
    X, y, W, b = random_problem(seed, K=K, d=d, n=counts)
    if not with_weight:
        W = b = None
    got = collapse(X, y, W, b, global_mean=weighting)
    want = reference(X, y, W, b, weighting)
    if d == K - 1 and weighting == "samples":
        # Sigma_B has rank K - 1 = d either way; nothing special, still compared
        pass
    assert_close(got, want, rtol=1e-7, atol=1e-10)


def test_unbalanced_samples_weighting_uses_the_kth_direction():
    # With sample weighting and unbalanced classes, M~ can have rank K (when d >= K).
    X, y, W, b = random_problem(11, K=3, d=5, n=(1, 6, 2))
    got = collapse(X, y, global_mean="samples")
    np.testing.assert_allclose(got["nc1"], reference(X, y, weighting="samples")["nc1"], rtol=1e-9)
    assert got["nc1"] != pytest.approx(collapse(X, y)["nc1"], rel=1e-3)


# ----------------------------------------------------------------------------- invariances


def test_orthogonal_change_of_basis_invariance():
    X, y, W, b = random_problem(5, K=5, d=8, n=(4,))
    Q = random_orthogonal(8, generator=torch.Generator().manual_seed(0)).numpy()
    a = collapse(X, y, W, b)
    c = collapse(X @ Q, y, W @ Q, b)
    assert_close(c, a, rtol=1e-9, atol=1e-12)


def test_global_rescaling_invariance():
    X, y, W, _ = random_problem(6, K=4, d=5, n=(5,))
    a = collapse(X, y, W)
    c = collapse(3.7 * X, y, 0.2 * W)
    for key in ("nc1", "nc1_trace_ratio", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc3_structure"):
        assert c[key] == pytest.approx(a[key], rel=1e-10), key


def test_relabelling_invariance():
    X, y, W, b = random_problem(8, K=5, d=6, n=(2, 3, 4, 5, 6))
    perm = np.array([3, 0, 4, 1, 2])  # class k becomes perm[k]
    W2, b2 = np.empty_like(W), np.empty_like(b)
    W2[perm], b2[perm] = W, b
    assert_close(collapse(X, perm[y], W2, b2), collapse(X, y, W, b), rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- types, batches


def test_numpy_and_torch_agree_and_dtype_kept():
    X, y, W, b = random_problem(9)
    a = collapse(X, y, W, b)
    t = collapse(torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(W), torch.from_numpy(b))
    assert_close(t, a, rtol=1e-14, atol=0)
    f32 = collapse(X.astype(np.float32), y, W, b)
    for key in a:
        assert f32[key] == pytest.approx(a[key], rel=2e-4, abs=1e-6), key
    # float32 really is computed in float32 (differs from float64 in late digits)
    assert any(f32[k] != a[k] for k in ("nc1", "cdnv", "nc1_trace_ratio"))


def test_batched_equals_loop_over_batch():
    g = np.random.default_rng(0)
    K, d, N = 3, 4, 12
    y = np.arange(N) % K
    X = g.normal(size=(2, 3, N, d))
    W = g.normal(size=(3, K, d))  # broadcasts over the first axis
    b = g.normal(size=K)
    out = collapse(X, y, W, b)
    for key in KEYS:
        assert out[key].shape == (2, 3), key
    H = torch.from_numpy(np.ascontiguousarray(X.swapaxes(-1, -2)))  # UFM layout (..., d, N)
    view = collapse(H.mT, y, W, b)  # a non-contiguous transposed view
    for key in KEYS:
        np.testing.assert_allclose(view[key], out[key], rtol=1e-12, err_msg=key)
    for i in range(2):
        for j in range(3):
            single = collapse(X[i, j], y, W[j], b)
            for key in KEYS:
                assert out[key][i, j] == pytest.approx(single[key], rel=1e-11), key


def test_features_only_keys():
    X, y, _, _ = random_problem(1)
    assert set(collapse(X, y)) == FEATURE_KEYS
    assert set(collapse(X, y, np.ones((4, 6)))) == ALL - {"bias_norm"}


def test_rtol_drops_small_directions_and_nan_when_means_coincide():
    # Means on a line in R^3 (rank 1 M~) up to a tiny perturbation: rtol decides.
    y = np.repeat(np.arange(3), 4)
    g = np.random.default_rng(2)
    base = np.array([[1.0, 0, 0], [2.0, 0, 0], [4.0, 1e-7, 0]])
    noise = 0.01 * g.normal(size=(12, 3))
    noise -= np.stack([noise[y == k].mean(axis=0) for k in range(3)])[y]  # class means stay exact
    X = base[y] + noise
    loose, tight = collapse(X, y, rtol=1e-3)["nc1"], collapse(X, y)["nc1"]
    assert tight > 100 * loose
    assert math.isnan(metrics.nc1(np.zeros((6, 3)), np.repeat([0, 1], 3)))


def test_cuda_if_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA here")
    X, y, W, b = random_problem(4)
    a = collapse(X, y, W, b)
    c = collapse(torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda(), W, b)
    assert_close(c, a, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(labels=np.array([0, 1, 2, 3, 4, 5.5])), "labels"),
        (dict(labels=np.array([0, 1, 0, 1, 0, -1])), "label -1"),
        (dict(labels=np.array([0, 0, 0, 0, 0, 0])), "number of classes"),
        (dict(labels=np.array([0, 2, 0, 2, 0, 2])), "no sample of class 1"),
        (dict(labels=np.array([0, 1, 0, 1, 0])), "one label per sample"),
        (dict(labels=np.array(["a"] * 6)), "labels"),
        (dict(features=np.full((6, 3), np.nan)), "NaN or inf"),
        (dict(features=np.array([1.0, 2, 3, 4, 5, 6])), "features"),
        (dict(weight=np.ones((2, 4))), "weight"),
        (dict(weight=np.array([[1.0, np.inf, 0]] * 2)), "NaN or inf"),
        (dict(bias=np.ones(3)), "bias"),
        (dict(weight=None, bias=np.ones(2)), "bias"),
        (dict(global_mean="median"), "global_mean"),
        (dict(rtol=-1.0), "rtol"),
        (dict(num_classes=1), "num_classes"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(kwargs, match):
    g = np.random.default_rng(0)
    args = dict(features=g.normal(size=(6, 3)), labels=np.array([0, 1, 0, 1, 0, 1]), weight=np.ones((2, 3)), bias=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        collapse(**args)


def test_dimension_too_small_for_etf_metrics():
    X = np.random.default_rng(0).normal(size=(10, 2))
    y = np.arange(10) % 5
    with pytest.raises(ValueError, match=r"d >= K - 1 = 4"):
        collapse(X, y)
    assert np.isfinite(metrics.nc1(X, y))  # NC1 itself is defined for any d
    W = np.random.default_rng(1).normal(size=(5, 2))
    out = collapse(X, y, W, undefined="omit")
    assert set(out) == ALL - {"bias_norm", "nc2_etf_features", "nc2_etf_weight", "equiangularity_features",
                              "equiangularity_weight", "nc3_structure"}
    assert out["nc1"] == pytest.approx(metrics.nc1(X, y))
    with pytest.raises(ValueError, match="undefined"):
        collapse(X, y, undefined="ignore")
    # each error names the argument the caller passed
    with pytest.raises(ValueError, match=r"^features must be .*d >= K - 1 = 4"):
        collapse(X, y)
    with pytest.raises(ValueError, match=r"^vectors must be .*d >= K - 1 = 4.*got 'an array with d = 2 columns'"):
        metrics.nc2_etf(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"^vectors must be .*d >= K - 1"):
        metrics.equiangularity(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"^centred_means must be .*d >= K - 1"):
        metrics.nc3_structure(np.ones((5, 2)), np.ones((5, 2)))


def test_float32_near_collapse_keeps_relative_accuracy_and_inputs_untouched():
    # within-class spread 1e-4 of the class-mean scale: no ||x||^2 - ||m||^2 cancellation
    g = torch.Generator().manual_seed(3)
    K, d, n = 6, 10, 40
    M = simplex_etf(K, d, scale=10.0, rotate=True, generator=g) + 5.0
    y = torch.arange(K).repeat(n)
    X = M[y] + 1e-3 * torch.randn(K * n, d, generator=g, dtype=torch.float64)
    W = M - M.mean(0)
    b = -W @ M.mean(0)
    X32, W32 = X.float(), W.float()
    before = X32.clone()
    a, c = collapse(X, y, W, b), collapse(X32, y, W32, b.float())
    torch.testing.assert_close(X32, before, rtol=0, atol=0)
    for key in ("nc1", "nc1_trace_ratio", "cdnv"):
        assert c[key] == pytest.approx(a[key], rel=5e-3), key
    assert c["nc4_ncc_mismatch"] == a["nc4_ncc_mismatch"] == 0.0


@pytest.mark.parametrize("rows", [64, 100])
def test_chunked_pass_equals_single_chunk(monkeypatch, rows):
    from nclab.metrics import _core

    g = np.random.default_rng(12)
    K, d, N = 4, 5, 1000  # 1000 = 15 chunks of 64 + 40, or 10 chunks of 100
    y = g.integers(0, K, size=N)
    X = g.normal(size=(2, N, d)) + 2.0 * g.normal(size=(K, d))[y]
    W, b = g.normal(size=(K, d)), g.normal(size=K)
    whole = collapse(X, y, W, b)
    monkeypatch.setattr(_core, "_chunk_rows", lambda x: rows)
    chunked = collapse(X, y, W, b)
    for key in KEYS:
        np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-11, err_msg=key)
    want = reference(X[1], y, W, b)
    for key in want:
        assert chunked[key][1] == pytest.approx(want[key], rel=1e-8), key
