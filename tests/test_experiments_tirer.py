"""tirer2023-*: quick profiles run end to end and every claim passes; bad input is rejected."""
import json

import pytest

from nclab.experiments import run


@pytest.mark.parametrize("name", ["tirer2023-flow", "tirer2023-depthwise", "tirer2023-spectra", "tirer2023-minimizer"])
def test_quick_profile_claims_pass(name):
    result = run(name, quick=True)
    assert result.claims and all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
    json.dumps(result.to_dict())
    assert result.figure_objects


@pytest.mark.parametrize(
    "name,overrides,match",
    [
        ("tirer2023-spectra", {"d": 4}, "d > K"),
        ("tirer2023-spectra", {"lam_W": 2.0, "lam_Hs": [1.0]}, "lam_H lam_W < 1"),
        ("tirer2023-spectra", {"beta": 0.0}, "beta"),
        ("tirer2023-depthwise", {"betas": [1.0, -2.0]}, "betas"),
        ("tirer2023-flow", {"lam_pairs": [[0.0, 0.1]]}, "lam_W"),
        ("tirer2023-minimizer", {"d": 2}, "d"),
    ],
)
def test_bad_input_names_the_assumption(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        run(name, quick=True, **overrides)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tirer2023-flow", "tirer2023-depthwise", "tirer2023-spectra", "tirer2023-minimizer"])
def test_full_profile_claims_pass(name):
    result = run(name)
    assert all(c.passed for c in result.claims), [c.to_dict() for c in result.claims]
