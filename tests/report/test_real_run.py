"""The report and `compare` on a real run folder: `relneurons run` of the tiny study (tests/faults/tiny_study.py).

A random tiny Llama answers its own two relations; the pipeline writes manifest.json, config.toml, the store,
the rankings and every core experiment. Nothing here is hand-made: the report must read what the run holds.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from faults.tiny_study import answering_relations, save_model, tiny_overrides

from relneurons import io
from relneurons.experiments.summaries import InterSummary, IntraSummary, read_summary
from relneurons.pipeline.compare import main_table
from relneurons.report import build_report


@pytest.fixture(scope="module")
def real_run(lre_dir, tmp_path_factory) -> Path:
    from relneurons.pipeline import load_config, run_study

    model = save_model(tmp_path_factory.mktemp("tiny-llama") / "model")
    relations = answering_relations(model, lre_dir, tmp_path_factory.mktemp("relations"))
    out = tmp_path_factory.mktemp("real-run") / "run"
    return run_study(load_config("quick", overrides=tiny_overrides(model, relations, lre_dir, out)), quiet=True)


def _text(page: str) -> str:
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"</?(b|span|code)\b[^>]*>", "", page)  # inline markup: no space
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_report_of_a_real_run_states_its_settings_and_tests(real_run, tmp_path):
    run = Path(shutil.copytree(real_run, tmp_path / "run"))
    intra = read_summary(run / "results" / "intra", IntraSummary)
    inter = read_summary(run / "results" / "inter", InterSummary)
    assert (
        intra.random_seeds == [0, 1] and intra.n_relations == 2 and len(intra.tests) == 4
    )  # 2 relations x P_eva, P_det
    text = _text(build_report(run).read_text(encoding="utf-8"))
    # settings: what manifest.json / the store hold (random seeds included), not keys the pipeline never writes
    assert "2 random-k sets (seeds 0, 1), sampling seed 0" in text
    assert "neuron set ffn" in text and "correctness rule robust" in text
    assert intra.k_text in text
    # per relation: percentile among the random sets, p, interval, number of sets, from the summary
    for t in intra.tests:
        assert f"{t.relation}:" in text
        pct = "n/a" if t.percentile != t.percentile else f"{t.percentile:.0f}"
        assert f"percentile {pct} among 2 random sets" in text
    assert (
        f"for {intra.relation_below_random} of {intra.n_relations} relations. With 2 random sets this describes" in text
    )
    assert f"{inter.own_drop_exceeds_mean_other} of {inter.compared} relations" in text
    # the specificity test leads the inter section, on both splits, with the summary's numbers
    assert [t.split for t in inter.specificity] == ["P_eva", "P_det"]
    eva = inter.specificity[0]
    assert eva.n_relations == 2 and eva.method == "exact permutation (2! = 2)"
    assert "Relation specificity, P_eva:" in text
    # the last section lists every test of the run with its Holm and BH p, counted as the run's tables say
    from relneurons.experiments.multiplicity import run_tests
    from relneurons.report.reader import read_table

    tables = {
        "intra": read_table(run / "results" / "intra", "tests"),
        "inter (specificity)": read_table(run / "results" / "inter", "specificity"),
    }
    every = run_tests(tables).dropna(subset=["p"])
    assert (
        f"{len(every)} tests with a p-value" in text
        and f"{int((every['p_bh'] < 0.05).sum())} after Benjamini-Hochberg" in text
    )
    # compare reads the same summaries: the numbers agree with the report's source
    table = main_table(run).set_index("relation")
    for t in intra.tests:
        if t.split == "P_eva":
            assert table.loc[t.relation, "percentile"] == t.percentile or t.percentile != t.percentile
            assert table.loc[t.relation, "n_random_sets"] == 2
    for o in inter.relations:
        assert table.loc[o.relation, "own_drop"] == o.own_drop or o.own_drop != o.own_drop


def test_report_notes_an_old_summary_instead_of_guessing(real_run, tmp_path):
    run = Path(shutil.copytree(real_run, tmp_path / "run"))
    io.write_json(run / "results" / "intra" / "summary.json", {"k": 8, "seeds": 2})  # a summary of an older version
    text = _text(build_report(run).read_text(encoding="utf-8"))
    assert "is not a version-2 intra summary" in text and "rerun the intra experiment" in text
    assert "among 2 random sets" not in text  # no per-relation test without a readable summary
