"""intra on a tiny study: the rank p and Holm columns of its tests, P_det with fewer random sets, and the inter
experiment's specificity test computed from the inter table it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.stats import adjust, specificity_test

from .test_methods import answered_study


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    s = answered_study(tmp_path_factory.mktemp("intra"), lre_dir)
    EXPERIMENTS["intra"](s, det_random_sets=1)
    EXPERIMENTS["inter"](s)
    return s


def test_p_det_asks_the_first_n_random_sets_and_p_eva_all(study):
    folder = study.out / "intra"
    tests = pd.read_parquet(folder / "tests.parquet")
    judged = pd.read_parquet(folder / "generations.parquet")
    assert study.config.seeds >= 2
    assert set(tests.loc[tests.split == "P_eva", "n_random_sets"]) == {study.config.seeds}
    assert set(tests.loc[tests.split == "P_det", "n_random_sets"]) == {1}
    asked = judged[(judged.split == "P_det") & (judged.kind == "random")]["condition"].unique()
    assert list(asked) == [study.rnd(0, study.k)]
    # rank p by hand from the generations; below 20 sets there is no test p
    for row in tests.itertuples():
        part = judged[(judged.relation == row.relation) & (judged.split == row.split)]
        acc = {c: g["correct"].mean() for c, g in part.groupby("condition")}
        rel = acc[study.rel(row.relation, 0, study.k)]
        sets = [acc[c] for c in part.loc[part.kind == "random", "condition"].unique()]
        assert row.p_rank == pytest.approx((1 + sum(a <= rel for a in sets)) / (len(sets) + 1))
        assert np.isnan(row.p_relation_vs_random)
    for _, part in tests.groupby("split"):  # Holm within each split
        got = part["p_relation_vs_original_holm"].to_numpy()
        assert got == pytest.approx(adjust(part["p_relation_vs_original"].to_numpy(), "holm"), nan_ok=True)


def test_inter_specificity_is_the_test_of_its_own_tables(study):
    folder = study.out / "inter"
    summary = json.loads((folder / "summary.json").read_text())
    table = pd.read_parquet(folder / "specificity.parquet")
    assert [t["split"] for t in summary["specificity"]] == ["P_eva", "P_det"]
    for split, stem in (("P_eva", "inter"), ("P_det", "inter_det")):
        cells = pd.read_parquet(folder / f"{stem}.parquet")
        matrix = cells.pivot(index="evaluated", columns="deactivated", values="drop")
        expected = specificity_test(matrix)
        got = next(t for t in summary["specificity"] if t["split"] == split)
        for key, want in (("statistic", expected.statistic), ("p_value", expected.p_value)):  # NaN is written as null
            assert (got[key] is None and np.isnan(want)) or got[key] == pytest.approx(want)
        assert set(table.loc[table.split == split, "relation"]) == set(study.relations)
