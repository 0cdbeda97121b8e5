"""Pages that do not mislead: the papers' notation in plain Unicode, ties without a winner, bars
from zero with a legend, zeros kept on log axes, ticks at the data, labelled reference lines."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from nclab import cli
from nclab._notation import prose


def test_tex_in_claim_texts_reads_as_unicode():
    assert prose(r"NC1: tr$(\Sigma_W\Sigma_B^+)/K$ <") == "NC1: tr(Σ<sub>W</sub>Σ<sub>B</sub><sup>+</sup>)/K &lt;"
    assert prose(r"(tr$\Sigma_W$/tr$\Sigma_B$)", html=False) == "(trΣ_W/trΣ_B)"
    assert prose(r"$\bar{H}$ and $W^\top$ cost 5$") == "H\u0304 and Wᵀ cost 5$"


def test_layerwise_and_theorem1_pages_show_no_tex_and_no_winner_in_a_tie(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--out", str(out), "--no-progress", "--only",
                     "garrod2025-theorem1,tirer2023-layerwise"]) in (0, 1)
    page = (out / "index.html").read_text(encoding="utf-8")
    body = re.sub(r'src="data:image/png;base64,[^"]*"', "", page)
    assert "\\Sigma" not in body and "tr$" not in body and "Σ<sub>W</sub>" in body
    assert "[open]" not in body
    # K = 2: the DNC and the low-rank losses are the same number (a tie): no row claims a winner
    import json

    results = json.loads((out / "results.json").read_text())
    entry = next(e for e in results["experiments"] if e["experiment"] == "garrod2025-theorem1")
    ties = [r for r in entry["tables"]["theorem1"] if r["K"] == 2]
    assert ties and all(abs(r["dnc_loss"] - r["low_rank_loss"]) <= 1e-9 * r["dnc_loss"] for r in ties)
    assert not any(r["equal_scale_wins"] for r in ties)


def _axhline_labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()
            if len(set(line.get_ydata())) == 1 and list(line.get_xdata()) == [0, 1]]


def test_weight_decay_bars_start_at_zero_on_a_linear_axis_with_a_colour_legend():
    from nclab.experiments.tirer2023.weight_decay import draw

    cfg = {"metrics": ["nc1", "nc2"], "weight_decay": 5e-4}
    rng = np.random.default_rng(0)
    names = ["baseline", "head x0", "features x0", "head x2", "features x2"]
    runs = {s: {n: {"nc1": 1.5 + rng.random() * 0.1, "nc2": 0.9 + rng.random() * 0.01} for n in names}
            for s in range(4)}
    fig = draw(cfg, runs)
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 2
    for ax in bars:
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    legend_texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any(t.startswith("head xF") for t in legend_texts) and any(t.startswith("features xF") for t in legend_texts)
    changes = [ax for ax in fig.axes if not ax.patches]
    assert all("baseline (no change)" in _axhline_labels(ax) for ax in changes)


def test_papyan_panels_keep_zeros_on_a_symlog_axis():
    from nclab.experiments.papyan2020.terminal_phase import NC_KEYS, draw

    epochs = np.arange(0, 60, 15)
    hist = pd.DataFrame({"epoch": epochs, "train_error": [0.2, 0.0, 0.0, 0.0],
                         **{k: [0.5, 0.2, 0.1, 0.05] for k in NC_KEYS}})
    hist[NC_KEYS[-1]] = [0.01, 0.0, 0.0, 0.0]  # an NC4 mismatch that reaches 0
    fig = draw({"ce": (hist, 15), "mse": (hist, 15)})
    err, nc4 = fig.axes[0], fig.axes[len(NC_KEYS)]
    for ax in (err, nc4):
        assert ax.get_yscale() == "symlog"
        ydata = np.concatenate([line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) == len(epochs)])
        assert np.isfinite(ydata).all() and (ydata == 0).any()  # the zeros are drawn, not NaN
    assert fig.axes[1].get_yscale() == "log"


def test_width_ticks_sit_at_the_data_and_every_reference_line_is_labelled():
    from nclab.experiments.garrod2025.width import draw

    rows = lambda init: [{"d": d, "p_dnc": p, "p_dnc_interval": [max(0, p - 0.2), min(1, p + 0.2)],
                          "mean_rank": 5 + 4 * p, "ranks": [5, 9, 9] if p else [5, 5, 5]}
                         for d, p in ((12, 0.0), (30, 0.3), (80, 0.7))]
    fig = draw({"unit": rows("unit"), "fan_in": rows("fan_in")}, 10)
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [12, 30, 80]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["12", "30", "80"]
        assert len(ax.xaxis.get_minor_locator().tick_values(10, 100)) == 0
        refs = _axhline_labels(ax)
        assert refs and all(not label.startswith("_") for label in refs)


def test_captions_name_the_model_data_and_schedule_of_the_run_made():
    from nclab.experiments import registry

    head = registry.run("garrod2025-real-head", quick=True, epochs=20, track_every=20, n_per_class=10)
    assert "backbone: MLP of width 64 and depth 2" in head.notes[0] and "digits" in head.notes[0]
    assert "Here, by default: an MLP backbone" in head.description
    pap = registry.run("papyan-terminal-phase", quick=True, epochs=4, track_every=2, width=16, losses=["ce"])
    assert "constant schedule, 4 epochs" in pap.notes[0] and "the quick profile: 150 epochs at a constant rate" in pap.description


def test_a_single_run_page_names_the_profile_the_run_was_made_with(tmp_path):
    import json

    from nclab.experiments import ExperimentResult

    for flags, profile in (([], "quick"), (["--full", "--set", "steps=200", "--set", "seeds=2"], "full")):
        out = tmp_path / profile
        assert cli.main(["run", "mixon2022-fig2", *flags, "--out", str(out)]) in (0, 1)
        data = json.loads((out / "result.json").read_text())
        assert data["profile"] == profile and ExperimentResult.from_dict(data).profile == profile
        assert cli.main(["report", str(out / "result.json")]) == 0
        page = (out / "index.html").read_text(encoding="utf-8")
        assert f"({profile} profile)" in page and "custom profile" not in page
    old = {k: v for k, v in data.items() if k != "profile"}  # a result.json written before the profile was kept
    assert "profile" not in ExperimentResult.from_dict(old).to_dict()
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert cli.main(["report", str(tmp_path / "old.json"), "--out", str(tmp_path / "old.html")]) == 0
    assert "(custom profile)" in (tmp_path / "old.html").read_text(encoding="utf-8")


def test_papyan_claim_texts_render_the_papers_notation():
    from nclab.experiments.papyan2020.terminal_phase import _TPT_TEXT

    pages = [prose(text) for text in _TPT_TEXT.values()]
    assert not any("Sigma" in p or "\\" in p or "$" in p for p in pages)
    assert "tr(Σ<sub>W</sub>Σ<sub>B</sub><sup>+</sup>)/K" in pages[0]


def test_claims_summary_counts_have_integer_ticks():
    from nclab.report.plots import claims_summary_figure

    ax = claims_summary_figure({"tirer2023": {"passed": 2}}).axes[0]
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 2]
    assert ticks and all(float(t).is_integer() for t in ticks)
