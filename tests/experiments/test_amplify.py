"""The amplify experiment: level parsing, forced values against numpy, level zero against intra, the table by hand.

End to end on the tiny model that answers its own relations (tests/faults/tiny_study.py), run as stages of
`relneurons run`, so the original accuracy is high and forcing can move it.
"""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from faults.tiny_study import answering_relations, save_model, tiny_overrides

from relneurons.activations.store import ActivationStore
from relneurons.errors import ConfigError
from relneurons.experiments.amplify import TABLE_COLUMNS, AmplifySummary, mean_accuracy, parse_levels
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.stats import bootstrap_ci
from relneurons.experiments.study import Study, StudyConfig
from relneurons.pipeline import load_config, run_study

LEVELS = ["zero", "median", "p90", "2xp90", "100xp90"]  # 100 x p90: far enough up to change the tiny model's answers


def test_levels_parse_and_bad_ones_are_named():
    levels = parse_levels(["zero", "median", "p90", "2xp90", "1.5xmedian", "p0", "p100"])
    assert [(lv.base, lv.q, lv.multiple) for lv in levels] == [
        ("zero", 0, 1),
        ("median", 0, 1),
        ("quantile", 90, 1),
        ("quantile", 90, 2),
        ("median", 0, 1.5),
        ("quantile", 0, 1),
        ("quantile", 100, 1),
    ]
    outputs = np.random.default_rng(0).normal(size=(7, 5))
    assert np.array_equal(levels[3].values(outputs), 2 * np.quantile(outputs, 0.9, axis=0))
    assert np.array_equal(levels[1].values(outputs), np.median(outputs, axis=0))
    assert np.array_equal(levels[0].values(outputs), np.zeros(5))
    for bad in (["p101"], ["loud"], ["2xzero"], ["p90", "p90"], [], "p90", [3]):
        with pytest.raises(ConfigError, match="amplify.levels"):
            parse_levels(bad)


def test_other_accuracy_is_the_mean_over_relations_whatever_their_sizes():
    def part(correct, subjects=None):
        subjects = subjects or [f"s{i}" for i in range(len(correct))]
        return pd.DataFrame({"correct": np.array(correct, bool), "subject": subjects, "object": "o"})

    n, acc, low, high = mean_accuracy({"a": part([1, 1, 1, 0]), "b": part([0, 1]), "c": part([])}, 500, 0)
    assert n == 6 and acc == pytest.approx((0.75 + 0.5) / 2) and low <= acc <= high  # pooled would be 4/6
    assert mean_accuracy({"a": part([1, 1, 1])}, 50, 0) == (3, 1.0, 1.0, 1.0)
    assert np.isnan(mean_accuracy({}, 50, 0)[1])
    # two templates per triple: whole triples are resampled, so a triple's two prompts always move together; with the
    # same subject names in two relations they are still different triples
    a, b = part([1, 1, 0, 0], ["x", "x", "y", "y"]), part([1, 0], ["x", "z"])
    weights = np.array([1, 1, 1, 1, 2, 2]) * 6 / 8  # N / (R n_relation)
    clusters = np.array([0, 0, 1, 1, 2, 3])
    want = bootstrap_ci(np.array([1, 1, 0, 0, 1, 0]) * weights, 300, 4, clusters=clusters)
    assert mean_accuracy({"a": a, "b": b}, 300, 4)[2:] == pytest.approx(want)


def test_options_are_checked_in_the_configuration():
    assert load_config("quick")["amplify"]["levels"] == ["zero", "median", "p90", "2xp90"]
    assert "amplify" in load_config("paper")["experiments"]["run"]
    with pytest.raises(ConfigError, match=r"amplify\.levels.*'p900'"):
        load_config("quick", overrides=['amplify.levels=["p900"]'])
    with pytest.raises(ConfigError, match=r"amplify\.max_other"):
        load_config("quick", overrides=["amplify.max_other=-1"])


@pytest.fixture(scope="module")
def run(tmp_path_factory, lre_dir):
    root = tmp_path_factory.mktemp("amplify")
    model = save_model(root / "model")
    relations = answering_relations(model, lre_dir, root / "relations")
    out = root / "run"
    overrides = tiny_overrides(
        model,
        relations,
        lre_dir,
        out,
        'experiments.run=["intra", "amplify"]',
        f"amplify.levels={json.dumps(LEVELS)}",
        "amplify.max_other=0",
    )
    run_study(load_config("quick", overrides=overrides), quiet=True)
    return out, model, relations


def _study(out, lre_dir, results, force="zero"):
    store = ActivationStore(out / "store")
    return Study(
        store,
        out / "identify",
        results,
        StudyConfig(k=8, seeds=2, n_boot=50, batch_size=8, max_det=6, force=force),
        data_dir=str(lre_dir),
        device="cpu",
        progress=False,
    )


def test_forced_values_are_the_quantiles_of_the_store_rows(run):
    out, _, _ = run
    store = ActivationStore(out / "store")
    values = pd.read_parquet(out / "results" / "amplify" / "forced_values.parquet")
    prompts, nset = store.prompts, store.neuron_set
    relations = json.loads((out / "identify" / "summary.json").read_text())["relations"]
    assert sorted(values["relation"].unique()) == sorted(relations) and len(relations) == 2
    for relation in relations:
        ap = pd.read_parquet(out / "identify" / "ap" / f"{relation}.parquet")
        top = np.sort(ap.loc[ap["rank"] <= 8, "global_index"].to_numpy())
        rows = np.sort(prompts.loc[prompts["correct"] & (prompts["relation"] == relation), "act_row"].to_numpy())
        matrix = np.stack([store.rows(np.array([r]))[0] for r in rows])  # one row at a time: no shared code path
        columns = [int(np.flatnonzero(nset.global_ids == g)[0]) for g in top]
        outputs = matrix[:, columns]
        expected = {
            "zero": np.zeros(len(top)),
            "median": np.median(outputs, axis=0),
            "p90": np.quantile(outputs, 0.9, axis=0),
            "2xp90": 2 * np.quantile(outputs, 0.9, axis=0),
        }
        for level, want in expected.items():
            got = values[(values["relation"] == relation) & (values["level"] == level) & (values["neurons"] == "top-k")]
            got = got.sort_values("global_index")
            assert np.array_equal(got["global_index"].to_numpy(), top)
            np.testing.assert_allclose(got["value"].to_numpy(), want, rtol=1e-6, atol=0)
        assert (expected["2xp90"] >= expected["median"]).sum() > 0
        # the control: 8 random neurons, forced to their own p90 over the same prompts
        control = values[
            (values["relation"] == relation) & (values["level"] == "p90") & (values["neurons"] == "random")
        ]
        control = control.sort_values("global_index")
        assert len(control) == 8 and not np.array_equal(control["global_index"].to_numpy(), top)
        columns = [int(np.flatnonzero(nset.global_ids == g)[0]) for g in control["global_index"]]
        np.testing.assert_allclose(control["value"].to_numpy(), np.quantile(matrix[:, columns], 0.9, axis=0), rtol=1e-6)


def test_the_random_control_table_counts_its_own_generations(run):
    out, _, _ = run
    folder = out / "results" / "amplify"
    judged = pd.read_parquet(folder / "generations.parquet")
    control = pd.read_parquet(folder / "random_control.parquet").set_index(["relation", "level", "evaluated"])
    summary = json.loads((folder / "summary.json").read_text())
    for relation in summary["forced_relations"]:
        for level in summary["levels"]:
            own = judged[
                (judged["neurons"] == "random")
                & (judged["forced"] == relation)
                & (judged["level"] == level)
                & (judged["relation"] == relation)
            ]
            assert len(own) and control.loc[(relation, level, "own"), "accuracy"] == pytest.approx(
                own["correct"].mean()
            )
            assert summary["random_own"][relation][level] == pytest.approx(own["correct"].mean())


def test_level_zero_gives_the_intra_generations_even_under_median_forcing(run, lre_dir, tmp_path):
    out, _, _ = run
    intra = pd.read_parquet(out / "results" / "intra" / "generations.parquet")
    amp = pd.read_parquet(out / "results" / "amplify" / "generations.parquet")
    amp = amp[amp["neurons"] != "random"]  # the random-neuron control is checked on its own below
    # a fresh study whose own force is median: level zero must become forced zeros (another condition name, a new
    # cache), and still generate exactly what intra generated with the relation's top-k off
    fresh = _study(out, lre_dir, tmp_path / "median-results", force="median")
    EXPERIMENTS["amplify"](fresh, levels=["zero", "100xp90"], max_other=0)
    again = pd.read_parquet(tmp_path / "median-results" / "amplify" / "generations.parquet")
    again = again[again["neurons"] != "random"]
    # not vacuous: on these prompts the generations do depend on the forced values
    by_level = again[again["relation"] == again["forced"]].pivot(index="text", columns="level", values="generation")
    assert (by_level["zero"] != by_level["100xp90"]).any()
    for relation in fresh.relations:
        want = intra[(intra["split"] == "P_eva") & (intra["relation"] == relation) & (intra["kind"] == "relation")]
        want = want.set_index("text")["generation"].sort_index()
        for table in (amp, again):
            got = table[(table["level"] == "zero") & (table["forced"] == relation) & (table["relation"] == relation)]
            assert got.set_index("text")["generation"].sort_index().to_dict() == want.to_dict()
        assert again.loc[again["level"] == "zero", "condition"].str.startswith("forced:").all()
    assert amp.loc[amp["level"] == "zero", "condition"].str.startswith("rel:").all()


def test_table_is_the_hand_computed_accuracies(run):
    out, _, _ = run
    folder = out / "results" / "amplify"
    table = pd.read_parquet(folder / "amplify.parquet")
    judged = pd.read_parquet(folder / "generations.parquet")
    judged = judged[judged["neurons"] != "random"]  # the top-k's table (the control has its own)
    relations = list(dict.fromkeys(table["relation"]))
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == len(relations) * (1 + len(LEVELS)) * 2
    assert list(dict.fromkeys(table["level"])) == ["original", *LEVELS]
    assert (table["ci_low"] <= table["accuracy"] + 1e-12).all() and (
        table["accuracy"] <= table["ci_high"] + 1e-12
    ).all()
    n_eval = judged[judged["level"] == "original"].groupby("relation").size()
    for row in table.itertuples():
        rows = (
            judged[judged["level"] == "original"]
            if row.level == "original"
            else judged[(judged["level"] == row.level) & (judged["forced"] == row.relation)]
        )
        if row.evaluated == "own":
            part = rows[rows["relation"] == row.relation]
            assert row.n == n_eval[row.relation] == len(part)
            assert row.accuracy == pytest.approx(part["correct"].mean())
        else:
            part = rows[rows["relation"] != row.relation]
            per_relation = [part.loc[part["relation"] == r, "correct"].mean() for r in relations if r != row.relation]
            assert row.n == len(part) == sum(n_eval[r] for r in relations if r != row.relation)
            assert row.accuracy == pytest.approx(np.mean(per_relation))
    # the tiny model answers its own relations: the original model is right on most prompts, and off is worse than on
    own = table[table["evaluated"] == "own"].set_index(["relation", "level"])["accuracy"]
    assert all(own[r, "original"] >= 0.5 for r in relations)
    assert all(own[r, "100xp90"] < own[r, "original"] for r in relations)
    for r in relations:
        assert (folder / f"amplify_{r}.png").is_file() and (folder / f"amplify_{r}.svg").read_text().startswith("<?xml")
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary) == {f.name for f in fields(AmplifySummary)} and summary["experiment"] == "amplify"
    assert summary["levels"] == LEVELS and summary["forced_relations"] == relations
    assert summary["own"][relations[0]]["p90"] == pytest.approx(own[relations[0], "p90"])


def test_max_other_evaluates_a_seeded_subsample_of_the_others(run, lre_dir, tmp_path):
    out, _, _ = run
    study = _study(out, lre_dir, tmp_path / "results")
    table = EXPERIMENTS["amplify"](study, levels=["p90"], max_other=2)
    other = table[table["evaluated"] == "other"]
    assert (other["n"] == 2).all()  # two relations: each has one other, 2 prompts of it
    again = EXPERIMENTS["amplify"](study, levels=["p90"], max_other=2)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ConfigError, match="max_other"):
        EXPERIMENTS["amplify"](study, levels=["p90"], max_other=-1)
    assert not (tmp_path / "results" / ".amplify.partial").exists()


def test_summary_is_typed_and_round_trips(run, tmp_path):
    from relneurons.experiments.summaries import read_summary, write_summary

    out, _, _ = run
    folder = out / "results" / "amplify"
    summary = read_summary(folder, AmplifySummary)
    own = (
        pd.read_parquet(folder / "amplify.parquet")
        .query("evaluated == 'own'")
        .set_index(["relation", "level"])["accuracy"]
    )
    for relation in summary.forced_relations:
        for level in ["original", *LEVELS]:
            assert summary.own[relation][level] == pytest.approx(own[relation, level])
        assert [lv for lv in LEVELS if relation in summary.own_not_below_original[lv]] == [
            lv for lv in LEVELS if own[relation, lv] >= own[relation, "original"]
        ]
    write_summary(tmp_path, summary)
    assert (tmp_path / "summary.json").read_text() == (folder / "summary.json").read_text()
