"""App. E: resilient/sensitive split, group statistics, the Wilcoxon step, and the experiment's wiring."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from synthetic_store import synthetic_store

from relneurons.errors import ConfigError, DataError
from relneurons.experiments.frequency import (
    FrequencySummary,
    attach_counts,
    classify,
    fact_outcomes,
    frequency,
    group_statistics,
    relative_difference,
    wilcoxon_across_relations,
)
from relneurons.experiments.study import Study, StudyConfig
from relneurons.experiments.summaries import read_summary
from relneurons.expertise.identify import IdentifyConfig, identify


def test_classify_splits_the_originally_correct_prompts():
    groups = classify([True, True, False, False], [True, False, True, False])
    assert groups.tolist() == ["resilient", "sensitive", "wrong", "wrong"]


def test_group_statistics_on_a_hand_made_table():
    facts = pd.DataFrame(
        {
            "relation": ["r"] * 6 + ["s"] * 3,
            "group": [
                "resilient",
                "resilient",
                "resilient",
                "sensitive",
                "sensitive",
                "wrong",
                "resilient",
                "resilient",
                "sensitive",
            ],
            "count": [10, 20, 90, 4, np.nan, 1000, 5, 7, 0],
        }
    )
    table = group_statistics(facts, ["r", "s", "t"]).set_index("relation")
    r = table.loc["r"]
    assert (r.n_facts, r.n_correct, r.n_missing_count, r.n_resilient, r.n_sensitive) == (6, 5, 1, 3, 1)
    assert r.mean_resilient == 40 and r.median_resilient == 20 and r.mean_sensitive == 4 and r.median_sensitive == 4
    assert r.relative_difference == pytest.approx((40 - 4) / 4)  # the "wrong" prompt's 1000 is not used
    assert table.loc["s"].mean_resilient == 6 and np.isnan(table.loc["s"].relative_difference)  # sensitive mean 0
    assert table.loc["t"].n_facts == 0 and np.isnan(table.loc["t"].mean_resilient)


def _plain_majority(rows):
    """Reference: per fact, a plain loop over its prompts; answered = more than half right."""
    out = {}
    for relation, subject, obj, before, after in rows:
        entry = out.setdefault((relation, subject, obj), [0, 0, 0])
        entry[0] += 1
        entry[1] += before
        entry[2] += after
    groups = {}
    for key, (n, right_before, right_after) in out.items():
        answered_before, answered_after = 2 * right_before > n, 2 * right_after > n
        groups[key] = "wrong" if not answered_before else ("resilient" if answered_after else "sensitive")
    return groups


def test_facts_not_prompts_are_the_unit():
    """Several prompts (templates) of one fact give one outcome, by strict majority of its templates."""
    rows = [
        ("r", "a", "x", 1, 1),
        ("r", "a", "x", 1, 1),
        ("r", "a", "x", 1, 0),  # 3/3 before, 2/3 after: resilient
        ("r", "b", "y", 1, 0),
        ("r", "b", "y", 1, 1),  # 2/2 before, 1/2 after (a tie): sensitive
        ("r", "c", "z", 1, 1),
        ("r", "c", "z", 0, 1),  # 1/2 before (a tie): wrong, not counted
        ("s", "a", "x", 1, 1),  # same subject/object, other relation
        ("r", "d", "w", 1, 0),
    ]  # one template: the prompt's outcome
    prompts = pd.DataFrame(rows, columns=["relation", "subject", "object", "correct_original", "correct_deactivated"])
    facts = fact_outcomes(prompts.assign(template="{} t"))
    assert len(facts) == 5 and facts["n_templates"].tolist() == [3, 2, 2, 1, 1]
    assert {
        (r, s, o): g for r, s, o, g in zip(facts.relation, facts.subject, facts.object, facts.group)
    } == _plain_majority(rows)
    assert facts.loc[0, "share_deactivated"] == pytest.approx(2 / 3)
    # the group table counts facts: relation r has 4 facts, 3 answered (a, b, d), a prompt-level count would say 7 and 6
    table = group_statistics(
        attach_counts(
            facts,
            pd.DataFrame(
                {"relation": ["r"] * 4, "subject": list("abcd"), "object": list("xyzw"), "count": [10, 2, 99, 4]}
            ),
        ),
        ["r"],
    )
    row = table.set_index("relation").loc["r"]
    assert (row.n_facts, row.n_correct, row.n_resilient, row.n_sensitive) == (4, 3, 1, 2)
    assert row.mean_resilient == 10 and row.mean_sensitive == 3  # c's 99 (not answered) is not used


@pytest.mark.parametrize("seed", range(3))
def test_fact_outcomes_match_a_plain_loop_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    n = 60
    rows = [
        (
            "r" if rng.random() < 0.5 else "s",
            f"s{rng.integers(8)}",
            f"o{rng.integers(2)}",
            int(rng.random() < 0.7),
            int(rng.random() < 0.4),
        )
        for _ in range(n)
    ]
    prompts = pd.DataFrame(rows, columns=["relation", "subject", "object", "correct_original", "correct_deactivated"])
    facts = fact_outcomes(prompts)
    assert dict(zip(zip(facts.relation, facts.subject, facts.object), facts.group)) == _plain_majority(rows)
    assert facts["n_templates"].sum() == n


def test_fact_outcomes_name_missing_columns():
    from relneurons.errors import InputError

    with pytest.raises(InputError, match="correct_deactivated"):
        fact_outcomes(pd.DataFrame({"relation": [], "subject": [], "object": [], "correct_original": []}))


def test_relative_difference_is_signed_and_undefined_without_sensitive_counts():
    assert relative_difference(30.0, 20.0) == 0.5 and relative_difference(10.0, 20.0) == -0.5
    assert np.isnan(relative_difference(5.0, 0.0)) and np.isnan(relative_difference(float("nan"), 3.0))


def means_table(resilient, sensitive):
    n = len(resilient)
    return pd.DataFrame(
        {
            "relation": [f"r{i}" for i in range(n)],
            "n_resilient": 1,
            "n_sensitive": 1,
            "mean_resilient": resilient,
            "mean_sensitive": sensitive,
        }
    )


def test_wilcoxon_hand_checked_small_cases():
    # differences 1, 2, 3, 4, 5 all positive: exact P(W+ >= 15) = 1/32
    test = wilcoxon_across_relations(means_table([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]))
    assert test["p_greater"] == pytest.approx(1 / 32) and test["p_two_sided"] == pytest.approx(2 / 32)
    # differences 1, 2, -3, 4, 5: W+ = 12; subsets of {1..5} with sum >= 12 are the complements of those with
    # sum <= 3 ({}, {1}, {2}, {3}, {1,2}): P(W+ >= 12) = 5/32
    test = wilcoxon_across_relations(means_table([2, 3, 0, 5, 6], [1, 1, 3, 1, 1]))
    assert test["p_greater"] == pytest.approx(5 / 32) and test["p_two_sided"] == pytest.approx(10 / 32)
    assert (test["resilient_higher"], test["sensitive_higher"], test["min_p_two_sided"]) == (4, 1, 2 / 32)


def exact_signed_rank_p(d):
    """Slow reference: enumerate all 2^n sign flips of the ranks (no ties, no zeros)."""
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    sums = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(d))]
    total = ranks.sum()
    greater = np.mean([s >= observed for s in sums])
    two = np.mean(
        [abs(s - total / 2) >= abs(observed - total / 2) for s in sums]
    )  # the null is symmetric about total/2
    return greater, two


@pytest.mark.parametrize("seed", range(4))
def test_wilcoxon_matches_an_exact_enumeration_and_scipy(seed):
    rng = np.random.default_rng(seed)
    n = 9
    a, b = rng.gamma(2, 50, n), rng.gamma(2, 40, n)
    test = wilcoxon_across_relations(means_table(a, b))
    greater, two = exact_signed_rank_p(a - b)
    assert test["p_greater"] == pytest.approx(greater) and test["p_two_sided"] == pytest.approx(two)
    assert test["p_two_sided"] == pytest.approx(stats.wilcoxon(a, b).pvalue)


def test_wilcoxon_uses_only_relations_with_both_groups_and_says_when_nothing_differs():
    table = means_table([5, 7, 9], [1, 7, 2]).assign(n_sensitive=[1, 1, 0])
    test = wilcoxon_across_relations(table)
    assert test["relations"] == ["r0", "r1"] and test["n_nonzero"] == 1 and test["p_two_sided"] == pytest.approx(1.0)
    empty = wilcoxon_across_relations(means_table([3, 3], [3, 3]))
    assert np.isnan(empty["p_two_sided"]) and "nothing to test" in empty["note"]


def test_attach_counts_leaves_unknown_facts_missing():
    prompts = pd.DataFrame({"relation": ["r", "r"], "subject": ["a", "b"], "object": ["x", "y"], "template": [0, 0]})
    counts = pd.DataFrame({"relation": ["r", "q"], "subject": ["a", "b"], "object": ["x", "y"], "count": [3, 9]})
    out = attach_counts(prompts, counts)
    assert out["count"].tolist()[0] == 3 and np.isnan(out["count"].tolist()[1])


# ------------------------------------------------------------------ experiment


@pytest.fixture()
def study(tmp_path, monkeypatch):
    """A Study on the synthetic store whose P_eva and judging are hand-made (no model is loaded)."""
    store, _, _ = synthetic_store(tmp_path / "store")
    identify(store.folder, tmp_path / "id", IdentifyConfig(k=10, min_positives=5), progress=False)
    s = Study(store, tmp_path / "id", tmp_path / "out", StudyConfig(k=10), progress=False)
    subjects = [f"s{i}" for i in range(8)]
    s.__dict__["eval_prompts"] = pd.DataFrame(
        {
            "relation": ["alpha"] * 4 + ["beta"] * 4,
            "subject": subjects,
            "object": ["o"] * 8,
            "template": "{} is",
            "text": [f"{x} is" for x in subjects],
        }
    )
    # original: s0..s6 right (s7 wrong); deactivated: s0, s1 (alpha) and s4 (beta) stay right
    outcome = {"original": set(subjects[:7]), "deactivated": {"s0", "s1", "s4"}}
    calls = []

    def judge(pairs, max_new_tokens=2, desc=""):
        calls.append(pairs)
        right = [
            subject in outcome["original" if c == "original" else "deactivated"]
            for subject, c in zip(pairs["subject"], pairs["condition"])
        ]
        return pairs.assign(generation=["o" if r else "?" for r in right], correct=right)

    monkeypatch.setattr(s, "judge", judge)
    monkeypatch.setattr(Study, "rule", property(lambda self: "robust"))  # the synthetic store records no rule
    s.calls = calls
    return s


def test_the_experiment_splits_counts_and_tests(study, tmp_path):
    counts = tmp_path / "facts.csv"
    counts.write_text(
        "relation,subject,object,count\nalpha,s0,o,100\nalpha,s1,o,50\nalpha,s2,o,10\nalpha,s3,o,0\n"
        "beta,s4,o,8\nbeta,s5,o,2\nbeta,s6,o,4\nother,s0,o,1\n"
    )
    table = frequency(study, counts=str(counts)).set_index("relation")
    assert {c for pairs in study.calls for c in pairs["condition"]} == {"original", "rel:alpha:0-10", "rel:beta:0-10"}
    assert (
        table.loc["alpha", "mean_resilient"] == 75 and table.loc["alpha", "mean_sensitive"] == 5
    )  # s3 (0) and s2 (10)
    assert table.loc["beta", "mean_resilient"] == 8 and table.loc["beta", "mean_sensitive"] == 3
    assert table.loc["alpha", "relative_difference"] == pytest.approx(14.0)
    folder = study.out / "frequency"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["resilient"] == 3 and summary["sensitive"] == 4 and summary["wilcoxon"]["n_relations"] == 2
    assert summary["facts"] == summary["prompts"] == 8 and summary["unit"].startswith("fact")
    assert summary["wilcoxon"]["p_two_sided"] == pytest.approx(stats.wilcoxon([75, 8], [5, 3]).pvalue)
    typed = read_summary(folder, FrequencySummary)
    assert typed.wilcoxon.resilient_higher == 2 and typed.source == "counts" and not typed.skipped
    facts = pd.read_parquet(folder / "facts.parquet")
    assert facts.set_index("subject")["group"].to_dict() == {
        "s0": "resilient",
        "s1": "resilient",
        "s2": "sensitive",
        "s3": "sensitive",
        "s4": "resilient",
        "s5": "sensitive",
        "s6": "sensitive",
        "s7": "wrong",
    }
    assert (folder / "frequency.png").is_file() and (folder / "frequency.csv").is_file()


def test_the_experiment_counts_a_corpus_itself(study, tmp_path):
    (tmp_path / "corpus.txt").write_text("s0 o\n\ns0 and o again\n\ns2 o\n\ns5\n")
    table = frequency(study, corpus=str(tmp_path / "corpus.txt")).set_index("relation")
    counted = pd.read_csv(study.out / "frequency" / "fact_counts.csv").set_index("subject")["count"]
    assert counted.to_dict() == {"s0": 2, "s1": 0, "s2": 1, "s3": 0, "s4": 0, "s5": 0, "s6": 0, "s7": 0}
    assert table.loc["alpha", "mean_resilient"] == 1 and table.loc["alpha", "mean_sensitive"] == 0.5


def test_without_counts_it_is_skipped_with_a_note_and_no_generation(study):
    frequency(study)
    summary = json.loads((study.out / "frequency" / "summary.json").read_text())
    assert summary["skipped"] and "--opt counts=" in summary["how"] and study.calls == []
    assert read_summary(study.out / "frequency", FrequencySummary).skipped


def test_bad_counts_fail_before_any_generation(study, tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        frequency(study, counts="a.csv", corpus="b")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("relation,subject,object,count\ncompany_hq,s0,o,3\n")
    with pytest.raises(
        DataError, match=r"no count for any evaluated fact of alpha, beta \(its relations: company_hq\)"
    ):
        frequency(study, counts=str(wrong))
    assert study.calls == [] and not (study.out / "frequency").exists()


def test_the_figure_draws_undefined_differences_and_names_missing_columns(tmp_path):
    from relneurons.errors import InputError
    from relneurons.plots.figures import plot_frequency

    table = pd.DataFrame(
        {
            "relation": ["a", "b"],
            "n_resilient": [0, 3],
            "n_sensitive": [2, 1],
            "mean_resilient": [np.nan, 4.0],
            "mean_sensitive": [1.0, 0.0],
            "relative_difference": [np.nan, np.nan],
        }
    )
    plot_frequency(table, tmp_path / "fig")
    png, svg = tmp_path / "fig.png", tmp_path / "fig.svg"
    assert png.stat().st_size > 0 and "no resilient facts" in svg.read_text()
    with pytest.raises(InputError, match="relative_difference"):
        plot_frequency(table.drop(columns="relative_difference"), tmp_path / "fig2")


def test_the_experiment_writes_one_row_per_fact_when_facts_have_several_templates(study, tmp_path):
    eva = study.eval_prompts
    study.__dict__["eval_prompts"] = pd.concat(
        [eva, eva.assign(template="{} was", text=[f"{x} was" for x in eva["subject"]])], ignore_index=True
    )
    counts = tmp_path / "facts.csv"
    counts.write_text("relation,subject,object,count\nalpha,s0,o,100\nalpha,s2,o,10\nbeta,s4,o,8\nbeta,s5,o,2\n")
    frequency(study, counts=str(counts))
    folder = study.out / "frequency"
    facts, prompts = pd.read_parquet(folder / "facts.parquet"), pd.read_parquet(folder / "prompts.parquet")
    assert len(prompts) == 16 and len(facts) == 8 and (facts["n_templates"] == 2).all()
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["facts"], summary["prompts"], summary["resilient"], summary["sensitive"]) == (8, 16, 3, 4)
