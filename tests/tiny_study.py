"""A real (tiny, random) model study: collect on LRE prompts, mark prompts correct, identify, open a Study.

A random model answers nothing right, so validation would keep no prompt; the
store is collected with keep_all and its `correct` column is then set by hand,
which is all identification looks at. Everything downstream (capture, judging
with hooks, generation cache) runs for real on the tiny model.
"""

import numpy as np
import pandas as pd
from tiny_models import save_tiny_folder

from relneurons import io
from relneurons.activations import ActivationStore, CollectConfig, collect
from relneurons.experiments.study import Study, StudyConfig
from relneurons.expertise.identify import IdentifyConfig, identify

RELATIONS = ("company_hq", "star_constellation", "landmark_country")


def tiny_study(root, lre_dir, k=20, **study_options) -> Study:
    folder = str(save_tiny_folder(root / "model"))
    store = collect(
        CollectConfig(
            model=folder,
            data_dir=str(lre_dir),
            relations=RELATIONS,
            templates=(0,),
            n_eval=4,
            max_prompts_per_relation=12,
            keep_all=True,
            chunk_prompts=16,
            batch_size=8,
            device="cpu",
        ),
        root / "store",
        progress=False,
    )
    prompts = pd.read_parquet(store.folder / "prompts.parquet")
    prompts["correct"] = np.arange(len(prompts)) % 4 != 3  # 3 of 4 prompts "validated"
    io.write_table(store.folder / "prompts.parquet", prompts)
    store = ActivationStore(store.folder)
    identify(store.folder, root / "identify", IdentifyConfig(k=k, min_positives=3), progress=False)
    config = StudyConfig(k=k, **{"seeds": 2, "n_boot": 100, "batch_size": 8, **study_options})
    return Study(
        store, root / "identify", root / "results", config, data_dir=str(lre_dir), device="cpu", progress=False
    )
