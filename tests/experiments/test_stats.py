"""Bootstrap intervals, relative drop and paired tests (experiments/stats.py)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest

from relneurons.errors import InputError
from relneurons.experiments import (
    accuracy_ci,
    bootstrap_ci,
    bootstrap_drop_ci,
    mcnemar_exact,
    paired_permutation_test,
    relation_vs_random,
    relative_drop,
)


def _percentile(sorted_vals: list[float], q: float) -> float:
    """Linear-interpolation percentile written out by hand."""
    pos = q * (len(sorted_vals) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (pos - lo) * (sorted_vals[hi] - sorted_vals[lo])


# ----------------------------------------------------------------- bootstrap_ci


def test_bootstrap_ci_matches_plain_loop_reference():
    x = np.array([True, False, True, True, False, True, False])
    n_boot, seed = 300, 3
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))  # documented draw contract
    reps = []
    for row in idx:
        total = 0
        for i in row:
            total += int(x[i])
        reps.append(total / len(row))
    reps.sort()
    expected = (_percentile(reps, 0.025), _percentile(reps, 0.975))
    got = bootstrap_ci(x, n_boot=n_boot, seed=seed)
    assert got == pytest.approx(expected, abs=1e-12)


def test_bootstrap_ci_contains_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small = rng.random(40) < 0.6
    large = rng.random(4000) < 0.6
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s
    assert lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 4  # width ~ 1/sqrt(n): 100x the prompts, ~10x narrower
    # the large case is drawn in several blocks (n * n_boot > 2**22) and is still sane
    assert 0.55 < lo_l < hi_l < 0.65


def test_bootstrap_ci_is_seeded():
    x = np.random.default_rng(2).random(50)  # continuous values: intervals of two seeds differ
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    assert bootstrap_ci(x, seed=7) != bootstrap_ci(x, seed=8)


def test_bootstrap_ci_edge_cases():
    lo, hi = bootstrap_ci(np.array([], dtype=bool))
    assert math.isnan(lo) and math.isnan(hi)
    assert bootstrap_ci(np.ones(10, dtype=bool)) == (1.0, 1.0)
    assert bootstrap_ci(np.zeros(10, dtype=bool)) == (0.0, 0.0)
    acc, lo, hi = accuracy_ci(np.array([True, True, False, False]))
    assert acc == 0.5 and lo <= 0.5 <= hi
    with pytest.raises(InputError):
        bootstrap_ci(np.ones((2, 3), dtype=bool))
    with pytest.raises(InputError):
        bootstrap_ci(np.ones(3, dtype=bool), level=1.5)
    with pytest.raises(InputError):
        bootstrap_ci(np.ones(3, dtype=bool), n_boot=0)


# ----------------------------------------------------------------- drops


def test_relative_drop_values():
    assert relative_drop(0.8, 0.2) == pytest.approx(0.75)
    assert relative_drop(0.5, 0.75) == pytest.approx(-0.5)  # improvement (interference)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(relative_drop(0.0, 0.0))
        assert math.isnan(relative_drop(0.0, 0.3))


def test_drop_ci_undefined_when_original_accuracy_is_zero():
    orig = np.zeros(8, dtype=bool)
    deact = np.array([True, False] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        point, lo, hi = bootstrap_drop_ci(orig, deact)
        empty = bootstrap_drop_ci(np.array([], dtype=bool), np.array([], dtype=bool))
    assert math.isnan(point) and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in empty)


def test_drop_ci_paired_reference_skips_zero_resamples():
    # one correct original prompt out of 5: about a third of the resamples have acc_orig = 0
    orig = np.array([True, False, False, False, False])
    deact = np.array([False, False, True, False, False])
    n_boot, seed = 400, 11
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 5, size=(n_boot, 5))
    reps = []
    for row in idx:
        a0 = sum(int(orig[i]) for i in row) / 5
        a1 = sum(int(deact[i]) for i in row) / 5
        if a0 == 0:
            continue
        reps.append((a0 - a1) / a0)
    assert 100 < len(reps) < 330  # some, but not all, were skipped
    reps.sort()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warning from skipped resamples
        point, lo, hi = bootstrap_drop_ci(orig, deact, n_boot=n_boot, seed=seed)
    assert point == pytest.approx((0.2 - 0.2) / 0.2)
    assert (lo, hi) == pytest.approx((_percentile(reps, 0.025), _percentile(reps, 0.975)), abs=1e-12)


def test_drop_ci_point_and_interval():
    orig = np.array([True] * 40 + [False] * 10)
    deact = np.array([True] * 10 + [False] * 40)
    point, lo, hi = bootstrap_drop_ci(orig, deact, seed=0)
    assert point == pytest.approx(0.75)
    assert lo <= 0.75 <= hi and hi <= 1.0
    assert bootstrap_drop_ci(orig, deact, seed=0) == (point, lo, hi)
    with pytest.raises(InputError):
        bootstrap_drop_ci(orig, deact[:-1])


# ----------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    ("b01", "b10", "expected"),
    [
        (0, 6, 2 * 0.5**6),  # 0.03125
        (6, 0, 2 * 0.5**6),
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # 2 * P(X <= 2), X ~ Bin(10, 1/2) = 0.109375
        (5, 5, 1.0),
        (1, 0, 1.0),  # 2 * 0.5 = 1
    ],
)
def test_mcnemar_hand_computed(b01, b10, expected):
    n_conc = 7  # concordant prompts do not change the test
    a = np.array([False] * b01 + [True] * b10 + [True] * n_conc + [False] * 3)
    b = np.array([True] * b01 + [False] * b10 + [True] * n_conc + [False] * 3)
    got = mcnemar_exact(a, b)
    assert got[:2] == (b01, b10)
    assert got[2] == pytest.approx(expected, rel=1e-12)


def test_mcnemar_matches_scipy_and_no_discordant_pairs():
    rng = np.random.default_rng(5)
    a = rng.random(60) < 0.7
    b = rng.random(60) < 0.4
    b01, b10, p = mcnemar_exact(a, b)
    assert b01 == int(np.sum(~a & b)) and b10 == int(np.sum(a & ~b))
    assert p == pytest.approx(binomtest(b01, b01 + b10, 0.5).pvalue, rel=1e-12)
    same = rng.random(20) < 0.5
    assert mcnemar_exact(same, same.copy()) == (0, 0, 1.0)
    with pytest.raises(InputError):
        mcnemar_exact(a, b[:10])


# ----------------------------------------------------------------- permutation


def test_permutation_exact_small_cases():
    # all five differences +1: only the all-plus and all-minus sign patterns reach |sum| = 5
    assert paired_permutation_test(np.ones(5), np.zeros(5)) == pytest.approx(2 / 32)
    # zero differences are ignored: same as above
    a = np.array([1, 1, 1, 1, 1, 0, 1, 0.5])
    b = np.array([0, 0, 0, 0, 0, 0, 1, 0.5])
    assert paired_permutation_test(a, b) == pytest.approx(2 / 32)
    # observed sum 0: every pattern is at least as extreme
    assert paired_permutation_test(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert paired_permutation_test(np.zeros(4), np.zeros(4)) == 1.0


def _exact_sign_flip(d: np.ndarray) -> float:
    obs = abs(d.sum())
    hits = sum(abs(np.dot(s, d)) >= obs - 1e-9 for s in itertools.product((-1, 1), repeat=d.size))
    return hits / 2**d.size


def test_permutation_monte_carlo_agrees_with_enumeration():
    # 17 non-zero differences: above the exact-enumeration limit, so the Monte Carlo path runs
    a = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1.0])
    b = np.array([0.2, 0.1, 0.4, 0.3, 0.0, 0.9, 0.6, 0.1, 0.5, 0.2, 0.3, 0.7, 0.4, 0.1, 0.6, 0.8, 0.2])
    exact = _exact_sign_flip(a - b)
    n_perm = 20000
    p = paired_permutation_test(a, b, n_perm=n_perm, seed=1)
    se = math.sqrt(exact * (1 - exact) / n_perm)
    assert abs(p - exact) < 4 * se + 1e-4
    assert paired_permutation_test(a, b, n_perm=n_perm, seed=1) == p
    # a relation that breaks 30 prompts more than random: nothing as extreme in 1000 draws
    assert paired_permutation_test(np.ones(30), np.zeros(30), n_perm=1000, seed=0) == 1 / 1001


# ----------------------------------------------------------------- clusters


def _loop_cluster_reps(labels, columns, n_boot, seed):
    """Plain-loop cluster bootstrap: per replicate, the pooled mean of each column over the drawn clusters.

    Same seed contract as the module: clusters in sorted label order, row b of
    rng.integers(0, m, size=(n_boot, m)) lists the clusters drawn."""
    order = sorted(set(labels))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(order), size=(n_boot, len(order)))
    reps = []
    for row in idx:
        totals = [0.0] * len(columns)
        count = 0
        for j in row:
            for i, lab in enumerate(labels):
                if lab == order[j]:
                    count += 1
                    for c, col in enumerate(columns):
                        totals[c] += float(col[i])
        reps.append([t / count for t in totals])
    return reps


def test_cluster_bootstrap_matches_plain_loop_reference():
    labels = ["t3", "t1", "t3", "t2", "t1", "t3", "t4", "t2", "t4", "t5"]  # unequal cluster sizes, unsorted
    x = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], dtype=bool)
    n_boot, seed = 300, 4
    reps = sorted(r[0] for r in _loop_cluster_reps(labels, [x], n_boot, seed))
    got = bootstrap_ci(x, n_boot=n_boot, seed=seed, clusters=np.array(labels))
    assert got == pytest.approx((_percentile(reps, 0.025), _percentile(reps, 0.975)), abs=1e-12)
    acc, lo, hi = accuracy_ci(x, n_boot=n_boot, seed=seed, clusters=labels)
    assert acc == x.mean() and (lo, hi) == got
    # one prompt per cluster with labels 0..n-1 in order: exactly the prompt bootstrap
    y = np.random.default_rng(0).random(23) < 0.4
    assert bootstrap_ci(y, seed=3, clusters=np.arange(23)) == bootstrap_ci(y, seed=3)


def test_cluster_drop_ci_matches_plain_loop_reference():
    labels = [7, 7, 7, 2, 2, 9, 9, 9, 4, 1, 1, 1]
    orig = np.array([1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1], dtype=bool)
    deact = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0], dtype=bool)
    n_boot, seed = 400, 9
    reps = []
    for a0, a1 in _loop_cluster_reps(labels, [orig, deact], n_boot, seed):
        if a0 > 0:
            reps.append((a0 - a1) / a0)
    reps.sort()
    point, lo, hi = bootstrap_drop_ci(orig, deact, n_boot=n_boot, seed=seed, clusters=np.array(labels))
    assert point == pytest.approx(relative_drop(orig.mean(), deact.mean()))
    assert (lo, hi) == pytest.approx((_percentile(reps, 0.025), _percentile(reps, 0.975)), abs=1e-12)


def test_cluster_interval_is_wider_when_prompts_of_a_triple_agree():
    # 20 triples x 3 templates, all templates of a triple give the same outcome: 20 units, not 60
    rng = np.random.default_rng(1)
    per_triple = rng.random(20) < 0.5
    x, labels = np.repeat(per_triple, 3), np.repeat(np.arange(20), 3)
    lo_p, hi_p = bootstrap_ci(x, seed=0)
    lo_c, hi_c = bootstrap_ci(x, seed=0, clusters=labels)
    assert (hi_c - lo_c) > 1.4 * (hi_p - lo_p)  # ~sqrt(3) wider
    lo_t, hi_t = bootstrap_ci(per_triple.astype(float), seed=0)  # same as bootstrapping the 20 triples once each
    assert (hi_c - lo_c) == pytest.approx(hi_t - lo_t, abs=0.06)


def test_cluster_permutation_flips_whole_clusters():
    labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 5])
    a = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1], dtype=float)
    b = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 1], dtype=float)
    sums = np.array([sum(a[i] - b[i] for i in range(10) if labels[i] == c) for c in range(6)])
    assert paired_permutation_test(a, b, clusters=labels) == pytest.approx(_exact_sign_flip(sums), abs=1e-12)
    # strongly tied templates: 6 triples x 3 templates all broken -> 2/2^6, not 2/2^18
    broken = np.zeros(18)
    assert paired_permutation_test(broken, np.ones(18), clusters=np.repeat(np.arange(6), 3)) == pytest.approx(2 / 64)
    assert paired_permutation_test(broken, np.ones(18)) == pytest.approx(1 / 10001)  # Monte Carlo floor


def test_cluster_mcnemar():
    rng = np.random.default_rng(3)
    a, b = rng.random(30) < 0.5, rng.random(30) < 0.5
    b01, b10, p = mcnemar_exact(a, b)
    assert b01 + b10 <= 16  # exact enumeration path: one prompt per cluster is the binomial test again
    assert mcnemar_exact(a, b, clusters=np.arange(30)) == (b01, b10, pytest.approx(p, rel=1e-12))
    # all three templates of 6 triples broken by A: clusters give 2 / 2^6
    a, b = np.zeros(18, dtype=bool), np.ones(18, dtype=bool)
    assert mcnemar_exact(a, b, clusters=np.repeat(np.arange(6), 3)) == (18, 0, pytest.approx(2 / 64))
    assert mcnemar_exact(a, b)[2] == pytest.approx(2 * 0.5**18)
    assert mcnemar_exact(a, a, clusters=np.zeros(18)) == (0, 0, 1.0)
    with pytest.raises(InputError, match="clusters"):
        mcnemar_exact(a, b, clusters=np.arange(5))


def test_cluster_input_errors():
    x = np.ones(4, dtype=bool)
    with pytest.raises(InputError, match="one label per prompt"):
        bootstrap_ci(x, clusters=np.zeros((2, 2)))
    with pytest.raises(InputError, match="NaN"):
        bootstrap_drop_ci(x, x, clusters=np.array([0.0, 1.0, np.nan, 2.0]))
    with pytest.raises(InputError, match="one label per prompt"):
        paired_permutation_test(x, x, clusters=[1, 2, 3])
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([], dtype=bool), clusters=np.array([], dtype=int)))


# ----------------------------------------------------------------- relation_vs_random


def test_relation_vs_random_gives_no_p_below_20_sets_and_the_rank_p_beside_it():
    rng = np.random.default_rng(0)
    random = rng.random((5, 50)) < np.array([0.40, 0.42, 0.24, 0.35, 0.45])[:, None]
    relation = rng.random(50) < 0.1
    res = relation_vs_random(relation, random, n_boot=200)
    accs = random.mean(axis=1)
    assert res.method == "none" and math.isnan(res.p_value) and res.n_sets == 5 and res.n_prompts == 50
    assert "1/6" in res.reason and "20 or more sets" in res.reason
    # the assumption-free rank p is still there: the relation set is below all 5, so 1/6
    assert res.p_rank == pytest.approx(1 / 6)
    assert (res.random_low, res.random_high) == (accs.min(), accs.max())
    assert res.acc_random == pytest.approx(tuple(accs)) and res.acc_relation == relation.mean()
    assert res.percentile == 0.0 and res.diff == pytest.approx(relation.mean() - accs.mean())
    assert res.diff_low <= res.diff <= res.diff_high
    assert relation_vs_random(~relation, random, n_boot=50).p_rank == 1.0  # a set that helps: the largest rank p


def test_relation_vs_random_percentile_and_ties():
    random = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)  # 0.5 0.25 0.75 0.5
    res = relation_vs_random(np.array([1, 0, 1, 0], dtype=bool), random, n_boot=50)  # 0.5: 1 below, 2 tied
    assert res.percentile == pytest.approx(100 * (1 + 0.5 * 2) / 4)


def test_relation_vs_random_rank_from_20_sets():
    rng = np.random.default_rng(2)
    random = rng.random((20, 40)) < 0.4
    accs = random.mean(axis=1)
    relation = np.zeros(40, dtype=bool)
    relation[: int(round(40 * np.sort(accs)[2]))] = True  # tied with the third-lowest set
    res = relation_vs_random(relation, random, n_boot=50)
    assert res.method == "rank"
    assert res.p_value == res.p_rank == pytest.approx((1 + np.sum(accs <= relation.mean())) / 21)
    assert relation_vs_random(np.zeros(40, dtype=bool), random, n_boot=50).p_value == pytest.approx(1 / 21)
    assert math.isnan(relation_vs_random(np.zeros(40, dtype=bool), random[:19], n_boot=50).p_value)


def test_relation_vs_random_degenerate_cases():
    same = np.tile(np.array([1, 0, 1, 0, 1, 0], dtype=bool), (4, 1))  # every set 0.5
    res = relation_vs_random(np.zeros(6, dtype=bool), same, n_boot=50)
    assert res.method == "none" and res.p_rank == pytest.approx(1 / 5)
    assert res.random_low == res.random_high == 0.5
    tied = relation_vs_random(same[0], same, n_boot=50)  # ties count against the relation
    assert tied.p_rank == 1.0 and tied.percentile == 50.0
    one = relation_vs_random(np.zeros(6, dtype=bool), same[:1], n_boot=50)
    assert math.isnan(one.p_value) and one.method == "none" and "1 random set:" in one.reason
    assert one.percentile == 0.0 and math.isnan(one.acc_random_sd) and one.p_rank == 0.5
    empty = relation_vs_random(np.array([], dtype=bool), np.zeros((3, 0), dtype=bool))
    assert math.isnan(empty.p_value) and empty.reason == "no prompts" and empty.n_sets == 3
    with pytest.raises(InputError, match="n_sets, n_prompts"):
        relation_vs_random(np.zeros(6, dtype=bool), np.zeros(6, dtype=bool))
    with pytest.raises(InputError, match="n_sets, n_prompts"):
        relation_vs_random(np.zeros(6, dtype=bool), np.zeros((3, 5), dtype=bool))
    with pytest.raises(InputError, match="at least one random set"):
        relation_vs_random(np.zeros(6, dtype=bool), np.zeros((0, 6), dtype=bool))
    with pytest.raises(InputError, match="boolean"):
        relation_vs_random(np.zeros(6, dtype=bool), np.full((2, 6), 0.5))
    with pytest.raises(InputError, match="one label per prompt"):
        relation_vs_random(np.zeros(6, dtype=bool), same, clusters=np.arange(3))


def _loop_set_and_cluster_reps(labels, relation, random, n_boot, seed):
    """Plain loop of the two-level bootstrap: per replicate, clusters (row b of the cluster draws) and random sets
    (row b of rng.integers(0, n_sets, (n_boot, n_sets)), drawn after the cluster rows), then
    acc_relation - mean over the drawn sets of their accuracy on the drawn clusters."""
    order = sorted(set(labels))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(order), size=(n_boot, len(order)))
    sets = rng.integers(0, len(random), size=(n_boot, len(random)))
    reps = []
    for row, drawn in zip(idx, sets):
        prompts = [i for j in row for i, lab in enumerate(labels) if lab == order[j]]
        rel = sum(float(relation[i]) for i in prompts) / len(prompts)
        rnd = sum(sum(float(random[s][i]) for i in prompts) / len(prompts) for s in drawn) / len(drawn)
        reps.append(rel - rnd)
    return reps


def test_relation_vs_random_difference_interval_resamples_sets_and_clusters():
    labels = [5, 5, 1, 1, 1, 3, 8, 8]
    relation = np.array([0, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    random = np.array([[1, 0, 1, 1, 0, 1, 1, 0], [0, 1, 1, 0, 1, 1, 1, 1], [1, 1, 0, 0, 0, 1, 0, 1]], dtype=bool)
    n_boot, seed = 300, 6
    reps = sorted(_loop_set_and_cluster_reps(labels, relation, random, n_boot, seed))
    res = relation_vs_random(relation, random, clusters=np.array(labels), n_boot=n_boot, seed=seed)
    assert res.n_clusters == 4
    assert (res.diff_low, res.diff_high) == pytest.approx(
        (_percentile(reps, 0.025), _percentile(reps, 0.975)), abs=1e-12
    )
    # clusters change the interval, never the p-value (the random sets are the replicates)
    assert res.p_rank == relation_vs_random(relation, random, n_boot=n_boot, seed=seed).p_rank


def test_relation_vs_random_interval_widens_with_the_spread_of_the_sets():
    # identical prompts, one study with equal random sets and one with very different sets of the same mean:
    # an interval that ignored the sets' variation would be the same for both
    rng = np.random.default_rng(9)
    relation = rng.random(60) < 0.2
    base = rng.random(60) < 0.5
    equal = np.tile(base, (4, 1))
    spread = np.stack([base | (rng.random(60) < 0.6), base & (rng.random(60) < 0.3), base, base])
    spread_acc = spread.mean(axis=1)
    narrow = relation_vs_random(relation, equal, n_boot=2000, seed=1)
    wide = relation_vs_random(relation, spread, n_boot=2000, seed=1)
    assert spread_acc.max() - spread_acc.min() > 0.3
    assert (wide.diff_high - wide.diff_low) > 1.3 * (narrow.diff_high - narrow.diff_low)


def test_random_sets_for_holm_is_the_fewest_that_lets_a_relation_below_every_set_survive():
    from relneurons.experiments.multiplicity import adjust
    from relneurons.experiments.stats import random_sets_for_holm

    for n_tests in (1, 2, 6, 12, 15):
        n = random_sets_for_holm(n_tests)

        def holm(sets, n_tests=n_tests):  # every relation below every set
            return adjust([1 / (sets + 1)] * n_tests, "holm")

        assert (holm(n) < 0.05).all()
        assert n == 20 or not (holm(n - 1) < 0.05).all()  # one set fewer would not do (20: the rank test's floor)
    assert (random_sets_for_holm(6), random_sets_for_holm(12)) == (120, 240)
