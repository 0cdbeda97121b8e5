"""Shared helpers of the real-network experiments: config entries, data, backbone, training, figures.

Quick profiles use scikit-learn's bundled digits; MNIST/FashionMNIST/CIFAR-10 are used only
when ``data`` names them and ``data_root`` points at local files (nothing is downloaded).

:func:`network_params` gives an experiment the config-table entries of the keys it uses
(data, model and training keys), each with its rule declared once here and the default the
experiment passes. Keys an experiment's table leaves out take the defaults of
:func:`nclab.nets.train_classifier` (``loss`` ``ce``, ``momentum`` 0.9) and of the models
(``activation`` relu, ``batchnorm`` off, ResNet-20's widths and blocks).
"""
from __future__ import annotations

import math

from typing import Any

import numpy as np
import torch

from nclab.config import Bool, Choice, Int, ListOf, Optional, Param, Real, Rule, Text
from nclab.seeds import Seeds

DATA = ("digits", "gaussian", "mnist", "fashionmnist", "cifar10")
NC_KEYS = ("nc1", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch")
NC_LABELS = {"nc1": r"NC1: tr$(\Sigma_W\Sigma_B^+)/K$", "nc1_trace_ratio": r"tr$\Sigma_W$/tr$\Sigma_B$",
             "nc2_etf_features": r"NC2 ($\bar H$ ETF error)", "nc2_etf_weight": "NC2 (W ETF error)",
             "nc3_duality": "NC3 (W vs $\\bar H$)", "nc4_ncc_mismatch": "NC4 (NCC mismatch)"}

#: The rule and help of every data, model and training key of the real-network experiments.
_RULES: dict[str, tuple[Rule, str]] = {
    "data": (Choice(*DATA), "data set: bundled digits, a Gaussian mixture, or files under data_root"),
    "data_root": (Optional(Text()), "folder holding the MNIST/FashionMNIST/CIFAR-10 files (never downloaded)"),
    "n_per_class": (Optional(Int(minimum=1)), "training samples per class (None: all)"),
    "model": (Choice("mlp", "cnn", "resnet", "resnet18"), "backbone: an MLP, a small CNN (square images or "
              "square-length vectors), a CIFAR-style ResNet or ResNet18 (image data)"),
    "head_bias": (Bool(), "a bias in the classifier W (the last linear map)"),
    "step_every": (Optional(Int(minimum=1)), "with schedule='step': divide the lr by 10 every this many epochs "
                   "(None: at 1/3 and 2/3 of the epochs)"),
    "width": (Int(minimum=1), "width of the MLP's hidden layers"),
    "depth": (Int(minimum=1), "number of the MLP's hidden layers"),
    "activation": (Choice("relu", "tanh", "gelu", "identity"), "activation of the MLP"),
    "batchnorm": (Bool(), "batch norm after every hidden layer of the MLP"),
    "resnet_widths": (ListOf(Int(minimum=1)), "channels of the ResNet's stages"),
    "resnet_blocks": (Int(minimum=1), "basic blocks per ResNet stage"),
    "loss": (Choice("ce", "mse"), "training loss"),
    "optimizer": (Choice("sgd", "adam"), "optimiser"),
    "lr": (Real(minimum=0.0, strict=True), "learning rate"),
    "momentum": (Real(minimum=0.0, maximum=1.0), "SGD momentum"),
    "batch_size": (Optional(Int(minimum=1)), "mini-batch size (None: full batch)"),
    "weight_decay": (Real(minimum=0.0), "weight decay"),
    "schedule": (Choice("constant", "step", "cosine"), "learning-rate schedule"),
    "epochs": (Int(minimum=1), "training epochs"),
    "track_every": (Int(minimum=1), "epochs between two rows of the training history"),
    "dtype": (Choice("float32", "float64"), "floating dtype of the model and the data"),
    "seed": (Int(minimum=0), "seed of the data split, the initialisation and the batches"),
}


def network_params(**defaults: Any) -> dict[str, Param]:
    """Config-table entries ``{key: Param(default, rule, help)}`` of the given keys and defaults."""
    unknown = sorted(set(defaults) - set(_RULES))
    if unknown:
        raise ValueError(f"network keys must be among {', '.join(_RULES)}, got {unknown}")
    return {k: Param(v, *_RULES[k]) for k, v in defaults.items()}


def seeds_param(count: int) -> Param:
    """The ``seeds`` entry of a multi-seed real-network experiment (default: seeds ``0..count-1``).

    Each seed sets the data split, the initialisation and the batches of one run (the ``seed``
    of :func:`load_data`, :func:`backbone` and :func:`train`).
    """
    return Param(count, Seeds(), "seeds of the runs (data split, initialisation, batches): a count S means 0..S-1")


def dtype_of(cfg: dict) -> torch.dtype:
    """The torch dtype of the config's ``dtype`` key."""
    return torch.float64 if cfg["dtype"] == "float64" else torch.float32


def load_data(cfg: dict):
    """The data set of a config: ``data`` (+ ``data_root`` for files on disk), ``n_per_class``."""
    from nclab.nets import data as nd

    kind, n, seed = cfg["data"], cfg["n_per_class"], cfg["seed"]
    if kind == "digits":
        return nd.digits(seed=seed, n_per_class=n)
    if kind == "gaussian":
        return nd.gaussian_mixture(10, 150, 64, separation=3.0, seed=seed).subsample(n, seed=seed)
    if cfg["data_root"] is None:
        raise ValueError(f"setting 'data_root' must be the folder holding the {kind} files when data={kind!r} "
                         "(nclab never downloads; use data='digits' otherwise), got None")
    reader = {"mnist": nd.mnist, "fashionmnist": nd.fashion_mnist, "cifar10": nd.cifar10}[kind]
    return reader(cfg["data_root"], n_per_class=n, seed=seed)


def image_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of a data set's input shape: images as they are, square-length vectors as 1 x s x s."""
    if len(shape) == 3:
        return tuple(shape)
    side = int(round(math.sqrt(int(np.prod(shape)))))
    if len(shape) == 1 and side * side == shape[0]:
        return (1, side, side)
    raise ValueError(f"setting 'model' must be 'mlp' for data of shape {tuple(shape)} (a CNN needs C x H x W "
                     "images or square-length vectors), got a convolutional model")


def backbone(cfg: dict, data, *, head_layers: int = 1):
    """An MLP, a small CNN, a CIFAR-style ResNet or ResNet18, seeded with ``seed``.

    ``head_bias`` (optional key, default True) gives the classifier a bias or none.
    """
    from nclab.nets import MLP, ResNet, SmallCNN, resnet18

    model, bias = cfg.get("model", "mlp"), bool(cfg.get("head_bias", True))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        if model == "cnn":
            return SmallCNN(image_shape(tuple(data.input_shape)), data.num_classes, head_layers=head_layers, bias=bias)
        if model in ("resnet", "resnet18"):
            shape = data.input_shape
            if len(shape) != 3:
                raise ValueError(f"setting 'model' must be 'mlp' for data of shape {tuple(shape)} "
                                 f"(a ResNet needs C x H x W images), got {model!r}")
            if model == "resnet18":
                return resnet18(shape[0], data.num_classes, head_layers=head_layers, bias=bias)
            return ResNet(shape[0], data.num_classes, widths=tuple(cfg.get("resnet_widths", (16, 32, 64))),
                          blocks_per_stage=cfg.get("resnet_blocks", 3), head_layers=head_layers, bias=bias)
        return MLP(int(np.prod(data.input_shape)), data.num_classes, width=cfg["width"], depth=cfg["depth"],
                   activation=cfg.get("activation", "relu"), batchnorm=cfg.get("batchnorm", False),
                   head_layers=head_layers, head_bias=bias)


def train(model, data, cfg: dict, **overrides: Any):
    """:func:`nclab.nets.train_classifier` with the config's training keys (``overrides`` win).

    ``loss``, ``momentum`` and ``weight_decay`` are optional keys: an experiment without them
    gets train_classifier's defaults (``ce``, 0.9, 5e-4) or passes them in ``overrides``.
    """
    from nclab.nets import train_classifier

    kw = dict(epochs=cfg["epochs"], optimizer=cfg["optimizer"], lr=cfg["lr"], batch_size=cfg["batch_size"],
              schedule=cfg["schedule"], track_every=cfg["track_every"], device=cfg["device"],
              dtype=dtype_of(cfg), seed=cfg["seed"], progress=False)
    kw.update({k: cfg[k] for k in ("loss", "momentum", "weight_decay", "step_every") if k in cfg})
    kw.update(overrides)
    return train_classifier(model, data, **kw)


def penultimate_metrics(model, data):
    """The collapse metrics of the penultimate features on the training set (one-row frame)."""
    from nclab.nets import measure

    return measure(model, data.loaders(512, shuffle=False)[0], layers=[])


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2):
    """A ``Figure`` of ``nrows x ncols`` panels and the flat array of its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def source_note(data) -> str:
    """The note naming the data set, its training size and its number of classes."""
    return f"data: {data.name}, {data.x_train.shape[0]} training samples, K = {data.num_classes}"
