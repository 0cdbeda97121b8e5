"""Every paper claim at the papers' scale (the experiments' full profiles), on every submission.

The quick profiles run in the default suite or beside it; these are the `defaults` profiles that
`nclab reproduce --full` runs (about 6 minutes together on 2 cores). Mixon et al. and Tirer et al.
full profiles are checked in test_experiments_mixon.py / test_experiments_tirer.py.
"""
import pytest

from nclab.experiments import registry

# Every claim of these reproduces at full scale: a failure here is a regression.
MUST_PASS = [
    "garrod2025-theorem1",
    "garrod2025-dimension",
    "garrod2025-hessian",
    "garrod2025-fig1",
    "garrod2025-width",
    "garrod2025-lambda",
    "garrod2025-relu",
    "garrod2025-real-head",
    "tirer2023-layerwise",
    "tirer2023-weight-decay",
    "papyan-terminal-phase",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", MUST_PASS)
def test_full_profile_claims_pass(name, tmp_path):
    result = registry.run(name, out=tmp_path)
    assert result.claims, "an experiment must check at least one claim"
    failed = {c.id: (c.expected, c.measured) for c in result.claims if not c.passed}
    assert not failed, failed
    assert (tmp_path / "result.json").exists()
