"""The layers, cumulativity and errors sections (report/sections/*.py + templates), on the hand-made run folder of
conftest.py, changed here case by case. Every number asserted is worked out by hand from the hand-made summaries
and tables; the headline numbers must come from the typed summaries (the report never recomputes them)."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from relneurons.experiments.summaries import (
    CumulativityRange,
    CumulativitySummary,
    ErrorShare,
    ErrorsSummary,
    LayerPeak,
    LayersSummary,
    write_summary,
)
from relneurons.report.html import render_report

from .conftest import EVIL_GENERATION, ODD
from .test_html import _parse, _text

K_TEXT = "k = 307 (0.36% of 85,248 ffn neurons)"


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="exp-{name}"')
    return page[start : page.index("</section>", start) + len("</section>")]


def _read(run, name: str) -> tuple[str, str]:
    """(HTML, reader's text) of one section; the whole page must stay well-formed."""
    page = render_report(run)
    checker = _parse(page)
    assert not checker.errors and not checker.stack, checker.errors[:5]
    html = _section(page, name)
    return html, _text(_parse(html))


def _table(folder, name: str, df: pd.DataFrame) -> None:
    df.to_parquet(folder / f"{name}.parquet", index=False)
    df.to_csv(folder / f"{name}.csv", index=False)


def _damage(folder, name: str) -> None:
    (folder / f"{name}.parquet").write_bytes(b"not a parquet file")
    (folder / f"{name}.csv").unlink()


# ----------------------------------------------------------------- layers


def test_layers_states_the_summarys_peaks_in_the_runs_relation_order(small_run):
    # conftest: counts per layer company_hq 100 150 57 0, ODD 20 40 200 47; 4 layers, first half = layers 0-1
    html, text = _read(small_run, "layers")
    assert (
        "On average 50% of a relation's top-k neurons lie in the first half of the model's 4 layers (layers 0–1)"
        in text
    )
    assert "company_hq: peak at layer 1 (150 of 307, 49%); 81% in the first half" in text  # 250 / 307 = 81.4%
    assert f"{ODD}: peak at layer 2 (200 of 307, 65%); 20% in the first half" in text  # 60 / 307 = 19.5%
    assert text.index("company_hq: peak") < text.index(f"{ODD}: peak")
    assert "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in html and "<b>bold</b>" not in html
    assert K_TEXT in text and "Counts per layer" in text


def test_layers_numbers_come_from_the_summary_not_the_table(small_run):
    folder = small_run / "results" / "layers"
    write_summary(
        folder,
        LayersSummary(
            307,
            K_TEXT,
            n_layers=5,
            first_half_layers=3,
            mean_first_half=0.125,
            relations=[LayerPeak(ODD, 10, 4, 6, 0.25), LayerPeak("company_hq", 0, -1, 0, math.nan)],
        ),
    )
    _, text = _read(small_run, "layers")
    assert (
        "On average 12% of a relation's top-k neurons lie in the first half of the model's 5 layers (layers 0–2)"
        in text
    )
    assert f"{ODD}: peak at layer 4 (6 of 10, 60%); 25% in the first half" in text
    assert "company_hq: no neurons" in text
    assert text.index("company_hq: no neurons") < text.index(f"{ODD}: peak")  # the run's order, not the summary's


def test_layers_with_an_old_summary_notes_it_and_keeps_the_counts(small_run):
    folder = small_run / "results" / "layers"
    (folder / "summary.json").write_text(json.dumps({"k": 307, "k_text": K_TEXT, "peak_layer": {"company_hq": 1}}))
    _, text = _read(small_run, "layers")
    assert "is not a version-1 layers summary" in text and "rerun the layers experiment" in text
    assert "peak at layer" not in text and "On average" not in text
    assert "Counts per layer" in text and K_TEXT in text  # the k line: the plain summary's, else the run's


# ----------------------------------------------------------------- cumulativity


def _ranges(folder) -> None:
    write_summary(
        folder,
        CumulativitySummary(
            [10, 300, 1000, 3000],
            [
                CumulativityRange(300, 1000, math.nan, 0, math.nan, 0, 0),
                CumulativityRange(1000, 3000, 0.6, 2, 1 - 2 / 7, 7, 2),
                CumulativityRange(10, 300, 0.75, 1, 0.75, 4, 1),
            ],
        ),
    )


def test_cumulativity_ranges_come_from_the_summary(small_run):
    folder = small_run / "results" / "cumulativity"
    _ranges(folder)
    for suffix in (".parquet", ".csv"):  # the summary alone carries the ranges
        (folder / f"summary_table{suffix}").unlink()
    html, text = _read(small_run, "cumulativity")
    items = re.findall(r"<li>(.*?)</li>", html)
    assert [_text(_parse(i)).strip() for i in items] == [
        "(10, 300]: micro 0.75 (1 affected of 4), macro 0.75 over 1 relation",
        "(300, 1,000]: no prompt lost in this range (n/a)",
        "(1,000, 3,000]: micro 0.71 (2 affected of 7), macro 0.60 over 2 relations",  # 1 - 2/7 = 0.714
    ]
    assert "(1,000, 3,000] 0.60 0.71 7 2 2" in text and "(300, 1,000] n/a n/a 0 0 0" in text
    assert "summary_table" not in text
    # per relation (conftest): ODD lost no prompt, so its cumulativity is undefined
    assert "Per relation" in text and f"{ODD} 10 300 0 0 n/a 20" in text
    assert 'data-figure="results/cumulativity/cumulativity.png"' in html


def test_cumulativity_with_an_old_summary_shows_no_headline(small_run):
    folder = small_run / "results" / "cumulativity"
    (folder / "summary.json").write_text(json.dumps({"ks": [10, 300], "micro": {"10-300": 0.75}}))
    _, text = _read(small_run, "cumulativity")
    assert "is not a version-1 cumulativity summary" in text and "rerun the cumulativity experiment" in text
    assert "micro 0.75" not in text and "affected of" not in text
    assert "Also in this folder: summary_table." in text  # listed, not lost
    assert "Per relation" in text


def test_cumulativity_damaged_per_relation_table_gives_a_note(small_run):
    _damage(small_run / "results" / "cumulativity", "cumulativity")
    _, text = _read(small_run, "cumulativity")
    assert "results/cumulativity/cumulativity.parquet could not be read" in text
    assert "micro 0.75 (1 affected of 4)" in text and "Per relation" not in text


# ----------------------------------------------------------------- errors


def test_errors_headline_and_table_from_summary_and_tables(small_run):
    html, text = _read(small_run, "errors")
    assert (f"off, {K_TEXT}, regenerated with 20 new tokens") in text
    assert (
        "4 prompts broke; pooled over relations: repeats the prompt 25%, starts with “The” 0%, "
        "starts with “A” 0%, other 75%."
    ) in text
    # Table 3 (errors_wide): percent columns shown as whole percentages, then the count
    assert f"{ODD} 25% 0% 0% 75% 4" in text
    assert "Example generations (↵ = line break)" in text


def test_errors_generations_are_escaped_with_visible_line_breaks(small_run):
    folder = small_run / "results" / "errors"
    _table(
        folder,
        "broken_prompts",
        pd.DataFrame(
            {
                "relation": [ODD, ODD],
                "prompt_id": [1, 3],
                "text": ["s1 is in the city of", "s3 <i>is</i> in"],
                "object": ["o1", "o3"],
                "generation": ["s1 is in the city of", EVIL_GENERATION],
                "correct": [False, False],
            }
        ),
    )
    html, text = _read(small_run, "errors")
    escaped = '&lt;script&gt;alert(1)&lt;/script&gt; &amp; more<span class="nl">↵</span>second line'
    assert f'<code class="gen">{escaped}</code><code class="gen">Paris</code>' in html  # the examples' cell
    assert html.count(escaped) == 2  # and the list of every broken prompt
    assert "<script>" not in html and "<i>" not in html and "s3 &lt;i&gt;is&lt;/i&gt; in" in html
    assert "All broken prompts (2)" in text and "prompt_id" not in text  # relation, text, object, generation only


def test_errors_headline_comes_from_the_summary(small_run):
    folder = small_run / "results" / "errors"
    write_summary(
        folder,
        ErrorsSummary(
            8,
            "k = 8 (a test)",
            5,
            7,
            [
                ErrorShare("repeats_prompt", 3, 3 / 7),
                ErrorShare("starts_with_the", 0, 0.0),
                ErrorShare("starts_with_a", 1, 1 / 7),
                ErrorShare("other", 2, 2 / 7),
                ErrorShare("new<kind>", 1, 1 / 7),
            ],
        ),
    )
    html, text = _read(small_run, "errors")
    assert "off, k = 8 (a test), regenerated with 5 new tokens" in text
    assert (
        "7 prompts broke; pooled over relations: repeats the prompt 43%, starts with “The” 0%, starts with “A” 14%, "
        "other 29%, new<kind> 14%."
    ) in text
    assert "new&lt;kind&gt;" in html


def test_errors_when_nothing_broke(small_run):
    folder = small_run / "results" / "errors"
    write_summary(
        folder,
        ErrorsSummary(
            307,
            K_TEXT,
            20,
            0,
            [ErrorShare(c, 0, math.nan) for c in ("repeats_prompt", "starts_with_the", "starts_with_a", "other")],
        ),
    )
    html, text = _read(small_run, "errors")
    headline = re.findall(r'<p class="headline">(.*?)</p>', html)
    assert len(headline) == 1 and headline[0].startswith("No prompt broke") and "n/a" not in headline[0]
    assert "prompts broke" not in text


def test_errors_damaged_tables_give_notes_not_a_crash(small_run):
    folder = small_run / "results" / "errors"
    _table(folder, "errors_wide", pd.DataFrame({"name": ["x"], "other": [1.0]}))
    _damage(folder, "errors")
    _, text = _read(small_run, "errors")
    assert "errors_wide: lacks columns ['relation']." in text
    assert "results/errors/errors.parquet could not be read" in text
    assert "4 prompts broke" in text and "Example generations" not in text


def test_errors_with_an_old_summary_notes_it(small_run):
    (small_run / "results" / "errors" / "summary.json").write_text(
        json.dumps({"k": 307, "broken_prompts": 4, "new_tokens": 20})
    )
    _, text = _read(small_run, "errors")
    assert "is not a version-1 errors summary" in text and "prompts broke" not in text
    assert "regenerated with more new tokens" in text and f"{ODD} 25% 0% 0% 75% 4" in text


@pytest.mark.parametrize("name", ["layers", "cumulativity", "errors"])
def test_a_builder_failure_falls_back_to_the_generic_view(small_run, name, monkeypatch):
    from importlib import import_module

    monkeypatch.setattr(
        import_module(f"relneurons.report.sections.{name}"),
        "build",
        lambda s: (_ for _ in ()).throw(ValueError("odd table")),
    )
    _, text = _read(small_run, name)
    assert "This section could not be drawn from its tables (ValueError: odd table); showing the raw files." in text
