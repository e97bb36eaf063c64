"""Stability numerics against plain-Python references, and resampled identification on a synthetic store."""

import itertools

import numpy as np
import pandas as pd
import pytest
from synthetic_store import synthetic_store

from relneurons.errors import InputError
from relneurons.expertise.identify import IdentifyConfig, example_sets, identify
from relneurons.expertise.stability import (
    half_samples,
    jaccard,
    mean_pairwise_jaccard,
    resampled_topk,
    selection_frequency,
    stable_core,
    template_subsets,
    validated,
)


def _jaccard_reference(a, b):
    a, b = set(a), set(b)
    return 1.0 if not a | b else len(a & b) / len(a | b)


def test_jaccard_and_mean_pairwise_match_plain_python():
    rng = np.random.default_rng(0)
    sets = [rng.choice(30, size=rng.integers(0, 12), replace=True) for _ in range(7)]  # duplicates, maybe empty
    for a, b in itertools.product(sets, repeat=2):
        assert jaccard(a, b) == pytest.approx(_jaccard_reference(a.tolist(), b.tolist()))
    pairs = [_jaccard_reference(a.tolist(), b.tolist()) for i, a in enumerate(sets) for b in sets[i + 1 :]]
    assert mean_pairwise_jaccard(sets) == pytest.approx(sum(pairs) / len(pairs))
    assert jaccard([], []) == 1.0 and jaccard([1], []) == 0.0 and jaccard([1, 2], [2, 3]) == pytest.approx(1 / 3)
    with pytest.raises(InputError, match="two sets"):
        mean_pairwise_jaccard([[1]])


def test_selection_frequency_and_core_match_a_counting_loop():
    sets = [[1, 2, 3], [2, 3, 4], [3, 2, 2], [9, 3, 2], [2, 3, 5]]
    ids, freq = selection_frequency(sets)
    counts = {}
    for s in sets:
        for i in set(s):
            counts[i] = counts.get(i, 0) + 1
    assert ids.tolist() == sorted(counts)
    assert freq.tolist() == [counts[i] / len(sets) for i in sorted(counts)]
    assert stable_core(ids, freq, 0.9).tolist() == [2, 3]
    assert stable_core(ids, freq, 0.2).tolist() == [1, 2, 3, 4, 5, 9]
    ids9, freq9 = selection_frequency([[1]] * 9 + [[2]])  # 0.9 exactly is in the core
    assert stable_core(ids9, freq9, 0.9).tolist() == [1]
    with pytest.raises(InputError):
        stable_core(ids, freq, 0.0)


def _prompts(n_triples=10, templates=("t0 {}", "t1 {}")):
    rows = []
    for relation in ("a", "b"):
        for i in range(n_triples):
            for t in templates:
                rows.append(
                    {
                        "relation": relation,
                        "subject": f"s{i}",
                        "object": f"o{i % 3}",
                        "template": t,
                        "correct": i != 4,
                        "act_row": len(rows) if i != 7 else -1,
                    }
                )
    return pd.DataFrame(rows)


def test_half_samples_draw_half_the_triples_with_all_their_prompts():
    prompts = _prompts()
    samples = half_samples(prompts, 6, seed=3)
    assert len(samples) == 6
    kept = validated(prompts)
    for sample in samples:
        assert sample["correct"].all() and (sample["act_row"] >= 0).all()
        for relation, group in sample.groupby("relation"):
            triples = set(zip(group.subject, group.object))
            available = set(zip(kept[kept.relation == relation].subject, kept[kept.relation == relation].object))
            assert len(triples) == len(available) // 2 and triples <= available
            assert len(group) == 2 * len(triples)  # both templates of every drawn triple
    assert not all(s.equals(samples[0]) for s in samples[1:])
    again = half_samples(prompts, 6, seed=3)
    assert all(a.equals(b) for a, b in zip(samples, again))  # seeded
    with pytest.raises(InputError, match="resamples"):
        half_samples(prompts, 1)


def test_template_subsets_split_by_each_relations_template_order():
    prompts = _prompts()
    prompts.loc[prompts.relation == "b", "template"] = prompts.loc[prompts.relation == "b", "template"].map(
        {"t0 {}": "u0", "t1 {}": "u1"}
    )
    subsets = template_subsets(prompts)
    assert sorted(subsets) == [0, 1]
    assert set(subsets[0]["template"]) == {"t0 {}", "u0"} and set(subsets[1]["template"]) == {"t1 {}", "u1"}
    assert sum(len(s) for s in subsets.values()) == len(validated(prompts))


def test_resampling_the_full_set_reproduces_identify(tmp_path):
    """One "resample" that is the whole validated set, with identify's seed, gives identify's top-k exactly."""
    store, _, nset = synthetic_store(tmp_path / "store")
    summary = identify(store.folder, tmp_path / "id", IdentifyConfig(k=6, min_positives=10), progress=False)
    topk = pd.read_parquet(tmp_path / "id" / "topk.parquet")
    relations = list(summary["relations"])
    got = resampled_topk(
        store, [validated(store.prompts)], relations, 6, negative_ratio=4, seed=0, min_positives=10, block=7
    )[0]
    for relation in relations:
        want = topk[topk.relation == relation].sort_values("rank")["global_index"].to_numpy()
        np.testing.assert_array_equal(got[relation], want)
    # half-samples: the planted neurons (5 for alpha, 7 for beta) are selected every time
    halves = resampled_topk(store, half_samples(store.prompts, 4, seed=1), relations, 6, negative_ratio=4, seed=10)
    assert all(nset.global_ids[5] in h["alpha"] and nset.global_ids[7] in h["beta"] for h in halves)
    assert all("gamma" not in h for h in halves)


def test_example_sets_of_a_subset_use_only_its_prompts():
    prompts = _prompts()
    half = half_samples(prompts, 2, seed=0)[0]
    examples, _ = example_sets(half, 1, 1, 0)
    assert set(examples["act_row"]) <= set(half["act_row"])
