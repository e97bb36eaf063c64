"""Figures of the stability and methods experiments, drawn on `matplotlib.figure.Figure` (no pyplot, no global backend).

Each function takes the experiment's tidy table, writes <stem>.png and <stem>.svg
atomically and returns both paths.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..errors import InputError
from .figures import save_figure

_KINDS = {
    "original": ("original", "#4c72b0"),
    "core": ("stable core off", "#55a868"),
    "topk": ("top-k off", "#c44e52"),
    "random": ("k random off", "#8c8c8c"),
}


def _finish(fig: Figure, ax, stem: str | os.PathLike[str] | None, title: str) -> Figure:
    """The common end of both plots: grid, legend outside the axes, title; written when `stem` is given."""
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    if stem is not None:
        save_figure(fig, stem)
    return fig


def plot_stability(
    intra: pd.DataFrame, table: pd.DataFrame, stem: str | os.PathLike[str] | None = None, title: str = ""
) -> Figure:
    """Grouped bars per relation: accuracy with nothing, the stable core, the top-k, k random neurons off (95% CI).

    `intra`: relation, kind (original/core/topk/random), accuracy, ci_low, ci_high; `table`: relation, core_size,
    mean_jaccard (written under each relation's name).
    """
    missing = [c for c in ("relation", "kind", "accuracy", "ci_low", "ci_high") if c not in intra.columns]
    if missing or intra.empty:
        raise InputError(f"stability plot: the table is empty or lacks columns {missing}")
    relations = list(dict.fromkeys(intra["relation"]))
    info = table.set_index("relation")
    fig = Figure(figsize=(max(5.0, 1.1 * len(relations) + 2.5), 4.5))
    ax = fig.add_subplot()
    x, width = np.arange(len(relations)), 0.2
    part = intra.set_index(["relation", "kind"])
    for i, (kind, (label, color)) in enumerate(_KINDS.items()):
        sub = part.reindex([(r, kind) for r in relations])
        acc = sub["accuracy"].to_numpy(float)
        pos = x + (i - 1.5) * width
        ax.bar(pos, acc, width, color=color, label=label)
        ok = ~np.isnan(acc) & ~np.isnan(sub["ci_low"].to_numpy(float))
        if ok.any():
            ax.errorbar(
                pos[ok],
                acc[ok],
                yerr=[
                    np.clip(acc[ok] - sub["ci_low"].to_numpy(float)[ok], 0, None),
                    np.clip(sub["ci_high"].to_numpy(float)[ok] - acc[ok], 0, None),
                ],
                fmt="none",
                ecolor="black",
                elinewidth=1,
                capsize=2,
            )
    labels = [
        f"{r}\ncore {int(info.loc[r, 'core_size'])}, J {info.loc[r, 'mean_jaccard']:.2f}" if r in info.index else r
        for r in relations
    ]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy on P_eva")
    return _finish(fig, ax, stem, title)


def plot_specificity(table: pd.DataFrame, stem: str | os.PathLike[str] | None = None, title: str = "") -> Figure:
    """Points with 95% intervals: specificity (own drop - mean other drop) per relation, one colour per method.

    `table`: method, relation, specificity, spec_low, spec_high.
    """
    missing = [c for c in ("method", "relation", "specificity", "spec_low", "spec_high") if c not in table.columns]
    if missing or table.empty:
        raise InputError(f"specificity plot: the table is empty or lacks columns {missing}")
    relations, methods = list(dict.fromkeys(table["relation"])), list(dict.fromkeys(table["method"]))
    fig = Figure(figsize=(max(5.0, 1.0 * len(relations) + 2.5), 4.0))
    ax = fig.add_subplot()
    step = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        sub = table[table["method"] == method].set_index("relation").reindex(relations)
        value = sub["specificity"].to_numpy(float)
        pos = np.arange(len(relations)) - 0.4 + step * (i + 0.5)
        low, high = sub["spec_low"].to_numpy(float), sub["spec_high"].to_numpy(float)
        ok = ~np.isnan(value)
        ax.errorbar(
            pos[ok],
            value[ok],
            yerr=[
                np.clip(value[ok] - np.nan_to_num(low[ok], nan=value[ok]), 0, None),
                np.clip(np.nan_to_num(high[ok], nan=value[ok]) - value[ok], 0, None),
            ],
            fmt="o",
            capsize=2,
            markersize=4,
            label=method,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(relations)), relations, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("specificity (own drop - mean other drop)")
    return _finish(fig, ax, stem, title)
