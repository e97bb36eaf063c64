"""The overlap and inter sections (report/sections/overlap.py, inter.py): grids, tooltips and key numbers on a small
hand-made results folder; every expected number is worked out by hand below, not by the builders."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from relneurons.experiments.summaries import InterSummary, OverlapSummary, OwnVsOther, inter_summary, write_summary
from relneurons.plots import figures
from relneurons.report.html import render_report

from .test_html import _parse, _text

A, B, C = "alpha", "<i>beta</i>&", "gamma"  # B must come out escaped
K_TEXT = "k = 10 (1.00% of 1,000 ffn neurons)"

#: |top-k(r) ∩ top-k(s)|, k = 10: A-B 4, A-C 0, B-C 7 -> largest 7 (B, C), mean (4 + 0 + 7) / 3 = 3.67, 1 of 3 pairs none.
OVERLAP = [(A, A, 10), (A, B, 4), (A, C, 0), (B, A, 4), (B, B, 10), (B, C, 7), (C, A, 0), (C, B, 7), (C, C, 10)]
OVERLAP_SUMMARY = OverlapSummary(
    10, K_TEXT, n_relations=3, pairs=3, max_overlap=7, max_pair=[B, C], mean_overlap=11 / 3, pairs_sharing_none=1
)

#: B's original accuracy is 0 (its drops undefined); the pair (B, C) was never measured.
NAN = math.nan
INTER = [
    (A, A, 10, 0.8, 0.4, 0.5, 0.2, 0.8),
    (A, B, 10, 0.8, 0.68, 0.15, -0.1, 0.3),
    (A, C, 10, 0.8, 0.92, -0.15, -0.3, 0.1),
    (B, A, 10, 0.0, 0.0, NAN, NAN, NAN),
    (B, B, 10, 0.0, 0.1, NAN, NAN, NAN),
    (C, A, 10, 0.5, 0.25, 0.5, 0.1, 0.9),
    (C, B, 10, 0.5, 0.5, 0.0, -0.2, 0.2),
    (C, C, 10, 0.5, 0.1, 0.8, 0.5, 1.0),
]
INTER_COLUMNS = ["evaluated", "deactivated", "n", "acc_original", "acc_deactivated", "drop", "drop_low", "drop_high"]
# own vs mean other, by hand: A 0.5 vs (0.15 - 0.15) / 2 = 0; B undefined; C 0.8 vs (0.5 + 0) / 2 = 0.25
INTER_SUMMARY = InterSummary(
    10,
    K_TEXT,
    n_relations=3,
    undefined_cells=2,
    compared=2,
    own_drop_exceeds_mean_other=2,
    mean_own_drop=0.65,
    mean_other_drop=0.125,
    relations=[
        OwnVsOther(A, 0.5, 0.2, 0.8, 0.0, 2),
        OwnVsOther(B, NAN, NAN, NAN, NAN, 0),
        OwnVsOther(C, 0.8, 0.5, 1.0, 0.25, 2),
    ],
)


def _table(folder: Path, name: str, df: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / f"{name}.parquet", index=False)


@pytest.fixture
def run(tmp_path) -> Path:
    """Only results/overlap and results/inter (the rest of a run folder is missing: notes, not errors)."""
    root = tmp_path / "run"
    res = root / "results"
    overlap = pd.DataFrame(OVERLAP, columns=["relation_i", "relation_j", "overlap"])
    _table(res / "overlap", "overlap", overlap)
    figures.plot_heatmap(
        overlap.pivot(index="relation_i", columns="relation_j", values="overlap"),
        res / "overlap" / "overlap",
        value_format="d",
    )
    write_summary(res / "overlap", OVERLAP_SUMMARY)
    inter = pd.DataFrame(INTER, columns=INTER_COLUMNS)
    _table(res / "inter", "inter", inter)
    figures.plot_heatmap(
        inter.pivot(index="evaluated", columns="deactivated", values="drop") * 100,
        res / "inter" / "inter",
        value_format="{:.0f}",
        cmap="RdBu_r",
        vmin=-100,
        vmax=100,
    )
    write_summary(res / "inter", INTER_SUMMARY)
    return root


def _section(page: str, name: str) -> str:
    start = page.index(f'id="exp-{name}"')
    return page[start : page.index("</section>", start)]


def _render(root: Path):
    page = render_report(root)
    checker = _parse(page)
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    return page, checker


def test_the_hand_summary_is_what_the_experiment_would_write():
    """The inter summary above, worked out by hand, is also what `inter_summary` computes from the table."""
    computed = inter_summary(pd.DataFrame(INTER, columns=INTER_COLUMNS), [A, B, C], 10, K_TEXT)
    flat = [lambda s: dataclasses.astuple(s)[:-4], lambda s: [x for o in s.relations for x in dataclasses.astuple(o)]]
    for part in flat:
        assert part(computed) == pytest.approx(part(INTER_SUMMARY), nan_ok=True)


def test_overlap_grid_tooltips_and_key_numbers(run):
    page, checker = _render(run)
    cells = [a for hm, a in checker.cells if hm == "overlap"]
    assert [a["text"] for a in cells] == ["10", "4", "0", "4", "10", "7", "0", "7", "10"]
    assert not [a for a in cells if "na" in a["class"].split()]
    assert cells[1]["title"] == f"{A} ∩ {B}: 4 neurons (40.0% of k)" == cells[1]["data-tip"]
    assert cells[5]["title"] == f"{B} ∩ {C}: 7 neurons (70.0% of k)"
    text = _text(_parse(_section(page, "overlap")))
    assert (
        f"The largest overlap between two different relations is 7 neurons (70.0% of k), for {B} and {C}; the mean "
        "off-diagonal overlap is 3.7 neurons, and 1 of 3 pairs share no neuron at all."
    ) in text
    assert f"the diagonal is k itself; {K_TEXT}." in text
    section = _section(page, "overlap")  # the PNG stays as a plain image after the grid
    assert section.index('data-heatmap="overlap"') < section.index('data-figure="results/overlap/overlap.png"')
    assert "<details><summary>Static image (PNG)</summary>" in section


def test_overlap_headline_is_the_summarys_not_recomputed(run):
    """The key numbers come from summary.json (a different summary shows different numbers; the grid stays the table's)."""
    write_summary(run / "results" / "overlap", OverlapSummary(10, K_TEXT, 3, 3, 9, [A, C], 2.0, 0))
    page, checker = _render(run)
    text = _text(_parse(_section(page, "overlap")))
    assert (
        f"is 9 neurons (90.0% of k), for {A} and {C}; the mean off-diagonal overlap is 2.0 neurons, and 0 of 3 pairs"
        in text
    )
    assert [a["text"] for hm, a in checker.cells if hm == "overlap"][2] == "0"


def test_overlap_when_no_pair_shares_a_neuron(run):
    """No arbitrary 'largest' pair when every pair is disjoint (the Gemma 3 270M runs: 0 of 15 pairs share one)."""
    write_summary(run / "results" / "overlap", OverlapSummary(10, K_TEXT, 3, 3, 0, [A, B], 0.0, 3))
    text = _text(_parse(_section(_render(run)[0], "overlap")))
    assert (
        "No two different relations share a neuron: the top-k sets are disjoint for all 3 pairs of relations." in text
    )
    assert "largest overlap" not in text


def test_overlap_with_one_relation_and_with_an_old_summary(run):
    folder = run / "results" / "overlap"
    _table(folder, "overlap", pd.DataFrame([(A, A, 10)], columns=["relation_i", "relation_j", "overlap"]))
    write_summary(folder, OverlapSummary(10, K_TEXT, 1, 0, 0, [], NAN, 0))
    text = _text(_parse(_section(_render(run)[0], "overlap")))
    assert "Only one relation: no pairs to compare." in text and "largest overlap" not in text
    # a summary written before the typed one: a note saying what to rerun, the grid still drawn, no headline
    (folder / "summary.json").write_text(json.dumps({"k": 10, "max_offdiagonal": 0, "mean_offdiagonal": 0.0}))
    page, checker = _render(run)
    text = _text(_parse(_section(page, "overlap")))
    assert "rerun the overlap experiment" in text and "largest overlap" not in text
    assert len([a for hm, a in checker.cells if hm == "overlap"]) == 1


def test_a_damaged_overlap_table_gives_a_note_and_keeps_the_headline(run):
    _table(run / "results" / "overlap", "overlap", pd.DataFrame({"relation_i": [A], "relation_j": [A], "shared": [10]}))
    page, checker = _render(run)
    text = _text(_parse(_section(page, "overlap")))
    assert "overlap: lacks columns ['overlap']." in text
    assert not [a for hm, a in checker.cells if hm == "overlap"]
    assert "The largest overlap between two different relations is 7 neurons" in text
    assert 'data-figure="results/overlap/overlap.png"' in _section(page, "overlap")  # the figure instead of the grid


def test_inter_grid_tooltips_and_key_numbers(run):
    page, checker = _render(run)
    cells = [a for hm, a in checker.cells if hm == "inter"]
    assert [a["text"] for a in cells] == ["50", "15", "-15", "n/a", "n/a", "n/a", "50", "0", "80"]
    na = [a for a in cells if "na" in a["class"].split()]
    assert len(na) == 3
    assert (
        na[0]["title"]
        == f"evaluated: {B}\ndeactivated: {A}\naccuracy 0.00 → 0.00 (n = 10)\ndrop n/a (original accuracy is 0)"
    )
    assert na[2]["title"] == f"evaluated: {B}\ndeactivated: {C}\nnot in the table"  # the pair the table lacks
    assert (
        cells[6]["data-tip"]
        == f"evaluated: {C}\ndeactivated: {A}\naccuracy 0.50 → 0.25 (n = 10)\ndrop 50.0% [10.0%, 90.0%]"
    )
    text = _text(_parse(_section(page, "inter")))
    assert (
        "Over the 2 relations whose own and mean other drops are defined, deactivating a relation's own top-k neurons "
        "lowered its accuracy by 65.0% on average; deactivating another relation's lowered it by 12.5%. The own drop "
        "exceeded the mean drop caused by the other relations for 2 of 2 relations; 2 cells undefined (original accuracy 0)."
    ) in text
    assert f"{A}: own drop 50.0% [20.0%, 80.0%] (accuracy 0.80 → 0.40); mean drop from other relations 0.0%" in text
    assert f"{B}: own drop n/a (original accuracy 0) (accuracy 0.00 → 0.10); mean drop from other relations n/a" in text
    assert f"{C}: own drop 80.0% [50.0%, 100.0%] (accuracy 0.50 → 0.10); mean drop from other relations 25.0%" in text
    assert "Table: all 8 pairs" in text
    assert f"{C} {A} 10 0.50 0.25 50.0% [10.0%, 90.0%]" in text and f"{B} {A} 10 0.00 0.00 n/a n/a" in text
    assert f"{K_TEXT}. Grey “n/a”: undefined because the original accuracy is 0." in text
    section = _section(page, "inter")
    assert section.index('data-heatmap="inter"') < section.index('data-figure="results/inter/inter.png"')


def test_run_text_is_escaped_in_both_sections(run):
    page, _ = _render(run)
    for name in ("overlap", "inter"):
        section = _section(page, name)
        assert "<i>beta</i>" not in section and "&lt;i&gt;beta&lt;/i&gt;&amp;" in section


def test_a_corrupt_inter_table_gives_a_note_and_keeps_the_headline(run):
    (run / "results" / "inter" / "inter.parquet").write_bytes(b"not a parquet file")
    page, checker = _render(run)
    text = _text(_parse(_section(page, "inter")))
    assert "results/inter/inter.parquet could not be read" in text
    assert not [a for hm, a in checker.cells if hm == "inter"]
    assert "for 2 of 2 relations; 2 cells undefined" in text
    assert 'data-figure="results/inter/inter.png"' in _section(page, "inter")
    # a table without its drop column: a note naming it
    _table(run / "results" / "inter", "inter", pd.DataFrame(INTER, columns=INTER_COLUMNS).drop(columns="drop"))
    assert "inter: lacks columns ['drop']." in _text(_parse(_section(_render(run)[0], "inter")))


def test_nan_overlap_cells_are_grey(run):
    """A pair missing from the overlap table shows as n/a (a hole in a damaged table, not a zero)."""
    _table(
        run / "results" / "overlap",
        "overlap",
        pd.DataFrame([r for r in OVERLAP if {r[0], r[1]} != {A, C}], columns=["relation_i", "relation_j", "overlap"]),
    )
    _, checker = _render(run)
    cells = [a for hm, a in checker.cells if hm == "overlap"]
    assert [a["text"] for a in cells] == ["10", "4", "n/a", "4", "10", "7", "n/a", "7", "10"]
    assert cells[2]["title"] == f"{A} ∩ {C}: n/a" and "na" in cells[2]["class"].split()
