"""The helpers every experiment shares (experiments/common.py)."""

from __future__ import annotations

import pandas as pd

from relneurons.experiments.common import condition_kind, prompt_pairs
from relneurons.experiments.study import Study


def test_condition_kind_of_every_condition_name_a_study_makes():
    assert condition_kind("original") == "original"
    assert condition_kind(Study.rel("company_hq", 0, 307)) == "relation"
    assert condition_kind(Study.rnd(4, 307)) == "random"
    assert condition_kind("ids:core-company_hq:0123456789ab") == "ids"
    assert condition_kind("forced:company_hq.p90:0123456789ab") == "forced"


def test_prompt_pairs_puts_every_prompt_under_every_condition_in_order():
    prompts = pd.DataFrame({"text": ["a", "b", "c"], "relation": "r"})
    pairs = prompt_pairs(prompts, ["original", "rel:r:0-5"], "P_eva")
    assert pairs["condition"].tolist() == ["original"] * 3 + ["rel:r:0-5"] * 3
    assert pairs["prompt_id"].tolist() == [0, 1, 2, 0, 1, 2] and set(pairs["split"]) == {"P_eva"}
    assert pairs["text"].tolist() == ["a", "b", "c", "a", "b", "c"]
