"""Multiplicity adjustment of p-values: Holm within a family, Benjamini-Hochberg across a run.

A run prints many p-values (relations x splits x experiments). The report's rule (docs/method.md, "What the
tests mean"): a family is one experiment on one split, adjusted by Holm (controls the family-wise error rate
under any dependence); every test of a run together is a discovery set, adjusted by Benjamini-Hochberg (controls
the false discovery rate for independent or positively dependent tests). Missing p-values (NaN: no test was
possible) stay NaN and are not counted in the number of tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["ADJUSTMENTS", "adjust", "adjust_within", "run_tests"]

#: The methods `adjust` knows, with what each controls.
ADJUSTMENTS = {"holm": "family-wise error rate (Holm 1979)", "bh": "false discovery rate (Benjamini & Hochberg 1995)"}


def adjust(p, method: str) -> np.ndarray:
    """Adjusted p-values, same shape and order as `p` (1-D); NaN stays NaN and is not counted.

    holm: the i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)).
    bh:   the i-th smallest becomes min over j >= i of min(1, m p_(j) / j).
    Reject at level alpha where the adjusted value is <= alpha.
    """
    if method not in ADJUSTMENTS:
        raise InputError(f"unknown multiplicity adjustment {method!r}; use one of {sorted(ADJUSTMENTS)}")
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"p must be 1-D (one p-value per test), got shape {arr.shape}")
    out = np.full(arr.shape, np.nan)
    defined = ~np.isnan(arr)
    values = arr[defined]
    if values.size and ((values < 0).any() or (values > 1).any()):
        raise InputError(f"p-values must lie in [0, 1], got {values[(values < 0) | (values > 1)][:3].tolist()}")
    m = values.size
    if m == 0:
        return out
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    ranks = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - ranks + 1) * ranked))
    else:
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / ranks)[::-1])[::-1]
    result = np.empty(m)
    result[order] = adjusted
    out[defined] = result
    return out


def adjust_within(p, groups, method: str) -> np.ndarray:
    """`adjust` applied separately within each family: `groups` gives one label per p-value (same length)."""
    values = np.asarray(p, dtype=np.float64)
    labels = np.asarray(groups)
    if labels.shape != values.shape:
        raise InputError(f"groups must give one family label per p-value ({values.shape}), got shape {labels.shape}")
    out = np.full(values.shape, np.nan)
    for label in dict.fromkeys(labels.tolist()):
        members = labels == label
        out[members] = adjust(values[members], method)
    return out


#: Columns of a tests table that are descriptions, not tests (never adjusted).
DESCRIPTIVE_P = ("p_rank",)
#: The columns that say which test a row is, first found wins for the label.
_LABELS = ("relation", "concept", "language", "split")


def run_tests(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every test of a run in one long table, with Holm within each family and BH across the run.

    `tables`: experiment name -> its tests table (columns `p_*`; `p_rank` and adjusted `*_holm` / `*_bh`
    columns are skipped) or, for inter, its specificity table (`split`, `p_value`, one test per split).
    A family is one experiment x one split (or language) x one kind of test. Returns columns experiment, family,
    test, label, p, p_holm, p_bh; rows with a NaN p stay, unadjusted and uncounted.
    """

    rows = []
    for experiment, table in tables.items():
        if table is None or table.empty:
            continue
        if "p_value" in table.columns and "statistic" in table.columns:  # a specificity table: one test per split
            for split, part in table.groupby("split", sort=False):
                rows.append(
                    {
                        "experiment": experiment,
                        "family": f"{split}",
                        "test": "specificity",
                        "label": "all relations",
                        "p": float(part["p_value"].iloc[0]),
                    }
                )
            continue
        family_col = next((c for c in ("split", "language") if c in table.columns), None)
        label_col = next((c for c in _LABELS if c in table.columns and c != family_col), None)
        tests = [
            c
            for c in table.columns
            if c.startswith("p_") and c not in DESCRIPTIVE_P and not c.endswith(("_holm", "_bh"))
        ]
        for column in tests:
            for record in table.to_dict("records"):
                rows.append(
                    {
                        "experiment": experiment,
                        "family": str(record[family_col]) if family_col else "",
                        "test": column.removeprefix("p_"),
                        "label": str(record[label_col]) if label_col else "",
                        "p": float(record[column]),
                    }
                )
    out = pd.DataFrame(rows, columns=["experiment", "family", "test", "label", "p"])
    out["p_holm"] = adjust_within(out["p"], out.groupby(["experiment", "family", "test"], sort=False).ngroup(), "holm")
    out["p_bh"] = adjust(out["p"].to_numpy(dtype=float), "bh") if len(out) else np.array([])
    return out
