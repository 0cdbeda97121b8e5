"""Run times measured at release: the estimate of last resort (:mod:`nclab.report.estimate`).

``QUICK`` holds each experiment's seconds in the quick profile, measured by ``nclab reproduce
--quick`` on 2 CPU cores, one thread (OMP_NUM_THREADS=1), with other jobs on the machine (load
about 4), so a quiet machine is faster. Re-measure with ``nclab reproduce --quick`` and copy
``seconds`` of each experiment of ``results.json``.
"""

#: Where and how :data:`QUICK` was measured (shown beside every estimate taken from it).
WHERE = "at release, quick profile, 2 CPU cores, 2026-12-02"

#: garrod2025-real-head is scaled, not measured: its ReLU head run (2026-12-03) costs about 0.69 of
#: the two linear runs together (1087 s against 644 s on a loaded machine), so 20.0 s -> 34 s.

#: Total of one ``nclab reproduce --quick`` at that measurement, seconds.
QUICK_TOTAL_S = 188.5 + 16.2 + 14.0 + 4.8  # the later ones measured apart: + the ReLU head run, + garrod2025-theorem7 (2026-12-03, load 1.8)

QUICK: dict[str, float] = {
    "mixon2022-fig1": 0.4, "mixon2022-fig2": 0.3, "mixon2022-subspace": 0.5,
    "tirer2023-depthwise": 0.4, "tirer2023-first-order": 1.6, "tirer2023-flow": 0.6,
    "tirer2023-layerwise": 23.8, "tirer2023-minimizer": 2.8, "tirer2023-spectra": 0.2,
    "tirer2023-threshold": 11.4, "tirer2023-weight-decay": 69.4,
    "garrod2025-dimension": 0.5, "garrod2025-fig1": 1.1, "garrod2025-hessian": 0.8,
    "garrod2025-lambda": 4.1, "garrod2025-real-head": 34.0, "garrod2025-relu": 4.1,
    "garrod2025-sukenik": 13.1, "garrod2025-theorem1": 2.0, "garrod2025-width": 6.2,
    "garrod2025-lambda-hessian": 3.8, "garrod2025-theorem2": 0.8, "garrod2025-theorem3": 10.6,
    "garrod2025-theorem7": 4.8,
    "papyan-terminal-phase": 10.5,
}
