"""Layer distribution (§4.1, Fig. 1): where in the model each relation's top-k neurons lie."""

from __future__ import annotations

import math
from typing import Any

from ...experiments.summaries import LayersSummary
from ..elements import Table
from ..reader import Section, order


def build(s: Section) -> dict[str, Any]:
    """The figure, the counts per layer (table) and the summary's peaks and first-half shares, in the run's
    relation order; without a readable summary only the figure and the counts (the section notes why)."""
    df = s.table("layers", ["relation", "layer", "count"])
    summary = s.summary if isinstance(s.summary, LayersSummary) else None
    out: dict[str, Any] = {
        "figure": s.figure("layers"),
        "k_text": s.k_text,
        "summary": summary,
        "lines": [],
        "counts": None,
    }
    if summary is not None:
        by_relation = {x.relation: x for x in summary.relations}
        out["lines"] = [by_relation[r] for r in order(by_relation, s.run.relations)]
        out.update(
            n_layers=summary.n_layers,
            half_end=summary.first_half_layers - 1,
            mean_early=None if math.isnan(summary.mean_first_half) else summary.mean_first_half,
        )
    if df is not None:
        df = df.assign(relation=df["relation"].astype(str))
        relations = order(df["relation"], s.run.relations)
        wide = df.pivot_table(index="relation", columns="layer", values="count", aggfunc="sum", fill_value=0).reindex(
            relations
        )
        out["counts"] = Table(
            ["relation", *map(str, wide.columns)],
            [[r, *(f"{int(v):,}" for v in wide.loc[r])] for r in relations],
            [False] + [True] * len(wide.columns),
            cls="compact",
        )
    return out
