"""collect -> identify -> every core experiment on the real Gemma 3 270M, small settings."""

import pandas as pd
import pytest

from relneurons.activations import CollectConfig, collect
from relneurons.experiments.core import CORE
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.study import Study, StudyConfig
from relneurons.expertise.identify import IdentifyConfig, identify

pytestmark = pytest.mark.integration
RELATIONS = ("company_hq", "star_constellation")


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    root = tmp_path_factory.mktemp("pipeline")
    store = collect(
        CollectConfig(
            data_dir=str(lre_dir),
            relations=RELATIONS,
            templates=(0,),
            max_prompts_per_relation=30,
            n_eval=10,
            device="cpu",
        ),
        root / "store",
        progress=False,
    )
    identify(store.folder, root / "identify", IdentifyConfig(k=0.0036, min_positives=3), progress=False)
    config = StudyConfig(k=0.0036, seeds=2, n_boot=200, max_det=8)
    return Study(store, root / "identify", root / "results", config, device="cpu", progress=False)


def test_every_experiment_writes_tables_and_figures(study):
    for name, run in EXPERIMENTS.items():
        if name not in CORE:
            continue  # the complementary experiments have their own tests
        table = run(study, k_sweep=(10, 100)) if name in ("sweep", "cumulativity") else run(study)
        folder = study.out / name
        assert (folder / "summary.json").is_file()
        assert list(folder.glob("*.parquet")) and list(folder.glob("*.csv"))
        if name != "errors":
            assert (folder / f"{name}.png").stat().st_size > 1000 and (folder / f"{name}.svg").is_file()
        assert len(table) > 0

    intra = pd.read_parquet(study.out / "intra" / "intra.parquet")
    assert set(intra["condition"]) == {"original", "random", "relation"}
    ok = intra.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["accuracy"] + 1e-12) & (ok["accuracy"] <= ok["ci_high"] + 1e-12)).all()
    # validated P_det prompts are answered right by the original model again (same greedy decoding)
    assert intra[(intra.split == "P_det") & (intra.condition == "original")]["accuracy"].min() >= 0.9

    inter = pd.read_parquet(study.out / "inter" / "inter.parquet")
    assert len(inter) == len(RELATIONS) ** 2
    undefined = inter["acc_original"] == 0
    assert inter.loc[undefined, "drop"].isna().all() and inter.loc[~undefined, "drop"].notna().all()

    sweep = pd.read_parquet(study.out / "sweep" / "sweep.parquet")
    assert set(sweep["k"]) == {0, 10, 100}
    # the diagonal of inter is the relation row of intra on P_eva: shared through the generation cache
    for relation in RELATIONS:
        a = inter[(inter.evaluated == relation) & (inter.deactivated == relation)]["acc_deactivated"].iloc[0]
        b = intra[(intra.relation == relation) & (intra.split == "P_eva") & (intra.condition == "relation")][
            "accuracy"
        ].iloc[0]
        assert a == pytest.approx(b)
