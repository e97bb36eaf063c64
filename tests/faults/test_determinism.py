"""Determinism: the same configuration run twice, in fresh folders, writes byte-identical tables.

Tables = every Parquet and CSV file of the run (store prompts, identify ap/topk/examples, every experiment's
tables). Timings and dates live only in JSON manifests/summaries, never in tables.
"""

from __future__ import annotations

from faults.tiny_study import tables
from relneurons.pipeline import load_config, run_study


def test_tiny_run_twice_is_byte_identical(tiny_run, overrides, tmp_path):
    again = run_study(load_config("quick", overrides=overrides(tmp_path / "again")), quiet=True)
    first, second = tables(tiny_run), tables(again)
    assert (
        len(first) > 20
        and any(name.startswith("store/") for name in first)
        and any(name.startswith("identify/ap/") for name in first)
    )
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


# The same check on Gemma 3 270M: tests/integration/test_determinism.py
