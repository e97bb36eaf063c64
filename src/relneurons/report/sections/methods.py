"""Identification methods compared: how specific each scorer's top-k is to its relation.
Headline numbers from `MethodsSummary`; the tables give the drops behind them."""

from __future__ import annotations

import math
from typing import Any

from ...experiments.summaries import MethodsSummary
from .. import format as fmt
from ..elements import Table
from ..reader import Section, order
from .stability import span

COLUMNS = [
    "method",
    "relation",
    "n",
    "acc_original",
    "acc_own",
    "own_drop",
    "own_low",
    "own_high",
    "acc_other_mean",
    "other_drop_mean",
    "specificity",
    "spec_low",
    "spec_high",
    "random_acc_mean",
    "random_acc_min",
    "random_acc_max",
    "below_every_random_set",
]
OVERLAP = ["relation", "method_a", "method_b", "overlap", "jaccard"]


def _methods(summary: MethodsSummary) -> list[dict[str, Any]]:
    """Per method: mean specificity, how many relations' intervals lie above / below 0, wins, time."""
    wins = list(summary.most_specific.values())
    out = []
    for name in summary.scorers:
        scores = [x for x in summary.specificity.get(name, {}).values() if not math.isnan(x.specificity)]
        out.append(
            {
                "name": name,
                "mean": summary.mean_specificity.get(name, math.nan),
                "defined": len(scores),
                "above": sum(x.low > 0 for x in scores),
                "below": sum(x.high < 0 for x in scores),
                "below_random": sum(x.below_every_random_set for x in summary.specificity.get(name, {}).values()),
                "wins": wins.count(name),
                "seconds": summary.seconds.get(name),
            }
        )
    return out


def _per_relation(summary: MethodsSummary, relations: list[str]) -> Table:
    """Relation x method: specificity [95% CI], and the most specific method."""
    rows = []
    for r in relations:
        cells = []
        for name in summary.scorers:
            x = summary.specificity.get(name, {}).get(r)
            cells.append(fmt.with_ci(x.specificity, x.low, x.high) if x else fmt.NA)
        rows.append([r, *cells, summary.most_specific.get(r) or "none"])
    return Table(
        ["relation", *summary.scorers, "most specific"],
        rows,
        [False] + [True] * len(summary.scorers) + [False],
        cls="compact",
    )


def _details(s: Section, relations: list[str], methods: list[str]) -> Table | None:
    df = s.table("methods", COLUMNS)
    if df is None:
        return None
    df = df.assign(method=df["method"].astype(str), relation=df["relation"].astype(str))
    rank = {m: i for i, m in enumerate(order(df["method"], methods))}
    place = {r: i for i, r in enumerate(order(df["relation"], relations))}
    df = df.assign(_m=df["method"].map(rank), _r=df["relation"].map(place)).sort_values(["_m", "_r"])
    rows = [
        [
            x.method,
            x.relation,
            fmt.count(x.n),
            fmt.f2(x.acc_original),
            fmt.f2(x.acc_own),
            fmt.with_ci(x.own_drop, x.own_low, x.own_high),
            fmt.f2(x.acc_other_mean),
            fmt.f2(x.other_drop_mean),
            fmt.with_ci(x.specificity, x.spec_low, x.spec_high),
            f"{fmt.f2(x.random_acc_mean)} ({fmt.f2(x.random_acc_min)}–{fmt.f2(x.random_acc_max)})",
            "yes" if bool(x.below_every_random_set) else "no",
        ]
        for x in df.itertuples(index=False)
    ]
    header = [
        "method",
        "relation",
        "P_eva prompts",
        "original",
        "own off",
        "own drop [95% CI]",
        "other relations (mean acc)",
        "mean other drop",
        "specificity [95% CI]",
        "k random off (min–max)",
        "below every random set",
    ]
    return Table(header, rows, [False, False] + [True] * 8 + [False], cls="compact")


def _overlap(s: Section, methods: list[str]) -> tuple[Table | None, list[dict[str, Any]]]:
    """The overlap table, and per pair of methods the range of shared neurons and Jaccard over the relations."""
    df = s.table("overlap", OVERLAP, optional=True)
    if df is None:
        return None, []
    df = df.assign(method_a=df["method_a"].astype(str), method_b=df["method_b"].astype(str))
    pairs = []
    for (a, b), g in df.groupby(["method_a", "method_b"], sort=False):
        pairs.append({"a": a, "b": b, "shared": span(g["overlap"].tolist()), "jaccard": span(g["jaccard"].tolist())})
    rows = [
        [str(x.relation), x.method_a, x.method_b, fmt.count(x.overlap), fmt.f2(x.jaccard)]
        for x in df.itertuples(index=False)
    ]
    table = Table(
        ["relation", "method a", "method b", "shared neurons", "Jaccard"],
        rows,
        [False, False, False, True, True],
        cls="compact",
    )
    return table, pairs


def build(s: Section) -> dict[str, Any]:
    summary = s.typed_summary(MethodsSummary)
    relations = order(summary.relations, s.run.relations) if summary else list(s.run.relations)
    methods = list(summary.scorers) if summary else []
    overlap, pairs = _overlap(s, methods)
    out: dict[str, Any] = {
        "summary": summary,
        "methods": [],
        "best": None,
        "per_relation": None,
        "figure_ci": s.figure("specificity_ci"),
        "figure_map": s.figure("specificity"),
        "details": _details(s, relations, methods),
        "overlap": overlap,
        "pairs": pairs,
        "winners": [],
    }
    if summary:
        out["methods"] = _methods(summary)
        best = summary.most_specific_overall
        out["best"] = next((m for m in out["methods"] if m["name"] == best), None)
        out["per_relation"] = _per_relation(summary, relations)
        out["winners"] = [(r, summary.most_specific.get(r)) for r in relations]
    return out
