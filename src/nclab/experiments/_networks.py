"""Shared helpers of the real-network experiments: data, backbone, training and figures.

Quick profiles use scikit-learn's bundled digits; MNIST/FashionMNIST/CIFAR-10 are used only
when ``data`` names them and ``data_root`` points at local files (nothing is downloaded).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nclab._validation import check_choice, fail

_DATA = ("digits", "gaussian", "mnist", "fashionmnist", "cifar10")
_NC_KEYS = ("nc1", "nc2_etf_features", "nc2_etf_weight", "nc3_duality", "nc4_ncc_mismatch")
_NC_LABELS = {"nc1": r"NC1: tr$(\Sigma_W\Sigma_B^+)/K$", "nc1_trace_ratio": r"tr$\Sigma_W$/tr$\Sigma_B$",
              "nc2_etf_features": r"NC2 ($\bar H$ ETF error)", "nc2_etf_weight": "NC2 (W ETF error)",
              "nc3_duality": "NC3 (W vs $\\bar H$)", "nc4_ncc_mismatch": "NC4 (NCC mismatch)"}




def _dtype(name: str) -> torch.dtype:
    check_choice("dtype", name, ("float32", "float64"))
    return torch.float64 if name == "float64" else torch.float32


def _load(cfg: dict):
    """The data set of a config: ``data`` (+ ``data_root`` for files on disk), ``n_per_class``."""
    from nclab.nets import data as nd

    kind = check_choice("data", cfg["data"], _DATA)
    n = cfg.get("n_per_class")
    seed = int(cfg.get("seed", 0))
    if kind == "digits":
        return nd.digits(seed=seed, n_per_class=n)
    if kind == "gaussian":
        return nd.gaussian_mixture(10, 150, 64, separation=3.0, seed=seed).subsample(n, seed=seed)
    if cfg.get("data_root") is None:
        fail("data_root", None, f"the folder holding the {kind} files when data={kind!r} "
             "(nclab never downloads; use data='digits' otherwise)")
    reader = {"mnist": nd.mnist, "fashionmnist": nd.fashion_mnist, "cifar10": nd.cifar10}[kind]
    return reader(cfg["data_root"], n_per_class=n, seed=seed)


def _backbone(cfg: dict, data, *, head_layers: int = 1, width: int | None = None):
    """An MLP (flat or image inputs) or a CIFAR-style ResNet (image inputs), seeded locally."""
    from nclab.nets import MLP, ResNet

    arch = check_choice("model", cfg.get("model", "mlp"), ("mlp", "resnet"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.get("seed", 0)))
        if arch == "resnet":
            shape = data.input_shape
            if len(shape) != 3:
                fail("model", "resnet", f"'mlp' for data of shape {shape} (a ResNet needs C x H x W images)")
            w = tuple(cfg.get("resnet_widths", (16, 32, 64)))
            return ResNet(shape[0], data.num_classes, widths=w, blocks_per_stage=int(cfg.get("resnet_blocks", 3)),
                          head_layers=head_layers)
        return MLP(int(np.prod(data.input_shape)), data.num_classes, width=int(width or cfg["width"]),
                   depth=int(cfg["depth"]), activation=cfg.get("activation", "relu"),
                   batchnorm=bool(cfg.get("batchnorm", False)), head_layers=head_layers)


def _train(model, data, cfg: dict, **overrides: Any):
    from nclab.nets import train_classifier

    kw = dict(epochs=int(cfg["epochs"]), loss=cfg.get("loss", "ce"), optimizer=cfg.get("optimizer", "sgd"),
              lr=float(cfg["lr"]), momentum=float(cfg.get("momentum", 0.9)), batch_size=cfg.get("batch_size"),
              weight_decay=float(cfg.get("weight_decay", 0.0)),
              schedule=cfg.get("schedule", "constant"), track_every=int(cfg.get("track_every", 10)),
              device=cfg["device"], dtype=_dtype(cfg.get("dtype", "float32")), seed=int(cfg.get("seed", 0)),
              progress=False)
    kw.update(overrides)
    return train_classifier(model, data, **kw)


def _figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


def _source_note(data) -> str:
    return f"data: {data.name}, {data.x_train.shape[0]} training samples, K = {data.num_classes}"


# ------------------------------------------------------------------ Papyan et al.: terminal phase
