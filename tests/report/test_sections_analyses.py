"""The report sections of the complementary analyses (multilingual, templates, concepts, types, frequency) on a
hand-made run folder: summaries written with the experiments' own dataclasses, tables by hand, numbers in the
assertions worked out by hand from those tables. No model; the PNGs are 1x1 placeholders."""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from relneurons.experiments import multilingual as ml
from relneurons.experiments.concepts import ConceptAblation, ConceptInfo, ConceptsSummary, OverlapPair, largest_overlaps
from relneurons.experiments.frequency import SKIP_HOW, FrequencySummary, WilcoxonResult
from relneurons.experiments.neuron_types import SetResult, TypesSummary
from relneurons.experiments.summaries import read_summary, write_summary
from relneurons.experiments.templates import SplitResult, TemplatesSummary
from relneurons.report.html import render_report

ODD = "star<b>bold</b>&co"  # a relation name that must come out escaped
RELS = ["company_hq", ODD]
NAN = float("nan")
K_TEXT = "k = 307 (0.36% of 85,248 ffn neurons)"


def _png(path: Path) -> None:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def _table(folder: Path, name: str, df: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / f"{name}.parquet", index=False)


def _multilingual(res: Path) -> None:
    folder = res / "multilingual"
    drops = pd.DataFrame(
        [
            ("en", "company_hq", 10, 0.4, 0.2, 0.5, 0.03),
            ("en", ODD, 10, 0.5, 0.5, 0.0, 1.0),
            ("de", "company_hq", 10, 0.2, 0.1, 0.5, 0.25),
            ("de", ODD, 10, 0.0, 0.0, NAN, 1.0),
        ],
        columns=["language", "relation", "n", "acc_original", "acc_deactivated", "drop", "p_mcnemar"],
    )
    _table(folder, "drops", drops)
    _table(
        folder,
        "tests",
        pd.DataFrame(
            [
                ("en", "company_hq", 0.35, 0.01),
                ("en", ODD, 0.45, 0.7),
                ("de", "company_hq", 0.2, 0.2),
                ("de", ODD, 0.0, NAN),
            ],
            columns=["language", "relation", "acc_random", "p_relation_vs_random"],
        ),
    )
    _png(folder / "multilingual.png")
    # by hand from the drops: en means (0.4 + 0.5) / 2 = 0.45 -> (0.2 + 0.5) / 2 = 0.35, drop (0.5 + 0) / 2 = 0.25;
    # de 0.1 -> 0.05, drop 0.5 (the other undefined); company_hq drops in both, p < 0.05 only in English;
    # random-k from the tests: en (0.35 + 0.45) / 2 = 0.40, relation-k below it for both (p < 0.05 for one); de 0.10, one below
    en = ml.LanguageResult("English (the store's prompts)", 2, 20, 0.45, 0.35, 0.4, 0.25, 1, 1, 1, 2, 1, 20, 0, 20)
    de = ml.LanguageResult("German", 2, 20, 0.1, 0.05, 0.1, 0.5, 1, 0, 1, 1, 0, 20, 0, 20)
    write_summary(
        folder,
        ml.MultilingualSummary(
            307,
            K_TEXT,
            "robust",
            ["en", "de"],
            {"de": ["de.toml"]},
            {"en": en, "de": de},
            english_relations_with_drop=1,
            comparison="same triples",
            triples=25,
            triples_evaluated=20,
            triples_dropped=5,
            triples_left_out=5,
            random_sets=3,
        ),
    )


def _templates(res: Path) -> None:
    folder = res / "templates"
    rows = [
        ("company_hq", "P_eva", 0.4, 0.35, 0.2, 0.01, 0.02),
        (ODD, "P_eva", 0.5, 0.45, 0.5, 0.6, 1.0),
        ("company_hq", "P_eva-2", 0.3, 0.3, 0.1, 0.04, 0.0004),
        (ODD, "P_eva-2", 0.0, 0.0, 0.0, NAN, 1.0),
    ]
    _table(
        folder,
        "tests",
        pd.DataFrame(
            rows,
            columns=[
                "relation",
                "split",
                "acc_original",
                "acc_random",
                "acc_relation",
                "p_relation_vs_random",
                "p_relation_vs_original",
            ],
        ),
    )
    _png(folder / "templates.png")
    # relative drops (orig - rel) / orig: company_hq 0.5 and 2/3, ODD 0 and undefined; means 0.25 and 2/3
    write_summary(
        folder,
        TemplatesSummary(
            307,
            K_TEXT,
            3,
            "robust",
            ["P_eva", "P_eva-2"],
            "LRE prompt_templates_zs",
            "",
            2,
            {"company_hq": 2, ODD: 1},
            {
                "P_eva": SplitResult(20, 0.45, 0.4, 0.35, 0.25, 1, 1, 1),
                "P_eva-2": SplitResult(30, 0.15, 0.15, 0.05, 2 / 3, 1, 1, 1),
            },
            {"company_hq": {"P_eva": 0.5, "P_eva-2": 2 / 3}, ODD: {"P_eva": 0.0, "P_eva-2": NAN}},
            relations_dropping_on_both=1,
            relations_with_both_drops_defined=1,
        ),
    )


OVERLAP = pd.DataFrame(
    [("company_hq", "company", 40), ("company_hq", "landmark", 3), (ODD, "company", 0), (ODD, "landmark", 12)],
    columns=["relation", "concept", "overlap"],
)


def _concepts(res: Path) -> None:
    folder = res / "concepts"
    _table(folder, "overlap", OVERLAP)
    _png(folder / "overlap.png")
    _png(folder / "ablation.png")
    matrix = OVERLAP.pivot(index="relation", columns="concept", values="overlap").reindex(RELS)
    write_summary(
        folder,
        ConceptsSummary(
            307,
            K_TEXT,
            "robust",
            3,
            "concepts.toml",
            8,
            4,
            {
                "company": ConceptInfo(30, 20, 160, 640, ["company_hq"], 40, 0),
                "landmark": ConceptInfo(50, 20, 160, 640, ["landmark_country"], 40, 2),
            },
            {"<rare>": "2 subjects, fewer than min_subjects = 10"},
            1600,
            "LRE facts",
            307 * 307 / 85248,
            40,
            largest_overlaps(matrix),
            600,
            590,
            55,
            concept_below_random=1,
            concept_below_random_p05=1,
            ablation=[
                ConceptAblation("company", 40, 0.5, 0.45, 0.2, 0.004, 0.001),
                ConceptAblation("landmark", 40, 0.3, 0.3, 0.35, 0.9, 0.5),
            ],
        ),
    )


def _types(res: Path) -> None:
    folder = res / "types"
    _png(folder / "composition_all.png")
    _png(folder / "inter_all.png")
    # 'all': 30 gate_proj + 10 q_proj top-k neurons, uniform draws would give 20 + 20: shares 75% vs 50%, ratio 1.50x
    all_set = SetResult(
        1000,
        20,
        "all set, k = 20 (2.00% of 1,000)",
        {"gate_proj": 30, "q_proj": 10},
        {"gate_proj": 20.0, "q_proj": 20.0},
        2,
        0,
        2,
        1,
        0.6,
        0.1,
    )
    down = SetResult(
        200, 4, "down_proj set, k = 4 (2.00% of 200)", {"down_proj": 8}, {"down_proj": 8.0}, 2, 4, 0, 0, NAN, NAN
    )
    write_summary(
        folder,
        TypesSummary(
            {"all": all_set, "down_proj": down}, "ffn", 307, "the study's k as a fraction", "examples", 4, 96, ""
        ),
    )


def _frequency(res: Path, skipped: bool = False) -> None:
    folder = res / "frequency"
    if skipped:
        write_summary(folder, FrequencySummary(skipped=True, reason="no fact counts given", how=SKIP_HOW))
        return
    _png(folder / "frequency.png")
    table = pd.DataFrame(
        [("company_hq", 6, 5, 1, 2, 100.0, 10.0, 90.0, 10.0, 9.0), (ODD, 3, 3, 0, 1, 5.0, 20.0, 5.0, 15.0, -0.75)],
        columns=[
            "relation",
            "n_facts",
            "n_correct",
            "n_missing_count",
            "n_resilient",
            "mean_resilient",
            "mean_sensitive",
            "median_resilient",
            "median_sensitive",
            "relative_difference",
        ],
    )
    table.insert(5, "n_sensitive", [2, 2])
    _table(folder, "frequency", table)
    write_summary(
        folder,
        FrequencySummary(
            skipped=False,
            k=307,
            k_text=K_TEXT,
            rule="robust",
            source="counts",
            counts="facts.csv",
            unit="fact",
            prompts=9,
            facts=9,
            templates_per_fact_max=1,
            correct_facts=8,
            resilient=4,
            sensitive=4,
            correct_facts_without_count=1,
            correct_facts_with_zero_count=0,
            wilcoxon=WilcoxonResult(RELS, 2, 2, 1, 1, 1.0, 1.0, 0.75, 0.5),
        ),
    )


def make_run(root: Path, skipped_frequency: bool = False) -> Path:
    (root / "store").mkdir(parents=True)
    (root / "store" / "manifest.json").write_text('{"identity": {"relations": ["company_hq", "star<b>bold</b>&co"]}}')
    res = root / "results"
    for part in (_multilingual, _templates, _concepts, _types):
        part(res)
    _frequency(res, skipped_frequency)
    return root


class _Text(HTMLParser):
    """The visible text of a page, and whether every element is closed in order."""

    VOID = {"img", "br", "meta", "link", "input", "hr", "wbr"}
    BLOCKS = {
        "td",
        "th",
        "tr",
        "li",
        "p",
        "div",
        "h2",
        "h3",
        "caption",
        "table",
        "section",
        "figcaption",
        "summary",
        "details",
        "br",
        "span",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append(" ")
        if tag in ("script", "style"):
            self.skip += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append(" ")
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def section(page: str, name: str) -> tuple[str, str]:
    """(HTML, visible text) of one experiment's section."""
    html = re.search(rf'<section id="exp-{name}".*?</section>', page, re.S).group(0)
    parser = _Text()
    parser.feed(html)
    parser.close()
    assert not parser.errors and not parser.stack, (name, parser.errors, parser.stack)
    return html, re.sub(r"\s+", " ", "".join(parser.parts))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    return render_report(make_run(tmp_path_factory.mktemp("analyses")))


def _no_fallback(html: str) -> None:
    assert "could not be drawn" not in html and "not found" not in html


def test_multilingual_per_language_and_the_transfer(page):
    html, text = section(page, "multilingual")
    _no_fallback(html)
    assert "(the paper's Fig. 7); dashed grey line, k random neurons off" in text
    assert 'data-figure="results/multilingual/multilingual.png"' in html
    assert "accuracy drops in English for 1 of 2 relations; German drops for 1 of those 1." in text
    assert "also asked with k random neurons off (the study's first 3 random sets)" in text
    assert "asked the same 20 of 25 P_eva triples" in text and "(5 dropped)" in text
    assert "German (de, 20 prompts, 2 relations): mean accuracy 0.10 original → 0.05" in text
    assert "English (the store's prompts) (en, 20 prompts, 2 relations): mean accuracy 0.45 original → 0.35" in text
    assert (
        "(mean relative drop 25%), 0.40 with k random neurons off; accuracy drops for 1 of 2 relations (1 with McNemar p < 0.05), "
        "below random-k for 2 (no test with 3 random sets)"
    ) in text
    assert "0.05 with the relation's top-k off (mean relative drop 50%), 0.10 with k random neurons off" in text
    # the cells: 0.4 -> 0.2 is -50%, p 0.030; an undefined drop is n/a; the odd relation name is escaped
    assert (
        "company_hq 0.40 → 0.20 (random 0.35) −50%, p 0.030 vs original, 0.010 vs random "
        "0.20 → 0.10 (random 0.20) −50%, p 0.250 vs original, 0.200 vs random"
    ) in text
    assert (
        f"{ODD} 0.50 → 0.50 (random 0.45) 0%, p 1.000 vs original, 0.700 vs random 0.00 → 0.00 (random 0.00) n/a, p 1.000 vs original, n/a vs random"
        in text
    )
    assert "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in html and ODD not in html


def test_multilingual_summary_numbers_come_from_the_drops_table():
    tests = pd.DataFrame(
        [
            ("en", "a", 0.3, 0.2, 0.01),
            ("en", "b", 0.5, 0.5, 0.5),
            ("en", "c", 0.4, 0.3, 0.2),
            ("de", "a", 0.2, 0.1, 0.04),
            ("de", "b", 0.3, 0.2, 0.06),
            ("de", "c", 0.0, 0.0, NAN),
        ],
        columns=["language", "relation", "acc_random", "acc_relation", "p_relation_vs_random_holm"],
    )
    drops = pd.DataFrame(
        [
            ("en", "a", 10, 0.4, 0.2, 0.5, 0.03),
            ("en", "b", 10, 0.5, 0.5, 0.0, 1.0),
            ("en", "c", 10, 0.4, 0.3, 0.25, 0.2),
            ("de", "a", 8, 0.2, 0.1, 0.5, 0.25),
            ("de", "b", 8, 0.4, 0.2, 0.5, 0.01),
            ("de", "c", 8, 0.0, 0.0, NAN, 1.0),
        ],
        columns=["language", "relation", "n", "acc_original", "acc_deactivated", "drop", "p_mcnemar"],
    )
    left = pd.DataFrame(
        {
            "language": ["en"] * 3 + ["de"] * 3,
            "relation": list("abc") * 2,
            "kept": 4,
            "left_out": [0, 0, 0, 1, 0, 0],
            "evaluated": 4,
        }
    )
    per_relation = pd.DataFrame({"relation": list("abc"), "triples": 5, "evaluated": 4, "dropped": 1})
    study = SimpleNamespace(k=5, k_text=lambda: "k = 5", rule="robust")
    s = ml._summary(
        study, drops, tests, left, per_relation, {"de": SimpleNamespace(name="German", sources=("de.toml",))}, 3
    )
    en, de = s.per_language["en"], s.per_language["de"]
    assert s.english_relations_with_drop == 2  # a and c
    assert (de.relations_with_drop, de.relations_with_drop_p05, de.relations_with_drop_as_in_english) == (
        2,
        1,
        1,
    )  # a, b; b p<.05; a
    assert de.mean_drop == pytest.approx(0.5) and en.mean_drop == pytest.approx(0.75 / 3)
    assert de.mean_acc_original == pytest.approx(0.2) and de.prompts == 24 and de.triples_left_out == 1
    assert de.mean_acc_random == pytest.approx(0.5 / 3) and (
        de.relations_below_random,
        de.relations_below_random_p05,
    ) == (2, 1)
    assert (en.relations_below_random, en.relations_below_random_p05) == (2, 1)  # a (p .01) and c; b ties
    assert (s.triples, s.triples_evaluated, s.triples_dropped) == (15, 12, 3)


def test_templates_drops_side_by_side(page):
    html, text = section(page, "templates")
    _no_fallback(html)
    assert "(the paper's Fig. 8)" in text and 'data-figure="results/templates/templates.png"' in html
    assert "on both wordings for 1 of 1 relations" in text
    assert "mean relative change on P_eva −25%; mean relative change on P_eva-2 −67%." in text
    assert "P_eva (store templates, 20 prompts): mean accuracy 0.45 original, 0.40 random-k, 0.35 relation-k" in text
    assert "company_hq 0.40 / 0.35 / 0.20 −50% 0.010 / 0.020 0.30 / 0.30 / 0.10 −67% 0.040 / < 0.001" in text
    assert f"{ODD} 0.50 / 0.45 / 0.50 0% 0.600 / 1.000 0.00 / 0.00 / 0.00 n/a n/a / 1.000" in text
    assert ODD not in html


def test_concepts_overlap_and_ablation(page):
    html, text = section(page, "concepts")
    _no_fallback(html)
    assert "(the paper's Figs. 9 and 30)" in text and "(the paper's Fig. 31)" in text
    # 307^2 / 85,248 = 1.1056...; largest cells by hand: 40, 12, 3 (zeros left out)
    assert "The largest relation–concept overlap is 40 of k = 307 neurons (company_hq and company)" in text
    assert "two random k-sets would share 1.11 on average" in text
    assert f"Largest overlaps: company_hq × company 40; {ODD} × landmark 12; company_hq × landmark 3." in text
    assert "below random-k for 1 of 2 concepts (a description: no test with 3 random sets, 20 are needed)" in text
    assert "company 40 0.50 0.45 0.20 0.004 0.001" in text and "landmark 40 0.30 0.30 0.35 0.900 0.500" in text
    assert "&lt;rare&gt;</b> (2 subjects" in html and "<rare>" not in html and ODD not in html


def test_largest_overlaps_is_a_hand_ranking():
    matrix = OVERLAP.pivot(index="relation", columns="concept", values="overlap").reindex(RELS)
    assert largest_overlaps(matrix, 2) == [OverlapPair("company_hq", "company", 40), OverlapPair(ODD, "landmark", 12)]
    assert largest_overlaps(matrix * 0) == []


def test_types_composition_and_inter(page):
    html, text = section(page, "types")
    _no_fallback(html)
    assert "all lowers its own accuracy more than the mean of the other relations' for 1 of 2 relations" in text
    assert "(mean relative drop own 60%, others 10%); down_proj no relation with both drops defined." in text
    assert "gate_proj 30 75.0% 50.0% 1.50×" in text and "q_proj 10 25.0% 50.0% 0.50×" in text
    assert "(the paper's Fig. 24)" in text and "(the paper's Figs. 25–29)" in text
    assert "4 cells of the inter matrix are undefined" in text  # down_proj's; one type only: no composition table
    assert text.count("share if uniform ratio") == 1


def test_frequency_groups_and_wilcoxon(page):
    html, text = section(page, "frequency")
    _no_fallback(html)
    assert "(the paper's Fig. 23" in text
    assert "Of 8 facts the original model answers, 4 stay answered" in text and "and 4 do not (sensitive)" in text
    assert "more frequent in 1 of 2 relations with both groups (sensitive in 1, equal means in 0)" in text
    assert (
        "p = 1.000 two-sided, 0.750 for resilient > sensitive (W = 1; with 2 relations whose means differ, p cannot go below 0.500)"
        in text
    )
    assert "have a count of 0 in this corpus" not in text
    assert "company_hq 5 2 2 100 10 90 10 +9.00" in text and f"{ODD} 3 1 2 5 20 5 15 -0.75" in text
    assert "1 answered facts have no count" in text and ODD not in html


def test_frequency_warns_when_most_counts_are_zero(tmp_path):
    run = make_run(tmp_path)
    summary = read_summary(run / "results" / "frequency", FrequencySummary)
    write_summary(
        run / "results" / "frequency", dataclasses.replace(summary, correct_facts_with_zero_count=5)
    )  # 5 of 8
    html, text = section(render_report(run), "frequency")
    assert "5 of the 8 answered facts have a count of 0 in this corpus" in text


def test_skipped_frequency_says_how(tmp_path):
    html, text = section(render_report(make_run(tmp_path, skipped_frequency=True)), "frequency")
    assert "Skipped: no fact counts given." in text and "--opt counts=facts.csv" in text and "Wilcoxon" not in text


def test_summaries_round_trip(tmp_path):
    run = make_run(tmp_path)
    for name, cls in (
        ("multilingual", ml.MultilingualSummary),
        ("templates", TemplatesSummary),
        ("concepts", ConceptsSummary),
        ("types", TypesSummary),
        ("frequency", FrequencySummary),
    ):
        summary = read_summary(run / "results" / name, cls)
        assert type(summary) is cls and summary.experiment == name
    assert read_summary(run / "results" / "frequency", FrequencySummary).wilcoxon.p_greater == 0.75
    assert read_summary(run / "results" / "concepts", ConceptsSummary).ablation[0].acc_concept == 0.2


def test_damaged_tables_and_old_summaries_give_notes(tmp_path):
    run = make_run(tmp_path)
    res = run / "results"
    _table(
        res / "multilingual", "drops", pd.read_parquet(res / "multilingual" / "drops.parquet").drop(columns="p_mcnemar")
    )
    (res / "templates" / "tests.parquet").write_bytes(b"not a parquet file")
    (res / "concepts" / "summary.json").write_text('{"k": 307, "overlap_max": 40}')  # a summary of an older version
    (res / "frequency" / "frequency.parquet").unlink()
    page = render_report(run)
    html, text = section(page, "multilingual")
    assert "drops: lacks columns ['p_mcnemar']" in text and "German drops for 1 of those 1" in text
    html, text = section(page, "templates")
    assert (
        "results/templates/tests.parquet could not be read" in text and "on both wordings for 1 of 1 relations" in text
    )
    html, text = section(page, "concepts")
    assert "is not a version-2 concepts summary" in text and "rerun the concepts experiment" in text
    assert f"{ODD} 0 12" in text  # the overlap table still shows
    html, text = section(page, "frequency")
    assert "results/frequency/frequency.parquet not found" in text and "Of 8 facts" in text
    for name in ("multilingual", "templates", "concepts", "frequency"):
        assert "could not be drawn" not in section(page, name)[0]
