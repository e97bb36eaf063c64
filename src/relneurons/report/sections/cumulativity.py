"""Neuron cumulativity (§5.1, Fig. 6, Table 2): is the extra damage of ranks a+1..b theirs alone?"""

from __future__ import annotations

from typing import Any

from ...experiments.summaries import CumulativitySummary
from .. import format as fmt
from ..elements import Table, generic_table
from ..reader import Section


def build(s: Section) -> dict[str, Any]:
    """The figure, the summary's ranges (micro, macro, counts) and the per-relation counts table. The ranges are
    summary_table's rows, so that table is shown through the summary; without a readable summary it is only listed."""
    summary = s.summary if isinstance(s.summary, CumulativitySummary) else None
    per = s.table("cumulativity", ["relation", "a", "b"], optional=True)
    out: dict[str, Any] = {
        "figure": s.figure("cumulativity"),
        "ranges": [],
        "table": None,
        "per": generic_table(per, max_rows=500) if per is not None else None,
    }
    if summary is not None:
        s.used_tables.add("summary_table")
        out["ranges"] = sorted(summary.ranges, key=lambda r: (r.a, r.b))
        out["table"] = Table(
            ["range (a, b]", "macro", "micro", "#total", "#affected", "relations"],
            [
                [
                    f"({r.a:,}, {r.b:,}]",
                    fmt.f2(r.macro),
                    fmt.f2(r.micro),
                    fmt.count(r.total),
                    fmt.count(r.affected),
                    fmt.count(r.n_relations),
                ]
                for r in out["ranges"]
            ],
            [False, True, True, True, True, True],
            cls="compact",
        )
    return out
