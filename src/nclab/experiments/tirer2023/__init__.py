"""Tirer, Huang, Niles-Weed (2023), *Perturbation analysis of neural collapse* (ICML; arXiv 2210.16658).

One module per theorem or figure: :mod:`.flow` (Thm 3.1), :mod:`.depthwise` (Cor. 3.2),
:mod:`.minimizer` (Tirer & Bruna Thm 3.1, Cor. 2.2), :mod:`.spectra` (Fig. 1, Thm 4.2) on the
UFM, and :mod:`.layerwise`, :mod:`.weight_decay` (Sec. 5) on real networks.
"""
from nclab.experiments.tirer2023 import depthwise, flow, layerwise, minimizer, spectra, weight_decay

MODULES = (flow, depthwise, minimizer, spectra, layerwise, weight_decay)

from nclab.experiments.coverage import Item  # noqa: E402

_LATER = "(issue: Mixon et al. and Tirer et al. complete)"

#: Every numbered result and figure of the paper (and of Tirer & Bruna, which it restates), with its claims.
COVERAGE = (
    Item("Thm 2.1 (Tirer & Bruna Thm 3.1)", "The MSE UFM's global minimiser is collapsed, with a simplex-ETF "
         "structure (or zero when sqrt(lam_H lam_W) > 1).",
         claims=("tirer2023-minimizer/gd_reaches_minimum", "tirer2023-minimizer/lbfgs_reaches_minimum",
                 "tirer2023-minimizer/minimiser_unique_up_to_rotation")),
    Item("Cor. 2.2", "With H_0 a minimiser the anchored model's minimiser is unique and equals it.",
         claims=("tirer2023-minimizer/anchor_at_minimiser_returns_it",)),
    Item("Thm 3.1", "Along the flow with W = W*(H), tr Sigma_W / tr Sigma_B strictly decreases; the scaled "
         "within- and between-class traces decrease and increase.",
         claims=("tirer2023-flow/nc1_strictly_decreases", "tirer2023-flow/within_scaled_decreases",
                 "tirer2023-flow/between_scaled_increases")),
    Item("Cor. 3.2", "For beta > C(H_0) the anchored minimiser has smaller NC1 than H_0 (depthwise decrease).",
         claims=("tirer2023-depthwise/nc1_decreases_with_depth",),
         reason="the threshold C(H_0) itself is not searched yet " + _LATER),
    Item("Thm 4.1", "The first-order perturbation map F of the minimiser (delta H and delta W parts).",
         claims=("tirer2023-spectra/first_order_matches_resolve",),
         reason="the delta-W part has no check yet " + _LATER),
    Item("Eq. 5", "The large-beta form of F is accurate to O(beta^-2).", claims=("tirer2023-spectra/eq5_is_second_order",)),
    Item("Thm 4.2", "Singular values of the blocks F_kk and F_kk' in closed form.",
         claims=("tirer2023-spectra/sigma_max_Fkk", "tirer2023-spectra/sigma_min_Fkk",
                 "tirer2023-spectra/sigma_max_Fkk_prime", "tirer2023-spectra/rank_Fkk_prime_is_one",
                 "tirer2023-spectra/full_spectrum_Fkk")),
    Item("Figure 1", "Spectra of F_kk at beta = 100, K = 4, d = 10, n = 10, lam_W = sqrt(2).",
         reason="drawn at lam_W = 0.01, not the paper's sqrt(2) " + _LATER),
    Item("Figure 2 / Sec. 5", "A layer-wise trained MLP: NC1 decreases with depth.",
         claims=("tirer2023-layerwise/nc1-decreases-with-depth",
                 "tirer2023-layerwise/nc1-trace-ratio-decreases-with-depth"),
         reason="digits MLP to 4-6 layers; the paper's CIFAR-10 MLP goes to 10 " + _LATER),
    Item("Figure 3 / Sec. 5", "Weight decay on the features moves NC more than on the head; more decay, more "
         "collapse.",
         claims=("tirer2023-weight-decay/features-decay-moves-nc-more",
                 "tirer2023-weight-decay/features-decay-x0-raises-nc",
                 "tirer2023-weight-decay/features-decay-x2-lowers-nc"),
         reason="ResNet18 on CIFAR-10 and the MSE/CE arms need the data on disk " + _LATER),
    Item("Appendix E", "Interference study and end-to-end depthwise experiment.", known=False,
         reason="full text of the appendix not read"),
)
