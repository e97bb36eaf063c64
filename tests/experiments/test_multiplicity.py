"""Holm and Benjamini-Hochberg adjustment (experiments/multiplicity.py) against plain reference loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relneurons.errors import InputError
from relneurons.experiments.stats import adjust


def _holm_reference(p: list[float]) -> list[float]:
    """Holm's step-down, written from its definition: the i-th smallest (1-based) is compared with
    alpha / (m - i + 1); the adjusted value is the running maximum of (m - i + 1) p_(i), capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p[i]))
        out[i] = running
    return out


def _bh_reference(p: list[float]) -> list[float]:
    """Benjamini-Hochberg step-up from its definition: adjusted p_(i) = min over j >= i of m p_(j) / j, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    for rank, i in enumerate(order, start=1):
        out[i] = min(1.0, min(m * p[order[j - 1]] / j for j in range(rank, m + 1)))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_matches_the_reference_with_ties_and_nan(seed):
    rng = np.random.default_rng(seed)
    p = rng.random(12) ** 3
    p[rng.integers(0, 12, 3)] = p[0]  # ties
    if seed % 2:
        p[[2, 7]] = np.nan
    defined = [float(x) for x in p if not math.isnan(x)]
    for method, ref in (("holm", _holm_reference), ("bh", _bh_reference)):
        got = adjust(p, method)
        assert np.isnan(got).tolist() == np.isnan(p).tolist()  # NaN stays NaN
        assert got[~np.isnan(p)] == pytest.approx(ref(defined), abs=1e-15)  # and is not counted in m


def test_known_values_and_edge_cases():
    assert adjust([0.01, 0.04, 0.03, 0.005], "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust([0.01, 0.04, 0.03, 0.005], "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust([], "holm").size == 0
    assert np.isnan(adjust([np.nan, np.nan], "bh")).all()
    assert adjust([0.3], "holm") == pytest.approx([0.3])
    assert adjust([0.9, 0.8], "holm").max() <= 1.0
    with pytest.raises(InputError, match="holm"):
        adjust([0.1], "bonferroni")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        adjust([1.2], "bh")
    with pytest.raises(InputError, match="1-D"):
        adjust([[0.1]], "bh")


def test_run_tests_families_and_run_wide_bh():
    import pandas as pd

    from relneurons.experiments.multiplicity import run_tests

    intra = pd.DataFrame(
        {
            "relation": ["a", "b", "a", "b"],
            "split": ["P_eva", "P_eva", "P_det", "P_det"],
            "p_relation_vs_random": [0.01, 0.04, np.nan, 0.02],
            "p_rank": [0.25] * 4,
            "p_relation_vs_random_holm": [9.0] * 4,
            "p_relation_vs_original": [0.2, 0.003, 0.5, 0.01],
        }
    )
    specificity = pd.DataFrame(
        {
            "split": ["P_eva", "P_eva", "P_det", "P_det"],
            "statistic": 0.3,
            "p_value": [0.02, 0.02, 0.5, 0.5],
            "relation": ["a", "b", "a", "b"],
        }
    )
    out = run_tests({"intra": intra, "inter (specificity)": specificity})
    # p_rank is a description and *_holm a derived column: neither is a test; specificity is one test per split
    assert sorted(set(out["test"])) == ["relation_vs_original", "relation_vs_random", "specificity"]
    assert len(out) == 4 + 4 + 2
    eva_random = out[(out.experiment == "intra") & (out.family == "P_eva") & (out.test == "relation_vs_random")]
    assert eva_random["p_holm"].tolist() == pytest.approx(_holm_reference([0.01, 0.04]))
    det_random = out[(out.family == "P_det") & (out.test == "relation_vs_random")]
    assert np.isnan(det_random["p_holm"].iloc[0]) and det_random["p_holm"].iloc[1] == pytest.approx(
        0.02
    )  # NaN not counted
    defined = out["p"].dropna()
    assert out.loc[defined.index, "p_bh"].tolist() == pytest.approx(_bh_reference(defined.tolist()))
    assert set(out.loc[out.test == "specificity", "label"]) == {"all relations"}


def test_adjust_within_adjusts_each_family_on_its_own():
    from relneurons.experiments.multiplicity import adjust_within

    p = [0.01, 0.04, 0.03, np.nan, 0.2, 0.001]
    families = ["eva", "det", "eva", "eva", "det", "eva"]
    got = adjust_within(p, families, "holm")
    eva = _holm_reference([0.01, 0.03, 0.001])  # the NaN is not counted in its family
    det = _holm_reference([0.04, 0.2])
    assert got[[0, 2, 5]] == pytest.approx(eva) and got[[1, 4]] == pytest.approx(det) and np.isnan(got[3])
    with pytest.raises(InputError, match="one family label per p-value"):
        adjust_within([0.1, 0.2], ["a"], "holm")
