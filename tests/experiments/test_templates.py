"""The templates experiment end to end on a tiny random model with the real LRE data."""

import json

import pandas as pd
import pytest

from relneurons.data.templates import load_templates
from relneurons.errors import DataError, InputError
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.report import figures
from tiny_study import tiny_study


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    s = tiny_study(tmp_path_factory.mktemp("templates"), lre_dir)
    EXPERIMENTS["templates"](s)
    return s


def test_both_splits_side_by_side_for_every_relation(study):
    table = pd.read_parquet(study.out / "templates" / "templates.parquet")
    assert len(table) == len(study.relations) * 2 * 3
    assert set(table["split"]) == {"P_eva", "P_eva-2"} and set(table["condition"]) == {"original", "random", "relation"}
    ok = table.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["accuracy"] + 1e-12) & (ok["accuracy"] <= ok["ci_high"] + 1e-12)).all()
    assert (study.out / "templates" / "templates.png").stat().st_size > 1000


def test_p_eva2_is_the_same_triples_with_the_new_templates(study):
    judged = pd.read_parquet(study.out / "templates" / "generations.parquet")
    shipped = load_templates()
    original = judged[judged["condition"] == "original"]
    for relation in study.relations:
        eva = original[(original.relation == relation) & (original.split == "P_eva")]
        eva2 = original[(original.relation == relation) & (original.split == "P_eva-2")]
        assert set(eva2["template"]) == set(shipped[relation])
        assert not set(eva2["template"]) & set(eva["template"])
        # every triple once per new template
        expected = sorted(zip(eva["subject"], eva["object"])) * len(shipped[relation])
        assert sorted(zip(eva2["subject"], eva2["object"])) == sorted(expected)
        assert all(t.endswith(study.settings["suffix"]) for t in eva2["text"])
        for template, subject, text in zip(eva2["template"], eva2["subject"], eva2["text"]):
            assert text == template.replace("{}", subject) + study.settings["suffix"]


def test_table_numbers_are_the_generations_counted(study):
    judged = pd.read_parquet(study.out / "templates" / "generations.parquet")
    table = pd.read_parquet(study.out / "templates" / "templates.parquet").set_index(["relation", "split", "condition"])
    per_template = pd.read_parquet(study.out / "templates" / "per_template.parquet")
    for relation in study.relations:
        part = judged[(judged.relation == relation) & (judged.split == "P_eva-2")]
        rel = part[part.condition == study.rel(relation, 0, study.k)]
        assert table.loc[(relation, "P_eva-2", "relation"), "accuracy"] == pytest.approx(rel["correct"].mean())
        assert table.loc[(relation, "P_eva-2", "relation"), "n"] == len(rel)
        random = part[part.condition.str.startswith("random:")]
        assert table.loc[(relation, "P_eva-2", "random"), "accuracy"] == pytest.approx(random["correct"].mean())
        rows = per_template[(per_template.relation == relation) & (per_template.split == "P_eva-2") & (per_template.condition == "relation")]
        assert (rows["n"] * rows["accuracy"]).sum() == pytest.approx(rel["correct"].sum())
    summary = json.loads((study.out / "templates" / "summary.json").read_text())
    assert summary["template_file"].endswith("templates_eva2.toml") and summary["relations"] == len(study.relations)


def test_a_user_file_with_an_lre_template_fails_before_generating(study, tmp_path):
    bad = tmp_path / "t.toml"
    lines = [f'{r} = ["{{}} is new here"]' for r in study.relations]
    lines[0] = f'{study.relations[0]} = ["{{}} is headquartered in the city of"]'  # LRE's company_hq template
    bad.write_text("[templates]\n" + "\n".join(lines) + "\n")
    before = (study.out / "generations.parquet").stat().st_mtime_ns
    with pytest.raises(DataError, match="LRE template"):
        EXPERIMENTS["templates"](study, file=str(bad))
    assert (study.out / "generations.parquet").stat().st_mtime_ns == before
    assert not list(study.out.glob(".templates.partial/*.parquet"))


def test_template_plot_needs_two_splits(tmp_path):
    one = pd.DataFrame({"relation": ["a"], "split": ["P_eva"], "condition": ["original"], "accuracy": [0.5],
                        "ci_low": [0.4], "ci_high": [0.6]})
    with pytest.raises(InputError, match="two splits"):
        figures.plot_templates(one, tmp_path / "f")
