"""Overlap of the relations' top-k sets (§4.1, Fig. 2): the table as an HTML grid, the key numbers from the
typed summary (`experiments.summaries.OverlapSummary`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...experiments.summaries import OverlapSummary
from .. import format as fmt
from ..elements import heatmap
from ..reader import Section, order


def _tip(a: str, b: str, shared: float, own: float) -> str:
    """'a ∩ b: 12 neurons (3.9% of k)', the share of the row relation's own set size (the diagonal)."""
    if np.isnan(shared):
        return f"{a} ∩ {b}: {fmt.NA}"
    share = "" if np.isnan(own) or not own else f" ({fmt.pct(shared / own)} of k)"
    return f"{a} ∩ {b}: {int(shared):,} neurons{share}"


def build(s: Section) -> dict[str, Any]:
    summary = s.summary if isinstance(s.summary, OverlapSummary) else None
    out: dict[str, Any] = {"figure": s.figure("overlap"), "k_text": s.k_text, "grid": None, "summary": summary}
    df = s.table("overlap", ["relation_i", "relation_j", "overlap"])
    if df is None:
        return out
    df = df.assign(relation_i=df["relation_i"].astype(str), relation_j=df["relation_j"].astype(str))
    relations = order(list(df["relation_i"]) + list(df["relation_j"]), s.run.relations)
    wide = df.pivot_table(index="relation_i", columns="relation_j", values="overlap", aggfunc="first")
    m = wide.reindex(index=relations, columns=relations).to_numpy(dtype=float)
    diag = np.diag(m)
    labels = [[fmt.number(v) for v in row] for row in m]
    tips = [[_tip(a, b, m[i, j], diag[i]) for j, b in enumerate(relations)] for i, a in enumerate(relations)]
    vmax = float(np.nanmax(m)) if np.isfinite(m).any() else 1.0
    out["grid"] = heatmap(
        "overlap",
        relations,
        relations,
        m,
        labels,
        tips,
        cmap="Blues",
        vmin=0.0,
        vmax=vmax or 1.0,
        row_title="relation",
        col_title="relation",
        legend="shared neurons",
    )
    return out
