"""The container of a classification data set: :class:`ClassificationData` and balanced subsamples.

Every data set of :mod:`nclab.nets.data` is a :class:`ClassificationData` (train and test
tensors, labels 0..K-1); :func:`balanced_subsample` draws the same number of samples from
every class; :func:`standardise` is the one home of the per-coordinate standardisation with the
training statistics that the readers apply.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

from nclab._tensor import as_labels
from nclab._validation import check_int, fail

__all__ = ["ClassificationData", "balanced_subsample"]


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
        >>> from nclab.nets import digits
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
        >>> from nclab.nets import gaussian_mixture
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


def standardise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero mean, unit variance per input coordinate, with the training statistics.

    Coordinates constant on the training set (std 0) are centred and left unscaled.
    """
    mean = x_train.mean(dim=0, keepdim=True)
    std = x_train.std(dim=0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (x_train - mean) / std, (x_test - mean) / std
