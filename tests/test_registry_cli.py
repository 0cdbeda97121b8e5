"""The experiment registry (config merging, JSON form, saving) and the CLI's exit codes."""
import json
import subprocess
import sys

import numpy as np
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
    assert exp.config() == {"device": "cpu", "steps": 2, "eps": 0.1}  # the quick profile is the default
    assert exp.config(quick=False) == {"device": "cpu", "steps": 10, "eps": 0.1}  # the full profile on request
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
        {"id": "few-steps", "text": "Steps are few.", "source": "toy", "expected": "< 5", "measured": 2, "passed": True,
         "kind": "claim"}
    ]
    assert data["figures"] == ["curve.png"] and (tmp_path / "curve.png").stat().st_size > 1000
    assert data["metrics"]["inf"] is None  # JSON has no inf: written as null
    assert not list(tmp_path.glob(".*tmp"))
    again = ExperimentResult.from_dict(data)
    assert again.to_dict() == {**result.to_dict(), "figures": ["curve.png"]}


def test_failed_claim_is_kept(toy_experiment):
    result = registry.run(toy_experiment, quick=False)
    assert [c.passed for c in result.claims] == [False] and not result.passed
    assert registry.run(toy_experiment).config["steps"] == 2  # run's default profile is quick, as the CLI's


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
    assert out.returncode == 0 and "measure" in out.stdout and "reproduce" in out.stdout  # bare: the verbs


@pytest.fixture
def broken_experiments():
    """Experiments that fail inside nclab (a TypeError), are interrupted, or hold NaN claims."""
    names = {"internal": "test-cli-internal", "interrupt": "test-cli-interrupt", "nan": "test-cli-nan"}

    @registry.register(names["internal"], paper="mixon2022", title="internal", description="raises",
                       defaults={"k": 1})
    def internal(config):
        raise TypeError("unsupported operand\nsecond line")

    @registry.register(names["interrupt"], paper="mixon2022", title="interrupt", description="Ctrl-C",
                       defaults={"k": 1})
    def interrupt(config):
        raise KeyboardInterrupt

    @registry.register(names["nan"], paper="mixon2022", title="nan", description="NaN measured",
                       defaults={"k": 1})
    def nan(config):
        return Outcome(claims=[
            Claim("nan", "Undefined.", "toy", "finite", {"gap": float("nan"), "list": [1.0, float("-inf")]}, False),
            Claim("fine", "Defined.", "toy", "> 0", 1.5, True, note="kept"),
        ], metrics={"x": np.float32("nan")})

    yield names
    for name in names.values():
        registry._REGISTRY.pop(name, None)


def test_internal_error_is_one_line_and_exit_1(broken_experiments, capsys):
    assert cli.main(["run", broken_experiments["internal"]]) == 1
    err = capsys.readouterr().err
    assert err == ("nclab run: internal error: TypeError: unsupported operand second line "
                   "(run with --debug for the traceback)\n")
    assert cli.main(["--debug", "run", broken_experiments["internal"]]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise TypeError("unsupported operand' in err
    assert err.strip().splitlines()[-1] == "nclab run: internal error: TypeError: unsupported operand second line"
    assert cli.main(["run", broken_experiments["internal"], "--debug"]) == 1  # after the command too
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_interrupt_is_exit_130(broken_experiments, capsys):
    assert cli.main(["run", broken_experiments["interrupt"]]) == 130
    assert capsys.readouterr().err == "nclab run: interrupted\n"


def test_wrong_type_is_bad_input_naming_the_key(toy_experiment, capsys):
    assert cli.main(["run", toy_experiment, "--set", "steps='many'"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "steps" in err and "many" in err and "Traceback" not in err
    assert err.startswith("nclab run: error: ")


def test_missing_file_is_bad_input(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nothing.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing.json" in err and "No such file" in err


def _no_constant(token):
    raise AssertionError(f"non-standard JSON token {token}")


def test_nan_claim_round_trips_as_null(broken_experiments, tmp_path, capsys):
    result = registry.run(broken_experiments["nan"], out=tmp_path)
    text = (tmp_path / "result.json").read_text()
    data = json.loads(text, parse_constant=_no_constant)  # standard JSON: no NaN/Infinity tokens
    nan, fine = data["claims"]
    assert nan["measured"] == {"gap": None, "list": [1.0, None]}
    assert nan["note"] == "measured value had NaN/-inf (written as null)"
    assert fine["measured"] == 1.5 and fine["note"] == "kept"
    assert data["metrics"] == {"x": None}
    again = ExperimentResult.from_dict(data)
    assert again.claims[0].measured == {"gap": None, "list": [1.0, None]}
    assert again.to_dict()["claims"] == data["claims"]  # the note is not repeated
    assert result.to_dict()["claims"] == data["claims"]
    assert cli.main(["run", broken_experiments["nan"], "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["claims"][0]["measured"]["gap"] is None and printed["metrics"]["x"] is None


def test_nan_claim_in_reproduce_results_json(broken_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--out", str(out), "--no-progress", "--only", broken_experiments["nan"]]) == 0
    report = json.loads((out / "results.json").read_text(), parse_constant=_no_constant)
    claim = report["experiments"][0]["claims"][0]
    assert claim["measured"]["gap"] is None and "written as null" in claim["note"]
    page = (out / "index.html").read_text()
    assert "measured value had NaN/-inf (written as null)" in page
