"""The UFM problem description (:class:`UFMSpec`) and the batched parameters (:class:`UFMParams`).

One spec covers the shallow UFM (MPP, THN Eq. 1), the anchored UFM (THN Eq. 2) and the deep
linear/ReLU UFM (GK, Sukenik et al.); docs/math.md §7.1 and §7.2. The objective, for features
H_1 in R^{d x N} (columns class-ordered: class 0's n samples first), weights W_1..W_L
(W_l in R^{d x d} for l < L, W_L in R^{K x d}) and optional bias b in R^K, is

    Z = W_L s(W_{L-1} ... s(W_1 H_1)) + b 1^T            (s = identity or ReLU; none on H_1)
    loss = fit(Z) + lam_H/2 ||H_1||^2 + sum_l lam_W[l]/2 ||W_l||^2 + lam_b/2 ||b||^2
           + beta/2 * (1/N) ||H_1 - H0||^2,

with fit the MEAN over the N = Kn samples of the cross-entropy (``loss="ce"``) or of
1/2 ||W h + b - y||^2 (``loss="mse"``) (``reduction="sum"``: the sum). Regularisers are NOT
divided by N; the anchor is (so the THN preset below reproduces THN Eq. 2 exactly). Paper presets map each paper's constants:

- ``UFMSpec.tirer(K, n, d, lam_W, lam_H, beta, H0)``: THN Eq. 1/2,
  (1/(2Kn))||WH - Y||^2 + (lam_W/(2K))||W||^2 + (lam_H/(2Kn))||H||^2 + (beta/(2Kn))||H - H0||^2,
  i.e. spec lam_W = lam_W/K, lam_H = lam_H/(Kn), beta = beta.
- ``UFMSpec.mixon(C, N, p)``: MPP's R_e = (1/(2CN))||WH + b 1^T - Y||^2 (C classes, N samples per
  class, feature dimension p), squared loss with bias, no regularisation.
- ``UFMSpec.garrod(K, n, d, L, lam)``: GK's mean CE + (lam/2) sum_l ||W_l||^2 + (lam/2)||H_1||^2.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from nclab._tensor import as_float_tensor
from nclab._validation import check_choice, check_int, check_real, fail

ACTIVATIONS = ("linear", "relu")
UFM_LOSSES = ("ce", "mse")
REDUCTIONS = ("mean", "sum")
SPEC_FIELDS = ("K", "n", "d", "L", "activation", "loss", "bias", "lam_H", "lam_W", "lam_b", "H0", "beta", "reduction")


@dataclass(frozen=True, eq=False)
class UFMSpec:
    """One unconstrained features model (see the module docstring for the objective).

    A frozen, validated description: every field is checked on construction (and again by
    :meth:`replace`); two specs are equal (and hash alike) when their fields are, H0 compared by
    a hash of its values. The paper presets :meth:`tirer`, :meth:`mixon`, :meth:`garrod` and
    :meth:`sukenik` map each paper's constants to these fields (docs/math.md §7.2).

    Parameters
    ----------
    K : int
        Number of classes, >= 2.
    n : int
        Samples per class, >= 1 (N = K n; the columns of H_1 are class-ordered).
    d : int
        Feature width (rows of H_1 and of every hidden layer), >= 1.
    L : int, default 1
        Number of weight matrices W_1..W_L (1: the shallow UFM).
    activation : {"linear", "relu"}, default "linear"
        s between the layers (never on H_1).
    loss : {"ce", "mse"}, default "ce"
        The fit: cross-entropy, or 1/2 ||W h + b - y||^2 with one-hot y.
    bias : bool, default False
        A bias b in R^K on the last layer.
    lam_H : float, default 0.0
        Weight of lam_H/2 ||H_1||_F^2, >= 0 (not divided by N).
    lam_W : float or sequence of L floats, default 0.0
        Weight decay of W_1..W_L: one number for all, or one per layer (each >= 0).
    lam_b : float, default 0.0
        Weight of lam_b/2 ||b||^2, >= 0.
    H0 : array_like, shape (d, N), optional
        The anchor of beta/(2N) ||H_1 - H0||_F^2, stored as a float64 CPU tensor; None with
        ``beta > 0`` anchors to H0 = 0.
    beta : float, default 0.0
        Strength of the anchor, >= 0 (0: no anchor).
    reduction : {"mean", "sum"}, default "mean"
        The fit is the mean over the N samples (our reading of GK, and THN's/MPP's) or their
        sum (GK's reduction is a choice, docs/math.md §6.1, hence a parameter); the anchor
        keeps its 1/N either way.

    Attributes
    ----------
    N : int
        K n, the number of samples.
    lam_W_layers : tuple of float
        The weight decay of each of W_1..W_L.
    anchored : bool
        Whether the anchor term is active (beta > 0).

    Raises
    ------
    ValueError
        If a field is outside its allowed values (K < 2, a negative regularisation, an unknown
        ``activation``/``loss``/``reduction``, ``lam_W`` of a length other than L, ``H0`` not of
        shape (d, N)); the message names the field, its value and what is allowed.

    References
    ----------
    Mixon, Parshall, Pi, "Neural collapse with unconstrained features", arXiv:2011.11619 (the
    UFM, squared loss with bias); Tirer, Huang, Niles-Weed, "Perturbation analysis of neural
    collapse", ICML 2023, arXiv:2210.16658, Eq. 1-2 (regularised and anchored MSE UFM); Garrod &
    Keating, arXiv:2410.23169, Section 2 (the deep UFM with cross-entropy); Sukenik, Lampert,
    Mondelli, arXiv:2405.14468 (the deep ReLU UFM with the squared loss).

    Examples
    --------
    >>> spec = UFMSpec(K=3, n=2, d=4, L=2, lam_H=1e-3, lam_W=(1e-3, 2e-3))
    >>> spec.N, spec.lam_W_layers, spec.weight_shapes()
    (6, (0.001, 0.002), [(4, 4), (3, 4)])
    >>> spec.num_parameters()  # H_1 (4 x 6) + W_1 (4 x 4) + W_2 (3 x 4)
    52
    >>> spec == UFMSpec(K=3, n=2, d=4, L=2, lam_H=1e-3, lam_W=[1e-3, 2e-3])
    True
    >>> spec.replace(d=5).num_parameters()
    70

    THN's constants (Eq. 1, lam_W/(2K) and lam_H/(2Kn)) become lam_W/K and lam_H/(K n):

    >>> thn = UFMSpec.tirer(K=4, n=5, d=4, lam_W=0.1, lam_H=0.2)
    >>> thn.loss, thn.lam_W, thn.lam_H
    ('mse', 0.025, 0.01)
    >>> UFMSpec(K=1, n=2, d=3)
    Traceback (most recent call last):
    ...
    ValueError: K must be an integer >= 2, got 1
    """

    K: int
    n: int
    d: int
    L: int = 1
    activation: str = "linear"
    loss: str = "ce"
    bias: bool = False
    lam_H: float = 0.0
    lam_W: float | tuple[float, ...] = 0.0
    lam_b: float = 0.0
    H0: Any = field(default=None, repr=False)
    beta: float = 0.0
    reduction: str = "mean"

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        set_("K", check_int("K", self.K, minimum=2))
        set_("n", check_int("n", self.n, minimum=1))
        set_("d", check_int("d", self.d, minimum=1))
        set_("L", check_int("L", self.L, minimum=1))
        set_("activation", check_choice("activation", self.activation, ACTIVATIONS))
        set_("loss", check_choice("loss", self.loss, UFM_LOSSES))
        set_("reduction", check_choice("reduction", self.reduction, REDUCTIONS))
        if not isinstance(self.bias, (bool, np.bool_)):
            fail("bias", self.bias, "True or False")
        set_("bias", bool(self.bias))
        set_("lam_H", check_real("lam_H", self.lam_H, minimum=0.0))
        set_("lam_b", check_real("lam_b", self.lam_b, minimum=0.0))
        set_("beta", check_real("beta", self.beta, minimum=0.0))
        lam_W = self.lam_W
        if isinstance(lam_W, (list, tuple, np.ndarray, torch.Tensor)):
            values = [v.item() if hasattr(v, "item") else v for v in list(lam_W)]
            if len(values) != self.L:
                fail("lam_W", lam_W, f"one number or a sequence of L = {self.L} numbers (W_1..W_L)")
            set_("lam_W", tuple(check_real(f"lam_W[{i}]", v, minimum=0.0) for i, v in enumerate(values)))
        else:
            set_("lam_W", check_real("lam_W", lam_W, minimum=0.0))
        if self.H0 is not None:
            H0 = as_float_tensor(self.H0, "H0", dtype=torch.float64, device="cpu", ndim=2)
            if tuple(H0.shape) != (self.d, self.N):
                fail("H0", f"an array of shape {tuple(H0.shape)}", f"an array of shape (d, N) = ({self.d}, {self.N})")
            set_("H0", H0.clone())

    # ------------------------------------------------------------------ derived quantities
    @property
    def N(self) -> int:
        """Number of samples N = K n."""
        return self.K * self.n

    @property
    def lam_W_layers(self) -> tuple[float, ...]:
        """The weight decay of W_1..W_L as a tuple of L floats."""
        if isinstance(self.lam_W, tuple):
            return self.lam_W
        return (float(self.lam_W),) * self.L

    @property
    def anchored(self) -> bool:
        """True when the anchor term beta/(2N) ||H - H0||^2 is active (beta > 0)."""
        return self.beta > 0.0

    def weight_shapes(self) -> list[tuple[int, int]]:
        """Shapes of W_1..W_L: (d, d) for l < L, (K, d) for W_L."""
        return [(self.d, self.d)] * (self.L - 1) + [(self.K, self.d)]

    def num_parameters(self) -> int:
        """Number of trainable scalars per seed."""
        return self.d * self.N + sum(a * b for a, b in self.weight_shapes()) + (self.K if self.bias else 0)

    def replace(self, **changes: Any) -> "UFMSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; H0 is summarised by its shape and a hash."""
        out: dict[str, Any] = {}
        for name in SPEC_FIELDS:
            value = getattr(self, name)
            if name == "H0":
                value = None if value is None else {"shape": list(value.shape), "sha1": _tensor_hash(value)}
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    # ------------------------------------------------------------------ equality and hashing
    def _key(self) -> tuple:
        return tuple(
            (_tensor_hash(self.H0) if self.H0 is not None else None) if f == "H0" else getattr(self, f)
            for f in SPEC_FIELDS
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UFMSpec) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # ------------------------------------------------------------------ paper presets
    @classmethod
    def mixon(cls, C: int, N: int, p: int) -> "UFMSpec":
        """MPP (Mixon, Parshall, Pi 2022): R_e(H, W, b) = (1/(2CN)) ||W H + b 1^T - Y||_F^2.

        C classes, N samples PER CLASS, feature dimension p; squared loss with bias, no
        regularisation. Maps to K = C, n = N, d = p, loss="mse", bias=True.
        """
        return cls(K=C, n=N, d=p, L=1, loss="mse", bias=True)

    @classmethod
    def tirer(
        cls,
        K: int,
        n: int,
        d: int,
        lam_W: float,
        lam_H: float,
        beta: float | None = None,
        H0: Any = None,
    ) -> "UFMSpec":
        """THN (Tirer, Huang, Niles-Weed 2023) Eq. 1, or Eq. 2 with an anchor:

        f(W, H; H0) = (1/(2Kn))||WH - Y||^2 + (lam_W/(2K))||W||^2 + (lam_H/(2Kn))||H||^2
                      + (beta/(2Kn))||H - H0||^2.

        The paper's constants are mapped to spec lam_W = lam_W/K, lam_H = lam_H/(K n), beta.
        """
        lam_W = check_real("lam_W", lam_W, minimum=0.0)
        lam_H = check_real("lam_H", lam_H, minimum=0.0)
        beta = 0.0 if beta is None else check_real("beta", beta, minimum=0.0)
        if H0 is not None and beta == 0.0:
            fail("beta", beta, "a number > 0 when an anchor H0 is given")
        K = check_int("K", K, minimum=2)
        n = check_int("n", n, minimum=1)
        return cls(K=K, n=n, d=d, L=1, loss="mse", bias=False, lam_H=lam_H / (K * n), lam_W=lam_W / K,
                   H0=H0, beta=beta)

    @classmethod
    def garrod(
        cls,
        K: int,
        n: int,
        d: int,
        L: int,
        lam: float,
        activation: str = "linear",
        *,
        lam_H: float | None = None,
        lam_W: float | Sequence[float] | None = None,
        reduction: str = "mean",
    ) -> "UFMSpec":
        """GK (Garrod, Keating 2025) deep UFM: mean CE(W_L...W_1 H_1) + (lam/2) sum_l ||W_l||^2
        + (lam/2) ||H_1||^2, no bias; ``lam_H``/``lam_W`` override the common lam per group
        (GK's real networks: lam_W = 5e-3, lam_H = 1e-6). ``reduction="sum"`` sums the CE over
        samples instead. The mean is our reading of GK App. B.5, whose bound on the fit term holds
        only for the mean (choice, docs/math.md §6.1)."""
        lam = check_real("lam", lam, minimum=0.0)
        return cls(K=K, n=n, d=d, L=L, activation=activation, loss="ce", bias=False,
                   lam_H=lam if lam_H is None else lam_H, lam_W=lam if lam_W is None else lam_W,
                   reduction=reduction)


    @classmethod
    def sukenik(cls, K: int, n: int, d: int, L: int, lam: float, activation: str = "relu") -> "UFMSpec":
        """Sukenik, Lampert, Mondelli (2024) deep UFM with the squared loss (arXiv 2405.14468):
        (1/(2N)) ||W_L s(W_{L-1} ... s(W_1 H_1)) - Y||_F^2 + (lam/2) sum_l ||W_l||^2 + (lam/2) ||H_1||^2,
        s = ReLU between the layers (never on H_1), no bias; the MSE setting Garrod & Keating's
        cross-entropy analysis builds on (one common lam: our choice, their runs use one value)."""
        lam = check_real("lam", lam, minimum=0.0)
        return cls(K=K, n=n, d=d, L=L, activation=activation, loss="mse", bias=False, lam_H=lam, lam_W=lam)


def _tensor_hash(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().cpu().to(torch.float64).contiguous().numpy().tobytes()).hexdigest()[:16]


# ====================================================================== parameters
@dataclass
class UFMParams:
    """UFM parameters batched over a leading seed axis S.

    Indexing (``params[i]``, ``params.select(idx)``) keeps the seed axis; :meth:`flat` /
    :meth:`from_flat` give the (S, P) vectors the optimizers and Hessians work on, in the order
    of :meth:`tensors`; :meth:`check` compares the shapes with a :class:`UFMSpec`.

    Parameters
    ----------
    H : torch.Tensor, shape (S, d, N)
        The features H_1 of each seed, columns class-ordered.
    W : sequence of torch.Tensor
        W_1..W_L, with W_l of shape (S, d, d) for l < L and W_L of shape (S, K, d) (stored as a
        tuple).
    b : torch.Tensor, shape (S, K), optional
        The last layer's bias; None without one.

    Raises
    ------
    ValueError
        If ``H`` is not 3-dimensional, or a ``W[i]`` or ``b`` lacks the leading seed axis S of
        ``H``.

    Examples
    --------
    >>> import torch
    >>> spec = UFMSpec(K=3, n=2, d=4, L=2)
    >>> H = torch.ones(2, 4, 6, dtype=torch.float64)
    >>> W = (torch.zeros(2, 4, 4, dtype=torch.float64), torch.zeros(2, 3, 4, dtype=torch.float64))
    >>> params = UFMParams(H, W).check(spec)
    >>> len(params), params.L, params[1].num_seeds, tuple(params.flat().shape)
    (2, 2, 1, (2, 52))
    >>> torch.equal(UFMParams.from_flat(spec, params.flat()).H, H)
    True
    >>> sorted(params.numpy())
    ['H', 'W1', 'W2']
    >>> UFMParams.cat([params, params[0]]).num_seeds
    3
    """

    H: torch.Tensor
    W: tuple[torch.Tensor, ...]
    b: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.W = tuple(self.W)
        if self.H.ndim != 3:
            fail("H", f"a tensor of shape {tuple(self.H.shape)}", "a tensor of shape (S, d, N)")
        S = self.H.shape[0]
        for i, w in enumerate(self.W):
            if w.ndim != 3 or w.shape[0] != S:
                fail(f"W[{i}]", f"a tensor of shape {tuple(w.shape)}", f"a tensor of shape ({S}, rows, cols)")
        if self.b is not None and (self.b.ndim != 2 or self.b.shape[0] != S):
            fail("b", f"a tensor of shape {tuple(self.b.shape)}", f"a tensor of shape ({S}, K)")

    @property
    def num_seeds(self) -> int:
        """S, the size of the leading seed axis."""
        return self.H.shape[0]

    @property
    def L(self) -> int:
        """The number of weight matrices W_1..W_L."""
        return len(self.W)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of H (and, by construction, of every tensor)."""
        return self.H.dtype

    @property
    def device(self) -> torch.device:
        """The device of H."""
        return self.H.device

    def tensors(self) -> list[torch.Tensor]:
        """[H, W_1, .., W_L, (b)]: the order used by :meth:`flat` and the optimizers."""
        return [self.H, *self.W] + ([self.b] if self.b is not None else [])

    @classmethod
    def from_tensors(cls, tensors: Sequence[torch.Tensor], has_bias: bool) -> "UFMParams":
        """Inverse of :meth:`tensors`."""
        tensors = list(tensors)
        if has_bias:
            return cls(tensors[0], tuple(tensors[1:-1]), tensors[-1])
        return cls(tensors[0], tuple(tensors[1:]), None)

    def map(self, fn) -> "UFMParams":
        """Apply ``fn`` to every tensor."""
        return UFMParams.from_tensors([fn(t) for t in self.tensors()], self.b is not None)

    def select(self, index: int | slice | Sequence[int] | torch.Tensor) -> "UFMParams":
        """Seeds at ``index`` (an int keeps a seed axis of size 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        elif not isinstance(index, slice):
            index = torch.as_tensor(index, dtype=torch.long, device=self.H.device)
        return self.map(lambda t: t[index])

    __getitem__ = select

    def __len__(self) -> int:
        return self.num_seeds

    def __iter__(self) -> Iterator["UFMParams"]:
        return (self.select(i) for i in range(self.num_seeds))

    def to(self, *args: Any, **kwargs: Any) -> "UFMParams":
        """``torch.Tensor.to`` on every tensor (dtype and/or device)."""
        return self.map(lambda t: t.to(*args, **kwargs))

    def clone(self) -> "UFMParams":
        """Detached copies of every tensor."""
        return self.map(lambda t: t.detach().clone())

    def detach(self) -> "UFMParams":
        """Every tensor detached from the autograd graph (no copy)."""
        return self.map(lambda t: t.detach())

    def numpy(self) -> dict[str, np.ndarray]:
        """``{"H": (S,d,N), "W1": .., "WL": .., "b": (S,K) if present}`` as numpy arrays."""
        out = {"H": self.H.detach().cpu().numpy()}
        for i, w in enumerate(self.W, start=1):
            out[f"W{i}"] = w.detach().cpu().numpy()
        if self.b is not None:
            out["b"] = self.b.detach().cpu().numpy()
        return out

    @classmethod
    def from_numpy(cls, arrays: dict[str, Any], *, dtype: torch.dtype | None = None, device: Any = None) -> "UFMParams":
        """Inverse of :meth:`numpy` (e.g. from an ``np.load``-ed params.npz)."""
        L = sum(1 for k in arrays if k.startswith("W") and k[1:].isdigit())
        conv = lambda a: torch.as_tensor(np.asarray(a)).to(dtype=dtype, device=device)  # noqa: E731
        return cls(conv(arrays["H"]), tuple(conv(arrays[f"W{i}"]) for i in range(1, L + 1)),
                   conv(arrays["b"]) if "b" in arrays else None)

    def flat(self) -> torch.Tensor:
        """All parameters of each seed as one vector: (S, P), in the order of :meth:`tensors`."""
        return torch.cat([t.reshape(t.shape[0], -1) for t in self.tensors()], dim=1)

    def unflatten(self, flat: torch.Tensor) -> "UFMParams":
        """Parameters shaped like ``self`` from a flat (S, P) tensor (inverse of :meth:`flat`)."""
        out, start = [], 0
        for t in self.tensors():
            size = t[0].numel()
            out.append(flat[:, start:start + size].reshape(flat.shape[0], *t.shape[1:]))
            start += size
        return UFMParams.from_tensors(out, self.b is not None)

    @classmethod
    def from_flat(cls, spec: UFMSpec, flat: torch.Tensor) -> "UFMParams":
        """Parameters of ``spec`` from a flat (S, P) (or (P,)) tensor."""
        if flat.ndim == 1:
            flat = flat.unsqueeze(0)
        shapes = [(spec.d, spec.N), *spec.weight_shapes()] + ([(spec.K,)] if spec.bias else [])
        out, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            out.append(flat[:, start:start + size].reshape(flat.shape[0], *shape))
            start += size
        if start != flat.shape[1]:
            fail("flat", f"a tensor with {flat.shape[1]} columns", f"{start} columns (the spec's parameter count)")
        return cls.from_tensors(out, spec.bias)

    @staticmethod
    def cat(parts: Sequence["UFMParams"]) -> "UFMParams":
        """Concatenate along the seed axis."""
        parts = list(parts)
        cols = list(zip(*[p.tensors() for p in parts]))
        return UFMParams.from_tensors([torch.cat(c, dim=0) for c in cols], parts[0].b is not None)

    def check(self, spec: UFMSpec) -> "UFMParams":
        """Raise ``ValueError`` unless the shapes match ``spec``; return self."""
        S = self.num_seeds
        if tuple(self.H.shape[1:]) != (spec.d, spec.N):
            fail("H", f"shape {tuple(self.H.shape)}", f"shape (S, d, N) = ({S}, {spec.d}, {spec.N})")
        if len(self.W) != spec.L:
            fail("W", f"{len(self.W)} weight matrices", f"L = {spec.L} weight matrices")
        for i, (w, shape) in enumerate(zip(self.W, spec.weight_shapes()), start=1):
            if tuple(w.shape[1:]) != shape:
                fail(f"W_{i}", f"shape {tuple(w.shape)}", f"shape ({S}, {shape[0]}, {shape[1]})")
        if spec.bias and (self.b is None or tuple(self.b.shape[1:]) != (spec.K,)):
            fail("b", None if self.b is None else f"shape {tuple(self.b.shape)}", f"shape ({S}, {spec.K})")
        if not spec.bias and self.b is not None:
            fail("b", "a bias tensor", "None (the spec has bias=False)")
        return self
