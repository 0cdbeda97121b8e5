"""Fuzz of the CLI verbs (issue 19): bad values of every kind thrown at every ``--set`` key of
``nclab train`` (each preset), of ``nclab run`` (every experiment) and of ``nclab sweep ufm``,
and at the verbs' own options. Every call must end with exit 0 or 2 (2: one ``error:`` line),
never a traceback or an internal error, and write nothing outside its temporary folder.

The cases come from a seeded generator (:func:`cases`), so a failure names a reproducible
argv. ``nclab train`` and ``nclab run`` get an ``--out`` that is a file: a value their config
accepts then still ends in exit 2 at the output check, before any work, so nothing trains.
"""
from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

import numpy as np
import pytest

#: Bad (or borderline) values of every kind the issue lists.
BAD_VALUES = (
    "-1", "0", "-5", "1", "0.5", "-0.5", "3.7", "10**18", "10**400", "2**5000", "1e39", "1e308", "-1e308",
    "nan", "inf", "-inf", "1e999-1e999", "1/0", "''", "'x'", "x", "[]", "[1,2,3]", "[[1]]", "[-1]", "(1,)",
    "None", "true", "false", "((10**1000)**1000)**1000", "'../../etc/passwd'", "{1: 2}", "1j", "[nan]",
    "[1e39, 1e39]", "'" + "a" * 5000 + "'",
)
#: Bad values of the verbs' own options (``--seeds``, ``--device``, ``--batch``, ...).
BAD_OPTIONS = (
    "-1", "0", "nan", "inf", "1e39", "99999999999999999999", "18446744073709551616,3", "0:10000000000", "5:2",
    "x", "", "meta", "mps", "cuda:99", "foo", "local:100000", "dask://h", "1,1", "0:0", ":", "-0:3",
)

TRAIN_OPTIONS = ("--seeds", "--device", "--max-memory", "--dtype")
SWEEP_OPTIONS = ("--seeds", "--device", "--batch", "--workers", "--executor", "--dask-timeout", "--grid")
MEASURE_OPTIONS = ("--batch-size", "--max-dim", "--n-per-class", "--num-classes", "--device", "--data")


def _keys(verb: str) -> list[tuple[str, ...]]:
    """(verb, target, key) triples: every --set key of every table the verb reads."""
    from nclab.ufm import options

    if verb == "train":
        return [("train", preset or "", k) for preset in (None, *options.PRESETS)
                for k in options.table(preset, run=True)]
    if verb == "sweep":
        return [("sweep", preset or "", k) for preset in (None, "garrod") for k in options.table(preset)]
    from nclab.experiments import registry

    return [("run", e.name, k) for e in registry.experiments() for k in e.params]


def cases(n_per_verb: int, seed: int = 0) -> list[list[str]]:
    """``n_per_verb`` argvs per verb ({f}: a plain file, {t}: the temporary folder)."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for verb in ("train", "run", "sweep"):
        keys = _keys(verb)
        for _ in range(n_per_verb):
            _, target, key = rng.choice(keys)
            value = rng.choice(BAD_VALUES)
            if verb == "train":
                argv = ["train", "--seeds", "0:1", "--set", "steps=1", "--out", "{f}", "--set", f"{key}={value}"]
                argv += ["--preset", target] if target else ["--set", "K=3", "--set", "n=2", "--set", "d=4"]
                if rng.random() < 0.3:
                    argv += [rng.choice(TRAIN_OPTIONS[:3]), rng.choice(BAD_OPTIONS)]
            elif verb == "run":
                argv = ["run", target, "--quick", "--out", "{f}/sub", "--set", f"{key}={value}"]
            else:
                argv = ["sweep", "ufm", "--dry-run", "--store", "{t}/s.sqlite", "--executor", "inline",
                        "--seeds", "0:1", "--set", "steps=1", "--set", f"{key}={value}"]
                argv += ["--preset", target] if target else []
                for k in ("K", "n", "d"):
                    if k != key and not target:
                        argv += ["--set", f"{k}=3"]
                if rng.random() < 0.3:
                    option = rng.choice(SWEEP_OPTIONS)
                    argv += [option, f"K={rng.choice(BAD_OPTIONS)}" if option == "--grid" else rng.choice(BAD_OPTIONS)]
            out.append(argv)
    for _ in range(n_per_verb):
        argv = ["measure", "{t}/model.pt", "--data", "{t}/good.npz", "--csv", "{f}/x.csv"]
        option = rng.choice(MEASURE_OPTIONS)
        argv += [option, rng.choice(BAD_OPTIONS + ("{t}/corrupt.npz", "{t}/good.npz", "{f}"))]
        out.append(argv)
    return out


def make_files(folder: Path) -> dict[str, str]:
    """The inputs the cases name; returns the ``{f}``/``{t}`` substitutions."""
    import torch

    (folder / "afile").write_text("x")
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3)), folder / "model.pt")
    (folder / "corrupt.npz").write_bytes(bytes(range(256)) * 2)
    rng = np.random.default_rng(0)
    np.savez(folder / "good.npz", x=rng.standard_normal((30, 4)).astype(np.float16), labels=np.arange(30) % 3)
    return {"f": str(folder / "afile"), "t": str(folder)}


def call(argv: list[str]) -> tuple[int, str]:
    """``nclab.cli.main(argv)`` in-process: (exit code, stderr); argparse's exit is caught."""
    from nclab.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def is_clean(code: int, err: str) -> bool:
    """Exit 0, or exit 2 with one ``error:`` line (argparse's usage line aside); no traceback."""
    if "Traceback" in err or "internal error" in err:
        return False
    if code == 0:
        return True
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    return code == 2 and len(lines) == 1 and "error:" in lines[0]


def _run(n_per_verb: int, seed: int, folder: Path) -> None:
    fill = make_files(folder)
    before = {p for p in folder.rglob("*")}
    bad = []
    for argv in cases(n_per_verb, seed):
        argv = [a.replace("{f}", fill["f"]).replace("{t}", fill["t"]) for a in argv]
        code, err = call(argv)
        if not is_clean(code, err):
            bad.append((argv, code, err.strip()[-300:]))
    left = {p for p in folder.rglob("*")} - before
    assert not bad, f"{len(bad)} unclean ends, e.g. {bad[:3]}"
    assert not left, f"refused calls left files: {sorted(map(str, left))[:5]}"


def test_fuzz_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(40, 0, tmp_path)


@pytest.mark.slow
def test_fuzz_cli_many(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(400, 1, tmp_path)
