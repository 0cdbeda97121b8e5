"""Initial points of a UFM, one per seed, batched (docs/design.md, "UFM"; the schemes are a choice, docs/math.md §7.3).

Every seed's start is drawn from its own ``torch.Generator`` seeded by the seed alone, in
float64 on the CPU, in the fixed order H_1, W_1, .., W_L, b, and only then cast to the
requested dtype/device. So a run's start depends only on (spec, scheme, scales, seed): never on
which other seeds share its batch, nor on the device; float32 and float64 starts agree up to
rounding.

Schemes (the init scale decides DNC versus low rank in GK, so it is always explicit):

- ``"gaussian"``: H_1 ~ N(0, (scale*scale_H)^2), every W_l ~ N(0, (scale*scale_W)^2),
  b ~ N(0, (scale*scale_b)^2). Defaults: scale = 1, scale_H = 1, scale_W = 1/sqrt(d) (the
  fan-in of every W_l), scale_b = 0 (zero bias).
- ``"norm"``: MPP's start of total norm eps: all of (H, W, b) drawn N(0, 1) together and
  rescaled so that ||H||^2 + sum ||W_l||^2 + ||b||^2 = eps^2 with eps = ``scale``
  (default 1). ``zero_bias=True`` (default, as in MPP's b_0 = 0) keeps b = 0.
- ``"pytorch"``: like ``nn.Linear``'s default: W_l, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  (fan_in = d), and H_1 ~ N(0, 1) (``torch.randn`` as the papers' scripts do), all times
  ``scale`` (and scale_H/scale_W/scale_b when given).
"""
from __future__ import annotations

import math
from numbers import Integral
from typing import Iterable

import torch

from nclab._tensor import resolve_device, resolve_dtype  # noqa: F401  (their home; re-exported)
from nclab._validation import check_choice, check_real, fail
from nclab.seeds import parse_seeds
from nclab.ufm.spec import UFMParams, UFMSpec

SCHEMES = ("gaussian", "norm", "pytorch")


def normalize_seeds(seeds: int | Iterable[int]) -> list[int]:
    """``int S`` -> [0, .., S-1]; otherwise the list of (non-negative, distinct) integer seeds.

    The rule is :func:`nclab.seeds.parse_seeds` (the one parser of seeds); any other iterable
    (a numpy array, a generator) is read as a list first.

    Parameters
    ----------
    seeds : int or iterable of int
        A count, or the seeds.

    Returns
    -------
    list of int
        The seeds.

    Raises
    ------
    ValueError
        If ``seeds`` is neither a count nor a sequence of distinct non-negative integers (the
        message names ``seeds``).

    Examples
    --------
    >>> normalize_seeds(3), normalize_seeds([5, 2])
    ([0, 1, 2], [5, 2])
    """
    if not isinstance(seeds, (str, Integral, float, list, tuple, range)):
        try:
            seeds = list(seeds)
        except TypeError:
            fail("seeds", seeds, "an integer count or a sequence of integer seeds")
    return parse_seeds(seeds, name="seeds")


def _one_seed(
    spec: UFMSpec, seed: int, scheme: str, scale: float, scale_H: float, scale_W: float, scale_b: float,
    zero_bias: bool,
) -> list[torch.Tensor]:
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    shapes = [(spec.d, spec.N), *spec.weight_shapes()]
    if scheme == "pytorch":
        H = torch.randn(*shapes[0], generator=g, dtype=torch.float64) * scale_H
        bound = 1.0 / math.sqrt(spec.d)
        Ws = [(torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1) * bound * scale_W for s in shapes[1:]]
        out = [H, *Ws]
        if spec.bias:
            out.append((torch.rand(spec.K, generator=g, dtype=torch.float64) * 2 - 1) * bound * scale_b)
        return [t * scale for t in out]
    draws = [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]
    if spec.bias:
        b = torch.randn(spec.K, generator=g, dtype=torch.float64)
        draws.append(b)
    if scheme == "gaussian":
        out = [draws[0] * scale_H] + [w * scale_W for w in draws[1:1 + spec.L]]
        if spec.bias:
            out.append(draws[-1] * scale_b)
        return [t * scale for t in out]
    # "norm": scale everything together to total norm eps = scale
    if spec.bias and zero_bias:
        draws[-1] = torch.zeros_like(draws[-1])
    total = math.sqrt(sum(float((t * t).sum()) for t in draws))
    return [t * (scale / total) for t in draws]


def initialize(
    spec: UFMSpec,
    seeds: int | Iterable[int],
    scheme: str = "gaussian",
    scale: float | None = None,
    *,
    scale_H: float | None = None,
    scale_W: float | None = None,
    scale_b: float | None = None,
    zero_bias: bool = True,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str | None = "cpu",
) -> UFMParams:
    """Initial UFM parameters for each seed, stacked on a leading seed axis (see module doc).

    ``scale`` multiplies every group (for ``"norm"`` it is the total norm eps of MPP's
    experiments); ``scale_H``, ``scale_W``, ``scale_b`` set the per-group standard deviations
    (gaussian; defaults 1, 1/sqrt(d), 0) or extra factors (pytorch; defaults 1, 1, 1);
    docs/math.md §7.3.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    seeds : int or iterable of int
        A count S (seeds 0..S-1) or the seeds.
    scheme : {"gaussian", "norm", "pytorch"}, optional
        The initialisation scheme.
    scale : float, optional
        Overall scale, >= 0 (default 1).
    scale_H, scale_W, scale_b : float, optional
        Per-group scales, >= 0.
    zero_bias : bool, optional
        Keep b = 0 under ``"norm"`` (default True).
    dtype : torch.dtype or str, optional
        Element type (default float32).
    device : torch.device or str, optional
        Device (default CPU).

    Returns
    -------
    UFMParams
        Parameters with a leading seed axis.

    Raises
    ------
    ValueError
        If ``scheme`` is unknown (names ``init``), a scale is negative (names ``init_scale`` or
        the group's scale), or the seeds, dtype or device are invalid.

    References
    ----------
    Mixon, Parshall, Pi, arXiv:2011.11619 (the ``"norm"`` start of total norm eps); Garrod &
    Keating, arXiv:2410.23169 (the init scale decides DNC versus low rank).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> params.num_seeds, [tuple(t.shape) for t in params.tensors()]
    (2, [(2, 4, 6), (2, 4, 4), (2, 3, 4)])
    >>> p = initialize(spec, 1, "norm", 0.5, dtype=torch.float64)
    >>> round(float(sum((t * t).sum() for t in p.tensors())) ** 0.5, 6)
    0.5
    """
    seeds = normalize_seeds(seeds)
    scheme = check_choice("init", scheme, SCHEMES)
    dtype = resolve_dtype(dtype)
    device = resolve_device(device)
    scale = 1.0 if scale is None else check_real("init_scale", scale, minimum=0.0)
    if scheme == "gaussian":
        dH, dW, db = 1.0, 1.0 / math.sqrt(spec.d), 0.0
    else:
        dH, dW, db = 1.0, 1.0, 1.0
    scale_H = dH if scale_H is None else check_real("scale_H", scale_H, minimum=0.0)
    scale_W = dW if scale_W is None else check_real("scale_W", scale_W, minimum=0.0)
    scale_b = db if scale_b is None else check_real("scale_b", scale_b, minimum=0.0)
    per_seed = [[t.to(dtype) for t in _one_seed(spec, s, scheme, scale, scale_H, scale_W, scale_b, bool(zero_bias))]
                for s in seeds]  # drawn in float64, stored in the target dtype (keeps the peak memory low)
    stacked = [torch.stack(group).to(device=device) for group in zip(*per_seed)]
    return UFMParams.from_tensors(stacked, spec.bias)
