"""Intra-relation effect of deactivation (§4.2.1, Fig. 3): each relation's accuracy with the original model, with
k random neurons off and with its own top-k off. The headline and the tests against the random sets are the
typed summary's (`IntraSummary`); the accuracies with their intervals are the intra table's rows. The words are
"harmful beyond random": specificity is the inter section's test."""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from ...experiments.stats import RANK_MIN_SETS, random_sets_for_holm
from .. import format as fmt
from ..elements import Table
from ..reader import Section, order

CONDITIONS = ("original", "random", "relation")
TABLE_HEADER = [
    "relation",
    "split",
    "n",
    "original [95% CI]",
    "random-k [95% CI]",
    "relation-k [95% CI]",
    "random sets",
    "percentile",
    "rank p",
    "p vs random (Holm)",
    "random sets' range",
    "relation − random [95% CI]",
    "p vs original",
    "Holm",
]


def percentile(value: Any) -> str:
    """A test's percentile among the random sets, as a whole number (n/a when undefined)."""
    return fmt.NA if fmt.missing(value) else f"{float(value):.0f}"


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    df = s.table("intra", ["relation", "split", "condition", "accuracy"])
    s.used_tables.add("tests")  # shown from the summary, which holds the same rows
    n_sets = len(summary.random_seeds) if summary else None
    out: dict[str, Any] = {
        "figure": s.figure("intra"),
        "k_text": s.k_text,
        "n_sets": n_sets,
        "headline": None,
        "means": [],
        "n_relations": 0,
        "items": [],
        "table": None,
    }
    if df is None:
        return out
    df = df.assign(relation=df["relation"].astype(str), split=df["split"].astype(str))
    relations = order(df["relation"], s.run.relations)
    splits = order(df["split"], ["P_eva", "P_det"])
    tests = {(t.relation, t.split): t for t in summary.tests} if summary else {}
    idx = df.set_index(["relation", "split", "condition"])

    def get(r: str, sp: str, c: str, col: str) -> Any:
        try:
            return idx.loc[(r, sp, c), col] if col in idx.columns else math.nan
        except KeyError:
            return math.nan

    def acc(r: str, sp: str, c: str) -> dict[str, Any]:
        return {"value": get(r, sp, c, "accuracy"), "low": get(r, sp, c, "ci_low"), "high": get(r, sp, c, "ci_high")}

    if summary and summary.n_relations:
        out["headline"] = summary
        out["min_rank_p"] = 1 / (n_sets + 1) if n_sets else None
        out["sets_for_holm"] = random_sets_for_holm(summary.n_relations)
        out["rank_min_sets"] = RANK_MIN_SETS
    for sp in splits:
        means = df[df["split"] == sp].groupby("condition")["accuracy"].mean()
        out["means"].append({"split": sp, **{c: means.get(c) for c in CONDITIONS}})
    out["n_relations"] = len(relations)
    for r in relations:
        bits = [
            {
                "split": sp,
                **{c: acc(r, sp, c) for c in CONDITIONS},
                "test": tests.get((r, sp)),
                "percentile": percentile(tests[(r, sp)].percentile) if (r, sp) in tests else fmt.NA,
            }
            for sp in splits
            if (r, sp, "original") in idx.index or (r, sp, "relation") in idx.index
        ]
        out["items"].append({"relation": r, "bits": bits})

    rows = []
    for sp in splits:
        for r in relations:
            if not any((r, sp, c) in idx.index for c in CONDITIONS):
                continue
            row: list[Any] = [r, sp, fmt.count(get(r, sp, "original", "n"))]
            for c in CONDITIONS:
                cell = fmt.with_ci(*acc(r, sp, c).values())
                low, high = get(r, sp, c, "seed_low"), get(r, sp, c, "seed_high")
                if c == "random" and not fmt.missing(low):  # the spread of the random sets' accuracies
                    cell = Markup('%s <span class="dim">sets %s–%s</span>') % (cell, fmt.f2(low), fmt.f2(high))
                row.append(cell)
            t = tests.get((r, sp))
            row += (
                [
                    fmt.count(t.n_random_sets),
                    percentile(t.percentile),
                    fmt.fp(t.p_rank),
                    fmt.fp(t.p_relation_vs_random_holm),
                    fmt.ci(t.random_low, t.random_high) or fmt.NA,
                    fmt.with_ci(t.diff, t.diff_low, t.diff_high),
                    fmt.fp(t.p_relation_vs_original),
                    fmt.fp(t.p_relation_vs_original_holm),
                ]
                if t
                else [fmt.NA] * 8
            )
            rows.append(row)
    out["table"] = Table(TABLE_HEADER, rows, [False, False] + [True] * 12)
    return out
