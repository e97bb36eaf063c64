"""Multilingual prompts (§5.2, Fig. 7): the relation's English-identified top-k switched off on P_eva asked in
other languages. Headlines are the typed summary's (`MultilingualSummary`); the per-relation cells are the rows of
drops.parquet (accuracies, relative drop and McNemar p of one language and relation)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order
from .layers import k_text
from .templates import drop_text


def _cell(row: Any) -> Markup:
    """'0.40 → 0.20' with the relative change and McNemar p under it (n/a where a value is missing)."""
    return Markup('%s → %s <span class="dim">%s, p %s</span>') % (fmt.f2(row.acc_original), fmt.f2(row.acc_deactivated),
                                                                  drop_text(row.drop), fmt.fp(row.p_mcnemar))


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    out: dict[str, Any] = {"figure": s.figure("multilingual"), "k_text": k_text(s), "summary": summary, "languages": [],
                           "table": None}
    if summary is not None:
        out["languages"] = [(code, summary.per_language[code]) for code in summary.languages if code in summary.per_language]
    drops = s.table("drops", ["language", "relation", "acc_original", "acc_deactivated", "drop", "p_mcnemar"])
    if drops is None:
        return out
    drops = drops.assign(language=drops["language"].astype(str), relation=drops["relation"].astype(str))
    languages = order(drops["language"], summary.languages if summary else ["en"])
    cells = {(r.relation, r.language): _cell(r) for r in drops.itertuples(index=False)}
    rows = [[rel, *(cells.get((rel, lang), fmt.NA) for lang in languages)]
            for rel in order(drops["relation"], s.run.relations)]
    names = {code: f"{lang.name.split(' (')[0]} ({code})" for code, lang in out["languages"]}
    out["table"] = Table(["relation", *(names.get(lang, lang) for lang in languages)], rows, [False] + [True] * len(languages))
    return out
