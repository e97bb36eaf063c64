"""Stability of the top-k under resampled identification: how much half-samples agree, and whether the stable core
alone carries the intra-relation drop more than a set of its size does. Headline numbers from `StabilitySummary`."""

from __future__ import annotations

import math
from typing import Any

from ...experiments.summaries import StabilitySummary
from .. import format as fmt
from ..elements import Table
from ..reader import Section, order

#: Columns of stability.parquet the table shows (template_jaccard is shown only when a relation has one).
COLUMNS = [
    "relation",
    "positives",
    "mean_jaccard",
    "jaccard_to_full",
    "core_size",
    "core_in_topk",
    "acc_original",
    "acc_core",
    "acc_topk",
    "acc_random",
    "drop_topk",
    "drop_topk_low",
    "drop_topk_high",
    "drop_core",
    "drop_core_low",
    "drop_core_high",
    "core_share",
    "p_core_vs_topk",
    "core_reproduces",
]


def span(values: list[float]) -> tuple[float, float] | None:
    """(min, max) of the defined values, None when there is none."""
    defined = [v for v in values if not fmt.missing(v)]
    return (min(defined), max(defined)) if defined else None


def _headline(summary: StabilitySummary, relations: list[str]) -> dict[str, Any]:
    rows = [summary.relations[r] for r in relations]
    lowers = [r for r, x in zip(relations, rows) if x.drop_topk > 0]
    templates = [x.template_jaccard for x in rows if not math.isnan(x.template_jaccard)]
    return {
        "n": len(rows),
        "jaccard": span([x.mean_jaccard for x in rows]),
        "to_full": span([x.jaccard_to_full for x in rows]),
        "core": span([x.core_size for x in rows]),
        "core_outside": sum(x.core_size - x.core_in_topk for x in rows),
        "reproduce": [r for r, x in zip(relations, rows) if x.core_reproduces],
        "lowers": lowers,
        "beats_top_ap": [
            r for r, x in zip(relations, rows) if x.p_core_vs_top_ap_holm < 0.05 and x.acc_core < x.acc_top_ap
        ],
        "controls": [
            {
                "relation": r,
                "n": x.core_size,
                "core": x.acc_core,
                "top_ap": x.acc_top_ap,
                "subset": x.acc_topk_subset,
                "random": x.acc_random_core,
                "p": x.p_core_vs_top_ap_holm,
            }
            for r, x in zip(relations, rows)
            if x.core_size
        ],
        "template_mean": sum(templates) / len(templates) if templates else None,
        "n_templates": len(templates),
    }


def _table(s: Section, relations: list[str]) -> Table | None:
    df = s.table("stability", COLUMNS)
    if df is None:
        return None
    df = df.assign(relation=df["relation"].astype(str)).drop_duplicates("relation").set_index("relation")
    with_template = "template_jaccard" in df.columns and df["template_jaccard"].notna().any()
    header = [
        "relation",
        "positives",
        "mean pairwise Jaccard",
        "Jaccard with full top-k",
        "stable core (in top-k)",
        *(["template 0 vs 1 Jaccard"] if with_template else []),
        "original",
        "core off",
        "top-k off",
        "k random off",
        "drop top-k [95% CI]",
        "drop core [95% CI]",
        "core share of the drop",
        "McNemar p core vs top-k",
        "core reproduces",
    ]
    rows = []
    for r in order(df.index, relations):
        x = df.loc[r]
        rows.append(
            [
                r,
                fmt.count(x["positives"]),
                fmt.f2(x["mean_jaccard"]),
                fmt.f2(x["jaccard_to_full"]),
                f"{fmt.count(x['core_size'])} ({fmt.count(x['core_in_topk'])})",
                *([fmt.f2(x["template_jaccard"])] if with_template else []),
                fmt.f2(x["acc_original"]),
                fmt.f2(x["acc_core"]),
                fmt.f2(x["acc_topk"]),
                fmt.f2(x["acc_random"]),
                fmt.with_ci(x["drop_topk"], x["drop_topk_low"], x["drop_topk_high"]),
                fmt.with_ci(x["drop_core"], x["drop_core_low"], x["drop_core_high"]),
                fmt.pct(x["core_share"], 0),
                fmt.fp(x["p_core_vs_topk"]),
                "yes" if bool(x["core_reproduces"]) else "no",
            ]
        )
    return Table(header, rows, [False] + [True] * (len(header) - 2) + [False], cls="compact")


def build(s: Section) -> dict[str, Any]:
    summary = s.typed_summary(StabilitySummary)
    relations = order(summary.relations, s.run.relations) if summary else list(s.run.relations)
    return {
        "summary": summary,
        "head": _headline(summary, relations) if summary else None,
        "figure": s.figure("stability"),
        "table": _table(s, relations),
    }
