"""benchmarks/compare_tables.py (the GPU check's comparer) on the shipped CPU reference and edited copies of it."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "benchmarks" / "reference" / "quick-cpu"
_spec = importlib.util.spec_from_file_location("compare_tables", ROOT / "benchmarks" / "compare_tables.py")
compare_tables = importlib.util.module_from_spec(_spec)
sys.modules["compare_tables"] = compare_tables  # dataclasses look their module up while the file executes
_spec.loader.exec_module(compare_tables)


@pytest.fixture
def run(tmp_path):
    """A run folder whose results/intra holds a copy of the reference, with a text column as a real run has."""
    folder = tmp_path / "run" / "results" / "intra"
    shutil.copytree(REFERENCE, folder)
    generations = pd.read_csv(folder / "generations.csv", keep_default_na=False, dtype={"generation": str})
    generations["text"] = [f"prompt {i}? Answer:" for i in range(len(generations))]
    generations.to_csv(folder / "generations.csv", index=False)
    return tmp_path / "run"


def _edit(path: Path, edit) -> None:
    """Rewrite a table with `edit(table)`: the table it returns, or the one it changed in place."""
    table = pd.read_csv(path, keep_default_na=False, dtype={"generation": str})
    edited = edit(table)
    (table if edited is None else edited).to_csv(path, index=False)


def test_the_reference_against_itself_is_identical(run, capsys):
    assert compare_tables.main([str(REFERENCE), str(run)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "intra tables identical: 72/72 accuracies equal, 2100/2100 generations equal"


def test_a_flipped_answer_is_listed_with_its_generation(run, capsys):
    intra = run / "results" / "intra"
    cell = ("company_hq", "P_eva", "original")

    def flip(table):
        row = (table["relation"] == cell[0]) & (table["split"] == cell[1]) & (table["condition"] == cell[2])
        row &= table["prompt_id"] == 2  # " London." for Land Securities, correct in the reference
        assert row.sum() == 1 and table.loc[row, "correct"].item()
        table.loc[row, ["generation", "correct"]] = [" Manchester", False]

    def lower(table):  # 10 of 50 correct -> 9 of 50
        row = (table["relation"] == cell[0]) & (table["split"] == cell[1]) & (table["condition"] == cell[2])
        assert table.loc[row, "accuracy"].item() == 0.2
        table.loc[row, "accuracy"] = 0.18

    _edit(intra / "generations.csv", flip)
    _edit(intra / "intra.csv", lower)
    assert compare_tables.main([str(REFERENCE), str(run)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        "intra.csv: company_hq P_eva original: accuracy 0.2000 (n 50) in the reference, 0.1800 (n 50) in the run"
        in lines
    )
    assert "1 generations differ (1 of them change the verdict); first 40:" in lines
    assert "  company_hq P_eva original #2 'prompt 2? Answer:': ' London.' (correct) -> ' Manchester' (wrong)" in lines
    assert lines[-1] == "intra tables DIFFERENT: 71/72 accuracies equal, 2099/2100 generations equal"


def test_format_changes_and_missing_cells_are_reported(run, capsys):
    intra = run / "results" / "intra"
    _edit(intra / "intra.csv", lambda t: t.drop(columns=["ci_low"]))
    _edit(intra / "random_seeds.csv", lambda t: t.drop(index=[0]))
    assert compare_tables.main([str(REFERENCE), str(run)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert "intra.csv: the run has no column ci_low" in lines
    assert "random_seeds.csv: company_hq P_eva random:0:307 only in the reference" in lines
    assert lines[-1].startswith("intra tables DIFFERENT: 71/71 accuracies equal") and "1 unmatched" in lines[-1]


def test_a_folder_without_tables_is_refused(tmp_path, capsys):
    assert compare_tables.main([str(REFERENCE), str(tmp_path)]) == 2
    assert "intra.csv is missing" in capsys.readouterr().err
