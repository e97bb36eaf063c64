"""Fact frequency and resilience (App. E, Fig. 23): are the facts that survive switching off a relation's top-k the
more frequent ones in a corpus? Headlines and the Wilcoxon test are the typed summary's (`FrequencySummary`); the
per-relation group sizes and means are the rows of frequency.parquet."""

from __future__ import annotations

from typing import Any

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order

COLUMNS = [
    "relation",
    "n_correct",
    "n_resilient",
    "n_sensitive",
    "mean_resilient",
    "mean_sensitive",
    "median_resilient",
    "median_sensitive",
    "relative_difference",
]


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {"summary": summary, "figure": None, "table": None}
    if summary is None or summary.skipped:
        return out
    out["figure"] = s.figure("frequency")
    s.used_tables.update({"facts", "prompts", "fact_counts"})
    df = s.table("frequency", COLUMNS)
    if df is None:
        return out
    df = df.assign(relation=df["relation"].astype(str)).set_index("relation")
    rows = []
    for r in order(df.index, s.run.relations):
        x = df.loc[r]
        rows.append(
            [
                r,
                fmt.count(x["n_correct"]),
                fmt.count(x["n_resilient"]),
                fmt.count(x["n_sensitive"]),
                fmt.number(x["mean_resilient"]),
                fmt.number(x["mean_sensitive"]),
                fmt.number(x["median_resilient"]),
                fmt.number(x["median_sensitive"]),
                fmt.NA if fmt.missing(x["relative_difference"]) else f"{float(x['relative_difference']):+.2f}",
            ]
        )
    out["table"] = Table(
        [
            "relation",
            "answered",
            "resilient",
            "sensitive",
            "mean resilient",
            "mean sensitive",
            "median resilient",
            "median sensitive",
            "relative difference",
        ],
        rows,
        [False] + [True] * 8,
        cls="compact",
    )
    return out
