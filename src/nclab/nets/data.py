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
"""
from __future__ import annotations

import gzip
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from nclab._npz import CONVENTION, pick
from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import check_int, check_real, fail

__all__ = [
    "ClassificationData",
    "digits",
    "gaussian_mixture",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "balanced_subsample",
    "load",
    "DATA_SPECS",
]

DATA_SPECS = "digits, gaussian, mnist:ROOT, fashionmnist:ROOT, cifar10:ROOT or FILE.npz"


@dataclass
class ClassificationData:
    """Train and test tensors of one classification data set (inputs float, labels int64).

    Parameters
    ----------
    name : str
        The data set's name (``"digits"``, ``"mnist"``, the stem of an .npz file, ...).
    x_train, x_test : torch.Tensor of shape (N, ...) and (N_test, ...)
        Inputs, one sample per row (flat vectors or images C x H x W).
    y_train, y_test : torch.Tensor of shape (N,) and (N_test,)
        Integer labels in 0..K-1.
    num_classes : int
        K.

    Examples
    --------
    >>> import torch
    >>> data = ClassificationData("toy", torch.randn(6, 2), torch.arange(6) % 3,
    ...                           torch.randn(3, 2), torch.arange(3), 3)
    >>> data.input_shape, data.subsample(1).x_train.shape[0]
    ((2,), 3)
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample, ``x_train.shape[1:]``."""
        return tuple(self.x_train.shape[1:])

    def loaders(
        self, batch_size: int = 128, *, shuffle: bool = True, seed: int = 0
    ) -> tuple[DataLoader, DataLoader]:
        """(train, test) DataLoaders of the two splits.

        Parameters
        ----------
        batch_size : int, default 128
            Samples per batch (the last batch may be smaller).
        shuffle : bool, default True
            Shuffle the training set every epoch, with a generator seeded by ``seed``.
        seed : int, default 0
            Seed of the shuffling generator (the same seed gives the same batches).

        Returns
        -------
        (torch.utils.data.DataLoader, torch.utils.data.DataLoader)
            The train loader and the test loader (never shuffled).

        Raises
        ------
        ValueError
            If ``batch_size`` is not a positive integer.

        Examples
        --------
        >>> train, test = digits(n_per_class=5).loaders(batch_size=16)
        >>> [len(x) for x, _ in train]
        [16, 16, 16, 2]
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        gen = torch.Generator().manual_seed(int(seed))
        train = DataLoader(TensorDataset(self.x_train, self.y_train), batch_size=batch_size,
                           shuffle=shuffle, generator=gen)
        test = DataLoader(TensorDataset(self.x_test, self.y_test), batch_size=batch_size, shuffle=False)
        return train, test

    def subsample(self, n_per_class: int | None, *, seed: int = 0) -> "ClassificationData":
        """The same data with the training set cut to ``n_per_class`` samples per class.

        Parameters
        ----------
        n_per_class : int or None
            Samples per class kept in the training set (:func:`balanced_subsample`); ``None``
            returns ``self`` unchanged. The test set is kept whole.
        seed : int, default 0
            Seed of the draw.

        Returns
        -------
        ClassificationData

        Raises
        ------
        ValueError
            If a class has fewer than ``n_per_class`` training samples.

        Examples
        --------
        >>> data = gaussian_mixture(3, 10, 4)
        >>> data.subsample(2).y_train.tolist()
        [0, 0, 1, 1, 2, 2]
        """
        if n_per_class is None:
            return self
        x, y = balanced_subsample(self.x_train, self.y_train, n_per_class, seed=seed)
        return ClassificationData(self.name, x, y, self.x_test, self.y_test, self.num_classes)


def balanced_subsample(
    x: torch.Tensor, y: torch.Tensor, n_per_class: int, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exactly ``n_per_class`` samples of every class, drawn without replacement, class-ordered.

    Parameters
    ----------
    x : torch.Tensor of shape (N, ...)
        Inputs.
    y : array_like of shape (N,)
        Integer labels in 0..K-1.
    n_per_class : int
        Samples kept per class.
    seed : int, default 0
        Seed of the draw (within each class, the kept samples stay in their original order).

    Returns
    -------
    x_sub : torch.Tensor of shape (K * n_per_class, ...)
    y_sub : torch.Tensor of shape (K * n_per_class,)
        Class 0's samples first, then class 1's, ...

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` samples, or the labels are not 0..K-1.

    Examples
    --------
    >>> import torch
    >>> x, y = torch.arange(8.0), torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    >>> xs, ys = balanced_subsample(x, y, 2)
    >>> ys.tolist(), len(set(xs.tolist()))
    ([0, 0, 1, 1], 4)
    """
    n_per_class = check_int("n_per_class", n_per_class, minimum=1)
    y, K = as_labels(y, "labels", num_samples=x.shape[0])
    gen = torch.Generator().manual_seed(int(seed))
    picks = []
    for k in range(K):
        idx = torch.nonzero(y == k).flatten()
        if idx.numel() < n_per_class:
            fail("n_per_class", n_per_class, f"at most {idx.numel()} (the size of class {k})")
        perm = torch.randperm(idx.numel(), generator=gen)[:n_per_class]
        picks.append(idx[perm.to(idx.device)].sort().values)
    index = torch.cat(picks)
    return x[index], y[index]


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


def _standardise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero mean, unit variance per input coordinate, with the training statistics.

    Coordinates constant on the training set (std 0) are centred and left unscaled.
    """
    mean = x_train.mean(dim=0, keepdim=True)
    std = x_train.std(dim=0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (x_train - mean) / std, (x_test - mean) / std


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
        x_train, x_test = _standardise(x_train, x_test)
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


# ---- local torchvision-layout readers (no torchvision needed) -------------------------------

_IDX_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_HOW_TO = (
    "nclab never downloads data: obtain the files once, e.g. with torchvision "
    "(torchvision.datasets.{cls}(root, download=True)) or from the data set's site, then pass that root"
)


def _find_raw(root: Path, folder: str, stem: str, cls: str) -> Path:
    base = root / folder / "raw"
    for candidate in (base / stem, base / (stem + ".gz"), root / stem, root / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{cls} file {stem} not found under {root} (looked in {base} and {root}); "
        + _HOW_TO.format(cls=cls)
    )


def _read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST format): magic, dims, then big-endian uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        fail(f"IDX file {path}", "a file without the uint8 IDX header", "an MNIST-format IDX file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        fail(f"IDX file {path}", f"a truncated file of {len(raw)} bytes", "an MNIST-format IDX file")
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        fail(f"IDX file {path}", f"{data.size} values", f"{int(np.prod(dims))} values (dims {tuple(dims)})")
    return data.reshape(tuple(int(d) for d in dims))


def _check_root(root, cls: str) -> Path:
    if root is None:
        fail("root", None, f"the folder holding the {cls} files ({_HOW_TO.format(cls=cls)})")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{cls} root {path} does not exist; " + _HOW_TO.format(cls=cls))
    return path


def _mnist_like(root, folder: str, cls: str, train: bool, test: bool, normalise: bool,
                dtype: torch.dtype) -> tuple:
    path = _check_root(root, cls)
    out = []
    for split in (True, False):
        if (split and not train) or (not split and not test):
            out += [None, None]
            continue
        img_name, lab_name = _IDX_FILES[split]
        images = _read_idx(_find_raw(path, folder, img_name, cls))
        labels = _read_idx(_find_raw(path, folder, lab_name, cls)).astype(np.int64)
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N x 1 x 28 x 28
        out += [x, torch.from_numpy(labels)]
    x_train, y_train, x_test, y_test = out
    if normalise:
        ref = x_train if x_train is not None else x_test
        mean, std = float(ref.mean()), float(ref.std())
        x_train = None if x_train is None else (x_train - mean) / std
        x_test = None if x_test is None else (x_test - mean) / std
    cast = (lambda t: None if t is None else t.to(dtype))
    return cast(x_train), y_train, cast(x_test), y_test


def mnist(root: str | os.PathLike | None, *, n_per_class: int | None = None, seed: int = 0, normalise: bool = True,
          dtype: torch.dtype = torch.float32) -> ClassificationData:
    """MNIST from the files under ``root`` (torchvision's layout); nothing is downloaded.

    Parameters
    ----------
    root : str or path
        The folder holding ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (or
        the four files directly).
    n_per_class : int, optional
        Subsample the training set to this many samples per class.
    seed : int, default 0
        Seed of the subsample.
    normalise : bool, default True
        Standardise with the global mean and std of the training pixels; ``False``: values in [0, 1].
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.

    Returns
    -------
    ClassificationData
        Inputs (N, 1, 28, 28), 60,000 training and 10,000 test images.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a file is missing (the message says how to obtain the files).
    ValueError
        If ``root`` is None or a file is not an IDX file of the right size.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86 (1998), doi:10.1109/5.726791.

    Examples
    --------
    Four tiny files in the IDX format stand in for the real ones:

    >>> import pathlib, tempfile, numpy as np
    >>> raw = pathlib.Path(tempfile.mkdtemp()) / "MNIST" / "raw"
    >>> raw.mkdir(parents=True)
    >>> def idx(name, a):
    ...     head = bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">i4").tobytes()
    ...     _ = (raw / name).write_bytes(head + a.astype(np.uint8).tobytes())
    >>> for split, n in (("train", 20), ("t10k", 10)):
    ...     idx(f"{split}-images-idx3-ubyte", np.random.default_rng(0).integers(0, 256, (n, 28, 28)))
    ...     idx(f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    >>> data = mnist(raw.parent.parent)
    >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
    ((20, 1, 28, 28), (10, 1, 28, 28))
    """
    x_tr, y_tr, x_te, y_te = _mnist_like(root, "MNIST", "MNIST", True, True, normalise, dtype)
    return ClassificationData("mnist", x_tr, y_tr, x_te, y_te, 10).subsample(n_per_class, seed=seed)


def fashion_mnist(root: str | os.PathLike | None, *, n_per_class: int | None = None, seed: int = 0, normalise: bool = True,
                  dtype: torch.dtype = torch.float32) -> ClassificationData:
    """FashionMNIST from ``root/FashionMNIST/raw`` (the IDX format of :func:`mnist`); nothing is downloaded.

    Parameters
    ----------
    root : str or path
        The folder holding ``FashionMNIST/raw/*-ubyte[.gz]`` (or the four files directly).
    n_per_class : int, optional
        Subsample the training set to this many samples per class.
    seed : int, default 0
        Seed of the subsample.
    normalise : bool, default True
        Standardise with the global mean and std of the training pixels; ``False``: values in [0, 1].
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.

    Returns
    -------
    ClassificationData
        Inputs (N, 1, 28, 28), 60,000 training and 10,000 test images.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a file is missing (the message says how to obtain the files).
    ValueError
        If ``root`` is None or a file is not an IDX file of the right size.

    References
    ----------
    H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a novel image dataset for benchmarking
    machine learning algorithms" (2017), arXiv:1708.07747.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     fashion_mnist(tempfile.mkdtemp())
    ... except FileNotFoundError as exc:
    ...     print("nclab never downloads data" in str(exc))
    True
    """
    x_tr, y_tr, x_te, y_te = _mnist_like(root, "FashionMNIST", "FashionMNIST", True, True, normalise, dtype)
    return ClassificationData("fashionmnist", x_tr, y_tr, x_te, y_te, 10).subsample(n_per_class, seed=seed)


def cifar10(root: str | os.PathLike | None, *, n_per_class: int | None = None, seed: int = 0, normalise: bool = True,
            dtype: torch.dtype = torch.float32) -> ClassificationData:
    """CIFAR-10 from the python-pickle batches under ``root``; nothing is downloaded.

    Parameters
    ----------
    root : str or path
        The folder holding ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5`` and
        ``test_batch``), or that folder itself.
    n_per_class : int, optional
        Subsample the training set to this many samples per class.
    seed : int, default 0
        Seed of the subsample.
    normalise : bool, default True
        Standardise every channel with the training mean and std; ``False``: values in [0, 1].
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.

    Returns
    -------
    ClassificationData
        Inputs (N, 3, 32, 32), 50,000 training and 10,000 test images.

    Raises
    ------
    FileNotFoundError
        If ``root`` or a batch file is missing (the message says how to obtain the files).
    ValueError
        If ``root`` is None.

    References
    ----------
    A. Krizhevsky, "Learning multiple layers of features from tiny images", technical report,
    University of Toronto (2009).

    Examples
    --------
    Six tiny batch files in the official format stand in for the real ones:

    >>> import pathlib, pickle, tempfile, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "cifar-10-batches-py"
    >>> folder.mkdir()
    >>> rng = np.random.default_rng(0)
    >>> for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    ...     batch = {"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), "labels": list(range(10))}
    ...     _ = (folder / name).write_bytes(pickle.dumps(batch))
    >>> data = cifar10(folder.parent)
    >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
    ((50, 3, 32, 32), (10, 3, 32, 32))
    """
    path = _check_root(root, "CIFAR10")
    folder = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(
                f"CIFAR10 file {file} not found; " + _HOW_TO.format(cls="CIFAR10")
            )
        with open(file, "rb") as f:
            batch = pickle.load(f, encoding="latin1")  # the official python-pickle format
        return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(batch["labels"])

    parts = [read(f"data_batch_{i}") for i in range(1, 6)]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = read("test_batch")
    x_train = torch.from_numpy(x_tr.astype(np.float32) / 255.0)
    x_test = torch.from_numpy(x_te.astype(np.float32) / 255.0)
    if normalise:
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    data = ClassificationData("cifar10", x_train.to(dtype), torch.from_numpy(y_tr.astype(np.int64)),
                              x_test.to(dtype), torch.from_numpy(y_te.astype(np.int64)), 10)
    return data.subsample(n_per_class, seed=seed)


def from_npz(path: str | os.PathLike, *, dtype: torch.dtype = torch.float32) -> ClassificationData:
    """Arrays ``features`` (the inputs) and ``labels`` of an .npz file.

    The same arrays serve as train and test set (measurement needs only one).

    Parameters
    ----------
    path : str or path
        An .npz archive; the inputs may also be named ``x``, ``X`` or ``inputs`` and the labels
        ``y``, ``Y`` or ``targets`` (the convention of :mod:`nclab._npz`).
    dtype : torch.dtype, default torch.float32
        Dtype of the inputs.

    Returns
    -------
    ClassificationData
        Named by the file's stem; K is the number of distinct labels.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an .npz of arrays, lacks the two arrays, or the labels are not integers.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.npz")
    >>> np.savez(path, features=np.ones((4, 3)), labels=np.array([0, 1, 0, 1]))
    >>> data = from_npz(path)
    >>> data.name, tuple(data.x_train.shape), data.num_classes
    ('toy', (4, 3), 2)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:  # not an .npz: numpy would need to unpickle it
        raise ValueError(f"data file {path} is not an .npz archive of arrays ({exc})") from None
    if not hasattr(archive, "files"):
        fail(f"data file {path}", "a single .npy array", "an .npz with arrays 'x' and 'labels'")
    with archive as f:
        keys = set(f.files)
        xk, _ = pick(f.files, "features")
        yk, _ = pick(f.files, "labels")
        if xk is None or yk is None:
            fail(f"data file {path}", f"arrays {sorted(keys)}", f"an .npz with {CONVENTION}")
        x = as_float_tensor(f[xk], xk, dtype=dtype)
        if x.ndim < 2:
            fail(xk, f"an array of shape {tuple(x.shape)}", "an array (N, ...) with one row per sample")
        y, K = as_labels(f[yk], yk, num_samples=x.shape[0])
    return ClassificationData(path.stem, x, y, x, y, K)


#: What reading a corrupt, truncated or wrong-format file raises (turned into ``ValueError`` by :func:`load`).
_UNREADABLE = (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, gzip.BadGzipFile, zlib.error, KeyError,
               IndexError, TypeError, UnicodeDecodeError, AttributeError)


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
    except _UNREADABLE + (OSError,) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"data {spec!r} cannot be read: {type(exc).__name__}: {reason[:200]} (a corrupt, "
                         "truncated or wrong-format file?)") from None


def _standardised(data: ClassificationData) -> ClassificationData:
    """``data`` standardised per coordinate with its training statistics (one split stays one)."""
    flat_tr, flat_te = data.x_train.flatten(1), data.x_test.flatten(1)
    tr, te = _standardise(flat_tr, flat_te)
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
