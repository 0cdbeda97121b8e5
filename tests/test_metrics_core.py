"""metrics._core.spectral_basis: the float32 path (float64 Gram + eigh) against the float64 SVD."""
import torch

from nclab.metrics._core import complement_basis, spectral_basis


def _centred(K, d, S=4, rank=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(S, K, d, generator=g, dtype=torch.float64)
    if rank is not None:  # class means spanning only `rank` directions
        M = torch.randn(S, K, rank, generator=g, dtype=torch.float64) @ torch.randn(S, rank, d, generator=g,
                                                                                   dtype=torch.float64)
    w = torch.full((K,), 1.0 / K, dtype=torch.float64)
    return M - (w[:, None] * M).sum(-2, keepdim=True), w


def test_float32_gram_path_matches_the_float64_svd():
    C, w = _centred(10, 70)
    V64, s64 = spectral_basis(C, w)
    V32, s32 = spectral_basis(C.float(), w.float())
    assert s32.dtype == V32.dtype == torch.float32 and V32.shape == V64.shape == (4, 70, 9)
    assert torch.allclose(s32.double(), s64, rtol=1e-5, atol=0)
    P64, P32 = V64 @ V64.mT, V32.double() @ V32.double().mT  # the projector on the span (signs free)
    assert torch.allclose(P32, P64, atol=1e-5)
    # V is orthonormal and the singular values reproduce M~'s norm
    assert torch.allclose(V32.mT @ V32, torch.eye(9).expand(4, 9, 9), atol=1e-5)
    assert torch.allclose(s32.double().square().sum(-1), C.square().sum((-2, -1)), rtol=1e-5)


def test_float32_gram_path_rank_deficient_means_give_zero_columns():
    C, w = _centred(6, 20, rank=2)
    V32, s32 = spectral_basis(C.float(), w.float())
    # the spurious values are at float32 rounding, below the float32 rank tolerance max(K, d) eps = 2.4e-6
    assert torch.all(s32[..., 2:] <= 20 * torch.finfo(torch.float32).eps * s32[..., :1])
    V64, _ = spectral_basis(C, w)
    assert torch.allclose(V32[..., :2].double() @ V32[..., :2].double().mT, V64[..., :2] @ V64[..., :2].mT, atol=1e-4)


def test_d_below_K_keeps_the_svd():
    C, w = _centred(8, 3)
    V, s = spectral_basis(C.float(), w.float())
    assert V.shape == (4, 3, 3) and s.shape == (4, 3)
    assert complement_basis(w).shape == (8, 7)
