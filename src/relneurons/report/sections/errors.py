"""Error analysis (App. J, Table 3): what the model says instead on the prompts its relation's top-k broke."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from ...experiments.summaries import ErrorsSummary
from .. import format as fmt
from ..elements import Table, generic_table, shorten
from ..reader import Section

#: How the page names the categories of experiments/error_analysis.py (others show as they are).
LABELS = {
    "repeats_prompt": "repeats the prompt",
    "starts_with_the": "starts with “The”",
    "starts_with_a": "starts with “A”",
    "other": "other",
}


def label(category: Any) -> str:
    return LABELS.get(str(category), str(category))


def _generations(examples: list[Any]) -> Markup:
    """One cell of example generations, each in its own <code> (the table's `lines` filter shows their breaks)."""
    return Markup("").join(Markup('<code class="gen">%s</code>') % shorten(x) for x in examples)


def build(s: Section) -> dict[str, Any]:
    """The summary's pooled shares, Table 3 per relation (errors_wide), example generations (errors) and every
    broken prompt (broken_prompts)."""
    summary = s.summary if isinstance(s.summary, ErrorsSummary) else None
    wide = s.table("errors_wide", ["relation"])
    long = s.table("errors", ["relation", "category", "count"])
    broken = s.table("broken_prompts", optional=True)
    out: dict[str, Any] = {
        "k_text": s.k_text,
        "new_tokens": summary.new_tokens if summary else None,
        "summary": summary,
        "shares": [],
        "wide": None,
        "examples": None,
        "broken": None,
    }
    if summary is not None:
        out["shares"] = [{"label": label(c.category), "share": c.share} for c in summary.categories]
    if wide is not None:
        cols = [c for c in wide.columns if c != "relation"]
        rows = [
            [row["relation"], *(fmt.count(row[c]) if c == "total" else fmt.pct(row[c] / 100, 0) for c in cols)]
            for _, row in wide.iterrows()
        ]
        out["wide"] = Table(["relation", *(label(c) for c in cols)], rows, [False] + [True] * len(cols), cls="compact")
    if long is not None:
        ex_cols = [c for c in long.columns if str(c).startswith("example_")]
        rows = []
        for _, row in long.iterrows():
            examples = [row[c] for c in ex_cols if not fmt.missing(row[c]) and str(row[c]) != ""]
            if examples:
                rows.append([row["relation"], label(row["category"]), _generations(examples)])
        if rows:
            out["examples"] = Table(["relation", "category", "generation"], rows, cls="compact")
    if broken is not None and not broken.empty:
        keep = [c for c in ("relation", "text", "object", "generation") if c in broken.columns]
        out["broken"] = generic_table(broken[keep] if keep else broken)
        out["n_broken_rows"] = len(broken)
    return out
