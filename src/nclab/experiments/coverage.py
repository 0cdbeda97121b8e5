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
    """One numbered result or figure of a paper and the claims that cover it.

    Parameters
    ----------
    ref : str
        The paper's reference ("Theorem 5", "Figure 2 (left)").
    statement : str
        The statement in a line.
    claims : tuple of str, optional
        The claims that cover it, each ``"experiment/claim_id"``.
    reason : str, optional
        Why it is not covered (when there are no claims).
    known : bool, optional
        False for an item known only by reference.

    Raises
    ------
    ValueError
        If there are neither claims nor a reason, or a claim is not ``"experiment/claim_id"``.

    Examples
    --------
    >>> Item("Theorem 1", "DNC is optimal.", claims=("exp/claim",)).claims
    ('exp/claim',)
    >>> Item("Figure 3", "CIFAR-10 curves.")
    Traceback (most recent call last):
    ...
    ValueError: coverage item 'Figure 3' needs claims or a reason why it is not covered
    """

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
    """The ``COVERAGE`` of paper package ``paper`` (``()`` for a paper that declares none).

    Parameters
    ----------
    paper : str
        A package of :mod:`nclab.experiments` (e.g. ``"garrod2025"``).

    Returns
    -------
    tuple of Item
        The paper's items.

    Raises
    ------
    ModuleNotFoundError
        If there is no such paper package.

    Examples
    --------
    >>> paper_coverage("garrod2025")[0].ref
    'Theorem 1'
    """
    module = importlib.import_module(f"nclab.experiments.{paper}")
    return tuple(getattr(module, "COVERAGE", ()))


def coverage_rows(items: Iterable[Item], entries: Iterable[Mapping]) -> list[dict]:
    """Resolve ``items`` against result entries (``results.json``'s experiments): one row per item.

    Parameters
    ----------
    items : iterable of Item
        The items.
    entries : iterable of mapping
        Result entries with ``experiment``, ``status`` and ``claims`` (each with ``id`` and
        ``passed``).

    Returns
    -------
    list of dict
        Keys ``ref``, ``statement``, ``status`` (one of :data:`STATUSES`), ``claims``,
        ``failed``, ``missing``, ``reason``.

    Examples
    --------
    >>> items = [Item("Thm 1", "s", claims=("e/a",)), Item("Fig 2", "s", reason="needs a GPU")]
    >>> entries = [{"experiment": "e", "claims": [{"id": "a", "passed": True}]}]
    >>> [r["status"] for r in coverage_rows(items, entries)]
    ['reproduced', 'not covered']
    """
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
    """``{paper: coverage rows}`` for every paper package in ``papers``.

    Parameters
    ----------
    papers : iterable of str
        Paper packages.
    entries : iterable of mapping
        Result entries, each with its ``paper``.

    Returns
    -------
    dict of str to list of dict
        :func:`coverage_rows` per paper.

    Examples
    --------
    >>> rows = coverage_report(["garrod2025"], [])["garrod2025"]
    >>> rows[0]["ref"], rows[0]["status"] in STATUSES
    ('Theorem 1', True)
    """
    entries = list(entries)
    return {p: coverage_rows(paper_coverage(p), [e for e in entries if e.get("paper") == p]) for p in papers}


def uncovered_count(rows: Iterable[Mapping]) -> int:
    """How many items of a paper are not covered by any claim (``not covered`` or ``unknown``).

    Parameters
    ----------
    rows : iterable of mapping
        Rows of :func:`coverage_rows`.

    Returns
    -------
    int
        The count.

    Examples
    --------
    >>> uncovered_count([{"status": "not covered"}, {"status": "reproduced"}, {"status": "unknown"}])
    2
    """
    return sum(r["status"] in ("not covered", "unknown") for r in rows)
