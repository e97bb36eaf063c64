"""How stable is a relation's top-k? Resampled identification from the activation store.

Resample b draws, for every relation, half of the triples (subject, object) of
its validated P_det without replacement (seeded by seed, b and the relation)
and keeps every prompt of the drawn triples; the example sets are then built
exactly as `identify` builds them (`example_sets`: E+_r the relation's kept
prompts, E-_r ratio x as many from the other relations' kept prompts) and
every neuron is scored. All resamples share one pool of stored rows, so each
block of neurons is read once and, for AP, each column is sorted once for all
of them (`scorers.top_columns`): no forward pass, one read of the store.

Template subsets: subset i holds the i-th template (order of first appearance
in the store, which is the relation file's order) of every relation; the
top-k of subset 0 and subset 1 are compared where a relation has two.

The numerics (Jaccard, selection frequency, stable core) are pure functions.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from ..activations.store import ActivationStore
from ..errors import InputError
from .identify import example_sets
from .scorers import top_columns

__all__ = [
    "half_samples",
    "jaccard",
    "mean_pairwise_jaccard",
    "resampled_topk",
    "selection_frequency",
    "stable_core",
    "template_subsets",
    "validated",
]


# ------------------------------------------------------------------ pure numerics


def jaccard(a, b) -> float:
    """|A ∩ B| / |A ∪ B| of two id sets (duplicates ignored); two empty sets are identical (1.0)."""
    a, b = np.unique(np.asarray(a)), np.unique(np.asarray(b))
    union = np.union1d(a, b).size
    return 1.0 if union == 0 else np.intersect1d(a, b).size / union


def mean_pairwise_jaccard(sets: Sequence) -> float:
    """Mean Jaccard over all unordered pairs of at least two sets."""
    if len(sets) < 2:
        raise InputError(f"mean pairwise Jaccard needs at least two sets, got {len(sets)}")
    return float(np.mean([jaccard(a, b) for a, b in combinations(sets, 2)]))


def selection_frequency(sets: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(ids, frequency): every id in any set, sorted, and the share of sets that contain it."""
    if not sets:
        raise InputError("selection frequency needs at least one set")
    ids, counts = np.unique(
        np.concatenate([np.unique(np.asarray(s, dtype=np.int64)) for s in sets]), return_counts=True
    )
    return ids, counts / len(sets)


def stable_core(ids: np.ndarray, frequency: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """The ids selected in at least `threshold` of the resamples (sorted)."""
    if not 0 < threshold <= 1:
        raise InputError(f"stable-core threshold must be in (0, 1], got {threshold!r}")
    return np.sort(np.asarray(ids)[np.asarray(frequency) >= threshold - 1e-12])


# ------------------------------------------------------------------ resampling


def validated(prompts: pd.DataFrame) -> pd.DataFrame:
    """Prompts that identification may use: answered correctly and with a stored row."""
    return prompts[prompts["correct"] & (prompts["act_row"] >= 0)]


def half_samples(prompts: pd.DataFrame, n_resamples: int, seed: int = 0) -> list[pd.DataFrame]:
    """`n_resamples` subsets of the validated prompts: per relation, half of its triples (at least one), all their prompts."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 2:
        raise InputError(f"resamples must be an integer >= 2 (a Jaccard needs two sets), got {n_resamples!r}")
    kept = validated(prompts)
    triples = {r: g[["subject", "object"]].drop_duplicates() for r, g in kept.groupby("relation", sort=False)}
    out = []
    for b in range(n_resamples):
        parts = []
        for relation, group in kept.groupby("relation", sort=False):
            rng = np.random.default_rng([seed, b, zlib.crc32(relation.encode())])
            options = triples[relation]
            chosen = options.iloc[np.sort(rng.choice(len(options), size=max(1, len(options) // 2), replace=False))]
            parts.append(group.merge(chosen, on=["subject", "object"]))
        out.append(pd.concat(parts, ignore_index=True) if parts else kept.iloc[:0])
    return out


def template_subsets(prompts: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """{i: validated prompts whose template is their relation's i-th template} (first-appearance order)."""
    rank = pd.Series(0, index=prompts.index)
    for _, group in prompts.groupby("relation", sort=False):
        order = {t: i for i, t in enumerate(dict.fromkeys(group["template"]))}
        rank[group.index] = group["template"].map(order)
    kept = validated(prompts.assign(template_index=rank))
    return {int(i): g.drop(columns="template_index") for i, g in kept.groupby("template_index", sort=True)}


def resampled_topk(
    store: ActivationStore,
    subsets: Sequence[pd.DataFrame],
    relations: Sequence[str],
    k: int,
    *,
    negative_ratio: int,
    seed: int,
    min_positives: int = 1,
    scorer: str = "ap",
    block: int = 16384,
) -> list[dict[str, np.ndarray]]:
    """For each subset of validated prompts: {relation: global ids of its top-k (best first)} for the relations of
    `relations` that have at least `min_positives` positives in it.

    Negatives are drawn per subset with seed `seed + i` (subset i), as identification draws them.
    """
    plans, index = [], []
    for i, subset in enumerate(subsets):
        examples, _ = example_sets(subset, negative_ratio, min_positives, seed + i)
        for relation, group in examples.groupby("relation", sort=False):
            if relation in relations:
                plans.append((group["act_row"].to_numpy(), group["positive"].to_numpy()))
                index.append((i, relation))
    ids = store.neuron_set.global_ids
    columns = top_columns(store.columns, store.n_neurons, plans, k, scorer=scorer, block=block)
    out: list[dict[str, np.ndarray]] = [{} for _ in subsets]
    for (i, relation), cols in zip(index, columns):
        out[i][relation] = ids[cols]
    return out
