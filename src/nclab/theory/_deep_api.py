"""Public deep-UFM theory API (Garrod & Keating 2025), re-exported by :mod:`nclab.theory`."""
from .critical_points import CriticalPoint, balanced_factors, block_matrix, dnc_critical_point, low_rank_critical_point
from .dimensions import DimensionBounds, dimension_crossing, dimension_ratio, dnc_dimension, low_rank_dimension
from .landscape import HessianExtremes, dense_hessian, flat_objective, hessian_extremes, hvp_function, near_zero_count
from .low_rank import (
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
from .schatten import (
    FactorisationCheck,
    balance_gap,
    factor_regulariser,
    factorisation_check,
    schatten_power,
    schatten_regulariser,
)
from .solutions import classify_params, classify_solution
from .superiority import (
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
    "dnc_critical_points", "dnc_loss", "dnc_optimum", "effective_lambda", "low_rank_loss", "low_rank_optimum",
    "theorem1_applies", "theorem1_condition", "theorem1_table", "theorem7_relu_rule",
    "FactorisationCheck", "balance_gap", "factor_regulariser", "factorisation_check", "schatten_power",
    "schatten_regulariser", "classify_params", "classify_solution",
    "is_diagonally_superior", "q_K", "rank2_superior_matrix", "structure_loss", "structure_optimum",
    "superiority_margin",
]
