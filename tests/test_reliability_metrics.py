"""Issue 19 item 4 and the overflow example: half-precision features are computed in float32
(torch's CPU SVD has no half kernels), and features so large that the metrics' sums of squares
overflow are a ValueError naming the overflow instead of a dict of NaNs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nclab import cli
from nclab.metrics import collapse, numerical_rank, singular_values

HALF = (torch.float16, torch.bfloat16)
#: float16 keeps 11 significant bits, bfloat16 8: the inputs' own rounding error, relative.
ROUNDING = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def _features(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(5).repeat_interleave(12)
    features = torch.randn(60, 6, generator=g) + 3.0 * torch.eye(5, 6)[labels]
    weight = torch.randn(5, 6, generator=g)
    return features, labels, weight


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_features_give_the_float32_metrics(dtype):
    features, labels, weight = _features()
    rounded = features.to(dtype)
    got = collapse(rounded, labels, weight.to(dtype))
    # the same metrics of the rounded values computed in float32: equal up to float32 rounding
    want = collapse(rounded.float(), labels, weight.to(dtype).float())
    # and close to the unrounded features' metrics (the inputs' rounding, not a half computation)
    exact = collapse(features, labels, weight)
    assert set(got) == set(exact)
    for key in exact:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
        assert got[key] == pytest.approx(exact[key], rel=20 * ROUNDING[dtype], abs=1e-3), key


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_half_spectra_are_computed_in_float32(dtype):
    features, _, _ = _features(1)
    s = singular_values(features.to(dtype))
    assert s.dtype == torch.float32
    torch.testing.assert_close(s, torch.linalg.svdvals(features), rtol=2 * ROUNDING[dtype], atol=1e-3)
    assert numerical_rank(features.to(dtype)) == 6
    low_rank = (features[:, :2] @ torch.randn(2, 6, generator=torch.Generator().manual_seed(2))).to(dtype)
    assert numerical_rank(low_rank, rtol=0.05) == 2
    # numpy float16 in, numpy float32 out
    out = singular_values(features.to(torch.float16).numpy())
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_half_npz_through_nclab_metrics(tmp_path, capsys):
    import json

    features, labels, weight = _features(3)
    out = {}
    for name, dtype in (("f16", np.float16), ("f32", np.float32)):
        f = tmp_path / f"{name}.npz"
        np.savez(f, features=features.numpy().astype(np.float16).astype(dtype), labels=labels.numpy(),
                 weight=weight.numpy().astype(np.float16).astype(dtype))
        assert cli.main(["metrics", str(f), "--json"]) == 0
        out[name] = json.loads(capsys.readouterr().out)
    assert set(out["f16"]) == set(out["f32"])
    for key, value in out["f32"].items():
        assert out["f16"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("dtype,scale", [(torch.float64, 1e300), (torch.float64, 1e160), (torch.float32, 1e18)],
                         ids=str)
def test_features_that_overflow_the_sums_of_squares_are_refused(dtype, scale):
    features, labels, weight = _features()
    big = features.to(dtype) * scale
    assert bool(torch.isfinite(big).all())
    with pytest.raises(ValueError, match=rf"features must be at most .* overflow {dtype}"):
        collapse(big, labels)
    with pytest.raises(ValueError, match=rf"weight must be at most .* overflow {dtype}"):
        collapse(features.to(dtype), labels, weight.to(dtype) * scale)


@pytest.mark.parametrize("dtype,scale,rel", [(torch.float64, 1e150, 1e-9), (torch.float64, 1e-150, 1e-9),
                                               (torch.float32, 1e16, 1e-4), (torch.float32, 1e-16, 1e-4)], ids=str)
def test_large_or_tiny_features_keep_their_scale_invariant_metrics(dtype, scale, rel):
    """Below the limit every metric of x * scale equals that of x (the ETF errors and NC3 are
    formed from V/||V||_F, so their Gram matrices neither overflow nor underflow)."""
    features, labels, weight = _features()
    x, w = features.to(dtype), weight.to(dtype)
    small, large = collapse(x, labels, w), collapse(x * scale, labels, w * scale)
    assert set(small) == set(large)
    for key in small:
        assert large[key] == pytest.approx(small[key], rel=rel, abs=rel), key


def test_nclab_metrics_names_the_overflow(tmp_path, capsys):
    features, labels, _ = _features()
    f = tmp_path / "big.npz"
    np.savez(f, features=features.double().numpy() * 1e300, labels=labels.numpy())
    assert cli.main(["metrics", str(f)]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "overflow torch.float64" in lines[0] and "Traceback" not in captured.err
    assert captured.out == ""
