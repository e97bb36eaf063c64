"""Cumulativity counts on a case worked out by hand (experiments/cumulativity.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relneurons.errors import InputError
from relneurons.experiments import (
    CUMULATIVITY_COLUMNS,
    SUMMARY_COLUMNS,
    cumulativity_counts,
    cumulativity_from_long,
    summarise_cumulativity,
)

B = lambda *v: np.array(v, dtype=bool)  # noqa: E731

# r1, 6 prompts, k in {10, 50, 200}
R1_TOP = {10: B(1, 1, 1, 1, 0, 1), 50: B(1, 0, 0, 1, 0, 0), 200: B(0, 0, 0, 1, 0, 0)}
R1_RANGE = {(10, 50): B(1, 0, 1, 1, 1, 1), (50, 200): B(0, 1, 1, 1, 1, 1)}
# (10, 50]: right with top-10 off, wrong with top-50 off -> prompts 1, 2, 5: total 3.
#           Only ranks 11..50 off: prompt 1 wrong, prompts 2 and 5 right -> affected 1.
#           cumulativity = 1 - 1/3 = 2/3.
# (50, 200]: right with top-50 (prompts 0, 3), wrong with top-200 -> prompt 0 only: total 1.
#           Only ranks 51..200 off: prompt 0 wrong -> affected 1, cumulativity 0.

# r2, 4 prompts
R2_TOP = {10: B(0, 0, 1, 1), 50: B(0, 0, 1, 1), 200: B(0, 0, 0, 0)}
R2_RANGE = {(10, 50): B(0, 0, 0, 0), (50, 200): B(1, 1, 1, 0)}
# (10, 50]: no prompt flips -> total 0, affected 0, cumulativity undefined (NaN).
# (50, 200]: prompts 2, 3 flip -> total 2; only ranks 51..200 off: prompt 3 wrong -> affected 1,
#           cumulativity 1/2.

# Summary:
# (10, 50]:  macro = mean(2/3) (r2 is NaN, skipped) = 2/3 over 1 relation;
#            micro = 1 - (1 + 0) / (3 + 0) = 2/3.
# (50, 200]: macro = mean(0, 1/2) = 1/4 over 2 relations;
#            micro = 1 - (1 + 1) / (1 + 2) = 1/3.


def _table() -> pd.DataFrame:
    return pd.concat(
        [cumulativity_counts("r1", R1_TOP, R1_RANGE), cumulativity_counts("r2", R2_TOP, R2_RANGE)], ignore_index=True
    )


def test_counts_by_hand():
    df = _table()
    assert list(df.columns) == CUMULATIVITY_COLUMNS
    assert df[["relation", "a", "b", "total", "affected", "n_prompts"]].values.tolist() == [
        ["r1", 10, 50, 3, 1, 6],
        ["r1", 50, 200, 1, 1, 6],
        ["r2", 10, 50, 0, 0, 4],
        ["r2", 50, 200, 2, 1, 4],
    ]
    cum = df["cumulativity"].tolist()
    assert cum[0] == pytest.approx(2 / 3)
    assert cum[1] == 0.0
    assert math.isnan(cum[2])
    assert cum[3] == pytest.approx(0.5)


def test_summary_by_hand():
    summary = summarise_cumulativity(_table())
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert summary[["a", "b", "n_relations", "total", "affected"]].values.tolist() == [
        [10, 50, 1, 3, 1],
        [50, 200, 2, 3, 2],
    ]
    assert summary["macro"].tolist() == pytest.approx([2 / 3, 0.25])
    assert summary["micro"].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_summary_all_undefined_range_is_nan():
    df = pd.DataFrame([("r", 0, 10, 0, 0, math.nan, 5)], columns=CUMULATIVITY_COLUMNS)
    row = summarise_cumulativity(df).iloc[0]
    assert math.isnan(row["macro"]) and math.isnan(row["micro"]) and row["n_relations"] == 0


def test_long_format_gives_the_same_counts():
    rows = []
    for rel, top, rng in (("r1", R1_TOP, R1_RANGE), ("r2", R2_TOP, R2_RANGE)):
        for k, arr in top.items():
            rows += [(rel, 0, k, f"{rel}-{i}", bool(v)) for i, v in enumerate(arr)]
        for (a, b), arr in rng.items():
            rows += [(rel, a, b, f"{rel}-{i}", bool(v)) for i, v in enumerate(arr)]
    long = pd.DataFrame(rows, columns=["relation", "lo", "hi", "prompt_id", "correct"])
    long = long.sample(frac=1.0, random_state=0)  # order of rows must not matter
    long = pd.concat([long[long.relation == "r1"], long[long.relation == "r2"]])
    got = cumulativity_from_long(long)
    pd.testing.assert_frame_equal(got, _table())


def test_invalid_inputs():
    with pytest.raises(InputError, match="51..200"):
        cumulativity_counts("r1", R1_TOP, {(10, 50): R1_RANGE[(10, 50)]})
    with pytest.raises(InputError, match="different numbers of prompts"):
        cumulativity_counts("r1", R1_TOP, {**R1_RANGE, (10, 50): B(1, 0, 1)})
    with pytest.raises(InputError, match="two k values"):
        cumulativity_counts("r1", {10: R1_TOP[10]}, {})
    with pytest.raises(InputError):
        cumulativity_from_long(pd.DataFrame({"relation": ["r"], "lo": [0]}))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=2, max_size=2)
    )
)
def test_range_as_damaging_as_topb_gives_zero_and_harmless_range_gives_one(pair):
    top_a, top_b = (np.array(v) for v in pair)
    flips = int(np.sum(top_a & ~top_b))
    # the range alone breaks exactly what top-b breaks: every flipped prompt is affected
    same = cumulativity_counts("r", {1: top_a, 2: top_b}, {(1, 2): top_b}).iloc[0]
    # the range alone breaks nothing: no flipped prompt is affected
    none = cumulativity_counts("r", {1: top_a, 2: top_b}, {(1, 2): np.ones_like(top_b)}).iloc[0]
    assert same["total"] == none["total"] == flips
    assert same["affected"] == flips and none["affected"] == 0
    if flips:
        assert same["cumulativity"] == 0.0 and none["cumulativity"] == 1.0
    else:
        assert math.isnan(same["cumulativity"]) and math.isnan(none["cumulativity"])


def test_long_format_needs_ranges_only_for_flipped_prompts():
    rows = []
    for k, arr in R1_TOP.items():
        rows += [("r1", 0, k, i, bool(v)) for i, v in enumerate(arr)]
    flipped = {(10, 50): [1, 2, 5], (50, 200): [0]}
    for (a, b), arr in R1_RANGE.items():
        rows += [("r1", a, b, i, bool(arr[i])) for i in flipped[(a, b)]]
    long = pd.DataFrame(rows, columns=["relation", "lo", "hi", "prompt_id", "correct"])
    pd.testing.assert_frame_equal(cumulativity_from_long(long), cumulativity_counts("r1", R1_TOP, R1_RANGE))
    # a range with no flipped prompt needs no rows at all
    r2 = [("r2", 0, k, i, bool(v)) for k, arr in R2_TOP.items() for i, v in enumerate(arr)]
    r2 += [("r2", 50, 200, i, bool(R2_RANGE[(50, 200)][i])) for i in (2, 3)]
    got = cumulativity_from_long(pd.DataFrame(r2, columns=long.columns))
    pd.testing.assert_frame_equal(got, cumulativity_counts("r2", R2_TOP, R2_RANGE))
    # a flipped prompt without its range row is an error, naming the prompt and the range
    with pytest.raises(InputError, match=r"prompt 5 flips between top-10 and top-50.*\(10, 50\]"):
        cumulativity_from_long(long[~((long.lo == 10) & (long.prompt_id == 5))])
    with pytest.raises(InputError, match="top-k conditions"):
        cumulativity_from_long(long[~((long.lo == 0) & (long.hi == 50) & (long.prompt_id == 4))])


# ------------------------------------------------------------------ the experiment on a real tiny model

KS = (1, 2, 4, 8, 16)  # with neurons forced to 3, some prompts of the tiny model flip between 2 and 8


@pytest.fixture(scope="module")
def answering(tmp_path_factory, lre_dir):
    """A tiny model's store and identification over two relations whose objects are its own answers (so the
    original model is right on every P_eva prompt and switching neurons off flips some)."""
    from faults.tiny_study import answering_relations, save_model

    from relneurons.activations import CollectConfig, collect
    from relneurons.expertise.identify import IdentifyConfig, identify

    root = tmp_path_factory.mktemp("cumulativity")
    model = save_model(root / "model")
    relations = answering_relations(model, lre_dir, root / "relations")
    store = collect(
        CollectConfig(
            model=model,
            device="cpu",
            data_dir=str(lre_dir),
            relations=tuple(relations),
            templates=(0,),
            n_eval=7,
            batch_size=8,
        ),
        root / "store",
        progress=False,
    )
    identify(store.folder, root / "identify", IdentifyConfig(k=8, min_positives=3), progress=False)
    return store.folder, root / "identify", lre_dir


def _study(answering, out, force="zero"):
    from relneurons.activations import ActivationStore
    from relneurons.experiments.study import Study, StudyConfig

    store, identify_dir, lre_dir = answering
    return Study(
        ActivationStore(store),
        identify_dir,
        out,
        StudyConfig(k=8, seeds=2, n_boot=50, batch_size=8, force=force),
        data_dir=str(lre_dir),
        device="cpu",
        progress=False,
    )


def _tables(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".parquet", ".csv", ".json")}


def test_ranges_for_flipped_prompts_only_give_the_same_tables(answering, tmp_path):
    from relneurons.experiments.core import cumulativity

    full, short = _study(answering, tmp_path / "full", "3"), _study(answering, tmp_path / "short", "3")
    counts = cumulativity(full, k_sweep=KS, only_flipped=False)
    cumulativity(short, k_sweep=KS)
    assert _tables(full.out / "cumulativity") == _tables(short.out / "cumulativity")
    # the shortcut has work to skip: some prompts flip, not all of them
    assert 0 < counts["total"].sum() < counts["n_prompts"].sum()  # n_prompts: per relation and range

    def ranges(study):
        return sum(c.startswith("rel:") and not c.split(":")[2].startswith("0-") for c, _, _ in study.cache.table)  # noqa: E731

    assert ranges(short) == counts["total"].sum() < ranges(full) == counts["n_prompts"].sum()


def test_the_sweep_at_the_study_k_reuses_the_generations_of_intra_and_inter(answering, tmp_path, monkeypatch):
    """The sweep's conditions at the study's k have the names intra and inter wrote, so the cache serves them:
    a batch of the sweep runs only if it holds a generation not yet cached. Batches are cut at condition
    boundaries (generate_pairs), so no cached generation is computed again."""
    from contextlib import contextmanager

    from relneurons.experiments import core
    from relneurons.intervention import evaluate

    study = _study(answering, tmp_path / "run")
    core.intra(study)
    core.inter(study)
    study_k = {study.rel(r, 0, study.k) for r in study.relations} | {"original"}
    assert study_k <= {c for c, _, _ in study.cache.table}
    batches: list[list[str]] = []
    real = evaluate.conditions

    @contextmanager
    def spying(model, conds):
        with real(model, conds) as batch:
            select = batch.select
            batch.select = lambda rows, bos=None: (batches.append([conds[i].name for i in rows]), select(rows, bos))[1]
            yield batch

    monkeypatch.setattr(evaluate, "conditions", spying)
    ks = (study.k // 2, study.k, study.k * 2)
    table = core.sweep(study, k_sweep=ks)
    assert len(table) == len(study.relations) ** 2 * (len(ks) + 1)
    assert all(set(names) - study_k for names in batches)  # no batch of cached generations only
    computed = [name for names in batches for name in names]
    assert len([c for c in computed if c not in study_k]) == len(study.eval_prompts) * len(study.relations) * 2
    assert all(len(set(names)) == 1 for names in batches)  # one condition per batch
    assert not [c for c in computed if c in study_k]  # the cache served every study-k generation
