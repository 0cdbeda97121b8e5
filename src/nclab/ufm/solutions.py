"""Label a converged deep-UFM run: DNC, low rank, or other (Garrod & Keating 2025, Figs. 1, 2, 5).

GK call a run DNC when its logits form the simplex structure Z = alpha P (x) 1_n^T (rank K - 1,
collapsed classes), and low rank when the class-mean logit matrix has rank r < K - 1 (their block
solutions have r = K/2; ranks between are partly collapsed mixtures, GK Fig. 5). The rule GK used
is not stated, so nclab's rule is a choice (docs/math.md §7.4), with every tolerance a keyword:

- class-mean logits Zbar (K x K, column k = mean logits of class k), centred per column
  (CE is blind to adding a constant to a column) when ``center``;
- rank r = number of singular values of Zbar above ``rank_rtol`` * the largest;
- within-class spread ||Z - Zbar (x) 1^T||_F / ||Z||_F (only when samples are given);
- ``"dnc"``: r = K - 1, ||Zbar/||Zbar||_F - P/||P||_F||_F <= nc_tol and spread <= nc_tol;
- ``"low_rank"``: r < K - 1 (and r >= 1); ``"other"``: anything else.

The default tolerances are :data:`DNC_RANK_RTOL` and :data:`DNC_NC_TOL`, declared once with
their ranges in :data:`CLASSIFIER_TABLE`; the ``ufm`` sweep kind, ``nclab train`` and the
Garrod & Keating experiments take theirs from here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import check_real, fail
from nclab.config import Param, Real
from nclab.classwise import class_means
from nclab.geometry import center as _center, etf_gram
from nclab.layout import class_ordered_labels

if TYPE_CHECKING:
    import pandas as pd

    from nclab.ufm.spec import UFMParams, UFMSpec

__all__ = ["CLASSIFIER_TABLE", "DNC_NC_TOL", "DNC_RANK_RTOL", "classify_solution", "classify_params",
           "solution_table", "solution_counts", "format_counts"]

#: What ``table=`` of :func:`classify_params` accepts.
TABLES = (False, "seeds", "counts")

#: Relative singular-value cut-off of the rank of the centred class-mean logits.
DNC_RANK_RTOL = 1e-3
#: Largest ETF error and within-class spread of a run labelled ``"dnc"``.
DNC_NC_TOL = 0.05
#: The classifier's tolerances as config-table entries (``{key: Param}``, see :mod:`nclab.config`).
CLASSIFIER_TABLE = {
    "rank_rtol": Param(DNC_RANK_RTOL, Real(minimum=0.0, maximum=1.0),
                       "relative singular-value cut-off of the rank of the class-mean logits"),
    "nc_tol": Param(DNC_NC_TOL, Real(minimum=0.0), "largest ETF error and within-class spread of a 'dnc' run"),
}


def classify_solution(
    Z_or_means: Any,
    labels: Any = None,
    *,
    rank_rtol: float = DNC_RANK_RTOL,
    nc_tol: float = DNC_NC_TOL,
    center: bool = True,
) -> list[dict]:
    """Label each run as ``"dnc"``, ``"low_rank"`` or ``"other"`` (module doc; GK Figs. 2, 5).

    A run with NaN/inf logits (diverged) is labelled ``"other"`` with rank 0 and NaN metrics.

    Parameters
    ----------
    Z_or_means : array_like
        Class-mean logits (K, K) or (S, K, K) when ``labels`` is None; else logits Z (K, N) or
        (S, K, N) of samples with ``labels``.
    labels : array_like, optional
        Labels (N,) of the columns of Z.
    rank_rtol : float, optional
        Relative singular-value cut-off of the rank, in [0, 1] (default :data:`DNC_RANK_RTOL`).
    nc_tol : float, optional
        Largest ETF error and spread of a ``"dnc"`` run (default :data:`DNC_NC_TOL`).
    center : bool, optional
        Centre each column of the class-mean logits first (default True).

    Returns
    -------
    list of dict
        One dict per run with keys ``label``, ``rank``, ``etf_error`` (distance of normalised
        centred Zbar to P/||P||), ``spread`` (relative within-class spread; 0 for means) and
        ``singular_values``.

    Raises
    ------
    ValueError
        If a tolerance is out of range, fewer than 2 classes are given, means are not square, or
        the labels do not fit Z.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Figures 1, 2 and 5 (the rule is our choice, docs/math.md §7.4).

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> B = torch.block_diag(*[torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)] * 2)
    >>> results = classify_solution(torch.stack([5 * centering_matrix(4), B]))
    >>> [(r["label"], r["rank"]) for r in results]
    [('dnc', 3), ('low_rank', 2)]
    """
    rank_rtol = check_real("rank_rtol", rank_rtol, minimum=0.0, maximum=1.0)
    nc_tol = check_real("nc_tol", nc_tol, minimum=0.0)
    Z = as_float_tensor(Z_or_means, "Z_or_means", ndim=(2, 3), finite=False)
    if Z.ndim == 2:
        Z = Z.unsqueeze(0)
    finite = torch.isfinite(Z).flatten(1).all(dim=1)  # a diverged run is labelled "other" with NaN metrics
    Z = torch.where(finite[:, None, None], Z, torch.zeros_like(Z))
    K = Z.shape[-2]
    if K < 2:
        fail("Z_or_means", f"an array with {K} row", "K >= 2 rows (one per class)")
    if labels is None:
        if Z.shape[-1] != K:
            fail("Z_or_means", f"an array of shape {tuple(Z.shape)}", "square class-mean logits (K, K) when no labels are given")
        means = Z
        spread = torch.zeros(Z.shape[0], dtype=Z.dtype, device=Z.device)
    else:
        y, _ = as_labels(labels, "labels", num_samples=Z.shape[-1], num_classes=K, device=Z.device)
        means = class_means(Z.mT, y, K).mT  # (S, K logits, K classes)
        resid = Z - means[..., y]
        spread = torch.linalg.matrix_norm(resid) / torch.linalg.matrix_norm(Z).clamp_min(1e-300)
    if center:
        means = _center(means, dim=-2)
    sv = torch.linalg.svdvals(means)
    top = sv[..., :1].clamp_min(1e-300)
    rank = (sv > rank_rtol * top).sum(-1)
    normed = means / torch.linalg.matrix_norm(means).clamp_min(1e-300)[..., None, None]
    etf = torch.linalg.matrix_norm(normed - etf_gram(K, dtype=Z.dtype, device=Z.device))
    out = []
    for i in range(Z.shape[0]):
        if not bool(finite[i]):
            out.append({"label": "other", "rank": 0, "etf_error": float("nan"), "spread": float("nan"),
                        "singular_values": [float("nan")] * sv.shape[-1]})
            continue
        r = int(rank[i])
        zero = float(sv[i, 0]) == 0.0
        if not zero and r == K - 1 and float(etf[i]) <= nc_tol and float(spread[i]) <= nc_tol:
            label = "dnc"
        elif not zero and 1 <= r < K - 1:
            label = "low_rank"
        else:
            label = "other"
        out.append({"label": label, "rank": 0 if zero else r, "etf_error": float(etf[i]), "spread": float(spread[i]),
                    "singular_values": sv[i].detach().cpu().tolist()})
    return out


def classify_params(
    spec: UFMSpec, params: UFMParams, *, table: bool | str = False, **tolerances: Any
) -> list[dict] | pd.DataFrame:
    """:func:`classify_solution` of every seed of a UFM (``UFMSpec``, ``UFMParams``) via its logits.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis.
    table : {False, "seeds", "counts"}, optional
        ``False`` (default) returns the list of dicts of :func:`classify_solution`; ``"seeds"`` a
        DataFrame with one row per seed (:func:`solution_table`); ``"counts"`` a DataFrame with the
        number of seeds per (label, rank) (:func:`solution_counts`).
    **tolerances
        ``rank_rtol``, ``nc_tol``, ``center`` of :func:`classify_solution`.

    Returns
    -------
    list of dict or pandas.DataFrame
        As chosen by ``table``.

    Raises
    ------
    ValueError
        If ``table`` is not one of the choices, or a tolerance is out of range.

    References
    ----------
    Garrod & Keating, "The persistence of neural collapse despite low-rank bias",
    arXiv:2410.23169, Figures 1, 2 and 5 (the rule is our choice, docs/math.md §7.4).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> len(classify_params(spec, initialize(spec, 2, dtype=torch.float64)))
    2
    """
    from nclab.ufm.objective import forward

    if table not in TABLES or table is True:
        fail("table", table, "False, 'seeds' or 'counts'")
    with torch.no_grad():
        Z, _ = forward(spec, params)
    labels = class_ordered_labels(spec.K, spec.n, device=Z.device)
    results = classify_solution(Z, labels, **tolerances)
    if table == "seeds":
        return solution_table(results)
    if table == "counts":
        return solution_counts(results)
    return results


def solution_table(results: list[dict], seeds: list[int] | None = None) -> pd.DataFrame:
    """One row per run of :func:`classify_solution`'s ``results``: ``seed``, ``label``, ``rank``,
    ``etf_error``, ``spread`` (``seeds`` default to 0, 1, ...).

    Parameters
    ----------
    results : list of dict
        The output of :func:`classify_solution`.
    seeds : list of int, optional
        One seed per result (default 0, 1, ...).

    Returns
    -------
    pandas.DataFrame
        Columns ``seed``, ``label``, ``rank``, ``etf_error``, ``spread``.

    Raises
    ------
    ValueError
        If ``seeds`` does not have one entry per result.

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> B = torch.block_diag(*[torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)] * 2)
    >>> results = classify_solution(torch.stack([5 * centering_matrix(4), B]))
    >>> solution_table(results, seeds=[7, 8])[["seed", "label"]].values.tolist()
    [[7, 'dnc'], [8, 'low_rank']]
    """
    import pandas as pd

    seeds = list(range(len(results))) if seeds is None else list(seeds)
    if len(seeds) != len(results):
        fail("seeds", f"{len(seeds)} seeds", f"one per result ({len(results)})")
    return pd.DataFrame([{"seed": s, "label": r["label"], "rank": int(r["rank"]), "etf_error": r["etf_error"],
                          "spread": r["spread"]} for s, r in zip(seeds, results)],
                        columns=["seed", "label", "rank", "etf_error", "spread"])


def solution_counts(results: list[dict]) -> pd.DataFrame:
    """The number and fraction of runs per (``label``, ``rank``), labels in the order dnc,
    low_rank, other, ranks ascending.

    Parameters
    ----------
    results : list of dict
        The output of :func:`classify_solution`.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``rank``, ``count``, ``fraction``.

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> B = torch.block_diag(*[torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)] * 2)
    >>> results = classify_solution(torch.stack([5 * centering_matrix(4), B]))
    >>> solution_counts(results)["fraction"].tolist()
    [0.5, 0.5]
    """
    import pandas as pd

    order = {"dnc": 0, "low_rank": 1, "other": 2}
    counts: dict[tuple[str, int], int] = {}
    for r in results:
        key = (r["label"], int(r["rank"]))
        counts[key] = counts.get(key, 0) + 1
    rows = [{"label": lab, "rank": rank, "count": c, "fraction": c / max(len(results), 1)}
            for (lab, rank), c in sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], 3), kv[0][1]))]
    return pd.DataFrame(rows, columns=["label", "rank", "count", "fraction"])


def format_counts(results: list[dict]) -> str:
    """``"3 dnc (rank 9), 1 low_rank (rank 5)"``: :func:`solution_counts` on one line.

    Parameters
    ----------
    results : list of dict
        The output of :func:`classify_solution`.

    Returns
    -------
    str
        One line of counts.

    Examples
    --------
    >>> from nclab.geometry import centering_matrix
    >>> B = torch.block_diag(*[torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)] * 2)
    >>> results = classify_solution(torch.stack([5 * centering_matrix(4), B]))
    >>> format_counts(results)
    '1 dnc (rank 3), 1 low_rank (rank 2)'
    """
    frame = solution_counts(results)
    return ", ".join(f"{row.count} {row.label} (rank {row.rank})" for row in frame.itertuples())
