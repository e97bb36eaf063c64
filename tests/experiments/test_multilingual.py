"""The multilingual experiment on a synthetic store, with a scripted model (no generation): tables checked by hand."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from synthetic_store import synthetic_store

from relneurons.data import is_correct
from relneurons.errors import ConfigError, DataError
from relneurons.experiments.multilingual import MultilingualSummary, multilingual
from relneurons.experiments.registry import EXPERIMENTS
from relneurons.experiments.study import Study, StudyConfig
from relneurons.experiments.summaries import read_summary
from relneurons.expertise.identify import IdentifyConfig, identify

EVAL = pd.DataFrame(
    [
        ("landmark_continent", "Elbe", "Europe"),
        ("landmark_continent", "Ganges", "Asia"),
        ("landmark_continent", "Nile", "Africa"),
        ("landmark_continent", "Seine", "Europe"),
        ("company_hq", "Cadillac", "London"),
        ("company_hq", "Simpsons Inc", "Springfield"),  # Springfield: no Chinese entry
    ],
    columns=["relation", "subject", "object"],
)


def scripted(pairs: pd.DataFrame) -> list[str]:
    """Original model (and k random neurons off): right (first accepted answer) except for Seine, and Ganges
    answered in English. Relation's top-k off: only Elbe stays right."""
    out = []
    for subject, obj, aliases, condition in zip(
        pairs["subject"], pairs["english"], pairs["object"], pairs["condition"]
    ):
        if condition.startswith("rel:"):
            out.append(aliases[0] if subject == "Elbe" else "The")
        elif subject == "Seine":
            out.append("Mars")
        else:
            out.append(obj if subject == "Ganges" else aliases[0])
    return out


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilingual")
    store, _, _ = synthetic_store(root / "store")
    identify(store.folder, root / "id", IdentifyConfig(k=10, min_positives=5), progress=False)
    return store, root / "id"


@pytest.fixture()
def study(parts, tmp_path, monkeypatch):
    store, identify_dir = parts
    s = Study(store, identify_dir, tmp_path / "out", StudyConfig(k=10, n_boot=200), progress=False)
    s.__dict__["eval_prompts"] = EVAL.assign(template="{} is in", text=[f"{x} is in? Answer:" for x in EVAL["subject"]])
    s.calls = []

    def judge(pairs, max_new_tokens=2, desc=""):  # what Study.judge does, with scripted generations
        s.calls.append(pairs.copy())
        english = [
            dict(zip(zip(EVAL.relation, EVAL.subject), EVAL.object))[(r, x)]
            for r, x in zip(pairs.relation, pairs.subject)
        ]
        generations = scripted(pairs.assign(english=english))
        return pairs.assign(
            generation=generations, correct=[is_correct(g, o, s.rule) for g, o in zip(generations, pairs["object"])]
        )

    monkeypatch.setattr(s, "judge", judge)
    monkeypatch.setitem(s.store.identity, "rule", "robust")
    return s


def test_accuracy_drops_and_left_out_counts(study):
    assert EXPERIMENTS["multilingual"] is multilingual
    multilingual(study, languages=["de", "zh"])
    folder = study.out / "multilingual"
    acc = pd.read_parquet(folder / "accuracy.parquet").set_index(["language", "relation", "condition"])["accuracy"]
    # continents: en right for Elbe, Ganges (English is right in English), Nile; de/zh only Elbe and Nile
    assert acc[("en", "landmark_continent", "original")] == 0.75
    assert acc[("de", "landmark_continent", "original")] == 0.5 and acc[("zh", "landmark_continent", "original")] == 0.5
    assert all(acc[(lang, "landmark_continent", "relation")] == 0.25 for lang in ("en", "de", "zh"))
    assert acc[("zh", "company_hq", "original")] == 1.0 and acc[("zh", "company_hq", "relation")] == 0.0
    # like with like: Springfield has no Chinese entry, so it is dropped from every language, English included
    assert acc[("en", "company_hq", "original")] == 1.0 and acc[("de", "company_hq", "original")] == 1.0

    drops = pd.read_parquet(folder / "drops.parquet").set_index(["language", "relation"])
    assert drops.loc[("en", "landmark_continent"), "drop"] == pytest.approx(2 / 3)
    assert drops.loc[("de", "landmark_continent"), "drop"] == pytest.approx(0.5)
    # n counts prompts: one company_hq triple (Springfield dropped everywhere) x App. K's two German/Chinese templates
    assert drops.loc[("de", "company_hq"), ["n", "drop"]].tolist() == [2, 1.0]
    assert drops.loc[("zh", "company_hq"), "n"] == 2 and drops.loc[("en", "company_hq"), "n"] == 1
    generations = pd.read_parquet(folder / "generations.parquet")
    triples = {lang: set(zip(g.relation, g.subject)) for lang, g in generations.groupby("language")}
    assert triples["en"] == triples["de"] == triples["zh"] and ("company_hq", "Simpsons Inc") not in triples["en"]
    ok = drops.dropna(subset=["drop_low"])
    assert ((ok["drop_low"] <= ok["drop"] + 1e-12) & (ok["drop"] <= ok["drop_high"] + 1e-12)).all()

    left = pd.read_parquet(folder / "left_out.parquet").set_index(["language", "relation"])
    assert left["left_out"].to_dict() == {
        ("en", "landmark_continent"): 0,
        ("en", "company_hq"): 0,
        ("de", "landmark_continent"): 0,
        ("de", "company_hq"): 0,
        ("zh", "landmark_continent"): 0,
        ("zh", "company_hq"): 1,
    }
    assert left.loc[("zh", "company_hq"), "left_out_objects"] == "Springfield"
    assert left["evaluated"].to_dict() == {
        (lang, rel): {"landmark_continent": 4, "company_hq": 1}[rel]
        for lang in ("en", "de", "zh")
        for rel in ("landmark_continent", "company_hq")
    }
    common = pd.read_parquet(folder / "common.parquet").set_index("relation")
    assert common.loc["company_hq"].tolist() == [2, 1, 1, "zh: 1"] and common.loc["landmark_continent"].tolist() == [
        4,
        4,
        0,
        "",
    ]

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["languages"] == ["en", "de", "zh"] and summary["triples_left_out"] == 1
    assert (summary["triples"], summary["triples_evaluated"], summary["triples_dropped"]) == (6, 5, 1)
    assert summary["per_language"]["en"]["prompts"] == 5 and summary["per_language"]["de"]["prompts"] == 6
    assert summary["per_language"]["zh"]["triples_kept"] == 5 and summary["per_language"]["zh"]["triples_left_out"] == 1
    assert summary["per_language"]["de"]["mean_acc_original"] == pytest.approx((0.5 + 1.0) / 2)
    typed = read_summary(folder, MultilingualSummary)
    # both relations drop in every language (continents 0.75/0.5 -> 0.25, company_hq 1 -> 0), so all transfer
    assert typed.english_relations_with_drop == 2
    assert [typed.per_language[c].relations_with_drop_as_in_english for c in ("en", "de", "zh")] == [2, 2, 2]
    # random sets answer as the original model does, so relation-k is below random-k wherever it drops
    tests = pd.read_parquet(folder / "tests.parquet").set_index(["language", "relation"])
    assert tests.loc[("de", "landmark_continent"), ["acc_original", "acc_random", "acc_relation"]].tolist() == [
        0.5,
        0.5,
        0.25,
    ]
    assert (
        tests.loc[("en", "landmark_continent"), "acc_random"] == 0.75
        and tests.loc[("zh", "company_hq"), "acc_random"] == 1.0
    )
    assert typed.per_language["de"].mean_acc_random == pytest.approx((0.5 + 1.0) / 2)
    assert [typed.per_language[c].relations_below_random for c in ("en", "de", "zh")] == [2, 2, 2]
    assert (folder / "multilingual.png").stat().st_size > 1000 and (folder / "multilingual.svg").is_file()
    assert (folder / "accuracy.csv").is_file() and not (study.out / ".multilingual.partial").exists()

    pairs = study.calls[0]
    zh = pairs[(pairs.language == "zh") & (pairs.subject == "Ganges")]
    n_random = min(3, study.config.seeds)  # the option's default: the study's first 3 random sets
    assert zh["text"].tolist() == ["Ganges所位于的大洲/大陆名字叫做"] * (2 + n_random) and zh["object"].iloc[0] == (
        "亚洲",
    )  # App. K, Table 9
    assert set(zh["condition"]) == {
        "original",
        study.rel("landmark_continent", 0, study.k),
        *(study.rnd(s, study.k) for s in range(n_random)),
    }
    generations = pd.read_parquet(folder / "generations.parquet")
    assert generations.loc[generations.subject == "Ganges", "object"].unique().tolist() == ["Asia"]
    assert set(generations.loc[(generations.subject == "Ganges") & (generations.language == "de"), "aliases"]) == {
        "Asien"
    }


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"languages": "de"}, ConfigError, "multilingual.languages = 'de' must be of type list"),
        ({"languages": ["de", "en"]}, ConfigError, "'en' is always evaluated"),
        ({"languages": ["dee"]}, ConfigError, "did you mean 'de'"),
        ({"packs": "/no/such/folder"}, DataError, "does not exist or is not a folder"),
    ],
)
def test_bad_options_fail_before_any_generation(study, options, error, message):
    with pytest.raises(error, match=message):
        multilingual(study, **options)
    assert study.calls == [] and not (study.out / "multilingual").exists()


def test_a_broken_user_pack_fails_before_any_generation(study, tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "de.toml").write_text(
        '[relations.company_hq]\ntemplates = ["kein Platzhalter"]\n', encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"de\.toml, relations\.company_hq\.templates\[0\] 'kein Platzhalter' has 0"):
        multilingual(study, languages=["de"], packs=str(tmp_path / "packs"))
    assert study.calls == [] and not (study.out / "multilingual").exists()


def test_a_user_pack_changes_what_is_accepted(study, tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "de.toml").write_text(
        '[relations.landmark_continent.objects]\nAsia = ["Asien", "Asia"]\n', encoding="utf-8"
    )
    multilingual(study, languages=["de"], packs=str(tmp_path / "packs"))
    acc = pd.read_parquet(study.out / "multilingual" / "accuracy.parquet").set_index(
        ["language", "relation", "condition"]
    )["accuracy"]
    assert acc[("de", "landmark_continent", "original")] == 0.75  # Ganges' English answer now counts
    assert np.isclose(acc[("en", "landmark_continent", "original")], 0.75)


def test_a_relation_left_out_entirely_is_counted_not_plotted_as_zero(study, tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "de.toml").write_text(
        "[relations.company_hq]\nas_written = false\n", encoding="utf-8"
    )  # London: no entry
    multilingual(study, languages=["de"], packs=str(tmp_path / "packs"))
    folder = study.out / "multilingual"
    left = pd.read_parquet(folder / "left_out.parquet").set_index(["language", "relation"])
    assert left.loc[("de", "company_hq"), ["triples", "kept", "left_out", "left_out_objects"]].tolist() == [
        2,
        0,
        2,
        "London; Springfield",
    ]
    drops = pd.read_parquet(folder / "drops.parquet")
    assert not ((drops.language == "de") & (drops.relation == "company_hq")).any()
    summary = json.loads((folder / "summary.json").read_text())
    de, en = summary["per_language"]["de"], summary["per_language"]["en"]
    assert de["relations"] == 1 and de["triples_left_out"] == 2 and de["prompts"] == 4
    assert (
        en["relations"] == 1 and en["prompts"] == 4 and summary["triples_dropped"] == 2
    )  # English only where German is
    assert not ((drops.language == "en") & (drops.relation == "company_hq")).any()


def test_our_packs_are_an_alternative(study):
    multilingual(study, languages=["zh"], packs="ours")
    generations = pd.read_parquet(study.out / "multilingual" / "generations.parquet")
    zh = generations[(generations.language == "zh") & (generations.subject == "Ganges")]
    assert set(zh["text"]) == {"Ganges所位于的大洲名字叫做？答案："}
    summary = json.loads((study.out / "multilingual" / "summary.json").read_text())
    assert summary["packs"]["zh"] == [
        "relneurons/resources/languages/zh.toml",
        "relneurons/resources/languages/ours/zh.toml",
    ]


def test_drop_intervals_and_tests_take_whole_triples(study, monkeypatch):
    """A language's templates of one triple are one cluster: the drop interval and McNemar get the triple of
    every prompt (App. K gives German two company_hq templates; the continents have one, so no clusters)."""
    from relneurons.experiments import multilingual as module

    seen = {}
    for name in ("bootstrap_drop_ci", "mcnemar_exact"):
        real = getattr(module, name)
        monkeypatch.setattr(
            module,
            name,
            lambda *a, _real=real, _name=name, **kw: (
                seen.setdefault(_name, []).append(kw.get("clusters")),
                _real(*a, **kw),
            )[1],
        )
    multilingual(study, languages=["de"])
    generations = pd.read_parquet(study.out / "multilingual" / "generations.parquet")
    order = list(dict.fromkeys(zip(generations.language, generations.relation)))
    for name, calls in seen.items():
        by_group = dict(zip(order, calls))
        company = generations[
            (generations.language == "de") & (generations.relation == "company_hq") & (generations.kind == "original")
        ]
        expected = pd.factorize(company.sort_values("prompt_id")["subject"])[0]
        assert len(expected) > len(set(expected)), "German company_hq should have several templates per triple"
        assert by_group[("de", "company_hq")].tolist() == expected.tolist(), name
        assert by_group[("de", "landmark_continent")] is None, name  # one template per triple: prompt-level, as before


@pytest.mark.parametrize("random_sets", [0, 1])
def test_fewer_random_sets_ask_fewer_generations(study, random_sets):
    """random_sets = N asks only the study's first N random sets in every language (0: no control at all); the
    tests, the summary and the figure say how many."""
    assert study.config.seeds > 1
    multilingual(study, languages=["de"], random_sets=random_sets)
    folder = study.out / "multilingual"
    asked = set(study.calls[0]["condition"])
    assert {c for c in asked if c.startswith("random")} == {study.rnd(s, study.k) for s in range(random_sets)}
    summary = read_summary(folder, MultilingualSummary)
    assert summary.random_sets == random_sets
    tests = pd.read_parquet(folder / "tests.parquet")
    if random_sets:
        assert (tests["n_random_sets"] == random_sets).all() and len(tests) == 2 * 2  # en, de x 2 relations
    else:
        assert tests.empty and math.isnan(summary.per_language["de"].mean_acc_random)
        assert summary.per_language["de"].relations_below_random == 0 and not (folder / "random_seeds.parquet").exists()
