"""Mixon, Parshall, Pi (2022), *Neural collapse with unconstrained features* (SampTA; arXiv 2011.11619).

One module per figure: :mod:`.fig1` (strong-NC errors) and :mod:`.fig2` (distance to the
invariant subspace S); both run the gradient descent of :mod:`._gd`.

``COVERAGE`` maps the paper's results to the claims. The paper's full text was not available to
us: its four results (Lemma 1, Theorem 2, Theorem 3, Lemma 4) are known by name only and are
declared ``known=False``; the two figures are known from their captions.
"""
from nclab.experiments.coverage import Item
from nclab.experiments.mixon2022 import fig1, fig2

MODULES = (fig1, fig2)

_ISSUE = "(issue: Mixon et al. and Tirer et al. complete)"
_BY_NAME = ("not covered: the statement is not available to us (the paper's result is known by name only; its "
            "summary names the invariant subspace S, the decomposition of the risk on S and convergence to strong "
            "NC under mild conditions on W_0); the theory tests check S's invariance and the risk on S, no "
            f"experiment claims it {_ISSUE}")
_F1, _F2 = "mixon2022-fig1", "mixon2022-fig2"

COVERAGE = (
    Item("Strong neural collapse state (eqs. snc1-snc3)", "W W^T = sqrt(N) P, H = (W (x) 1_N)^T / sqrt(N), b = 1/C "
         "is a zero-risk global minimiser of the squared loss with bias.",
         reason=f"not covered: only unit tests check it; Fig. 1 measures the distance to it {_ISSUE}"),
    Item("Lemma 1", "Statement not read (by the summary, the key result: the subspace S is invariant under "
         "gradient descent).", reason=_BY_NAME, known=False),
    Item("Theorem 2", "Statement not read (by the summary: on S the risk decomposes over the singular values "
         "of W and the bias).", reason=_BY_NAME, known=False),
    Item("Theorem 3", "Statement not read (by the summary: gradient flow converges to strong NC under mild "
         "conditions on the initial W).", reason=_BY_NAME, known=False),
    Item("Lemma 4", "Statement not read.", reason=_BY_NAME, known=False),
    Item("Figure 1", "Gradient descent from ||H_0|| = ||W_0|| = eps (C = N = 3, p = 15): the limit point approaches "
         "strong NC as eps -> 0 (errors in WW^T, in H relative to W, in b).",
         claims=(f"{_F1}/final_errors_fall_with_eps", f"{_F1}/WWt_error_rate", f"{_F1}/H_error_rate",
                 f"{_F1}/b_error_rate")),
    Item("Figure 2", "Gradient descent maintains small distance ||Z - Pi_S Z||_E/||Z||_E from the invariant "
         "subspace S (of order eps).", claims=(f"{_F2}/distance_is_O_eps", f"{_F2}/final_distance_is_O_eps")),
)
