"""The experiment registry: every paper reproduction is a registered function of a config.

An experiment is a function ``func(config: dict) -> Outcome``. The registry merges the
config (defaults <- quick profile unless ``quick=False`` <- user overrides), rejects unknown keys, times the
run, and wraps the outcome into an :class:`ExperimentResult`, whose JSON form is the stable
interface described in docs/design.md: ``experiment``, ``config``, ``claims``, ``figures``, ``metrics``,
``seconds``. A claim that does not reproduce is kept with ``passed: false``, never dropped.

Every experiment receives the key ``device`` (default ``"cpu"``) in its config.
"""
from __future__ import annotations

import importlib
import time
import traceback
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from nclab._json import dumps, non_finite, to_jsonable
from nclab import _progress
from nclab._validation import fail
from nclab.config import Param, Text, as_table, validate

#: The paper packages; each package's ``MODULES`` lists its experiment modules (one per figure or
#: theorem), whose ``@register`` decorators add the experiments when the package is imported.
PAPER_PACKAGES = (
    "nclab.experiments.mixon2022",
    "nclab.experiments.tirer2023",
    "nclab.experiments.garrod2025",
    "nclab.experiments.papyan2020",
)

#: Paper keys, in report order, with their citations.
PAPERS = {
    "mixon2022": "Mixon, Parshall, Pi. Neural collapse with unconstrained features. SampTA 2022 (arXiv 2011.11619)",
    "tirer2023": "Tirer, Huang, Niles-Weed. Perturbation analysis of neural collapse. ICML 2023 (arXiv 2210.16658)",
    "garrod2025": "Garrod, Keating. The persistence of neural collapse despite low-rank bias. NeurIPS 2025 (arXiv 2410.23169)",
    "papyan2020": "Papyan, Han, Donoho. Prevalence of neural collapse during the terminal phase of deep learning training. PNAS 2020 (arXiv 2008.08186)",
}


#: A claim states a paper's result; a check is a solver sanity check (a gradient norm, Lanczos vs
#: dense) reported apart and never counted as a reproduced result.
CLAIM_KINDS = ("claim", "check")


@dataclass
class Claim:
    """One checked statement of a paper (``kind="claim"``) or a sanity check of ours (``"check"``).

    ``text`` is the paper's statement in a sentence, ``source`` the paper and theorem/figure,
    ``expected`` the rule checked (a short string such as ``"< 1e-3"`` or ``"lower end of the 95%
    interval >= 0.8"``), ``measured`` the measured value (JSON-able), ``passed`` the verdict.
    ``note`` is an optional remark (why it failed, which open choice was made, what power the
    quick profile lacks); the JSON form (:meth:`to_dict`) adds one when ``measured`` holds NaN
    or +-inf, which JSON writes as ``null``. A claim over random seeds carries ``n_seeds``,
    ``estimate`` and its 95% ``interval`` (see :mod:`nclab.experiments.rules`); ``rule`` names
    the rule type (magnitude, direction, rate, trend, exact).
    """

    id: str
    text: str
    source: str
    expected: str
    measured: Any
    passed: bool
    note: str = ""
    kind: str = "claim"
    rule: str = ""
    n_seeds: int | None = None
    estimate: float | None = None
    interval: list[float] | None = None

    @classmethod
    def decided(cls, id: str, text: str, source: str, verdict: Any, measured: Any = None, *, note: str = "",
                kind: str = "claim", n_seeds: int | None = None) -> "Claim":
        """A claim decided by a :class:`nclab.experiments.rules.Verdict`: its rule, estimate and interval.

        ``n_seeds`` defaults to the estimate's count for estimates over seeds (Wilson, t);
        ``measured`` defaults to the estimate.
        """
        est = verdict.estimate
        if n_seeds is None and est is not None and est.method in ("wilson", "t"):
            n_seeds = est.n
        return cls(id, text, source, verdict.expected, est.value if measured is None and est is not None else measured,
                   bool(verdict.passed), note, kind, verdict.rule, n_seeds,
                   None if est is None else est.value, None if est is None else [est.low, est.high])

    def to_dict(self) -> dict:
        note = self.note
        kinds = non_finite(self.measured)
        if kinds:
            remark = f"measured value had {'/'.join(kinds)} (written as null)"
            note = f"{note}; {remark}" if note and remark not in note else (note or remark)
        out = {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "expected": self.expected,
            "measured": to_jsonable(self.measured),
            "passed": bool(self.passed),
            "kind": self.kind,
        }
        if note:
            out["note"] = note
        for key in ("rule", "n_seeds", "estimate", "interval"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = to_jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "Claim":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Outcome:
    """What an experiment function returns.

    ``figures`` maps a short file stem to a ``matplotlib.figure.Figure`` (create figures with
    ``matplotlib.figure.Figure()``, never pyplot: no global state). ``metrics`` holds named
    numbers; ``tables`` holds small tables as lists of row dicts (shown in the report);
    ``notes`` are sentences for the reader (e.g. why a claim failed). ``claims`` holds the
    paper's claims and our sanity checks alike; their ``kind`` sorts them into the result's
    ``claims`` and ``checks``.
    """

    claims: list[Claim] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ExperimentResult:
    """The result of one experiment run; ``to_dict()`` is the JSON of ``nclab run --json``.

    ``profile``: the profile the config started from (``"quick"`` or ``"full"``, before any
    overrides), as :func:`run` sets it; ``None`` when unknown (left out of the JSON).
    """

    experiment: str
    paper: str
    title: str
    description: str
    config: dict
    claims: list[Claim]
    figures: list[str]
    metrics: dict
    tables: dict
    notes: list[str]
    seconds: float
    checks: list[Claim] = field(default_factory=list)
    figure_objects: dict = field(default_factory=dict, repr=False)
    profile: str | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        return {
            "experiment": self.experiment,
            "paper": self.paper,
            "title": self.title,
            "description": self.description,
            "config": to_jsonable(self.config),
            "claims": [c.to_dict() for c in self.claims],
            "checks": [c.to_dict() for c in self.checks],
            "figures": list(self.figures),
            "metrics": to_jsonable(self.metrics),
            "tables": to_jsonable(self.tables),
            "notes": [str(n) for n in self.notes],
            "seconds": to_jsonable(self.seconds),
            **({"profile": self.profile} if self.profile is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "ExperimentResult":
        return cls(
            experiment=data["experiment"],
            paper=data.get("paper", ""),
            title=data.get("title", data["experiment"]),
            description=data.get("description", ""),
            config=dict(data.get("config", {})),
            claims=[Claim.from_dict(c) for c in data.get("claims", [])],
            checks=[Claim.from_dict(c) for c in data.get("checks", [])],
            figures=list(data.get("figures", [])),
            metrics=dict(data.get("metrics", {})),
            tables=dict(data.get("tables", {})),
            notes=list(data.get("notes", [])),
            seconds=float(data.get("seconds", 0.0)),
            profile=data.get("profile"),
        )

    def save(self, out: str | Path) -> Path:
        """Write ``out/result.json`` and the figures as PNG beside it; return the JSON path.

        Files are written under temporary names and renamed, so an interrupted save leaves
        no half-written result.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        names = []
        for stem, fig in self.figure_objects.items():
            name = f"{stem}.png"
            tmp = out / f".{name}.tmp"
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
            tmp.replace(out / name)
            names.append(name)
        if names:
            self.figures = names
        path = out / "result.json"
        tmp = out / ".result.json.tmp"
        tmp.write_text(dumps(self.to_dict(), indent=2))
        tmp.replace(path)
        return path


#: The key every experiment has: the torch device it runs on.
DEVICE = Param("cpu", Text(), "torch device: cpu, cuda, cuda:1")


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its function, paper, description, config table and quick profile.

    ``params`` is the config table (:mod:`nclab.config`): every key with its default (the
    paper-scale profile, ``--full``) and what it allows. ``quick`` overrides some defaults: the quick
    profile, the default of :meth:`config`, :func:`run` and the CLI.
    ``grid`` (a :class:`nclab.experiments.sweeps.Grid`) is set for the multi-seed experiments,
    which run their grid of (config, seed) units through the sweep engine; ``seed_key`` names the
    key through which a sweep's seed reaches a single-shot experiment (``None``: deterministic);
    ``check`` runs the cross-key checks on a validated config.
    """

    name: str
    paper: str
    title: str
    description: str
    func: Callable[[dict], Outcome]
    params: Mapping[str, Param]
    quick: Mapping[str, Any]
    grid: Any = None
    seed_key: str | None = None
    check: Callable[[dict], None] | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """``{key: default}`` of the full profile (``device`` excluded)."""
        return {k: p.default for k, p in self.params.items() if k != "device"}

    def config(self, quick: bool = True, **overrides: Any) -> dict:
        """The full validated config: defaults <- quick profile (unless ``quick=False``) <- overrides.

        Parameters
        ----------
        quick : bool, default True
            Start from the quick profile (the default everywhere in nclab: ``nclab run``,
            ``nclab reproduce``, ``nclab sweep``, :func:`run`); ``False`` starts from the
            table's defaults, the papers' scale (``--full``).
        **overrides
            Config keys to change.

        Returns
        -------
        dict
            Every key of the table (``device`` included) with its validated value.

        Raises
        ------
        nclab.config.ParameterTypeError
            A value of the wrong type (a ``TypeError``), naming the key.
        ValueError
            An unknown key, a value outside what the key allows, or a failed cross-key check,
            naming the key and the value.
        """
        base = {k: p.default for k, p in self.params.items()}
        if quick:
            base.update(self.quick)
        config = validate(self.params, overrides, where=f"experiment {self.name!r}", base=base)
        if self.check is not None:
            self.check(config)
        return config


_REGISTRY: dict[str, Experiment] = {}
_LOADED = False

#: ``{module: traceback}`` of paper modules whose import raised under ``load_modules(strict=False)``.
IMPORT_ERRORS: dict[str, str] = {}


def register(
    name: str,
    *,
    paper: str,
    title: str,
    description: str,
    defaults: Mapping[str, Any],
    quick: Mapping[str, Any] | None = None,
    grid: Any = None,
    seed_key: str | None = None,
    check: Callable[[dict], None] | None = None,
) -> Callable[[Callable[[dict], Outcome]], Callable[[dict], Outcome]]:
    """Decorator registering ``func(config) -> Outcome`` as experiment ``name``.

    ``defaults`` is the config table of the full (paper-scale) profile: ``{key: Param(default,
    rule, help)}`` (a plain value is a default whose rule is inferred from its type).
    ``quick`` overrides some of them for the ``--quick`` profile (under a minute or three on 2
    cores); it is validated here. ``description`` is the paper's description of the figure or
    table reproduced. ``grid`` and ``seed_key``: see :class:`Experiment`. ``check(config)`` runs the
    cross-key checks a table cannot express (e.g. ``d >= K``) on the validated config and raises
    ``ValueError`` naming the key (:func:`nclab.config.refuse`); it runs before any work.
    """
    if paper not in PAPERS:
        fail("paper", paper, "one of " + ", ".join(PAPERS))
    table = {**as_table(defaults), "device": DEVICE}
    quick = dict(quick or {})
    unknown = set(quick) - set(table)
    if unknown:
        raise ValueError(f"quick profile of {name!r} has keys not in its defaults: {sorted(unknown)}")
    checked = validate(table, quick, where=f"the quick profile of {name!r}")
    quick = {k: checked[k] for k in quick}
    if seed_key is not None and seed_key not in table:
        raise ValueError(f"seed_key {seed_key!r} of {name!r} is not one of its keys")

    def wrap(func: Callable[[dict], Outcome]) -> Callable[[dict], Outcome]:
        _REGISTRY[name] = Experiment(name, paper, title, description, func, table, quick, grid, seed_key, check)
        return func

    return wrap


def load_modules(strict: bool = True) -> dict[str, str]:
    """Import every paper module (registering its experiments) once.

    ``strict`` re-raises an import error; otherwise the error is kept in ``IMPORT_ERRORS``
    (returned) so that one broken paper module does not hide the others (``nclab reproduce``).
    """
    global _LOADED
    if not _LOADED:
        for module in PAPER_PACKAGES:
            try:
                importlib.import_module(module)
            except Exception:
                if strict:
                    raise
                IMPORT_ERRORS[module] = traceback.format_exc()
        _LOADED = True
    return dict(IMPORT_ERRORS)


def _load() -> None:
    load_modules(strict=True)


def experiments(paper: str | None = None) -> list[Experiment]:
    """All registered experiments (of one paper if given), in paper order then name."""
    _load()
    order = list(PAPERS)
    items = [e for e in _REGISTRY.values() if paper is None or e.paper == paper]
    return sorted(items, key=lambda e: (order.index(e.paper), e.name))


def get(name: str) -> Experiment:
    """The registered experiment ``name``; unknown names raise ``ValueError`` listing them."""
    _load()
    if name not in _REGISTRY:
        fail("experiment", name, "one of " + ", ".join(e.name for e in experiments()))
    return _REGISTRY[name]


def _expected_seconds(exp: Experiment, quick: bool) -> tuple[float | None, str]:
    """The run time measured at release for the quick profile (``None`` for the full one)."""
    from nclab.report.timings import QUICK

    if not quick or exp.name not in QUICK:
        return None, ""
    return QUICK[exp.name], "the quick run measured at release"


def run(name: str, *, quick: bool = True, out: str | Path | None = None, store: str | Path | None = None,
        executor: Any = "inline", progress: bool | None = None, **overrides: Any) -> ExperimentResult:
    """Run experiment ``name`` and return its :class:`ExperimentResult`.

    A multi-seed experiment runs its (grid point, seed) units through the sweep engine; a
    single-shot experiment runs its function once.

    Parameters
    ----------
    name : str
        A registered experiment (``nclab list`` names them).
    quick : bool, default True
        The quick profile (minutes on 2 CPU cores), as ``nclab run`` and ``nclab reproduce``
        run by default; ``False`` runs the papers' scale (``--full``).
    out : str or Path, optional
        Folder to write ``result.json`` and the figures (PNG) into.
    store : str or Path, optional
        SQLite store of a multi-seed experiment's units, resumed when run again (a temporary
        store otherwise). Single-shot experiments refuse it.
    executor : str, default "inline"
        How a multi-seed experiment's units run: ``inline``, ``local:N``, ``dask://HOST:PORT``.
    progress : bool, optional
        ``None`` (default) or ``True``: a multi-seed experiment shows a bar in a terminal or
        Jupyter and log lines with the elapsed time and an estimate of the time left
        otherwise; a single-shot one writes such a line every 10 s on stderr without a
        terminal (the estimate from the quick run time measured at release). ``False``:
        nothing.
    **overrides
        Config keys to change (``nclab show NAME`` lists them).

    Returns
    -------
    ExperimentResult
        Its config, claims, checks, metrics, tables, notes, figures and run time.

    Raises
    ------
    ValueError
        An unknown experiment or key, a value outside what its key allows, or ``store`` /
        ``executor`` given to a single-shot experiment; each names the parameter and the value.

    Examples
    --------
    >>> from nclab import experiments
    >>> quick = experiments.run("mixon2022-fig2")  # the quick profile
    >>> quick.config["steps"], [c.id for c in quick.claims]
    (1500, ['distance_is_O_eps', 'final_distance_is_O_eps'])
    >>> experiments.get("mixon2022-fig2").config(quick=False)["steps"] > quick.config["steps"]
    True
    """
    exp = get(name)
    cfg = exp.config(quick=quick, **overrides)
    if exp.grid is None and (store is not None or executor != "inline"):
        multi = ", ".join(e.name for e in experiments() if e.grid is not None)
        raise ValueError(f"store/executor of experiment {name!r} must be unset: it is a single-shot "
                         f"experiment; the multi-seed ones that run through the sweep engine are {multi}")
    start = time.perf_counter()
    if exp.grid is not None:
        from nclab.experiments.grid import run_grid

        outcome = run_grid(exp.name, exp.grid, dict(cfg), store=store, executor=executor, progress=progress,
                           profile="quick" if quick else "full")
    else:
        expected, where = _expected_seconds(exp, quick)
        with _progress.heartbeat(exp.name, every_s=_progress.EVERY_S, expected_s=expected, expected_from=where,
                       enabled=progress is not False):
            outcome = exp.func(dict(cfg))
    seconds = time.perf_counter() - start
    result = ExperimentResult(
        experiment=exp.name,
        paper=exp.paper,
        title=exp.title,
        description=exp.description,
        config=cfg,
        claims=[c for c in outcome.claims if c.kind == "claim"],
        checks=[c for c in outcome.claims if c.kind == "check"],
        figures=[f"{stem}.png" for stem in outcome.figures],
        metrics=dict(outcome.metrics),
        tables=dict(outcome.tables),
        notes=list(outcome.notes),
        seconds=seconds,
        figure_objects=dict(outcome.figures),
        profile="quick" if quick else "full",
    )
    if out is not None:
        result.save(out)
    return result

