"""Prompt building and template selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from relneurons.data import DEFAULT_SUFFIX, Relation, Sample, build_prompts, load_relation, select_templates
from relneurons.errors import ConfigError


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
    prompts = build_prompts(hq, [Sample("Majorette", "Lyon"), {"subject": "Nintendo", "object": "Kyoto"}])
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
    assert select_templates(ceo) == select_templates(ceo, "icl") + select_templates(ceo, "zs")


def test_all_deduplicates_keeping_order():
    rel = make_relation(icl=("{} is in", "{} lies in"), zs=("{} lies in", "Where is {}?"))
    assert select_templates(rel, "all") == ["{} is in", "{} lies in", "Where is {}?"]
    assert select_templates(rel, [2, 0]) == ["Where is {}?", "{} is in"]


def test_indices_and_literals(ceo):
    assert select_templates(ceo, [3, "{} is run by"]) == ["Who is the CEO of {}? Their name is", "{} is run by"]
    assert select_templates(ceo, "{} is led by") == ["{} is led by"]


@pytest.mark.parametrize(
    ("selection", "pattern"),
    [
        ("alll", r"templates.*'alll'.*all, icl, standard, zs.*did you mean 'all'"),
        ("{} and {}", r"templates.*has 2"),
        ([4], r"index 4 is out of range.*0\.\.3"),
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
