"""GK Theorem 5: DNC occupies more of the landscape as the width grows.

Registered as ``garrod2025-dimension``. The claims are measured: at small sizes, the dimension
of the solution set through the DNC and the block low-rank critical points is the number of
zero eigenvalues of the engine's dense Hessian there (autograd), cross-checked by the rank of
the infinitesimal action of O(d)^L on the factors (the orbit of a point with fixed Z), and
compared with GK's D_DNC = L(K-1)(d-K+1) and D_Z* = L(rd - C(r)), r(r+1)/2 <= C(r) <= r^2.
The formula's own properties (R(d) = D_DNC / D_Z* below 1 at d = K, increasing, its limit
(K-1)/r, the crossing for K = 10, r = 5 of docs/math.md §6.12) are checks: a formula against itself.
Nothing is random (the critical points are closed form, with fixed frames).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from nclab import theory as T
from nclab.config import Int, ListOf, Param, Real, refuse
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.registry import Claim, Outcome, register

NAME = "garrod2025-dimension"

DESC = (
    "Theorem 5: the dimension of the set of DNC solutions, D_DNC = L(K-1)(d-K+1), grows faster with the "
    "width d than that of a rank-r solution, D_Z* = L(rd - C(r)) with r(r+1)/2 ≤ C(r) ≤ r²; their ratio "
    "R(d) increases in d, is below 1 at d = K and tends to (K-1)/r."
)

PARAMS = {
    "pairs": Param([[10, 5], [10, 2], [6, 3], [16, 8]], ListOf(ListOf(Int(minimum=1), length=2), unique=True),
                   "[K, r] pairs: number of classes K and rank r of the low-rank solution (1 ≤ r < K - 1)"),
    "d_max": Param(200, Int(minimum=5), "largest width d of the curves (at least K + 2 for every pair)"),
    "sizes": Param([[4, 2, 4, 2], [4, 2, 5, 2], [4, 2, 6, 2], [4, 2, 7, 2], [4, 2, 7, 3], [6, 2, 6, 2], [6, 2, 8, 2]],
                   ListOf(ListOf(Int(minimum=1), length=4), unique=True),
                   "[K, n, d, L] of the measured dimensions (K even, d ≥ K; dense Hessians: keep them small)"),
    "lam": Param(2 ** -10, Real(minimum=0.0, maximum=2 ** -6, strict=True),
                 "regularisation λ of the measured critical points (small: GK Thm 4's regime)"),
    "zero_rtol": Param(1e-8, Real(minimum=0.0, maximum=1e-3, strict=True),
                       "an eigenvalue is zero when |μ| ≤ zero_rtol · max|μ| (the count is also reported at "
                       "1e-10 and 1e-6 to show it does not depend on it)"),
}

#: Width at which R(d) stands for its limit.
FAR = 10 ** 7


def check_config(config: dict) -> None:
    """The cross-key checks: ``1 <= r < K - 1`` in every pair (a low-rank solution), ``d_max >= K + 2``."""
    pairs = [(K, r) for K, r in config["pairs"]]
    if any(not r < K - 1 for K, r in pairs):
        refuse(f"experiment {NAME!r}", "pairs", config["pairs"], "a list of [K, r] pairs with 1 <= r < K - 1 (a low-rank solution)")
    for K, _, d, _ in config["sizes"]:
        if K % 2 or K < 2 or d < K:
            refuse(f"experiment {NAME!r}", "sizes", config["sizes"], "[K, n, d, L] entries with K >= 2 even and d >= K")
    K_max = max(K for K, _ in pairs)
    if config["d_max"] < K_max + 2:
        refuse(f"experiment {NAME!r}", "d_max", config["d_max"], f">= {K_max + 2}, the largest K of pairs + 2 (at least 3 widths per pair)")


@register(NAME, paper=PAPER, title="Theorem 5: DNC occupies more of the landscape as the width grows",
          description=DESC, defaults=PARAMS, quick={}, check=check_config)
def dimension(config: dict) -> Outcome:
    pairs = [(K, r) for K, r in config["pairs"]]
    curves = {pair: ratio_curves(*pair, config["d_max"]) for pair in pairs}
    cross = T.dimension_crossing(10, 5)
    measured = [measure(*size, config["lam"], config["zero_rtol"]) for size in config["sizes"]]
    metrics = {"crossing_K10_r5": [cross.lower, cross.upper]}
    claims = judge_measured(measured) + judge(curves, metrics["crossing_K10_r5"])
    return Outcome(claims=claims, figures={"dimension_ratio": draw(curves, measured)}, metrics=metrics,
                   tables={"measured": measured})


def ratio_curves(K: int, r: int, d_max: int) -> dict:
    """R(d) for d = K..d_max with C(r) = r(r+1)/2 (``low``) and r^2 (``high``), and its bounds at d = 1e7."""
    ds = list(range(K, d_max + 1))
    far = T.dimension_ratio(K, r, FAR, C="both")
    return {"ds": ds, "low": T.dimension_ratio(K, r, ds, C="low"), "high": T.dimension_ratio(K, r, ds, C="high"),
            "far": [far.lower, far.upper], "limit": (K - 1) / r}


def _increasing(xs: list[float]) -> bool:
    return all(b > a for a, b in zip(xs, xs[1:]))


# ---------------------------------------------------------------------------- measured dimensions
def orbit_rank(H: torch.Tensor, W: tuple[torch.Tensor, ...]) -> int:
    """Dimension of the O(d)^L orbit through (H_1, W_1..W_L) (one seed): the rank of its infinitesimal action.

    Q_0 acts on H_1's output and W_1's input, Q_l (l < L) on W_l's output and W_{l+1}'s input; Z is fixed.
    A generator A of so(d) at layer l moves H_1 by A H_1 (l = 0), W_l by A W_l and W_{l+1} by -W_{l+1} A.
    """
    H, W = H[0], [w[0] for w in W]
    d, L = H.shape[0], len(W)
    cols = []
    for l in range(L):
        for i in range(d):
            for j in range(i + 1, d):
                A = torch.zeros(d, d, dtype=torch.float64)
                A[i, j], A[j, i] = 1.0, -1.0
                moves = [A @ H if l == 0 else torch.zeros_like(H)] + [torch.zeros_like(w) for w in W]
                if l > 0:
                    moves[l] = A @ W[l - 1]
                moves[l + 1] = moves[l + 1] - W[l] @ A
                cols.append(torch.cat([m.reshape(-1) for m in moves]))
    return int(torch.linalg.matrix_rank(torch.stack(cols, 1), rtol=1e-10))


def measure(K: int, n: int, d: int, L: int, lam: float, zero_rtol: float) -> dict:
    """Zero Hessian eigenvalues and orbit rank at the DNC and block critical points of one size, with GK's formulas."""
    row = {"K": K, "n": n, "d": d, "L": L, "r": K // 2}
    for kind, make in (("dnc", T.dnc_critical_point), ("low_rank", T.low_rank_critical_point)):
        cp = make(K, n, d, L, lam, rotate=False)
        f, theta = T.flat_objective(cp.spec, cp.params)
        ev = torch.linalg.eigvalsh(T.dense_hessian(f, theta)).numpy()
        scale = float(np.abs(ev).max())
        row[kind] = T.near_zero_count(ev, atol=zero_rtol * scale)
        row[f"{kind}_counts_1e-10_1e-6"] = [T.near_zero_count(ev, atol=t * scale) for t in (1e-10, 1e-6)]
        row[f"{kind}_orbit"] = orbit_rank(cp.params.H, cp.params.W)
        row[f"{kind}_grad"] = float(torch.func.grad(f)(theta).norm())
    band = T.low_rank_dimension(K // 2, d, L, K)
    row.update(dnc_formula=T.dnc_dimension(K, d, L), low_rank_formula=[band.lower, band.upper],
               ratio=row["dnc"] / row["low_rank"])
    return row


def _stiefel_note(rows: list[dict]) -> str:
    """Whether the measured DNC counts are the Stiefel count L(K-1)(d - K/2) instead of GK's formula."""
    if all(2 * r["dnc"] == r["L"] * (r["K"] - 1) * (2 * r["d"] - r["K"]) for r in rows):
        return ("every measured count is L(K-1)(d - K/2) = L(rd - r(r+1)/2) with r = K-1, the dimension of the "
                "O(d)ᴸ orbit (the orbit rank agrees: check orbit_is_null_space)")
    return "the measured counts follow neither formula"


def judge_measured(rows: list[dict]) -> list[Claim]:
    """Theorem 5 against the measured dimensions, and the checks that the measurement is sound."""
    at = lambda r: f"K={r['K']},d={r['d']},L={r['L']}"  # noqa: E731
    dnc = {at(r): [r["dnc"], r["dnc_formula"]] for r in rows}
    low = {at(r): [r["low_rank"], *r["low_rank_formula"]] for r in rows}
    at_K = {at(r): r["ratio"] for r in rows if r["d"] == r["K"]}
    groups: dict[tuple, list] = {}
    for r in sorted(rows, key=lambda r: r["d"]):
        groups.setdefault((r["K"], r["L"]), []).append(r["ratio"])
    trend = {f"K={K},L={L}": v for (K, L), v in groups.items() if len(v) >= 2}
    sound = {at(r): [r["dnc"], r["dnc_orbit"], *r["dnc_counts_1e-10_1e-6"], r["low_rank"], r["low_rank_orbit"],
                     *r["low_rank_counts_1e-10_1e-6"]] for r in rows}
    grad = max(max(r["dnc_grad"], r["low_rank_grad"]) for r in rows)
    src, how = f"{SRC}, Theorem 5", "zero eigenvalues of the engine's dense Hessian at the constructed critical point"
    return [
        Claim("dnc_dimension_measured", "The set of DNC solutions has dimension D_DNC = L(K-1)(d-K+1).", src,
              f"measured ({how}) = formula at every size", dnc, all(m == f for m, f in dnc.values()), rule="exact",
              note="[measured, formula] per size; " + _stiefel_note(rows)),
        Claim("low_rank_dimension_measured", "The set of rank-r solutions has dimension L(rd - C(r)) with "
              "r(r+1)/2 ≤ C(r) ≤ r² (GK's block point, r = K/2).", src,
              f"measured ({how}) within [L(rd - r²), L(rd - r(r+1)/2)] at every size", low,
              all(lo <= m <= hi for m, lo, hi in low.values()), rule="exact", note="[measured, lower, upper] per size"),
        Claim("below_one_at_K_measured", "At d = K the DNC solution set has lower dimension than the low-rank one "
              "(R(K) < 1).", src, "measured D_DNC / D_Z* < 1 at every size with d = K", at_K,
              bool(at_K) and all(v < 1 for v in at_K.values()), rule="magnitude"),
        Claim("increasing_measured", "R(d) = D_DNC / D_Z* increases with the width d.", src,
              "measured ratio strictly increasing in d for each (K, L) with ≥ 2 widths", trend,
              bool(trend) and all(_increasing(v) for v in trend.values()), rule="direction"),
        Claim("orbit_is_null_space", "The Hessian's null space is the tangent of the O(d)ᴸ orbit (so its dimension "
              "is that of the solution set), and the zero count does not depend on the threshold.", "nclab cross-check",
              "zero count = orbit rank = counts at rtol 1e-10 and 1e-6, at both points of every size", sound,
              all(len(set(v[:4])) == 1 and len(set(v[4:])) == 1 for v in sound.values()), kind="check"),
        Claim("critical_points", "The constructed points are critical points of the engine's objective.",
              "nclab cross-check", "max gradient norm ≤ 1e-10", grad, grad <= 1e-10, kind="check"),
    ]


def judge(curves: dict, crossing: list[float]) -> list[Claim]:
    """Checks of the formula's own properties: R(K) < 1, R increasing, R -> (K-1)/r, the K = 10, r = 5 crossing."""
    at_K = {f"{K},{r}": c["high"][0] for (K, r), c in curves.items()}
    monotone = all(_increasing(c["low"]) and _increasing(c["high"]) for c in curves.values())
    limits = {f"{K},{r}": [*c["far"], c["limit"]] for (K, r), c in curves.items()}
    close = all(abs(v[0] - v[2]) < 1e-5 * v[2] and abs(v[1] - v[2]) < 1e-5 * v[2] for v in limits.values())
    src = f"{SRC}, Theorem 5 (the formula)"
    return [
        Claim("below_one_at_K", "GK's formula gives R(K) < 1 at d = K.", src, "max R(K) < 1", at_K,
              max(at_K.values()) < 1, kind="check"),
        Claim("increasing", "GK's formula R(d) increases with the width d.", src, "strictly increasing on K ≤ d ≤ d_max",
              monotone, monotone, kind="check"),
        Claim("limit", "GK's formula R(d) tends to (K-1)/r > 1 as d grows.", src, "R(1e7) within 1e-5 of (K-1)/r",
              limits, close, kind="check"),
        Claim("crossing_K10_r5", "For K = 10 and r = 5, GK's formula R(d) crosses 1 between d = 14 and d = 16.5.",
              f"{src}, docs/math.md §6.12", "crossing in [14, 16.5]", crossing, crossing[0] == 14.0 and crossing[1] == 16.5,
              kind="check"),
    ]


def draw(curves: dict, measured: list[dict] | None = None) -> Figure:
    """R(d) against the width: a band per (K, r) from GK's formula, its limit dotted, 1 solid; measured ratios as dots."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for i, ((K, r), c) in enumerate(curves.items()):
        ax.fill_between(c["ds"], c["low"], c["high"], color=f"C{i}", alpha=0.3)
        ax.plot(c["ds"], c["high"], color=f"C{i}", label=f"$K={K}$, $r={r}$ (formula)")
        ax.axhline(c["limit"], color=f"C{i}", ls=":", lw=0.8,
                   label="limit $(K-1)/r$ as $d \\to \\infty$ (dotted, one per curve)" if i == 0 else None)
    for j, m in enumerate(measured or []):
        ax.plot([m["d"]], [m["ratio"]], "kx" if m["L"] == 2 else "k+", ms=6,
                label="measured (Hessian), $L=2$ x, $L=3$ +" if j == 0 else None)
    ax.axhline(1.0, color="k", lw=0.8, label="$R = 1$: $D_{DNC} = D_{Z^*}$")
    ax.set_xscale("log")
    ax.set_xlabel("width $d$")
    ax.set_ylabel(r"$R(d) = D_{DNC} / D_{Z^*}$")
    ax.set_title("Theorem 5 (band: $r(r+1)/2 \\leq C(r) \\leq r^2$; dotted: $(K-1)/r$)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
