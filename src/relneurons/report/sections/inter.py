"""Inter-relation effect of deactivation (§4.2.2, Fig. 4): the specificity test first (the paper's claim, tested
against the other relations' sets), then the drop table as an HTML grid and per-pair table, and own vs other drop
per relation, all from the typed summary (`experiments.summaries.InterSummary`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...experiments.summaries import InterSummary
from .. import format as fmt
from ..elements import Table, heatmap
from ..reader import Section, order


def _tip(evaluated: str, deactivated: str, cell: dict[str, Any] | None) -> str:
    """The tooltip of one grid cell: both relations, the accuracies, the drop with its interval."""
    head = f"evaluated: {evaluated}\ndeactivated: {deactivated}\n"
    if cell is None:
        return head + "not in the table"
    n = "" if fmt.missing(cell["n"]) else f" (n = {fmt.count(cell['n'])})"
    drop = (
        "drop n/a (original accuracy is 0)"
        if fmt.missing(cell["drop"])
        else f"drop {fmt.with_ci(cell['drop'], cell['drop_low'], cell['drop_high'], fmt.pct)}"
    )
    return f"{head}accuracy {fmt.f2(cell['acc_original'])} → {fmt.f2(cell['acc_deactivated'])}{n}\n{drop}"


def build(s: Section) -> dict[str, Any]:
    summary = s.summary if isinstance(s.summary, InterSummary) else None
    tests = list(summary.specificity) if summary else []
    specificity = [
        {**vars(t), "points": fmt.NA if fmt.missing(t.statistic) else f"{100 * t.statistic:.1f} percentage points"}
        for t in tests
    ]  # one test per split, each its own family (the run's last section adjusts across)
    s.used_tables.update({"specificity", "inter_det"})  # the summary holds the specificity rows
    out: dict[str, Any] = {
        "figure": s.figure("inter"),
        "k_text": s.k_text,
        "grid": None,
        "summary": summary,
        "own": [],
        "pairs": None,
        "specificity": specificity,
    }
    df = s.table("inter", ["evaluated", "deactivated", "drop"])
    if df is None:
        return out
    df = df.assign(evaluated=df["evaluated"].astype(str), deactivated=df["deactivated"].astype(str))
    relations = order(list(df["evaluated"]) + list(df["deactivated"]), s.run.relations)
    rows = [r for r in relations if r in set(df["evaluated"])]
    cols = [r for r in relations if r in set(df["deactivated"])]
    absent = {c: math.nan for c in ("n", "acc_original", "acc_deactivated", "drop", "drop_low", "drop_high")}
    cells = {
        (r["evaluated"], r["deactivated"]): {**absent, **r}
        for r in df.drop_duplicates(["evaluated", "deactivated"]).to_dict("records")
    }
    m = np.array([[100 * float(cells.get((r, c), absent)["drop"]) for c in cols] for r in rows], dtype=float).reshape(
        len(rows), len(cols)
    )
    labels = [[fmt.NA if np.isnan(v) else f"{v:.0f}" for v in line] for line in m]
    tips = [[_tip(r, c, cells.get((r, c))) for c in cols] for r in rows]
    out["grid"] = heatmap(
        "inter",
        rows,
        cols,
        m,
        labels,
        tips,
        cmap="RdBu_r",
        vmin=-100.0,
        vmax=100.0,
        row_title="evaluated",
        col_title="deactivated",
        legend="accuracy drop (%)",
    )
    others = {o.relation: o.other_drop for o in summary.relations} if summary else {}
    for r in (r for r in rows if r in cols):
        own = cells.get((r, r), absent)
        out["own"].append(
            {
                "relation": r,
                "defined": not fmt.missing(own["drop"]),
                "drop": fmt.with_ci(own["drop"], own["drop_low"], own["drop_high"], fmt.pct),
                "acc_original": own["acc_original"],
                "acc_deactivated": own["acc_deactivated"],
                "other_drop": others.get(r),
            }
        )
    pairs = [
        [
            r,
            c,
            fmt.count(x["n"]),
            fmt.f2(x["acc_original"]),
            fmt.f2(x["acc_deactivated"]),
            fmt.pct(x["drop"]),
            fmt.ci(x["drop_low"], x["drop_high"], fmt.pct) or fmt.NA,
        ]
        for r in rows
        for c in cols
        if (x := cells.get((r, c)))
    ]
    out["pairs"] = Table(
        ["evaluated", "deactivated", "n", "acc original", "acc deactivated", "drop", "95% CI"],
        pairs,
        [False, False, True, True, True, True, True],
    )
    return out
