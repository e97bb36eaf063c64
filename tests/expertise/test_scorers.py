"""Activation-based scorers against plain-Python references (ties, constant columns, empty groups)."""

import math
import statistics

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from relneurons.errors import ConfigError, InputError
from relneurons.expertise import SCORERS
from relneurons.expertise.identify import rank_descending
from relneurons.expertise.scorers import MODEL_SCORERS, check_scorers, top_columns


def _data(seed=0, n_pos=9, n_neg=23, n=12):
    rng = np.random.default_rng(seed)
    pos, neg = rng.normal(size=(n_pos, n)), rng.normal(size=(n_neg, n))
    pos[:, 1], neg[:, 1] = 0.1, 0.1  # constant everywhere (0.1 is not exact in binary: the mean is not 0.1)
    pos[:, 2], neg[:, 2] = 0.7, 0.3  # constant per group, positives higher
    pos[:, 3], neg[:, 3] = -2.0, 5.0  # constant per group, positives lower
    pos[:, 4], neg[:, 4] = np.round(pos[:, 4]), np.round(neg[:, 4])  # heavy ties
    pos[:, 5] = 0.25  # constant positives only
    pos[:, 6] += 2.0  # planted signal
    return pos.astype(np.float32), neg.astype(np.float32)


def _mean_diff_reference(pos, neg):
    out = []
    for j in range(pos.shape[1]):
        p, q = [float(v) for v in pos[:, j]], [float(v) for v in neg[:, j]]
        ss = statistics.pvariance(p) * len(p) + statistics.pvariance(q) * len(q)  # exact for constant lists
        sd = math.sqrt(ss / max(len(p) + len(q) - 2, 1))
        diff = statistics.fmean(p) - statistics.fmean(q)
        out.append(diff / sd if sd > 0 else (math.inf if diff > 0 else -math.inf if diff < 0 else 0.0))
    return np.array(out)


def _activation_rate_reference(pos, neg):
    out = []
    for j in range(pos.shape[1]):
        values = sorted([float(v) for v in pos[:, j]] + [float(v) for v in neg[:, j]])
        n = len(values)
        median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
        out.append(
            sum(float(v) > median for v in pos[:, j]) / len(pos) - sum(float(v) > median for v in neg[:, j]) / len(neg)
        )
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_diff_matches_a_plain_loop(seed):
    pos, neg = _data(seed)
    got = SCORERS["mean_diff"](pos, neg)
    want = _mean_diff_reference(pos, neg)
    assert got.dtype == np.float64 and got.shape == (pos.shape[1],)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
    assert got[1] == 0.0 and got[2] == math.inf and got[3] == -math.inf  # the zero-variance cases
    assert np.argmax(got[4:]) + 4 == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_activation_rate_matches_a_plain_loop(seed):
    pos, neg = _data(seed, n_pos=8, n_neg=20)  # 28 examples: the median is the mean of two values
    got = SCORERS["activation_rate"](pos, neg)
    np.testing.assert_array_equal(got, _activation_rate_reference(pos, neg))
    assert got[1] == 0.0  # constant: nothing exceeds its own median
    pos, neg = _data(seed, n_pos=9, n_neg=20)  # odd count: the median is a data value (ties at the threshold)
    np.testing.assert_array_equal(SCORERS["activation_rate"](pos, neg), _activation_rate_reference(pos, neg))


def test_ap_is_sklearns_average_precision():
    pos, neg = _data(3)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    both = np.concatenate([pos, neg])
    want = [average_precision_score(labels, both[:, j]) for j in range(both.shape[1])]
    np.testing.assert_allclose(SCORERS["ap"](pos, neg), want, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_bad_groups_give_one_clear_error(name):
    pos, neg = _data(0)
    with pytest.raises(InputError, match="negatives is empty"):
        SCORERS[name](pos, neg[:0])
    with pytest.raises(InputError, match="positives is empty"):
        SCORERS[name](pos[:0], neg)
    with pytest.raises(InputError, match="neurons"):
        SCORERS[name](pos, neg[:, :5])
    with pytest.raises(InputError, match="2-D"):
        SCORERS[name](pos[0], neg)
    bad = pos.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        SCORERS[name](bad, neg)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_top_columns_in_blocks_equals_ranking_all_neurons_at_once(name):
    rng = np.random.default_rng(5)
    pool = np.round(rng.normal(size=(40, 30)), 1).astype(np.float32)  # ties across neurons too
    pool[:, 11] = 1.0
    subsets = [
        (np.arange(0, 25), np.arange(25) < 8),
        (np.array([3, 30, 31, 39, 5, 7, 20]), np.array([1, 1, 1, 0, 0, 0, 0], bool)),
    ]
    got = top_columns(lambda a, b: pool[:, a:b], 30, subsets, k=9, scorer=name, block=7)
    for (members, positive), columns in zip(subsets, got):
        scores = SCORERS[name](pool[members[positive]], pool[members[~positive]])
        np.testing.assert_array_equal(columns, rank_descending(scores)[:9])


def test_scorer_names_are_checked():
    assert check_scorers(["ap", "attribution"]) == ["ap", "attribution"]
    assert "attribution" in MODEL_SCORERS and "attribution" not in SCORERS
    with pytest.raises(ConfigError, match="did you mean 'mean_diff'"):
        check_scorers(["mean_dif"])
    with pytest.raises(ConfigError, match="twice"):
        check_scorers(["ap", "ap"])
    with pytest.raises(ConfigError, match="unknown activation scorer"):
        top_columns(lambda a, b: None, 3, [], 1, scorer="attribution")


def test_the_torch_free_scorer_names_are_the_scorers():
    """The configuration checks scorer names without importing the scorers (expertise/config.py): the names written
    there are exactly the registries' keys, in order."""
    from relneurons.expertise.config import MODEL_SCORER_NAMES, SCORER_NAMES
    from relneurons.expertise.scorers import SCORERS

    assert tuple(SCORERS) == SCORER_NAMES and tuple(MODEL_SCORERS) == MODEL_SCORER_NAMES
