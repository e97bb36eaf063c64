"""Tables derived from the top-k neuron lists alone (paper §4.1, Figs. 1 and 2).

Input: the identification step's ``topk`` table, one row per (relation, neuron)
with at least ``relation``, ``layer`` and ``global_index`` (the file also has
rank, module, unit, ap). Relations keep their first-appearance order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relneurons.errors import InputError

__all__ = [
    "LAYER_DISTRIBUTION_COLUMNS",
    "layer_distribution",
    "matrix_to_long",
    "overlap_matrix",
]

#: Columns of `layer_distribution`.
LAYER_DISTRIBUTION_COLUMNS = ["relation", "layer", "count", "fraction"]


def _need(df: pd.DataFrame, cols: set[str], what: str) -> None:
    missing = cols - set(df.columns)
    if missing:
        raise InputError(f"{what} lacks columns {sorted(missing)}")


def _relations(df: pd.DataFrame) -> list:
    return list(dict.fromkeys(df["relation"]))


def layer_distribution(topk: pd.DataFrame, n_layers: int) -> pd.DataFrame:
    """Fig. 1: how many of each relation's top-k neurons sit in each layer.

    Returns LAYER_DISTRIBUTION_COLUMNS with one row for every relation and
    every layer 0..n_layers-1 (count 0 for empty layers), relation in
    first-appearance order then layer ascending; fraction = count / (number of
    the relation's neurons). Layers outside [0, n_layers) are an error.
    """
    _need(topk, {"relation", "layer"}, "top-k table")
    if int(n_layers) != n_layers or n_layers < 1:
        raise InputError(f"n_layers must be a positive integer, got {n_layers!r}")
    layers = topk["layer"].to_numpy()
    if layers.size and (not np.issubdtype(layers.dtype, np.integer) or layers.min() < 0 or layers.max() >= n_layers):
        raise InputError(f"top-k layers must be integers in [0, {n_layers}), got {sorted(set(layers.tolist()))[:10]}")
    rows = []
    for relation in _relations(topk):
        counts = np.bincount(layers[(topk["relation"] == relation).to_numpy()], minlength=n_layers)
        total = counts.sum()
        for layer, c in enumerate(counts):
            rows.append((relation, layer, int(c), float(c / total) if total else 0.0))
    return pd.DataFrame(rows, columns=LAYER_DISTRIBUTION_COLUMNS)


def overlap_matrix(topk: pd.DataFrame) -> pd.DataFrame:
    """Fig. 2: |top-k(r_i) ∩ top-k(r_j)| for every pair, by ``global_index``.

    Square int DataFrame, index and columns = relations in first-appearance
    order (both named "relation"); the diagonal is each relation's own k. A
    neuron listed twice for one relation is an error.
    """
    _need(topk, {"relation", "global_index"}, "top-k table")
    if topk.duplicated(["relation", "global_index"]).any():
        raise InputError("top-k table lists a neuron more than once for the same relation")
    rels = _relations(topk)
    sets = [np.unique(topk.loc[topk["relation"] == r, "global_index"].to_numpy()) for r in rels]
    m = np.zeros((len(rels), len(rels)), dtype=np.int64)
    for i, si in enumerate(sets):
        for j in range(i, len(rels)):
            m[i, j] = m[j, i] = np.intersect1d(si, sets[j], assume_unique=True).size
    index = pd.Index(rels, name="relation")
    return pd.DataFrame(m, index=index, columns=pd.Index(rels, name="relation"))


def matrix_to_long(
    matrix: pd.DataFrame, row_name: str = "row", col_name: str = "column", value_name: str = "value"
) -> pd.DataFrame:
    """Square/rectangular matrix -> tidy rows (row_name, col_name, value_name), row-major order.

    For writing a matrix with `relneurons.io.write_table`, which drops the index.
    """
    values = matrix.to_numpy()
    rows = np.repeat(np.asarray(matrix.index, dtype=object), matrix.shape[1])
    cols = np.tile(np.asarray(matrix.columns, dtype=object), matrix.shape[0])
    return pd.DataFrame({row_name: rows, col_name: cols, value_name: values.reshape(-1)})
