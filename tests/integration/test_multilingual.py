"""The multilingual experiment on the real Gemma 3 270M: English and Chinese prompts, judged against the pack's aliases."""

import re

import pandas as pd
import pytest

from relneurons.activations import CollectConfig, collect
from relneurons.data import is_correct
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.study import Study, StudyConfig
from relneurons.expertise.identify import IdentifyConfig, identify

pytestmark = pytest.mark.integration


def test_multilingual_on_gemma(tmp_path, lre_dir):
    store = collect(
        CollectConfig(
            data_dir=str(lre_dir),
            relations=("star_constellation", "landmark_continent"),
            templates=(0,),
            max_prompts_per_relation=20,
            n_eval=8,
            device="cpu",
        ),
        tmp_path / "store",
        progress=False,
    )
    identify(store.folder, tmp_path / "identify", IdentifyConfig(k=0.0036, min_positives=3), progress=False)
    study = Study(
        store,
        tmp_path / "identify",
        tmp_path / "results",
        StudyConfig(k=0.0036, n_boot=200),
        device="cpu",
        progress=False,
    )
    accuracy = EXPERIMENTS["multilingual"](study, languages=["zh"])
    folder = study.out / "multilingual"
    assert set(accuracy["language"]) == {"en", "zh"} and set(accuracy["condition"]) == {"original", "relation"}
    left = pd.read_parquet(folder / "left_out.parquet")
    assert (left["left_out"] == 0).all() and (left["kept"] == 8).all()  # closed vocabularies: everything translated

    generations = pd.read_parquet(folder / "generations.parquet")
    # languages x relations x conditions (original, relation-k, the option's default 3 random sets) x prompts
    assert len(generations) == 2 * 2 * (2 + 3) * 8
    tests = pd.read_parquet(folder / "tests.parquet")
    assert len(tests) == 2 * 2 and (tests["n_random_sets"] == 3).all()
    zh = generations[generations["language"] == "zh"]
    assert zh["text"].str.endswith("名字叫做").all()  # App. K's Chinese templates (Tables 9, 18), no suffix
    assert zh["generation"].map(lambda g: bool(re.search(r"[\u4e00-\u9fff]", g))).any()  # answers in Chinese
    # correctness is against the aliases of the language, not the English object
    recomputed = [
        is_correct(g, a.split(" | "), study.rule) for g, a in zip(generations["generation"], generations["aliases"])
    ]
    assert generations["correct"].tolist() == recomputed
    assert (folder / "multilingual.png").stat().st_size > 1000
