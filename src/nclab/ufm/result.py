"""Results of :func:`nclab.train`: :class:`TrainResult`, and the history recorder behind it.

The history is tidy: one row per (recorded step, seed) with ``step, seed, phase, loss, fit,
reg, anchor, grad_norm`` and, when asked, the per-layer NC metrics and logit spectra of
:mod:`nclab.ufm.measure`.
"""
from __future__ import annotations

from nclab import _json as json  # NaN and +-inf are written as null
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from nclab._json import atomic_path, write_atomic
from nclab._validation import check_choice, fail
from nclab.ufm.measure import layer_metrics
from nclab.ufm.spec import UFMParams, UFMSpec

STATUSES = ("converged", "max_steps", "diverged")


@dataclass
class TrainResult:
    """The outcome of :func:`nclab.train` (:func:`nclab.ufm.engine.train`).

    Parameters
    ----------
    spec : UFMSpec
        The problem trained.
    seeds : list of int
        The seed values, in the order of the seed axis of ``params``.
    params : UFMParams
        Final parameters of the S seeds (a frozen seed at its freezing point).
    history : pandas.DataFrame
        Tidy history, one row per seed and recorded step: step, seed, phase, loss, fit, reg,
        anchor, grad_norm and, when recorded, the per-layer NC metrics and logit singular
        values of :mod:`nclab.ufm.measure`.
    status : list of str
        Per seed, ``"converged"``, ``"max_steps"`` or ``"diverged"`` (:data:`STATUSES`).
    seconds : float
        Wall time of the training.
    steps : int
        Steps run (the largest step any seed reached).
    options : dict, optional
        The training settings used (optimizer, lr, init, ...), written by :meth:`to_dict`.

    Attributes
    ----------
    final : pandas.DataFrame
        The last recorded row of each seed, in the order of ``seeds``, with its status.

    Examples
    --------
    A result built by hand (``train`` returns one; see :func:`nclab.ufm.engine.train`):

    >>> import pandas as pd
    >>> import torch
    >>> spec = UFMSpec(K=2, n=1, d=2)
    >>> params = UFMParams(torch.ones(2, 2, 2, dtype=torch.float64), (torch.zeros(2, 2, 2, dtype=torch.float64),))
    >>> history = pd.DataFrame({"step": [0, 0, 10, 10], "seed": [3, 7, 3, 7], "phase": "gd",
    ...                         "loss": [0.7, 0.7, 0.5, 0.4]})
    >>> result = TrainResult(spec, [3, 7], params, history, ["converged", "max_steps"], 0.25, 10)
    >>> result.final[["seed", "step", "loss", "status"]].to_dict("records")
    [{'seed': 3, 'step': 10, 'loss': 0.5, 'status': 'converged'}, {'seed': 7, 'step': 10, 'loss': 0.4, 'status': 'max_steps'}]
    >>> result.select(7).num_seeds
    1
    >>> print(result.summary())
    UFM K=2 n=1 d=2 L=1 linear ce: 2 seeds, 10 steps, 0.25 s
      seed  status             loss
         3  converged           0.5
         7  max_steps           0.4
    >>> sorted(result.to_dict())
    ['final', 'options', 'seconds', 'seeds', 'spec', 'status', 'steps']
    >>> result.select(5)
    Traceback (most recent call last):
    ...
    ValueError: seed must be one of the trained seeds [3, 7], got 5
    """

    spec: UFMSpec
    seeds: list[int]
    params: UFMParams
    history: pd.DataFrame
    status: list[str]
    seconds: float
    steps: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> pd.DataFrame:
        """The last recorded row of each seed (indexed like ``seeds``), with its status."""
        last = self.history.sort_values("step", kind="stable").groupby("seed", sort=False).tail(1).set_index("seed")
        last = last.reindex(self.seeds)
        last["status"] = self.status
        return last.reset_index()

    def select(self, seed: int) -> UFMParams:
        """Final parameters of one seed (by seed value), seed axis of size 1."""
        if seed not in self.seeds:
            fail("seed", seed, f"one of the trained seeds {self.seeds}")
        return self.params.select(self.seeds.index(seed))

    def summary(self) -> str:
        """A short text table: one line per seed."""
        lines = [f"UFM K={self.spec.K} n={self.spec.n} d={self.spec.d} L={self.spec.L} "
                 f"{self.spec.activation} {self.spec.loss}: {len(self.seeds)} seeds, "
                 f"{self.steps} steps, {self.seconds:.2f} s"]
        fin = self.final
        cols = [c for c in ("loss", "fit", "reg", "grad_norm", "nc1_h1", f"nc1_h{self.spec.L}") if c in fin]
        cols = list(dict.fromkeys(cols))
        lines.append("  seed  status     " + " ".join(f"{c:>12s}" for c in cols))
        for _, row in fin.iterrows():
            lines.append(f"  {int(row['seed']):4d}  {row['status']:10s} " + " ".join(f"{row[c]:12.5g}" for c in cols))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: spec, options, seeds, status, seconds, steps, final rows."""
        fin = self.final.replace({np.nan: None})
        return {"spec": self.spec.to_dict(), "options": _jsonable(self.options), "seeds": self.seeds,
                "status": self.status, "seconds": self.seconds, "steps": self.steps,
                "final": fin.to_dict(orient="records")}

    def save(self, out: str | Path, *, history_format: str = "csv") -> list[Path]:
        """Write ``params.npz`` (H, W1..WL, b, seeds), ``history.csv`` (or ``.parquet``) and
        ``result.json`` into directory ``out``; returns the paths."""
        check_choice("history_format", history_format, ("csv", "parquet"))
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        arrays = self.params.numpy()
        arrays["seeds"] = np.asarray(self.seeds)
        paths = [out / "params.npz", out / f"history.{history_format}", out / "result.json"]
        with atomic_path(paths[0]) as tmp:  # each file appears whole or not at all (an interrupt leaves none)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        with atomic_path(paths[1]) as tmp:
            if history_format == "csv":
                self.history.to_csv(tmp, index=False)
            else:
                self.history.to_parquet(tmp, index=False)
        write_atomic(paths[2], json.dumps(self.to_dict(), indent=2))
        return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


# ====================================================================== recording
class Recorder:
    """The history recorder of :func:`nclab.ufm.engine.train`: one row per (recorded step, seed).

    Each call records the loss parts and gradient norms of some seeds (and, when asked, the
    per-layer NC metrics and logit spectra of :func:`nclab.ufm.measure.layer_metrics`, NaN for a
    seed whose loss or gradient is not finite); :meth:`frame` is the tidy DataFrame that becomes
    :attr:`TrainResult.history`.

    Parameters
    ----------
    spec : UFMSpec
        The problem trained.
    seeds : list of int
        The seed values, by position on the seed axis.
    metrics : bool
        Record the per-layer NC metrics.
    spectra : bool
        Record the logit singular values.

    Examples
    --------
    >>> import torch
    >>> spec = UFMSpec(K=2, n=1, d=2)
    >>> params = UFMParams(torch.ones(2, 2, 2, dtype=torch.float64), (torch.zeros(2, 2, 2, dtype=torch.float64),))
    >>> parts = {k: torch.tensor([1.0, 2.0], dtype=torch.float64) for k in ("loss", "fit", "reg", "anchor")}
    >>> grad_norm = torch.tensor([0.1, 0.2], dtype=torch.float64)
    >>> rec = Recorder(spec, [3, 7], metrics=False, spectra=False)
    >>> rec(0, "gd", torch.arange(2), params, parts, grad_norm)
    >>> rec(5, "gd", torch.arange(2), params, parts, grad_norm, which=torch.tensor([False, True]))
    >>> rec.frame()[["step", "seed", "loss", "grad_norm"]].values.tolist()
    [[0.0, 3.0, 1.0, 0.1], [0.0, 7.0, 2.0, 0.2], [5.0, 7.0, 2.0, 0.2]]
    """

    def __init__(self, spec: UFMSpec, seeds: list[int], metrics: bool, spectra: bool) -> None:
        self.spec, self.seeds = spec, seeds
        self.metrics, self.spectra = metrics, spectra
        self.rows: list[dict[str, np.ndarray]] = []

    def __call__(self, step: int, phase: str, index: torch.Tensor, params: UFMParams,
                 parts: dict[str, torch.Tensor], gn: torch.Tensor, which: torch.Tensor | None = None) -> None:
        if which is not None:
            if not bool(which.any()):
                return
            sel = torch.nonzero(which).flatten()
            index, params = index[sel.cpu()], params.select(sel)
            parts = {k: v[sel] for k, v in parts.items()}
            gn = gn[sel]
        row: dict[str, Any] = {"step": np.full(len(index), step), "seed": np.asarray(self.seeds)[index.numpy()],
                               "phase": np.full(len(index), phase)}
        for k in ("loss", "fit", "reg", "anchor"):
            row[k] = parts[k].detach().double().cpu().numpy()
        row["grad_norm"] = gn.detach().double().cpu().numpy()
        if self.metrics or self.spectra:
            finite = torch.isfinite(parts["loss"]) & torch.isfinite(gn)
            values = layer_metrics(self.spec, params.detach(), collapse=self.metrics) if bool(finite.all()) \
                else self._safe_metrics(params, finite)
            for k, v in values.items():
                row[k] = torch.as_tensor(v).detach().double().cpu().numpy()
        self.rows.append(row)

    def _safe_metrics(self, params: UFMParams, finite: torch.Tensor) -> dict[str, np.ndarray]:
        S = params.num_seeds
        if not bool(finite.any()):
            return {}
        sel = torch.nonzero(finite).flatten()
        part = layer_metrics(self.spec, params.select(sel).detach(), collapse=self.metrics)
        out = {}
        for k, v in part.items():
            full = np.full(S, np.nan)
            full[sel.cpu().numpy()] = torch.as_tensor(v).double().cpu().numpy()
            out[k] = full
        return out

    def frame(self) -> pd.DataFrame:
        """The rows recorded so far as a DataFrame, sorted by step then seed."""
        if not self.rows:
            return pd.DataFrame(columns=["step", "seed", "phase", "loss", "fit", "reg", "anchor", "grad_norm"])
        # one column at a time over all calls (a row without some columns, e.g. the metrics of a
        # call whose seeds were all non-finite, gets NaN there), not one DataFrame a call: the
        # frame pd.concat of the calls' frames gives, ~5x cheaper at 101 calls of 256 seeds
        names = list(dict.fromkeys(k for r in self.rows for k in r))
        sizes = [len(r["step"]) for r in self.rows]
        columns = {k: np.concatenate([r[k] if k in r else np.full(n, np.nan) for r, n in zip(self.rows, sizes)])
                   for k in names}
        return pd.DataFrame(columns).sort_values(["step", "seed"], kind="stable").reset_index(drop=True)


class Progress:
    """The engine's steps as :class:`nclab._progress.Progress` (a bar from 1000 steps in a
    terminal or notebook, log lines with an estimate elsewhere).

    Parameters
    ----------
    total : int
        Steps of the whole training (every chunk of seeds).
    enabled : bool or None
        As in :class:`nclab._progress.Progress`: False shows nothing, None a bar only from
        1000 steps.
    desc : str
        The job's name, first on every line.

    Examples
    --------
    >>> progress = Progress(100, False, "ufm train")
    >>> progress.offset = 50  # a first chunk of seeds ran 50 steps
    >>> progress.update(10, 3)
    >>> progress.shown.done, progress.shown.postfix
    (60, '3 active')
    >>> progress.close()
    """

    def __init__(self, total: int, enabled: bool | None, desc: str) -> None:
        from nclab._progress import Progress as _Shown

        self.shown = _Shown(total, desc, enabled=enabled, unit="step", min_bar=1000)
        self.offset = 0  # steps of the chunks of seeds already trained (nclab.ufm.engine.train)

    def update(self, step: int, active: int) -> None:
        """Show ``step`` steps of the current chunk done, with ``active`` seeds still training."""
        self.shown.update_to(self.offset + step, f"{active} active")

    def close(self) -> None:
        """Close the bar (log lines need no closing)."""
        self.shown.close()


class RemapRecorder:
    """Records a sub-batch (the polished seeds) under their positions in the full batch.

    Parameters
    ----------
    inner : Recorder
        The recorder of the full batch.
    positions : list of int
        For each seed of the sub-batch, its position in the full batch.

    Examples
    --------
    >>> import torch
    >>> spec = UFMSpec(K=2, n=1, d=2)
    >>> one = UFMParams(torch.ones(1, 2, 2, dtype=torch.float64), (torch.zeros(1, 2, 2, dtype=torch.float64),))
    >>> parts = {k: torch.tensor([1.0], dtype=torch.float64) for k in ("loss", "fit", "reg", "anchor")}
    >>> rec = Recorder(spec, [3, 7], metrics=False, spectra=False)
    >>> RemapRecorder(rec, [1])(9, "polish", torch.tensor([0]), one, parts, torch.tensor([0.3], dtype=torch.float64))
    >>> rec.frame()[["step", "seed", "phase"]].values.tolist()  # sub-batch seed 0 is seed 7
    [[9, 7, 'polish']]
    """

    def __init__(self, inner: Recorder, positions: list[int]) -> None:
        self.inner, self.positions = inner, torch.as_tensor(positions)

    def __call__(self, step, phase, index, params, parts, gn, which=None) -> None:
        self.inner(step, phase, self.positions[index], params, parts, gn, which)
