"""GK Theorem 5: DNC occupies more of the landscape as the width grows.

Registered as ``garrod2025-dimension``: for each (K, r), the ratio R(d) = D_DNC / D_Z* of the
dimensions of the DNC and rank-r solution sets over the widths K..d_max (a band: the count C(r)
lies between r(r+1)/2 and r^2), its limit (K-1)/r and MATH.md's crossing for K = 10, r = 5.
Everything is closed form (no seed).
"""
from __future__ import annotations

from matplotlib.figure import Figure

from nclab import theory as T
from nclab.config import Int, ListOf, Param, refuse
from nclab.experiments.garrod2025._paper import PAPER, SRC
from nclab.experiments.registry import Claim, Outcome, register

NAME = "garrod2025-dimension"

DESC = (
    "Theorem 5: the dimension of the set of DNC solutions, D_DNC = L(K-1)(d-K+1), grows faster with the "
    "width d than that of a rank-r solution, D_Z* = L(rd - C(r)) with r(r+1)/2 <= C(r) <= r^2; their ratio "
    "R(d) increases in d, is below 1 at d = K and tends to (K-1)/r."
)

PARAMS = {
    "pairs": Param([[10, 5], [10, 2], [6, 3], [16, 8]], ListOf(ListOf(Int(minimum=1), length=2), unique=True),
                   "[K, r] pairs: number of classes K and rank r of the low-rank solution (1 <= r < K - 1)"),
    "d_max": Param(200, Int(minimum=5), "largest width d of the curves (at least K + 2 for every pair)"),
}

#: Width at which R(d) stands for its limit.
FAR = 10 ** 7


def check_config(config: dict) -> None:
    """The cross-key checks: ``1 <= r < K - 1`` in every pair (a low-rank solution), ``d_max >= K + 2``."""
    pairs = [(K, r) for K, r in config["pairs"]]
    if any(not r < K - 1 for K, r in pairs):
        refuse(f"experiment {NAME!r}", "pairs", config["pairs"], "a list of [K, r] pairs with 1 <= r < K - 1 (a low-rank solution)")
    K_max = max(K for K, _ in pairs)
    if config["d_max"] < K_max + 2:
        refuse(f"experiment {NAME!r}", "d_max", config["d_max"], f">= {K_max + 2}, the largest K of pairs + 2 (at least 3 widths per pair)")


@register(NAME, paper=PAPER, title="Theorem 5: DNC occupies more of the landscape as the width grows",
          description=DESC, defaults=PARAMS, quick={}, check=check_config)
def dimension(config: dict) -> Outcome:
    pairs = [(K, r) for K, r in config["pairs"]]
    curves = {pair: ratio_curves(*pair, config["d_max"]) for pair in pairs}
    cross = T.dimension_crossing(10, 5)
    metrics = {"crossing_K10_r5": [cross.lower, cross.upper]}
    return Outcome(claims=judge(curves, metrics["crossing_K10_r5"]), figures={"dimension_ratio": draw(curves)},
                   metrics=metrics)


def ratio_curves(K: int, r: int, d_max: int) -> dict:
    """R(d) for d = K..d_max with C(r) = r(r+1)/2 (``low``) and r^2 (``high``), and its bounds at d = 1e7."""
    ds = list(range(K, d_max + 1))
    far = T.dimension_ratio(K, r, FAR, C="both")
    return {"ds": ds, "low": T.dimension_ratio(K, r, ds, C="low"), "high": T.dimension_ratio(K, r, ds, C="high"),
            "far": [far.lower, far.upper], "limit": (K - 1) / r}


def _increasing(xs: list[float]) -> bool:
    return all(b > a for a, b in zip(xs, xs[1:]))


def judge(curves: dict, crossing: list[float]) -> list[Claim]:
    """The claims of Theorem 5: R(K) < 1, R increasing, R -> (K-1)/r, and the K = 10, r = 5 crossing."""
    at_K = {f"{K},{r}": c["high"][0] for (K, r), c in curves.items()}
    monotone = all(_increasing(c["low"]) and _increasing(c["high"]) for c in curves.values())
    limits = {f"{K},{r}": [*c["far"], c["limit"]] for (K, r), c in curves.items()}
    close = all(abs(v[0] - v[2]) < 1e-5 * v[2] and abs(v[1] - v[2]) < 1e-5 * v[2] for v in limits.values())
    return [
        Claim("below_one_at_K", "At d = K the DNC solution set has lower dimension than the low-rank one (R(K) < 1).",
              f"{SRC}, Theorem 5", "max R(K) < 1", at_K, max(at_K.values()) < 1),
        Claim("increasing", "R(d) increases with the width d.", f"{SRC}, Theorem 5", "strictly increasing on K..d_max",
              monotone, monotone),
        Claim("limit", "R(d) tends to (K-1)/r > 1 as d grows.", f"{SRC}, Theorem 5", "R(1e7) within 1e-5 of (K-1)/r",
              limits, close),
        Claim("crossing_K10_r5", "For K = 10 and r = 5, R(d) crosses 1 between d = 14 and d = 16.5.",
              f"{SRC}, Theorem 5 (MATH.md)", "crossing in [14, 16.5]", crossing,
              crossing[0] == 14.0 and crossing[1] == 16.5),
    ]


def draw(curves: dict) -> Figure:
    """R(d) against the width: a band per (K, r), its limit dotted, 1 solid."""
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for i, ((K, r), c) in enumerate(curves.items()):
        ax.fill_between(c["ds"], c["low"], c["high"], color=f"C{i}", alpha=0.3)
        ax.plot(c["ds"], c["high"], color=f"C{i}", label=f"$K={K}$, $r={r}$")
        ax.axhline(c["limit"], color=f"C{i}", ls=":", lw=0.8)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("width $d$")
    ax.set_ylabel(r"$R(d) = D_{DNC} / D_{Z^*}$")
    ax.set_title("Theorem 5 (band: $r(r+1)/2 \\leq C(r) \\leq r^2$; dotted: $(K-1)/r$)")
    ax.legend()
    fig.tight_layout()
    return fig
