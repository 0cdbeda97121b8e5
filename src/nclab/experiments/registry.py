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

    A claim that does not reproduce is kept with ``passed=False``, never dropped.

    Parameters
    ----------
    id : str
        Short identifier, unique within the experiment (e.g. ``"distance_is_O_eps"``).
    text : str
        The paper's statement in a sentence.
    source : str
        The paper and theorem/figure the statement comes from.
    expected : str
        The rule checked, as a short string such as ``"< 1e-3"`` or ``"lower end of the 95%
        interval ≥ 0.8"``.
    measured : Any
        The measured value (JSON-able).
    passed : bool
        The verdict.
    note : str, default ""
        An optional remark (why it failed, which open choice was made, what power the quick
        profile lacks); the JSON form (:meth:`to_dict`) adds one when ``measured`` holds NaN or
        +-inf, which JSON writes as ``null``.
    kind : {"claim", "check"}, default "claim"
        A paper's result, or a solver sanity check (a gradient norm, Lanczos vs dense) reported
        apart and never counted as a reproduced result.
    rule : str, default ""
        The rule type (magnitude, direction, rate, trend, exact).
    n_seeds : int, optional
        The number of random seeds of a claim over seeds.
    estimate : float, optional
        The estimate of a claim over seeds (see :mod:`nclab.experiments.rules`).
    interval : list of float, optional
        Its 95% interval ``[low, high]``.

    Examples
    --------
    >>> c = Claim("small", "The gradient vanishes.", "our check", "< 1e-3", 2e-4, True, kind="check")
    >>> c.to_dict()["kind"], c.passed
    ('check', True)
    >>> Claim.from_dict(c.to_dict()) == c
    True
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

        Parameters
        ----------
        id, text, source : str
            As for :class:`Claim`.
        verdict : nclab.experiments.rules.Verdict
            The decision; gives ``expected``, ``passed``, ``rule``, ``estimate`` and ``interval``.
        measured : Any, optional
            The measured value; defaults to the verdict's estimate.
        note, kind : str
            As for :class:`Claim`.
        n_seeds : int, optional
            Defaults to the estimate's count for estimates over seeds (Wilson, t).

        Returns
        -------
        Claim
            The claim with the verdict's rule, estimate and interval.

        Examples
        --------
        >>> from nclab.experiments.rules import at_least, proportion
        >>> c = Claim.decided("dnc", "DNC is found.", "Thm 1", at_least(proportion(19, 20), 0.5))
        >>> c.passed, c.n_seeds, c.measured, c.expected
        (True, 20, 0.95, 'lower end of the 95% interval ≥ 0.5')
        """
        est = verdict.estimate
        if n_seeds is None and est is not None and est.method in ("wilson", "t"):
            n_seeds = est.n
        return cls(id, text, source, verdict.expected, est.value if measured is None and est is not None else measured,
                   bool(verdict.passed), note, kind, verdict.rule, n_seeds,
                   None if est is None else est.value, None if est is None else [est.low, est.high])

    def to_dict(self) -> dict:
        """The claim's JSON form (the ``claims`` entries of ``result.json``).

        Returns
        -------
        dict
            ``id``, ``text``, ``source``, ``expected``, ``measured``, ``passed``, ``kind`` and, when
            set, ``note``, ``rule``, ``n_seeds``, ``estimate``, ``interval``. Non-finite measured
            values are written as ``None`` with a note saying so.

        Examples
        --------
        >>> Claim("c", "t", "s", "< 1", float("nan"), False).to_dict()["note"]
        'measured value had NaN (written as null)'
        """
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
        """The claim of a JSON form such as :meth:`to_dict` writes (unknown keys are ignored).

        Parameters
        ----------
        data : mapping
            A claim's JSON form.

        Returns
        -------
        Claim
            The claim.

        Examples
        --------
        >>> Claim.from_dict({"id": "c", "text": "t", "source": "s", "expected": "< 1",
        ...                  "measured": 0.5, "passed": True, "extra": 1}).passed
        True
        """
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Outcome:
    """What an experiment function returns.

    Parameters
    ----------
    claims : list of Claim, default []
        The paper's claims and our sanity checks alike; their ``kind`` sorts them into the
        result's ``claims`` and ``checks``.
    figures : dict of str to Figure, default {}
        Short file stem -> ``matplotlib.figure.Figure`` (create figures with
        ``matplotlib.figure.Figure()``, never pyplot: no global state).
    metrics : dict, default {}
        Named numbers.
    tables : dict of str to list of dict, default {}
        Small tables as lists of row dicts (shown in the report).
    notes : list of str, default []
        Sentences for the reader (e.g. why a claim failed).

    Examples
    --------
    >>> out = Outcome(claims=[Claim("c", "t", "s", "< 1", 0.5, True)], metrics={"loss": 0.5})
    >>> [c.id for c in out.claims], out.metrics, out.figures
    (['c'], {'loss': 0.5}, {})
    """

    claims: list[Claim] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ExperimentResult:
    """The result of one experiment run; ``to_dict()`` is the JSON of ``nclab run --json``.

    Parameters
    ----------
    experiment, paper, title, description : str
        The experiment's name, paper key, title and description (as registered).
    config : dict
        The validated config it ran with.
    claims : list of Claim
        The paper's claims (``kind="claim"``), failed ones included.
    figures : list of str
        The figure file names (``stem.png``).
    metrics, tables : dict
        As in :class:`Outcome`.
    notes : list of str
        As in :class:`Outcome`.
    seconds : float
        The run time.
    checks : list of Claim, default []
        The sanity checks (``kind="check"``).
    figure_objects : dict, default {}
        Stem -> ``matplotlib.figure.Figure``, written by :meth:`save` (not in the JSON).
    profile : {"quick", "full"}, optional
        The profile the config started from (before any overrides), as :func:`run` sets it;
        ``None`` when unknown (left out of the JSON).

    Examples
    --------
    >>> r = ExperimentResult("x", "mixon2022", "X", "", {"n": 1}, [Claim("c", "t", "s", "< 1", 0.5, True)],
    ...                      [], {}, {}, [], 0.25, profile="quick")
    >>> r.passed, r.to_dict()["profile"]
    (True, 'quick')
    >>> ExperimentResult.from_dict(r.to_dict()) == r
    True
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
        """Whether every claim (not the checks) passed; ``True`` when there are none."""
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        """The JSON form of the result (``result.json``, ``nclab run --json``).

        Returns
        -------
        dict
            ``experiment``, ``paper``, ``title``, ``description``, ``config``, ``claims``,
            ``checks``, ``figures``, ``metrics``, ``tables``, ``notes``, ``seconds`` and, when
            known, ``profile``; every value JSON-able.

        Examples
        --------
        >>> r = ExperimentResult("x", "mixon2022", "X", "", {}, [], [], {}, {}, [], 1.0)
        >>> sorted(r.to_dict())[:4]
        ['checks', 'claims', 'config', 'description']
        """
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
        """The result of a JSON form such as :meth:`to_dict` writes (a ``result.json``).

        Parameters
        ----------
        data : mapping
            The JSON form; only ``experiment`` is required, the other keys default to empty.

        Returns
        -------
        ExperimentResult
            The result, without figure objects.

        Examples
        --------
        >>> ExperimentResult.from_dict({"experiment": "x"}).title
        'x'
        """
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

        Parameters
        ----------
        out : str or Path
            The folder (created if missing).

        Returns
        -------
        Path
            ``out/result.json``.

        Examples
        --------
        >>> import json, tempfile
        >>> r = ExperimentResult("x", "mixon2022", "X", "", {}, [], [], {"loss": 0.5}, {}, [], 1.0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     json.loads(r.save(tmp).read_text())["metrics"]
        {'loss': 0.5}
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

    Made by :func:`register`; :func:`get` and :func:`experiments` return them.

    Parameters
    ----------
    name : str
        The experiment's name (``nclab run NAME``).
    paper : str
        Its paper key, one of :data:`PAPERS`.
    title, description : str
        Its title and the paper's description of the figure or table reproduced.
    func : callable
        ``func(config) -> Outcome``.
    params : mapping of str to Param
        The config table (:mod:`nclab.config`): every key with its default (the paper-scale
        profile, ``--full``) and what it allows; ``device`` included.
    quick : mapping
        Overrides of some defaults: the quick profile, the default of :meth:`config`,
        :func:`run` and the CLI.
    grid : nclab.experiments.grid.Grid, optional
        Set for the multi-seed experiments, which run their grid of (config, seed) units
        through the sweep engine.
    seed_key : str, optional
        The key through which a sweep's seed reaches a single-shot experiment (``None``:
        deterministic).
    check : callable, optional
        ``check(config)``: the cross-key checks, run on a validated config.

    Examples
    --------
    >>> exp = get("tirer2023-minimizer")
    >>> exp.paper, exp.grid is None, exp.seed_key
    ('tirer2023', True, 'seeds')
    >>> exp.defaults["seeds"], exp.quick["seeds"]
    (4, [0, 1])
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
        """``{key: default}`` of the full profile (``device`` excluded).

        Examples
        --------
        >>> sorted(get("tirer2023-minimizer").defaults)[:4]
        ['K', 'anchor_beta', 'anchor_noise', 'd']
        """
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

        Examples
        --------
        >>> exp = get("tirer2023-minimizer")
        >>> exp.config()["gd_steps"], exp.config(quick=False)["gd_steps"], exp.config(gd_steps=10)["gd_steps"]
        (20000, 50000, 10)
        >>> exp.config(steps=10)
        Traceback (most recent call last):
        ...
        ValueError: ...steps...
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

    Parameters
    ----------
    name : str
        The experiment's name; registering a name again replaces the earlier experiment.
    paper : str
        Its paper key, one of :data:`PAPERS`.
    title : str
        A short title.
    description : str
        The paper's description of the figure or table reproduced.
    defaults : mapping
        The config table of the full (paper-scale) profile: ``{key: Param(default, rule,
        help)}`` (a plain value is a default whose rule is inferred from its type). The key
        ``device`` is added.
    quick : mapping, optional
        Overrides of some defaults for the ``--quick`` profile (under a minute or three on 2
        cores); validated here.
    grid, seed_key
        See :class:`Experiment`; ``seed_key`` must be a key of ``defaults``.
    check : callable, optional
        ``check(config)``: the cross-key checks a table cannot express (e.g. ``d >= K``), run on
        the validated config before any work; raises ``ValueError`` naming the key
        (:func:`nclab.config.refuse`).

    Returns
    -------
    callable
        The decorator; it registers the function and returns it unchanged.

    Raises
    ------
    ValueError
        ``paper`` not in :data:`PAPERS`, a ``quick`` key not in ``defaults`` or a ``quick``
        value it does not allow, or a ``seed_key`` that is not a key.

    Examples
    --------
    >>> register("demo", paper="nature", title="", description="", defaults={"n": 3})
    Traceback (most recent call last):
    ...
    ValueError: ...paper...nature...
    >>> register("demo", paper="mixon2022", title="", description="", defaults={"n": 3},
    ...          quick={"m": 1})
    Traceback (most recent call last):
    ...
    ValueError: quick profile of 'demo' has keys not in its defaults: ['m']
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

    Parameters
    ----------
    strict : bool, default True
        Re-raise an import error; ``False`` keeps it in ``IMPORT_ERRORS`` so that one broken
        paper module does not hide the others (``nclab reproduce``).

    Returns
    -------
    dict of str to str
        A copy of ``IMPORT_ERRORS``: ``{module: traceback}`` of the paper packages whose import
        raised (empty when all imported).

    Raises
    ------
    Exception
        With ``strict=True``, whatever a paper package's import raised.

    Examples
    --------
    >>> load_modules(strict=False)
    {}
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
    """All registered experiments (of one paper if given), in paper order then name.

    Parameters
    ----------
    paper : str, optional
        A paper key of :data:`PAPERS`; ``None`` (default) lists every paper's experiments. An
        unknown key gives an empty list.

    Returns
    -------
    list of Experiment
        The experiments, in the order of :data:`PAPERS`, then by name.

    Examples
    --------
    >>> [e.name for e in experiments("mixon2022")]
    ['mixon2022-fig1', 'mixon2022-fig2', 'mixon2022-subspace']
    """
    _load()
    order = list(PAPERS)
    items = [e for e in _REGISTRY.values() if paper is None or e.paper == paper]
    return sorted(items, key=lambda e: (order.index(e.paper), e.name))


def get(name: str) -> Experiment:
    """The registered experiment ``name``.

    Parameters
    ----------
    name : str
        A registered experiment's name (``nclab list`` names them).

    Returns
    -------
    Experiment
        The experiment: its function, config table, quick profile and grid.

    Raises
    ------
    ValueError
        An unknown name; the message lists the registered ones.

    Examples
    --------
    >>> get("tirer2023-minimizer").quick["gd_steps"]
    20000
    >>> get("tirer2023-minimiser")
    Traceback (most recent call last):
    ...
    ValueError: experiment must be one of mixon2022-fig1, ..., got 'tirer2023-minimiser'
    """
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

