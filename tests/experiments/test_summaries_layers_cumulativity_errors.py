"""The typed summaries of layers, cumulativity and errors (experiments/summaries.py) against hand-made tables:
every expected number is worked out by hand in the comments, or by a plain loop; each summary survives its
summary.json (nested dataclasses rebuilt, NaN through null)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from relneurons.errors import DataError
from relneurons.experiments import cumulativity_counts, summarise_cumulativity
from relneurons.experiments.error_analysis import ERROR_TABLE_COLUMNS, error_table
from relneurons.experiments.summaries import (
    CumulativityRange,
    CumulativitySummary,
    ErrorShare,
    ErrorsSummary,
    LayerPeak,
    LayersSummary,
    cumulativity_summary,
    errors_summary,
    layers_summary,
    read_summary,
    write_summary,
)
from relneurons.experiments.tables import layer_distribution


def _same(a, b) -> bool:
    """Dataclass equality with NaN == NaN (read back from null)."""
    return repr(a) == repr(b)


# ----------------------------------------------------------------- layers


def test_layers_summary_by_hand():
    # 5 layers: the first half is layers 0, 1, 2 (layer < 2.5).
    # r1: counts 1 3 3 0 2 -> total 9, peak at layer 1 (tie with 2: the lower), first half 7/9
    # r2: counts 0 0 0 0 4 -> total 4, peak at layer 4, first half 0
    # r3: no neurons -> total 0, peak -1, first half nan; not in the mean
    # mean first half = (7/9 + 0) / 2
    table = pd.DataFrame(
        [("r1", layer, c) for layer, c in enumerate([1, 3, 3, 0, 2])]
        + [("r2", 4, 4)]  # layers absent from the table count 0
        + [("r3", layer, 0) for layer in range(5)],
        columns=["relation", "layer", "count"],
    )
    s = layers_summary(table, 5, 9, "k = 9")
    assert (s.k, s.k_text, s.n_layers, s.first_half_layers) == (9, "k = 9", 5, 3)
    assert s.relations[:2] == [LayerPeak("r1", 9, 1, 3, pytest.approx(7 / 9)), LayerPeak("r2", 4, 4, 4, 0.0)]
    r3 = s.relations[2]
    assert (r3.relation, r3.total, r3.peak_layer, r3.peak_count) == ("r3", 0, -1, 0) and math.isnan(r3.first_half)
    assert s.mean_first_half == pytest.approx((7 / 9 + 0) / 2)
    assert (s.experiment, s.version) == ("layers", 1)


def test_layers_summary_matches_a_plain_loop_on_random_top_k():
    rng = np.random.default_rng(0)
    n_layers = 6
    topk = pd.DataFrame({"relation": np.repeat(["a", "b", "c"], 40), "layer": rng.integers(0, n_layers, 120)})
    s = layers_summary(layer_distribution(topk, n_layers), n_layers, 40, "k = 40")
    shares = []
    for peak in s.relations:
        layers = topk.loc[topk["relation"] == peak.relation, "layer"].tolist()
        counts = [layers.count(layer) for layer in range(n_layers)]
        best = max(counts)
        assert peak.total == 40 and peak.peak_count == best and peak.peak_layer == counts.index(best)
        assert peak.first_half == pytest.approx(sum(1 for x in layers if x < n_layers / 2) / 40)
        shares.append(peak.first_half)
    assert [p.relation for p in s.relations] == ["a", "b", "c"]
    assert s.mean_first_half == pytest.approx(sum(shares) / 3)


def test_layers_summary_without_relations():
    s = layers_summary(pd.DataFrame(columns=["relation", "layer", "count"]), 4, 0, "k = 0")
    assert s.relations == [] and math.isnan(s.mean_first_half) and s.first_half_layers == 2


# ----------------------------------------------------------------- cumulativity

B = lambda *v: np.array(v, dtype=bool)  # noqa: E731


def test_cumulativity_summary_from_the_hand_worked_case():
    # tests/experiments/test_cumulativity.py's case: (10, 50]: total 3, affected 1, macro 2/3 over 1 relation,
    # micro 2/3; (50, 200]: total 3, affected 2, macro 1/4 over 2 relations, micro 1/3.
    counts = pd.concat(
        [
            cumulativity_counts(
                "r1",
                {10: B(1, 1, 1, 1, 0, 1), 50: B(1, 0, 0, 1, 0, 0), 200: B(0, 0, 0, 1, 0, 0)},
                {(10, 50): B(1, 0, 1, 1, 1, 1), (50, 200): B(0, 1, 1, 1, 1, 1)},
            ),
            cumulativity_counts(
                "r2",
                {10: B(0, 0, 1, 1), 50: B(0, 0, 1, 1), 200: B(0, 0, 0, 0)},
                {(10, 50): B(0, 0, 0, 0), (50, 200): B(1, 1, 1, 0)},
            ),
        ],
        ignore_index=True,
    )
    table = summarise_cumulativity(counts)
    s = cumulativity_summary(table.iloc[::-1], [10, 50, 200])  # sorted by (a, b) whatever the table's order
    assert s.ks == [10, 50, 200] and (s.experiment, s.version) == ("cumulativity", 1)
    assert s.ranges == [
        CumulativityRange(10, 50, pytest.approx(2 / 3), 1, pytest.approx(2 / 3), 3, 1),
        CumulativityRange(50, 200, pytest.approx(1 / 4), 2, pytest.approx(1 / 3), 3, 2),
    ]
    assert all(type(r.a) is int and type(r.total) is int and type(r.micro) is float for r in s.ranges)


def test_cumulativity_summary_keeps_an_empty_range_undefined(tmp_path):
    table = pd.DataFrame(
        [(100, 1000, math.nan, 0, math.nan, 0, 0)],
        columns=["a", "b", "macro", "n_relations", "micro", "total", "affected"],
    )
    s = cumulativity_summary(table, [100, 1000])
    write_summary(tmp_path, s)
    back = read_summary(tmp_path, CumulativitySummary)
    assert (
        isinstance(back.ranges[0], CumulativityRange) and math.isnan(back.ranges[0].micro) and back.ranges[0].total == 0
    )
    assert _same(back, s)


# ----------------------------------------------------------------- errors


def test_errors_summary_pools_over_relations_by_hand():
    gens = pd.DataFrame(
        [
            ("r1", "Paris is the capital of", "Paris is the capital of France"),  # repeats the prompt
            ("r1", "Paris is the capital of", "The city"),  # starts with "The"
            ("r1", "Paris is the capital of", "London"),  # other
            ("r2", "Messi plays", "A.\nDefender"),  # starts with "A."
            ("r2", "Messi plays", "football"),  # other
        ],
        columns=["relation", "prompt", "generation"],
    )
    s = errors_summary(error_table(gens), 307, "k = 307", 20)
    # 5 broken prompts: repeats 1, The 1, A. 1, other 2
    assert (s.k, s.k_text, s.new_tokens, s.broken_prompts) == (307, "k = 307", 20, 5)
    assert s.categories == [
        ErrorShare("repeats_prompt", 1, 0.2),
        ErrorShare("starts_with_the", 1, 0.2),
        ErrorShare("starts_with_a", 1, 0.2),
        ErrorShare("other", 2, 0.4),
    ]
    assert (s.experiment, s.version) == ("errors", 1)


def test_errors_summary_with_nothing_broken_and_an_unknown_category(tmp_path):
    empty = errors_summary(error_table(pd.DataFrame(columns=["relation", "prompt", "generation"])), 8, "k = 8", 5)
    assert empty.broken_prompts == 0 and [c.category for c in empty.categories] == [
        "repeats_prompt",
        "starts_with_the",
        "starts_with_a",
        "other",
    ]
    assert all(c.count == 0 and math.isnan(c.share) for c in empty.categories)
    # a table of another (future) category list: its categories follow the known ones, shares of the 3 prompts
    table = pd.DataFrame(
        [("r", "other", 1, 3, 100 / 3, None, None, None), ("r", "echo", 2, 3, 200 / 3, None, None, None)],
        columns=ERROR_TABLE_COLUMNS,
    )
    s = errors_summary(table, 8, "k = 8", 5)
    assert s.broken_prompts == 3
    assert [(c.category, c.count) for c in s.categories] == [
        ("repeats_prompt", 0),
        ("starts_with_the", 0),
        ("starts_with_a", 0),
        ("other", 1),
        ("echo", 2),
    ]
    assert s.categories[-1].share == pytest.approx(2 / 3)
    write_summary(tmp_path, empty)
    assert _same(read_summary(tmp_path, ErrorsSummary), empty)


# ----------------------------------------------------------------- summary.json


@pytest.mark.parametrize(
    "summary",
    [
        LayersSummary(4, "k = 4", 2, 1, 0.5, [LayerPeak("a", 4, 0, 2, 0.5), LayerPeak("b", 0, -1, 0, math.nan)]),
        CumulativitySummary([1, 2], [CumulativityRange(1, 2, 0.5, 1, 0.25, 4, 3)]),
        ErrorsSummary(4, "k = 4", 20, 1, [ErrorShare("other", 1, 1.0)]),
    ],
)
def test_round_trip_and_refusals(tmp_path, summary):
    write_summary(tmp_path, summary)
    back = read_summary(tmp_path, type(summary))
    assert _same(back, summary)
    assert type(getattr(back, "relations", getattr(back, "ranges", getattr(back, "categories", None)))[0]) is not dict
    other = next(c for c in (LayersSummary, CumulativitySummary, ErrorsSummary) if c is not type(summary))
    with pytest.raises(DataError, match=f"not a version-1 {other.experiment} summary"):
        read_summary(tmp_path, other)
