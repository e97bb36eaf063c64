import math

import numpy as np
import pandas as pd
import pytest

from relneurons.errors import DataError
from relneurons.experiments.summaries import (
    RelationTest,
    inter_summary,
    intra_summary,
    relation_tests_table,
    write_summary,
)
from relneurons.io import write_json
from relneurons.pipeline.compare import compare_runs


def _test(relation, split, acc_relation, percentile):
    return RelationTest(
        relation=relation,
        split=split,
        n=50,
        n_clusters=50,
        acc_original=0.5,
        acc_random=0.4,
        acc_relation=acc_relation,
        percentile=percentile,
        p_relation_vs_random=0.1,
        n_random_sets=3,
        random_low=0.2,
        random_high=0.6,
        diff=acc_relation - 0.4,
        diff_low=-0.3,
        diff_high=0.1,
        test="t-prediction",
        p_relation_vs_original=0.1,
    )


def fake_run(folder, acc_relation, own_drop, inter=True):
    """A run folder holding only the summaries compare reads, written by the experiments' own writers
    (numbers made up for the test; the inter table has one undefined off-diagonal cell)."""
    relations = list(acc_relation)
    tests = [_test(r, s, acc_relation[r], 0.0 if s == "P_eva" else 50.0) for s in ("P_eva", "P_det") for r in relations]
    write_summary(
        folder / "results" / "intra", intra_summary(relation_tests_table(tests), 8, "k = 8", "robust", [0, 1, 2])
    )
    if inter:
        rows = [
            {
                "evaluated": a,
                "deactivated": b,
                "drop": own_drop[a] if a == b else (math.nan if b == relations[-1] else 0.1),
                "drop_low": 0.0,
                "drop_high": 1.0,
            }
            for a in relations
            for b in relations
        ]
        write_summary(folder / "results" / "inter", inter_summary(pd.DataFrame(rows), relations, 8, "k = 8"))
    return folder


def test_compare_joins_relations_and_takes_differences(tmp_path):
    a = fake_run(tmp_path / "a", {"x": 0.2, "y": 0.3, "w": 0.1}, {"x": 0.6, "y": 0.4, "w": 0.2})
    b = fake_run(tmp_path / "b", {"x": 0.25, "z": 0.1}, {"x": 0.5, "z": 0.9})
    table, out = compare_runs(a, b, tmp_path / "cmp")
    table = table.set_index("relation")
    assert set(table.index) == {"x", "y", "z", "w"}
    assert table.loc["x", "acc_relation_diff"] == pytest.approx(0.05)
    assert table.loc["x", "own_drop_diff"] == pytest.approx(-0.1)
    assert table.loc["x", "percentile_a"] == 0.0 and table.loc["x", "n_random_sets_b"] == 3
    # mean other drop over the defined cells only (w's drop on x in run a and z's on x in run b are undefined): the summary's rule
    assert table.loc["x", "other_drop_a"] == pytest.approx(0.1) and math.isnan(table.loc["x", "other_drop_b"])
    assert np.isnan(table.loc["y", "acc_relation_b"]) and np.isnan(table.loc["z", "acc_relation_a"])
    for name in ("compare.parquet", "compare.csv", "compare.png", "compare.svg"):
        assert (out / name).stat().st_size > 0


def test_compare_without_inter_has_no_drops(tmp_path):
    a = fake_run(tmp_path / "a", {"x": 0.2}, {"x": 0.6}, inter=False)
    table, _ = compare_runs(a, a, tmp_path / "cmp")
    assert table["own_drop_a"].isna().all() and table["acc_relation_diff"].iloc[0] == 0


def test_compare_needs_intra_results(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="intra/summary.json is missing: run the intra experiment"):
        compare_runs(tmp_path / "empty", tmp_path / "empty")


def test_compare_refuses_an_old_summary(tmp_path):
    write_json(tmp_path / "old" / "results" / "intra" / "summary.json", {"k": 8, "seeds": 3})
    with pytest.raises(DataError, match="not a version-2 intra summary.*rerun the intra experiment"):
        compare_runs(tmp_path / "old", tmp_path / "old")
