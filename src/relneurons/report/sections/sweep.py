"""Accuracy as more neurons are deactivated (§5.1, Figs. 5, 22): each relation's own P_eva accuracy and the other
relations' as its top-k grows. Every number is the typed summary's (`SweepSummary`); a run without one shows its
figure and a note saying what to rerun."""

from __future__ import annotations

from typing import Any

from .. import format as fmt
from ..elements import Table
from ..reader import Section


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {"figure": s.figure("sweep"), "summary": summary, "items": [], "own_table": None}
    if summary is None:
        return out
    s.used_tables.add("sweep")  # its numbers are the summary's
    top = summary.k_max
    all_k = sorted({p.k for rel in summary.relations for p in rel.points})
    rows = []
    for rel in summary.relations:
        if not rel.points:  # not in the sweep's table
            continue
        at = {p.k: p for p in rel.points}
        start, end = at.get(0), at.get(top)
        out["items"].append(
            {"relation": rel.relation, "start": start, "end": end, "other": any(p.n_other for p in rel.points)}
        )
        rows.append([rel.relation, *(fmt.f2(at[k].own if k in at else None) for k in all_k)])
    out["own_table"] = Table(
        ["relation", *("k = 0 (original)" if k == 0 else f"{k:,}" for k in all_k)],
        rows,
        [False] + [True] * len(all_k),
        cls="compact",
    )
    return out
