"""Determinism on Gemma 3 270M (CPU): the same small run twice, in fresh folders, writes byte-identical tables."""

from __future__ import annotations

import json

import pytest
from faults.tiny_study import tables

from relneurons.pipeline import load_config, run_study


@pytest.mark.integration
def test_gemma_run_twice_is_byte_identical(lre_dir, tmp_path):
    """Gemma 3 270M on the CPU, 2 relations, a few prompts, template 0, two quick experiments."""

    def small(out):
        return load_config(
            "quick",
            overrides=[
                f"data.dir={json.dumps(str(lre_dir))}",
                f"run.out={json.dumps(str(out))}",
                'data.relations=["company_hq", "star_constellation"]',
                "data.templates=[0]",
                "data.max_prompts_per_relation=12",
                "data.n_eval=4",
                'experiments.run=["layers", "intra"]',
                "experiments.random_seeds=1",
                "experiments.max_det=3",
                "bootstrap.n_boot=50",
                'model.device="cpu"',
                "neurons.min_positives=3",
            ],
        )

    first = tables(run_study(small(tmp_path / "a"), quiet=True))
    second = tables(run_study(small(tmp_path / "b"), quiet=True))
    assert any(name.startswith("results/intra/") for name in first)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
