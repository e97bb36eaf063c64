"""The intra and sweep sections of the report (report/sections/intra.py, sweep.py and their templates), on the
hand-made run of conftest.py: the numbers a reader sees, worked out by hand from its tables and summaries."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd

from relneurons import io
from relneurons.experiments.summaries import SweepSummary, read_summary, sweep_summary, write_summary
from relneurons.report.html import render_report

from .conftest import ODD, RELS
from .test_html import _parse, _text

ESCAPED = "star&lt;b&gt;bold&lt;/b&gt;&amp;co"


def _section(run: Path, name: str) -> tuple[str, str]:
    """(raw HTML, visible text) of one experiment's section; the page must be well formed."""
    page = render_report(run)
    checker = _parse(page)
    assert not checker.errors and not checker.stack
    start = page.index(f'<section id="exp-{name}"')
    raw = page[start : page.index("</section>", start) + len("</section>")]
    return raw, _text(_parse(raw))


# ----------------------------------------------------------------- intra


def test_intra_states_the_summary_tests_and_the_table_accuracies(small_run):
    raw, text = _section(small_run, "intra")
    assert 'data-figure="results/intra/intra.png"' in raw
    assert (
        "with k random neurons off (mean over 3 random sets), and with the relation's own top-k neurons off; "
        "k = 307 (0.36% of 85,248 ffn neurons)."
    ) in text
    # P_eva tests: company_hq 0.25 is not below 0.20; ODD 0.10 < 0.75 with p = 0.0123
    assert (
        "Harmful beyond random: deactivating its own top-k lowered P_eva accuracy below the mean of 3 random sets for "
        "1 of 2 relations. With 3 random sets this describes and tests nothing: a relation set's exact rank p cannot "
        "go below 1/4 = 0.25"
    ) in text
    # means over relations: P_eva original (0.20 + 0.80) / 2; P_det has company_hq only
    assert "Mean accuracy over 2 relations: P_eva: original 0.50," in text
    assert "P_det: original 1.00, random-k 0.90, relation-k 0.70." in text
    # per relation: the table's accuracies with intervals, the summary's test (diff = 0.10 - 0.75, +- 0.1)
    assert (
        f"{ODD}: P_eva original 0.80 [0.60, 0.95], random 0.75, relation 0.10 [0.00, 0.25] (percentile 0 among "
        "3 random sets, rank p 0.250, relation − random -0.65 [-0.75, -0.55])"
    ) in text
    assert (
        "company_hq: P_eva original 0.20 [0.05, 0.40], random 0.20, relation 0.25 [0.10, 0.45] (percentile 50 among "
        "3 random sets, rank p 0.750, relation − random 0.05 [-0.05, 0.15]); P_det original 1.00 [1.00, 1.00], "
        "random 0.90, relation 0.70 [0.40, 0.90] (percentile 0 among 3 random sets, rank p 0.250, "
        "relation − random -0.20 [-0.30, -0.10])"
    ) in text
    # the table: n, random-k with the random sets' spread, the tests, prediction interval rnd +- 0.2, McNemar
    assert (
        f"{ODD} P_eva 20 0.80 [0.60, 0.95] 0.75 [0.55, 0.90] sets 0.70–0.80 0.10 [0.00, 0.25] 3 0 0.250 n/a "
        "[0.55, 0.95] -0.65 [-0.75, -0.55] < 0.001 < 0.001"
    ) in text
    assert "company_hq P_det 20" not in text and "company_hq P_det 10 1.00 [1.00, 1.00]" in text
    assert (
        "exact McNemar test (cluster sign-flip with several templates), then Holm over the split's relations." in text
    )
    # run text is escaped; tests.parquet is shown through the summary, not listed as an extra file
    assert ESCAPED in raw and ODD not in raw
    assert "Also in this folder" not in text


def test_intra_damaged_table_and_old_summary_give_notes(small_run):
    intra = small_run / "results" / "intra"
    io.write_json(intra / "summary.json", {"k": 8, "seeds": 2})  # a summary of an older version
    raw, text = _section(small_run, "intra")
    assert "is not a version-2 intra summary" in text and "rerun the intra experiment" in text
    assert "lowered P_eva accuracy" not in text and "among 3 random sets" not in text  # no test without the summary
    assert "company_hq: P_eva original 0.20 [0.05, 0.40], random 0.20, relation 0.25 [0.10, 0.45];" in text
    # a table without its accuracy column: a note, the figure still shown
    df = pd.read_parquet(intra / "intra.parquet").drop(columns="accuracy")
    df.to_parquet(intra / "intra.parquet", index=False)
    raw, text = _section(small_run, "intra")
    assert "intra: lacks columns ['accuracy']." in text and 'data-figure="results/intra/intra.png"' in raw
    (intra / "intra.parquet").write_bytes(b"not a parquet file")
    (intra / "intra.csv").unlink()
    raw, text = _section(small_run, "intra")
    assert "results/intra/intra.parquet could not be read" in text and "Mean accuracy" not in text


# ----------------------------------------------------------------- sweep


def test_sweep_states_the_summary(small_run):
    raw, text = _section(small_run, "sweep")
    assert 'data-figure="results/sweep/sweep.png"' in raw
    assert "k values: 10, 300." in text
    # conftest's sweep: own 0.60 -> 0.55 -> 0.15, others 0.50 -> 0.50 -> 0.45, intervals +- 0.2 clipped to [0, 1];
    # 300 / 85,248 = 0.352%
    assert (
        "At the largest k = 300 (0.35% of 85,248 neurons), a relation's own accuracy went from 0.60 to 0.15 on "
        "average, the other relations' from 0.50 to 0.45 (k = 0: original model)."
    ) in text
    assert "Per relation, original → k = 300 [95% CI]:" in text
    for r in RELS:
        assert f"{r}: own accuracy 0.60 → 0.15 [0.00, 0.35]; other relations 0.50 → 0.45" in text
        assert f"{r} 0.60 0.55 0.15" in text  # own accuracy per k
    assert "relation k = 0 (original) 10 300" in text
    assert ESCAPED in raw and ODD not in raw
    assert "Also in this folder" not in text  # the sweep table's numbers are the summary's


def test_sweep_numbers_are_read_from_the_summary_not_the_table(small_run):
    folder = small_run / "results" / "sweep"
    summary = read_summary(folder, SweepSummary)
    first = summary.relations[0]
    points = [dataclasses.replace(p, own=0.33, own_low=0.25, own_high=0.41) if p.k == 300 else p for p in first.points]
    write_summary(
        folder,
        dataclasses.replace(
            summary,
            own_at_max=0.27,
            other_at_max=0.44,
            relations=[dataclasses.replace(first, points=points), *summary.relations[1:]],
        ),
    )
    table = pd.read_parquet(folder / "sweep.parquet")
    table.assign(accuracy=0.99).to_parquet(folder / "sweep.parquet", index=False)  # a table the summary disagrees with
    _, text = _section(small_run, "sweep")
    assert "own accuracy went from 0.60 to 0.27 on average, the other relations' from 0.50 to 0.44" in text
    assert "company_hq: own accuracy 0.60 → 0.33 [0.25, 0.41]" in text and "company_hq 0.60 0.55 0.33" in text
    assert "0.99" not in text


def test_sweep_old_summary_and_no_k(small_run):
    folder = small_run / "results" / "sweep"
    io.write_json(folder / "summary.json", {"ks": [10, 300], "n_neurons": 85248})  # what the sweep wrote before
    raw, text = _section(small_run, "sweep")
    assert "is not a version-1 sweep summary" in text and "rerun the sweep experiment" in text
    assert "At the largest k" not in text and 'data-figure="results/sweep/sweep.png"' in raw
    assert "Also in this folder: sweep." in text  # its table is not shown, so it is listed
    # a sweep with only the original model: no k to speak of
    table = pd.read_parquet(folder / "sweep.parquet")
    write_summary(folder, sweep_summary(table[table["k"] == 0], RELS, 85248))
    _, text = _section(small_run, "sweep")
    assert "The sweep has no k > 0." in text and "At the largest k" not in text
    # no summary and no figure: an empty section, not a crash
    shutil.rmtree(folder)
    folder.mkdir()
    raw, text = _section(small_run, "sweep")
    assert "k values" not in text and "<figure>" not in raw
