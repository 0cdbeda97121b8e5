"""``nclab reproduce`` / ``nclab report``: the self-contained page, crashes, re-rendering."""
import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from nclab import cli
from nclab.experiments import registry
from nclab.experiments.registry import Claim, Outcome
from nclab.report import html, plots

TINY, CRASH = "test-report-tiny", "test-report-crash"
IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def tiny_experiments():
    """A fast experiment with two figures and a failing claim, and one that crashes."""

    @registry.register(TINY, paper="papyan2020", title="A tiny experiment",
                       description="Figure 9: a <b>tiny</b> curve & its log-log slope.",
                       defaults={"n": 50, "slope": 2.0}, quick={"n": 8})
    def tiny(config):
        t = np.arange(1, config["n"] + 1, dtype=float)
        fig = Figure(figsize=(9.2, 3.4), layout="constrained")
        ax0, ax1 = fig.subplots(1, 2)
        ax0.loglog(t, t ** -config["slope"], label="$t^{-2}$", marker="o")
        ax0.set(xlabel="iteration $t$", ylabel="error")
        ax0.legend()
        ax1.plot(t, np.sin(t))
        wide = Figure(figsize=(18.4, 3.4), layout="constrained")  # wider than the column: drawn at full width
        for ax in wide.subplots(1, 4):
            ax.plot(t, t)
        return Outcome(
            claims=[Claim("slope", "The slope is two.", "Toy, Fig. 9", "2 +- 0.1", config["slope"], True),
                    Claim("impossible", "Claims can fail.", "Toy, Thm. 1", "< 0", {"a": 1.5, "b": [1, 2]}, False)],
            figures={"curve": fig, "wide": wide},
            metrics={"n": config["n"], "max": float(t.max())},
            tables={"values": [{"t": 1, "err": 1.0}, {"t": 2, "err": 0.25}]},
            notes=["The impossible claim fails on purpose."],
        )

    @registry.register(CRASH, paper="papyan2020", title="A crashing experiment",
                       description="Never finishes.", defaults={"k": 1})
    def crash(config):
        raise RuntimeError("injected failure for the report test")

    yield
    registry._REGISTRY.pop(TINY, None)
    registry._REGISTRY.pop(CRASH, None)


def _reproduce(out, *only, capsys=None):
    code = cli.main(["reproduce", "--quick", "--out", str(out), "--no-progress", "--only", ",".join(only)])
    return code


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m, validate=True) for m in IMG_RE.findall(page)]


def test_reproduce_writes_self_contained_page(tiny_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert _reproduce(out, TINY) == 0
    stdout = capsys.readouterr().out
    assert "claims: 1 passed, 1 failed" in stdout and str((out / "index.html").resolve()) in stdout
    assert "FAILED  test-report-tiny / impossible" in stdout

    report = json.loads((out / "results.json").read_text())
    assert report["profile"] == "quick" and report["environment"]["torch"]
    [entry] = report["experiments"]
    assert entry["status"] == "ok" and entry["config"]["n"] == 8
    assert json.loads((out / TINY / "result.json").read_text())["claims"] == entry["claims"]

    page = (out / "index.html").read_text()
    # every image is embedded (no file or network reference) and decodes as a PNG
    assert not re.search(r'<img[^>]+src="(?!data:image/png;base64,)', page)
    assert not re.search(r'(src|href)="https?://', page) and "<link" not in page and "<script" not in page
    images = _images(page)
    assert len(images) == 3  # two experiment figures + the summary figure
    for data in images:
        pixels = imread(io.BytesIO(data), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert html.png_width(images[1]) > html.WIDE_PX  # the wide figure...
    assert '<div class="figs wide">' in page  # ...spans the page
    # one claims-table row per claim, the failed one highlighted and listed in the summary
    rows = re.findall(r'<tr class="(pass|fail)" id="claim-([^"]+)"', page)
    assert [r[0] for r in rows] == ["pass" if c["passed"] else "fail" for c in entry["claims"]]
    assert 'href="#claim-test-report-tiny-impossible"' in page
    assert "a=1.5, b=[1, 2]" in page  # measured value formatted
    # the paper's description is next to the figure, escaped
    assert "Figure 9: a &lt;b&gt;tiny&lt;/b&gt; curve &amp; its log-log slope." in page
    assert "The impossible claim fails on purpose." in page and "Table: values" in page


def test_crash_is_shown_with_the_others(tiny_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert _reproduce(out, TINY, CRASH) == 1
    captured = capsys.readouterr()
    assert "CRASHED test-report-crash: RuntimeError: injected failure" in captured.out
    report = json.loads((out / "results.json").read_text())
    assert [e["status"] for e in report["experiments"]] == ["crashed", "ok"]  # names sorted
    crashed = report["experiments"][0]
    assert "injected failure" in crashed["traceback"] and crashed["config"] == {"device": "cpu", "k": 1}
    page = (out / "index.html").read_text()
    assert "This experiment crashed" in page and "RuntimeError: injected failure for the report test" in page
    assert 'id="exp-test-report-tiny"' in page and len(_images(page)) == 3


def test_bad_input_writes_nothing(tiny_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--out", str(out), "--only", "no-such-paper"]) == 2
    err = capsys.readouterr().err
    assert "--only must be a paper key" in err and "Traceback" not in err and not out.exists()
    import torch

    if not torch.cuda.is_available():
        assert cli.main(["reproduce", "--out", str(out), "--only", TINY, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err and not out.exists()
    assert cli.main(["reproduce", "--out", str(out), "--only", TINY, "--device", "gpu7"]) == 2
    with pytest.raises(SystemExit) as exc:  # argparse: --quick and --full exclude each other
        cli.main(["reproduce", "--quick", "--full", "--out", str(out)])
    assert exc.value.code == 2
    assert not out.exists()


def test_report_rerenders_without_running(tiny_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert _reproduce(out, TINY) == 0
    first = (out / "index.html").read_text()
    (out / "index.html").unlink()
    registry._REGISTRY.pop(TINY)  # re-rendering must not need the experiment
    assert cli.main(["report", str(out)]) == 0
    assert (out / "index.html").read_text() == first
    # a single experiment's result.json (nclab run --out) renders beside it
    assert cli.main(["report", str(out / TINY / "result.json")]) == 0
    single = (out / TINY / "index.html").read_text()
    assert len(_images(single)) == 3 and "A tiny experiment" in single
    # --out elsewhere still finds the figures
    assert cli.main(["report", str(out / "results.json"), "--out", str(tmp_path / "copy.html")]) == 0
    assert len(_images((tmp_path / "copy.html").read_text())) == 3
    capsys.readouterr()
    assert cli.main(["report", str(tmp_path / "missing.json")]) == 2
    (tmp_path / "bad.json").write_text("{not json")
    assert cli.main(["report", str(tmp_path / "bad.json")]) == 2
    (tmp_path / "other.json").write_text("[1, 2]")
    assert cli.main(["report", str(tmp_path / "other.json")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_pending_and_missing_figures_render(tmp_path):
    report = {"profile": "full", "device": "cpu", "experiments": [
        {"experiment": "a", "paper": "tirer2023", "title": "A", "status": "pending", "claims": [], "figures": []},
        {"experiment": "b", "paper": "tirer2023", "title": "B", "status": "ok", "figures": ["gone.png"],
         "claims": [{"id": "c", "text": "t", "source": "s", "expected": "e", "measured": 1.0, "passed": True}]},
    ]}
    page = html.render_report(report, base_dir=tmp_path)
    assert "NOT RUN" in page and "figure file <code>gone.png</code> not found" in page
    assert "Every claim checked reproduced." in page
    assert html.claim_counts(report["experiments"]) == {
        "tirer2023": {"experiments": 2, "ok": 1, "crashed": 0, "pending": 1, "passed": 1, "failed": 0}}


def test_format_value_and_png_width():
    assert html.format_value(0.0036171) == "0.003617"
    assert html.format_value({"x": {"0.1": 2.0}, "y": [1, "inf"]}) == "x={0.1=2}, y=[1, inf]"
    assert html.format_value(list(range(10))).endswith("… (10 values)]")
    assert html.format_value(True) == "True" and html.format_value(None) == "None"
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1])
    data = plots.figure_png(fig, dpi=100)
    assert html.png_width(data) == imread(io.BytesIO(data), format="png").shape[1] > 250
    assert html.png_width(b"GIF89a") == 0 and html.png_width(None) == 0


def test_claims_summary_figure():
    summary = plots.claims_summary_figure({"p": {"passed": 3, "failed": 1}, "q": {"crashed": 1}})
    assert [t.get_text() for t in summary.axes[0].get_yticklabels()] == ["p", "q"]
    assert summary.axes[0].get_xlim()[1] >= 4
    assert not summary.axes[0].spines["top"].get_visible()


def test_sweep_store_page(tmp_path, capsys):
    import toy_kind

    from nclab import sweep
    from nclab.report.sweep_page import config_summary

    toy_kind.register()

    store = tmp_path / "toy.sqlite"
    sweep.run("toy", {"x": [1, 2]}, seeds=3, store=store, executor="inline", progress=False)
    rows = config_summary(sweep.load(store))
    assert [r["x"] for r in rows] == [1.0, 2.0] and all(r["seeds"] == 3 and r["done"] == 3 for r in rows)
    assert "value mean" in rows[0] and "label mean" not in rows[0]  # strings are not averaged
    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    page = html.render_sweep("sweep", {"p_dnc": fig}, {"configs": rows}, {"store": str(store)})
    assert len(_images(page)) == 1 and "value mean" in page
    assert cli.main(["report", str(store)]) == 0
    page = (tmp_path / "toy.html").read_text()
    assert _images(page) and "value mean" in page


def test_sweep_page_shows_every_outcome_and_warns_about_unconverged_runs(tmp_path):
    from nclab import sweep
    from nclab.report.sweep_page import OUTCOMES, config_summary, render_store

    store = tmp_path / "ufm.sqlite"
    fixed = {"K": 3, "n": 2, "L": 2, "metrics": False, "spectra": False, "steps": 5}
    # 5 steps at tol 1e-12: no run can converge; every run must show as 'not converged'
    sweep.run("ufm", {"d": [4, 6]}, seeds=3, store=store, fixed={**fixed, "tol": 1e-12}, preset="garrod",
              executor="inline", progress=False)
    rows = config_summary(sweep.load(store))
    assert [r["not converged"] for r in rows] == [3, 3]
    assert all(sum(r[o] for o in OUTCOMES) == r["seeds"] for r in rows)
    page = render_store(store)
    assert 'class="warning"' in page and "6 of 6 runs stopped at max steps before reaching tol" in page
    assert len(_images(page)) >= 2  # the outcomes panel beside the kind's figures

    plain = tmp_path / "plain.sqlite"  # no tol: no convergence test, said so
    sweep.run("ufm", {"d": [4]}, seeds=2, store=plain, fixed=fixed, preset="garrod", executor="inline",
              progress=False)
    page = render_store(plain)
    assert "2 of 2 runs had no convergence test" in page
    rows = config_summary(sweep.load(plain))
    assert rows[0]["not converged"] == 0 and rows[0]["dnc"] + rows[0]["low_rank"] + rows[0]["other"] == 2


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_page_opens_in_headless_chromium(tiny_experiments, tmp_path):
    out = tmp_path / "out"
    assert _reproduce(out, TINY, CRASH) == 1
    shot = tmp_path / "shot.png"
    profile = tmp_path / "chromium-profile"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--window-size=1280,1600", f"--screenshot={shot}", (out / "index.html").resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1280)
    # not blank: many pixels differ from the background, in several colours
    background = np.median(pixels.reshape(-1, 3), axis=0)
    differs = np.abs(pixels - background).sum(axis=-1) > 0.1
    assert differs.mean() > 0.05
    assert len(np.unique((pixels.reshape(-1, 3) * 15).round(), axis=0)) > 20


def test_full_run_remembers_the_other_profile_time(tiny_experiments, tmp_path, capsys):
    out = tmp_path / "out"
    assert _reproduce(out, TINY) == 0
    assert cli.main(["reproduce", "--full", "--out", str(out), "--no-progress", "--only", TINY]) == 0
    report = json.loads((out / "results.json").read_text())
    assert report["profile"] == "full" and report["experiments"][0]["config"]["n"] == 50
    assert set(report["timings"][TINY]) == {"quick", "full"}
    page = (out / "index.html").read_text()
    assert "(full profile)" in page and "quick profile took" in page


def test_interrupt_leaves_a_page(tiny_experiments, tmp_path, capsys):
    name = "test-report-interrupt"  # sorts between the crash and the tiny experiment

    @registry.register(name, paper="papyan2020", title="Interrupted", description="Ctrl-C.", defaults={})
    def interrupted(config):
        raise KeyboardInterrupt

    try:
        out = tmp_path / "out"
        assert _reproduce(out, TINY, CRASH, name) == 130
    finally:
        registry._REGISTRY.pop(name, None)
    report = json.loads((out / "results.json").read_text())
    assert [e["status"] for e in report["experiments"]] == ["crashed", "pending", "pending"]
    page = (out / "index.html").read_text()
    assert "NOT RUN" in page and "injected failure" in page
