"""collapse(..., classes=[...]): the metrics of a class subset equal those of the filtered data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nclab.metrics import class_statistics, collapse


def data(seed=0, K=6, d=8, N=90, lead=()):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % K
    y = y[torch.randperm(N, generator=g)]
    M = 3.0 * torch.randn(*lead, K, d, generator=g, dtype=torch.float64)
    X = M[..., y, :] + torch.randn(*lead, N, d, generator=g, dtype=torch.float64)
    W = torch.randn(*lead, K, d, generator=g, dtype=torch.float64)
    b = torch.randn(*lead, K, generator=g, dtype=torch.float64)
    return X, y, W, b, torch.randn(*lead, 11, d, generator=g, dtype=torch.float64)


def filtered(X, y, W, b, classes):
    """The samples of ``classes``, relabelled 0..m-1 in their order, by a Python loop."""
    rows = [i for i in range(len(y)) if int(y[i]) in classes]
    labels = torch.tensor([classes.index(int(y[i])) for i in rows])
    return X[..., rows, :], labels, W[..., classes, :], b[..., classes]


def close(a, b, rtol=1e-10):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-12, err_msg=k)


def test_subset_equals_collapse_on_the_filtered_data_with_every_extra():
    X, y, W, b, ood = data()
    classes = [4, 1, 3]
    got = collapse(X, y, W, b, classes=classes, extra="all", ood_features=ood)
    close(got, collapse(*filtered(X, y, W, b, classes), extra="all", ood_features=ood))
    # per-class outputs in the order given: the CDNV and class spectra do not involve the other classes
    full = collapse(X, y, W, b, extra=["cdnv_matrix", "class_covariance_spectra"])
    np.testing.assert_allclose(got["cdnv_matrix"], full["cdnv_matrix"][np.ix_(classes, classes)], rtol=1e-12)
    np.testing.assert_allclose(got["class_covariance_spectra"], full["class_covariance_spectra"][classes], rtol=1e-10)
    assert got["nc1"] != pytest.approx(collapse(X, y, W, b)["nc1"])  # a different problem
    close(collapse(X, y, W, b, classes=range(6)), collapse(X, y, W, b))  # every class: the plain metrics


def test_subset_batched_samples_weighting_and_array_classes():
    X, y, W, b, _ = data(seed=1, lead=(2,))
    for classes in (np.array([5, 0]), torch.tensor([2, 3, 5, 0])):
        listed = [int(c) for c in classes]
        close(collapse(X, y, W, b, classes=classes, global_mean="samples"),
              collapse(*filtered(X, y, W, b, listed), global_mean="samples"))


def test_subset_of_a_held_out_measurement():
    X, y, W, b, _ = data(seed=2)
    T, _, _, _, _ = data(seed=3)
    T = X + 0.5 * (T - T.mean(dim=0))  # a noisier test set with the same labels
    classes = [0, 2, 5]
    ref = class_statistics(X, y)
    Xf, yf, Wf, bf = filtered(X, y, W, b, classes)
    Tf = filtered(T, y, W, b, classes)[0]
    got = collapse(T, y, W, b, reference=ref, classes=classes, extra=["ncc_accuracy", "cdnv_matrix"])
    close(got, collapse(Tf, yf, Wf, bf, reference=class_statistics(Xf, yf), extra=["ncc_accuracy", "cdnv_matrix"]))
    close(collapse(X, y, W, b, reference=ref, classes=classes), collapse(X, y, W, b, classes=classes))


def test_subset_with_fewer_classes_than_the_dimension_needs():
    X, y, W, b, _ = data(seed=4, K=6, d=3)
    with pytest.raises(ValueError, match="d >= K - 1"):
        collapse(X, y, W, b)
    close(collapse(X, y, W, b, classes=[1, 2, 4]), collapse(*filtered(X, y, W, b, [1, 2, 4])))


@pytest.mark.parametrize("bad, match", [
    ([0, 6], r"0\.\.5.*6 is not a class"),
    ([0, -1], "integer >= 0"),
    ([1, 2, 1], "1 appears more than once"),
    ([3], "at least 2 classes"),
    ([], "at least 2 classes"),
    ([0, 1.5], "integer"),
    ("01", "list of distinct class indices"),
    (3, "list of distinct class indices"),
])
def test_bad_classes_name_the_parameter(bad, match):
    X, y, W, b, _ = data(seed=5)
    with pytest.raises(ValueError, match=f"classes must be .*{match}|classes must be an {match}"):
        collapse(X, y, W, b, classes=bad)
