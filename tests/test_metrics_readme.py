"""The README's metrics table is complete and its *streams* column is what the accumulators do.

Every key ``collapse(X, y, W, b, extra="all", ood_features=...)`` can return (the default keys of
:data:`nclab.metrics.KEYS` and every key of :data:`nclab.metrics.EXTRA_KEYS`) has a row, no row
names a key that does not exist, and for each row the accumulators accept or refuse it exactly
as the column says: ``pass 1`` from a plain ``StreamingStats``, ``pass 2`` only with an
``NCCCounter``, ``class_projection=`` only with per-class moments, and ``not ProjectedStats``
refused by the two-pass accumulator.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from nclab.metrics import EXTRA_KEYS, KEYS, ProjectedStats, StreamingStats, collapse

README = Path(__file__).resolve().parents[1] / "README.md"
HEADER = "| key | `extra=` | measures | source | streams |"


def table() -> list[dict]:
    """The rows of the metrics table: keys, the extra= name (None for default) and streams cell."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 5, line
        extra = None if cells[1] == "default" else re.fullmatch(r"`(\w+)`", cells[1]).group(1)
        rows.append({"keys": re.findall(r"`(\w+)`", cells[0]), "extra": extra, "streams": cells[4]})
    return rows


def data(K=4, d=6, N=40):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N) % K
    X = 3.0 * torch.randn(K, d, generator=g, dtype=torch.float64)[y] + torch.randn(N, d, generator=g, dtype=torch.float64)
    W = torch.randn(K, d, generator=g, dtype=torch.float64)
    b = torch.randn(K, generator=g, dtype=torch.float64)
    return X, y, W, b, torch.randn(7, d, generator=g, dtype=torch.float64)


def test_every_key_has_one_row_and_every_row_a_key():
    rows = table()
    listed = [k for r in rows for k in r["keys"]]
    assert len(listed) == len(set(listed))
    X, y, W, b, ood = data()
    produced = set(collapse(X, y, W, b, extra="all", ood_features=ood))
    every = set(KEYS) | {k for keys in EXTRA_KEYS.values() for k in keys}
    assert produced == every
    assert set(listed) == every
    for r in rows:
        if r["extra"] is None:
            assert set(r["keys"]) <= set(KEYS), r
        else:
            assert tuple(r["keys"]) == EXTRA_KEYS[r["extra"]], r
    assert {r["extra"] for r in rows} - {None} == set(EXTRA_KEYS)


def _accepts(acc, W, b, ncc, keys, extra, ood):
    try:
        out = acc.collapse(W, b, ncc=ncc, extra=None if extra is None else [extra], ood_features=ood)
    except ValueError:
        return False
    return set(keys) <= set(out)


def test_streams_column_is_what_the_accumulators_accept():
    X, y, W, b, ood = data()
    K, d = 4, X.shape[1]
    plain = StreamingStats(K, d).update(X[:15], y[:15]).update(X[15:], y[15:])
    moments = StreamingStats(K, d, class_projection="identity").update(X[:15], y[:15]).update(X[15:], y[15:])
    projected = ProjectedStats(K, d).update(X[:15], y[:15]).update(X[15:], y[15:]).begin_pass2()
    counters = {}
    for name, acc in (("plain", plain), ("moments", moments), ("projected", projected)):
        counters[name] = acc.ncc_counter(W, b).update(X, y)
    projected.update_residuals(X, y)
    for r in table():
        cell = r["streams"]
        pass2 = cell.startswith("pass 2")
        needs_moments = "class_projection" in cell
        assert cell in ("pass 1", "pass 2", "pass 1, not ProjectedStats", "`class_projection=`"), cell
        ood_ = ood if r["extra"] == "nc5_ood_orthogonality" else None
        seen = {
            "plain, no counter": _accepts(plain, W, b, None, r["keys"], r["extra"], ood_),
            "plain, counter": _accepts(plain, W, b, counters["plain"], r["keys"], r["extra"], ood_),
            "moments, counter": _accepts(moments, W, b, counters["moments"], r["keys"], r["extra"], ood_),
            "projected, counter": _accepts(projected, W, b, counters["projected"], r["keys"], r["extra"], ood_),
        }
        expected = {
            "plain, no counter": not pass2 and not needs_moments,
            "plain, counter": not needs_moments,
            "moments, counter": True,
            "projected, counter": not needs_moments and "not ProjectedStats" not in cell,
        }
        assert seen == expected, (r["keys"], cell)


@pytest.mark.parametrize("extra", sorted(EXTRA_KEYS))
def test_each_extra_name_is_documented_in_math_md(extra):
    """The table's rows point to functions documented in docs/math.md (their ``Code:`` lines)."""
    import nclab.metrics as m

    text = (README.parent / "docs" / "math.md").read_text(encoding="utf-8")
    function = {"kernel_distance": "hyperspherical_uniformity", "kernel_log": "hyperspherical_uniformity",
                "kernel_riesz": "hyperspherical_uniformity", "nc5_ood_orthogonality": "ood_orthogonality"}.get(extra, extra)
    assert hasattr(m, function)
    assert f"nclab.metrics.{function}" in text or f"`{function}`" in text
