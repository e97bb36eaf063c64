"""Concepts from LRE subject types, and the balanced concept prompts (paper §5.4, App. H)."""

import json
from collections import Counter

import pytest

from relneurons.data import load_relations
from relneurons.data.concepts import (
    ablation_prompts,
    concept_examples,
    concepts_of,
    load_concept_spec,
    sample_subjects,
    select_concepts,
)
from relneurons.data.relations import parse_relation
from relneurons.errors import ConfigError, DataError


def relation(name, domain, subjects, template="{} is", objects=None):
    doc = {
        "prompt_templates": [template],
        "properties": {"domain_name": domain} if domain else {},
        "samples": [{"subject": s, "object": o} for s, o in zip(subjects, objects or ["x"] * len(subjects))],
    }
    return parse_relation(json.dumps(doc).encode(), f"/made/up/{name}.json", name)


@pytest.fixture(scope="module")
def real(lre_dir):
    spec = load_concept_spec()
    relations = {r.name: r for r in load_relations(list(spec.relations), lre_dir)}
    return spec, relations, concepts_of(list(relations.values()), spec.extra)


def test_shipped_file_has_novel_templates_with_one_slot():
    spec = load_concept_spec()
    assert len(spec.templates) >= 5 and all(t.count("{}") == 1 for t in spec.templates)
    assert "{} can" in spec.templates and "{} has a" in spec.templates


def test_concepts_are_the_subject_types_read_straight_from_the_lre_files(real, lre_dir):
    spec, _, found = real
    expected = {}
    for path in sorted((lre_dir / "factual").glob("*.json")):  # independent count: raw JSON, every factual file
        doc = json.loads(path.read_text())
        expected.setdefault(doc["properties"]["domain_name"], set()).update(
            s["subject"].strip() for s in doc["samples"]
        )
    presidents = set()
    for stem in ("presidents_birth_year", "presidents_election_year"):
        presidents |= {
            s["subject"].strip() for s in json.loads((lre_dir / "factual" / f"{stem}.json").read_text())["samples"]
        }
    assert set(found) == set(expected) | {"president"}
    for name, subjects in expected.items():
        assert set(found[name].subjects) == subjects and len(found[name].subjects) == len(subjects), name
    assert set(found["president"].subjects) == presidents and presidents <= set(found["person"].subjects)
    assert {"person", "company", "landmark", "star", "product", "pokemon", "superhero", "president"} <= set(found)


def test_examples_are_balanced_per_template_and_negatives_are_never_members(real):
    spec, _, found = real
    chosen, _ = select_concepts(found, "all", 10)
    subjects = {c: sample_subjects(found[c], 15, seed=0) for c in chosen}
    pool, examples, skipped = concept_examples(found, subjects, spec.templates, ratio=4, seed=0)
    assert not skipped and set(examples["concept"]) == set(chosen)
    assert len(pool) == len(set(pool["text"])) == len({s for v in subjects.values() for s in v}) * len(spec.templates)
    rows = examples.join(pool, on="row")
    for concept, group in rows.groupby("concept"):
        pos, neg = group[group["positive"]], group[~group["positive"]]
        assert set(pos["subject"]) == set(subjects[concept])
        assert not set(neg["subject"]) & set(found[concept].subjects)  # e.g. no president is a negative for person
        assert len(neg) == 4 * len(pos)
        pos_t, neg_t = Counter(pos["template"]), Counter(neg["template"])
        assert set(pos_t) == set(neg_t) == set(spec.templates)
        assert all(neg_t[t] == 4 * pos_t[t] == 4 * len(subjects[concept]) for t in spec.templates)
        assert not group.duplicated("row").any()


def test_same_seed_same_examples_other_seed_others(real):
    spec, _, found = real
    chosen = ["person", "star", "pokemon"]

    def build(seed):
        subjects = {c: sample_subjects(found[c], 12, seed) for c in chosen}
        pool, examples, _ = concept_examples(found, subjects, spec.templates, 4, seed)
        return examples.join(pool, on="row")

    assert build(0).equals(build(0))
    assert not build(0).equals(build(1))


def test_fewer_candidates_than_the_ratio_takes_all_of_them_alike_for_every_template():
    found = concepts_of(
        [relation("a", "fruit", [f"f{i}" for i in range(5)]), relation("b", "tool", ["t0", "t1", "t2"])]
    )
    pool, examples, skipped = concept_examples(
        found, {"fruit": ["f0", "f1", "f2", "f3", "f4"]}, ["{} can", "{} has"], 4, 0
    )
    rows = examples.join(pool, on="row")
    neg = rows[~rows["positive"]]
    # the pool holds only sampled subjects: no tool was sampled, so fruit has no negative
    assert skipped == {"fruit": "no subject of another concept to use as a negative"} and examples.empty
    subjects = {"fruit": ["f0", "f1", "f2", "f3", "f4"], "tool": ["t0", "t1", "t2"]}
    pool, examples, skipped = concept_examples(found, subjects, ["{} can", "{} has"], 4, 0)
    rows = examples.join(pool, on="row")
    neg = rows[(rows["concept"] == "fruit") & ~rows["positive"]]
    assert (
        not skipped
        and Counter(neg["template"]) == {"{} can": 3, "{} has": 3}
        and set(neg["subject"]) == {"t0", "t1", "t2"}
    )
    tool = rows[rows["concept"] == "tool"]
    assert Counter(tool.loc[~tool["positive"], "template"]) == {"{} can": 5, "{} has": 5}  # 5 candidates < 4 x 3


def test_small_concepts_are_skipped_and_named_and_unknown_ones_refused():
    found = concepts_of([relation("a", "fruit", [f"f{i}" for i in range(12)]), relation("b", "tool", ["t0", "t1"])])
    chosen, skipped = select_concepts(found, "all", min_subjects=10)
    assert chosen == ["fruit"] and skipped == {"tool": "2 subjects, fewer than min_subjects = 10"}
    with pytest.raises(ConfigError, match="unknown concept 'fruits'.*did you mean 'fruit'"):
        select_concepts(found, ["fruits"], 1)
    with pytest.raises(ConfigError, match='"all" or a list'):
        select_concepts(found, "fruit", 1)


def test_subjects_are_deduplicated_across_relations_and_extra_concepts_stay_in_their_domain():
    rels = [
        relation("x", "person", ["Ann", "Bob", "Ann"], objects=["1", "2", "3"]),
        relation("y", "person", ["Bob", "Cy"]),
        relation("p", "person", ["Lincoln"]),
    ]
    found = concepts_of(rels, {"president": ["p"]})
    assert found["person"].subjects == ("Ann", "Bob", "Cy", "Lincoln") and found["president"].subjects == ("Lincoln",)
    with pytest.raises(DataError, match="no properties.domain_name"):
        concepts_of([relation("z", None, ["a"])])
    with pytest.raises(DataError, match="also the domain_name"):
        concepts_of(rels, {"person": ["p"]})


def test_subjects_are_a_seeded_sample_of_the_members():
    concept = concepts_of([relation("a", "fruit", [f"f{i}" for i in range(10)])])["fruit"]
    picked = sample_subjects(concept, 5, seed=0)
    assert (
        picked == sample_subjects(concept, 5, seed=0) and len(set(picked)) == 5 and set(picked) <= set(concept.subjects)
    )
    assert picked != sample_subjects(concept, 5, seed=1)
    assert sorted(sample_subjects(concept, 50, seed=3)) == list(concept.subjects)


def test_ablation_prompts_avoid_the_identification_subjects_while_others_remain():
    rel = relation("a", "fruit", [f"f{i}" for i in range(10)], objects=[f"o{i}" for i in range(10)])
    concept = concepts_of([rel])["fruit"]
    avoid = [f"f{i}" for i in range(7)]
    prompts = ablation_prompts(concept, {"a": rel}, (0,), "?", 5, seed=0, avoid=avoid)
    assert {"f7", "f8", "f9"} <= set(prompts["subject"]) and len(prompts) == 5  # 3 free subjects, then 2 avoided ones
    assert len(ablation_prompts(concept, {"a": rel}, (0,), "?", 3, seed=0, avoid=avoid).merge(prompts)) == 3
    assert set(ablation_prompts(concept, {"a": rel}, (0,), "?", 3, seed=0, avoid=avoid)["subject"]) == {
        "f7",
        "f8",
        "f9",
    }


def test_ablation_prompts_are_facts_of_the_concept_with_the_store_templates(real):
    _, relations, found = real
    prompts = ablation_prompts(found["star"], relations, (0,), "? Answer:", 100, seed=0)
    again = ablation_prompts(found["star"], relations, (0,), "? Answer:", 100, seed=0)
    assert prompts.equals(again) and len(prompts) == 100 and not prompts.duplicated("text").any()
    assert set(prompts["relation"]) == {"star_constellation"} and set(prompts["subject"]) <= set(found["star"].subjects)
    star = relations["star_constellation"]
    assert all(t == star.prompt_templates[0] for t in prompts["template"])
    assert all(
        text == t.replace("{}", s) + "? Answer:"
        for text, t, s in zip(prompts["text"], prompts["template"], prompts["subject"])
    )
    facts = {(s.subject, s.object) for s in star.samples}
    assert all((s, o) in facts for s, o in zip(prompts["subject"], prompts["object"]))
    fewer = ablation_prompts(found["star"], relations, (0,), "? Answer:", 40, seed=0)
    assert set(fewer["text"]) < set(prompts["text"]) and len(fewer) == 40  # a smaller sample is part of a larger one
    assert not ablation_prompts(found["star"], relations, (0,), "? Answer:", 100, seed=1).equals(prompts)
    small = ablation_prompts(found["president"], relations, (0,), "? Answer:", 100, seed=0)
    assert len(small) == 37 and set(small["relation"]) == {"presidents_birth_year", "presidents_election_year"}


@pytest.mark.parametrize(
    "text, message",
    [
        ('relations = ["a"]\ntemplates = ["{} and {}"]', r"templates\[0\].*exactly one"),
        ('relations = ["a"]\ntemplates = ["{} can"]\ncolour = 1', "unknown key 'colour'"),
        ('relations = ["a"]\ntemplates = []', "templates must be a non-empty list"),
        ('templates = ["{} can"]', "no 'relations'"),
        ('relations = ["a", "a"]\ntemplates = ["{} can"]', "lists 'a' twice"),
        ('relations = ["a"]\ntemplates = ["{} can"]\n[extra]\nboss = ["b"]', "extra.boss names 'b'"),
        ('relations = ["a"', "not valid TOML"),
    ],
)
def test_broken_concepts_files_are_named(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_concept_spec(path)


def test_missing_concepts_file_names_the_option(tmp_path):
    with pytest.raises(DataError, match="option file"):
        load_concept_spec(tmp_path / "nope.toml")
