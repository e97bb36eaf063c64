"""The types experiment: per-set AP against scikit-learn, type composition by hand, end to end on a tiny model."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from tiny_study import tiny_study

from relneurons.activations.capture import capture_means
from relneurons.errors import ConfigError
from relneurons.experiments import neuron_types
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.study import Study, StudyConfig
from relneurons.experiments.summaries import read_summary
from relneurons.model.sites import NeuronSet, Site, neuron_set
from relneurons.model.tokenization import token_ids
from relneurons.pipeline.config import load_config

SETS = ["all", "self_attn", "up_proj"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    s = tiny_study(tmp_path_factory.mktemp("types"), lre_dir)
    EXPERIMENTS["types"](s, sets=SETS)
    return s


def test_composition_matches_a_hand_count():
    sites = (
        Site(0, "m.0.mlp.gate_proj", "mlp.gate_proj", "gate", 4, 0),
        Site(0, "m.0.self_attn.q_proj", "self_attn.q_proj", "q", 2, 4),
        Site(1, "m.1.mlp.gate_proj", "mlp.gate_proj", "gate", 4, 6),
        Site(1, "m.1.mlp.down_proj", "mlp.down_proj", "down", 2, 10),
    )
    nset = NeuronSet("all", sites, 12)
    topk = pd.DataFrame(
        {
            "set": "all",
            "relation": ["r"] * 4 + ["s"] * 4,
            "type": ["gate_proj", "q_proj", "gate_proj", "gate_proj", "down_proj", "down_proj", "q_proj", "down_proj"],
        }
    )
    comp = neuron_types.composition(topk, {"all": nset}).set_index(["relation", "type"])
    assert comp["count"].to_dict() == {
        ("r", "gate_proj"): 3,
        ("r", "q_proj"): 1,
        ("r", "down_proj"): 0,
        ("s", "gate_proj"): 0,
        ("s", "q_proj"): 1,
        ("s", "down_proj"): 3,
    }
    # 8 of 12 neurons are gate_proj, 2 q_proj, 2 down_proj: a uniform draw of 4 expects 8/3, 2/3, 2/3
    assert comp.loc[("r", "gate_proj"), "expected_if_random"] == pytest.approx(8 / 3)
    assert comp.loc[("s", "q_proj"), "expected_if_random"] == pytest.approx(2 / 3)
    assert (comp.groupby("relation")["count"].sum() == 4).all()


def test_composition_sums_to_k_and_counts_the_topk_modules(study):
    topk = pd.read_parquet(study.out / "types" / "topk.parquet")
    comp = pd.read_parquet(study.out / "types" / "composition.parquet")
    model = study.model[0]
    for name in SETS:
        nset = neuron_set(model, name)
        k = neuron_types.set_k(study, nset, 0)
        assert k == max(1, round(study.k / study.nset.size * nset.size))
        for relation in study.relations:
            rows = topk[(topk.set == name) & (topk.relation == relation)]
            assert len(rows) == k and rows["global_index"].is_unique
            assert set(rows["global_index"]) <= set(nset.global_ids)
            part = comp[(comp.set == name) & (comp.relation == relation)]
            assert part["count"].sum() == k
            hand = pd.Series(
                [m.split(".")[-1] for m in nset.describe(rows["global_index"].to_numpy())["module"]]
            ).value_counts()
            assert part.set_index("type")["count"][hand.index].tolist() == hand.tolist()
    all_types = set(comp[comp.set == "all"]["type"])
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} == all_types
    summary = read_summary(study.out / "types", neuron_types.TypesSummary)  # the typed summary: the composition summed
    for name in SETS:
        part = comp[comp.set == name].groupby("type")
        assert summary.sets[name].types == part["count"].sum().to_dict()
        assert summary.sets[name].expected_if_random == pytest.approx(part["expected_if_random"].sum().to_dict())


def test_all_set_ranking_is_sklearn_average_precision(study):
    """Reference: capture the whole 'all' set afresh, score every neuron with sklearn, rank by (-AP, global id)."""
    model, tokenizer, policy = study.model
    nset = neuron_set(model, "all")
    texts = neuron_types.kept_texts(study)
    fresh = capture_means(model, nset, token_ids(tokenizer, policy, texts), policy, batch_size=5)
    stored_cols = nset.columns(study.nset.global_ids)
    np.testing.assert_allclose(fresh[:, stored_cols], study.store.columns(0, study.nset.size), rtol=1e-4, atol=1e-5)
    examples = pd.read_parquet(study.identify_dir / "examples.parquet")
    topk = pd.read_parquet(study.out / "types" / "topk.parquet")
    k = neuron_types.set_k(study, nset, 0)
    for relation in study.relations:
        ex = examples[examples.relation == relation]
        ap = np.array([average_precision_score(ex["positive"], fresh[ex["act_row"], j]) for j in range(nset.size)])
        expected = nset.global_ids[np.lexsort((nset.global_ids, -ap))[:k]]
        got = topk[(topk.set == "all") & (topk.relation == relation)].sort_values("rank")
        assert got["global_index"].tolist() == expected.tolist()
        np.testing.assert_allclose(got["ap"], ap[np.lexsort((nset.global_ids, -ap))[:k]], atol=1e-6)


def test_a_subset_of_the_store_set_ranks_like_the_main_identification(study):
    topk = pd.read_parquet(study.out / "types" / "topk.parquet")
    for relation in study.relations:
        main = pd.read_parquet(study.identify_dir / "ap" / f"{relation}.parquet").sort_values("rank")
        up = main[main["module"].str.endswith("up_proj")]["global_index"]
        got = topk[(topk.set == "up_proj") & (topk.relation == relation)].sort_values("rank")["global_index"]
        assert got.tolist() == up.iloc[: len(got)].tolist()


def test_inter_matrix_per_set_and_figures(study):
    inter = pd.read_parquet(study.out / "types" / "inter.parquet")
    n = len(study.relations)
    assert len(inter) == len(SETS) * n * n and set(inter["set"]) == set(SETS)
    assert (
        inter.groupby("evaluated")["acc_original"].nunique().max() == 1
    )  # one original per relation, shared by the sets
    for name in SETS:
        assert (study.out / "types" / f"inter_{name}.png").stat().st_size > 1000
    assert (study.out / "types" / "composition_all.png").is_file()


def test_rerun_reuses_the_captured_activations(study, monkeypatch):
    before = pd.read_parquet(study.out / "types" / "topk.parquet")
    assert list((study.out / ".cache").glob("types-*.npy"))

    def refuse(*args, **kwargs):
        raise AssertionError("activations were captured again")

    monkeypatch.setattr(neuron_types, "capture_means", refuse)
    EXPERIMENTS["types"](study, sets=SETS)
    pd.testing.assert_frame_equal(pd.read_parquet(study.out / "types" / "topk.parquet"), before)


def test_median_forcing_outside_the_store_is_refused_before_any_work(study, tmp_path):
    median = Study(
        study.store,
        study.identify_dir,
        tmp_path / "out",
        StudyConfig(k=study.k, force="median"),
        data_dir=study.data_dir,
        device="cpu",
        progress=False,
    )
    median.__dict__["model"] = study.model  # reuse the loaded tiny model
    with pytest.raises(ConfigError, match="force = median"):
        EXPERIMENTS["types"](median, sets=["self_attn"])
    assert not (tmp_path / "out" / ".cache").exists()


@pytest.mark.parametrize(
    "sets, needle", [(["al"], "did you mean 'all'"), (["all", "all"], "twice"), ("all", "list"), ([], "list")]
)
def test_bad_sets_are_named(sets, needle):
    with pytest.raises(ConfigError, match=needle):
        neuron_types.check_sets(sets)


def test_config_sections_are_validated():
    config = load_config("quick")
    assert (
        config["types"]["sets"] == ["all", "self_attn", "up_proj", "gate_proj", "down_proj"]
        and config["templates"]["extra"] == ""
    )
    with pytest.raises(ConfigError, match="types.sets"):
        load_config("quick", overrides=['types.sets=["al"]'])
    with pytest.raises(ConfigError, match="types.k"):
        load_config("quick", overrides=["types.k=-1"])
