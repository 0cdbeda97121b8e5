"""Sweeps under infrastructure faults (issue 19, item 7).

- A worker that fails (killed, lost node) is not a result: its runs stay pending, every other
  result is written, the call raises ``SweepIncomplete`` (the CLI exits 1 saying how to
  resume) and the same call again completes the sweep with rows equal to an uninterrupted run.
- Two drivers on one store: the second is refused at once with a clear message (exit 2), the
  first's store is untouched; the lock dies with its holder (SIGKILL) and leaves no file after
  a clean close.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import toy_kind
from nclab import sweep
from nclab.cli import main
from nclab.sweep import executors as _executors
from nclab.sweep.reading import status_counts
from nclab.sweep.runner import SweepIncomplete
from nclab.sweep.store import Store

GRID = {"x": [1, 2, 3]}
FIXED = {"y": 2}


@pytest.fixture(autouse=True)
def _toy():
    toy_kind.register()


class FlakyPool:
    """Runs units inline, but the ``fail_units``-th submitted units fail as a dead pool would."""

    name = "flaky-pool"

    def __init__(self, fail_units):
        self.fail_units = set(fail_units)
        self.submitted = 0

    def submit(self, fn, *args):
        fut = cf.Future()
        if self.submitted in self.fail_units:
            fut.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        else:
            fut.set_result(fn(*args))
        self.submitted += 1
        return fut

    def as_completed(self, futures):
        return iter(futures)

    def cancel(self, futures):
        pass

    def close(self):
        pass

    def abort(self):
        pass


def _rows(store):
    frame = sweep.load(store)
    keep = ["config_hash", "seed", "status", "value", "rank", "label"]
    return sorted(map(tuple, frame[keep].astype(str).values.tolist()))


def test_a_failed_worker_leaves_its_runs_pending_and_a_rerun_completes(tmp_path):
    store, reference = tmp_path / "s.sqlite", tmp_path / "ref.sqlite"
    sweep.run("toy", GRID, "0:4", reference, fixed=FIXED, executor="inline", batch=2, progress=False)
    with pytest.raises(SweepIncomplete, match=r"4 of 12 runs .* still pending .* run the same command again") as info:
        sweep.run("toy", GRID, "0:4", store, fixed=FIXED, executor=FlakyPool({1, 4}), batch=2, progress=False)
    summary = info.value.summary
    assert (summary.lost, summary.done, summary.error) == (4, 8, 0)
    assert "BrokenProcessPool" in summary.lost_errors[0]
    counts = status_counts(store)
    assert (counts["done"], counts["error"], counts["pending"]) == (8, 0, 4)  # not 'error' rows
    again = sweep.run("toy", GRID, "0:4", store, fixed=FIXED, executor="inline", batch=2, progress=False)
    assert (again.skipped, again.done) == (8, 4)
    assert _rows(store) == _rows(reference)  # resumed rows equal an uninterrupted run


def test_a_run_that_raises_is_still_an_error_row(tmp_path):
    store = tmp_path / "s.sqlite"
    summary = sweep.run("toy", None, 2, store, fixed={"fail": True}, executor=FlakyPool(()), progress=False)
    assert (summary.error, summary.lost) == (2, 0)
    assert status_counts(store)["error"] == 2


def test_cli_exits_1_with_a_resume_message_after_a_worker_failure(tmp_path, capsys, monkeypatch):
    store = tmp_path / "s.sqlite"
    monkeypatch.setattr(_executors, "make_executor", lambda *a, **k: FlakyPool({0}))
    argv = ["sweep", "toy", "--store", str(store), "--executor", "inline", "--seeds", "0:3",
            "--grid", "x=1,2", "--no-progress"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    line = [s for s in err.splitlines() if s.strip()][-1]
    assert line.startswith("nclab sweep: 3 of 6 runs were not finished") and "run the same command again" in line
    assert status_counts(store)["pending"] == 3
    monkeypatch.undo()
    toy_kind.register()
    assert main(argv) == 0
    counts = status_counts(store)
    assert (counts["done"], counts["pending"], counts["error"]) == (6, 0, 0)


def test_a_second_driver_on_an_open_store_is_refused(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    sweep.run("toy", None, 2, store, executor="inline", progress=False)
    before = _rows(store)
    with Store(store, "toy", ["x"]):
        assert (tmp_path / "s.sqlite.lock").read_text() == str(os.getpid())
        with pytest.raises(ValueError, match=r"in use by another sweep \(process \d+\).*nothing was run"):
            Store(store, "toy", ["x"])
        code = main(["sweep", "toy", "--store", str(store), "--executor", "inline", "--seeds", "0:4",
                     "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "in use by another sweep" in err, err
    assert _rows(store) == before  # the refused call changed nothing
    assert not (tmp_path / "s.sqlite.lock").exists()  # a clean close removes the lock file
    with Store(store, "toy", ["x"]):  # and the store opens again
        pass


def test_a_refused_open_releases_the_lock(tmp_path):
    store = tmp_path / "s.sqlite"
    sweep.run("toy", None, 1, store, executor="inline", progress=False)
    with pytest.raises(ValueError, match="holds a sweep of kind 'toy', not 'ufm'"):
        Store(store, "ufm", ["K"])
    assert not (tmp_path / "s.sqlite.lock").exists()
    with Store(store, "toy", ["x"]):
        pass


HOLD = ("import sys, time; sys.path.insert(0, {tests!r}); from nclab.sweep.store import Store; "
        "s = Store({store!r}, 'toy', ['x']); print('held', flush=True); time.sleep(60)")


def test_the_lock_dies_with_a_killed_driver(tmp_path):
    store = tmp_path / "s.sqlite"
    code = HOLD.format(tests=str(Path(__file__).parent), store=str(store))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=rf"in use by another sweep \(process {proc.pid}\)"):
            Store(store, "toy", ["x"])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert (tmp_path / "s.sqlite.lock").exists()  # left by the kill, but no longer held
    deadline = time.monotonic() + 10
    summary = sweep.run("toy", None, 2, store, executor="inline", progress=False)
    assert summary.done == 2 and time.monotonic() < deadline
    assert not (tmp_path / "s.sqlite.lock").exists()
