"""Language packs: the shipped ones, broken ones, user overrides, translation with left-out counts, CJK answers."""

import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from relneurons.data import is_correct, load_relations, split
from relneurons.data.languages import (
    OURS,
    LanguagePack,
    RelationPack,
    check_pack_file,
    load_pack,
    load_packs,
    shipped_codes,
    translate,
)
from relneurons.data.relations import PAPER_RELATIONS
from relneurons.errors import ConfigError, DataError

SHIPPED = ("de", "es", "fr", "ja", "zh")
#: Relations whose objects form a closed vocabulary: every P_eva object must be translated in every pack.
CLOSED = (
    "landmark_continent",
    "landmark_country",
    "person_occupation",
    "person_plays_instrument",
    "person_pro_sport",
    "person_sport_position",
    "star_constellation",
)


def shipped_text(code="de") -> str:
    return (resources.files("relneurons") / "resources" / "languages" / f"{code}.toml").read_text(encoding="utf-8")


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# ------------------------------------------------------------------ shipped packs


def test_the_five_paper_languages_ship_and_pass_the_validator():
    assert shipped_codes() == list(SHIPPED)
    for code in SHIPPED:
        pack = load_pack(code)
        assert set(PAPER_RELATIONS) <= set(pack.relations)
        for relation, entry in pack.relations.items():
            assert entry.templates, (code, relation)
            assert all(t.count("{}") == 1 for t in entry.templates), (code, relation)
            assert all(a.strip() for aliases in entry.objects.values() for a in aliases), (code, relation)


def test_every_closed_vocabulary_object_of_p_eva_is_translated(lre_dir):
    for relation in load_relations(CLOSED, lre_dir):
        evaluation, _ = split(relation, n_eval=50, seed=0)
        triples = pd.DataFrame(
            [(relation.name, s.subject, s.object) for s in evaluation], columns=["relation", "subject", "object"]
        )
        for code in SHIPPED:
            _, left = translate(load_pack(code), triples)
            assert left["left_out"].sum() == 0, (code, relation.name, left["left_out_objects"].tolist())


def test_cjk_packs_write_answers_in_their_own_script():
    for code in ("zh", "ja"):
        objects = load_pack(code).relations["landmark_continent"].objects
        assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", a) for aliases in objects.values() for a in aliases)


# ------------------------------------------------------------------ the paper's templates (App. K)

PAPER_TEXT = next((Path(__file__).resolve().parents[3] / "shared" / "paper").glob("002_*.txt"))
APPK_TABLES = {8: "company_hq", 18: "star_constellation"}
APPK_LANGUAGES = {"German": "de", "Spanish": "es", "French": "fr", "Japanese": "ja", "Chinese": "zh"}
#: Extraction errors of the text file, fixed in the packs (docs/multilingual.md lists them): dakuten lost in Table 8.
APPK_FIXES = {("ja", "company_hq"): [("とこですか", "どこですか"), ("との都市", "どの都市")]}


def appk_rows(table: int) -> dict[str, tuple[str, str]]:
    """Language code -> (subject-object pair, prompt cell) of one App. K table, read from the paper's text."""
    text = PAPER_TEXT.read_text(encoding="utf-8")
    end = text.index(f"Table {table}: Prompts for")
    start = text.rindex("Language\tSubject-Object Pair\tPrompt", 0, end)
    rows = {}
    for line in text[start:end].splitlines():
        cells = line.split("\t")
        if cells[0] in APPK_LANGUAGES:
            rows[APPK_LANGUAGES[cells[0]]] = (cells[1], cells[2])
    return rows


def appk_normal(text: str, cjk: bool) -> str:
    """Line-break hyphens joined, whitespace collapsed (removed in Chinese and Japanese, where the PDF's line
    breaks leave spaces between characters)."""
    text = re.sub(r"(\w)- (\w)", r"\1\2", text)
    return re.sub(r"\s+", "", text) if cjk else " ".join(text.split())


@pytest.mark.parametrize("table", sorted(APPK_TABLES))
def test_the_shipped_packs_are_the_papers_templates(table):
    """App. K, Tables 8 and 18: each language's prompt cell is the pack's templates, filled with the table's
    subject and written one after the other (the cell holds both sides of the dashed line), without a suffix."""
    relation = APPK_TABLES[table]
    rows = appk_rows(table)
    assert sorted(rows) == sorted(SHIPPED)
    for code, (pair, cell) in rows.items():
        cjk = code in ("ja", "zh")
        subject = appk_normal(pair.strip()[1:].rsplit(",", 1)[0], cjk)
        expected = appk_normal(cell, cjk).replace(subject, "{}")
        for wrong, right in APPK_FIXES.get((code, relation), []):
            expected = expected.replace(wrong, right)
        pack = load_pack(code)
        templates = pack.relations[relation].templates
        assert appk_normal(("" if cjk else " ").join(templates), cjk) == expected, (code, relation)
        assert pack.suffix == "" and all(t.count("{}") == 1 for t in templates)


def test_the_paper_packs_match_the_table_text_verbatim_where_the_text_is_clean():
    """French star_constellation and German company_hq, character for character (no normalisation needed)."""
    assert load_pack("fr").relations["star_constellation"].templates == (
        "Le nom de la constellation dans laquelle se trouve {} est",
    )
    assert load_pack("de").relations["company_hq"].templates == (
        "{} hat seinen Hauptsitz in der Stadt von",
        "Der Hauptsitz von {} befindet sich in der Stadt von",
    )


def test_our_packs_are_an_alternative_with_the_same_answers():
    for code in SHIPPED:
        paper, ours = load_pack(code), load_pack(code, OURS)
        assert ours.sources == (
            f"relneurons/resources/languages/{code}.toml",
            f"relneurons/resources/languages/ours/{code}.toml",
        )
        assert ours.suffix and not paper.suffix  # ours end with an answer cue such as "? Antwort:"
        assert all(len(ours.relations[r].templates) == 1 for r in PAPER_RELATIONS)
        for relation in PAPER_RELATIONS:
            assert ours.relations[relation].objects == paper.relations[relation].objects, (code, relation)
            assert ours.relations[relation].as_written == paper.relations[relation].as_written, (code, relation)
    assert load_pack("de", OURS).relations["company_hq"].templates == (
        "Der Hauptsitz von {} befindet sich in der Stadt",
    )
    assert list(load_packs(None, OURS)) == list(SHIPPED)


# ------------------------------------------------------------------ broken packs


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda t: t.replace(
                '[relations.person_mother]\ntemplates = ["Die Mutter von {} heißt"]\nas_written = true\n', ""
            ),
            "no [relations.person_mother] table",
        ),
        (lambda t: t.replace('"Der Vater von {} heißt"', '"Der Vater heißt"'), "has 0 '{}' placeholders"),
        (lambda t: t.replace('"Der Vater von {} heißt"', '"Der Vater von {} heißt {}"'), "has 2 '{}' placeholders"),
        (
            lambda t: t.replace('Asia = ["Asien"]', 'Asia = ["Asien", "  "]'),
            "relations.landmark_continent.objects.'Asia'[1] is an empty answer",
        ),
        (
            lambda t: t.replace('Asia = ["Asien"]', "Asia = []"),
            "relations.landmark_continent.objects.'Asia' must be a non-empty list",
        ),
        (lambda t: t.replace('Asia = ["Asien"]', 'Asia = ["Asien"'), "is not valid TOML"),
        (
            lambda t: t.replace('templates = ["Der Vater von {} heißt"]', 'templtes = ["Der Vater von {} heißt"]'),
            "did you mean 'templates'",
        ),
        (
            lambda t: t.replace("[relations.person_father]", "[relations.person_fathr]"),
            "unknown relation [relations.person_fathr]",
        ),
        (
            lambda t: t.replace("as_written = true  # person names", 'as_written = "yes"  # person names'),
            "as_written must be true or false",
        ),
        (lambda t: t.replace('name = "German"\n', ""), "[language] has no 'name'"),
    ],
)
def test_a_broken_new_language_is_named_with_its_file_and_field(tmp_path, mutate, message):
    good = write(tmp_path / "good", "xx.toml", shipped_text())
    assert check_pack_file(good).code == "xx"  # the unmodified text is a complete pack
    text = mutate(shipped_text())
    assert text != shipped_text()
    path = write(tmp_path / "bad", "xx.toml", text)
    with pytest.raises(DataError) as info:
        check_pack_file(path)
    assert message in str(info.value) and str(path) in str(info.value)
    with pytest.raises(DataError, match=re.escape(message)):
        load_pack("xx", tmp_path / "bad")


def test_a_pack_that_is_not_utf8_is_named(tmp_path):
    path = write(
        tmp_path, "xx.toml", shipped_text().encode("utf-8").replace("heißt".encode(), "heißt".encode("latin-1"))
    )
    with pytest.raises(DataError, match=r"xx\.toml is not valid UTF-8 \(byte 0xdf at offset \d+\); save it as UTF-8"):
        check_pack_file(path)


def test_file_names_must_be_language_codes(tmp_path):
    with pytest.raises(DataError, match="'en' is the baseline"):
        check_pack_file(write(tmp_path, "en.toml", shipped_text()))
    with pytest.raises(DataError, match="language code 'German'"):
        check_pack_file(write(tmp_path, "German.toml", shipped_text()))


def test_unknown_language_and_missing_folder_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"no language pack 'dee' \(did you mean 'de'\?\)"):
        load_pack("dee")
    with pytest.raises(DataError, match="does not exist or is not a folder"):
        load_packs(["de"], tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not the single string"):
        load_packs("de")


# ------------------------------------------------------------------ user overrides


def test_a_user_pack_overrides_entries_of_the_shipped_one(tmp_path):
    write(
        tmp_path,
        "de.toml",
        '[language]\nsuffix = " Antwort:"\n\n[relations.landmark_continent]\n'
        'templates = ["{} liegt in"]\n[relations.landmark_continent.objects]\nEurope = ["Alteuropa"]\n',
    )
    pack, shipped = load_pack("de", tmp_path), load_pack("de")
    entry = pack.relations["landmark_continent"]
    assert entry.templates == ("{} liegt in",) and pack.suffix == " Antwort:" and pack.name == "German"
    assert entry.objects["Europe"] == ("Alteuropa",) and entry.objects["Asia"] == ("Asien",)  # added to, not replaced
    assert {r: p for r, p in pack.relations.items() if r != "landmark_continent"} == {
        r: p for r, p in shipped.relations.items() if r != "landmark_continent"
    }
    assert pack.sources == ("relneurons/resources/languages/de.toml", str(tmp_path / "de.toml"))
    assert list(load_packs(None, tmp_path)) == list(SHIPPED)


def test_a_broken_override_names_the_user_file(tmp_path):
    path = write(tmp_path, "fr.toml", '[relations.star_constellation.objects]\nOrion = [""]\n')
    with pytest.raises(
        DataError,
        match=re.escape(f"language pack {path}, relations.star_constellation.objects.'Orion'[0] is an empty answer"),
    ):
        load_pack("fr", tmp_path)


def test_a_new_language_from_a_user_folder(tmp_path):
    write(tmp_path, "pt.toml", shipped_text("es").replace('name = "Spanish"', 'name = "Portuguese"'))
    packs = load_packs(["pt", "de"], tmp_path)
    assert (
        list(packs) == ["pt", "de"]
        and packs["pt"].name == "Portuguese"
        and packs["pt"].sources == (str(tmp_path / "pt.toml"),)
    )


# ------------------------------------------------------------------ translation


def toy_pack(**subjects) -> LanguagePack:
    return LanguagePack(
        "xx",
        "Toy",
        " ? R:",
        {
            "landmark_continent": RelationPack(
                ("A {} B", "C {}"), {"Europe": ("Europa", "Europe"), "Asia": ("Asien",)}
            ),
            "person_father": RelationPack(("P {}",), {"Jack Reagan": ("Jack",)}, as_written=True),
        },
        subjects,
    )


def test_untranslated_objects_are_left_out_and_counted():
    triples = pd.DataFrame(
        [
            ("landmark_continent", "Elbe", "Europe"),
            ("landmark_continent", "Elbe", "Europe"),  # a duplicate counts once
            ("landmark_continent", "Nile", "Africa"),
            ("landmark_continent", "Ganges", "Asia"),
            ("landmark_continent", "Pole", "Antarctica"),
            ("person_father", "Ronald Reagan", "Jack Reagan"),
            ("person_father", "X", "Y Z"),
            ("company_hq", "Cadillac", "Detroit"),  # a relation the pack does not have: all left out
        ],
        columns=["relation", "subject", "object"],
    )
    prompts, left = translate(toy_pack(Elbe="Elba"), triples)
    assert left.to_dict("records") == [
        {
            "language": "xx",
            "relation": "landmark_continent",
            "triples": 4,
            "kept": 2,
            "left_out": 2,
            "left_out_objects": "Africa; Antarctica",
        },
        {"language": "xx", "relation": "person_father", "triples": 2, "kept": 2, "left_out": 0, "left_out_objects": ""},
        {
            "language": "xx",
            "relation": "company_hq",
            "triples": 1,
            "kept": 0,
            "left_out": 1,
            "left_out_objects": "Detroit",
        },
    ]
    assert prompts["text"].tolist() == [
        "A Elba B ? R:",
        "C Elba ? R:",
        "A Ganges B ? R:",
        "C Ganges ? R:",
        "P Ronald Reagan ? R:",
        "P X ? R:",
    ]
    assert prompts["subject"].tolist()[:2] == ["Elbe", "Elbe"]  # the English subject is kept for the tables
    assert prompts["aliases"].tolist() == [("Europa", "Europe")] * 2 + [("Asien",)] * 2 + [
        ("Jack", "Jack Reagan"),
        ("Y Z",),
    ]
    assert prompts["answer"].tolist() == ["Europa", "Europa", "Asien", "Asien", "Jack", "Y Z"]


def test_translate_names_missing_columns():
    with pytest.raises(DataError, match=r"lacks columns \['object'\]"):
        translate(toy_pack(), pd.DataFrame({"relation": ["x"], "subject": ["y"]}))


# ------------------------------------------------------------------ correctness in scripts without spaces


@pytest.mark.parametrize(
    "generation, obj, expected",
    [
        ("亚洲", "亚洲", True),
        ("亚洲。", "亚洲", True),
        (" 亚洲\n", "亚洲", True),
        ("亚洲的", "亚洲", True),  # the next word follows without a space
        ("亚", "亚洲", False),  # one character of two is not an answer
        ("欧洲", "亚洲", False),
        ("アジアの", "アジア", True),
        ("アジア", "アジア", True),
        ("アフリカ", "アジア", False),
        ("ヨーロッパ大陸", "ヨーロッパ", True),
        ("日本", "アジア", False),
        ("足球", "美式足球", False),  # "soccer" is not "American football"
        ("美式足", "美式足球", True),  # a 2-token prefix of the object
    ],
)
def test_correctness_in_chinese_and_japanese(generation, obj, expected):
    assert is_correct(generation, obj) is expected


def test_any_alias_of_a_pack_is_accepted_and_other_languages_are_not():
    fr = load_pack("fr").relations["landmark_continent"].aliases("Europe")
    assert is_correct(" l'Europe", fr) and is_correct("Europe.", fr) and not is_correct("Europa", fr)
    zh = load_pack("zh").relations["landmark_continent"].aliases("Asia")
    assert is_correct("亚洲", zh) and not is_correct("Asia", zh) and not is_correct("アジア", zh)
    ja = load_pack("ja").relations["star_constellation"].aliases("Perseus")
    assert is_correct("ペルセウス座の", ja) and not is_correct("ペガスス座", ja)
