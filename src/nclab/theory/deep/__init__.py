"""The deep UFM's theory (Garrod & Keating 2025): closed forms, critical points, the Schatten
identity, diagonal superiority, Hessian spectra, solution-set dimensions and Theorem 7's ReLU
construction."""
from nclab.theory.deep.critical_points import CriticalPoint, balanced_factors, block_matrix, dnc_critical_point, low_rank_critical_point
from nclab.theory.deep.dimensions import DimensionBounds, dimension_crossing, dimension_ratio, dnc_dimension, low_rank_dimension
from nclab.theory.deep.landscape import (HessianExtremes, dense_hessian, flat_objective, hessian_extremes, hvp_function,
                                        near_zero_count, stable_ce, stable_flat_objective)
from nclab.theory.deep.low_rank import (
    dnc_critical_points,
    dnc_loss,
    dnc_optimum,
    effective_lambda,
    low_rank_loss,
    low_rank_optimum,
    theorem1_applies,
    theorem1_condition,
    theorem1_table,
    theorem7_relu_rule,
)
from nclab.theory.deep.relu_construction import (
    ReluConstruction,
    relu_construction,
    relu_construction_loss,
    relu_construction_optimum,
    relu_equal_scale_condition,
)
from nclab.theory.deep.schatten import (
    FactorisationCheck,
    balance_gap,
    factor_regulariser,
    factorisation_check,
    schatten_power,
    schatten_regulariser,
)
from nclab.theory.deep.superiority import (
    is_diagonally_superior,
    q_K,
    rank2_superior_matrix,
    structure_loss,
    structure_optimum,
    superiority_margin,
)

__all__ = [
    "CriticalPoint", "balanced_factors", "block_matrix", "dnc_critical_point", "low_rank_critical_point",
    "DimensionBounds", "dimension_crossing", "dimension_ratio", "dnc_dimension", "low_rank_dimension",
    "HessianExtremes", "dense_hessian", "flat_objective", "hessian_extremes", "hvp_function", "near_zero_count",
    "stable_ce", "stable_flat_objective",
    "dnc_critical_points", "dnc_loss", "dnc_optimum", "effective_lambda", "low_rank_loss", "low_rank_optimum",
    "theorem1_applies", "theorem1_condition", "theorem1_table", "theorem7_relu_rule",
    "ReluConstruction", "relu_construction", "relu_construction_loss", "relu_construction_optimum",
    "relu_equal_scale_condition",
    "FactorisationCheck", "balance_gap", "factor_regulariser", "factorisation_check", "schatten_power",
    "schatten_regulariser",
    "is_diagonally_superior", "q_K", "rank2_superior_matrix", "structure_loss", "structure_optimum",
    "superiority_margin",
]
