"""GK Theorems 2 and 3 (arXiv 2410.23169): optimal_rank's pieces in float64 and the two experiments' claims."""
import math

import numpy as np
import pytest
import torch

from nclab import theory as T
from nclab.experiments import run
from nclab.experiments.garrod2025 import theorem2, theorem3  # noqa: F401  (registers the experiments)
from nclab.experiments.garrod2025.theorem1 import EnginePoint
from nclab.theory.deep.optimal_rank import (
    _balanced,
    decay_slope,
    max_margin,
    normalised_spectrum,
    optimal_logits,
    random_superior,
)


def test_optimal_logits_objective_is_the_reduced_schatten_form_and_the_engine():
    # K=4, L=2: the optimiser's factor objective equals structure_loss at scale 1 (Lemma 1) and the engine
    opt = optimal_logits(4, 2, 0.02, 3, starts=2, seed=1)
    assert opt.loss == pytest.approx(opt.reduced, abs=1e-10)
    fit, reg = EnginePoint(torch.as_tensor(opt.M), 3, 2).terms([1.0])
    assert float(fit[0] + 0.02 * reg[0]) == pytest.approx(opt.loss, abs=1e-10)
    assert min(opt.starts) == opt.loss


def test_optimal_logits_is_no_worse_than_a_brute_force_scale_search():
    # independent: the best of DNC / block / rank-2 at their 1-D optimal scales bounds the optimum above
    K, n, L, lam = 4, 2, 3, 0.01
    opt = optimal_logits(K, L, lam, n, starts=3, seed=0)
    for M in (torch.eye(K, dtype=torch.float64) - 1 / K, T.block_matrix(K), T.rank2_superior_matrix(K)):
        s = np.geomspace(1e-2, 1e2, 4001)
        assert opt.loss <= T.structure_loss(s, M, n, L, lam).min() + 1e-9


def test_balanced_factors_multiply_back_and_share_singular_values():
    M = np.random.default_rng(0).standard_normal((4, 4))
    F = _balanced(M, 3)
    P = F[0]
    for f in F[1:]:
        P = f @ P
    assert np.allclose(P.numpy(), M, atol=1e-12)
    assert float(T.balance_gap(F)) < 1e-12


def test_normalised_spectrum_and_decay_slope():
    r = normalised_spectrum(np.diag([4.0, 2.0, 1e-15]))
    assert r.tolist() == [1.0, 0.5, 0.0]
    assert normalised_spectrum(np.zeros((3, 3))).tolist() == [0.0, 0.0, 0.0]
    Ls = np.arange(2, 12)
    d = decay_slope(Ls, np.exp(-0.7 * Ls))
    assert d["slope"] == pytest.approx(-0.7, abs=1e-10) and d["interval"][1] < -0.69
    assert decay_slope(Ls, np.zeros(10))["identically_zero"]
    flat = decay_slope(Ls, np.full(10, 0.5))
    assert flat["slope"] == pytest.approx(0.0, abs=1e-12) and not flat["identically_zero"]


def test_max_margin_rank1_never_positive_for_K_at_least_3_and_rank2_positive():
    for K in (3, 5):
        m1, M1 = max_margin(K, 1, samples=2000, starts=4, seed=K)
        assert m1 <= 1e-12 and np.linalg.matrix_rank(M1) == 1
        m2, M2 = max_margin(K, 2, samples=2000, starts=4, seed=K)
        assert m2 > 0 and T.is_diagonally_superior(torch.as_tensor(M2)) and np.linalg.matrix_rank(M2, tol=1e-10) == 2
    assert max_margin(2, 1, samples=500, starts=2)[0] > 0  # K = 2: rank 1 suffices
    # the search is a lower bound on the best margin: GK's rank-2 circle at unit norm has margin
    # (1 - cos(2 pi / 3)) / ||X^T X||_F = 1.5 / (3 / sqrt 2) at K = 3
    circle = T.rank2_superior_matrix(3)
    assert T.superiority_margin(circle / torch.linalg.matrix_norm(circle)) == pytest.approx(1.5 / (3 / math.sqrt(2)))


def test_random_superior_has_its_rank_and_margin():
    rng = np.random.default_rng(3)
    for r in (2, 3, 5):
        M = random_superior(6, r, rng)
        assert np.linalg.matrix_rank(M, tol=1e-9) == r and T.superiority_margin(M) >= 0.01
        assert np.linalg.norm(M) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        random_superior(3, 4, rng)


def test_theorem2_wins_from_rule_can_fail():
    assert theorem2.wins_from([1, 1, 0.5, 0.4], [0.9, 2, 0.6, 0.5]) == 1
    assert theorem2.wins_from([1, 2], [0.5, 1]) is None
    assert theorem2.wins_from([1, 0.5, 2], [2, 1, 1]) is None  # loses at the last depth


def test_theorem2_quick_claims_and_a_failing_pair(monkeypatch):
    res = run("garrod2025-theorem2", quick=True, structures=1, ranks=[2, 4], depths=[1, 4, 16, 64])
    c = {x.id: x for x in res.claims}["thm2_random_lower_rank_wins"]
    assert c.passed and c.n_seeds == 1 and c.interval is not None and c.measured["pairs"] == 1
    assert all(x.passed for x in res.checks)
    # a fake loss where the higher rank wins at depth must fail the claim
    real = theorem2.losses

    def swapped(config, structures):
        real(config, structures)
        for s in structures:
            s["engine"] = [-v if s["rank"] == 4 else v for v in s["engine"]]

    monkeypatch.setattr(theorem2, "losses", swapped)
    res = run("garrod2025-theorem2", quick=True, structures=1, ranks=[2, 4], depths=[1, 4, 16, 64])
    assert not {x.id: x for x in res.claims}["thm2_random_lower_rank_wins"].passed


def test_theorem2_refuses_a_rank_above_K():
    with pytest.raises(ValueError, match="ranks"):
        run("garrod2025-theorem2", quick=True, K=4, ranks=[2, 5])


def _cells(K, rows):
    return [{"L": L, "r": r} for L, r in rows]


def test_theorem3_decay_rule_and_judge_can_fail():
    K, Ls = 4, [2, 4, 6, 8, 10, 12]
    persist = _cells(K, [(L, [1.0, 1.0, 0.5, 0.0]) for L in Ls])  # a third persisting value
    rows = theorem3.decay_table(persist, K)
    assert [r["decays"] for r in rows] == [False, False, False, True]
    decaying = _cells(K, [(L, [1.0, 1.0, math.exp(-0.5 * L), 0.0]) for L in Ls])
    assert [r["decays"] for r in theorem3.decay_table(decaying, K)] == [False, False, True, True]
    config = {"Ks": [K], "Ls": Ls, "c": 0.1, "n": 1, "starts": 1}
    data = {"c/L^2": {K: persist}, "c/sqrt(L)": {K: decaying}}
    decays = {s: {K: theorem3.decay_table(cells, K)} for s, cells in ((s, d[K]) for s, d in data.items())}
    search = {2: {1: 1.0, 2: 1.0}, 3: {1: 1e-3, 2: 0.5}}
    claims = {c.id: c for c in theorem3.judge(config, data, decays, search)}
    assert not claims["thm3_at_most_qK_persist"].passed
    assert claims["thm3_faster_decay"].passed
    assert not claims["thm3_no_rank1"].passed and claims["thm3_rank2_exists"].passed
    data = {"c/L^2": {K: decaying}, "c/sqrt(L)": {K: persist}}
    decays = {s: {K: theorem3.decay_table(d[K], K)} for s, d in data.items()}
    claims = {c.id: c for c in theorem3.judge(config, data, decays, {3: {1: -0.1, 2: 0.0}})}
    assert claims["thm3_at_most_qK_persist"].passed and not claims["thm3_faster_decay"].passed
    assert claims["thm3_no_rank1"].passed and not claims["thm3_rank2_exists"].passed


def test_theorem3_small_run():
    res = run("garrod2025-theorem3", quick=True, Ks=[3, 4], Ls=[2, 4, 6], starts=1, search_Ks=[2, 3],
              search_samples=500, search_starts=2)
    claims = {c.id: c for c in res.claims}
    assert set(claims) == {"thm3_at_most_qK_persist", "thm3_faster_decay", "thm3_rank2_exists", "thm3_no_rank1"}
    assert claims["thm3_rank2_exists"].passed and claims["thm3_no_rank1"].passed
    assert claims["thm3_at_most_qK_persist"].interval is not None
    assert all(c.passed for c in res.checks), [c.to_dict() for c in res.checks]
