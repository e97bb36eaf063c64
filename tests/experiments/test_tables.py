"""Layer distribution and overlap of hand-built top-k tables (experiments/tables.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from relneurons.errors import InputError
from relneurons.experiments import LAYER_DISTRIBUTION_COLUMNS, layer_distribution, matrix_to_long, overlap_matrix


def _topk() -> pd.DataFrame:
    # relation "zeta" first, so first-appearance order differs from alphabetical order
    rows = [
        ("zeta", 1, 3, 1),
        ("zeta", 2, 4, 2),
        ("zeta", 3, 5, 2),
        ("alpha", 1, 1, 0),
        ("alpha", 2, 2, 0),
        ("alpha", 3, 3, 2),
        ("mid", 1, 1, 0),
        ("mid", 2, 3, 2),
        ("mid", 3, 9, 3),
    ]
    return pd.DataFrame(rows, columns=["relation", "rank", "global_index", "layer"])


def test_layer_distribution_counts_with_empty_layers():
    got = layer_distribution(_topk(), n_layers=5)
    assert list(got.columns) == LAYER_DISTRIBUTION_COLUMNS
    assert len(got) == 3 * 5
    counts = {rel: part["count"].tolist() for rel, part in got.groupby("relation", sort=False)}
    assert list(counts) == ["zeta", "alpha", "mid"]
    assert counts == {"zeta": [0, 1, 2, 0, 0], "alpha": [2, 0, 1, 0, 0], "mid": [1, 0, 1, 1, 0]}
    assert got.loc[got.relation == "alpha", "layer"].tolist() == [0, 1, 2, 3, 4]
    assert got.loc[got.relation == "alpha", "fraction"].tolist() == pytest.approx([2 / 3, 0, 1 / 3, 0, 0])


def test_layer_distribution_rejects_out_of_range_layers():
    with pytest.raises(InputError, match="layers"):
        layer_distribution(_topk(), n_layers=3)  # "mid" has a neuron in layer 3
    with pytest.raises(InputError):
        layer_distribution(_topk().drop(columns="layer"), n_layers=5)


def test_overlap_matrix_by_hand():
    # zeta {3,4,5}, alpha {1,2,3}, mid {1,3,9}:
    # zeta∩alpha = {3}, zeta∩mid = {3}, alpha∩mid = {1,3}; diagonal = k = 3
    m = overlap_matrix(_topk())
    assert list(m.index) == list(m.columns) == ["zeta", "alpha", "mid"]
    assert m.values.tolist() == [[3, 1, 1], [1, 3, 2], [1, 2, 3]]


def test_overlap_matrix_rejects_duplicate_neurons():
    dup = pd.concat([_topk(), _topk().iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="more than once"):
        overlap_matrix(dup)


def test_matrix_to_long():
    m = overlap_matrix(_topk())
    long = matrix_to_long(m, "relation_i", "relation_j", "overlap")
    assert list(long.columns) == ["relation_i", "relation_j", "overlap"]
    assert long.iloc[1].tolist() == ["zeta", "alpha", 1]
    assert long.iloc[5].tolist() == ["alpha", "mid", 2]
    assert len(long) == 9
