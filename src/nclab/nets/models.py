"""Small classifiers for neural-collapse experiments: an MLP, a small CNN and a CIFAR-style ResNet.

Both are ``backbone -> head``: ``forward_features(x)`` returns the penultimate features H
(the head's input, d = ``feature_dim``) and ``head`` is a stack of ``head_layers`` Linear
maps without activation between them, the last one being the classifier W (K x d). One head
layer is the usual linear classifier (Papyan et al. 2020); ``head_layers = L > 1`` is the deep
linear head of Garrod & Keating (2025, Sec. 6: ResNet-20 + L = 3 linear layers, d = 64), and
``make_head(..., activation="relu")`` their deep ReLU head.

Modules carry readable names for :func:`nclab.nets.measure`: the MLP's hidden layers are
``features.layer{i}`` with children ``linear``, optional ``bn``, ``act``; the ResNet's blocks are
``stage{s}.block{b}`` with ``conv1, bn1, relu1, conv2, bn2, relu2``; the CNN's are
``features.conv{i}`` and ``features.fc`` (no module is reused, so each hook fires once per
forward pass). :func:`resnet18` is the CIFAR ResNet18 of Tirer et al.'s weight-decay study.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from nclab._validation import check_choice, check_int

__all__ = ["MLP", "SmallCNN", "ResNet", "resnet18", "ACTIVATIONS", "make_head"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "identity": nn.Identity}


def make_head(feature_dim: int, num_classes: int, head_layers: int = 1, *, bias: bool = True,
              activation: str = "identity") -> nn.Sequential:
    """``head_layers`` Linear maps d -> d -> ... -> K: a deep head, linear unless ``activation``.

    The intermediate maps ``linear{i}`` have no bias (the deep UFM of Garrod & Keating has none);
    the last one, the classifier ``fc``, has a bias when ``bias``. With ``activation`` other than
    ``"identity"`` an ``act{i}`` module follows each intermediate map, as in the deep ReLU UFM
    ``Z = W_L s(W_{L-1} ... s(W_1 H))`` (no activation on the head's input H, none after ``fc``).

    Initialisation: PyTorch's default for every map, except that with ``activation="relu"`` the
    intermediate maps (each followed by a ReLU) get He's normal init, fan_in, gain sqrt(2):
    entries N(0, 2 / d), which keeps the mean square of the signal through ReLU layers (He et
    al. 2015). PyTorch's default (entries U(-1/sqrt(d), 1/sqrt(d)), variance 1/(3 d)) shrinks it
    about six-fold per ReLU layer; with L = 4 and weight decay the head's logits start near zero
    (std ~5e-3 in garrod2025-real-head) and its training fell into the all-zero point.

    Parameters
    ----------
    feature_dim : int
        The width d of the head's input and of its intermediate layers.
    num_classes : int
        The number of outputs K.
    head_layers : int, default 1
        The number L of Linear maps (at least 1).
    bias : bool, default True
        Whether the classifier ``fc`` has a bias.
    activation : {"identity", "relu", "tanh", "gelu"}, default "identity"
        The activation between consecutive maps (``"identity"``: none, a deep linear head).

    Returns
    -------
    torch.nn.Sequential
        ``linear1, [act1,] ..., linear{L-1}, [act{L-1},] fc``.

    Raises
    ------
    ValueError
        If ``head_layers`` is not a positive integer or ``activation`` is not one of the above.

    References
    ----------
    Garrod & Keating (2025), arXiv:2410.23169, Sec. 6 (a deep head on a real backbone) and the
    deep ReLU UFM of their Theorem 7. He, Zhang, Ren & Sun (2015), "Delving deep into
    rectifiers", ICCV (the ReLU init).

    Examples
    --------
    >>> head = make_head(8, 3, 3, activation="relu")
    >>> list(dict(head.named_children()))
    ['linear1', 'act1', 'linear2', 'act2', 'fc']
    >>> tuple(head(torch.zeros(2, 8)).shape)
    (2, 3)
    """
    head_layers = check_int("head_layers", head_layers, minimum=1)
    check_choice("activation", activation, ACTIVATIONS)
    layers: list[tuple[str, nn.Module]] = []
    for i in range(1, head_layers):
        linear = nn.Linear(feature_dim, feature_dim, bias=False)
        if activation == "relu":
            nn.init.kaiming_normal_(linear.weight, mode="fan_in", nonlinearity="relu")
        layers.append((f"linear{i}", linear))
        if activation != "identity":
            layers.append((f"act{i}", ACTIVATIONS[activation]()))
    layers.append(("fc", nn.Linear(feature_dim, num_classes, bias=bias)))
    return nn.Sequential(OrderedDict(layers))


def _head_structure(head: nn.Module) -> tuple[int, str]:
    """The ``(head_layers, activation)`` that :func:`make_head` would rebuild ``head`` from.

    Examples
    --------
    >>> _head_structure(make_head(8, 3, 4, activation="relu"))
    (4, 'relu')
    >>> _head_structure(make_head(8, 3, 2))
    (2, 'identity')
    """
    layers = sum(isinstance(m, nn.Linear) for m in head.children())
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    acts = [names[type(m)] for m in head.children() if type(m) in names and type(m) is not nn.Identity]
    return layers, (acts[0] if acts else "identity")


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units (Linear [-> BatchNorm] -> activation), then a head.

    ``forward_features`` returns the last hidden layer's output (the penultimate features,
    dimension ``width``); ``forward`` adds the head. Inputs are flattened first. The hidden
    layers are ``features.layer{i}`` with children ``linear``, optional ``bn``, ``act``; the
    head is :func:`make_head`'s. :meth:`grow` appends a hidden layer (layer-wise training).

    Parameters
    ----------
    in_features : int
        Input size (after flattening), >= 1.
    num_classes : int
        Number of outputs K, >= 2.
    width : int, default 128
        Units of every hidden layer: the feature dimension d.
    depth : int, default 3
        Number of hidden layers, >= 1.
    activation : {"relu", "tanh", "gelu", "identity"}, default "relu"
        The hidden layers' activation.
    batchnorm : bool, default False
        A BatchNorm1d between each hidden Linear and its activation.
    head_layers : int, default 1
        Linear maps in the head (> 1: a deep linear head, :func:`make_head`).
    bias : bool, default True
        Biases of the hidden Linear maps, and of the classifier unless ``head_bias`` is given.
    head_bias : bool, optional
        The classifier's bias, when it should differ from ``bias``.

    Raises
    ------
    ValueError
        If ``in_features``, ``width``, ``depth`` or ``head_layers`` is not a positive integer,
        ``num_classes`` < 2, or ``activation`` is not one of the names above.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Sec. 5 / Fig. 2 (an MLP trained
    layer by layer, :meth:`grow`).

    Examples
    --------
    >>> net = MLP(64, 10, width=16, depth=2, batchnorm=True)
    >>> tuple(net.forward_features(torch.zeros(3, 8, 8)).shape), tuple(net(torch.zeros(3, 64)).shape)
    ((3, 16), (3, 10))
    >>> [name for name, _ in net.features.layer1.named_children()]
    ['linear', 'bn', 'act']
    >>> sum(p.numel() for p in net.parameters())  # (64*16 + 16 + 2*16) + (16*16 + 16 + 2*16) + (16*10 + 10)
    1546
    >>> net.grow().depth, sum(p.requires_grad for p in net.features.parameters())  # old layers frozen
    (3, 4)
    >>> MLP(64, 1)
    Traceback (most recent call last):
    ...
    ValueError: num_classes must be an integer >= 2, got 1
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        width: int = 128,
        depth: int = 3,
        activation: str = "relu",
        batchnorm: bool = False,
        head_layers: int = 1,
        bias: bool = True,
        head_bias: bool | None = None,
    ) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        width = check_int("width", width, minimum=1)
        depth = check_int("depth", depth, minimum=1)
        check_choice("activation", activation, ACTIVATIONS)
        self.in_features, self.num_classes, self.width, self.depth = in_features, num_classes, width, depth
        self.activation, self.batchnorm = activation, bool(batchnorm)
        self.flatten = nn.Flatten()
        blocks = []
        dim = in_features
        for i in range(1, depth + 1):
            blocks.append((f"layer{i}", self._block(dim, width, bias)))
            dim = width
        self.features = nn.Sequential(OrderedDict(blocks))
        self.head = make_head(width, num_classes, head_layers, bias=bias if head_bias is None else bool(head_bias))

    def _block(self, dim_in: int, dim_out: int, bias: bool) -> nn.Sequential:
        parts: list[tuple[str, nn.Module]] = [("linear", nn.Linear(dim_in, dim_out, bias=bias))]
        if self.batchnorm:
            parts.append(("bn", nn.BatchNorm1d(dim_out)))
        parts.append(("act", ACTIVATIONS[self.activation]()))
        return nn.Sequential(OrderedDict(parts))

    @property
    def feature_dim(self) -> int:
        """d, the dimension of the penultimate features (``width``)."""
        return self.width

    def grow(self, *, freeze: bool = True, bias: bool = True) -> "MLP":
        """Append one hidden layer and a fresh head (Tirer et al. 2023's layer-wise training).

        With ``freeze`` the existing hidden layers stop receiving gradients. Returns ``self``.
        """
        if freeze:
            for p in self.features.parameters():
                p.requires_grad_(False)
        self.depth += 1
        ref = next(self.features.parameters())
        block = self._block(self.width, self.width, bias).to(device=ref.device, dtype=ref.dtype)
        self.features.add_module(f"layer{self.depth}", block)
        head_layers, activation = _head_structure(self.head)
        self.head = make_head(self.width, self.num_classes, head_layers, bias=self.head.fc.bias is not None,
                              activation=activation)
        self.head.to(device=ref.device, dtype=ref.dtype)
        return self

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features (B, width) of a batch x (B, ...) (flattened first)."""
        return self.features(self.flatten(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (B, K): the head applied to :meth:`forward_features`."""
        return self.head(self.forward_features(x))


class SmallCNN(nn.Module):
    """A small CNN: ``len(channels)`` blocks conv3x3 -> ReLU -> 2x2 max-pool, then Linear -> ReLU to
    ``width`` features (the penultimate features), then a head.

    Flat inputs (e.g. scikit-learn's 8 x 8 digits as 64-vectors) are reshaped to ``image_shape``
    (C, H, W) first. Used by the bundled-data profiles of Tirer et al.'s weight-decay study.
    The blocks are ``features.conv{i}`` (children ``conv``, ``relu``, ``pool``; no pool once the
    map is smaller than 2 x 2), then ``features.flatten`` and ``features.fc``.

    Parameters
    ----------
    image_shape : sequence of 3 ints
        (C, H, W) of one input.
    num_classes : int
        Number of outputs K, >= 2.
    channels : sequence of int, default (16, 32)
        Output channels of each conv block.
    width : int, default 64
        The feature dimension d (units of ``features.fc``).
    head_layers : int, default 1
        Linear maps in the head (:func:`make_head`).
    bias : bool, default True
        Whether the classifier has a bias.

    Raises
    ------
    ValueError
        If ``image_shape`` is not three positive integers, ``num_classes`` < 2, or ``width``,
        a channel count or ``head_layers`` is not a positive integer.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Sec. 5 (the weight-decay study
    whose bundled-data profiles use this network).

    Examples
    --------
    >>> net = SmallCNN((1, 8, 8), 10)
    >>> tuple(net(torch.zeros(2, 64)).shape), net.feature_dim
    ((2, 10), 64)
    >>> small = SmallCNN((1, 8, 8), 10, channels=(4,), width=12, head_layers=2)
    >>> [name for name, _ in small.features.named_children()], tuple(small.forward_features(torch.zeros(2, 64)).shape)
    (['conv1', 'flatten', 'fc'], (2, 12))
    >>> SmallCNN((8, 8), 10)
    Traceback (most recent call last):
    ...
    ValueError: image_shape must be (channels, height, width), got (8, 8)
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        num_classes: int,
        *,
        channels: Sequence[int] = (16, 32),
        width: int = 64,
        head_layers: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        shape = tuple(check_int("image_shape", v, minimum=1) for v in image_shape)
        if len(shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), got {tuple(image_shape)}")
        num_classes = check_int("num_classes", num_classes, minimum=2)
        self.image_shape, self.num_classes, self.width = shape, num_classes, check_int("width", width, minimum=1)
        parts: list[tuple[str, nn.Module]] = []
        c, h, w = shape
        for i, out in enumerate(channels, start=1):
            out = check_int("channels", out, minimum=1)
            parts.append((f"conv{i}", nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(c, out, 3, padding=1)), ("relu", nn.ReLU()),
                ("pool", nn.MaxPool2d(2) if min(h, w) >= 2 else nn.Identity())]))))
            c, h, w = out, (h // 2 if min(h, w) >= 2 else h), (w // 2 if min(h, w) >= 2 else w)
        parts.append(("flatten", nn.Flatten()))
        parts.append(("fc", nn.Sequential(OrderedDict([("linear", nn.Linear(c * h * w, self.width)),
                                                       ("relu", nn.ReLU())]))))
        self.features = nn.Sequential(OrderedDict(parts))
        self.head = make_head(self.width, num_classes, head_layers, bias=bias)

    @property
    def feature_dim(self) -> int:
        """d, the dimension of the penultimate features (``width``)."""
        return self.width

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features (B, width) of a batch x (reshaped to (B, C, H, W) first)."""
        return self.features(x.reshape(x.shape[0], *self.image_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (B, K): the head applied to :meth:`forward_features`."""
        return self.head(self.forward_features(x))


class BasicBlock(nn.Module):
    """He et al.'s basic residual block: conv-bn-relu-conv-bn, + shortcut, relu."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet: stem conv, stages of basic blocks, global average pool, head.

    ``widths=(16, 32, 64)`` with ``blocks_per_stage=3`` is ResNet-20 (He et al. 2016); the
    penultimate features are the pooled last stage (d = ``widths[-1]``). Stages after the first
    halve the spatial size. Modules: ``stem``, ``stage{s}.block{b}`` (children ``conv1, bn1,
    relu1, conv2, bn2, relu2, shortcut``), ``pool``, ``head``.

    Parameters
    ----------
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 10
        Number of outputs K, >= 2.
    widths : sequence of int, default (16, 32, 64)
        Channels of each stage (non-empty).
    blocks_per_stage : int, default 3
        Basic blocks per stage, >= 1.
    head_layers : int, default 1
        Linear maps in the head (Garrod & Keating's ResNet-20 + deep linear head: 3).
    bias : bool, default True
        Whether the classifier has a bias.

    Raises
    ------
    ValueError
        If ``in_channels``, ``blocks_per_stage``, a width or ``head_layers`` is not a positive
        integer, ``widths`` is empty, or ``num_classes`` < 2.

    References
    ----------
    He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016,
    arXiv:1512.03385 (the CIFAR ResNets, Sec. 4.2); Garrod & Keating, arXiv:2410.23169, Sec. 6
    (ResNet-20 with a deep linear head).

    Examples
    --------
    >>> net = ResNet(1, 3, widths=(4, 8), blocks_per_stage=1)
    >>> tuple(net.forward_features(torch.zeros(2, 1, 8, 8)).shape), tuple(net(torch.zeros(2, 1, 8, 8)).shape)
    ((2, 8), (2, 3))
    >>> [name for name, _ in net.named_children()]
    ['stem', 'stage1', 'stage2', 'pool', 'head']
    >>> ResNet(widths=())
    Traceback (most recent call last):
    ...
    ValueError: widths must be a non-empty sequence of channel counts, got ()
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        *,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 3,
        head_layers: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=2)
        blocks_per_stage = check_int("blocks_per_stage", blocks_per_stage, minimum=1)
        widths = tuple(check_int("widths", w, minimum=1) for w in widths)
        if not widths:
            raise ValueError("widths must be a non-empty sequence of channel counts, got ()")
        self.widths, self.num_classes = widths, num_classes
        self.stem = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)),
            ("bn", nn.BatchNorm2d(widths[0])),
            ("relu", nn.ReLU()),
        ]))
        c = widths[0]
        for s, w in enumerate(widths, start=1):
            blocks = []
            for b in range(1, blocks_per_stage + 1):
                stride = 2 if (s > 1 and b == 1) else 1
                blocks.append((f"block{b}", BasicBlock(c, w, stride)))
                c = w
            self.add_module(f"stage{s}", nn.Sequential(OrderedDict(blocks)))
        self.pool = nn.Sequential(OrderedDict([("avg", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]))
        self.head = make_head(c, num_classes, head_layers, bias=bias)

    @property
    def feature_dim(self) -> int:
        """d, the dimension of the penultimate features (``widths[-1]``)."""
        return self.widths[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled last stage (B, widths[-1]) of images x (B, C, H, W)."""
        x = self.stem(x)
        for s in range(1, len(self.widths) + 1):
            x = getattr(self, f"stage{s}")(x)
        return self.pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits (B, K): the head applied to :meth:`forward_features`."""
        return self.head(self.forward_features(x))


def resnet18(in_channels: int = 3, num_classes: int = 10, *, head_layers: int = 1, bias: bool = True) -> ResNet:
    """The CIFAR ResNet18: a 3x3 stem, four stages of two basic blocks (64, 128, 256, 512 channels).

    He et al. (2016) adapted to 32 x 32 inputs (no max-pool after the stem), the network of
    Tirer, Huang & Niles-Weed (2023, Sec. 5) weight-decay study; penultimate d = 512.

    Parameters
    ----------
    in_channels : int, default 3
        Input channels.
    num_classes : int, default 10
        Number of outputs K, >= 2.
    head_layers : int, default 1
        Linear maps in the head (:func:`make_head`).
    bias : bool, default True
        Whether the classifier has a bias.

    Returns
    -------
    ResNet
        ``ResNet(in_channels, num_classes, widths=(64, 128, 256, 512), blocks_per_stage=2, ...)``.

    Raises
    ------
    ValueError
        If ``in_channels`` or ``head_layers`` is not a positive integer, or ``num_classes`` < 2.

    References
    ----------
    He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR 2016,
    arXiv:1512.03385; Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Sec. 5.

    Examples
    --------
    >>> net = resnet18()
    >>> net.feature_dim, sum(p.numel() for p in net.parameters())  # 11.17 M with a 10-class head
    (512, 11173962)
    >>> [name for name, _ in resnet18(num_classes=100, head_layers=3).head.named_children()]
    ['linear1', 'linear2', 'fc']
    """
    return ResNet(in_channels, num_classes, widths=(64, 128, 256, 512), blocks_per_stage=2, head_layers=head_layers,
                  bias=bias)
