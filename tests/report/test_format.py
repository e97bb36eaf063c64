"""The report's number formats (report/format.py), against values written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from relneurons.report import format as fmt


@pytest.mark.parametrize("missing", [None, math.nan, np.nan, pd.NA, pd.NaT])
def test_every_format_writes_a_missing_value_as_na(missing):
    for f in (fmt.f2, fmt.fp, fmt.pct, fmt.count, fmt.seconds):
        assert f(missing) == "n/a"
    assert fmt.ci(missing, missing) == "" and fmt.with_ci(missing, 0.1, 0.2) == "n/a"


def test_numbers_as_a_reader_sees_them():
    assert fmt.f2(0.125) == "0.12" and fmt.f2(1) == "1.00"  # round half to even, as Python's format
    assert fmt.fp(0.0004) == "< 0.001" and fmt.fp(0.001) == "0.001" and fmt.fp(1.0) == "1.000"
    assert (
        fmt.fp(0.0496) == "0.0496" and fmt.fp(0.0504) == "0.0504" and fmt.fp(0.05) == "0.050"
    )  # no rounding across 0.05
    assert fmt.fp(0.0494) == "0.049" and fmt.fp(0.0506) == "0.051"
    assert fmt.pct(0.375) == "37.5%" and fmt.pct(0.375, 0) == "38%"
    assert fmt.pct(-0.001, 0) == "0%" and fmt.pct(-0.0004) == "0.0%" and fmt.pct(-0.006, 0) == "-1%"
    assert fmt.count(85248) == "85,248" and fmt.count(3.0) == "3"
    assert fmt.ci(0.05, 0.4) == "[0.05, 0.40]" and fmt.with_ci(0.2, 0.05, 0.4) == "0.20 [0.05, 0.40]"
    assert fmt.with_ci(0.2, None, None) == "0.20"
    assert [fmt.seconds(v) for v in (59.94, 61, 3700)] == ["59.9 s", "1 min 1 s", "1 h 1 min"]
    assert [fmt.number(v) for v in (True, 12345, 3.0, 0.004, 2.5, 12345.6, math.inf)] == [
        "yes",
        "12,345",
        "3",
        "0.004",
        "2.50",
        "12,346",
        "inf",
    ]
    assert fmt.plural(1, "relation") == "1 relation" and fmt.plural(2, "analysis", "analyses") == "2 analyses"
    assert fmt.jsonish("a<b") == "a<b" and fmt.jsonish([1, "x"]) == '[1, "x"]' and fmt.jsonish(math.nan) == "n/a"


def test_columns_of_unknown_meaning():
    df = pd.DataFrame(
        {
            "p_value": [0.0001, 0.2],
            "acc": [0.5, 0.25],
            "n": [3.0, 4.0],
            "tiny": [0.001, 0.002],
            "ok": [True, False],
            "ids": [[1, 2], [3]],
        }
    )
    shown = {c: [fmt.column_formatter(c, df[c])(v) for v in df[c]] for c in df.columns}
    assert shown == {
        "p_value": ["< 0.001", "0.200"],
        "acc": ["0.50", "0.25"],
        "n": ["3", "4"],
        "tiny": ["0.001", "0.002"],
        "ok": ["yes", "no"],
        "ids": ["[1, 2]", "[3]"],
    }
