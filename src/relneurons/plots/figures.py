"""The paper's figures, drawn from tidy tables on `matplotlib.figure.Figure` objects.

No pyplot and no `matplotlib.use`: importing this module leaves the user's
backend alone (a Jupyter kernel keeps its inline plots), and figures are not
kept in pyplot's global registry. PNG and SVG are rendered by matplotlib's
file canvases whatever the backend.

Every function takes a DataFrame with the columns documented on it and
returns the `Figure` (a notebook displays it). Given an output path *stem*
(``out/fig3`` -> ``out/fig3.png`` and ``out/fig3.svg``) it also writes both
files atomically (temporary file beside the target, then ``os.replace``).
Extra columns are ignored; a missing column raises `InputError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from relneurons.errors import InputError
from relneurons.io import atomic_path

__all__ = [
    "INTRA_CONDITIONS",
    "plot_cumulativity",
    "plot_frequency",
    "plot_heatmap",
    "plot_intra",
    "plot_k_sweep",
    "plot_layer_distribution",
    "plot_multilingual",
    "plot_templates",
    "plot_type_composition",
    "collect_figures",
    "save_figure",
]

#: Bar order and labels of `plot_intra`.
INTRA_CONDITIONS = ("original", "random", "relation")
_INTRA_LABELS = {"original": "original", "random": "random-k", "relation": "relation-k"}
_INTRA_COLORS = {"original": "#4c72b0", "random": "#a0a0a0", "relation": "#c44e52"}
_DPI = 100
_UNDEFINED_COLOR = "#d9d9d9"


# ----------------------------------------------------------------- helpers


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{what}: table lacks columns {missing}")
    if df.empty:
        raise InputError(f"{what}: table is empty")


#: The figures saved inside `collect_figures()`, by file stem (None outside).
_COLLECTED: contextvars.ContextVar[dict[str, Figure] | None] = contextvars.ContextVar("figures", default=None)


@contextlib.contextmanager
def collect_figures() -> Iterator[dict[str, Figure]]:
    """Within the block, every figure `save_figure` writes is also kept, by file stem: a notebook gets the Figure
    objects the PNG and SVG were written from (to restyle, resize or export), not pictures of them."""
    token = _COLLECTED.set({})
    try:
        yield _COLLECTED.get()
    finally:
        _COLLECTED.reset(token)


def save_figure(fig: Figure, stem: str | os.PathLike[str], dpi: int = _DPI) -> tuple[Path, Path]:
    """Write `fig` as <stem>.png and <stem>.svg, each atomically; return both paths."""
    stem = str(stem)
    collected = _COLLECTED.get()
    if collected is not None:
        collected[Path(stem).name] = fig
    paths = (Path(stem + ".png"), Path(stem + ".svg"))
    for path, fmt in zip(paths, ("png", "svg")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return paths


def _subplots(*grid: int, figsize: tuple[float, float], **kwargs):
    """`plt.subplots` without pyplot: a free-standing Figure and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kwargs)


def _done(fig: Figure, stem: str | os.PathLike[str] | None) -> Figure:
    if stem is not None:
        save_figure(fig, stem)
    return fig


def _formatter(value_format: str):
    """'{:.2f}'-style template or bare format spec ('.2f', 'd') -> callable on a float.

    Integer specs ('d') get whole floats as int (matrix values arrive as float).
    """
    base = value_format.format if "{" in value_format else (lambda v: format(v, value_format))

    def fmt(v: float) -> str:
        try:
            return base(v)
        except ValueError:
            if float(v).is_integer():
                return base(int(v))
            raise InputError(f"heatmap: value_format {value_format!r} cannot format {v!r}") from None

    return fmt


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, n)
    return math.ceil(n / cols), cols


# ----------------------------------------------------------------- Fig. 1


def plot_layer_distribution(
    df: pd.DataFrame, stem: str | os.PathLike[str] | None = None, title: str | None = "Top-k neurons per layer"
) -> Figure:
    """Fig. 1: one line per relation, number of its top-k neurons in each layer.

    Columns: relation, layer (int), count (the output of
    `relneurons.experiments.layer_distribution`).
    """
    _need(df, ["relation", "layer", "count"], "layer distribution")
    fig, ax = _subplots(figsize=(8, 4.5))
    for relation, part in df.groupby("relation", sort=False):
        part = part.sort_values("layer")
        ax.plot(part["layer"], part["count"], marker="o", markersize=3, linewidth=1.2, label=str(relation))
    ax.set_xlabel("layer")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # layers are whole numbers
    ax.set_ylabel("neurons in top-k")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _done(fig, stem)


# ----------------------------------------------------------------- Figs. 2 and 4


def plot_heatmap(
    matrix_df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str = "",
    value_format: str = "{:.2f}",
    cmap: str | matplotlib.colors.Colormap = "viridis",
    undefined_label: str = "n/a",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    colorbar_label: str | None = None,
) -> Figure:
    """Figs. 2 and 4: an annotated matrix.

    `matrix_df`: rows and columns labelled by the DataFrame's index and
    columns (e.g. `overlap_matrix` output, or evaluated relation x deactivated
    relation for the inter-relation drop), numeric values. NaN cells (e.g. a
    drop with acc_orig = 0) are drawn grey and annotated `undefined_label`;
    other cells are annotated with `value_format` ('{:.2f}' template or a bare
    spec such as 'd' or '.0%').
    """
    if matrix_df.empty:
        raise InputError("heatmap: matrix is empty")
    try:
        values = matrix_df.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"heatmap: matrix values must be numeric ({exc})") from None
    fmt = _formatter(value_format)
    n_rows, n_cols = values.shape
    fig, ax = _subplots(figsize=(max(4.0, 0.65 * n_cols + 2.5), max(3.0, 0.5 * n_rows + 1.8)))
    base_cmap = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    colormap = base_cmap.with_extremes(bad=_UNDEFINED_COLOR)
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, cmap=colormap, vmin=vmin, vmax=vmax, aspect="auto")
    cbar = fig.colorbar(image, ax=ax)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    fontsize = 8 if max(n_rows, n_cols) <= 12 else 6
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            if np.isnan(v):
                ax.text(j, i, undefined_label, ha="center", va="center", fontsize=fontsize, color="#404040")
                continue
            text = fmt(v)
            r, g, b, _ = colormap(image.norm(v))
            color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    ax.set_xticks(range(n_cols), [str(c) for c in matrix_df.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), [str(r) for r in matrix_df.index], fontsize=8)
    ax.set_xlabel(xlabel if xlabel is not None else (matrix_df.columns.name or ""))
    ax.set_ylabel(ylabel if ylabel is not None else (matrix_df.index.name or ""))
    if title:
        ax.set_title(title)
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 3


def plot_intra(
    df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str | None = "Intra-relation accuracy",
    labels: dict[str, str] | None = None,
) -> Figure:
    """Fig. 3: grouped bars per relation, one panel per prompt split.

    Columns: relation, split (e.g. "P_eva", "P_det"; panels in first-appearance
    order), condition (one of INTRA_CONDITIONS: "original", "random" = mean over
    random seeds, "relation"), accuracy, ci_low, ci_high (95% bootstrap
    interval; NaN = none drawn). Optional seed_low, seed_high: the spread over
    random seeds (e.g. min and max), drawn as a second, coloured error bar on
    the "random" bar. At most one row per (relation, split, condition).
    `labels` renames conditions in the legend (e.g. {"relation": "concept-k"}).
    """
    _need(df, ["relation", "split", "condition", "accuracy", "ci_low", "ci_high"], "intra-relation plot")
    names = {**_INTRA_LABELS, **(labels or {})}
    bad = sorted(set(df["condition"]) - set(INTRA_CONDITIONS))
    if bad:
        raise InputError(f"intra-relation plot: unknown conditions {bad}; expected {list(INTRA_CONDITIONS)}")
    if df.duplicated(["relation", "split", "condition"]).any():
        raise InputError("intra-relation plot: more than one row per (relation, split, condition)")
    has_seed = "seed_low" in df.columns and "seed_high" in df.columns
    relations = list(dict.fromkeys(df["relation"]))
    splits = list(dict.fromkeys(df["split"]))
    width = 0.8 / len(INTRA_CONDITIONS)
    fig, axes = _subplots(
        1, len(splits), figsize=(max(5.0, 0.55 * len(relations) + 2) * len(splits), 4.5), squeeze=False, sharey=True
    )
    x = np.arange(len(relations))
    for ax, split in zip(axes[0], splits):
        part = df[df["split"] == split].set_index(["relation", "condition"])
        for c, cond in enumerate(INTRA_CONDITIONS):
            keys = [(r, cond) for r in relations]
            sub = part.reindex(keys)
            pos = x + (c - 1) * width
            acc = sub["accuracy"].to_numpy(dtype=float)
            ax.bar(pos, acc, width, color=_INTRA_COLORS[cond], label=names[cond])
            lo = sub["ci_low"].to_numpy(dtype=float)
            hi = sub["ci_high"].to_numpy(dtype=float)
            ok = ~(np.isnan(lo) | np.isnan(hi) | np.isnan(acc))
            if ok.any():
                ax.errorbar(
                    pos[ok],
                    acc[ok],
                    yerr=[np.clip(acc[ok] - lo[ok], 0, None), np.clip(hi[ok] - acc[ok], 0, None)],
                    fmt="none",
                    ecolor="black",
                    elinewidth=1,
                    capsize=2,
                )
            if cond == "random" and has_seed:
                slo = sub["seed_low"].to_numpy(dtype=float)
                shi = sub["seed_high"].to_numpy(dtype=float)
                ok = ~(np.isnan(slo) | np.isnan(shi) | np.isnan(acc))
                if ok.any():
                    ax.errorbar(
                        pos[ok] + width * 0.25,
                        acc[ok],
                        yerr=[np.clip(acc[ok] - slo[ok], 0, None), np.clip(shi[ok] - acc[ok], 0, None)],
                        fmt="none",
                        ecolor="#dd8452",
                        elinewidth=2,
                        capsize=0,
                    )
        ax.set_xticks(x, [str(r) for r in relations], rotation=60, ha="right", fontsize=8)
        ax.set_title(str(split))
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linewidth=1, label="95% bootstrap CI"))
    if has_seed:
        handles.append(Line2D([], [], color="#dd8452", linewidth=2, label="random: seed spread"))
    axes[0][-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        fig.suptitle(title)
    return _done(fig, stem)


# ----------------------------------------------------------------- Figs. 5 and 22


def plot_k_sweep(
    df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str | None = "Accuracy vs number of deactivated neurons",
) -> Figure:
    """Fig. 5: per deactivated relation, accuracy vs k (log x axis).

    Columns: deactivated (relation whose top-k neurons are off; one panel each,
    first-appearance order), evaluated (relation whose P_eva is scored), k
    (int), accuracy. Drawn: the relation itself (evaluated == deactivated), the
    mean over the other evaluated relations, and each other relation faintly.
    Rows with k == 0 (original model) are drawn as a dashed horizontal line at
    the relation's own original accuracy; k < 0 is an error.
    """
    _need(df, ["deactivated", "evaluated", "k", "accuracy"], "k-sweep plot")
    if (df["k"] < 0).any():
        raise InputError("k-sweep plot: k must be >= 0")
    panels = list(dict.fromkeys(df["deactivated"]))
    n_rows, n_cols = _grid(len(panels))
    fig, axes = _subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False, sharex=True, sharey=True)
    for idx, relation in enumerate(panels):
        ax = axes[idx // n_cols][idx % n_cols]
        part = df[df["deactivated"] == relation]
        sweep = part[part["k"] > 0]
        own = sweep[sweep["evaluated"] == relation].groupby("k")["accuracy"].mean()
        others = sweep[sweep["evaluated"] != relation]
        for _, other in others.groupby("evaluated", sort=False):
            o = other.groupby("k")["accuracy"].mean()
            ax.plot(o.index, o.to_numpy(), color="#7f7f7f", alpha=0.25, linewidth=0.8)
        if not others.empty:
            m = others.groupby("k")["accuracy"].mean()
            ax.plot(m.index, m.to_numpy(), color="#4c72b0", marker="s", markersize=3, label="other relations (mean)")
        if not own.empty:
            ax.plot(own.index, own.to_numpy(), color="#c44e52", marker="o", markersize=3, label="relation itself")
        base = part[(part["k"] == 0) & (part["evaluated"] == relation)]["accuracy"]
        if not base.empty:
            ax.axhline(float(base.mean()), color="#c44e52", linestyle="--", linewidth=0.8, label="original")
        if not sweep.empty:
            ax.set_xscale("log")
        ax.set_title(str(relation), fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for idx in range(len(panels), n_rows * n_cols):
        axes[idx // n_cols][idx % n_cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("k (deactivated neurons)")
    for row in axes:
        row[0].set_ylabel("accuracy")
    handles = [
        Line2D([], [], color="#c44e52", marker="o", markersize=3, label="relation itself"),
        Line2D([], [], color="#4c72b0", marker="s", markersize=3, label="other relations (mean)"),
        Line2D([], [], color="#7f7f7f", alpha=0.4, label="each other relation"),
        Line2D([], [], color="#c44e52", linestyle="--", label="original (k = 0)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 6


def plot_cumulativity(
    summary_df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str | None = "Neuron cumulativity per deactivation range",
) -> Figure:
    """Fig. 6: macro and micro averaged cumulativity per range (a, b].

    Columns: a, b, macro, micro (the output of
    `relneurons.experiments.summarise_cumulativity`); ranges on a categorical
    x axis labelled "a-b" in ascending (a, b) order; NaN values leave gaps.
    """
    _need(summary_df, ["a", "b", "macro", "micro"], "cumulativity plot")
    data = summary_df.sort_values(["a", "b"])
    labels = [f"{int(a)}-{int(b)}" for a, b in zip(data["a"], data["b"])]
    x = np.arange(len(labels))
    fig, ax = _subplots(figsize=(max(5.0, 0.8 * len(labels) + 2), 4))
    ax.plot(x, data["macro"].to_numpy(dtype=float), marker="o", label="macro (mean over relations)")
    ax.plot(x, data["micro"].to_numpy(dtype=float), marker="s", label="micro (pooled over prompts)")
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_xlabel("deactivation range (a, b]")
    ax.set_ylabel("cumulativity = 1 - #affected / #total")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return _done(fig, stem)


# ----------------------------------------------------------------- compare


def plot_compare(
    df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    label_a: str = "a",
    label_b: str = "b",
    columns: Sequence[str] = ("acc_original", "acc_relation", "own_drop"),
) -> Figure:
    """Two runs side by side: one panel per measure, bars per relation (columns `<measure>_a`, `<measure>_b`)."""
    _need(df, ["relation"] + [f"{c}_{s}" for c in columns for s in ("a", "b")], "compare")
    fig, axes = _subplots(1, len(columns), figsize=(4.5 * len(columns), 0.35 * len(df) + 2), squeeze=False)
    y = np.arange(len(df))
    for ax, column in zip(axes[0], columns):
        ax.barh(y - 0.2, df[f"{column}_a"], height=0.4, label=label_a, color="#4c72b0")
        ax.barh(y + 0.2, df[f"{column}_b"], height=0.4, label=label_b, color="#dd8452")
        ax.set_yticks(y, df["relation"])
        ax.invert_yaxis()
        ax.set_title(column.replace("_", " "))
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 7


def plot_multilingual(
    df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str | None = None,
    random: pd.DataFrame | None = None,
) -> Figure:
    """Fig. 7: one panel per relation; a bar per language for the original accuracy (with its interval)
    and a horizontal line on it for the accuracy with the relation's top-k off.

    Columns: language (bar order = first appearance), relation, condition ("original" or "relation"),
    accuracy, ci_low, ci_high. A language without a row for a relation (every triple left out) is
    marked "n/a" in that panel. At most one row per (language, relation, condition).
    `random` (language, relation, accuracy: the mean over the random sets) adds a dashed grey line per bar, the
    control the paper's Fig. 7 does without.
    """
    _need(df, ["language", "relation", "condition", "accuracy", "ci_low", "ci_high"], "multilingual plot")
    bad = sorted(set(df["condition"]) - {"original", "relation"})
    if bad:
        raise InputError(f"multilingual plot: unknown conditions {bad}; expected 'original' and 'relation'")
    if df.duplicated(["language", "relation", "condition"]).any():
        raise InputError("multilingual plot: more than one row per (language, relation, condition)")
    languages, relations = list(dict.fromkeys(df["language"])), list(dict.fromkeys(df["relation"]))
    rows, cols = _grid(len(relations), 3)
    fig, axes = _subplots(
        rows, cols, figsize=(max(3.2, 0.5 * len(languages) + 1.2) * cols, 2.6 * rows + 0.6), squeeze=False, sharey=True
    )
    table = df.set_index(["relation", "condition", "language"])
    if random is not None:
        _need(random, ["language", "relation", "accuracy"], "multilingual plot (random)")
        rand = random.set_index(["relation", "language"])["accuracy"]
    x = np.arange(len(languages))
    for ax, relation in zip(axes.flat, relations):
        orig = table.reindex([(relation, "original", lang) for lang in languages])
        deact = table.reindex([(relation, "relation", lang) for lang in languages])["accuracy"].to_numpy(dtype=float)
        acc = orig["accuracy"].to_numpy(dtype=float)
        ax.bar(x, np.nan_to_num(acc), 0.7, color="#4c72b0")
        ok = ~np.isnan(acc)
        ax.errorbar(
            x[ok],
            acc[ok],
            yerr=[
                np.clip(acc[ok] - orig["ci_low"].to_numpy(dtype=float)[ok], 0, None),
                np.clip(orig["ci_high"].to_numpy(dtype=float)[ok] - acc[ok], 0, None),
            ],
            fmt="none",
            ecolor="#333333",
            elinewidth=0.8,
            capsize=2,
        )
        ax.hlines(deact, x - 0.35, x + 0.35, colors="#c44e52", linewidth=2.5)
        if random is not None:
            ax.hlines(
                rand.reindex([(relation, lang) for lang in languages]).to_numpy(dtype=float),
                x - 0.35,
                x + 0.35,
                colors="#555555",
                linewidth=1.5,
                linestyles="dashed",
                label="random",
            )
        for i in np.flatnonzero(~ok):
            ax.text(x[i], 0.02, "n/a", ha="center", fontsize=7, color="#555555")
        ax.set_xticks(x, languages)
        ax.set_ylim(0, 1.05)
        ax.set_title(relation, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(relations) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    handles = [Rectangle((0, 0), 1, 1, color="#4c72b0"), Line2D([], [], color="#c44e52", linewidth=2.5)]
    labels = ["original", "top-k off"]
    if random is not None:
        handles.append(Line2D([], [], color="#555555", linewidth=1.5, linestyle="dashed"))
        labels.append("random k off")
    fig.legend(handles=handles, labels=labels, loc="center right", fontsize=8)  # beside the panels, clear of the title
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 23


def plot_frequency(df: pd.DataFrame, stem: str | os.PathLike[str] | None = None, title: str | None = None) -> Figure:
    """Fig. 23: per relation, the relative difference of the mean fact counts of resilient vs sensitive facts (left)
    and the two means themselves on a symlog axis (right).

    Columns: relation, mean_resilient, mean_sensitive, relative_difference,
    n_resilient, n_sensitive. Relations whose difference is undefined (an empty
    group, or no sensitive count) are listed with "n/a" and the group sizes.
    """
    _need(
        df,
        ["relation", "mean_resilient", "mean_sensitive", "relative_difference", "n_resilient", "n_sensitive"],
        "frequency plot",
    )
    y = np.arange(len(df))
    diff = df["relative_difference"].to_numpy(dtype=float) * 100
    fig, (left, right) = _subplots(1, 2, figsize=(11, 0.45 * len(df) + 2), sharey=True)
    colors = np.where(diff > 0, "#55a868", "#c44e52")
    left.barh(y, np.nan_to_num(diff), color=colors)
    for i, row in enumerate(df.itertuples(index=False)):
        if np.isfinite(diff[i]):
            continue
        if not row.n_resilient or not row.n_sensitive:
            why = f"no {'resilient' if not row.n_resilient else 'sensitive'} facts"
        else:
            why = "both means 0" if row.mean_resilient == 0 else "sensitive mean 0, resilient > 0"
        left.text(
            0.02,
            i,
            f"n/a: {why} ({row.n_resilient} vs {row.n_sensitive})",
            va="center",
            fontsize=7,
            color="#555555",
            transform=left.get_yaxis_transform(),
        )
    left.axvline(0, color="black", linewidth=0.8)
    left.set_yticks(y, df["relation"])
    left.invert_yaxis()
    left.set_xlabel("(mean resilient - mean sensitive) / mean sensitive (%)")
    left.grid(axis="x", alpha=0.3)
    right.barh(y - 0.2, df["mean_resilient"].fillna(0), height=0.4, color="#55a868", label="resilient (a)")
    right.barh(y + 0.2, df["mean_sensitive"].fillna(0), height=0.4, color="#c44e52", label="sensitive (b)")
    right.set_xscale("symlog", linthresh=1)
    right.set_xlabel("mean documents containing subject and object")
    right.grid(axis="x", alpha=0.3)
    right.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 8


def plot_templates(
    df: pd.DataFrame,
    stem: str | os.PathLike[str] | None = None,
    title: str | None = "Intra-relation accuracy on P_eva and P_eva-2",
) -> Figure:
    """Fig. 8: per relation, original / random-k / relation-k bars for each prompt split side by side.

    Columns as `plot_intra` (relation, split, condition, accuracy, ci_low, ci_high); exactly two splits
    (first = the store's templates, drawn solid; second = the new templates, drawn hatched).
    """
    _need(df, ["relation", "split", "condition", "accuracy", "ci_low", "ci_high"], "template plot")
    splits = list(dict.fromkeys(df["split"]))
    if len(splits) != 2:
        raise InputError(f"template plot: needs exactly two splits, got {splits}")
    bad = sorted(set(df["condition"]) - set(INTRA_CONDITIONS))
    if bad:
        raise InputError(f"template plot: unknown conditions {bad}; expected {list(INTRA_CONDITIONS)}")
    if df.duplicated(["relation", "split", "condition"]).any():
        raise InputError("template plot: more than one row per (relation, split, condition)")
    relations = list(dict.fromkeys(df["relation"]))
    bars = [(s, c) for c in INTRA_CONDITIONS for s in splits]
    width = 0.84 / len(bars)
    x = np.arange(len(relations))
    fig, ax = _subplots(figsize=(max(6.0, 1.0 * len(relations) + 2.5), 4.5))
    part = df.set_index(["relation", "split", "condition"])
    for b, (split, cond) in enumerate(bars):
        sub = part.reindex([(r, split, cond) for r in relations])
        pos = x + (b - (len(bars) - 1) / 2) * width
        acc = sub["accuracy"].to_numpy(dtype=float)
        ax.bar(
            pos,
            acc,
            width,
            color=_INTRA_COLORS[cond],
            hatch="//" if split == splits[1] else None,
            edgecolor="white",
            linewidth=0.5,
            label=f"{_INTRA_LABELS[cond]}, {split}",
        )
        lo, hi = sub["ci_low"].to_numpy(dtype=float), sub["ci_high"].to_numpy(dtype=float)
        ok = ~(np.isnan(lo) | np.isnan(hi) | np.isnan(acc))
        if ok.any():
            ax.errorbar(
                pos[ok],
                acc[ok],
                yerr=[np.clip(acc[ok] - lo[ok], 0, None), np.clip(hi[ok] - acc[ok], 0, None)],
                fmt="none",
                ecolor="black",
                elinewidth=1,
                capsize=2,
            )
    ax.set_xticks(x, [str(r) for r in relations], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.grid(axis="y", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linewidth=1, label="95% bootstrap CI"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return _done(fig, stem)


# ----------------------------------------------------------------- Fig. 24


def plot_type_composition(
    df: pd.DataFrame, stem: str | os.PathLike[str] | None = None, title: str | None = "Neuron types in the top-k"
) -> Figure:
    """Fig. 24: stacked bars, one per relation, of how many top-k neurons each module type holds.

    Columns: relation, type (e.g. "gate_proj", "q_proj"), count. Types are stacked in first-appearance order.
    """
    _need(df, ["relation", "type", "count"], "type composition plot")
    if df.duplicated(["relation", "type"]).any():
        raise InputError("type composition plot: more than one row per (relation, type)")
    relations = list(dict.fromkeys(df["relation"]))
    types = list(dict.fromkeys(df["type"]))
    counts = (
        df.pivot(index="relation", columns="type", values="count").reindex(index=relations, columns=types).fillna(0)
    )
    fig, ax = _subplots(figsize=(max(5.0, 0.6 * len(relations) + 3), 4.5))
    colors = matplotlib.colormaps["tab10"]
    bottom = np.zeros(len(relations))
    x = np.arange(len(relations))
    for i, t in enumerate(types):
        values = counts[t].to_numpy(dtype=float)
        ax.bar(x, values, 0.7, bottom=bottom, color=colors(i % 10), label=str(t))
        bottom += values
    ax.set_xticks(x, [str(r) for r in relations], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("neurons in the top-k")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return _done(fig, stem)
