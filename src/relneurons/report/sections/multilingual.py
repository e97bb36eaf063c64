"""Multilingual prompts (§5.2, Fig. 7): the relation's English-identified top-k, and k random neurons, switched off
on P_eva asked in other languages. Headlines are the typed summary's (`MultilingualSummary`); the per-relation cells
are the rows of drops.parquet (accuracies, relative drop, McNemar p) and tests.parquet (random-k, p vs random)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order
from .templates import drop_text


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {
        "figure": s.figure("multilingual"),
        "k_text": s.k_text,
        "summary": summary,
        "languages": [],
        "table": None,
    }
    if summary is not None:
        out["languages"] = [
            (code, summary.per_language[code]) for code in summary.languages if code in summary.per_language
        ]
    s.used_tables.add("accuracy")  # the figure's bars; the same accuracies as the drops' rows
    drops = s.table("drops", ["language", "relation", "acc_original", "acc_deactivated", "drop", "p_mcnemar"])
    tests = s.table("tests", ["language", "relation", "acc_random", "p_relation_vs_random"])
    if drops is None:
        return out
    drops = drops.assign(language=drops["language"].astype(str), relation=drops["relation"].astype(str))
    random = {} if tests is None else {(str(t.language), str(t.relation)): t for t in tests.itertuples(index=False)}
    languages = order(drops["language"], summary.languages if summary else ["en"])
    cells = {}
    for r in drops.itertuples(index=False):
        t = random.get((r.language, r.relation))
        cells[(r.relation, r.language)] = Markup(
            '%s → %s <span class="dim">(random %s)</span><br><span class="dim">%s, p %s vs original, %s vs random</span>'
        ) % (
            fmt.f2(r.acc_original),
            fmt.f2(r.acc_deactivated),
            fmt.f2(t.acc_random if t else None),
            drop_text(r.drop),
            fmt.fp(r.p_mcnemar),
            fmt.fp(t.p_relation_vs_random if t else None),
        )
    rows = [
        [rel, *(cells.get((rel, lang), fmt.NA) for lang in languages)]
        for rel in order(drops["relation"], s.run.relations)
    ]
    names = {code: f"{lang.name.split(' (')[0]} ({code})" for code, lang in out["languages"]}
    out["table"] = Table(
        ["relation", *(names.get(lang, lang) for lang in languages)], rows, [False] + [True] * len(languages)
    )
    return out
