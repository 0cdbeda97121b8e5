"""Data sets for real-network experiments: bundled, generated, or read from a local disk.

Nothing here downloads anything. Sources:

- :func:`digits`: scikit-learn's bundled 8x8 digits (1,797 images, K = 10), split into train
  and test and standardised with the training statistics.
- :func:`gaussian_mixture`: K Gaussian classes around simplex-ETF means whose distance is
  set by ``separation`` (flat vectors or image-shaped samples, e.g. 3 x 32 x 32).
- :func:`mnist`, :func:`fashion_mnist`, :func:`cifar10`: read from a local ``root`` laid out
  as torchvision writes it (``root/MNIST/raw/*-ubyte[.gz]``, ``root/FashionMNIST/raw/...``,
  ``root/cifar-10-batches-py/``). The files are parsed directly, so torchvision is not
  needed; a missing root or file raises ``FileNotFoundError`` naming the path and how to
  obtain the files.
- :func:`balanced_subsample`: n samples per class, reproducibly.
- :func:`load`: one of the above from a spec string (``digits``, ``mnist:ROOT``,
  ``fashionmnist:ROOT``, ``cifar10:ROOT``, ``gaussian``, ``FILE.npz``), as the CLI uses it.

This module is the public face of the data sets: the container :class:`ClassificationData`
lives in :mod:`nclab.nets._dataset`, the readers of local files in :mod:`nclab.nets._files`;
the bundled and generated sets and :func:`load` are here.
"""
from __future__ import annotations

import numpy as np
import torch

from nclab._validation import check_int, check_real, fail
from nclab.nets._dataset import ClassificationData, standardise, balanced_subsample
from nclab.nets._files import UNREADABLE, cifar10, fashion_mnist, from_npz, mnist

__all__ = [
    "ClassificationData",
    "digits",
    "gaussian_mixture",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "from_npz",
    "balanced_subsample",
    "load",
    "DATA_SPECS",
]

DATA_SPECS = "digits, gaussian, mnist:ROOT, fashionmnist:ROOT, cifar10:ROOT or FILE.npz"


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple:
    """Stratified split: the same fraction of every class goes to the test set."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.nonzero(y == k)[0])
        n_test = int(round(test_fraction * idx.size))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr, te = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
    return x[tr], y[tr], x[te], y[te]


def digits(
    *, test_fraction: float = 0.25, seed: int = 0, n_per_class: int | None = None,
    dtype: torch.dtype = torch.float32, standardize: bool = True,
) -> ClassificationData:
    """scikit-learn's bundled digits (8x8 images as 64-vectors, K = 10), split and standardised.

    Parameters
    ----------
    test_fraction : float, default 0.25
        The fraction of every class that goes to the test set (stratified, seeded), in [0, 0.9].
    seed : int, default 0
        Seed of the split and of the subsample.
    n_per_class : int, optional
        Subsample the training set to this many samples per class.
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.
    standardize : bool, default True
        Standardise every pixel with the training mean and std (pixels constant on the training
        set are only centred); ``False`` gives the raw values 0..16.

    Returns
    -------
    ClassificationData
        Inputs (N, 64); 1,797 images in all, before subsampling.

    Raises
    ------
    ValueError
        If ``test_fraction`` is outside [0, 0.9], or scikit-learn is not installed.

    References
    ----------
    E. Alpaydin, C. Kaynak, "Optical recognition of handwritten digits", UCI Machine Learning
    Repository (1998), doi:10.24432/C50P49 (the data set scikit-learn bundles).

    Examples
    --------
    >>> data = digits(n_per_class=20)
    >>> tuple(data.x_train.shape), tuple(data.x_test.shape), data.num_classes
    ((200, 64), (450, 64), 10)
    """
    test_fraction = check_real("test_fraction", test_fraction, minimum=0.0, maximum=0.9)
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - sklearn is a declared extra
        raise ValueError("the digits data set needs scikit-learn: pip install 'nclab[nets]'") from exc
    bunch = load_digits()
    xtr, ytr, xte, yte = _split(bunch.data.astype(np.float64), bunch.target.astype(np.int64), test_fraction, seed)
    x_train, x_test = torch.from_numpy(xtr), torch.from_numpy(xte)
    if standardize:
        x_train, x_test = standardise(x_train, x_test)
    data = ClassificationData("digits", x_train.to(dtype), torch.from_numpy(ytr),
                              x_test.to(dtype), torch.from_numpy(yte), 10)
    return data.subsample(n_per_class, seed=seed)


def gaussian_mixture(
    K: int = 10,
    n: int = 100,
    shape: int | tuple[int, ...] = 32,
    *,
    separation: float = 3.0,
    noise: float = 1.0,
    n_test: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> ClassificationData:
    """K Gaussian classes, ``n`` training (and ``n_test``) samples per class, class-ordered.

    Class means are a simplex ETF with pairwise distance ``separation`` (times ``noise``,
    so the separation is in units of the noise std), randomly rotated in R^D, D = prod(shape);
    samples are mean + ``noise`` * N(0, I).

    Parameters
    ----------
    K : int, default 10
        Number of classes, at least 2.
    n : int, default 100
        Training samples per class.
    shape : int or tuple of int, default 32
        Each sample's shape, e.g. ``(3, 32, 32)`` for image-like inputs; D = prod(shape) >= K - 1.
    separation : float, default 3.0
        Distance between any two class means, in units of ``noise``.
    noise : float, default 1.0
        Standard deviation of the isotropic noise, > 0.
    n_test : int, optional
        Test samples per class (default ``n``).
    seed : int, default 0
        Seed of the rotation and the noise.
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.

    Returns
    -------
    ClassificationData

    Raises
    ------
    ValueError
        If a count is not a positive integer, D < K - 1, ``separation`` < 0 or ``noise`` <= 0.

    Examples
    --------
    >>> data = gaussian_mixture(3, 200, 5, separation=4.0, seed=1)
    >>> m = [data.x_train[data.y_train == k].double().mean(0) for k in range(3)]
    >>> tuple(data.x_train.shape), round(float((m[0] - m[1]).norm()), 0)
    ((600, 5), 4.0)
    """
    from nclab.geometry import simplex_etf

    K, n = check_int("K", K, minimum=2), check_int("n", n, minimum=1)
    n_test = n if n_test is None else check_int("n_test", n_test, minimum=1)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    for s in shape:
        check_int("shape", s, minimum=1)
    D = int(np.prod(shape))
    if D < K - 1:
        fail("shape", shape, f"a sample size of at least K - 1 = {K - 1} values")
    separation = check_real("separation", separation, minimum=0.0)
    noise = check_real("noise", noise, minimum=0.0, strict=True)
    gen = torch.Generator().manual_seed(int(seed))
    # ETF rows of norm r have pairwise distance r * sqrt(2K/(K-1)).
    radius = separation * noise / (2 * K / (K - 1)) ** 0.5
    if D >= K:  # the K-dim ETF carried into R^D by a random orthonormal K-frame
        frame = torch.linalg.qr(torch.randn(D, K, generator=gen, dtype=torch.float64))[0]
        means = simplex_etf(K, K, scale=radius) @ frame.T
    else:  # D = K - 1: the ETF fills R^D
        means = simplex_etf(K, D, scale=radius, rotate=True, generator=gen)
    y_train = torch.arange(K).repeat_interleave(n)
    y_test = torch.arange(K).repeat_interleave(n_test)
    x_train = means[y_train] + noise * torch.randn(K * n, D, generator=gen, dtype=torch.float64)
    x_test = means[y_test] + noise * torch.randn(K * n_test, D, generator=gen, dtype=torch.float64)
    return ClassificationData(
        "gaussian", x_train.reshape(K * n, *shape).to(dtype), y_train,
        x_test.reshape(K * n_test, *shape).to(dtype), y_test, K,
    )


def load(spec: str, *, n_per_class: int | None = None, seed: int = 0,
         standardize: bool | None = None) -> ClassificationData:
    """A data set from a spec string, as the CLI's ``--data`` takes it.

    This is the one loader of data files: a missing file raises ``FileNotFoundError``; an
    unreadable, corrupt, truncated or wrong-format one raises ``ValueError`` naming the spec and
    the reason (the CLI's exit 2), never the reader's own exception.

    Parameters
    ----------
    spec : str
        ``digits``, ``gaussian``, ``mnist:ROOT``, ``fashionmnist:ROOT``, ``cifar10:ROOT`` or a
        path ``FILE.npz`` (:func:`digits`, :func:`gaussian_mixture`, :func:`mnist`,
        :func:`fashion_mnist`, :func:`cifar10`, :func:`from_npz`).
    n_per_class : int, optional
        Subsample the training set to this many samples per class.
    seed : int, default 0
        Seed of the split (digits), the draw (gaussian) and the subsample.
    standardize : bool, optional
        ``None`` (default) keeps each reader's own default (digits, MNIST, CIFAR-10
        standardised; gaussian and .npz as given); ``False`` gives the inputs as stored (digits
        0..16, images in [0, 1]); ``True`` standardises (an .npz or gaussian per coordinate with
        its own statistics).

    Returns
    -------
    ClassificationData

    Raises
    ------
    FileNotFoundError
        If a named file or folder does not exist.
    ValueError
        If the spec is none of the above, or a file cannot be read.

    Examples
    --------
    >>> load("digits", n_per_class=3).y_train.tolist()[:4]
    [0, 0, 0, 1]
    >>> try:
    ...     load("imagenet")
    ... except ValueError as exc:
    ...     print("digits, gaussian" in str(exc))
    True
    """
    try:
        return _load(spec, n_per_class=n_per_class, seed=seed, standardize=standardize)
    except (FileNotFoundError, ValueError):
        raise
    except UNREADABLE + (OSError,) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"data {spec!r} cannot be read: {type(exc).__name__}: {reason[:200]} (a corrupt, "
                         "truncated or wrong-format file?)") from None


def _standardised(data: ClassificationData) -> ClassificationData:
    """``data`` standardised per coordinate with its training statistics (one split stays one)."""
    flat_tr, flat_te = data.x_train.flatten(1), data.x_test.flatten(1)
    tr, te = standardise(flat_tr, flat_te)
    x_train = tr.reshape(data.x_train.shape)
    x_test = x_train if data.x_test is data.x_train else te.reshape(data.x_test.shape)
    return ClassificationData(data.name, x_train, data.y_train, x_test, data.y_test, data.num_classes)


def _load(spec: str, *, n_per_class: int | None, seed: int, standardize: bool | None = None) -> ClassificationData:
    if not isinstance(spec, str) or not spec:
        fail("data", spec, DATA_SPECS)
    kind, sep, root = spec.partition(":")
    kind_l = kind.lower()
    readers = {"mnist": mnist, "fashionmnist": fashion_mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10}
    if kind_l == "digits" and not sep:
        return digits(seed=seed, n_per_class=n_per_class, standardize=True if standardize is None else standardize)
    if kind_l == "gaussian" and not sep:
        data = gaussian_mixture(seed=seed)
        return (_standardised(data) if standardize else data).subsample(n_per_class, seed=seed)
    if kind_l in readers:
        if not root:
            fail("data", spec, f"{kind_l}:ROOT with the folder holding the files")
        normalise = True if standardize is None else bool(standardize)
        return readers[kind_l](root, n_per_class=n_per_class, seed=seed, normalise=normalise)
    if spec.endswith(".npz"):
        data = from_npz(spec)
        return (_standardised(data) if standardize else data).subsample(n_per_class, seed=seed)
    fail("data", spec, DATA_SPECS)
    raise AssertionError  # pragma: no cover
