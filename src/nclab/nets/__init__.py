"""Neural collapse in real PyTorch networks.

- :func:`measure`: layer-wise collapse metrics of any model on a data loader (streaming).
- :class:`Tracker`: the same metrics from the forward passes of your own training loop (hooks);
  :func:`lightning_callback` and :meth:`Tracker.log_to` connect it to Lightning and TensorBoard
  (:mod:`nclab.nets.adapters`).
- :mod:`nclab.nets.data`: digits, Gaussian mixtures, MNIST/FashionMNIST/CIFAR-10 from disk.
- :mod:`nclab.nets.models`: :class:`MLP`, :class:`SmallCNN`, :class:`ResNet`, :func:`resnet18` (backbone + possibly deep
  linear head).
- :func:`train_classifier`: CE/MSE, SGD/Adam, separate weight decays and a UFM feature penalty,
  trained into the terminal phase with collapse metrics per epoch.
"""
from __future__ import annotations

from nclab.nets.data import (ClassificationData, balanced_subsample, cifar10, digits, fashion_mnist, from_npz,
                             gaussian_mixture, load, mnist)
from nclab.nets.features import available_layers, default_layers, find_classifier, measure
from nclab.nets.models import MLP, ResNet, SmallCNN, resnet18
from nclab.nets.adapters import lightning_callback
from nclab.nets.tracker import Tracker
from nclab.nets.train import ClassifierResult, evaluate, penalised_head_loss, train_classifier

__all__ = [
    "ClassificationData", "balanced_subsample", "cifar10", "digits", "fashion_mnist", "from_npz", "gaussian_mixture", "load",
    "mnist", "available_layers", "default_layers", "find_classifier", "measure", "Tracker", "lightning_callback", "MLP", "ResNet", "SmallCNN",
    "resnet18", "ClassifierResult", "evaluate", "penalised_head_loss", "train_classifier",
]
