"""The templates experiment end to end on a tiny random model with the real LRE data."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import tiny_models
from tiny_study import tiny_study

from relneurons.data.relations import registry
from relneurons.data.templates import load_templates
from relneurons.errors import DataError, InputError
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.summaries import read_summary
from relneurons.experiments.templates import TemplatesSummary, eval2_prompts
from relneurons.plots import figures


@pytest.fixture(scope="module")
def study(tmp_path_factory, lre_dir):
    # LRE's zero-shot templates are long ("What is the name of the constellation that {} is part of? ..."): the tiny
    # model gets a 512-position context so that every P_eva-2 prompt fits its small tokenizer's token counts
    base = tiny_models.CONFIGS["llama"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(tiny_models.CONFIGS, "llama", lambda: _longer(base()))
        s = tiny_study(tmp_path_factory.mktemp("templates"), lre_dir)
    EXPERIMENTS["templates"](s, extra="shipped")
    return s


def _longer(config):
    config.max_position_embeddings = 512
    return config


def _zs_only(lre_dir, relation):
    """The relation's prompt_templates_zs that are not prompt_templates, read from the JSON file here."""
    doc = json.loads((lre_dir / registry()[relation]).read_text(encoding="utf-8"))
    return [t for t in doc["prompt_templates_zs"] if t not in doc["prompt_templates"]], doc["prompt_templates"]


def test_both_splits_side_by_side_for_every_relation(study):
    table = pd.read_parquet(study.out / "templates" / "templates.parquet")
    assert len(table) == len(study.relations) * 3 * 3
    assert set(table["split"]) == {"P_eva", "P_eva-2", "P_eva-3"} and set(table["condition"]) == {
        "original",
        "random",
        "relation",
    }
    ok = table.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["accuracy"] + 1e-12) & (ok["accuracy"] <= ok["ci_high"] + 1e-12)).all()
    assert (study.out / "templates" / "templates.png").stat().st_size > 1000
    assert (study.out / "templates" / "templates_extra.png").stat().st_size > 1000


@pytest.mark.parametrize("split_name", ["P_eva-2", "P_eva-3"])
def test_new_splits_are_the_same_triples_with_the_new_templates(study, lre_dir, split_name):
    """P_eva-2 = the LRE prompt_templates_zs (the paper's §5.3), P_eva-3 = our shipped file; P_eva = prompt_templates[0]."""
    judged = pd.read_parquet(study.out / "templates" / "generations.parquet")
    shipped = load_templates()
    original = judged[judged["condition"] == "original"]
    for relation in study.relations:
        zs_only, standard = _zs_only(lre_dir, relation)
        new = zs_only if split_name == "P_eva-2" else list(shipped[relation])
        eva = original[(original.relation == relation) & (original.split == "P_eva")]
        eva2 = original[(original.relation == relation) & (original.split == split_name)]
        assert set(eva["template"]) == {standard[0]}  # the store's (quick preset's) template 0 of prompt_templates
        assert set(eva2["template"]) == set(new)
        assert not set(eva2["template"]) & set(eva["template"])
        # every triple once per new template
        expected = sorted(zip(eva["subject"], eva["object"])) * len(new)
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
        rows = per_template[
            (per_template.relation == relation)
            & (per_template.split == "P_eva-2")
            & (per_template.condition == "relation")
        ]
        assert (rows["n"] * rows["accuracy"]).sum() == pytest.approx(rel["correct"].sum())
    summary = json.loads((study.out / "templates" / "summary.json").read_text())
    assert summary["eva3_source"].endswith("templates_eva2.toml") and summary["relations"] == len(study.relations)
    assert summary["splits"] == ["P_eva", "P_eva-2", "P_eva-3"]
    typed = read_summary(study.out / "templates", TemplatesSummary)
    tests = pd.read_parquet(study.out / "templates" / "tests.parquet")
    for row in tests.itertuples():  # the relative drops are (original - relation-k) / original of the tests' rows
        expected = (row.acc_original - row.acc_relation) / row.acc_original if row.acc_original else float("nan")
        assert typed.relative_drop[row.relation][row.split] == pytest.approx(expected, nan_ok=True)
    assert typed.per_split["P_eva-2"].mean_acc_relation == pytest.approx(
        tests[tests.split == "P_eva-2"]["acc_relation"].mean()
    )


def test_a_user_file_with_an_lre_template_fails_before_generating(study, tmp_path):
    bad = tmp_path / "t.toml"
    lines = [f'{r} = ["{{}} is new here"]' for r in study.relations]
    lines[0] = f'{study.relations[0]} = ["{{}} is headquartered in the city of"]'  # LRE's company_hq template
    bad.write_text("[templates]\n" + "\n".join(lines) + "\n")
    before = (study.out / "generations.parquet").stat().st_mtime_ns
    with pytest.raises(DataError, match="LRE template"):
        EXPERIMENTS["templates"](study, extra=str(bad))
    assert (study.out / "generations.parquet").stat().st_mtime_ns == before
    assert not list(study.out.glob(".templates.partial/*.parquet"))


@pytest.mark.parametrize("selection", ["all", "zs"])
def test_a_store_collected_with_the_zero_shot_templates_is_refused(study, selection):
    """P_eva-2 must be wording the neurons were not identified with (a stand-in study whose settings say so)."""
    fake = SimpleNamespace(
        settings={**study.settings, "templates": selection},
        relations=study.relations,
        store=study.store,
        data_dir=study.data_dir,
    )
    with pytest.raises(
        DataError, match=rf"templates='{selection}'.*P_eva-2 template.*collect with templates = \"icl\""
    ):
        eval2_prompts(fake)


def test_template_plot_needs_two_splits(tmp_path):
    one = pd.DataFrame(
        {
            "relation": ["a"],
            "split": ["P_eva"],
            "condition": ["original"],
            "accuracy": [0.5],
            "ci_low": [0.4],
            "ci_high": [0.6],
        }
    )
    with pytest.raises(InputError, match="two splits"):
        figures.plot_templates(one, tmp_path / "f")
