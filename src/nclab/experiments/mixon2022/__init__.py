"""Mixon, Parshall, Pi (2022), *Neural collapse with unconstrained features* (SampTA; arXiv 2011.11619).

One module per figure: :mod:`.fig1` (strong-NC errors) and :mod:`.fig2` (distance to the
invariant subspace S), and :mod:`.subspace` for Lemma 1, Theorem 2 and Theorem 3 (S, the risk on
S, convergence on S); all run the gradient descent of :mod:`._gd`.

``COVERAGE`` maps the paper's results to the claims. The paper's full text was not available to
us: its four results are known by name and by the summary's sentence on each. Lemma 1, Theorem 2
and Theorem 3 are claimed as the summary states them (invariance of S, the risk on S,
convergence to strong NC on S); Lemma 4, of which nothing is known, is declared ``known=False``.
The two figures are known from their captions.
"""
from nclab.experiments.coverage import Item
from nclab.experiments.mixon2022 import fig1, fig2, subspace

MODULES = (fig1, fig2, subspace)

_BY_NAME = ("not covered: the statement is not available to us (the paper's result is known by name only, and "
            "its summary says nothing of it)")
_F1, _F2, _SUB = "mixon2022-fig1", "mixon2022-fig2", "mixon2022-subspace"

COVERAGE = (
    Item("Strong neural collapse state (eqs. snc1-snc3)", "WWᵀ = √N P, H = (W ⊗ 1_N)ᵀ/√N, b = (1/C)1 "
         "is a zero-risk global minimiser of the squared loss with bias.",
         claims=(f"{_SUB}/strong_nc_state_is_zero_risk_collapse",)),
    Item("Lemma 1", "(as summarised; the statement was not read) The subspace S = {H = (W ⊗ 1_N)ᵀ/√N, "
         "1ᵀW = 0, b ∈ span(1)} is invariant under gradient descent.",
         claims=(f"{_SUB}/gradient_lies_in_S", f"{_SUB}/gd_started_on_S_stays_on_S")),
    Item("Theorem 2", "(as summarised) On S the risk decomposes over the singular values of W and the bias.",
         claims=(f"{_SUB}/risk_on_S_decomposes",)),
    Item("Theorem 3", "(as summarised) Gradient flow converges to strong NC under mild conditions on the initial W "
         "(checked from generic starts on S).", claims=(f"{_SUB}/flow_on_S_reaches_strong_nc",)),
    Item("Lemma 4", "Statement not read.", reason=_BY_NAME, known=False),
    Item("Figure 1", "Gradient descent from ‖H_0‖ = ‖W_0‖ = ε (C = N = 3, p = 15): the limit point approaches "
         "strong NC as ε → 0 (errors in WWᵀ, in H relative to W, in b).",
         claims=(f"{_F1}/final_errors_fall_with_eps", f"{_F1}/WWt_error_rate", f"{_F1}/H_error_rate",
                 f"{_F1}/b_error_rate")),
    Item("Figure 2", "Gradient descent maintains small distance ‖Z - Π_S Z‖_E/‖Z‖_E from the invariant "
         "subspace S (of order ε).", claims=(f"{_F2}/distance_is_O_eps", f"{_F2}/final_distance_is_O_eps")),
)
