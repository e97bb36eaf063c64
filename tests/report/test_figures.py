"""Each figure is returned as a Figure and, given a stem, writes a decodable PNG and an SVG (plots/figures.py);
no pixel comparisons. Importing the module leaves matplotlib's backend alone."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from relneurons.errors import InputError
from relneurons.plots import figures
from relneurons.plots.figures import (
    plot_cumulativity,
    plot_heatmap,
    plot_intra,
    plot_k_sweep,
    plot_layer_distribution,
    save_figure,
)

RELS = ["company_hq", "landmark_country", "star_constellation"]


def _check(fig, tmp_path, stem="fig"):
    assert isinstance(fig, Figure)
    png, svg = tmp_path / f"{stem}.png", tmp_path / f"{stem}.svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    img = mpimg.imread(png)
    h, w = img.shape[:2]
    assert 150 <= h <= 3000 and 150 <= w <= 3000, (h, w)
    assert img.std() > 0  # something was drawn
    assert svg.read_text().lstrip().startswith("<?xml")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers
    return svg.read_text()


def test_layer_distribution_plot(tmp_path):
    df = pd.DataFrame(
        [(r, layer, (i + 1) * layer % 5) for i, r in enumerate(RELS) for layer in range(6)],
        columns=["relation", "layer", "count"],
    )
    svg = _check(plot_layer_distribution(df, tmp_path / "fig"), tmp_path)
    assert "star_constellation" in svg


def test_layer_axis_ticks_are_whole_layers():
    # 6 layers: matplotlib's default locator puts ticks at 0, 0.5, 1, ... (layer 2.5 does not exist)
    df = pd.DataFrame([("a", layer, layer) for layer in range(6)], columns=["relation", "layer", "count"])
    fig = plot_layer_distribution(df)
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)


def test_heatmap_with_undefined_cell(tmp_path):
    m = pd.DataFrame(
        [[0.9, np.nan, 0.1], [-0.2, 0.5, 0.0], [0.3, 0.3, 1.0]],
        index=pd.Index(RELS, name="evaluated"),
        columns=pd.Index(RELS, name="deactivated"),
    )
    svg = _check(
        plot_heatmap(
            m, tmp_path / "fig", "inter-relation drop", "{:.2f}", "RdBu_r", undefined_label="undefined", vmin=-1, vmax=1
        ),
        tmp_path,
    )
    assert "undefined" in svg and "-0.20" in svg and "0.90" in svg


def test_heatmap_integer_counts(tmp_path):
    m = pd.DataFrame([[3, 1], [1, 3]], index=RELS[:2], columns=RELS[:2])
    svg = _check(plot_heatmap(m, tmp_path / "fig", "overlap", "d", "Blues"), tmp_path)
    assert "n/a" not in svg


def _intra_df() -> pd.DataFrame:
    rows = []
    for i, r in enumerate(RELS):
        for split in ("P_eva", "P_det"):
            rows.append((r, split, "original", 0.8, 0.7, 0.9, math.nan, math.nan))
            rows.append((r, split, "random", 0.75, 0.62, 0.86, 0.7, 0.8))
            rows.append((r, split, "relation", 0.1 * i, 0.0, 0.1 * i + 0.1, math.nan, math.nan))
    return pd.DataFrame(
        rows, columns=["relation", "split", "condition", "accuracy", "ci_low", "ci_high", "seed_low", "seed_high"]
    )


def test_intra_plot(tmp_path):
    svg = _check(plot_intra(_intra_df(), tmp_path / "fig"), tmp_path)
    assert "P_eva" in svg and "P_det" in svg and "seed spread" in svg


def test_intra_plot_rejects_bad_input(tmp_path):
    bad = _intra_df().assign(condition="baseline")
    with pytest.raises(InputError, match="conditions"):
        plot_intra(bad, tmp_path / "fig")
    with pytest.raises(InputError, match="ci_high"):
        plot_intra(_intra_df().drop(columns="ci_high"), tmp_path / "fig")
    assert not list(tmp_path.iterdir())


def test_k_sweep_plot(tmp_path):
    ks = [0, 10, 50, 200, 1000]
    rows = [
        (d, e, k, (0.8 if k == 0 else 0.8 / (1 + k / 100)) if d == e else 0.7) for d in RELS for e in RELS for k in ks
    ]
    df = pd.DataFrame(rows, columns=["deactivated", "evaluated", "k", "accuracy"])
    svg = _check(plot_k_sweep(df, tmp_path / "fig"), tmp_path)
    assert "landmark_country" in svg


def test_cumulativity_plot(tmp_path):
    summary = pd.DataFrame(
        {"a": [10, 50, 200], "b": [50, 200, 500], "macro": [0.3, np.nan, 0.8], "micro": [0.35, 0.5, 0.7]}
    )
    svg = _check(plot_cumulativity(summary, tmp_path / "fig"), tmp_path)
    assert "50-200" in svg


def test_without_a_stem_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = pd.DataFrame({"a": [10], "b": [50], "macro": [0.3], "micro": [0.35]})
    fig = plot_cumulativity(summary, title="mine")
    assert not list(tmp_path.iterdir())
    assert fig.axes[0].get_title() == "mine"
    assert save_figure(fig, tmp_path / "later") == (tmp_path / "later.png", tmp_path / "later.svg")
    assert mpimg.imread(tmp_path / "later.png").std() > 0


def test_import_and_plotting_keep_the_users_backend():
    """A notebook's backend survives: no matplotlib.use at import, no pyplot (its figure registry) when drawing."""
    code = textwrap.dedent("""
        import sys, tempfile
        import matplotlib
        matplotlib.use("svg")  # stands for a user's choice, e.g. Jupyter's inline backend
        import pandas as pd
        import relneurons.plots.figures as figures
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        with tempfile.TemporaryDirectory() as folder:
            fig = figures.plot_cumulativity(pd.DataFrame({"a": [1], "b": [2], "macro": [0.5], "micro": [0.5]}), folder + "/f")
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_multilingual_plot_draws_the_random_control_where_given(tmp_path):
    """Fig. 7 with the random-k control: one dashed line per language and relation at the mean random accuracy;
    a language the random table lacks gets no line (NaN), and the legend names the control."""
    rows = [
        (lang, rel, cond, acc)
        for lang, rel, cond, acc in [
            ("en", "r1", "original", 0.8),
            ("en", "r1", "relation", 0.2),
            ("de", "r1", "original", 0.6),
            ("de", "r1", "relation", 0.5),
            ("en", "r2", "original", 0.4),
            ("en", "r2", "relation", 0.1),
            ("de", "r2", "original", 0.3),
            ("de", "r2", "relation", 0.3),
        ]
    ]
    df = pd.DataFrame(rows, columns=["language", "relation", "condition", "accuracy"]).assign(
        ci_low=lambda d: d["accuracy"] - 0.1, ci_high=lambda d: d["accuracy"] + 0.1
    )
    random = pd.DataFrame(
        [("en", "r1", 0.75), ("de", "r1", 0.55), ("en", "r2", 0.35)], columns=["language", "relation", "accuracy"]
    )
    fig = figures.plot_multilingual(df, tmp_path / "m", random=random)
    dashed = {
        ax.get_title(): [seg[0][1] for seg in c.get_segments() if len(seg)]
        for ax in fig.axes
        for c in ax.collections
        if c.get_label() == "random"
    }
    assert dashed["r1"] == pytest.approx([0.75, 0.55])
    assert dashed["r2"] == pytest.approx([0.35])  # no random row for de: nothing drawn
    assert "random k off" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert not any(c.get_label() == "random" for ax in figures.plot_multilingual(df).axes for c in ax.collections)
