"""The k sweep's typed summary (summaries.sweep_summary) on hand-made tables, checked against numbers worked out
by hand and against plain loops over the rows; and what the sweep experiment writes (tiny model, no fakes)."""

from __future__ import annotations

import math
from dataclasses import asdict

import pandas as pd
import pytest

from relneurons.errors import DataError
from relneurons.experiments.summaries import SweepSummary, read_summary, sweep_summary, write_summary

from .test_cumulativity import _study, answering  # noqa: F401 - the tiny model's store and rankings (a fixture)

COLUMNS = ["deactivated", "evaluated", "k", "accuracy", "ci_low", "ci_high"]
NAN = math.nan


def _table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


# a, b, c; k = 0 (original), 10, 100. Own accuracy on the diagonal; each row's interval is accuracy +- 0.1.
ACC = {  # (deactivated, k) -> accuracy of a, b, c
    ("a", 0): (0.8, 0.6, 0.4),
    ("a", 10): (0.7, 0.6, 0.4),
    ("a", 100): (0.2, 0.5, 0.3),
    ("b", 0): (0.8, 0.6, 0.4),
    ("b", 10): (0.8, 0.5, 0.4),
    ("b", 100): (0.6, 0.1, 0.4),
    ("c", 0): (0.8, 0.6, 0.4),
    ("c", 10): (0.8, 0.6, 0.3),
    ("c", 100): (0.7, 0.5, 0.0),
}
HAND = _table([(d, e, k, acc, acc - 0.1, acc + 0.1) for (d, k), accs in ACC.items() for e, acc in zip("abc", accs)])


def _close(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, abs_tol=1e-12)


def test_headline_worked_out_by_hand():
    s = sweep_summary(HAND, ["a", "b", "c"], 1000)
    assert (s.ks, s.k_max, s.n_neurons, s.n_relations) == ([10, 100], 100, 1000, 3)
    # own at k = 0: a 0.8, b 0.6, c 0.4 -> 0.6; at k = 100: a 0.2, b 0.1, c 0.0 -> 0.1
    assert s.own_compared == 3 and _close(s.own_original, 0.6) and _close(s.own_at_max, 0.1)
    # others at k = 0: a (0.6 + 0.4) / 2 = 0.5, b 0.6, c 0.7 -> 0.6; at 100: a 0.4, b 0.5, c 0.6 -> 0.5
    assert s.other_compared == 3 and _close(s.other_original, 0.6) and _close(s.other_at_max, 0.5)
    b = s.relations[1]
    assert b.relation == "b" and [p.k for p in b.points] == [0, 10, 100]
    last = b.points[-1]
    assert _close(last.own, 0.1) and _close(last.own_low, 0.0) and _close(last.own_high, 0.2)
    assert _close(last.other, 0.5) and last.n_other == 2


def test_every_point_matches_plain_loops_over_the_rows():
    table = HAND.sample(frac=1.0, random_state=3)  # row order must not matter
    s = sweep_summary(table, ["c", "a", "b"], 1000)
    assert [r.relation for r in s.relations] == ["c", "a", "b"]  # the order given
    rows = table.to_dict("records")
    for rel in s.relations:
        for p in rel.points:
            own = [x["accuracy"] for x in rows if x["deactivated"] == x["evaluated"] == rel.relation and x["k"] == p.k]
            other = [
                x["accuracy"]
                for x in rows
                if x["deactivated"] == rel.relation and x["evaluated"] != rel.relation and x["k"] == p.k
            ]
            assert len(own) == 1 and _close(p.own, own[0]) and _close(p.own_low, own[0] - 0.1)
            assert p.n_other == len(other) and _close(p.other, sum(other) / len(other))


def test_undefined_accuracies_leave_a_relation_out_of_the_headline_not_nan_in_it():
    table = HAND.copy()
    # b's own accuracy at k = 100 undefined; c's others at k = 0 undefined; a's other b at 100 undefined
    table.loc[(table.deactivated == "b") & (table.evaluated == "b") & (table.k == 100), "accuracy"] = NAN
    table.loc[(table.deactivated == "c") & (table.evaluated != "c") & (table.k == 0), "accuracy"] = NAN
    table.loc[(table.deactivated == "a") & (table.evaluated == "b") & (table.k == 100), "accuracy"] = NAN
    s = sweep_summary(table, ["a", "b", "c"], 1000)
    assert s.own_compared == 2 and _close(s.own_original, (0.8 + 0.4) / 2) and _close(s.own_at_max, (0.2 + 0.0) / 2)
    assert (
        s.other_compared == 2 and _close(s.other_original, (0.5 + 0.6) / 2) and _close(s.other_at_max, (0.3 + 0.5) / 2)
    )
    a_top = s.relations[0].points[-1]
    assert a_top.n_other == 1 and _close(a_top.other, 0.3)  # only c's accuracy is defined
    # a relation missing its row at the largest k is left out as well
    s = sweep_summary(HAND[~((HAND.deactivated == "a") & (HAND.k == 100))], ["a", "b", "c"], 1000)
    assert s.own_compared == 2 and _close(s.own_at_max, (0.1 + 0.0) / 2)
    assert [p.k for p in s.relations[0].points] == [0, 10]


def test_adversarial_tables():
    # no k > 0: nothing to compare
    s = sweep_summary(HAND[HAND.k == 0], ["a", "b", "c"], 1000)
    assert s.ks == [] and s.k_max == 0 and s.own_compared == s.other_compared == 0
    assert math.isnan(s.own_original) and math.isnan(s.other_at_max)
    # one relation: no other relations
    one = HAND[(HAND.deactivated == "a") & (HAND.evaluated == "a")]
    s = sweep_summary(one, ["a"], 1000)
    assert s.own_compared == 1 and s.other_compared == 0 and math.isnan(s.other_original)
    assert all(p.n_other == 0 and math.isnan(p.other) for p in s.relations[0].points)
    # a relation not in the table, and an empty table
    s = sweep_summary(HAND, ["a", "b", "c", "zzz"], 1000)
    assert s.n_relations == 4 and s.relations[-1].points == [] and s.own_compared == 3
    s = sweep_summary(HAND.iloc[:0], ["a"], 1000)
    assert s.ks == [] and s.relations[0].points == []
    # no interval columns: the intervals are NaN
    s = sweep_summary(HAND.drop(columns=["ci_low", "ci_high"]), ["a"], 1000)
    assert math.isnan(s.relations[0].points[0].own_low) and _close(s.own_at_max, 0.2)


def test_round_trip_and_old_summaries_are_refused(tmp_path):
    table = HAND.copy()
    table.loc[0, "accuracy"] = NAN  # NaN is written as null and read back as NaN
    s = sweep_summary(table, ["a", "b", "c"], 1000)
    write_summary(tmp_path, s)
    back = read_summary(tmp_path, SweepSummary)
    assert repr(asdict(back)) == repr(asdict(s))  # nan == nan in repr
    (tmp_path / "summary.json").write_text('{"ks": [10, 100], "n_neurons": 1000}')  # what the sweep wrote before
    with pytest.raises(DataError, match="not a version-1 sweep summary.*rerun the sweep experiment"):
        read_summary(tmp_path, SweepSummary)


def test_the_sweep_experiment_writes_the_summary_of_its_table(answering, tmp_path):  # noqa: F811
    """On a tiny real model: summary.json is the typed summary of the table the sweep returns and writes."""
    from relneurons.experiments import core

    study = _study(answering, tmp_path / "run")
    table = core.sweep(study, k_sweep=(2, 4))
    s = read_summary(study.out / "sweep", SweepSummary)
    assert (
        s.ks == [2, 4] and s.n_neurons == study.nset.size and [r.relation for r in s.relations] == list(study.relations)
    )
    assert repr(asdict(s)) == repr(
        asdict(
            sweep_summary(
                pd.read_parquet(study.out / "sweep" / "sweep.parquet"), list(study.relations), study.nset.size
            )
        )
    )
    assert repr(asdict(s)) == repr(asdict(sweep_summary(table, list(study.relations), study.nset.size)))
