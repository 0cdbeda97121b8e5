"""Spectra of matrices: singular values, numerical rank, Schatten-p quasi-norms.

Used for the logit spectrum (docs/math.md §2.13) and the low-rank analysis (§6.3) of Garrod &
Keating 2025 (Lemma 1: the deep UFM's regulariser at a critical point is
(lambda/2)(L+1) ||Z||_{S_{2/(L+1)}}^{2/(L+1)}, a Schatten power with p = 2/(L+1)).

All functions take a matrix (m, n) or a batch (..., m, n), numpy or torch (CPU/CUDA), and
compute in its dtype. torch in gives torch out (autograd kept where it makes sense), numpy
in gives numpy out; an unbatched rank is a Python int.
"""
from __future__ import annotations

from typing import Any

import torch

from nclab._tensor import as_float_tensor, promote_float
from nclab._validation import check_real, fail

#: Default relative tolerance of :func:`numerical_rank`: singular values above
#: 1e-6 * s_max count. Loose enough for float32 training runs (whose rounding floor is
#: ~1e-7 relative), tight enough to see the partially collapsed ranks of GK Fig. 5.
DEFAULT_RANK_RTOL = 1e-6


def _matrix(x: Any, name: str = "x") -> tuple[torch.Tensor, bool]:
    is_numpy = not isinstance(x, torch.Tensor)
    t = x if not is_numpy else as_float_tensor(x, name)
    if not is_numpy:
        if t.is_complex():
            fail(name, f"tensor of dtype {t.dtype}", "a real-valued array")
        t = promote_float(t)
    if t.ndim < 2:
        fail(name, f"an array of shape {tuple(t.shape)}", "a matrix (m, n) or a batch (..., m, n)")
    if t.numel() and not bool(torch.isfinite(t.detach()).all()):
        fail(name, "an array containing NaN or inf", "finite values only")
    return t, is_numpy


def _out(value: torch.Tensor, is_numpy: bool) -> Any:
    if not is_numpy:
        return value
    array = value.detach().cpu().numpy()
    return float(array) if array.ndim == 0 else array


def singular_values(x: Any) -> Any:
    """Singular values of x (..., m, n) in descending order, shape (..., min(m, n)).

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (m, n) or (..., m, n)
        A real matrix or a batch of them, e.g. the logits Z = W H (K x N) of docs/math.md §2.13.

    Returns
    -------
    s : torch.Tensor or numpy.ndarray, shape (..., min(m, n))
        The singular values s_1 >= s_2 >= ... >= 0, in x's dtype; torch in gives torch out
        (differentiable), numpy in gives numpy out.

    Raises
    ------
    ValueError
        If ``x`` is not a real array with at least two dimensions, or contains NaN or inf.

    References
    ----------
    Garrod, Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
    arXiv:2410.23169, §3 (the singular values of the logits; docs/math.md §2.13).

    Examples
    --------
    >>> import numpy as np
    >>> singular_values(np.diag([1.0, 3.0, 2.0])).tolist()
    [3.0, 2.0, 1.0]
    """
    t, is_numpy = _matrix(x)
    return _out(torch.linalg.svdvals(t), is_numpy)


def numerical_rank(x: Any, rtol: float = DEFAULT_RANK_RTOL, *, atol: float = 0.0) -> Any:
    """Number of singular values s_i > max(atol, rtol * s_max) of x (..., m, n).

    ``rtol`` is relative to the largest singular value of each matrix (default 1e-6, see
    :data:`DEFAULT_RANK_RTOL`); ``atol`` an absolute floor (GK count singular values above
    1e-6 absolutely: ``numerical_rank(Z, rtol=0, atol=1e-6)``). A zero matrix has rank 0.
    Returns an int for one matrix, else an int64 array/tensor of shape (...).

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (m, n) or (..., m, n)
        A real matrix or a batch of them.
    rtol : float, default 1e-6
        Relative tolerance, >= 0: singular values above ``rtol * s_max`` count.
    atol : float, default 0.0
        Absolute floor of the threshold, >= 0.

    Returns
    -------
    rank : int, or int64 torch.Tensor / numpy.ndarray of shape (...)
        The number of singular values above max(atol, rtol * s_max); an int for one matrix.

    Raises
    ------
    ValueError
        If ``rtol`` or ``atol`` is negative or not a real number, or ``x`` is not a finite real
        array with at least two dimensions.

    References
    ----------
    Garrod, Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
    arXiv:2410.23169, §3 and Fig. 5 (numerical ranks; docs/math.md §2.13).

    Examples
    --------
    >>> import numpy as np
    >>> numerical_rank(np.diag([1.0, 1e-9, 0.0]))
    1
    >>> numerical_rank(np.diag([1.0, 1e-9, 0.0]), rtol=0.0)
    2
    >>> numerical_rank(np.zeros((2, 3)))
    0
    """
    rtol = check_real("rtol", rtol, minimum=0.0)
    atol = check_real("atol", atol, minimum=0.0)
    t, is_numpy = _matrix(x)
    with torch.no_grad():
        s = torch.linalg.svdvals(t.detach())
        if s.shape[-1] == 0:
            rank = torch.zeros(s.shape[:-1], dtype=torch.int64, device=s.device)
        else:
            tol = torch.clamp(rtol * s[..., :1], min=atol)
            rank = (s > tol).sum(dim=-1)
    if rank.ndim == 0:
        return int(rank)
    return rank.cpu().numpy() if is_numpy else rank


def _check_p(p: Any) -> float:
    p = check_real("p", p, minimum=0.0, strict=True, maximum=2.0)
    return p


def schatten_power(x: Any, p: float) -> Any:
    """sum_i s_i^p, the p-th power of the Schatten-p quasi-norm, for p in (0, 2].

    Garrod & Keating 2025, Lemma 1: the regulariser at a critical point of the deep UFM is
    (lambda/2)(L+1) * schatten_power(Z, 2/(L+1)). Differentiable for torch input (the gradient
    of s^p is infinite at s = 0 when p < 1).

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (m, n) or (..., m, n)
        A real matrix or a batch of them, e.g. the logits Z.
    p : float
        The Schatten exponent, 0 < p <= 2 (GK: p = 2/(L+1) for L linear layers).

    Returns
    -------
    value : float, or torch.Tensor / numpy.ndarray of shape (...)
        sum_i s_i(x)^p; a float for one numpy matrix, a 0-d tensor for one torch matrix.

    Raises
    ------
    ValueError
        If ``p`` is not in (0, 2], or ``x`` is not a finite real array with at least two
        dimensions.

    References
    ----------
    Garrod, Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
    arXiv:2410.23169, Lemma 1.

    Examples
    --------
    >>> import numpy as np
    >>> schatten_power(np.diag([4.0, 9.0]), 0.5)
    5.0
    >>> schatten_power(np.diag([3.0, 4.0]), 2.0)  # the squared Frobenius norm
    25.0
    """
    p = _check_p(p)
    t, is_numpy = _matrix(x)
    s = torch.linalg.svdvals(t)
    return _out(s.pow(p).sum(dim=-1), is_numpy)


def schatten_norm(x: Any, p: float) -> Any:
    """(sum_i s_i^p)^(1/p), the Schatten-p (quasi-)norm for p in (0, 2] (p = 2: Frobenius, 1: nuclear).

    Parameters
    ----------
    x : array_like or torch.Tensor, shape (m, n) or (..., m, n)
        A real matrix or a batch of them.
    p : float
        The Schatten exponent, 0 < p <= 2.

    Returns
    -------
    value : float, or torch.Tensor / numpy.ndarray of shape (...)
        (sum_i s_i(x)^p)^(1/p); a float for one numpy matrix, a 0-d tensor for one torch matrix.

    Raises
    ------
    ValueError
        If ``p`` is not in (0, 2], or ``x`` is not a finite real array with at least two
        dimensions.

    References
    ----------
    Garrod, Keating, "The persistence of neural collapse despite low-rank bias", NeurIPS 2025,
    arXiv:2410.23169, Lemma 1 (the Schatten quasi-norm of the logits).

    Examples
    --------
    >>> import numpy as np
    >>> schatten_norm(np.diag([3.0, 4.0]), 2.0)  # Frobenius
    5.0
    >>> schatten_norm(np.diag([3.0, 4.0]), 1.0)  # nuclear
    7.0
    """
    p = _check_p(p)
    t, is_numpy = _matrix(x)
    s = torch.linalg.svdvals(t)
    return _out(s.pow(p).sum(dim=-1).pow(1.0 / p), is_numpy)


__all__ = ["DEFAULT_RANK_RTOL", "numerical_rank", "schatten_norm", "schatten_power", "singular_values"]
