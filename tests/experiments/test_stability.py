"""The stability experiment end to end on a tiny model: resampled top-k recomputed with scikit-learn, every number
counted from the tables and generations."""

import json
import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from relneurons.errors import ConfigError
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.expertise.identify import example_sets, rank_descending
from relneurons.expertise.stability import half_samples
from relneurons.pipeline.config import EXPERIMENT_OPTIONS, experiment_options, tomllib

from .test_methods import answered_study

RESAMPLES = 5
CORE = 0.8  # a core neuron is in the top-k of at least ceil(0.8 x 5) = 4 of the 5 resamples


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    s = answered_study(tmp_path_factory.mktemp("stability"), lre_dir)
    EXPERIMENTS["stability"](s, resamples=RESAMPLES, core=CORE)
    return s


def _resampled_topk_by_sklearn(study):
    """Each resample's top-k, scored neuron by neuron with scikit-learn (the slow, independent reference)."""
    matrix = study.store.rows(np.arange(study.store.n_rows))
    out = []
    for i, half in enumerate(half_samples(study.store.prompts, RESAMPLES, seed=0)):
        examples, _ = example_sets(half, 4, 1, i)
        tops = {}
        for relation, group in examples.groupby("relation"):
            if relation in study.relations:
                x, y = matrix[group["act_row"].to_numpy()], group["positive"].to_numpy()
                ap = np.array([average_precision_score(y, x[:, j]) for j in range(x.shape[1])])
                tops[relation] = set(study.nset.global_ids[rank_descending(ap)[: study.k]].tolist())
        out.append(tops)
    return out


def test_frequencies_jaccards_and_core_match_a_reference(study):
    folder = study.out / "stability"
    frequency = pd.read_parquet(folder / "frequency.parquet")
    table = pd.read_parquet(folder / "stability.parquet").set_index("relation")
    tops = _resampled_topk_by_sklearn(study)
    for relation in study.relations:
        sets = [t[relation] for t in tops]
        counts = {}
        for s in sets:
            for n in s:
                counts[n] = counts.get(n, 0) + 1
        full = set(study.ranked(relation, 0, study.k).tolist())
        rows = frequency[frequency.relation == relation].set_index("global_index")
        assert set(rows.index) == set(counts) | full
        for n, row in rows.iterrows():
            assert row["frequency"] == pytest.approx(counts.get(n, 0) / RESAMPLES)
            assert row["in_topk"] == (n in full) and row["in_core"] == (counts.get(n, 0) >= 4)
        pairs = [len(a & b) / len(a | b) for i, a in enumerate(sets) for b in sets[i + 1 :]]
        assert table.loc[relation, "mean_jaccard"] == pytest.approx(np.mean(pairs))
        assert table.loc[relation, "jaccard_to_full"] == pytest.approx(
            np.mean([len(s & full) / len(s | full) for s in sets])
        )
        assert table.loc[relation, "core_size"] == sum(c >= 4 for c in counts.values())
        assert math.isnan(table.loc[relation, "template_jaccard"])  # one template in the tiny store


def test_core_vs_top_k_numbers_are_the_generations_counted(study):
    folder = study.out / "stability"
    judged = pd.read_parquet(folder / "generations.parquet")
    table = pd.read_parquet(folder / "stability.parquet").set_index("relation")
    intra = pd.read_parquet(folder / "intra.parquet").set_index(["relation", "kind"])
    summary = json.loads((folder / "summary.json").read_text())
    assert (
        summary["forward_passes"] == 0
        and summary["resamples"] == RESAMPLES
        and summary["core_threshold"] == CORE
        and summary["core_count"] == 4
    )
    for relation in study.relations:
        part = judged[judged.relation == relation]
        acc = {kind: g["correct"].mean() for kind, g in part.groupby("kind")}
        assert acc["original"] == 1.0
        assert table.loc[relation, "acc_topk"] == pytest.approx(acc["topk"])
        assert table.loc[relation, "drop_topk"] == pytest.approx(1 - acc["topk"])
        assert intra.loc[(relation, "random"), "accuracy"] == pytest.approx(acc["random"])
        core = part[part.kind == "core"]
        if table.loc[relation, "core_size"]:
            ids = study.condition(core["condition"].iloc[0]).neurons
            assert len(ids) == table.loc[relation, "core_size"]
            assert table.loc[relation, "drop_core"] == pytest.approx(1 - acc["core"])
            reproduces = (1 - acc["topk"]) > 0 and (1 - acc["core"]) >= 0.8 * (1 - acc["topk"])
            assert bool(table.loc[relation, "core_reproduces"]) == reproduces
            assert summary["relations"][relation]["core_reproduces"] == reproduces
        else:
            assert core.empty and math.isnan(table.loc[relation, "drop_core"])
    assert (folder / "stability.png").stat().st_size > 1000


def test_the_core_has_size_matched_controls(study):
    from relneurons.experiments.stats import mcnemar_exact

    folder = study.out / "stability"
    judged = pd.read_parquet(folder / "generations.parquet")
    table = pd.read_parquet(folder / "stability.parquet").set_index("relation")
    checked = 0
    for relation in study.relations:
        n = int(table.loc[relation, "core_size"])
        if not n:
            continue
        part = judged[judged.relation == relation]
        outcome = {c: g.sort_values("prompt_id")["correct"].to_numpy() for c, g in part.groupby("condition")}
        core_condition = part.loc[part.kind == "core", "condition"].iloc[0]
        top_ap = study.rel(relation, 0, n)  # the top-n by AP: generated under its own kind, or the top-k's when n = k
        assert top_ap in outcome
        subset = study.condition(part.loc[part.kind == "topk_subset", "condition"].iloc[0]).neurons
        assert subset.size == n and np.isin(subset, study.ranked(relation, 0, study.k)).all()
        assert study.rnd(0, n) in outcome and study.condition(study.rnd(0, n)).neurons.size == n
        expected = mcnemar_exact(outcome[core_condition], outcome[top_ap])[2]
        assert table.loc[relation, "p_core_vs_top_ap"] == pytest.approx(expected)
        assert table.loc[relation, "acc_top_ap"] == pytest.approx(outcome[top_ap].mean())
        assert table.loc[relation, "acc_random_core"] == pytest.approx(outcome[study.rnd(0, n)].mean())
        checked += 1
    assert checked


def test_a_core_resting_on_fewer_than_4_resamples_is_refused():
    with pytest.raises(ConfigError, match=r"core x resamples = 0.75 x 4 = 3 < 4.*at least 6"):
        EXPERIMENTS["stability"](None, resamples=4, core=0.75)  # checked before the study is touched


def test_options_are_checked_and_both_presets_set_every_one():
    assert experiment_options("stability", ["resamples=7", "core=0.8", "max_eval=0"]) == {
        "resamples": 7,
        "core": 0.8,
        "max_eval": 0,
    }
    with pytest.raises(ConfigError, match="resamples"):
        experiment_options("stability", ["resamples=1"])
    with pytest.raises(ConfigError, match="core"):
        experiment_options("stability", ["core=1.5"])
    for preset in ("quick", "paper"):
        doc = tomllib.loads((resources.files("relneurons") / "resources" / "presets" / f"{preset}.toml").read_text())
        assert set(doc.get("stability", {})) <= set(EXPERIMENT_OPTIONS["stability"]), (
            preset
        )  # presets only override defaults
    with pytest.raises(ConfigError, match="resamples"):
        EXPERIMENTS["stability"](None, resamples=1)


def test_summary_is_typed_and_round_trips(study, tmp_path):
    from relneurons.experiments.stability import RelationStability, StabilitySummary
    from relneurons.experiments.summaries import read_summary, write_summary

    folder = study.out / "stability"
    summary = read_summary(folder, StabilitySummary)
    table = pd.read_parquet(folder / "stability.parquet").set_index("relation")
    assert list(summary.relations) == list(study.relations)
    for relation, x in summary.relations.items():
        assert isinstance(x, RelationStability) and x.mean_jaccard == pytest.approx(table.loc[relation, "mean_jaccard"])
        assert math.isnan(x.template_jaccard)  # written as null, read back as NaN
    assert summary.mean_jaccard == pytest.approx(table["mean_jaccard"].mean())
    write_summary(tmp_path, summary)
    assert (tmp_path / "summary.json").read_text() == (folder / "summary.json").read_text()
