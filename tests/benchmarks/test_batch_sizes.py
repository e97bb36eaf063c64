"""benchmarks/batch_sizes.py (the GPU check's batch-size diff) on a tiny model on the CPU."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd
from tiny_models import save_tiny_folder

from relneurons.model import greedy_generate, load_model

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("batch_sizes", ROOT / "benchmarks" / "batch_sizes.py")
batch_sizes = importlib.util.module_from_spec(_spec)
sys.modules["batch_sizes"] = batch_sizes
_spec.loader.exec_module(batch_sizes)

TEXTS = [
    "The headquarters of Acme are in the city of? Answer:",
    "Paris? Answer:",
    "Acme are in? Answer:",
    "The city of Paris is the headquarters of? Answer:",
    "The headquarters? Answer:",
    "In the city? Answer:",
    "Answer: the city of Acme? Answer:",
]


def test_counts_the_generations_that_differ_from_the_run_and_between_sizes(tmp_path, capsys):
    folder = str(save_tiny_folder(tmp_path / "model"))
    model, tokenizer = load_model(folder, device="cpu")
    expected = greedy_generate(model, tokenizer, TEXTS, 2, batch_size=1)  # another code path, one prompt at a time
    run = tmp_path / "run"
    (run / "results" / "intra").mkdir(parents=True)
    (run / "config.toml").write_text("[run]\nbatch_size = 32\n")
    recorded = [g + "!" if i in (1, 4) else g for i, g in enumerate(expected)]  # two generations the run got wrong
    rows = [("r", "P_eva", "original", i, t, g) for i, (t, g) in enumerate(zip(TEXTS, recorded))]
    rows += [("r", "P_eva", "rel:r:0-3", i, t, "other") for i, t in enumerate(TEXTS)]  # not the original condition
    pd.DataFrame(rows, columns=["relation", "split", "condition", "prompt_id", "text", "generation"]).to_csv(
        run / "results" / "intra" / "generations.csv", index=False
    )
    assert batch_sizes.main([str(run), "--model", folder, "--sizes", "1", "3", "7"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-1] == (
        "batch sizes on cpu: 3 vs 1: 0/7 differ, 7 vs 1: 0/7 differ; "
        "differ from the run's own (batch 32): 1: 2, 3: 2, 7: 2 of 7"
    )
    assert f"  batch 1 vs the run: {TEXTS[1]!r}: {recorded[1]!r} -> {expected[1]!r}" in lines
