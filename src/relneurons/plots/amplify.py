"""Figure of the amplify experiment: accuracy vs forcing level, own relation vs the others.

Built on `matplotlib.figure.Figure` directly (no pyplot, so no global figure
registry to leak into or close); written as PNG + SVG atomically like
plots/figures.py.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from relneurons.errors import InputError

from .figures import save_figure

__all__ = ["plot_amplify"]

_COLORS = {"own": "#c44e52", "other": "#4c72b0"}
_LABELS = {"own": "own relation", "other": "other relations (mean)"}


def _label(level: str) -> str:
    return "0" if level == "zero" else level.replace("x", "\u00d7", 1) if "x" in level else level


def plot_amplify(
    table: pd.DataFrame, relation: str, stem: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Accuracy (with interval) of `relation` (own) and of the other relations at each forcing level.

    `table`: columns relation, level, evaluated ("own"/"other"), accuracy, ci_low, ci_high; levels in the
    order of first appearance; a level "original" is drawn as dashed horizontal lines, not as a point.
    Writes <stem>.png and .svg when `stem` is given; returns the Figure.
    """
    need = ["relation", "level", "evaluated", "accuracy", "ci_low", "ci_high"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"amplify plot: table lacks columns {missing}")
    part = table[table["relation"] == relation]
    if part.empty:
        raise InputError(f"amplify plot: no rows for relation {relation!r}")
    if part.duplicated(["level", "evaluated"]).any():
        raise InputError(f"amplify plot: more than one row per (level, evaluated) for {relation!r}")
    levels = [lv for lv in dict.fromkeys(part["level"]) if lv != "original"]
    cells = part.set_index(["evaluated", "level"])
    fig = Figure(figsize=(max(3.6, 0.8 * len(levels) + 1.6), 3.0))
    ax = fig.add_subplot()
    x = np.arange(len(levels))
    for offset, evaluated in ((-0.06, "own"), (0.06, "other")):
        rows = cells.reindex([(evaluated, lv) for lv in levels])
        acc = rows["accuracy"].to_numpy(dtype=float)
        low = np.clip(acc - rows["ci_low"].to_numpy(dtype=float), 0, None)
        high = np.clip(rows["ci_high"].to_numpy(dtype=float) - acc, 0, None)
        ax.errorbar(
            x + offset,
            acc,
            yerr=[low, high],
            color=_COLORS[evaluated],
            marker="o",
            markersize=4,
            linewidth=1.5,
            capsize=3,
            label=_LABELS[evaluated],
        )
        if (evaluated, "original") in cells.index:
            ax.axhline(
                float(cells.loc[(evaluated, "original"), "accuracy"]),
                color=_COLORS[evaluated],
                linestyle="--",
                linewidth=1,
                alpha=0.7,
                label=f"{_LABELS[evaluated]}, original model",
            )
    ax.set_xticks(x, [_label(lv) for lv in levels])
    ax.set_xlabel("top-k forced to (per neuron, from its outputs on the relation's validated prompts)", fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or relation, fontsize=9)
    fig.tight_layout()
    if stem is not None:
        save_figure(fig, stem)
    return fig
