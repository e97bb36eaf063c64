"""Neuron types (App. G, Figs. 24-29): each relation's top-k ranked within other neuron sets (all, attention, one
FFN matrix), what module types it holds, and the inter-relation drops with those neurons off. Everything shown
comes from the typed summary (`TypesSummary`); the figures are the experiment's."""

from __future__ import annotations

from typing import Any

from .. import format as fmt
from ..elements import Table
from ..reader import Section, order


def composition(types: dict[str, int], expected: dict[str, float]) -> Table:
    """Per module type: top-k neurons, their share, the share k uniform draws from the set would give, and the ratio."""
    total, drawn = sum(types.values()), sum(expected.values())
    rows = []
    for t, n in types.items():
        share, uniform = (
            (n / total if total else float("nan")),
            (expected.get(t, float("nan")) / drawn if drawn else float("nan")),
        )
        ratio = share / uniform if uniform and not fmt.missing(uniform) else float("nan")
        rows.append(
            [t, fmt.count(n), fmt.pct(share), fmt.pct(uniform), fmt.NA if fmt.missing(ratio) else f"{ratio:.2f}×"]
        )
    return Table(
        ["type", "top-k neurons", "share", "share if uniform", "ratio"],
        rows,
        [False, True, True, True, True],
        cls="compact",
    )


def build(s: Section) -> dict[str, Any]:
    summary = s.summary
    s.used_tables.update({"composition", "topk", "inter"})
    out: dict[str, Any] = {"summary": summary, "sets": []}
    asked = s.run.config.get("types", {}).get("sets") if isinstance(s.run.config.get("types"), dict) else None
    names = order(
        summary.sets
        if summary is not None
        else sorted(p.stem.removeprefix("inter_") for p in s.folder.glob("inter_*.png")),
        [str(x) for x in asked] if isinstance(asked, list) else [],
    )  # the order the run asked for (JSON sorts keys)
    for name in names:
        x = summary.sets.get(name) if summary is not None else None
        out["sets"].append(
            {
                "name": name,
                "x": x,
                "composition_figure": s.figure(f"composition_{name}"),
                "inter_figure": s.figure(f"inter_{name}"),
                "composition": composition(x.types, x.expected_if_random) if x and len(x.types) > 1 else None,
            }
        )
    return out
