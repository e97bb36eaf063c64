"""Relation specificity: do a relation's own neurons hurt it more than other relations' neurons do?

This is the paper's claim (§4.2.2, Fig. 4), tested on the inter matrix of relative accuracy drops: row = the
relation evaluated, column = the relation whose top-k neurons are off. Every column's set was chosen by the same
procedure (top-k by AP for its relation), so the other relations' sets are the matched null for the own set;
"more harmful than a random set" (intra) says nothing about specificity.

Statistic: mean diagonal drop - mean off-diagonal drop (defined cells only). Null: no set is specific to its own
relation, i.e. which set belongs to which relation is exchangeable. p permutes the column labels: over all
n! permutations up to `EXACT_MAX_RELATIONS` relations (exact; the identity counts), else `n_perm` seeded
uniform permutations with p = (1 + #{perm >= observed}) / (1 + n_perm). Without undefined cells the statistic is
a monotone function of the diagonal sum, and row and column effects leave the diagonal sum of every permutation
with the same expectation, so the test is exact under a model with row and column effects and exchangeable noise
(calibration: tests/experiments/test_specificity.py).

Per relation, the own set's drop is ranked among the drops that every relation's set causes on it (its row):
rank p = #{sets with drop >= own} / #{defined sets in the row}. One relation's rank p can never go below
1 / n_relations (with 6 relations, 0.17): it describes, it cannot carry a claim alone.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["EXACT_MAX_RELATIONS", "SpecificityTest", "specificity_test"]

#: Exact enumeration up to this many relations (8! = 40,320 permutations).
EXACT_MAX_RELATIONS = 8
#: Monte Carlo permutations beyond it (at least this many).
MIN_PERMUTATIONS = 20_000


@dataclass(frozen=True)
class SpecificityTest:
    """Result of `specificity_test`. `relations` has one row per relation: relation, own_drop, other_drop (mean
    of the defined drops other sets cause on it), n_sets (defined cells in its row), rank (1 = its own set hurts
    it most; ties take the worst rank) and rank_p."""

    statistic: float  # mean diagonal - mean off-diagonal drop (nan: undefined)
    p_value: float  # one-sided, permutation of the column labels (nan: no test)
    method: str  # "exact permutation (n! = N)", "monte carlo permutation (N)" or "none"
    n_relations: int
    relations: pd.DataFrame
    reason: str = ""  # why there is no p, when there is none


def _statistic(values: np.ndarray, defined: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """The statistic for each permutation (row of `perms`): the set of column perm[i] is relation i's own set."""
    n = values.shape[0]
    rows = np.arange(n)
    diag_sum = np.where(defined[rows, perms], values[rows, perms], 0.0).sum(axis=1)
    diag_n = defined[rows, perms].sum(axis=1)
    total, total_n = values[defined].sum(), defined.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return diag_sum / diag_n - (total - diag_sum) / (total_n - diag_n)


def _matrix(drops: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    if not isinstance(drops, pd.DataFrame):
        raise InputError(
            f"drops must be a pandas DataFrame (rows evaluated, columns deactivated), got {type(drops).__name__}"
        )
    labels = [str(x) for x in drops.index]
    if len(set(labels)) != len(labels):
        raise InputError("drops has repeated row labels; give one row per evaluated relation")
    if sorted(labels) != sorted(str(c) for c in drops.columns) or len(drops.columns) != len(labels):
        raise InputError(
            f"drops must be square with the same relations as rows and columns, got rows {labels} and "
            f"columns {[str(c) for c in drops.columns]}"
        )
    square = drops.set_axis([str(c) for c in drops.columns], axis=1).reindex(columns=labels)
    try:
        values = square.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("drops must hold numbers (relative accuracy drops; NaN where undefined)") from None
    if np.isinf(values).any():
        raise InputError("drops contains an infinite value; use NaN for an undefined drop")
    return labels, values


def _rank_table(labels: list[str], values: np.ndarray, defined: np.ndarray) -> pd.DataFrame:
    rows = []
    for i, relation in enumerate(labels):
        row, ok = values[i], defined[i]
        own = row[i] if ok[i] else math.nan
        others = row[ok & (np.arange(len(labels)) != i)]
        n_sets = int(ok.sum())
        if math.isnan(own):
            rank, rank_p = math.nan, math.nan
        else:
            at_least = int(np.sum(row[ok] >= own))
            rank, rank_p = float(at_least), at_least / n_sets
        rows.append(
            {
                "relation": relation,
                "own_drop": own,
                "other_drop": float(others.mean()) if others.size else math.nan,
                "n_sets": n_sets,
                "rank": rank,
                "rank_p": rank_p,
            }
        )
    return pd.DataFrame(rows, columns=["relation", "own_drop", "other_drop", "n_sets", "rank", "rank_p"])


def specificity_test(drops: pd.DataFrame, n_perm: int = MIN_PERMUTATIONS, seed: int = 0) -> SpecificityTest:
    """Test that each relation's own top-k set hurts it more than the other relations' sets do.

    `drops`: square DataFrame of relative accuracy drops, rows = evaluated relation, columns = deactivated
    relation, the same labels (any order; NaN = undefined, ignored). See the module docstring for the statistic,
    the null and the per-relation ranks. `n_perm` (at least 20,000) and `seed` apply beyond
    `EXACT_MAX_RELATIONS` relations.
    """
    if int(n_perm) != n_perm or n_perm < MIN_PERMUTATIONS:
        raise InputError(f"n_perm must be an integer >= {MIN_PERMUTATIONS:,}, got {n_perm!r}")
    labels, values = _matrix(drops)
    n = len(labels)
    defined = ~np.isnan(values)
    table = _rank_table(labels, values, defined)
    observed = float(_statistic(values, defined, np.arange(n)[None, :])[0]) if n else math.nan
    if n < 2 or math.isnan(observed):
        why = "fewer than 2 relations" if n < 2 else "no defined diagonal or no defined off-diagonal drop"
        return SpecificityTest(observed, math.nan, "none", n, table, reason=why)
    tol = 1e-12 * max(1.0, float(np.abs(values[defined]).max()))
    if n <= EXACT_MAX_RELATIONS:
        perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
        stats = _statistic(values, defined, perms)
        # a permutation with no defined diagonal (or off-diagonal) cell has no statistic: it does not count as >=
        p = float(np.sum(stats >= observed - tol) / perms.shape[0])
        method = f"exact permutation ({n}! = {perms.shape[0]:,})"
    else:
        rng = np.random.default_rng(seed)
        hits, done, block = 0, 0, 4096
        while done < n_perm:
            m = min(block, n_perm - done)
            perms = rng.permuted(np.tile(np.arange(n), (m, 1)), axis=1)
            hits += int(np.sum(_statistic(values, defined, perms) >= observed - tol))
            done += m
        p = (1 + hits) / (1 + n_perm)
        method = f"monte carlo permutation ({n_perm:,})"
    return SpecificityTest(observed, p, method, n, table)
