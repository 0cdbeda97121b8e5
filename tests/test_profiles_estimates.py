"""One profile vocabulary (quick by default, --full for the papers' scale), ``nclab show``, and
estimates before work (``--dry-run`` of ``reproduce`` and ``sweep``); progress without a terminal."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from nclab import cli
from nclab.experiments import registry
from nclab.experiments.registry import Claim, Outcome

ENV = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.fixture
def toy():
    name = "test-toy-profiles"

    @registry.register(name, paper="mixon2022", title="A toy", description="profiles",
                       defaults={"steps": 10, "eps": 0.1}, quick={"steps": 2})
    def run(config):
        return Outcome(claims=[Claim("c", "t", "toy", "> 0", config["steps"], True)])

    yield name
    registry._REGISTRY.pop(name, None)


def _run_json(args, capsys):
    assert cli.main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_run_defaults_to_the_quick_profile_and_full_asks_for_the_papers_scale(toy, tmp_path, capsys):
    assert _run_json(["run", toy, "--json", "--out", str(tmp_path / "a")], capsys)["config"]["steps"] == 2
    assert _run_json(["run", toy, "--quick", "--json", "--out", str(tmp_path / "b")], capsys)["config"]["steps"] == 2
    assert _run_json(["run", toy, "--full", "--json", "--out", str(tmp_path / "c")], capsys)["config"]["steps"] == 10
    with pytest.raises(SystemExit):  # argparse: one profile or the other
        cli.build_parser().parse_args(["run", toy, "--quick", "--full"])
    parser = cli.build_parser()
    assert parser.parse_args(["reproduce"]).quick is True and parser.parse_args(["run", toy]).quick is True
    assert parser.parse_args(["reproduce", "--full"]).quick is False


def test_help_texts_state_a_measured_time():
    for verb in ("run", "reproduce"):
        out = subprocess.run([sys.executable, "-m", "nclab", verb, "--help"], capture_output=True, text=True, env=ENV)
        text = " ".join(out.stdout.split())
        assert "--full" in text and re.search(r"measured .*\d+ s", text), text


def test_show_json_lists_every_key_with_quick_full_allowed_and_help(toy, capsys):
    info = _run_json(["show", toy, "--json"], capsys)
    keys = {row["key"]: row for row in info["settings"]}
    assert set(keys) == {"steps", "eps", "device"}
    assert keys["steps"]["quick"] == 2 and keys["steps"]["full"] == 10 and "integer" in keys["steps"]["allowed"]
    assert set(info["time"]) == {"quick", "full"}
    assert cli.main(["show", toy]) == 0
    text = capsys.readouterr().out
    assert "steps" in text and "quick: 2" in text and "full: 10" in text
    assert cli.main(["show", "no-such-experiment"]) == 2


def test_show_of_a_paper_experiment_has_its_measured_time(capsys):
    info = _run_json(["show", "garrod2025-width", "--json"], capsys)
    assert info["time"]["quick"]["source"] == "shipped" and info["time"]["quick"]["seconds"] > 0
    assert info["time"]["full"]["source"] == "extrapolated"
    assert info["time"]["full"]["seconds"] > info["time"]["quick"]["seconds"]
    assert {"ds", "seeds", "steps"} <= {row["key"] for row in info["settings"]}


def test_reproduce_full_dry_run_prints_an_estimate_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--full", "--dry-run", "--only", "garrod2025-fig1,mixon2022",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"nclab reproduce --full: 4 experiments, about .+ in all", text), text
    assert "garrod2025-fig1" in text and "extrapolated" in text and "estimate:" in text
    assert not out.exists()
    plan = _run_json(["reproduce", "--dry-run", "--json", "--only", "garrod2025-fig1", "--out", str(out)], capsys)
    assert plan["profile"] == "quick" and plan["experiments"][0]["seconds"] > 0 and plan["total_seconds"] > 0


def test_reproduce_dry_run_prefers_the_times_recorded_in_the_output_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({
        "profile": "full", "device": "cpu", "created": "then",
        "experiments": [{"experiment": "garrod2025-fig1", "status": "ok", "seconds": 123.0}]}))
    plan = _run_json(["reproduce", "--full", "--dry-run", "--json", "--only", "garrod2025-fig1", "--out", str(out)],
                     capsys)
    assert plan["experiments"][0]["source"] == "recorded" and plan["experiments"][0]["seconds"] == 123.0


def test_sweep_dry_run_prints_a_calibrated_estimate_and_writes_nothing(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    args = ["sweep", "ufm", "--preset", "garrod", "--set", "K=3", "--set", "n=2", "--set", "L=2", "--set", "steps=400",
            "--set", "metrics=False", "--grid", "d=4,6", "--seeds", "0:4", "--batch", "2", "--executor", "inline",
            "--store", str(store), "--dry-run"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "2 configs x 4 seeds = 8 runs" in text
    assert re.search(r"estimate: about \d+ s for the runs to do \(one batch of 2 seeds of the first config at 100 "
                     r"of 400 steps took [\d.]+ s; x 4 \(steps\) x 4 batches / 1 workers", text), text
    assert not store.exists()
    info = _run_json([*args, "--json"], capsys)
    assert info["estimate"]["batches"] == 4 and info["estimate"]["seconds"] > 0
    assert cli.main([*args, "--no-calibrate"]) == 0 and "estimate" not in capsys.readouterr().out


def test_sweep_of_an_experiment_kind_takes_the_quick_profile_unless_full(capsys, tmp_path):
    base = ["sweep", "garrod2025-width", "--grid", "d=12", "--grid", "init_H=unit", "--seeds", "0:1", "--store", str(tmp_path / "w.sqlite"),
            "--dry-run", "--no-calibrate", "--json"]
    quick = _run_json(base, capsys)["example_config"]
    full = _run_json([*base, "--full"], capsys)["example_config"]
    exp = registry.get("garrod2025-width")
    assert quick["steps"] == exp.quick["steps"] and full["steps"] == exp.defaults["steps"]
    assert cli.main(["sweep", "ufm", "--quick", "--seeds", "0:1", "--store", str(tmp_path / "u.sqlite"),
                     "--dry-run"]) == 2
    assert "--quick/--full must be left out" in capsys.readouterr().err


def test_cli_train_without_a_terminal_prints_a_progress_line_with_an_estimate(tmp_path):
    """``nclab train --seeds 0:16`` with stderr a pipe (a log file, CI): plain lines with the time left
    (the line interval shortened from 10 s so that the test takes a second or two)."""
    code = ("import sys, nclab._progress as p; p.EVERY_S = 0.2; from nclab.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    args = ["train", "--preset", "garrod", "--set", "K=4", "--set", "n=2", "--set", "d=6", "--set", "L=2",
            "--set", "steps=6000", "--seeds", "0:16", "--out", str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert re.search(r"ufm train: \d+/6000 \(\d+%\), \d+ s elapsed, about \d+ s left", proc.stderr), proc.stderr[-800:]
