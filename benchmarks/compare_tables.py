"""Compare a run's intra tables with a reference run's, accuracy by accuracy, and list the generations that differ.

    python benchmarks/compare_tables.py benchmarks/reference/quick-cpu RUN    # RUN: a run folder or its results/intra

Made for the GPU check (benchmarks/gpu_check.sh): the quick study run on a GPU in float32 against the CPU run
shipped in benchmarks/reference/quick-cpu/. Compared by (relation, split, condition): every accuracy and n of
intra.csv (original, relation, mean of the random sets) and of random_seeds.csv (each random set), and by
(relation, split, condition, prompt_id) every generation and its verdict in generations.csv. Columns of
the reference that the run lacks or adds are reported as a format change (the key columns are compared
regardless). Exit status 0 when every accuracy is identical, 1 otherwise, 2 when a table is missing; the
last line printed is a one-line summary.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TABLES = ("intra.csv", "random_seeds.csv")
CELL = ["relation", "split", "condition"]
ROW = [*CELL, "prompt_id"]
#: Accuracies are means of 0/1 verdicts written by the same code: equal results print equal numbers.
TOLERANCE = 1e-12


@dataclass
class Comparison:
    cells: int = 0  # accuracies compared
    differing: list[dict] = field(default_factory=list)  # table, cell, n and accuracy of both runs
    unmatched: list[str] = field(default_factory=list)  # cells or rows only one run has
    format_notes: list[str] = field(default_factory=list)
    generations: int = 0  # generations compared
    generation_diffs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def identical(self) -> bool:
        return not self.differing and not self.unmatched


def intra_folder(path: Path) -> Path:
    """A run folder's results/intra, or the folder itself when it holds intra.csv."""
    path = Path(path)
    nested = path / "results" / "intra"
    return nested if (nested / "intra.csv").is_file() else path


def _read(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: give a run folder or a folder with {', '.join(TABLES)}")
    return pd.read_csv(path, keep_default_na=False, dtype={"generation": str, "text": str})


def _columns(name: str, ref: pd.DataFrame, run: pd.DataFrame, added: bool = True) -> list[str]:
    """Format changes: reference columns the run lacks and (if `added`) columns the run adds."""
    notes = []
    if missing := [c for c in ref.columns if c not in run.columns]:
        notes.append(f"{name}: the run has no column {', '.join(missing)}")
    if added and (extra := [c for c in run.columns if c not in ref.columns]):
        notes.append(f"{name}: the run adds column {', '.join(extra)}")
    return notes


def compare(reference: Path, run: Path) -> Comparison:
    """Accuracies of every intra cell and every generation of `run` against `reference` (folders as `intra_folder`)."""
    reference, run = intra_folder(reference), intra_folder(run)
    result = Comparison()
    for name in TABLES:
        ref, new = _read(reference, name), _read(run, name)
        result.format_notes += _columns(name, ref, new)
        merged = ref[[*CELL, "n", "accuracy"]].merge(
            new[[*CELL, "n", "accuracy"]], on=CELL, how="outer", suffixes=("_ref", "_run"), indicator=True
        )
        for row in merged[merged["_merge"] != "both"].to_dict("records"):
            side = "reference" if row["_merge"] == "left_only" else "run"
            result.unmatched.append(f"{name}: {' '.join(str(row[c]) for c in CELL)} only in the {side}")
        both = merged[merged["_merge"] == "both"]
        result.cells += len(both)
        changed = (both["n_ref"] != both["n_run"]) | ((both["accuracy_ref"] - both["accuracy_run"]).abs() > TOLERANCE)
        for row in both[changed].to_dict("records"):
            result.differing.append({"table": name, **{k: v for k, v in row.items() if k != "_merge"}})
    ref, new = _read(reference, "generations.csv"), _read(run, "generations.csv")
    result.format_notes += _columns("generations.csv", ref, new, added=False)  # the shipped reference is trimmed
    keep = [c for c in ("text",) if c in new.columns]
    rows = ref[[*ROW, "generation", "correct"]].merge(
        new[[*ROW, *keep, "generation", "correct"]], on=ROW, how="outer", suffixes=("_ref", "_run"), indicator=True
    )
    only = rows[rows["_merge"] != "both"]
    if len(only):
        result.unmatched.append(
            f"generations.csv: {int((only['_merge'] == 'left_only').sum())} rows only in the reference, "
            f"{int((only['_merge'] == 'right_only').sum())} only in the run"
        )
    rows = rows[rows["_merge"] == "both"].drop(columns="_merge")
    result.generations = len(rows)
    diff = (rows["generation_ref"] != rows["generation_run"]) | (rows["correct_ref"] != rows["correct_run"])
    result.generation_diffs = rows[diff].reset_index(drop=True)
    return result


def report(result: Comparison, max_rows: int = 40) -> list[str]:
    """Human-readable lines; the last is the one-line summary."""
    lines = [*result.format_notes, *result.unmatched]
    for d in result.differing:
        lines.append(
            f"{d['table']}: {d['relation']} {d['split']} {d['condition']}: accuracy {d['accuracy_ref']:.4f} "
            f"(n {d['n_ref']:g}) in the reference, {d['accuracy_run']:.4f} (n {d['n_run']:g}) in the run"
        )
    diffs = result.generation_diffs
    if len(diffs):
        flips = int((diffs["correct_ref"] != diffs["correct_run"]).sum())
        lines.append(f"{len(diffs)} generations differ ({flips} of them change the verdict); first {max_rows}:")
        for row in diffs.head(max_rows).to_dict("records"):
            prompt = f" {row['text']!r}" if "text" in row else ""
            lines.append(
                f"  {row['relation']} {row['split']} {row['condition']} #{row['prompt_id']}{prompt}: "
                f"{row['generation_ref']!r} ({_verdict(row['correct_ref'])}) -> "
                f"{row['generation_run']!r} ({_verdict(row['correct_run'])})"
            )
    same = result.cells - len(result.differing)
    state = "identical" if result.identical else "DIFFERENT"
    lines.append(
        f"intra tables {state}: {same}/{result.cells} accuracies equal, "
        f"{result.generations - len(diffs)}/{result.generations} generations equal"
        + (f", {len(result.unmatched)} unmatched" if result.unmatched else "")
        + (f"; format changed ({len(result.format_notes)} notes)" if result.format_notes else "")
    )
    return lines


def _verdict(value) -> str:
    return "correct" if str(value) == "True" else "wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference", type=Path, help="reference folder (e.g. benchmarks/reference/quick-cpu)")
    parser.add_argument("run", type=Path, help="run folder, or its results/intra")
    parser.add_argument("--max-rows", type=int, default=40, help="differing generations to print")
    args = parser.parse_args(argv)
    try:
        result = compare(args.reference, args.run)
    except FileNotFoundError as exc:
        print(f"compare_tables: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report(result, args.max_rows)))
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
