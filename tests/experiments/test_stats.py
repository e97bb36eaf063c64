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
        (0, 6, 2 * 0.5**6),            # 0.03125
        (6, 0, 2 * 0.5**6),
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # 2 * P(X <= 2), X ~ Bin(10, 1/2) = 0.109375
        (5, 5, 1.0),
        (1, 0, 1.0),                   # 2 * 0.5 = 1
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
    return hits / 2 ** d.size


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
