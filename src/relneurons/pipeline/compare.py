"""`relneurons compare`: the main numbers of two run folders side by side.

Only reads the typed summaries the experiments wrote (`experiments.summaries`): the same numbers the report
shows, never recomputed here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .. import io
from ..experiments.summaries import InterSummary, IntraSummary, read_summary
from ..plots.figures import plot_compare

#: Per relation, from the intra summary's P_eva tests.
INTRA_COLUMNS = ("acc_original", "acc_random", "acc_relation", "percentile", "p_relation_vs_random", "n_random_sets")
#: Numbers whose difference b - a is shown.
DIFF_COLUMNS = ("acc_original", "acc_random", "acc_relation", "percentile", "own_drop", "other_drop")


def main_table(run: Path) -> pd.DataFrame:
    """Per relation, P_eva: accuracies, percentile and p vs random (intra), own and mean other drop (inter, if run)."""
    intra = read_summary(run / "results" / "intra", IntraSummary)
    table = pd.DataFrame(
        [
            {"relation": t.relation, **{c: getattr(t, c) for c in INTRA_COLUMNS}}
            for t in intra.tests
            if t.split == "P_eva"
        ],
        columns=["relation", *INTRA_COLUMNS],
    )
    drops = {}
    if (run / "results" / "inter").is_dir():
        drops = {o.relation: o for o in read_summary(run / "results" / "inter", InterSummary).relations}
    table["own_drop"] = [drops[r].own_drop if r in drops else math.nan for r in table["relation"]]
    table["other_drop"] = [drops[r].other_drop if r in drops else math.nan for r in table["relation"]]
    return table


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Outer join of both runs' main tables (suffixes _a, _b) with differences b - a; writes tables and a figure."""
    a, b = main_table(run_a), main_table(run_b)
    table = a.merge(b, on="relation", how="outer", suffixes=("_a", "_b"), sort=False)
    for column in DIFF_COLUMNS:
        table[f"{column}_diff"] = table[f"{column}_b"] - table[f"{column}_a"]
    out = out or run_b / f"compare-with-{run_a.name}"
    io.write_table(out / "compare.parquet", table)
    io.write_table(out / "compare.csv", table)
    plot_compare(table, out / "compare", label_a=str(run_a), label_b=str(run_b))
    return table, out
