"""The overlap experiment's typed summary (summaries.overlap_summary) against a hand count with Python sets, its
edge cases, and end to end on a tiny model (the top-k sets read back from the study's rankings)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from tiny_study import tiny_study

from relneurons.errors import InputError
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.summaries import OverlapSummary, overlap_summary, read_summary, write_summary
from relneurons.experiments.tables import overlap_matrix


def _hand_count(sets: dict[str, set[int]]) -> tuple[int, list[str], float, int, int]:
    """(largest, its pair, mean, pairs sharing none, pairs) over unordered pairs, by plain loops."""
    names = list(sets)
    shared = [(len(sets[a] & sets[b]), a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    if not shared:
        return 0, [], math.nan, 0, 0
    best = shared[0]
    for item in shared[1:]:
        if item[0] > best[0]:  # strictly larger: ties keep the earlier pair
            best = item
    return (
        best[0],
        [best[1], best[2]],
        sum(n for n, _, _ in shared) / len(shared),
        sum(n == 0 for n, _, _ in shared),
        len(shared),
    )


def _topk(sets: dict[str, set[int]]) -> pd.DataFrame:
    return pd.DataFrame([(r, n) for r, s in sets.items() for n in sorted(s)], columns=["relation", "global_index"])


SETS = {"a": {1, 2, 3, 4, 5}, "b": {4, 5, 6, 7, 8}, "c": {9, 10, 11, 12, 13}, "d": {1, 2, 6, 7, 9}}


def test_summary_matches_a_hand_count():
    # a∩b = {4,5}, a∩c = {}, a∩d = {1,2}, b∩c = {}, b∩d = {6,7}, c∩d = {9}: ties at 2 -> the first pair (a, b)
    summary = overlap_summary(overlap_matrix(_topk(SETS)), 5, "k = 5")
    largest, pair, mean, none, pairs = _hand_count(SETS)
    assert (largest, pair, none, pairs) == (2, ["a", "b"], 2, 6)
    assert summary == OverlapSummary(
        k=5,
        k_text="k = 5",
        n_relations=4,
        pairs=pairs,
        max_overlap=largest,
        max_pair=pair,
        mean_overlap=pytest.approx(mean),
        pairs_sharing_none=none,
    )
    assert summary.mean_overlap == pytest.approx(7 / 6)


def test_the_largest_pair_follows_the_relations_order_and_not_the_diagonal():
    sets = {"x": {1, 2}, "y": {3, 4}, "z": {2, 3, 4}}  # y∩z = 2 is the largest; x∩z = 1, x∩y = 0
    summary = overlap_summary(overlap_matrix(_topk(sets)), 2, "k = 2")
    assert (summary.max_overlap, summary.max_pair, summary.pairs_sharing_none) == (2, ["y", "z"], 1)
    assert summary.mean_overlap == pytest.approx(1.0)


def test_edge_cases_one_relation_all_disjoint_and_bad_matrices(tmp_path):
    one = overlap_summary(overlap_matrix(_topk({"a": {1, 2}})), 2, "k = 2")
    assert (one.n_relations, one.pairs, one.max_overlap, one.max_pair, one.pairs_sharing_none) == (1, 0, 0, [], 0)
    assert math.isnan(one.mean_overlap)
    write_summary(tmp_path, one)  # NaN is written as null and read back as NaN
    back = read_summary(tmp_path, OverlapSummary)
    assert math.isnan(back.mean_overlap) and back.max_pair == [] and back.experiment == "overlap"
    disjoint = overlap_summary(overlap_matrix(_topk({"a": {1}, "b": {2}, "c": {3}})), 1, "k = 1")
    assert (disjoint.max_overlap, disjoint.max_pair, disjoint.mean_overlap, disjoint.pairs_sharing_none) == (
        0,
        ["a", "b"],
        0.0,
        3,
    )
    m = overlap_matrix(_topk(SETS))
    asymmetric = m.copy()
    asymmetric.iloc[0, 1] += 1
    with pytest.raises(InputError, match="square and symmetric"):
        overlap_summary(asymmetric, 5, "k = 5")
    with pytest.raises(InputError, match="square and symmetric"):
        overlap_summary(m.iloc[:, :3], 5, "k = 5")


def test_the_experiment_writes_the_hand_counted_summary(tmp_path, lre_dir):
    study = tiny_study(tmp_path, lre_dir, k=120)  # 3 relations x 120 of 256 neurons: some pairs must share neurons
    EXPERIMENTS["overlap"](study)
    summary = read_summary(study.out / "overlap", OverlapSummary)
    sets = {r: set(study.ranked(r, 0, study.k).tolist()) for r in study.relations}
    assert all(len(s) == study.k for s in sets.values()) and len(study.relations) * study.k > study.nset.size
    largest, pair, mean, none, pairs = _hand_count(sets)
    assert largest > 0
    assert (summary.k, summary.k_text, summary.n_relations) == (study.k, study.k_text(), len(study.relations))
    assert (summary.max_overlap, summary.max_pair, summary.pairs_sharing_none, summary.pairs) == (
        largest,
        pair,
        none,
        pairs,
    )
    assert summary.mean_overlap == pytest.approx(mean)
    table = pd.read_parquet(study.out / "overlap" / "overlap.parquet")  # the grid's table agrees with the summary
    off = table[table.relation_i != table.relation_j]
    assert off["overlap"].max() == largest and (off["overlap"] == 0).sum() == 2 * none
