"""Layer distribution (§4.1, Fig. 1): where in the model each relation's top-k neurons lie."""

from __future__ import annotations

import math
from typing import Any

from ..elements import Table
from ..reader import Section, order


def k_text(s: Section) -> str:
    """The k line of an experiment: its summary's, else the run's."""
    summary = s.summary
    text = summary.get("k_text") if isinstance(summary, dict) else getattr(summary, "k_text", None)
    return str(text) if text else (s.run.k_text or "k = ?")


def build(s: Section) -> dict[str, Any]:
    df = s.table("layers", ["relation", "layer", "count"])
    out: dict[str, Any] = {"figure": s.figure("layers"), "k_text": k_text(s), "lines": [], "counts": None}
    if df is None:
        return out
    df = df.assign(relation=df["relation"].astype(str))
    relations = order(df["relation"], s.run.relations)
    n_layers = int(df["layer"].max()) + 1
    early = []
    for r in relations:
        part = df[df["relation"] == r].sort_values("layer")
        total = int(part["count"].sum())
        if total == 0:
            out["lines"].append({"relation": r, "total": 0})
            continue
        peak = part.loc[part["count"].idxmax()]
        first = int(part[part["layer"] < n_layers / 2]["count"].sum()) / total
        early.append(first)
        out["lines"].append({"relation": r, "total": total, "peak_layer": int(peak["layer"]),
                             "peak_count": int(peak["count"]), "first_half": first})
    wide = df.pivot_table(index="relation", columns="layer", values="count", aggfunc="sum", fill_value=0).reindex(relations)
    out["counts"] = Table(["relation", *map(str, wide.columns)], [[r, *(f"{int(v):,}" for v in wide.loc[r])] for r in relations],
                          [False] + [True] * len(wide.columns), cls="compact")
    out.update(n_layers=n_layers, half_end=math.ceil(n_layers / 2) - 1, mean_early=sum(early) / len(early) if early else None)
    return out
