"""P_eva-2 is the LRE prompt_templates_zs (the paper's); P_eva-3 (our shipped file) is new wording; bad files are named clearly."""

import json
import re
from pathlib import Path

import pytest

from relneurons.data import load_relations
from relneurons.data.relations import PAPER_RELATIONS, Relation, Sample, registry
from relneurons.data.templates import check_new, load_templates, paper_eva2
from relneurons.errors import DataError


def _plain(text):  # an independent normalisation: collapse whitespace, lower case
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.fixture(scope="module")
def paper(lre_dir):
    return {r.name: r for r in load_relations(list(PAPER_RELATIONS), lre_dir)}


def test_shipped_templates_are_new_for_every_paper_relation(paper):
    shipped = load_templates(relations=PAPER_RELATIONS)
    assert set(PAPER_RELATIONS) <= set(shipped)
    for name, relation in paper.items():
        templates = shipped[name]
        assert len(templates) >= 2, name
        assert all(t.count("{}") == 1 for t in templates), name
        lre = {_plain(t) for t in (*relation.prompt_templates, *relation.prompt_templates_zs)}
        assert not lre & {_plain(t) for t in templates}, name
        assert len({_plain(t) for t in templates}) == len(templates), name
        check_new(relation, templates)  # the library's own check agrees


def test_a_user_file_replaces_the_shipped_one(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[templates]\ncompany_hq = ["Acme-style: {} sits in", "HQ of {}:"]\n')
    assert load_templates(path) == {"company_hq": ("Acme-style: {} sits in", "HQ of {}:")}


@pytest.mark.parametrize(
    "body, needle",
    [
        ("[templates\n", "not valid TOML"),
        ("[other]\na = 1\n", "no [templates] table"),
        ('[templates]\ncompany_hq = "{} is in"\n', "non-empty list"),
        ("[templates]\ncompany_hq = []\n", "non-empty list"),
        ('[templates]\ncompany_hq = ["The HQ is in"]\n', "exactly one '{}'"),
        ('[templates]\ncompany_hq = ["{} and {} are in"]\n', "exactly one '{}'"),
        ("[templates]\ncompany_hq = [3]\n", "must be a string"),
        ('[templates]\ncompany_hq = ["  {} "]\n', "no words"),
        ('[templates]\ncompany_hq = ["{} is  in", "{} IS in"]\n', "repeats"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path, body, needle):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(DataError) as info:
        load_templates(path)
    assert str(path) in str(info.value) and needle in str(info.value)
    if "company_hq" in body and "no [templates]" not in needle and "TOML" not in needle:
        assert "company_hq" in str(info.value)


def test_missing_file_and_missing_relation(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_templates(tmp_path / "nope.toml")
    path = tmp_path / "few.toml"
    path.write_text('[templates]\ncompany_hq = ["{} sits in"]\n')
    with pytest.raises(DataError, match="no templates for relation 'star_constellation'"):
        load_templates(path, ["company_hq", "star_constellation"])


def test_an_lre_template_is_refused_whatever_its_spacing_and_case(paper):
    relation = paper["company_hq"]
    sneaky = "  " + relation.prompt_templates[0].upper().replace(" ", "   ") + " "
    with pytest.raises(DataError) as info:
        check_new(relation, ["{} sits in", sneaky], "my.toml")
    assert "my.toml" in str(info.value) and "company_hq" in str(info.value) and "LRE template" in str(info.value)


def test_p_eva2_is_the_lre_zero_shot_list_less_the_p_det_templates(paper, lre_dir):
    """Against the JSON files read here: prompt_templates_zs, in order, minus exact repeats of prompt_templates."""
    for name, relation in paper.items():
        doc = json.loads((lre_dir / registry()[name]).read_text(encoding="utf-8"))
        expected = tuple(t for t in doc["prompt_templates_zs"] if t not in doc["prompt_templates"])
        assert paper_eva2(relation) == expected, name
    # App. K, Table 7 (below the dashed line) and Table 9 (landmark_continent repeats its P_det template in _zs)
    assert paper_eva2(paper["company_ceo"]) == ("The name of the CEO of {} is", "Who is the CEO of {}? Their name is")
    assert paper_eva2(paper["landmark_continent"]) == ("What continent is {} on? It is on",)


def test_a_relation_without_new_zero_shot_wording_has_no_p_eva2():
    rel = Relation(
        "toy", Path("toy.json"), ("{} is in",), (" {}  IS in",), None, None, None, (Sample("a", "b"),), "0" * 64
    )
    with pytest.raises(DataError, match=r"toy \(toy.json\) has no prompt_templates_zs that differ"):
        paper_eva2(rel)


def test_p_eva3_refuses_the_papers_own_p_eva2(paper):
    relation = paper["company_ceo"]
    with pytest.raises(DataError, match="P_eva-3"):
        check_new(relation, [paper_eva2(relation)[0]])
