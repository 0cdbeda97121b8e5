"""The shallow UFM's theory: Mixon, Parshall, Pi (strong collapse, the subspace S); Tirer & Bruna
(the MSE minimiser); Tirer, Huang, Niles-Weed (the flow, the anchored model, the perturbation map)."""
from nclab.theory.shallow.anchored import (
    AnchoredResult,
    anchored_hessian_blocks,
    anchored_layers,
    anchored_minimizer,
    commutation_matrix,
    unvec,
    vec,
)
from nclab.theory.shallow.flow import FlowResult, feature_flow_rhs, integrate_feature_flow, trace_covariances
from nclab.theory.shallow.tirer_bruna import (
    mse_minimizer,
    mse_minimizer_rho,
    mse_minimum_value,
    mse_ufm_gradients,
    mse_ufm_loss,
    optimal_classifier,
)
from nclab.theory.shallow.perturbation import (
    block_singular_values,
    check_thm42_assumptions,
    class_blocks,
    inter_block_sigma_max,
    intra_block_spectrum,
    intra_block_spectrum_values,
    perturbation_map,
    perturbation_map_large_beta,
    thm42_singular_values,
)
from nclab.theory.shallow.strong_collapse import (
    S_dimension,
    distance_to_S,
    flow_on_S,
    mixon_gradients,
    mixon_risk,
    project_S,
    risk_on_S,
    strong_nc_errors,
    strong_nc_point,
)

__all__ = [
    # Tirer & Bruna / THN: MSE UFM
    "mse_minimizer", "mse_minimizer_rho", "mse_minimum_value", "mse_ufm_loss", "mse_ufm_gradients",
    "optimal_classifier",
    # THN Eq. 4, Thm 3.1
    "FlowResult", "feature_flow_rhs", "integrate_feature_flow", "trace_covariances",
    # THN Eq. 2, Cor. 2.2/3.2
    "AnchoredResult", "anchored_minimizer", "anchored_layers", "anchored_hessian_blocks",
    "commutation_matrix", "vec", "unvec",
    # THN section 4
    "perturbation_map", "perturbation_map_large_beta", "class_blocks", "block_singular_values",
    "intra_block_spectrum", "intra_block_spectrum_values", "inter_block_sigma_max",
    "thm42_singular_values", "check_thm42_assumptions",
    # Mixon, Parshall, Pi
    "strong_nc_point", "strong_nc_errors", "mixon_risk", "mixon_gradients", "project_S",
    "distance_to_S", "S_dimension", "risk_on_S", "flow_on_S",
]
