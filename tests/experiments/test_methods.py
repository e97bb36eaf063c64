"""The methods experiment: the specificity statistic against a plain loop, and end to end on a tiny model
(every method's top-k recomputed independently, every number counted from the generations)."""

import json
import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from tiny_study import tiny_study

from relneurons.errors import ConfigError, InputError
from relneurons.experiments.methods import specificity_ci
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.expertise import SCORERS
from relneurons.expertise.attribution import attribution_scores
from relneurons.expertise.identify import rank_descending
from relneurons.pipeline.config import EXPERIMENT_OPTIONS, experiment_options, load_config, tomllib

# ------------------------------------------------------------------ the statistic


def _drop(o, d):
    return math.nan if sum(o) == 0 else (sum(o) / len(o) - sum(d) / len(d)) / (sum(o) / len(o))


def _specificity_reference(original, deactivated, own, n_boot, seed):
    """Plain loops over replicates and relations, the documented resampling contract."""
    order = [own] + [r for r in original if r != own]

    def stat(pairs):
        own_drop = _drop(*pairs[0])
        others = [x for x in (_drop(*p) for p in pairs[1:]) if not math.isnan(x)]
        return math.nan if math.isnan(own_drop) or not others else own_drop - sum(others) / len(others)

    point = stat([(list(original[r]), list(deactivated[r])) for r in order])
    rng = np.random.default_rng(seed)
    draws = {r: rng.integers(0, len(original[r]), size=(n_boot, len(original[r]))) for r in order}
    reps = []
    for b in range(n_boot):
        value = stat([([original[r][i] for i in draws[r][b]], [deactivated[r][i] for i in draws[r][b]]) for r in order])
        if not math.isnan(value):
            reps.append(value)
    return point, reps


@pytest.mark.parametrize("seed", [0, 1])
def test_specificity_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    original = {r: rng.random(n) < 0.6 for r, n in (("a", 12), ("b", 7), ("c", 9), ("d", 5))}
    original["d"][:] = False  # an other relation whose drop is undefined
    deactivated = {r: o & (rng.random(o.size) < (0.3 if r == "b" else 0.8)) for r, o in original.items()}
    for own in ("a", "b"):
        point, low, high = specificity_ci(original, deactivated, own, n_boot=300, seed=seed)
        want, reps = _specificity_reference(original, deactivated, own, 300, seed)
        assert point == pytest.approx(want)
        assert (low, high) == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
        assert low <= high


def test_specificity_edge_cases():
    yes, no = np.ones(4, bool), np.zeros(4, bool)
    assert specificity_ci({"a": yes, "b": yes}, {"a": no, "b": yes}, "a", n_boot=50) == (1.0, 1.0, 1.0)
    assert math.isnan(specificity_ci({"a": no, "b": yes}, {"a": no, "b": no}, "a", n_boot=50)[0])  # own drop undefined
    assert math.isnan(specificity_ci({"a": yes}, {"a": no}, "a", n_boot=50)[0])  # no other relation
    with pytest.raises(InputError, match="same, non-empty"):
        specificity_ci({"a": yes, "b": yes}, {"a": no, "b": no[:2]}, "a")
    with pytest.raises(InputError, match="no prompts"):
        specificity_ci({"a": yes}, {"a": no}, "z")


def test_options_are_checked_and_both_presets_set_every_one():
    assert experiment_options("methods", ['scorers=["ap", "attribution"]', "max_eval=5"]) == {
        "scorers": ["ap", "attribution"],
        "max_eval": 5,
    }
    with pytest.raises(ConfigError, match="did you mean 'mean_diff'"):
        experiment_options("methods", ['scorers=["mean_dif"]'])
    with pytest.raises(ConfigError, match="max_eval"):
        experiment_options("methods", ["max_eval=-1"])
    for preset in ("quick", "paper"):
        doc = tomllib.loads((resources.files("relneurons") / "resources" / "presets" / f"{preset}.toml").read_text())
        assert set(doc.get("methods", {})) <= set(EXPERIMENT_OPTIONS["methods"]), (
            preset
        )  # presets only override defaults
        run = load_config(preset)["experiments"]["run"]
        assert "methods" in run and "stability" in run, preset
    assert load_config("paper")["methods"]["scorers"] == ["ap", "mean_diff", "activation_rate", "attribution"]


# ------------------------------------------------------------------ end to end


def answered_study(root, lre_dir):
    """A tiny-model study whose P_eva objects are the model's own answers, so the original model is right and
    switching neurons off can break it (a random model answers no LRE fact)."""
    study = tiny_study(root, lre_dir)
    prompts = study.eval_prompts.copy()
    judged = study.judge(prompts.assign(condition="original"), desc="answers")
    prompts["object"] = [g.strip() or "none" for g in judged["generation"]]
    study.__dict__["eval_prompts"] = prompts  # the cached property, replaced before any experiment reads it
    return study


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    s = answered_study(tmp_path_factory.mktemp("methods"), lre_dir)
    EXPERIMENTS["methods"](s, scorers=["ap", "mean_diff", "activation_rate", "attribution"], max_eval=3)
    return s


def _positives_and_negatives(study, relation):
    examples = pd.read_parquet(study.identify_dir / "examples.parquet")
    group = examples[examples.relation == relation]
    rows = study.store.rows(group["act_row"].to_numpy())
    positive = group["positive"].to_numpy()
    return rows[positive], rows[~positive], group[group.positive]


def test_every_methods_top_k_is_recomputed_independently(study):
    topk = pd.read_parquet(study.out / "methods" / "topk.parquet")
    model, tokenizer, policy = study.model
    prompts = study.store.prompts
    for relation in study.relations:
        pos, neg, positives = _positives_and_negatives(study, relation)
        for name in ("ap", "mean_diff", "activation_rate"):
            want = np.sort(study.nset.global_ids[rank_descending(SCORERS[name](pos, neg))[: study.k]])
            got = topk[(topk.method == name) & (topk.relation == relation)]["global_index"].to_numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {relation}")
        facts = [
            prompts[(prompts.relation == relation) & (prompts.act_row == row) & prompts.correct].iloc[0]
            for row in positives["act_row"]
        ]
        scores = attribution_scores(
            model, tokenizer, policy, study.nset, [f.text for f in facts], [f.object for f in facts]
        )
        got = topk[(topk.method == "attribution") & (topk.relation == relation)]["global_index"].to_numpy()
        np.testing.assert_array_equal(got, np.sort(study.nset.global_ids[rank_descending(scores)[: study.k]]))
        np.testing.assert_array_equal(
            topk[(topk.method == "ap") & (topk.relation == relation)]["global_index"],
            study.ranked(relation, 0, study.k),
        )


def test_table_numbers_are_the_generations_counted(study):
    folder = study.out / "methods"
    judged = pd.read_parquet(folder / "generations.parquet")
    table = pd.read_parquet(folder / "methods.parquet").set_index(["method", "relation"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ap_matches_identify"] is True and summary["prompts_per_relation"] == 3
    assert len(table) == 4 * len(study.relations)
    assert judged.groupby(["relation", "condition"]).size().eq(3).all()
    randoms = [study.rnd(s, study.k) for s in range(study.config.seeds)]
    for (method, relation), row in table.iterrows():
        own = (
            study.rel(relation, 0, study.k)
            if method == "ap"
            else judged[judged.condition.str.startswith(f"ids:{method}-{relation}:")]["condition"].iloc[0]
        )
        acc = {e: judged[(judged.relation == e) & (judged.condition == own)]["correct"].mean() for e in study.relations}
        original = {
            e: judged[(judged.relation == e) & (judged.condition == "original")]["correct"].mean()
            for e in study.relations
        }
        assert original[relation] == 1.0  # the objects are the model's own answers
        assert row["acc_own"] == pytest.approx(acc[relation])
        assert row["acc_other_mean"] == pytest.approx(np.mean([acc[e] for e in study.relations if e != relation]))
        drops = [(original[e] - acc[e]) / original[e] for e in study.relations if e != relation]
        assert row["specificity"] == pytest.approx((1 - acc[relation]) - np.mean(drops))
        assert row["spec_low"] <= row["spec_high"]
        per_seed = [judged[(judged.relation == relation) & (judged.condition == c)]["correct"].mean() for c in randoms]
        assert (row["random_acc_min"], row["random_acc_max"]) == pytest.approx((min(per_seed), max(per_seed)))
        assert summary["specificity"][method][relation]["specificity"] == pytest.approx(row["specificity"])
    assert set(summary["seconds"]) == {"ap", "mean_diff", "activation_rate", "attribution"}
    assert (folder / "specificity.png").stat().st_size > 1000 and (folder / "specificity_ci.png").stat().st_size > 1000


def test_overlap_is_counted_from_the_top_k_lists(study):
    topk = pd.read_parquet(study.out / "methods" / "topk.parquet")
    overlap = pd.read_parquet(study.out / "methods" / "overlap.parquet")
    assert len(overlap) == len(study.relations) * 6
    for row in overlap.itertuples():
        a = set(topk[(topk.method == row.method_a) & (topk.relation == row.relation)]["global_index"])
        b = set(topk[(topk.method == row.method_b) & (topk.relation == row.relation)]["global_index"])
        assert row.overlap == len(a & b) and row.jaccard == pytest.approx(len(a & b) / len(a | b))


def test_summary_is_typed_and_round_trips(study, tmp_path):
    from relneurons.experiments.methods import MethodScore, MethodsSummary
    from relneurons.experiments.summaries import read_summary, write_summary

    folder = study.out / "methods"
    summary = read_summary(folder, MethodsSummary)
    table = pd.read_parquet(folder / "methods.parquet")
    for row in table.itertuples():
        score = summary.specificity[row.method][row.relation]
        assert isinstance(score, MethodScore) and score.below_every_random_set == row.below_every_random_set
        assert score.specificity == pytest.approx(row.specificity, nan_ok=True)
        assert score.low == pytest.approx(row.spec_low, nan_ok=True)
    for method, mean in summary.mean_specificity.items():
        assert mean == pytest.approx(table.loc[table.method == method, "specificity"].mean(), nan_ok=True)
    write_summary(tmp_path, summary)
    assert (tmp_path / "summary.json").read_text() == (folder / "summary.json").read_text()


def _loop_compare(original, deactivated, clusters, n_boot, seed):
    """compare_specificity written as plain loops over replicates, relations and prompts (same draws)."""
    relations, methods = list(original), list(deactivated)
    rng = np.random.default_rng(seed)
    draws = {}
    for e in relations:
        labels = sorted(set(clusters[e]))
        draws[e] = (labels, rng.integers(0, len(labels), size=(n_boot, len(labels))))
    rel_draws = rng.integers(0, len(relations), size=(n_boot, len(relations)))

    def acc(x, e, b):
        labels, idx = draws[e]
        chosen = [i for j in idx[b] for i, lab in enumerate(clusters[e]) if lab == labels[j]]
        return sum(float(x[i]) for i in chosen) / len(chosen)

    reps = {m: [] for m in methods}
    for b in range(n_boot):
        for m in methods:
            s = []
            for d in relations:
                drop = {e: acc(original[e], e, b) - acc(deactivated[m][d][e], e, b) for e in relations}
                s.append(drop[d] - sum(drop[e] for e in relations if e != d) / (len(relations) - 1))
            reps[m].append(sum(s[j] for j in rel_draws[b]) / len(relations))
    return reps


def test_compare_specificity_matches_a_plain_loop_with_triples_and_relations_resampled():
    from relneurons.experiments.methods import compare_specificity

    rng = np.random.default_rng(4)
    relations = ["a", "b", "c"]
    sizes = {"a": 6, "b": 5, "c": 7}
    clusters = {e: np.repeat(np.arange(n), 2)[:n] for e, n in sizes.items()}  # pairs of prompts share a triple
    original = {e: rng.random(n) < 0.6 for e, n in sizes.items()}
    deactivated = {
        m: {
            d: {
                e: original[e] & (rng.random(sizes[e]) < (0.3 if d == e else 0.8 + 0.1 * (m == "x"))) for e in relations
            }
            for d in relations
        }
        for m in ("ap", "x")
    }
    n_boot, seed = 200, 3
    scores, pairs = compare_specificity(original, deactivated, clusters, n_boot=n_boot, seed=seed)
    # the point estimate by hand
    for m in ("ap", "x"):
        s = []
        for d in relations:
            drop = {e: original[e].mean() - deactivated[m][d][e].mean() for e in relations}
            s.append(drop[d] - np.mean([drop[e] for e in relations if e != d]))
        assert scores[m] == pytest.approx(np.mean(s), abs=1e-12)
    reps = _loop_compare(original, deactivated, clusters, n_boot, seed)
    diff = np.array(reps["ap"]) - np.array(reps["x"])
    (pair,) = pairs
    assert (pair["a"], pair["b"]) == ("ap", "x")
    assert (pair["low"], pair["high"]) == pytest.approx(tuple(np.quantile(diff, [0.025, 0.975])), abs=1e-12)
    assert pair["se"] == pytest.approx(diff.std(ddof=1)) and pair["detectable"] == pytest.approx(2.8 * diff.std(ddof=1))
    # absolute drops are bounded: a relation with no correct prompt contributes 0, not NaN
    none_right = {e: np.zeros(sizes[e], dtype=bool) for e in relations}
    zero, _ = compare_specificity(
        none_right, {m: {d: dict(none_right) for d in relations} for m in ("ap", "x")}, None, 50
    )
    assert zero == {"ap": 0.0, "x": 0.0}
