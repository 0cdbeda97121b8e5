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
    "garrod2025-hessian",
    "garrod2025-fig1",
]


# Findings: claims that fail on the paper's own terms at full scale (kept, never tuned away); every
# other claim of these experiments must pass. garrod2025-dimension: the measured dimension of the DNC
# solution set (zero Hessian eigenvalues = O(d)^L orbit rank) is L(K-1)(d-K/2), not GK's L(K-1)(d-K+1),
# so R(K) > 1 as measured.
# garrod2025-relu: none of the 100 ReLU runs ends below the linear DNC closed form (lowest 0.1531 against
# 0.1471), although non-DNC runs end below every ReLU DNC run (0.1583).
# garrod2025-real-head: with standard weight decay the digits MLP's class-mean logits keep rank 9 = K - 1 (GK's
# Fig. 7 reports a low-rank structure on CIFAR-10), while the deep-UFM run has rank 4 as in the paper.
KNOWN_FAILURES = {
    "garrod2025-dimension": {"dnc_dimension_measured", "below_one_at_K_measured"},
    "garrod2025-relu": {"relu_runs_below_dnc_bound"},
    # the ReLU head (L = 4, added 2026-12-03): at full profile its loss is below the DNC bound but its
    # class-mean logits do not reach the claimed 1 <= rank < K - 1 at zero training error (fresh-clone CI run)
    "garrod2025-real-head": {"standard-wd-low-rank-logits", "relu-head-low-rank-logits"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KNOWN_FAILURES))
def test_full_profile_findings_stay_as_found(name, tmp_path):
    result = registry.run(name, quick=False, out=tmp_path)
    failed = {c.id for c in result.claims if not c.passed}
    assert failed == KNOWN_FAILURES[name], failed
    assert all(c.passed for c in result.checks), [c.id for c in result.checks if not c.passed]


# Full profiles too long for CI's 45 minutes on 2 cores (2 arms x 5 seeds x 5 trainings, 10 seeds x 10 layers):
# `make test-paper` runs them.
PAPER_SCALE = ["tirer2023-layerwise", "tirer2023-weight-decay"]


#: Findings at paper scale: in the CE arm of the weight-decay study (small CNN on digits, 5 seeds, decay 5e-4)
#: no change of the decay moves the metrics measurably (every interval contains 0); the MSE arm reproduces.
PAPER_SCALE_FINDINGS = {"tirer2023-weight-decay": {"ce-features-decay-moves-nc-more", "ce-features-decay-x0-raises-nc",
                                                   "ce-features-decay-x2-lowers-nc"}}


@pytest.mark.paper
@pytest.mark.parametrize("name", PAPER_SCALE)
def test_paper_scale_network_claims_pass(name, tmp_path):
    result = registry.run(name, quick=False, out=tmp_path)
    failed = {c.id for c in result.claims if not c.passed}
    assert result.claims and failed == PAPER_SCALE_FINDINGS.get(name, set()), failed


@pytest.mark.slow
@pytest.mark.parametrize("name", MUST_PASS)
def test_full_profile_claims_pass(name, tmp_path):
    result = registry.run(name, quick=False, out=tmp_path)
    assert result.claims, "an experiment must check at least one claim"
    failed = {c.id: (c.expected, c.measured) for c in result.claims if not c.passed}
    assert not failed, failed
    assert (tmp_path / "result.json").exists()


@pytest.mark.slow
def test_full_terminal_phase_verdicts_follow_the_factor_ten_rule(tmp_path):
    """Papyan et al.'s terminal phase at full scale (one run per loss; not timed by us): the zero-error checks
    pass and every claim's verdict is the paper's rule (a fall by a factor >= 10 over the terminal phase)
    applied to its measured values. Whether the small MLP on digits reaches that fall is the finding."""
    result = registry.run("papyan-terminal-phase", quick=False, out=tmp_path)
    assert result.checks and all(c.passed for c in result.checks)
    assert len(result.claims) == 10
    for c in result.claims:
        first, last = c.measured["tpt_start"], c.measured["final"]
        assert c.passed is bool(last <= first / 10 if first > 0 else last == 0), (c.id, c.measured)


@pytest.mark.paper  # 100 seeds x 16 grid points at up to d = 200: about 75 min on 2 cores (width)
@pytest.mark.parametrize("name", ["garrod2025-width", "garrod2025-lambda"])
def test_full_gd_sweeps_at_ten_times_the_papers_seeds(name, tmp_path):
    """GK Fig. 2 at >= 100 seeds per point (10x the paper's 10). Every claim is decided by its rule on
    the per-point table; the reference init (unit) must reproduce the paper's statement, the
    alternative init (fan_in) is reported whatever its verdict (how the verdict moves with the open
    init choice). Measured cost: see the width/lambda reports (not yet within the CI's budget)."""
    from test_experiments_garrod import _same_verdicts_as_tables

    result = registry.run(name, quick=False, out=tmp_path)
    assert result.claims and all(c.n_seeds is not None and c.n_seeds >= 100 for c in result.claims)
    _same_verdicts_as_tables(result)
    reference = [c for c in result.claims if not c.id.endswith("_fan_in")]
    failed = {c.id: (c.expected, c.measured) for c in reference if not c.passed}
    assert not failed, failed
