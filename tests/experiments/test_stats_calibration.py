"""Calibration of relation_vs_random, measured on simulated studies (issue 11: "measured, not assumed").

The simulator (experiments/calibration.py) uses the between-set variation measured on Gemma 3 270M; these
tests check it reproduces that variation, that p < 0.05 happens at most 5% + 3 binomial standard errors of
the time under the null, and that a real effect is found. Seeded; a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from relneurons.experiments.calibration import (
    MEASURED_SET_ACCURACIES,
    MEASURED_TEMPLATE_ICC,
    rejection_rates,
    simulate_study,
)


def _limit(n: int, alpha: float = 0.05) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)


def test_simulator_reproduces_the_measured_between_set_variation():
    rng = np.random.default_rng(0)
    sds, means = [], []
    for _ in range(1000):
        s = simulate_study(rng, n_sets=3)
        sds.append(s.random.mean(axis=1).std(ddof=1))
        means.append(s.random.mean())
    measured_sd = float(np.std(MEASURED_SET_ACCURACIES, ddof=1))
    assert math.sqrt(np.mean(np.square(sds))) == pytest.approx(measured_sd, rel=0.15)
    assert np.mean(means) == pytest.approx(np.mean(MEASURED_SET_ACCURACIES), abs=0.02)


def _icc(table: np.ndarray) -> float:
    """One-way ANOVA intraclass correlation of a [triples, templates] 0/1 table (written out, no library)."""
    k = table.shape[1]
    ms_between = k * table.mean(axis=1).var(ddof=1)
    ms_within = ((table - table.mean(axis=1, keepdims=True)) ** 2).sum() / (table.shape[0] * (k - 1))
    return (ms_between - ms_within) / (ms_between + (k - 1) * ms_within)


def test_simulator_reproduces_the_measured_within_triple_correlation():
    rng = np.random.default_rng(1)
    iccs = [_icc(simulate_study(rng, n_sets=1, n_templates=2).random[0].reshape(50, 2).astype(float)) for _ in range(300)]
    assert min(MEASURED_TEMPLATE_ICC) - 0.05 <= np.nanmean(iccs) <= max(MEASURED_TEMPLATE_ICC)


@pytest.mark.parametrize(("n_sets", "n_templates", "n_studies"), [(3, 1, 1500), (5, 3, 800), (20, 1, 800)])
def test_false_positive_rate_under_the_null(n_sets, n_templates, n_studies):
    rate = rejection_rates(n_studies, seed=n_sets, n_sets=n_sets, n_templates=n_templates)["new"]
    assert rate <= _limit(n_studies)


def test_power_for_a_real_effect():
    # the example: random sets at 0.45, the relation's set at 0.10, 5 random sets
    rate = rejection_rates(300, seed=1, n_sets=5, acc_random=0.45, acc_relation=0.10)["new"]
    assert rate >= 0.75
    # with 20 sets the rank test gives p = 1/21 whenever the relation is below every random set
    assert rejection_rates(200, seed=2, n_sets=20, acc_random=0.45, acc_relation=0.10)["new"] >= 0.95
