"""Multiplicity adjustment of p-values: Holm within a family, Benjamini-Hochberg across a run.

A run prints many p-values (relations x splits x experiments). The report's rule (docs/method.md, "What the
tests mean"): a family is one experiment on one split, adjusted by Holm (controls the family-wise error rate
under any dependence); every test of a run together is a discovery set, adjusted by Benjamini-Hochberg (controls
the false discovery rate for independent or positively dependent tests). Missing p-values (NaN: no test was
possible) stay NaN and are not counted in the number of tests.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["ADJUSTMENTS", "adjust"]

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
