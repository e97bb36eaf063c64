"""Template robustness (§5.3, Fig. 8): intra-relation results on P_eva (the store's templates) and P_eva-2 (the
same triples in LRE's zero-shot wording) side by side. Headlines and relative drops are the typed summary's
(`TemplatesSummary`); per-relation accuracies and p-values are the rows of tests.parquet (`RelationTest` columns)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order

SPLIT_NAMES = {"P_eva": "store templates", "P_eva-2": "LRE zero-shot templates", "P_eva-3": "our templates"}


def drop_text(value: Any) -> str:
    """A relative drop as a signed percentage of the original accuracy ('−50%': half of it lost)."""
    if fmt.missing(value):
        return fmt.NA
    change = -float(value)
    return "0%" if round(change * 100) == 0 else f"{change:+.0%}".replace("-", "−")


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {
        "figure": s.figure("templates"),
        "extra_figure": s.figure("templates_extra"),
        "k_text": s.k_text,
        "summary": summary,
        "splits": [],
        "table": None,
        "drop_text": drop_text,
    }
    if summary is not None:
        out["splits"] = [
            (name, SPLIT_NAMES.get(name, name), summary.per_split[name])
            for name in summary.splits
            if name in summary.per_split
        ]
    tests = s.table(
        "tests",
        [
            "relation",
            "split",
            "acc_original",
            "acc_random",
            "acc_relation",
            "p_relation_vs_random",
            "p_relation_vs_original",
        ],
    )
    s.used_tables.add("templates")  # the figure's bars; the same accuracies as the tests' rows
    if tests is None:
        return out
    tests = tests.assign(relation=tests["relation"].astype(str), split=tests["split"].astype(str))
    splits = order(tests["split"], summary.splits if summary else ["P_eva", "P_eva-2"])
    rows_by = {(t.relation, t.split): t for t in tests.itertuples(index=False)}
    drops = summary.relative_drop if summary is not None else {}
    rows = []
    for rel in order(tests["relation"], s.run.relations):
        row: list[Any] = [rel]
        for sp in splits:
            t = rows_by.get((rel, sp))
            if t is None:
                row += [fmt.NA] * 3
                continue
            row += [
                Markup("%s / %s / %s") % (fmt.f2(t.acc_original), fmt.f2(t.acc_random), fmt.f2(t.acc_relation)),
                drop_text(drops.get(rel, {}).get(sp)),
                f"{fmt.fp(t.p_relation_vs_random)} / {fmt.fp(t.p_relation_vs_original)}",
            ]
        rows.append(row)
    header = ["relation"] + [h for sp in splits for h in (f"{sp} accuracy", f"{sp} change", f"{sp} p")]
    out["table"] = Table(header, rows, [False] + [True] * (3 * len(splits)), cls="compact")
    return out
