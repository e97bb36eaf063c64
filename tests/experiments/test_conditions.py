"""Condition names: built and parsed in one place, and written exactly as every earlier cache of generations keys
them (the literal strings below are that contract: results/generations.parquet files on disk hold them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relneurons.experiments.common import condition_kind
from relneurons.experiments.conditions import ConditionName
from relneurons.experiments.study import Study

# Names as the project has written them since its first cache (study.py before this module existed).
HISTORICAL = ["original", "rel:company_ceo:0-3000", "rel:star_constellation:50-200", "random:0:307", "random:11:3000"]


def test_the_names_are_the_ones_earlier_caches_hold():
    assert Study.rel("company_ceo", 0, 3000) == "rel:company_ceo:0-3000"
    assert Study.rnd(11, 3000) == "random:11:3000"
    for name in HISTORICAL:
        assert str(ConditionName.parse(name)) == name


def test_fields_and_kinds():
    assert ConditionName.parse("rel:star_constellation:50-200").ranks == (50, 200)
    assert ConditionName.parse("rel:star_constellation:50-200").label == "star_constellation"
    assert ConditionName.parse("random:11:3000").seed_and_size == (11, 3000)
    assert [condition_kind(n) for n in HISTORICAL] == ["original", "relation", "relation", "random", "random"]
    assert condition_kind("ids:concept-city:0123456789ab") == "ids"
    assert condition_kind("forced:p90-company_ceo:0123456789ab") == "forced"


@pytest.mark.parametrize(
    "bad",
    ["", "rel", "rel:a", "rel:a:1", "rel:a:x-2", "rel:a:1-", "random:a:3", "random:1:", "other:a:b", "rel:a:1-2:3"],
)
def test_malformed_names_are_refused(bad):
    with pytest.raises(ValueError, match="condition"):
        name = ConditionName.parse(bad)
        name.ranks if name.kind == "rel" else name.seed_and_size  # noqa: B018


@given(
    relation=st.text(st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1),
    lo=st.integers(0, 10**6),
    width=st.integers(1, 10**6),
    seed=st.integers(0, 10**4),
)
def test_round_trip(relation, lo, width, seed):
    rel = ConditionName.relation(relation, lo, lo + width)
    assert ConditionName.parse(str(rel)) == rel and rel.ranks == (lo, lo + width)
    rnd = ConditionName.random(seed, width)
    assert ConditionName.parse(str(rnd)) == rnd and str(rnd) == f"random:{seed}:{width}"
