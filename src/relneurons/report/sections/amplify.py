"""Forcing the top-k up (amplify): own and other relations' accuracy at each forcing level.
Headline numbers from `AmplifySummary`; intervals from the amplify table."""

from __future__ import annotations

import math
from typing import Any

from ...experiments.summaries import AmplifySummary
from .. import format as fmt
from ..elements import Table
from ..reader import Section, order


def _mean(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def _means(summary: AmplifySummary, relations: list[str]) -> list[dict[str, Any]]:
    """Per level (original first): the mean over the relations of own and of other accuracy."""
    return [
        {
            "level": lv,
            "own": _mean([summary.own.get(r, {}).get(lv, math.nan) for r in relations]),
            "other": _mean([summary.other.get(r, {}).get(lv, math.nan) for r in relations]),
        }
        for lv in ["original", *summary.levels]
    ]


def _values(summary: AmplifySummary, relations: list[str]) -> Table | None:
    """Mean forced value over each relation's top-k, per level."""
    if not summary.mean_value:
        return None
    rows = [
        [r, *(fmt.number(summary.mean_value.get(r, {}).get(lv, math.nan)) for lv in summary.levels)] for r in relations
    ]
    return Table(["relation", *summary.levels], rows, [False] + [True] * len(summary.levels), cls="compact")


def _table(s: Section, relations: list[str], levels: list[str]) -> Table | None:
    """relation x evaluated (own, other): n, then accuracy [95% CI] at the original model and every level."""
    df = s.table("amplify", ["relation", "level", "evaluated", "n", "accuracy", "ci_low", "ci_high"])
    if df is None:
        return None
    df = df.assign(
        relation=df["relation"].astype(str), level=df["level"].astype(str), evaluated=df["evaluated"].astype(str)
    )
    cells = {(x.relation, x.evaluated, x.level): x for x in df.itertuples(index=False)}
    levels = order(df["level"], ["original", *levels])
    rows = []
    for r in order(df["relation"], relations):
        for evaluated in ("own", "other"):
            here = [cells.get((r, evaluated, lv)) for lv in levels]
            if not any(here):
                continue
            n = next((x.n for x in here if x is not None), None)
            rows.append(
                [
                    r,
                    evaluated,
                    fmt.count(n),
                    *(fmt.with_ci(x.accuracy, x.ci_low, x.ci_high) if x is not None else fmt.NA for x in here),
                ]
            )
    return Table(
        ["relation", "evaluated", "n", *levels], rows, [False, False] + [True] * (len(levels) + 1), cls="compact"
    )


def build(s: Section) -> dict[str, Any]:
    summary = s.typed_summary(AmplifySummary)
    relations = order(summary.forced_relations, s.run.relations) if summary else list(s.run.relations)
    figures = [(r, fig) for r in relations if (fig := s.figure(f"amplify_{r}")) is not None]
    out: dict[str, Any] = {
        "summary": summary,
        "relations": relations,
        "figures": figures,
        "means": [],
        "kept": [],
        "values": None,
        "table": _table(s, relations, summary.levels if summary else []),
    }
    if summary:
        out["means"] = _means(summary, relations)
        out["kept"] = [(lv, summary.own_not_below_original.get(lv, [])) for lv in summary.levels]
        out["values"] = _values(summary, relations)
        out["control"] = (
            [
                {
                    "level": lv,
                    "own": _mean([summary.random_own.get(r, {}).get(lv, math.nan) for r in relations]),
                    "other": _mean([summary.random_other.get(r, {}).get(lv, math.nan) for r in relations]),
                }
                for lv in summary.levels
            ]
            if summary.random_own
            else []
        )
    s.used_tables.add("random_control")  # shown through the summary's control means
    return out
