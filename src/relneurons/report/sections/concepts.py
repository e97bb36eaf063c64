"""Concept neurons (§5.4, App. H, Figs. 9, 30, 31): subject concepts identified like relations, their overlap with
the relations' top-k and the accuracy with a concept's top-k off. Headlines and the ablation tests are the typed
summary's (`ConceptsSummary`); the overlap matrix is overlap.parquet (relation, concept, overlap)."""

from __future__ import annotations

from typing import Any

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {
        "overlap_figure": s.figure("overlap"),
        "ablation_figure": s.figure("ablation"),
        "k_text": s.k_text,
        "summary": summary,
        "identification": None,
        "ablation": None,
        "overlap": None,
    }
    s.used_tables.update({"tests", "ablation"})  # the tests are the summary's rows; ablation holds the figure's bars
    if summary is not None:
        out["identification"] = Table(
            ["concept", "subjects used / available", "E+ prompts", "E− prompts", "LRE relations", "ablation prompts"],
            [
                [
                    c,
                    f"{x.subjects_used:,} / {x.subjects_available:,}",
                    fmt.count(x.positives),
                    fmt.count(x.negatives),
                    ", ".join(x.relations),
                    fmt.count(x.ablation_prompts),
                ]
                for c, x in (
                    (c, summary.concepts[c]) for c in order(summary.concepts, [a.concept for a in summary.ablation])
                )
            ],
            [False, True, True, True, False, True],
            cls="compact",
        )
        if summary.ablation:
            out["ablation"] = Table(
                ["concept", "n", "original", "random-k", "concept-k", "p vs random", "p vs original"],
                [
                    [
                        a.concept,
                        fmt.count(a.n),
                        fmt.f2(a.acc_original),
                        fmt.f2(a.acc_random),
                        fmt.f2(a.acc_concept),
                        fmt.fp(a.p_concept_vs_random),
                        fmt.fp(a.p_concept_vs_original),
                    ]
                    for a in summary.ablation
                ],
                [False] + [True] * 6,
            )
    df = s.table("overlap", ["relation", "concept", "overlap"])
    if df is not None:
        df = df.assign(relation=df["relation"].astype(str), concept=df["concept"].astype(str))
        wide = df.pivot_table(index="relation", columns="concept", values="overlap", aggfunc="sum")
        concepts = order(df["concept"], [a.concept for a in summary.ablation] if summary else [])  # the run's order
        relations = order(df["relation"], s.run.relations)
        wide = wide.reindex(index=relations, columns=concepts)
        out["overlap"] = Table(
            ["relation", *concepts],
            [[r, *(fmt.count(v) for v in wide.loc[r])] for r in relations],
            [False] + [True] * len(concepts),
            cls="compact",
        )
    return out
