"""The coverage map: every theorem, lemma, corollary, figure and table of a paper, and what checks it.

Each paper package declares ``COVERAGE``, a tuple of :class:`Item`: the paper's reference
("Theorem 5", "Figure 2 (left)"), its statement in a line, and either the claims that cover
it (``"experiment/claim_id"``) or the reason it is not covered (needs CIFAR-10 on disk, needs a
GPU, not implemented yet). An item known only by reference, because the paper's full text was
not available to us, is declared with ``known=False`` and listed as such.

:func:`coverage_rows` resolves the items against a reproduction's results: an item is
``reproduced`` when all its claims passed, ``not reproduced`` when one failed, ``not run`` when
its experiments are not in the results, ``not covered`` (with the reason) or ``unknown``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Iterable, Mapping

#: The statuses of a resolved item, in the order the page lists them.
STATUSES = ("reproduced", "not reproduced", "not run", "not covered", "unknown")


@dataclass(frozen=True)
class Item:
    """One numbered result or figure of a paper and the claims that cover it."""

    ref: str
    statement: str
    claims: tuple[str, ...] = ()
    reason: str = ""
    known: bool = True

    def __post_init__(self) -> None:
        if not self.claims and not self.reason:
            raise ValueError(f"coverage item {self.ref!r} needs claims or a reason why it is not covered")
        for c in self.claims:
            if c.count("/") != 1:
                raise ValueError(f"coverage item {self.ref!r}: claim {c!r} must be 'experiment/claim_id'")


def paper_coverage(paper: str) -> tuple[Item, ...]:
    """The ``COVERAGE`` of paper package ``paper`` (``()`` for a paper that declares none)."""
    module = importlib.import_module(f"nclab.experiments.{paper}")
    return tuple(getattr(module, "COVERAGE", ()))


def coverage_rows(items: Iterable[Item], entries: Iterable[Mapping]) -> list[dict]:
    """Resolve ``items`` against result entries (``results.json``'s experiments): one row per item."""
    verdicts: dict[str, bool] = {}
    ran: set[str] = set()
    for e in entries:
        if e.get("status", "ok") == "ok":
            ran.add(str(e.get("experiment")))
            for c in e.get("claims", []):
                verdicts[f"{e.get('experiment')}/{c.get('id')}"] = bool(c.get("passed"))
    rows = []
    for item in items:
        found = {c: verdicts[c] for c in item.claims if c in verdicts}
        missing = [c for c in item.claims if c not in verdicts]
        if not item.known:
            status = "unknown"
        elif not item.claims:
            status = "not covered"
        elif any(not v for v in found.values()):
            status = "not reproduced"
        elif missing:
            status = "not run"
        else:
            status = "reproduced"
        rows.append({"ref": item.ref, "statement": item.statement, "status": status, "claims": list(item.claims),
                     "failed": [c for c, v in found.items() if not v], "missing": missing, "reason": item.reason})
    return rows


def coverage_report(papers: Iterable[str], entries: Iterable[Mapping]) -> dict[str, list[dict]]:
    """``{paper: coverage rows}`` for every paper package in ``papers``."""
    entries = list(entries)
    return {p: coverage_rows(paper_coverage(p), [e for e in entries if e.get("paper") == p]) for p in papers}


def uncovered_count(rows: Iterable[Mapping]) -> int:
    """How many items of a paper are not covered by any claim (``not covered`` or ``unknown``)."""
    return sum(r["status"] in ("not covered", "unknown") for r in rows)
