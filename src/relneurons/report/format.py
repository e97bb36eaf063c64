"""How the report writes numbers: pure functions from a value to plain text (the templates escape it).

Every function accepts a missing value (None, NaN, pandas NA) and writes it as "n/a", so a table with a hole
still renders. They are the report's jinja2 filters (`report.html.environment`), named as the templates use them.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

NA = "n/a"


def missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def f2(value: Any) -> str:
    """Accuracy-like number, 2 decimals."""
    return NA if missing(value) else f"{float(value):.2f}"


def fp(value: Any) -> str:
    """p-value, 3 decimals ("< 0.001" below that; 4 where 3 would round across 0.05)."""
    if missing(value):
        return NA
    value = float(value)
    if 0 <= value < 0.001:
        return "< 0.001"
    text = f"{value:.3f}"
    if text == "0.050" and value != 0.05:  # 0.0496 must not read as 0.050: which side of 0.05 it lies on matters
        text = f"{value:.4f}"
    return text


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage; a value that rounds to zero has no sign ("0%", not "-0%")."""
    if missing(value):
        return NA
    text = f"{float(value) * 100:.{digits}f}"
    return f"{text.lstrip('-') if float(text) == 0 else text}%"


def count(value: Any) -> str:
    """A whole number with thousands separators."""
    return NA if missing(value) else f"{int(value):,}"


def ci(low: Any, high: Any, fmt: Callable[[Any], str] = f2) -> str:
    """'[low, high]', or '' when the interval is absent."""
    if missing(low) and missing(high):
        return ""
    return f"[{fmt(low)}, {fmt(high)}]"


def with_ci(value: Any, low: Any, high: Any, fmt: Callable[[Any], str] = f2) -> str:
    """'value [low, high]'; the interval is left out when the value is missing."""
    interval = ci(low, high, fmt) if not missing(value) else ""
    return f"{fmt(value)} {interval}".strip()


def seconds(value: Any) -> str:
    if missing(value):
        return NA
    s = float(value)
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value: Any) -> str:
    """A number of unknown meaning (generic tables, summaries, heatmap legends)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    v = float(value)
    if math.isnan(v):
        return NA
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v.is_integer() and abs(v) < 1e15:
        return number(int(v))
    if abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}" if abs(v) < 1000 else f"{v:,.0f}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 relation', '3 relations' ('2 analyses' with `words`)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def jsonish(value: Any) -> str:
    """A configuration or summary value as short text (strings as they are, the rest as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return NA
    return json.dumps(value, default=str, sort_keys=True)


def is_p_column(column: str) -> bool:
    col = column.lower()
    return col.startswith("p_") or col in ("p", "pvalue") or col.endswith("_p") or col.endswith("p_value")


def column_formatter(column: str, series: pd.Series) -> Callable[[Any], str]:
    """How to show one column of a table of unknown meaning: p-values to 3 decimals, other fractions to 2,
    whole-number float columns as integers, tiny values with 2 significant digits, lists as JSON."""
    if pd.api.types.is_bool_dtype(series):
        return lambda v: NA if missing(v) else ("yes" if v else "no")
    if pd.api.types.is_numeric_dtype(series):
        if is_p_column(column):
            return fp
        values = pd.to_numeric(series, errors="coerce").dropna()
        values = values[np.isfinite(values)]
        if pd.api.types.is_integer_dtype(series) or (len(values) and (values == values.round()).all()):
            return number
        small = len(values) and values.abs().max() < 0.01
        return lambda v: (
            NA
            if missing(v)
            else (f"{float(v):.2g}" if small else number(v) if abs(float(v)) >= 1000 else f"{float(v):.2f}")
        )

    def fmt(v: Any) -> str:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, (list, tuple, dict)):
            return json.dumps(v, default=str)
        return NA if missing(v) else str(v)

    return fmt
