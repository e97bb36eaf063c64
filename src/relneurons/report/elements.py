"""The data behind the report's repeated pieces: tables and heatmaps, built here from DataFrames and arrays,
drawn by the macros of templates/macros.html.j2. Cells are plain text (the templates escape them) unless a
builder deliberately passes `markupsafe.Markup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import format as fmt

GENERIC_MAX_ROWS = 50
CELL_MAX_CHARS = 300


def shorten(text: Any, limit: int = CELL_MAX_CHARS) -> str:
    """Free text (a prompt, a generation) cut to `limit` characters."""
    text = str(text)
    return text[:limit] + "…" if len(text) > limit else text


@dataclass
class Table:
    header: Sequence[Any]
    rows: Sequence[Sequence[Any]]
    numeric: Sequence[bool] = ()  # right-aligned columns; default none
    cls: str = ""  # extra class: "compact"
    caption: str = ""

    def __post_init__(self) -> None:
        self.numeric = list(self.numeric) or [False] * len(self.header)


def generic_table(df: pd.DataFrame, max_rows: int = GENERIC_MAX_ROWS) -> Table:
    """Any DataFrame, each column formatted by what it looks like (`format.column_formatter`), cut at `max_rows`."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    formats = [fmt.column_formatter(str(c), df[c]) for c in df.columns]
    rows = [
        [shorten(f(v)) for f, v in zip(formats, row)] for row in df.head(max_rows).itertuples(index=False, name=None)
    ]
    caption = f"first {max_rows} of {len(df):,} rows" if len(df) > max_rows else ""
    return Table([str(c) for c in df.columns], rows, numeric, caption=caption)


@dataclass(frozen=True)
class Cell:
    label: str
    tip: str  # the tooltip (title) and the script's read-out line
    background: str | None  # None: undefined (n/a, grey)
    ink: str = "#111"


@dataclass
class Heatmap:
    """An HTML grid heatmap: coloured cells showing their value, with a tooltip each. Works without script;
    the page's script mirrors the hovered or focused cell into a read-out line and highlights its row and column."""

    name: str
    rows: list[str]
    cols: list[str]
    cells: list[list[Cell]]
    low: str  # legend ends, as text
    high: str
    gradient: str  # CSS colour stops of the legend bar
    legend: str
    row_title: str
    col_title: str
    extra: dict = field(default_factory=dict)


def _hex(rgba: Sequence[float]) -> str:
    r, g, b = (int(round(255 * max(0.0, min(1.0, c)))) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    name: str,
    rows: list[str],
    cols: list[str],
    values: np.ndarray,
    labels: list[list[str]],
    tips: list[list[str]],
    *,
    cmap: str,
    vmin: float,
    vmax: float,
    row_title: str,
    col_title: str,
    legend: str,
) -> Heatmap:
    """Colour each cell of `values` with the matplotlib colour map `cmap` on [vmin, vmax]; NaN cells are n/a."""
    import matplotlib

    colormap = matplotlib.colormaps[cmap]
    span = (vmax - vmin) or 1.0
    cells = []
    for i in range(len(rows)):
        line = []
        for j in range(len(cols)):
            v = values[i, j]
            if np.isnan(v):
                line.append(Cell(fmt.NA, tips[i][j], None))
                continue
            rgba = colormap(min(1.0, max(0.0, (float(v) - vmin) / span)))
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            line.append(Cell(labels[i][j], tips[i][j], _hex(rgba), "#111" if lum > 0.5 else "#fff"))
        cells.append(line)
    gradient = ", ".join(_hex(colormap(x)) for x in np.linspace(0, 1, 11))
    return Heatmap(name, rows, cols, cells, fmt.number(vmin), fmt.number(vmax), gradient, legend, row_title, col_title)
