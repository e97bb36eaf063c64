"""`relneurons compare`: the main tables of two run folders side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..errors import DataError
from ..report.figures import plot_compare


def main_table(run: Path) -> pd.DataFrame:
    """Per relation, P_eva: accuracy original / random-k / relation-k and the relation's own drop."""
    tests, inter = run / "results" / "intra" / "tests.parquet", run / "results" / "inter" / "inter.parquet"
    if not tests.is_file():
        raise DataError(f"{run} has no results/intra/tests.parquet: run the intra experiment there first")
    table = pd.read_parquet(tests)
    table = table[table["split"] == "P_eva"][["relation", "acc_original", "acc_random", "acc_relation", "p_relation_vs_random"]]
    if inter.is_file():
        drops = pd.read_parquet(inter)
        own = drops[drops["evaluated"] == drops["deactivated"]].set_index("evaluated")["drop"].rename("own_drop")
        others = drops[drops["evaluated"] != drops["deactivated"]].groupby("evaluated")["drop"].mean().rename("other_drop")
        table = table.join(own, on="relation").join(others, on="relation")
    else:
        table = table.assign(own_drop=np.nan, other_drop=np.nan)
    return table


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Outer join of both runs' main tables (suffixes _a, _b) with differences b - a; writes tables and a figure."""
    a, b = main_table(run_a), main_table(run_b)
    table = a.merge(b, on="relation", how="outer", suffixes=("_a", "_b"), sort=False)
    for column in ("acc_original", "acc_random", "acc_relation", "own_drop", "other_drop"):
        table[f"{column}_diff"] = table[f"{column}_b"] - table[f"{column}_a"]
    out = out or run_b / f"compare-with-{run_a.name}"
    io.write_table(out / "compare.parquet", table)
    io.write_table(out / "compare.csv", table)
    plot_compare(table, out / "compare", label_a=str(run_a), label_b=str(run_b))
    return table, out
