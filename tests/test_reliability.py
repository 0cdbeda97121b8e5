"""Issue 19's examples, each run through ``nclab.cli.main`` in-process: a bad input ends with
exit 2 and one line on stderr naming the parameter (or path) and what is allowed, never a
traceback, and leaves no file behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nclab.cli import EXIT_PIPE, main

TRAIN = ["train", "--preset", "garrod", "--seeds", "0:1", "--set", "steps=1"]
SWEEP = ["sweep", "ufm", "--set", "K=3", "--set", "n=2", "--set", "d=4", "--seeds", "0:1", "--executor", "inline",
         "--no-progress"]

# (argv with {f} = a plain file, {t} = the temporary folder, substring the one-line message must hold)
CASES = [
    (TRAIN + ["--set", "n=10**9"], "needs about"),
    (TRAIN + ["--set", "K=10**18"], "'K'"),
    (TRAIN + ["--set", "K=2**31-2", "--set", "n=2"], "needs about"),
    (TRAIN + ["--set", "K=100000", "--set", "d=100000"], "needs about"),
    (["train", "--preset", "garrod", "--seeds", "0:10000000000"], "--seeds"),
    (TRAIN + ["--set", "lr=1e39"], "'lr'"),
    (TRAIN + ["--set", "lam=1e308"], "'lam'"),
    (TRAIN + ["--set", "lam=1e308", "--set", "optimizer=lbfgs"], "'lam'"),
    (TRAIN + ["--set", "lam=1e308", "--set", "optimizer=momentum"], "'lam'"),
    (["train", "--preset", "garrod", "--seeds", "99999999999999999999"], "--seeds"),
    (TRAIN + ["--out", "{f}/sub"], "--out"),
    (TRAIN + ["--out", "{f}"], "--out"),
    (TRAIN + ["--device", "meta"], "device"),
    (TRAIN + ["--device", "mps"], "device"),
    (TRAIN + ["--device", "foo"], "device"),
    (TRAIN + ["--set", "tol=1e999-1e999"], "'tol'"),
    (TRAIN + ["--set", "steps=10**12"], "'steps'"),
    (TRAIN + ["--set", "lam=((10**1000)**1000)**1000"], "'lam'"),
    (TRAIN + ["--max-memory", "lots"], "max_memory"),
    (["run", "garrod2025-theorem1", "--quick", "--set", "Ks=5", "--out", "{t}/o"], "'Ks'"),
    (["run", "garrod2025-dimension", "--quick", "--set", "d_max=-5", "--out", "{t}/o"], "'d_max'"),
    (["run", "garrod2025-theorem1", "--quick", "--out", "{f}/sub"], "--out"),
    (["run", "garrod2025-theorem1", "--quick", "--device", "meta", "--out", "{t}/o"], "device"),
    (["run", "garrod2025-theorem1", "--quick", "--executor", "local:100000", "--out", "{t}/o"], "executor"),
    (["reproduce", "--out", "{f}/sub", "--only", "garrod2025-theorem1"], "--out"),
    (["reproduce", "--out", "{t}/r", "--device", "meta", "--only", "garrod2025-theorem1"], "device"),
    (["report", "{t}/missing.json"], "missing.json"),
    (SWEEP + ["--store", "{t}/s.sqlite", "--set", "steps=-1"], "'steps'"),
    (SWEEP + ["--store", "{t}/s.sqlite", "--preset", "garrod", "--set", "lam=1e308"], "'lam'"),
    (SWEEP + ["--store", "{t}/s.sqlite", "--set", "K=10**9"], "needs about"),
    (["sweep", "ufm", "--set", "K=3", "--set", "n=2", "--set", "d=4", "--seeds", "18446744073709551616,3",
      "--store", "{t}/s.sqlite", "--executor", "inline"], "seeds"),
    (SWEEP + ["--store", "{t}/s.sqlite", "--dask-timeout", "nan"], "--dask-timeout"),
    (SWEEP + ["--store", "{t}/s.sqlite", "--dask-timeout", "inf"], "--dask-timeout"),
    (SWEEP + ["--store", "{f}/s.sqlite"], "{f}"),
    (["sweep", "ufm", "--set", "K=3", "--set", "n=2", "--set", "d=4", "--seeds", "0:1", "--store", "{t}/s.sqlite",
      "--executor", "local:100000", "--dry-run"], "executor"),
    (["sweep", "ufm", "--set", "d=4", "--seeds", "0:1", "--store", "{t}/s.sqlite", "--grid", "K=2:1001",
      "--grid", "n=1:1001", "--dry-run"], "1000 x 1001 points"),
    (["measure", "{t}/model.pt", "--data", "{t}/corrupt.npz"], "corrupt.npz"),
    (["measure", "{t}/model.pt", "--data", "{t}/notzip.npz"], "notzip.npz"),
    (["measure", "{t}/model.pt", "--data", "{t}/h16.npz", "--csv", "{f}/x.csv"], "--csv"),
    (["measure", "{t}/model.pt", "--data", "{t}/h16.npz", "--device", "meta"], "device"),
    (["measure", "{t}/model.pt", "--data", "mnist:{t}/mnist"], "cannot be read"),
]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    import torch

    (tmp_path / "afile").write_text("x")
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3)), tmp_path / "model.pt")
    (tmp_path / "corrupt.npz").write_bytes(bytes(range(256)) * 2)
    (tmp_path / "notzip.npz").write_bytes(b"PK\x03\x04 not really a zip")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "h16.npz", x=rng.standard_normal((30, 4)).astype(np.float16), labels=np.arange(30) % 3)
    mnist = tmp_path / "mnist" / "MNIST" / "raw"
    mnist.mkdir(parents=True)
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")
    (mnist / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")
    return tmp_path


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, needle: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error: " in lines[0], err
    assert needle in lines[0], err


@pytest.mark.parametrize("argv,needle", CASES, ids=[" ".join(c[0])[:80] for c in CASES])
def test_issue_example_is_a_clean_error(argv, needle, workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    fill = {"f": str(workdir / "afile"), "t": str(workdir)}
    argv = [a.format(**fill) for a in argv]
    before = _files(workdir)
    code, _, err = run_cli(argv, capsys)
    assert_clean_error(code, err, needle.format(**fill))
    assert _files(workdir) == before, "a refused call left files behind"


def test_blank_store_left_by_a_killed_creation_is_usable(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"")  # what a kill right after the store file appeared used to leave
    code, _, err = run_cli(SWEEP + ["--store", str(store), "--set", "steps=2"], capsys)
    assert code == 0, err
    from nclab.sweep.reading import status_counts

    counts = status_counts(store)
    assert counts["runs"] == 1 and counts["pending"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".creating")]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from importlib.metadata import version

    assert capsys.readouterr().out.strip() == f"nclab {version('nclab')}"


def test_reader_that_left_is_a_quiet_exit(monkeypatch, capsys):
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["list", "--json"]) == EXIT_PIPE
    assert capsys.readouterr().err == ""


def test_list_json_into_a_closed_pipe_has_no_traceback():
    """``nclab list --json | head -c 200`` where head has already left: a real pipe, a real process."""
    code = ("import os, sys\n"
            "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
            "from nclab.cli import main\n"
            "sys.exit(main(['list', '--json']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == EXIT_PIPE, proc.stderr
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    from nclab._json import atomic_path, write_atomic

    target = write_atomic(tmp_path / "r.json", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_parser_bounds_integer_results():
    from nclab._parse import MAX_INT_BITS, parse_value

    assert parse_value("2**-10") == 2 ** -10 and parse_value("10**18") == 10 ** 18
    assert parse_value("((10**1000)**1000)**1000") == "((10**1000)**1000)**1000"  # kept as text, at once
    assert parse_value(f"2**{MAX_INT_BITS + 1}") == f"2**{MAX_INT_BITS + 1}"


def test_memory_estimate_in_the_python_api():
    from nclab.ufm import options
    from nclab.ufm.spec import UFMSpec

    spec = UFMSpec(K=10, n=5, d=70, L=2)
    small = options.estimate_bytes(spec, 1, "float32")
    assert options.estimate_bytes(spec, 2, "float32") == 2 * small
    assert options.estimate_bytes(spec, 1, "float64") == 2 * small
    assert options.check_memory(spec, 1, max_memory="1GB") == small
    with pytest.raises(ValueError, match="needs about"):
        options.check_memory(spec, 1000, max_memory=1000)


@pytest.mark.parametrize("extra,match", [
    (["--num-classes", "10000000000"], "num_classes must be at most the number of samples"),
    (["--device", "meta"], "device must be"),
    (["--device", "mps"], "device must be an available device"),
])
def test_metrics_cli_refuses_sizes_and_devices_it_cannot_hold(tmp_path, capsys, extra, match):
    import numpy as np

    from nclab import cli

    f = tmp_path / "f.npz"
    np.savez(f, features=np.random.default_rng(0).standard_normal((40, 6)), labels=np.arange(40) % 4)
    assert cli.main(["metrics", str(f), *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_labels_beyond_the_sample_count_are_refused_before_counting():
    import torch

    from nclab.metrics import collapse

    with pytest.raises(ValueError, match="labels must be at most the number of samples"):
        collapse(torch.zeros(10, 3), torch.tensor([0, 1] * 4 + [0, 10 ** 11]))
    with pytest.raises(ValueError, match="meta device"):
        collapse(torch.zeros(10, 3, device="meta"), torch.arange(10) % 2)
