"""Loading and validating relations, and the registry, against the real LRE copy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from relneurons.data import PAPER_RELATIONS, Relation, Sample, load_relation, load_relations, registry, split
from relneurons.errors import ConfigError, DataError

PAPER_FILES = {
    "company_ceo": "factual/company_ceo.json",
    "company_hq": "factual/company_hq.json",
    "landmark_continent": "factual/landmark_on_continent.json",
    "landmark_country": "factual/landmark_in_country.json",
    "person_father": "factual/person_father.json",
    "person_mother": "factual/person_mother.json",
    "person_occupation": "factual/person_occupation.json",
    "person_plays_instrument": "factual/person_plays_instrument.json",
    "person_pro_sport": "factual/person_plays_pro_sport.json",
    "person_sport_position": "factual/person_plays_position_in_sport.json",
    "product_company": "factual/product_by_company.json",
    "star_constellation": "factual/star_constellation.json",
}


def lre_files(lre_dir: Path) -> set[str]:
    return {p.relative_to(lre_dir).as_posix() for p in lre_dir.glob("*/*.json")}


def write_relation(tmp_path: Path, doc: object, name: str = "rel.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def good_doc(**changes: object) -> dict:
    doc = {
        "name": "thing colour",
        "prompt_templates": ["The colour of {} is"],
        "prompt_templates_zs": ["What colour is {}? It is"],
        "properties": {"relation_type": "commonsense", "domain_name": "thing", "range_name": "colour"},
        "samples": [{"subject": "grass", "object": "green"}, {"subject": "sky", "object": "blue"}],
    }
    doc.update(changes)
    return doc


# ------------------------------------------------------------ real data


def test_paper_relations_are_the_spec_table_in_order():
    assert list(PAPER_RELATIONS) == list(PAPER_FILES)


def test_load_all_paper_relations(lre_dir):
    relations = load_relations(None, data_dir=lre_dir)
    assert [r.name for r in relations] == list(PAPER_FILES)
    for rel in relations:
        path = lre_dir / PAPER_FILES[rel.name]
        doc = json.loads(path.read_text(encoding="utf-8"))
        unique = {(s["subject"].strip(), s["object"].strip()) for s in doc["samples"]}
        assert len(rel.samples) == len(unique), rel.name
        assert rel.path == path
        assert rel.prompt_templates == tuple(doc["prompt_templates"])
        assert rel.prompt_templates_zs == tuple(doc["prompt_templates_zs"])
        assert rel.range_name == doc["properties"]["range_name"]
        assert rel.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_sample_counts_equal_json_for_files_without_duplicates(lre_dir):
    ceo = load_relation("company_ceo", lre_dir)
    assert len(ceo.samples) == 298
    assert ceo.samples[0] == Sample("Alphabet", "Sundar Pichai")


def test_duplicate_pairs_dropped_keeping_first(lre_dir):
    # product_by_company.json repeats 20 (subject, object) pairs.
    rel = load_relation("product_company", lre_dir)
    doc = json.loads((lre_dir / "factual/product_by_company.json").read_text(encoding="utf-8"))
    first_seen = []
    for s in doc["samples"]:
        pair = (s["subject"], s["object"])
        if pair not in first_seen:
            first_seen.append(pair)
    assert len(doc["samples"]) == 522
    assert [(s.subject, s.object) for s in rel.samples] == first_seen


def test_registry_covers_every_lre_file(lre_dir):
    reg = registry()
    assert set(reg.values()) == lre_files(lre_dir)
    assert len(reg) == len(lre_files(lre_dir))
    for name, path in PAPER_FILES.items():
        assert reg[name] == path
    assert reg["city_in_country"] == "factual/city_in_country.json"
    assert reg["name_gender"] == "bias/name_gender.json"


def test_shipped_hash_list_matches_real_files(lre_dir):
    from relneurons.data.lre import expected_hashes

    hashes = expected_hashes()
    assert set(hashes) == lre_files(lre_dir)
    for name, digest in hashes.items():
        assert hashlib.sha256((lre_dir / name).read_bytes()).hexdigest() == digest, name


def test_every_registered_relation_loads(lre_dir):
    relations = load_relations(sorted(registry()), data_dir=lre_dir)
    assert all(isinstance(r, Relation) and r.samples for r in relations)


def test_whitespace_around_subjects_is_stripped(lre_dir):
    rel = load_relation("presidents_birth_year", lre_dir)  # has "Jimmy Carter " in the file
    assert "Jimmy Carter" in {s.subject for s in rel.samples}
    assert all(s.subject == s.subject.strip() for s in rel.samples)


def test_unknown_name_suggests_close_name(lre_dir):
    with pytest.raises(DataError, match=r"unknown relation 'company_hg'.*did you mean 'company_hq'"):
        load_relation("company_hg", lre_dir)


def test_lre_stem_of_renamed_paper_relation_points_to_paper_name(lre_dir):
    with pytest.raises(DataError, match=r"did you mean 'landmark_(continent|country)'") as info:
        load_relation("landmark_on_continent", lre_dir)
    assert "registry" in str(info.value)


def test_same_file_twice_is_an_error(lre_dir):
    with pytest.raises(ConfigError, match="company_ceo"):
        load_relations(["company_ceo", "company_ceo"], data_dir=lre_dir)


# ------------------------------------------------------------ user files and registry


def test_user_json_path(tmp_path):
    path = write_relation(tmp_path, good_doc(), "thing_colour.json")
    rel = load_relation(path)
    assert rel.name == "thing_colour"
    assert rel.samples == (Sample("grass", "green"), Sample("sky", "blue"))
    assert rel.relation_type == "commonsense"
    assert load_relation(str(path)).sha256 == rel.sha256


def test_user_registry_file_adds_absolute_entry(tmp_path, lre_dir):
    rel_path = write_relation(tmp_path, good_doc(), "colour.json")
    toml = tmp_path / "mine.toml"
    toml.write_text(f'[relations]\nthing_colour = "{rel_path.as_posix()}"\n', encoding="utf-8")
    reg = registry(toml)
    assert reg["thing_colour"] == rel_path.as_posix()
    assert reg["company_hq"] == "factual/company_hq.json"
    relations = load_relations(["thing_colour", "company_hq"], data_dir=lre_dir, registry_file=toml)
    assert [r.name for r in relations] == ["thing_colour", "company_hq"]
    assert relations[0].path == rel_path


def test_bad_registry_file(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text("[relations]\nx = 3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.toml.*\[relations\]\.x"):
        registry(toml)
    toml.write_text("[relations\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.toml is not valid TOML"):
        registry(toml)
    with pytest.raises(DataError, match="does not exist"):
        registry(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ({"prompt_templates": ["{} is"]}, r'no "samples" field'),
        (good_doc(samples={"subject": "a"}), r'"samples" must be a list'),
        (good_doc(samples=[]), r'"samples" is empty'),
        (good_doc(samples=[{"subject": "a", "object": "b"}, {"subject": "c"}]), r"samples\[1\] has no 'object'"),
        (good_doc(samples=[{"subject": 3, "object": "b"}]), r"samples\[0\]\.subject must be a string"),
        (good_doc(samples=[{"subject": "a", "object": "  "}]), r"samples\[0\]\.object is empty"),
        (good_doc(samples=["a"]), r"samples\[0\] must be an object"),
        (good_doc(prompt_templates=[], prompt_templates_zs=[]), "no prompt templates"),
        ({"samples": [{"subject": "a", "object": "b"}]}, "no prompt templates"),
        (good_doc(prompt_templates=["{} is", "The colour is"]), r"prompt_templates\[1\] 'The colour is' has 0"),
        (good_doc(prompt_templates_zs=["{} and {} are"]), r"prompt_templates_zs\[0\] '\{\} and \{\} are' has 2"),
        (good_doc(prompt_templates="{} is"), r"'prompt_templates' must be a list"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_invalid_relation_files(tmp_path, doc, pattern):
    path = write_relation(tmp_path, doc)
    with pytest.raises(DataError, match=pattern) as info:
        load_relation(path)
    assert str(path) in str(info.value)


def test_invalid_json_reports_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "samples": [\n    {"subject": "a" "object": "b"}\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json is not valid JSON: .* line 3, column 21"):
        load_relation(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(
        json.dumps(good_doc(samples=[{"subject": "Zurich", "object": "X"}]))
        .encode()
        .replace(b"Zurich", "Z\u00fcrich".encode("latin-1"))
    )
    with pytest.raises(DataError, match=r"latin1\.json is not valid UTF-8 \(byte 0xfc"):
        load_relation(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json.*does not exist"):
        load_relation(tmp_path / "nope.json")


def test_registry_entry_pointing_to_missing_file(tmp_path):
    toml = tmp_path / "r.toml"
    toml.write_text(f'[relations]\nghost = "{(tmp_path / "ghost.json").as_posix()}"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"ghost\.json \(relation 'ghost'\) does not exist"):
        load_relation("ghost", registry_file=toml)


def test_split_of_too_small_relation_names_relation_and_file(tmp_path):
    samples = [{"subject": f"s{i}", "object": f"o{i}"} for i in range(50)]
    path = write_relation(tmp_path, good_doc(samples=samples), "tiny.json")
    rel = load_relation(path)
    with pytest.raises(DataError, match=r"'tiny'.*tiny\.json.*only 50 samples.*n_eval=50.*at least 51"):
        split(rel, n_eval=50)
    eval_s, det_s = split(rel, n_eval=49)
    assert (len(eval_s), len(det_s)) == (49, 1)
