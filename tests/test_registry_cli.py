"""The experiment registry (config merging, JSON form, saving) and the CLI's exit codes."""
import json
import subprocess
import sys

import pytest
from matplotlib.figure import Figure

from nclab import cli
from nclab.experiments import registry
from nclab.experiments.registry import Claim, ExperimentResult, Outcome


@pytest.fixture
def toy_experiment():
    name = "test-toy-registry"

    @registry.register(
        name,
        paper="mixon2022",
        title="A toy",
        description="A toy experiment used by the registry tests.",
        defaults={"steps": 10, "eps": 0.1},
        quick={"steps": 2},
    )
    def toy(config):
        fig = Figure()
        fig.add_subplot().plot([0, 1], [config["eps"], config["steps"]])
        ok = config["steps"] < 5
        return Outcome(
            claims=[Claim("few-steps", "Steps are few.", "toy", "< 5", config["steps"], ok)],
            figures={"curve": fig},
            metrics={"steps": config["steps"], "inf": float("inf")},
        )

    yield name
    registry._REGISTRY.pop(name, None)


def test_config_merging_and_unknown_keys(toy_experiment):
    exp = registry.get(toy_experiment)
    assert exp.config() == {"device": "cpu", "steps": 10, "eps": 0.1}
    assert exp.config(quick=True)["steps"] == 2
    assert exp.config(quick=True, steps=7)["steps"] == 7
    with pytest.raises(ValueError, match="setting 'stepz' of experiment 'test-toy-registry'.*steps"):
        exp.config(stepz=3)
    with pytest.raises(ValueError, match="experiment must be one of"):
        registry.get("no-such-experiment")


def test_run_saves_json_and_figures(toy_experiment, tmp_path):
    result = registry.run(toy_experiment, quick=True, out=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data) >= {"experiment", "config", "claims", "figures", "metrics", "seconds"}
    assert data["config"] == {"device": "cpu", "steps": 2, "eps": 0.1}
    assert data["claims"] == [
        {"id": "few-steps", "text": "Steps are few.", "source": "toy", "expected": "< 5", "measured": 2, "passed": True}
    ]
    assert data["figures"] == ["curve.png"] and (tmp_path / "curve.png").stat().st_size > 1000
    assert data["metrics"]["inf"] == "inf"  # JSON has no inf: written as a string
    assert not list(tmp_path.glob(".*tmp"))
    again = ExperimentResult.from_dict(data)
    assert again.to_dict() == {**result.to_dict(), "figures": ["curve.png"]}


def test_failed_claim_is_kept(toy_experiment):
    result = registry.run(toy_experiment)
    assert [c.passed for c in result.claims] == [False] and not result.passed


def test_cli_run_json_and_bad_input(toy_experiment, tmp_path, capsys):
    assert cli.main(["run", toy_experiment, "--quick", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["claims"][0]["passed"] is True
    assert cli.main(["run", toy_experiment, "--set", "stepz=3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "stepz" in err and "Traceback" not in err and not (tmp_path / "x").exists()
    assert cli.main(["run", "no-such-experiment"]) == 2
    assert cli.main(["run", toy_experiment, "--set", "steps"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_cli_help_and_usage_errors():
    out = subprocess.run([sys.executable, "-m", "nclab", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "reproduce" in out.stdout and "metrics" in out.stdout
    out = subprocess.run([sys.executable, "-m", "nclab", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr
    out = subprocess.run([sys.executable, "-m", "nclab"], capture_output=True, text=True)
    assert out.returncode == 2
