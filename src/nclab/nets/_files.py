"""Data sets read from a local disk, in the layouts torchvision and numpy write; nothing is downloaded.

- :func:`mnist`, :func:`fashion_mnist`: the IDX files under ``root/MNIST/raw`` or
  ``root/FashionMNIST/raw`` (``*-ubyte`` or ``*-ubyte.gz``), parsed directly (no torchvision).
- :func:`cifar10`: the python-pickle batches of ``root/cifar-10-batches-py``.
- :func:`from_npz`: the arrays ``features`` and ``labels`` of an .npz file.

A missing root or file raises ``FileNotFoundError`` naming the path and how to obtain the files;
``UNREADABLE`` lists what a corrupt or wrong-format file raises, which
:func:`nclab.nets.data.load` turns into a ``ValueError``.
"""
from __future__ import annotations

import gzip
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from nclab._npz import CONVENTION, pick
from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import fail
from nclab.nets._dataset import ClassificationData

__all__ = ["mnist", "fashion_mnist", "cifar10", "from_npz", "UNREADABLE"]

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


#: What reading a corrupt, truncated or wrong-format file raises (turned into ``ValueError`` by
#: :func:`nclab.nets.data.load`).
UNREADABLE = (EOFError, zipfile.BadZipFile, pickle.UnpicklingError, gzip.BadGzipFile, zlib.error, KeyError,
              IndexError, TypeError, UnicodeDecodeError, AttributeError)
