"""Garrod, Keating (2025), *The persistence of neural collapse despite low-rank bias* (NeurIPS; arXiv 2410.23169)."""
from nclab.experiments.garrod2025 import (dimension, fig1, hessian, lambda_hessian, lambda_sweep, real_head, relu,
                                          sukenik, theorem1, theorem2, theorem3, theorem7, width)

MODULES = (theorem1, theorem2, theorem3, theorem7, dimension, hessian, lambda_hessian, fig1, width, lambda_sweep, relu,
           real_head, sukenik)

from nclab.experiments.coverage import Item  # noqa: E402

_T1, _DIM, _HES = "garrod2025-theorem1", "garrod2025-dimension", "garrod2025-hessian"
_LH = "garrod2025-lambda-hessian"
_T2, _T3, _T7 = "garrod2025-theorem2", "garrod2025-theorem3", "garrod2025-theorem7"
_WIDTH = tuple(f"garrod2025-width/{c}_{init}" for init in ("unit", "fan_in")
               for c in ("p_dnc_about_0_at_smallest_width", "p_dnc_about_1_at_largest_width", "p_dnc_grows_with_width"))

#: Every numbered result and figure of the paper, with the claims that cover it (see nclab.experiments.coverage).
COVERAGE = (
    Item("Theorem 1", "For d ≥ K and (K ≥ 4, L ≥ 3) or (K ≥ 6, L = 2), no DNC point is a global minimum of the "
         "deep linear UFM: GK's block low-rank construction has a lower loss.",
         (f"{_T1}/condition_implies_lower_loss", f"{_T1}/condition_region", f"{_T1}/reference_L2",
          f"{_T1}/reference_scales", f"{_T1}/reference_L3")),
    Item("Theorem 2", "For L large enough, a lower-rank diagonally superior structure beats any higher-rank one.",
         (f"{_T1}/thm2_lower_rank_wins_deep", f"{_T2}/thm2_random_lower_rank_wins")),
    Item("Theorem 3", "If λ_L = o(1/L), at most q_K ≤ 2 normalised singular values of the optimal Z_L fail to decay "
         "exponentially in L.", (f"{_T3}/thm3_at_most_qK_persist", f"{_T3}/thm3_faster_decay",
                                 f"{_T3}/thm3_rank2_exists", f"{_T3}/thm3_no_rank1")),
    Item("Theorem 4", "For small λ the DNC configuration is a critical point whose Hessian has no negative "
         "eigenvalue.", (f"{_HES}/thm4_dnc_psd", f"{_LH}/thm4_psd_below_threshold")),
    Item("Theorem 5", "The dimension of the DNC solution set, L(K-1)(d-K+1), grows faster with d than that of a "
         "rank-r solution set, L(rd - C(r)); their ratio R(d) is below 1 at d = K, increases and tends to (K-1)/r.",
         (f"{_DIM}/dnc_dimension_measured", f"{_DIM}/low_rank_dimension_measured",
          f"{_DIM}/below_one_at_K_measured", f"{_DIM}/increasing_measured")),
    Item("Theorem 6", "For K even, as λ → 0 the ratio of the Hessian norms at the DNC and low-rank critical "
         "points tends to a constant.", (f"{_HES}/thm6_ratio", f"{_LH}/thm6_ratio_limit")),
    Item("Theorem 7", "In the deep ReLU UFM (d ≥ K, Assumption 1) DNC is not globally optimal for K ≥ 10, L ≥ 5 or "
         "K ≥ 16, L = 4: the proof bounds the ReLU DNC loss below by the linear one and builds a low-rank point with "
         "nonnegative features that beats it.",
         ("garrod2025-relu/relu_dnc_above_linear_bound", f"{_T7}/construction_beats_dnc_bound_in_region"),
         reason="the construction is reconstructed from the words of the proof (appendix B.9 of arXiv v2, whose display "
                "formulas were not available to us; the odd-K last layer is nclab's reading), built in the engine and "
                "minimised over its scale; the stated region is compared with the construction's equal-scale region "
                f"(check {_T7}/stated_region_inside_construction_region), and the built point is probed along random "
                f"lines (check {_T7}/construction_not_smooth_critical_point: it lies on ReLU kinks, so it is not a "
                "smooth critical point). Outside the region (K = 10 at L = 3 and 4) trained runs are compared with the "
                "bound (garrod2025-relu/relu_runs_below_dnc_bound, garrod2025-real-head/relu-head-loss-below-dnc-bound). "
                "Assumption 1 is not tested"),
    Item("Lemma 1", "At any critical point all factors share singular values, so the regulariser equals "
         "(λ/2)(L+1) Σ_i s_i(Z)^(2/(L+1)), the minimum over all factorisations of Z.",
         (f"{_HES}/lemma1_schatten", "garrod2025-fig1/lemma1_trained_runs_balanced",
          "garrod2025-width/lemma1_trained_runs_balanced", "garrod2025-lambda/lemma1_trained_runs_balanced")),
    Item("Proposition 1", "Known by reference only.", known=False,
         reason="not covered: its statement is not in our sources (the paper's full text was not read); the "
                "per-layer collapse of DNC solutions (DNC1-2 at every layer) is checked on every trained DNC run by "
                "garrod2025-{fig1,width,lambda}/dnc_runs_collapse_at_every_layer"),
    Item("DNC at every layer", "A deep-neural-collapse solution is collapsed at every layer (DNC1-2 in H_1 and every "
         "X_l), the critical point of Theorem 4.",
         tuple(f"garrod2025-{e}/dnc_runs_collapse_at_every_layer" for e in ("fig1", "width", "lambda"))),
    Item("Theorems A1-A3", "Appendix A (arXiv v2): with class sizes n_1, …, n_K, a lower-rank diagonally superior "
         "structure beats a higher-rank one for L large (A1); with λ_L = o(1/L) at most q_K normalised singular "
         "values of Z*_L fail to decay exponentially (A2); under (R, ρ)-step imbalance no generalised DNC structure "
         "is a global minimum for λ small, L large and K ≥ 4 (A3).",
         reason="not covered: the statements were read (appendix A and proofs C.1-C.3 of arXiv v2), but they are "
                "existence results (some L_0, λ_0) without closed-form losses for imbalanced classes, and nclab's deep "
                "UFM engine has balanced classes only (n samples per class), so no trained or closed-form check is "
                "built"),
    Item("Figure 1", "L = 2, d = 70, λ = 2⁻¹⁰, K = 10, n = 5: one GD run converges to DNC, one to a low-rank "
         "solution of lower loss; their mean logit matrices.",
         ("garrod2025-fig1/both_types", "garrod2025-fig1/dnc_loss_closed_form",
          "garrod2025-fig1/low_rank_loss_closed_form", "garrod2025-fig1/low_rank_run_below_dnc_run")),
    Item("Figure 2 (left)", "P(DNC) over GD runs goes from about 0% to about 100% as the width d grows.", _WIDTH),
    Item("Figure 2 (right)", "P(DNC) over GD runs grows as λ decreases.",
         ("garrod2025-lambda/dnc_more_frequent_small_lam",)),
    Item("Figure 3", "Real networks (ResNet-20 + deep linear head, L = 3, d = 64): low-rank class-mean logits and a "
         "loss below the DNC bound; bottom: the same with a deep ReLU head of L = 4 layers.",
         ("garrod2025-real-head/low-rank-logits", "garrod2025-real-head/loss-below-dnc-bound",
          "garrod2025-real-head/relu-head-low-rank-logits", "garrod2025-real-head/relu-head-loss-below-dnc-bound"),
         reason="the ReLU head's loss is compared with the linear DNC bound at L = 4 (a lower bound for every ReLU "
                "DNC loss, Theorem 7's proof); its hidden layers are He-initialised, a recipe change made once after "
                "the first run with PyTorch's default init did not fit the data (see the run's notes)"),
    Item("Figure 4", "Standard regularisation (weight decay on every layer): a low-rank logit structure still "
         "emerges.", ("garrod2025-real-head/standard-wd-low-rank-logits",),
         reason="the statement is issue 13's description of the figure (the paper's full text was not read)"),
    Item("Figure 5", "The rank of the GD solutions against d and λ: it grows with the width and as λ decreases.",
         ("garrod2025-width/solution_rank_grows_with_width", "garrod2025-lambda/solution_rank_grows_as_lam_falls")),
    Item("Figure 6", "Deep ReLU UFM (L = 3, d = 70, λ = 2⁻⁹, K = 10, n = 5): GD runs and their logits.",
         ("garrod2025-relu/relu_dnc_above_linear_bound", "garrod2025-relu/relu_runs_below_dnc_bound")),
    Item("Figure 7", "Real-network heads on CIFAR-10: the deep ReLU head (L = 4, with Fig. 3 bottom) and standard "
         "weight decay each give a low-rank logit structure, not a simplex.",
         ("garrod2025-real-head/standard-wd-low-rank-logits", "garrod2025-real-head/relu-head-low-rank-logits",
          "garrod2025-real-head/relu-head-loss-below-dnc-bound"),
         reason="run on a small digits set unless CIFAR-10 is on disk (--set data=cifar10 --set data_root=DIR); the "
                "figure numbers follow issue 13 (ReLU head: Figs. 3 bottom and 7; standard regularisation: Figs. 4 "
                "and 8), the paper's full text was not read"),
    Item("Figure 8", "Standard regularisation (weight decay on every layer): a low-rank logit structure still "
         "emerges.", ("garrod2025-real-head/standard-wd-low-rank-logits",),
         reason="the statement is issue 13's description of the figure (the paper's full text was not read)"),
    Item("Region of Theorem 7 by parity (proof, appendix B.9)", "Even K: L = 4, K ≥ 14 or L ≥ 5, K ≥ 10; odd K: "
         "L = 4, K ≥ 17 or L ≥ 5, K ≥ 11.", (f"{_T7}/construction_beats_dnc_bound_in_region",),
         reason="arXiv v2 states the region in sentences of the proof, not in a table; theorem7_relu_rule transcribes "
                "it (check garrod2025-relu/thm7_table_contains_main_text), and the reconstructed construction's "
                f"equal-scale condition reproduces it at L = 4 and 5 (check {_T7}/stated_region_inside_construction_region)"),
    Item("Sec. 2 / related work: Sukenik et al. (2024)", "The MSE deep ReLU UFM GK build on (4 layers, K = 10, "
         "λ = 0.004, lr 0.5, width 30): DNC is found more often at larger width, lower-rank solutions at larger λ.",
         ("garrod2025-sukenik/p_dnc_grows_with_width", "garrod2025-sukenik/rank_falls_as_lam_grows")),
    Item("Tables (appendix, other)", "Known by reference only.", known=False,
         reason="not covered: not in our sources (the paper's full text was not read)"),
)
