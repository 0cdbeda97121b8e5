"""Progress without a terminal: log lines with an estimate; nothing when switched off."""
from __future__ import annotations

import io
import re
import time

import pytest

from nclab import _progress
from nclab._progress import Progress, duration, heartbeat, interactive


def test_log_lines_carry_count_elapsed_and_estimate():
    log = io.StringIO()
    p = Progress(10, "job", file=log, every_s=0.0)
    for _ in range(4):
        p.update(1)
    p.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and not interactive(log)
    assert re.fullmatch(r"job: 4/10 \(40%\), \d+ s elapsed, about \d+ s left", lines[-1])


def test_no_line_before_every_s_and_none_when_disabled():
    log = io.StringIO()
    p = Progress(10, "job", file=log, every_s=3600)
    p.update(5)
    assert log.getvalue() == ""
    off = io.StringIO()
    q = Progress(10, "job", file=off, enabled=False, every_s=0.0)
    q.update(5)
    assert off.getvalue() == ""


def test_duration_words():
    assert [duration(s) for s in (0, 12.4, 185, 3720)] == ["0 s", "12 s", "3 min 05 s", "1 h 02 min"]


def test_heartbeat_beats_while_the_block_runs_and_stops_after():
    log = io.StringIO()
    with heartbeat("exp", file=log, every_s=0.05, expected_s=90):
        time.sleep(0.3)
    n = len(log.getvalue().splitlines())
    assert n >= 1 and "exp: still running" in log.getvalue() and "about 1 min 30 s left (expected 1 min 30 s: the last run)" in log.getvalue()
    time.sleep(0.15)
    assert len(log.getvalue().splitlines()) == n
    quiet = io.StringIO()
    with heartbeat("exp", file=quiet, every_s=0.05, enabled=False):
        time.sleep(0.15)
    assert quiet.getvalue() == ""


def test_train_without_a_terminal_prints_progress_with_an_estimate(monkeypatch, capsys):
    import nclab
    from nclab.ufm.spec import UFMSpec

    monkeypatch.setattr(_progress, "EVERY_S", 0.0)
    nclab.train(UFMSpec.garrod(K=3, n=2, d=4, L=2, lam=1e-3), seeds=2, steps=200, metrics=False)
    err = capsys.readouterr().err
    assert re.search(r"ufm train: \d+/200 \(\d+%\), \d+ s elapsed, about \d+ s left", err), err[-500:]


def test_train_progress_false_is_silent(monkeypatch, capsys):
    import nclab
    from nclab.ufm.spec import UFMSpec

    monkeypatch.setattr(_progress, "EVERY_S", 0.0)
    nclab.train(UFMSpec.garrod(K=3, n=2, d=4, L=2, lam=1e-3), seeds=2, steps=200, metrics=False, progress=False)
    assert capsys.readouterr().err == ""


def test_single_shot_run_without_a_terminal_beats_with_an_estimate(monkeypatch, capsys):
    from nclab.experiments import registry
    from nclab.experiments.registry import Outcome
    from nclab.report import timings

    name = "test-toy-progress"
    registry.register(name, paper="mixon2022", title="t", description="d", defaults={"s": 0.4})(
        lambda config: (time.sleep(config["s"]), Outcome(claims=[]))[1])
    monkeypatch.setitem(timings.QUICK, name, 60.0)
    monkeypatch.setattr(_progress, "EVERY_S", 0.05)
    try:
        registry.run(name)
        err = capsys.readouterr().err
        assert re.search(rf"{name}: still running, \d+ s elapsed, about 1 min 00 s left \(expected 1 min 00 s: "
                         r"the quick run measured at release\)", err), err
        registry.run(name, progress=False)
        assert capsys.readouterr().err == ""
    finally:
        registry._REGISTRY.pop(name, None)


def _first_progress_line(args: list[str], pattern: str, limit_s: float = 180.0) -> tuple[str, str]:
    """Run ``nclab ARGS`` with stderr a pipe (not a terminal) until a stderr line matches
    ``pattern``, then interrupt it (Ctrl-C). Returns (the matching line, all stderr read)."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nclab", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    seen: list[str] = []
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            seen.append(line)
            if re.search(pattern, line):
                found.append(line.strip())
                done.set()
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done.wait(limit_s)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # the CLI stops its workers on Ctrl-C
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(10)
    return (found[0] if found else ""), "".join(seen)


ESTIMATE = r"\d+/\d+ \(\d+%\), \d+ s elapsed, about (\d+ s|\d+ min \d+ s|\d+ h \d+ min) left"


@pytest.mark.slow
def test_nclab_train_without_a_terminal_logs_an_estimate():
    # more steps than the test waits for: the first line comes after EVERY_S (10 s) of training
    line, err = _first_progress_line(["train", "--preset", "garrod", "--set", "K=4", "--set", "n=4",
                                      "--set", "d=20", "--set", "L=3", "--set", "steps=10**7",
                                      "--set", "metrics=False", "--seeds", "0:8"], "ufm train: " + ESTIMATE)
    assert line, err[-2000:]
    assert "\r" not in err and "it/s" not in err  # log lines, not a tqdm bar


@pytest.mark.slow
def test_nclab_sweep_without_a_terminal_logs_an_estimate(tmp_path):
    # 400 configs of 2 seeds, each a short UFM training: the sweep lasts well past EVERY_S
    line, err = _first_progress_line(["sweep", "ufm", "--preset", "garrod", "--set", "K=3", "--set", "n=2",
                                      "--set", "L=2", "--set", "steps=2000", "--set", "metrics=False",
                                      "--grid", "d=4:403", "--seeds", "0:2", "--workers", "1",
                                      "--store", str(tmp_path / "s.sqlite")], "sweep ufm: " + ESTIMATE)
    assert line, err[-2000:]
    assert "\r" not in err
