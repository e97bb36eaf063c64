"""Prompt building and template selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relneurons.data import (
    DEFAULT_SUFFIX,
    PAPER_RELATIONS,
    Relation,
    Sample,
    build_prompts,
    load_relation,
    select_templates,
)
from relneurons.data.relations import registry
from relneurons.errors import ConfigError
from relneurons.pipeline.config import preset


@pytest.fixture(scope="module")
def ceo(lre_dir):
    return load_relation("company_ceo", lre_dir)


@pytest.fixture(scope="module")
def hq(lre_dir):
    return load_relation("company_hq", lre_dir)


def make_relation(icl=("{} is in",), zs=("Where is {}? It is in",)) -> Relation:
    return Relation("toy", Path("toy.json"), tuple(icl), tuple(zs), None, None, None, (Sample("a", "b"),), "0" * 64)


def test_paper_example(ceo):
    [prompt] = build_prompts(ceo, [("Panasonic Corporation", "Kazuhiro Tsuga")], templates=[0])
    assert prompt.text == "Panasonic Corporation's CEO is? Answer:"
    assert (prompt.relation, prompt.subject, prompt.object, prompt.template) == (
        "company_ceo",
        "Panasonic Corporation",
        "Kazuhiro Tsuga",
        "{}'s CEO is",
    )


def test_all_templates_sample_major(hq):
    prompts = build_prompts(hq, [Sample("Majorette", "Lyon"), {"subject": "Nintendo", "object": "Kyoto"}], "all")
    assert [p.text for p in prompts] == [
        "Majorette is headquartered in the city of? Answer:",
        "The headquarters of Majorette are in the city of? Answer:",
        "The headquarters of Majorette is in the city of? Answer:",
        "Where are the headquarters of Majorette? It is in the city of? Answer:",
        "Nintendo is headquartered in the city of? Answer:",
        "The headquarters of Nintendo are in the city of? Answer:",
        "The headquarters of Nintendo is in the city of? Answer:",
        "Where are the headquarters of Nintendo? It is in the city of? Answer:",
    ]
    assert [p.object for p in prompts] == ["Lyon"] * 4 + ["Kyoto"] * 4


def test_custom_suffix(ceo):
    [prompt] = build_prompts(ceo, [("Tesla", "Elon Musk")], templates="icl", suffix="")[:1]
    assert prompt.text == "Tesla's CEO is"


def test_subject_with_braces(ceo):
    [prompt] = build_prompts(ceo, [("{weird} Co {0}", "X")], templates=[1])
    assert prompt.text == "The CEO of {weird} Co {0} is? Answer:"
    # Other braces in a template are kept literally (str.format would choke on them).
    [prompt] = build_prompts(ceo, [("{x}", "X")], templates=["{name}: {} {0}"], suffix="")
    assert prompt.text == "{name}: {x} {0}"


def test_named_selections(ceo):
    assert select_templates(ceo, "icl") == ["{}'s CEO is", "The CEO of {} is"]
    assert select_templates(ceo, "standard") == select_templates(ceo, "icl")
    assert select_templates(ceo, "zs") == ["The name of the CEO of {} is", "Who is the CEO of {}? Their name is"]
    assert select_templates(ceo, "all") == select_templates(ceo, "icl") + select_templates(ceo, "zs")
    assert select_templates(ceo) == select_templates(ceo, "icl")  # the paper's P_det/P_eva by default


def test_all_deduplicates_keeping_order():
    rel = make_relation(icl=("{} is in", "{} lies in"), zs=("{} lies in", "Where is {}?"))
    assert select_templates(rel, "all") == ["{} is in", "{} lies in", "Where is {}?"]
    assert select_templates(rel, [1, 0]) == ["{} lies in", "{} is in"]  # indices count prompt_templates only


def test_indices_and_literals(ceo):
    assert select_templates(ceo, [1, "{} is run by"]) == ["The CEO of {} is", "{} is run by"]
    assert select_templates(ceo, "{} is led by") == ["{} is led by"]


@pytest.mark.parametrize(
    ("selection", "pattern"),
    [
        ("alll", r"templates.*'alll'.*icl, standard, zs, all.*did you mean 'all'"),
        ("{} and {}", r"templates.*has 2"),
        ([2], r"index 2 is out of range.*2 prompt_templates.*0\.\.1"),
        ([-1], r"index -1 is out of range"),
        ([], r"non-empty list"),
        ([1.5], r"neither a template index nor a template string"),
        (["no placeholder"], r"exactly one '\{\}'"),
    ],
)
def test_bad_selections(ceo, selection, pattern):
    with pytest.raises(ConfigError, match=pattern):
        select_templates(ceo, selection)


def test_empty_named_list_is_an_error():
    with pytest.raises(ConfigError, match=r"'toy'.*no prompt_templates_zs"):
        select_templates(make_relation(zs=()), "zs")


def test_default_suffix_is_the_papers():
    assert DEFAULT_SUFFIX == "? Answer:"


def test_an_index_into_a_missing_list_says_so():
    with pytest.raises(ConfigError, match=r"'toy'.*0 prompt_templates.*it has none"):
        select_templates(make_relation(icl=()), [0])


def _lre_json(lre_dir, name):
    return json.loads((lre_dir / registry()[name]).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "preset_name, expected",
    [("paper", lambda doc: doc["prompt_templates"]), ("quick", lambda doc: doc["prompt_templates"][:1])],
)
def test_presets_build_p_det_and_p_eva_from_the_lre_prompt_templates(lre_dir, preset_name, expected):
    """The paper's split (App. K, above the dashed line): P_det/P_eva use LRE prompt_templates, never _zs,
    checked against the JSON files read here independently of the loader."""
    selection = preset(preset_name)["data"]["templates"]
    for name in PAPER_RELATIONS:
        doc = _lre_json(lre_dir, name)
        relation = load_relation(name, lre_dir)
        subject, obj = doc["samples"][0]["subject"], doc["samples"][0]["object"]
        prompts = build_prompts(
            relation, [(subject, obj)], selection if isinstance(selection, str) else tuple(selection)
        )
        assert [p.template for p in prompts] == expected(doc), name
        assert [p.text for p in prompts] == [t.replace("{}", subject.strip()) + "? Answer:" for t in expected(doc)]
        only_zs = set(doc["prompt_templates_zs"]) - set(doc["prompt_templates"])
        assert not only_zs & {p.template for p in prompts}, name


def test_the_papers_ceo_example_is_a_p_eva_prompt_of_the_paper_preset(ceo):
    """App. K, Table 7, above the dashed line."""
    texts = [
        p.text
        for p in build_prompts(ceo, [("Panasonic Corporation", "Kazuhiro Tsuga")], preset("paper")["data"]["templates"])
    ]
    assert texts == ["Panasonic Corporation's CEO is? Answer:", "The CEO of Panasonic Corporation is? Answer:"]
