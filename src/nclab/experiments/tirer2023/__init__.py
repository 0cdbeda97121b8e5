"""Tirer, Huang, Niles-Weed (2023), *Perturbation analysis of neural collapse* (ICML; arXiv 2210.16658).

One module per theorem or figure: :mod:`.flow` (Thm 3.1), :mod:`.depthwise` (Cor. 3.2),
:mod:`.minimizer` (Tirer & Bruna Thm 3.1, Cor. 2.2), :mod:`.first_order` (Thm 4.1, Eq. 5),
:mod:`.spectra` (Fig. 1, Thm 4.2) on the
UFM, and :mod:`.layerwise`, :mod:`.weight_decay` (Sec. 5) on real networks.

``COVERAGE`` maps the paper's results to the claims. We read the authors' summary of the paper
(statements of the theorems and corollaries, the figures' settings), not its full text: the
appendix experiments are known by reference only (``known=False``).
"""
from nclab.experiments.coverage import Item
from nclab.experiments.tirer2023 import (depthwise, first_order, flow, layerwise, minimizer, spectra, threshold,
                                         weight_decay)

MODULES = (flow, depthwise, threshold, minimizer, first_order, spectra, layerwise, weight_decay)

_MIN, _FLOW, _DW, _SP = "tirer2023-minimizer", "tirer2023-flow", "tirer2023-depthwise", "tirer2023-spectra"
_LW, _WD, _FO = "tirer2023-layerwise", "tirer2023-weight-decay", "tirer2023-first-order"

COVERAGE = (
    Item("Tirer & Bruna 2022, Thm 3.1 (restated as THN Thm 2.1)",
         "For d ≥ K every global minimiser of the MSE UFM is collapsed, H* = H̄ ⊗ 1_nᵀ, W*ᵀ = "
         "√(λ_H/λ_W) H̄, H̄ᵀH̄ = ρ I_K with ρ = max{(1 - c) √(λ_W/λ_H), 0}, c = √(λ_H λ_W).",
         claims=(f"{_MIN}/gd_reaches_minimum", f"{_MIN}/lbfgs_reaches_minimum",
                 f"{_MIN}/minimiser_unique_up_to_rotation")),
    Item("Cor. 2.2", "For d ≥ K and λ_H λ_W < 1, the minimiser of f(W, H; H_0 = H*) is unique and equals "
         "(W*, H*).", claims=(f"{_MIN}/anchor_at_minimiser_returns_it",)),
    Item("Thm 3.1", "Along the gradient flow of H with W = W*(H): tr(Σ_W)/tr(Σ_B) strictly decreases to 0, "
         "e^(2λ_H t) tr(Σ_W) decreases, e^(2λ_H t) tr(Σ_B) strictly increases.",
         claims=(f"{_FLOW}/nc1_strictly_decreases", f"{_FLOW}/within_scaled_decreases",
                 f"{_FLOW}/between_scaled_increases")),
    Item("Cor. 3.2", "For β > C(H_0) the anchored minimiser has NC1 below NC1(H_0) (depthwise decrease).",
         claims=(f"{_DW}/nc1_decreases_with_depth", "tirer2023-threshold/nc1_decreases_at_large_beta_on_hard_anchors"),
         reason="C(H_0) has no closed form: the claims cover large values of β; below them tirer2023-threshold "
                "searches hard anchor families and values of β for a case where NC1 does not decrease and reports what it found "
                "and how many minimisations it took (a finding, not a claim)"),
    Item("Thm 4.1 / Eq. 5", "Around collapse, vec δH ≈ F vec δH_0 (and δW likewise) up to O(‖δH_0‖²), and "
         "for β ≫ 1 F is approximated by Eq. 5 with error O(β⁻²).",
         claims=(f"{_FO}/F_matches_autograd", f"{_FO}/first_order_H_matches_resolve", f"{_FO}/H_error_is_second_order",
                 f"{_FO}/G_matches_autograd", f"{_FO}/first_order_W_matches_resolve", f"{_FO}/W_error_is_second_order",
                 f"{_FO}/eq5_is_second_order")),
    Item("Thm 4.2", "F_kk is full rank, F_kk′ rank one, σ_max(F_kk) = 1, σ_min(F_kk) = 1 - β⁻¹ "
         "√(λ_H/λ_W), σ_max(F_kk′) = 2β⁻¹ λ_H (1 - √(λ_H λ_W)); the entire spectrum "
         "is computed.",
         claims=(f"{_SP}/sigma_max_Fkk", f"{_SP}/sigma_min_Fkk", f"{_SP}/sigma_max_Fkk_prime",
                 f"{_SP}/rank_Fkk_prime_is_one", f"{_SP}/full_spectrum_Fkk")),
    Item("Figure 1", "Singular values of F_kk for β = 100, K = 4, d = 10, n = 10, λ_W = √2 and several "
         "λ_H (drawn at the paper's setting, with an extra panel at λ_W = 0.01).",
         claims=(f"{_SP}/full_spectrum_Fkk", f"{_SP}/sigma_min_Fkk", f"{_SP}/sigma_max_Fkk_prime")),
    Item("Sec. 5 / Figure 2", "An MLP trained layer by layer (earlier layers frozen) on CIFAR-10: NC1 decreases "
         "with depth.",
         claims=(f"{_LW}/nc1-decreases-with-depth", f"{_LW}/nc1-trace-ratio-decreases-with-depth"),
         reason="run on a digits MLP: 4 hidden layers in the quick profile, 10 (the paper's depth) over 10 seeds in "
                "the default profile; CIFAR-10 with --set data=cifar10 --set data_root=DIR"),
    Item("Sec. 5 / Figure 3", "ResNet18 on CIFAR-10: changing the weight decay of the features moves the NC "
         "metrics more than changing that of the last layer; more decay, more collapse.",
         claims=tuple(f"{_WD}/{arm}-{c}" for arm in ("mse", "ce") for c in
                      ("features-decay-moves-nc-more", "features-decay-x0-raises-nc", "features-decay-x2-lowers-nc")),
         reason="the paper's design (both arms, decay 5e-4 doubled or zeroed, SGD 0.9, lr 0.05 / 10 every 40 epochs) "
                "on a small CNN and bundled digits by default; ResNet18 on CIFAR-10 with --set model=resnet18 --set "
                "data=cifar10 --set data_root=DIR"),
    Item("App. E experiments", "More numerical results, including an inter-class 'interference' study and an "
         "end-to-end depthwise experiment (known by reference only).",
         reason="not covered: our sources name these studies but do not describe them (the appendix was not "
                "available to us), so no claim can be written from them", known=False),
    Item("Sec. 5 at the paper's scale", "The same experiments with ResNet18 / the MLP on CIFAR-10.",
         reason="not covered by the quick and default profiles: needs CIFAR-10 on disk (and a GPU to run in hours); "
                "the experiments take --set data=cifar10 --set data_root=DIR (and model=resnet18 for Fig. 3)"),
)
