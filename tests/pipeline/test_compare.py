import numpy as np
import pandas as pd
import pytest

from relneurons.errors import DataError
from relneurons.pipeline.compare import compare_runs


def fake_run(folder, acc_relation, own_drop):
    """A run folder with only the two tables compare reads (numbers made up for the test)."""
    (folder / "results" / "intra").mkdir(parents=True)
    (folder / "results" / "inter").mkdir(parents=True)
    relations = list(acc_relation)
    pd.DataFrame({"relation": relations * 2, "split": ["P_eva"] * len(relations) + ["P_det"] * len(relations),
                  "acc_original": 0.5, "acc_random": 0.4, "acc_relation": list(acc_relation.values()) * 2,
                  "p_relation_vs_random": 0.1, "p_relation_vs_original": 0.1}).to_parquet(folder / "results" / "intra" / "tests.parquet")
    rows = [{"evaluated": a, "deactivated": b, "drop": own_drop[a] if a == b else 0.1} for a in relations for b in relations]
    pd.DataFrame(rows).to_parquet(folder / "results" / "inter" / "inter.parquet")
    return folder


def test_compare_joins_relations_and_takes_differences(tmp_path):
    a = fake_run(tmp_path / "a", {"x": 0.2, "y": 0.3}, {"x": 0.6, "y": 0.4})
    b = fake_run(tmp_path / "b", {"x": 0.25, "z": 0.1}, {"x": 0.5, "z": 0.9})
    table, out = compare_runs(a, b, tmp_path / "cmp")
    table = table.set_index("relation")
    assert set(table.index) == {"x", "y", "z"}
    assert table.loc["x", "acc_relation_diff"] == pytest.approx(0.05)
    assert table.loc["x", "own_drop_diff"] == pytest.approx(-0.1)
    assert np.isnan(table.loc["y", "acc_relation_b"]) and np.isnan(table.loc["z", "acc_relation_a"])
    for name in ("compare.parquet", "compare.csv", "compare.png", "compare.svg"):
        assert (out / name).stat().st_size > 0


def test_compare_needs_intra_results(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="results/intra/tests.parquet"):
        compare_runs(tmp_path / "empty", tmp_path / "empty")
