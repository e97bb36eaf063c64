"""The specificity test of the inter matrix (experiments/specificity.py), against a plain-loop reference over every
permutation, on adversarial matrices, and calibrated under a simulated null with row and column effects."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from relneurons.errors import InputError
from relneurons.experiments.stats import specificity_test


def _frame(values, labels=None) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    labels = labels or [f"r{i}" for i in range(len(values))]
    return pd.DataFrame(values, index=labels, columns=labels)


def _reference(values: np.ndarray) -> tuple[float, float]:
    """Statistic and exact p by plain loops: for each assignment of sets to relations, the mean of the defined
    own cells minus the mean of the defined other cells; p = share of assignments at least as large."""
    n = len(values)

    def stat(perm):
        own, other = [], []
        for i in range(n):
            for j in range(n):
                v = values[i][j]
                if math.isnan(v):
                    continue
                (own if j == perm[i] else other).append(v)
        if not own or not other:
            return math.nan
        return sum(own) / len(own) - sum(other) / len(other)

    observed = stat(tuple(range(n)))
    perms = list(itertools.permutations(range(n)))
    hits = sum(1 for p in perms if not math.isnan(s := stat(p)) and s >= observed - 1e-12)
    return observed, hits / len(perms)


@pytest.mark.parametrize("seed", range(6))
def test_exact_p_matches_plain_loop_reference(seed):
    rng = np.random.default_rng(seed)
    n = [3, 4, 5, 5, 6, 4][seed]
    values = rng.normal(0, 1, (n, n)) + np.eye(n) * rng.uniform(0, 2)
    if seed % 2:  # undefined cells (original accuracy 0): a whole row, and a scattered cell
        values[1, :] = np.nan
        values[0, 2] = np.nan
    if seed == 4:  # ties: values on a coarse grid, as drops over few prompts are
        values = np.round(values * 2) / 2
    result = specificity_test(_frame(values))
    statistic, p = _reference(values.tolist())
    assert result.statistic == pytest.approx(statistic, abs=1e-12)
    assert result.p_value == pytest.approx(p, abs=1e-12)
    assert result.method.startswith("exact permutation") and result.n_relations == n


def test_monte_carlo_beyond_8_relations_agrees_with_enumeration():
    rng = np.random.default_rng(11)
    n = 9
    values = rng.normal(0, 1, (n, n)) + 0.8 * np.eye(n)
    # exact p over all 9! assignments, by a loop over permutations (numpy only for the diagonal of each)
    observed = np.trace(values) / n - (values.sum() - np.trace(values)) / (n * n - n)
    total = values.sum()
    hits = count = 0
    for perm in itertools.permutations(range(n)):
        diag = sum(values[i][perm[i]] for i in range(n))
        hits += diag / n - (total - diag) / (n * n - n) >= observed - 1e-12
        count += 1
    exact = hits / count
    result = specificity_test(_frame(values), n_perm=20_000, seed=3)
    assert result.method == "monte carlo permutation (20,000)"
    assert abs(result.p_value - exact) <= 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1 / 20_001
    assert specificity_test(_frame(values), n_perm=20_000, seed=3).p_value == result.p_value  # seeded
    assert (result.p_value * 20_001) == pytest.approx(round(result.p_value * 20_001))  # (1 + hits) / (1 + n_perm)


def test_per_relation_ranks_by_hand():
    values = [
        [0.9, 0.1, 0.9],  # own 0.9 tied with another: rank 2 of 3, p 2/3
        [0.5, 0.2, np.nan],  # own 0.2 below 0.5: rank 2 of the 2 defined, p 1
        [0.0, 0.1, 0.7],
    ]  # own highest: rank 1, p 1/3 (never below 1/n)
    table = specificity_test(_frame(values, ["a", "b", "c"])).relations.set_index("relation")
    assert table.loc["a", ["rank", "rank_p", "n_sets"]].tolist() == [2, pytest.approx(2 / 3), 3]
    assert table.loc["b", ["rank", "rank_p", "n_sets"]].tolist() == [2, 1.0, 2]
    assert table.loc["c", ["rank", "rank_p"]].tolist() == [1, pytest.approx(1 / 3)]
    assert table.loc["a", "other_drop"] == pytest.approx(0.5) and table.loc["b", "other_drop"] == 0.5


def test_adversarial_matrices():
    # constant matrix: statistic 0, every permutation ties, p = 1
    flat = specificity_test(_frame(np.full((4, 4), 0.3)))
    assert flat.statistic == pytest.approx(0.0) and flat.p_value == 1.0
    # the diagonal is the largest cell of every row and column: the identity is the only maximum, p = 1/n!
    top = specificity_test(_frame(np.eye(4) + 0.01 * np.arange(16).reshape(4, 4) / 16))
    assert top.p_value == pytest.approx(1 / 24)
    # no defined diagonal cell: no statistic, no p
    undefined = np.ones((3, 3))
    np.fill_diagonal(undefined, np.nan)
    none = specificity_test(_frame(undefined))
    assert math.isnan(none.p_value) and none.method == "none" and "diagonal" in none.reason
    one = specificity_test(_frame([[0.5]]))
    assert math.isnan(one.p_value) and "fewer than 2" in one.reason
    # columns in another order than the rows are matched by label
    values = np.random.default_rng(0).normal(size=(4, 4))
    frame = _frame(values)
    assert specificity_test(frame[["r2", "r0", "r3", "r1"]]).statistic == pytest.approx(
        specificity_test(frame).statistic
    )


def test_bad_inputs_name_the_problem():
    with pytest.raises(InputError, match="square"):
        specificity_test(pd.DataFrame(np.ones((2, 3)), index=["a", "b"], columns=["a", "b", "c"]))
    with pytest.raises(InputError, match="same relations"):
        specificity_test(pd.DataFrame(np.ones((2, 2)), index=["a", "b"], columns=["a", "x"]))
    with pytest.raises(InputError, match="DataFrame"):
        specificity_test(np.ones((2, 2)))
    with pytest.raises(InputError, match="infinite"):
        specificity_test(_frame([[np.inf, 0], [0, 0]]))
    with pytest.raises(InputError, match="n_perm"):
        specificity_test(_frame(np.ones((2, 2))), n_perm=100)


def _null_matrix(rng: np.random.Generator, n: int, undefined: float = 0.0) -> np.ndarray:
    """Relative drops with row effects (relations differ in fragility), column effects (some sets hurt everyone)
    and noise, but no diagonal effect: under this null no set is specific to its relation."""
    values = rng.normal(0, 0.3, (n, 1)) + rng.normal(0, 0.3, (1, n)) + rng.normal(0, 0.15, (n, n))
    if undefined:
        values[rng.random((n, n)) < undefined] = np.nan
    return values


@pytest.mark.parametrize(("n", "undefined"), [(6, 0.0), (5, 0.1)])
def test_false_positive_rate_under_a_null_with_row_and_column_effects(n, undefined):
    rng = np.random.default_rng(40 + n)
    studies = 2000
    rejections = sum(specificity_test(_frame(_null_matrix(rng, n, undefined))).p_value <= 0.05 for _ in range(studies))
    se = math.sqrt(0.05 * 0.95 / studies)
    assert abs(rejections / studies - 0.05) <= 3 * se, rejections / studies


def test_power_against_a_diagonal_effect():
    rng = np.random.default_rng(7)
    found = sum(specificity_test(_frame(_null_matrix(rng, 6) + 0.4 * np.eye(6))).p_value <= 0.05 for _ in range(200))
    assert found / 200 >= 0.8
