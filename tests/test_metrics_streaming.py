"""nclab.metrics.streaming: one-pass statistics equal the full-batch metrics."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nclab.geometry import simplex_etf
from nclab.metrics import KEYS, NCCCounter, ProjectedStats, StreamingStats, collapse


def data(seed=0, K=5, d=7, N=103, offset=0.0, noise=1.0):
    g = np.random.default_rng(seed)
    y = g.integers(0, K, size=N)
    y[:K] = np.arange(K)
    X = 3.0 * g.normal(size=(K, d))[y] + noise * g.normal(size=(N, d)) + offset
    return X, y, g.normal(size=(K, d)), g.normal(size=K)


def stream(X, y, cuts, K, d, W=None, b=None, ncc_cuts=None):
    stats = StreamingStats(num_classes=K, dim=d)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        stats.update(X[lo:hi], y[lo:hi])
    ncc = None
    if W is not None:
        ncc = stats.ncc_counter(W, b)
        cuts2 = ncc_cuts or cuts
        for lo, hi in zip(cuts2[:-1], cuts2[1:]):
            ncc.update(X[lo:hi], y[lo:hi])
    return stats, ncc


def close(a, b, rtol=1e-9, atol=1e-12):
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("weighting", ["classes", "samples"])
def test_uneven_batches_equal_full_batch(weighting):
    X, y, W, b = data()
    cuts = [0, 1, 2, 17, 17, 50, 51, 103]  # includes an empty batch and batches missing classes
    stats, ncc = stream(X, y, cuts, 5, 7, W, b, ncc_cuts=[0, 60, 103])
    got = stats.collapse(W, b, ncc=ncc, global_mean=weighting)
    close(got, collapse(X, y, W, b, global_mean=weighting))
    assert list(got) == [k for k in KEYS]


def test_without_counter_nc4_is_absent_and_features_only():
    X, y, W, b = data(1)
    stats, _ = stream(X, y, [0, 40, 103], 5, 7)
    assert "nc4_ncc_mismatch" not in stats.collapse(W, b)
    close(stats.collapse(), collapse(X, y))


def test_merge_of_workers_equals_single_pass():
    X, y, W, b = data(2, offset=50.0)
    parts = [(0, 30), (30, 31), (31, 103)]
    workers = []
    for lo, hi in parts:  # each worker has its own shift (its first batch's mean)
        s = StreamingStats(5, 7)
        s.update(X[lo:hi], y[lo:hi])
        workers.append(pickle.loads(pickle.dumps(s)))
    merged = workers[0].merge(workers[1]).merge(workers[2])
    assert merged.num_samples == 103
    counters = []
    for lo, hi in parts:
        c = merged.ncc_counter(W, b)
        c.update(X[lo:hi], y[lo:hi])
        counters.append(c)
    ncc = counters[0].merge(counters[1]).merge(counters[2])
    close(merged.collapse(W, b, ncc=ncc), collapse(X, y, W, b), rtol=1e-8)
    empty = StreamingStats(5, 7)
    close(empty.merge(merged).collapse(), merged.collapse(), rtol=1e-12)


def test_near_collapse_with_large_offset_keeps_precision():
    # within-class spread 1e-4 around means of size ~1e3: the shift keeps cancellation small
    X, y, W, b = data(3, offset=1e3, noise=1e-4)
    stats, ncc = stream(X, y, [0, 10, 64, 103], 5, 7, W, b)
    close(stats.collapse(W, b, ncc=ncc), collapse(X, y, W, b), rtol=1e-5, atol=1e-14)


def test_perfect_etf_streams_to_zero():
    K, d = 4, 6
    M = simplex_etf(K, d, scale=2.0, rotate=True, generator=torch.Generator().manual_seed(0))
    y = torch.arange(K).repeat(5)
    X = M[y]
    stats, ncc = stream(X, y, [0, 3, 11, 20], K, d, M, torch.zeros(K))
    for key, value in stats.collapse(M, torch.zeros(K), ncc=ncc).items():
        assert abs(value) < 1e-10, (key, value)


def test_small_dimension_omits_etf_metrics():
    X, y, W, b = data(6, K=6, d=3)
    stats, ncc = stream(X, y, [0, 50, 103], 6, 3, W, b)
    with pytest.raises(ValueError, match="d >= K - 1"):
        stats.collapse()
    close(stats.collapse(W, b, ncc=ncc, undefined="omit"), collapse(X, y, W, b, undefined="omit"))


def test_float32_batches_accumulate_in_float64():
    X, y, W, b = data(4)
    X32 = torch.from_numpy(X).float()
    stats, _ = stream(X32, torch.from_numpy(y), [0, 50, 103], 5, 7)
    assert stats.sums.dtype == torch.float64
    close(stats.collapse(), collapse(X32.double(), y), rtol=1e-10)


def test_memory_does_not_grow_with_n():
    s = StreamingStats(3, 4)
    sizes = lambda: sum(t.numel() for t in (s.counts, s.shift, s.sums, s.sq, s.second))  # noqa: E731
    s.update(np.ones((2, 4)), [0, 1])
    before = sizes()
    for _ in range(20):
        s.update(np.random.default_rng(0).normal(size=(50, 4)), np.arange(50) % 3)
    assert sizes() == before == 3 + 4 + 12 + 3 + 16


def test_bad_inputs():
    s = StreamingStats(3, 4)
    with pytest.raises(ValueError, match="num_classes"):
        StreamingStats(1, 4)
    with pytest.raises(ValueError, match="dtype"):
        StreamingStats(3, 4, dtype=torch.int64)
    with pytest.raises(ValueError, match="features"):
        s.update(np.ones((2, 5)), [0, 1])
    with pytest.raises(ValueError, match="NaN or inf"):
        s.update(np.array([[np.nan] * 4]), [0])
    with pytest.raises(ValueError, match="label 3"):
        s.update(np.ones((2, 4)), [0, 3])
    with pytest.raises(ValueError, match="labels"):
        s.update(np.ones((2, 4)), [0.5, 1])
    with pytest.raises(ValueError, match="labels"):
        s.update(np.ones((2, 4)), ["a", "b"])
    with pytest.raises(ValueError, match="one label per sample"):
        s.update(np.ones((2, 4)), [0])
    s.update(np.eye(4)[:2], [0, 1])
    with pytest.raises(ValueError, match="no sample of class 2"):
        s.collapse()
    with pytest.raises(ValueError, match="other"):
        s.merge(StreamingStats(3, 5))


def test_counter_must_match_statistics():
    X, y, W, b = data(5)
    stats, ncc = stream(X, y, [0, 103], 5, 7, W, b)
    partial = stats.ncc_counter(W, b).update(X[:10], y[:10])
    with pytest.raises(ValueError, match="ncc"):
        stats.collapse(W, b, ncc=partial)
    with pytest.raises(ValueError, match="ncc"):
        stats.collapse(W + 1.0, b, ncc=ncc)
    stats.update(X[:5], y[:5])  # the means moved after the counter was made
    with pytest.raises(ValueError, match="ncc"):
        stats.collapse(W, b, ncc=ncc)
    assert isinstance(ncc, NCCCounter)


@settings(max_examples=15, deadline=None)
@given(cuts=st.lists(st.integers(0, 60), min_size=0, max_size=6), seed=st.integers(0, 1000))
def test_any_batching_equals_full_batch(cuts, seed):
    X, y, W, b = data(seed, K=3, d=4, N=60)
    bounds = [0, *sorted(cuts), 60]
    stats, ncc = stream(X, y, bounds, 3, 4, W, b, ncc_cuts=[0, 60])
    close(stats.collapse(W, b, ncc=ncc), collapse(X, y, W, b), rtol=1e-8, atol=1e-12)


def test_counter_chunks_large_batches(monkeypatch):
    from nclab.metrics import streaming

    X, y, W, b = data(7)
    monkeypatch.setattr(streaming, "_NCC_CHUNK_ELEMENTS", 30)  # 3 rows per chunk for K = 5
    stats, ncc = stream(X, y, [0, 103], 5, 7, W, b)
    assert stats.collapse(W, b, ncc=ncc)["nc4_ncc_mismatch"] == pytest.approx(collapse(X, y, W, b)["nc4_ncc_mismatch"])


# ----------------------------------------------------------------------------- ProjectedStats


def project(X, y, cuts, K, d, W=None, b=None, cuts2=None, global_mean="classes"):
    """Pass 1 over ``cuts``, pass 2 (residuals and the NC4 counter) over ``cuts2``."""
    stats = ProjectedStats(num_classes=K, dim=d)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        stats.update(X[lo:hi], y[lo:hi])
    ncc = None if W is None else stats.ncc_counter(W, b)
    stats.begin_pass2(global_mean)
    cuts2 = cuts2 or cuts
    for lo, hi in zip(cuts2[:-1], cuts2[1:]):
        stats.update_residuals(X[lo:hi], y[lo:hi])
        if ncc is not None:
            ncc.update(X[lo:hi], y[lo:hi])
    return stats, ncc


@pytest.mark.parametrize("weighting", ["classes", "samples"])
def test_projected_uneven_batches_equal_full_batch(weighting):
    X, y, W, b = data(8, offset=5.0)
    cuts = [0, 1, 2, 17, 17, 50, 51, 103]  # an empty batch and batches missing classes
    stats, ncc = project(X, y, cuts, 5, 7, W, b, cuts2=[0, 60, 61, 103], global_mean=weighting)
    got = stats.collapse(W, b, ncc=ncc, global_mean=weighting)
    close(got, collapse(X, y, W, b, global_mean=weighting))
    assert list(got) == list(KEYS)  # nc4 included, via the counter
    assert got["nc4_ncc_mismatch"] == collapse(X, y, W, b)["nc4_ncc_mismatch"]
    close(stats.collapse(global_mean=weighting), collapse(X, y, global_mean=weighting))


def test_projected_equals_moment_accumulator_and_keeps_no_d_by_d_matrix():
    X, y, W, b = data(9, d=40)
    moment, ncc_m = stream(X, y, [0, 33, 103], 5, 40, W, b)
    projected, ncc_p = project(X, y, [0, 70, 103], 5, 40, W, b, cuts2=[0, 5, 103])
    close(projected.collapse(W, b, ncc=ncc_p), moment.collapse(W, b, ncc=ncc_m))
    tensors = [t for t in vars(projected).values() if isinstance(t, torch.Tensor)]
    assert max(t.numel() for t in tensors) == 5 * 40  # O(K d): the class sums


def test_projected_small_dimension_and_float32():
    X, y, W, b = data(10, K=6, d=3)
    stats, ncc = project(X, y, [0, 50, 103], 6, 3, W, b)
    with pytest.raises(ValueError, match="d >= K - 1"):
        stats.collapse()
    close(stats.collapse(W, b, ncc=ncc, undefined="omit"), collapse(X, y, W, b, undefined="omit"))
    X, y, _, _ = data(11)
    X32 = torch.from_numpy(X).float()
    stats, _ = project(X32, torch.from_numpy(y), [0, 40, 103], 5, 7)
    assert stats.sums.dtype == torch.float64
    close(stats.collapse(), collapse(X32.double(), y), rtol=1e-10)


def test_projected_needs_a_complete_second_pass():
    X, y, W, b = data(12)
    s = ProjectedStats(5, 7).update(X, y)
    with pytest.raises(ValueError, match="pass 2"):
        s.collapse()
    with pytest.raises(ValueError, match="begin_pass2"):
        s.update_residuals(X, y)
    s.begin_pass2("classes").update_residuals(X[:50], y[:50])
    with pytest.raises(ValueError, match="pass 2"):
        s.collapse()  # 50 of 103 samples
    s.update_residuals(X[50:], y[50:])
    with pytest.raises(ValueError, match="pass 2"):
        s.collapse(global_mean="samples")  # the singular directions were those of "classes"
    with pytest.raises(ValueError, match="begin_pass2"):
        s.update(X, y)
    with pytest.raises(ValueError, match="ncc"):
        s.collapse(W, b, ncc=s.ncc_counter(W, b).update(X[:10], y[:10]))
    close(s.collapse(), collapse(X, y))
    with pytest.raises(ValueError, match="features"):
        ProjectedStats(5, 7).update(np.ones((2, 6)), [0, 1])
    with pytest.raises(ValueError, match="num_classes"):
        ProjectedStats(1, 7)


def test_projected_is_exported_from_both_modules():
    from nclab.metrics import streaming

    assert streaming.ProjectedStats is ProjectedStats


def _huge(N=20, d=3, over=1.2, seed=0):
    """Features whose entries exceed the overflow limit of N samples by ``over`` but stay under
    the limit of N / 2 (sqrt(2) larger): each half passes, the concatenation does not."""
    limit = (torch.finfo(torch.float64).max / (4.0 * N * d)) ** 0.5
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(N, d, generator=g, dtype=torch.float64) * 0.5 * limit
    X[N - 1, 0] = over * limit  # the largest entry, in the second half
    return X, torch.arange(N) % 2


def test_update_refuses_batches_that_overflow_like_collapse():
    X, y = _huge()
    with pytest.raises(ValueError) as full:
        collapse(X, y)
    collapse(X[:10], y[:10]), collapse(X[10:], y[10:])  # each half alone is fine
    acc = StreamingStats(2, 3).update(X[:10], y[:10])
    before = (acc.counts.clone(), acc.sums.clone(), acc.sq.clone(), acc.second.clone())
    with pytest.raises(ValueError) as streamed:
        acc.update(X[10:], y[10:])
    assert str(streamed.value) == str(full.value) and "overflow torch.float64" in str(full.value)
    for old, new in zip(before, (acc.counts, acc.sums, acc.sq, acc.second)):
        assert torch.equal(old, new)  # the refused batch left nothing behind
    # the largest entry first, then small batches: refused once the count makes the sums overflow
    order = torch.arange(19, -1, -1)
    acc = StreamingStats(2, 3)
    for i in range(0, 12, 2):  # 12 samples: 1.2 limit(20) < limit(12) = 1.29 limit(20)
        acc.update(X[order[i:i + 2]], y[order[i:i + 2]])
    with pytest.raises(ValueError, match="overflow"):
        for i in range(12, 20, 2):
            acc.update(X[order[i:i + 2]], y[order[i:i + 2]])
    assert acc.num_samples < 20


def test_merge_and_pass_two_refuse_overflow():
    X, y = _huge()
    a = StreamingStats(2, 3).update(X[:10], y[:10])
    b = StreamingStats(2, 3).update(X[10:], y[10:])
    with pytest.raises(ValueError, match="other must be at most .* overflow"):
        a.merge(b)
    small = StreamingStats(2, 3).update(X[:10] * 1e-200, y[:10])
    with pytest.raises(ValueError, match="features must be at most .* overflow"):
        small.ncc_counter().update(torch.full((2, 3), 1e300, dtype=torch.float64), torch.tensor([0, 1]))
    proj = ProjectedStats(2, 3).update(X[:10], y[:10]).begin_pass2()
    with pytest.raises(ValueError, match="features must be at most .* overflow"):
        proj.update_residuals(torch.full((2, 3), 1e300, dtype=torch.float64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="overflow"):
        ProjectedStats(2, 3).update(X, y)
