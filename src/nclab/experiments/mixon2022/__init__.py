"""Mixon, Parshall, Pi (2022), *Neural collapse with unconstrained features* (SampTA; arXiv 2011.11619).

One module per figure: :mod:`.fig1` (strong-NC errors) and :mod:`.fig2` (distance to the
invariant subspace S); both run the gradient descent of :mod:`._gd`.
"""
from nclab.experiments.mixon2022 import fig1, fig2

MODULES = (fig1, fig2)

from nclab.experiments.coverage import Item  # noqa: E402

_LATER = "not covered yet: only unit tests check it (issue: Mixon et al. and Tirer et al. complete)"

#: Every numbered result and figure of the paper, with the claims that cover it.
COVERAGE = (
    Item("Strong neural collapse state", "W W^T = sqrt(N) P, H = (W (x) 1_N)^T / sqrt(N), b = 1/C is a zero-risk "
         "global minimiser of the squared loss with bias.", reason=_LATER),
    Item("Lemma 1", "The subspace S is invariant under gradient descent.", reason=_LATER),
    Item("Theorem 2", "On S the risk is a function of the singular values of W.", reason=_LATER),
    Item("Theorem 3", "From generic W_0 and H, b on S, the flow converges to strong neural collapse.",
         reason="not covered yet: no experiment (issue: Mixon et al. and Tirer et al. complete)"),
    Item("Figure 1", "The limit of gradient descent approaches strong neural collapse as the initialisation "
         "approaches the origin; the errors fall at fitted rates in eps.",
         claims=("mixon2022-fig1/final_errors_fall_with_eps", "mixon2022-fig1/WWt_error_rate",
                 "mixon2022-fig1/H_error_rate", "mixon2022-fig1/b_error_rate")),
    Item("Figure 2", "Gradient descent stays within O(eps) of the invariant subspace S.",
         claims=("mixon2022-fig2/distance_is_O_eps", "mixon2022-fig2/final_distance_is_O_eps")),
)
