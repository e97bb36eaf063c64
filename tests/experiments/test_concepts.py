"""The concepts experiment: overlap by hand, options, and end to end on a tiny model (AP checked with scikit-learn)."""

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from tiny_models import save_tiny_folder

from relneurons.activations import CollectConfig, collect
from relneurons.errors import ConfigError
from relneurons.experiments.concepts import ConceptsSummary, cross_overlap
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.study import Study, StudyConfig
from relneurons.experiments.summaries import read_summary
from relneurons.expertise.identify import IdentifyConfig, identify
from relneurons.model import greedy_generate, load_model
from relneurons.pipeline.config import EXPERIMENT_OPTIONS, experiment_options, tomllib

RELATIONS = {  # name: (domain_name, template, subjects)
    "tiny_fruit": (
        "fruit",
        "The colour of {} is",
        ["Apple", "Banana", "Cherry", "Date", "Elder", "Fig", "Grape", "Guava", "Kiwi", "Lemon", "Lime", "Mango"],
    ),
    "tiny_tool": (
        "tool",
        "The city of {} is",
        ["Hammer", "Saw", "Drill", "Wrench", "Chisel", "Pliers", "Axe", "Rake", "Spade", "Level", "Clamp", "File"],
    ),
    "tiny_rare": ("rare", "{} is", ["Quux", "Zorp"]),
}
K = 8


def test_cross_overlap_matches_a_hand_count():
    rows = {"r1": np.array([1, 2, 3, 4]), "r2": np.array([10, 11, 3])}
    cols = {"c1": np.array([3, 4, 5]), "c2": np.array([11, 12]), "c3": np.array([99])}
    m = cross_overlap(rows, cols)
    assert m.index.tolist() == ["r1", "r2"] and m.columns.tolist() == ["c1", "c2", "c3"]
    assert m.to_numpy().tolist() == [[2, 0, 0], [1, 1, 0]]


def test_options_are_checked_and_both_presets_set_every_one():
    assert experiment_options("concepts", ["max_subjects=5", "n_ablation=0", 'concepts=["person"]']) == {
        "max_subjects": 5,
        "n_ablation": 0,
        "concepts": ["person"],
    }
    with pytest.raises(ConfigError, match="max_subjects"):
        experiment_options("concepts", ["max_subjects=0"])
    with pytest.raises(ConfigError, match="did you mean 'min_subjects'"):
        experiment_options("concepts", ["min_subject=3"])
    for preset in ("quick", "paper"):
        doc = tomllib.loads((resources.files("relneurons") / "resources" / "presets" / f"{preset}.toml").read_text())
        assert set(doc.get("concepts", {})) <= set(EXPERIMENT_OPTIONS["concepts"]), (
            preset
        )  # presets only override defaults


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, lre_dir):
    """A store and rankings of a tiny model on relation files whose objects are the model's own answers."""
    root = tmp_path_factory.mktemp("concepts")
    model_dir = str(save_tiny_folder(root / "model"))
    model, tokenizer = load_model(model_dir, device="cpu")
    paths = {}
    for name, (domain, template, subjects) in RELATIONS.items():
        answers = greedy_generate(model, tokenizer, [template.replace("{}", s) + "? Answer:" for s in subjects], 2)
        doc = {
            "prompt_templates": [template],
            "properties": {"domain_name": domain},
            "samples": [{"subject": s, "object": a.strip() or "none"} for s, a in zip(subjects, answers)],
        }
        paths[name] = root / f"{name}.json"
        paths[name].write_text(json.dumps(doc))
    store = collect(
        CollectConfig(
            model=model_dir,
            device="cpu",
            data_dir=str(lre_dir),
            templates=(0,),
            n_eval=4,
            batch_size=8,
            relations=(str(paths["tiny_fruit"]), str(paths["tiny_tool"])),
        ),
        root / "store",
        progress=False,
    )
    identify(store.folder, root / "id", IdentifyConfig(k=K, min_positives=3), progress=False)
    concepts_file = root / "concepts.toml"
    concepts_file.write_text(
        f"relations = {json.dumps([str(p) for p in paths.values()])}\n"
        'templates = ["{} can", "{} has a", "{} is known for"]\n'
    )
    return store, root, concepts_file


def _study(tiny_study, out, lre_dir):
    store, root, _ = tiny_study
    return Study(
        store,
        root / "id",
        out,
        StudyConfig(k=K, seeds=2, n_boot=50, batch_size=8),
        data_dir=str(lre_dir),
        device="cpu",
        progress=False,
    )


def test_end_to_end_on_a_tiny_model(tiny_study, tmp_path, lre_dir):
    store, root, concepts_file = tiny_study
    study = _study(tiny_study, tmp_path / "out", lre_dir)
    options = dict(file=str(concepts_file), max_subjects=8, min_subjects=3, n_ablation=6)
    matrix = EXPERIMENTS["concepts"](study, **options)
    folder = tmp_path / "out" / "concepts"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["skipped"] == {"rare": "2 subjects, fewer than min_subjects = 3"}
    assert list(summary["concepts"]) == ["fruit", "tool"] and summary["negative_ratio"] == 4
    typed = read_summary(folder, ConceptsSummary)  # the ablation tests are the tests table's rows
    tests = pd.read_parquet(folder / "tests.parquet")
    assert [a.concept for a in typed.ablation] == tests["concept"].tolist()
    assert [a.acc_concept for a in typed.ablation] == tests["acc_concept"].tolist()
    assert typed.overlap_max == max([o.overlap for o in typed.largest_overlaps], default=0)
    for name in ("topk", "examples", "overlap", "ablation", "tests", "generations"):
        assert (folder / f"{name}.parquet").is_file() and (folder / f"{name}.csv").is_file(), name
    for figure in ("overlap.png", "overlap.svg", "ablation.png", "ablation.svg"):
        assert (folder / figure).stat().st_size > 0

    # balance: 8 subjects x 3 templates positives; 4 x as many negatives wanted, only 12 x 3 other-concept prompts exist
    examples = pd.read_parquet(folder / "examples.parquet")
    for concept in ("fruit", "tool"):
        group = examples[examples["concept"] == concept]
        assert (
            group["positive"].sum() == 24 and (~group["positive"]).sum() == 24
        )  # all 8 x 3 prompts of the other concept
        # 12 facts: 8 subjects identify, so 4 ablation prompts have other subjects and 2 must reuse identification subjects
        assert summary["concepts"][concept]["ablation_prompts_of_identification_subjects"] == 2

    # AP against scikit-learn on the cached activations; the top-k are the k highest
    scores = np.load(next((tmp_path / "out" / ".cache").glob("concepts-activations-*.npy")))
    topk = pd.read_parquet(folder / "topk.parquet")
    nset = study.nset
    for concept, group in examples.groupby("concept"):
        labels = group["positive"].to_numpy()
        ap = np.array([average_precision_score(labels, scores[group["row"].to_numpy(), j]) for j in range(nset.size)])
        mine = topk[topk["concept"] == concept]
        cols = nset.columns(mine["global_index"].to_numpy())
        np.testing.assert_allclose(mine["ap"].to_numpy(), ap[cols], rtol=1e-12)
        assert len(mine) == K and mine["ap"].min() >= np.delete(ap, cols).max()

    # overlap: relation top-k (identify) against concept top-k, counted with Python sets
    relation_top = pd.read_parquet(root / "id" / "topk.parquet")
    for relation in study.relations:
        for concept in ("fruit", "tool"):
            expected = len(
                set(relation_top.loc[relation_top["relation"] == relation, "global_index"])
                & set(topk.loc[topk["concept"] == concept, "global_index"])
            )
            assert matrix.loc[relation, concept] == expected

    # ablation: 6 prompts per concept, every condition; the model answers its own facts, so the original is not all wrong
    generations = pd.read_parquet(folder / "generations.parquet")
    assert generations.groupby("concept")["prompt_id"].nunique().to_dict() == {"fruit": 6, "tool": 6}
    assert sorted(generations["kind"].unique()) == ["concept", "original", "random"]
    ablation = pd.read_parquet(folder / "ablation.parquet")
    assert set(ablation["condition"]) == {"original", "random", "concept"} and (ablation["n"] == 6).all()
    original = ablation[ablation["condition"] == "original"].set_index("concept")["accuracy"]
    assert original.max() > 0
    own = generations[generations["kind"] == "concept"]
    assert own["condition"].str.startswith("ids:concept-").all()
    tests = pd.read_parquet(folder / "tests.parquet").set_index("concept")
    for concept, group in own.groupby("concept"):
        assert (
            ablation.set_index(["concept", "condition"]).loc[(concept, "concept"), "accuracy"]
            == group["correct"].mean()
        )
        assert tests.loc[concept, "acc_concept"] == group["correct"].mean() and 0 < tests.loc[concept, "p_rank"] <= 1
        assert np.isnan(tests.loc[concept, "p_concept_vs_random"])  # 3 random sets: no p (rank p >= 1/4)

    # a rerun reuses the cached activations and reproduces every table
    cache = next((tmp_path / "out" / ".cache").glob("concepts-activations-*.npy"))
    stamp = cache.stat().st_mtime_ns
    tables = {p.name: pd.read_parquet(p) for p in folder.glob("*.parquet")}
    EXPERIMENTS["concepts"](_study(tiny_study, tmp_path / "out", lre_dir), **options)
    assert cache.stat().st_mtime_ns == stamp
    for name, table in tables.items():
        pd.testing.assert_frame_equal(pd.read_parquet(folder / name), table, obj=name)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_subjects=0), "concepts.max_subjects = 0 must be >= 1"),
        (dict(concepts=["fruits"]), "did you mean 'fruit'"),
        (dict(min_subjects=50), "no concept can be identified"),
    ],
)
def test_bad_options_leave_no_result_folder(tiny_study, tmp_path, lre_dir, options, message):
    _, _, concepts_file = tiny_study
    study = _study(tiny_study, tmp_path / "out", lre_dir)
    with pytest.raises(Exception, match=message) as info:
        EXPERIMENTS["concepts"](study, file=str(concepts_file), **options)
    assert type(info.value).__name__ in ("ConfigError", "DataError")
    assert not (tmp_path / "out" / "concepts").exists()
