"""collapse(extra=...) from the streaming accumulators equals the full-batch values (float64)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nclab.metrics import EXTRA_KEYS, ProjectedStats, StreamingStats, class_covariance_spectra, collapse
from nclab.metrics.extra import EXTRA_SOURCES


def data(seed=0, K=5, d=8, N=97, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, K, (N,), generator=g)
    y[:K] = torch.arange(K)
    X = 3.0 * torch.randn(K, d, generator=g, dtype=torch.float64)[y] + torch.randn(N, d, generator=g, dtype=torch.float64)
    W = torch.randn(K, d, generator=g, dtype=torch.float64)
    b = torch.randn(K, generator=g, dtype=torch.float64)
    ood = torch.randn(13, d, generator=g, dtype=torch.float64) + 0.5
    return X + offset, y, W, b, ood


CUTS = [0, 3, 4, 30, 31, 70, 97]


def streamed(X, y, W=None, b=None, cuts=CUTS, acc=None, ncc_cuts=None, **kwargs):
    acc = acc or StreamingStats(num_classes=int(y.max()) + 1, dim=X.shape[1], **kwargs)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        acc.update(X[lo:hi], y[lo:hi])
    counter = acc.ncc_counter(W, b)
    for lo, hi in zip((ncc_cuts or cuts)[:-1], (ncc_cuts or cuts)[1:]):
        counter.update(X[lo:hi], y[lo:hi])
    return acc, counter


def close(a, b, rtol=1e-10, atol=1e-12):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def test_every_extra_name_streams_to_the_full_batch_value():
    X, y, W, b, ood = data()
    acc, counter = streamed(X, y, W, b, class_projection="identity")
    full = collapse(X, y, W, b, extra="all", ood_features=ood)
    got = acc.collapse(W, b, ncc=counter, extra="all", ood_features=ood)
    assert set(got) == set(full)  # every name streams from these accumulators
    close(got, full)
    for name in EXTRA_KEYS:  # one at a time, in the caller's order
        close(acc.collapse(W, b, ncc=counter, extra=[name], ood_features=ood),
              collapse(X, y, W, b, extra=[name], ood_features=ood))


def test_streaming_extra_with_samples_weighting_offset_and_merge():
    X, y, W, b, ood = data(seed=1, offset=50.0)
    full = collapse(X, y, W, b, extra="all", ood_features=ood, global_mean="samples")
    a, _ = streamed(X[:40], y[:40], cuts=[0, 17, 40], class_projection="identity")
    c, _ = streamed(X[40:], y[40:], cuts=[0, 5, 57], class_projection="identity")
    acc = a.merge(c)
    counter = acc.ncc_counter(W, b)
    counter = counter.merge(acc.ncc_counter(W, b))  # an empty counter merges as zero
    for lo, hi in zip(CUTS[:-1], CUTS[1:]):
        counter.update(X[lo:hi], y[lo:hi])
    close(acc.collapse(W, b, ncc=counter, extra="all", ood_features=ood, global_mean="samples"), full, rtol=1e-9)


def test_projected_class_spectra_equal_the_spectra_of_the_projected_features():
    X, y, W, b, _ = data(seed=2, d=9, N=200)
    g = torch.Generator().manual_seed(5)
    P = torch.randn(9, 3, generator=g, dtype=torch.float64)
    acc, _ = streamed(X, y, cuts=[0, 50, 51, 200], class_projection=P)
    assert acc.class_moment_bytes == 5 * 3 * 3 * 8  # K r^2 float64
    np.testing.assert_allclose(acc.class_covariance_spectra(), class_covariance_spectra(X @ P, y), rtol=1e-10, atol=1e-12)
    half = StreamingStats(5, 9, class_projection=P).update(X[:120], y[:120])
    rest = StreamingStats(5, 9, class_projection=P).update(X[120:], y[120:])
    np.testing.assert_allclose(half.merge(rest).class_covariance_spectra(), acc.class_covariance_spectra(), rtol=1e-10)
    with pytest.raises(ValueError, match="class_projection"):
        half.merge(StreamingStats(5, 9))


def test_ncc_counter_without_classifier_gives_ncc_accuracy_only():
    X, y, W, b, _ = data(seed=3)
    acc, counter = streamed(X, y)
    out = acc.collapse(ncc=counter, extra="all")
    assert out["ncc_accuracy"] == pytest.approx(collapse(X, y, extra=["ncc_accuracy"])["ncc_accuracy"], rel=1e-12)
    assert "nc4_ncc_mismatch" not in out and "agreement_per_class" not in out
    assert "class_covariance_spectra" not in out  # no per-class moments kept: "all" leaves it out
    with pytest.raises(ValueError, match="agreement_per_class"):
        acc.collapse(W, b, ncc=counter, extra=["agreement_per_class"])


def test_names_that_need_more_than_the_statistics_say_what_they_need():
    X, y, W, b, _ = data(seed=4)
    acc, _ = streamed(X, y)
    with pytest.raises(ValueError, match=r"class_projection.*MiB"):
        acc.collapse(extra=["class_covariance_spectra"])
    with pytest.raises(ValueError, match="ncc_counter"):
        acc.collapse(extra=["ncc_accuracy"])
    proj = ProjectedStats(5, X.shape[1])
    for lo, hi in zip(CUTS[:-1], CUTS[1:]):
        proj.update(X[lo:hi], y[lo:hi])
    proj.begin_pass2()
    counter = proj.ncc_counter(W, b)
    for lo, hi in zip(CUTS[:-1], CUTS[1:]):
        proj.update_residuals(X[lo:hi], y[lo:hi])
        counter.update(X[lo:hi], y[lo:hi])
    with pytest.raises(ValueError, match="d x d"):
        proj.collapse(W, b, extra=["mse_decomposition"])
    got = proj.collapse(W, b, ncc=counter, extra="all")
    names = [n for n, src in EXTRA_SOURCES.items() if src in ("statistics", "pass2") and n != "nc5_ood_orthogonality"]
    assert set(got) == set(collapse(X, y, W, b, extra=names))
    close(got, collapse(X, y, W, b, extra=names), rtol=1e-9)
    with pytest.raises(ValueError, match="ood_features"):
        acc.collapse(extra=["kernel_log"], ood_features=torch.zeros(3, 2))


def test_bad_class_projection():
    for bad in ("full", torch.zeros(3, 2), torch.zeros(8)):
        with pytest.raises(ValueError, match="class_projection"):
            StreamingStats(5, 8, class_projection=bad)


def _scatter_loop(X, y, K):
    """Per-class scatter sum_{i in k} (h_i - h_bar_k)(h_i - h_bar_k)^T, one sample at a time."""
    X, d = X.tolist(), X.shape[1]
    out = np.zeros((K, d, d))
    for k in range(K):
        rows = [np.array(X[i]) for i in range(len(X)) if int(y[i]) == k]
        mean = sum(rows) / len(rows)
        for r in rows:
            out[k] += np.outer(r - mean, r - mean)
    return out


def test_class_scatter_update_and_merge_equal_the_loop():
    """docs/math.md §9.1: Chan, Golub & LeVeque's pairwise update, per batch and per merge, with
    a class missing from a batch, one-sample batches, an empty part and far-apart shifts."""
    X, y, _, _, _ = data(seed=6, K=4, d=5, N=60, offset=1e3)
    X[30:] += 7.0  # the second worker's shift is far from the first's
    y[10:14] = 0  # class 3 absent from the batch 10:14 below
    expected = _scatter_loop(X, y, 4)
    one, _ = streamed(X, y, cuts=[0, 1, 10, 14, 15, 60], class_projection="identity")
    np.testing.assert_allclose(one.class_scatter, expected, rtol=1e-9, atol=1e-9)
    a, _ = streamed(X[:30], y[:30], cuts=[0, 4, 30], class_projection="identity")
    b, _ = streamed(X[30:], y[30:], cuts=[0, 1, 30], class_projection="identity")
    empty = StreamingStats(4, 5, class_projection="identity")
    for merged in (a.merge(b), b.merge(a), a.merge(empty).merge(b), empty.merge(a.merge(b))):
        np.testing.assert_allclose(merged.class_scatter, expected, rtol=1e-9, atol=1e-9)
