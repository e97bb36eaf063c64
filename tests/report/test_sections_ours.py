"""The stability, methods and amplify sections of the report, on small hand-made run folders: the text a reader
sees (numbers computed by hand here, not by the builders), escaping of run text, notes for damaged tables or
summaries of another version, and the typed summaries' round trip through summary.json."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from relneurons.experiments.amplify import TABLE_COLUMNS, AmplifySummary
from relneurons.experiments.methods import MethodScore, MethodsSummary
from relneurons.experiments.stability import RelationStability, StabilitySummary
from relneurons.experiments.summaries import MethodComparison, read_summary, write_summary
from relneurons.plots.amplify import plot_amplify
from relneurons.report.html import render_report
from relneurons.report.reader import RunFolder, Section

ODD = "star<b>bold</b>&co"  # a relation name that would become markup if it were not escaped
RELS = ["company_hq", ODD]
NAN = math.nan
K_TEXT = "k = 307 (0.36% of 85,248 ffn neurons)"


def _base(root: Path) -> Path:
    """manifest + identify summary: enough of a run for the page around the sections."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps({"config": {"data": {"relations": RELS}, "neurons": {"k": 307}}}))
    (root / "identify").mkdir()
    (root / "identify" / "summary.json").write_text(
        json.dumps(
            {
                "k": 307,
                "n_neurons": 85248,
                "neuron_set": "ffn",
                "relations": {r: {"positives": 10, "negatives": 40} for r in RELS},
            }
        )
    )
    return root


def _table(folder: Path, name: str, df: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / f"{name}.parquet", index=False)


def _section(root: Path, name: str) -> tuple[str, str]:
    """(the section's HTML, its text as a reader sees it: tags dropped, entities decoded, spaces collapsed)."""
    page = render_report(root)
    match = re.search(rf'<section id="exp-{name}".*?</section>', page, re.S)
    assert match, f"no {name} section"
    markup = re.sub(r'src="data:[^"]*"', 'src=""', match.group(0))
    text = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"</t[dh]>|</tr>|</li>|</p>", " ", markup)))  # cells apart
    return markup, re.sub(r"\s+", " ", text)


# ------------------------------------------------------------------ stability

STABILITY = StabilitySummary(
    k=307,
    k_text=K_TEXT,
    resamples=4,
    scheme="half of every relation's triples",
    core_threshold=0.75,
    reproduces_share=0.8,
    seconds_identification=3.5,
    seconds_templates=0.0,
    forward_passes=0,
    seeds=3,
    rule="robust",
    relations={
        "company_hq": RelationStability(
            positives=40,
            resamples_ranked=4,
            mean_jaccard=0.5,
            jaccard_to_full=0.6,
            core_size=100,
            core_in_topk=98,
            template_jaccard=NAN,
            acc_original=0.5,
            acc_topk=0.1,
            acc_core=0.22,
            acc_random=0.45,
            drop_topk=0.8,
            drop_core=0.72,
            core_share=0.9,
            p_core_vs_topk=0.25,
            core_reproduces=True,
            acc_top_ap=0.2,
            acc_topk_subset=0.3,
            acc_random_core=0.48,
            drop_top_ap=0.6,
            p_core_vs_top_ap=0.6,
            p_core_vs_top_ap_holm=0.6,
        ),
        ODD: RelationStability(
            positives=30,
            resamples_ranked=4,
            mean_jaccard=0.3,
            jaccard_to_full=0.4,
            core_size=0,
            core_in_topk=0,
            template_jaccard=NAN,
            acc_original=0.4,
            acc_topk=0.4,
            acc_core=NAN,
            acc_random=0.35,
            drop_topk=0.0,
            drop_core=NAN,
            core_share=NAN,
            p_core_vs_topk=NAN,
            core_reproduces=False,
        ),
    },
    core_reproduces=1,
    mean_jaccard=0.4,
    core_count=3,
)


def _stability_table() -> pd.DataFrame:
    rows = []
    for r, x in STABILITY.relations.items():
        row = {
            "relation": r,
            **{
                f: getattr(x, f)
                for f in (
                    "positives",
                    "resamples_ranked",
                    "mean_jaccard",
                    "jaccard_to_full",
                    "core_size",
                    "core_in_topk",
                    "template_jaccard",
                    "acc_original",
                    "acc_topk",
                    "acc_random",
                    "drop_topk",
                    "acc_core",
                    "drop_core",
                    "core_share",
                    "p_core_vs_topk",
                    "core_reproduces",
                )
            },
        }
        lows = (0.5, 1.0, 0.4, 0.9) if r == "company_hq" else (0.0, 0.0, NAN, NAN)
        row.update(drop_topk_low=lows[0], drop_topk_high=lows[1], drop_core_low=lows[2], drop_core_high=lows[3])
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def stability_run(tmp_path) -> Path:
    root = _base(tmp_path / "stability")
    folder = root / "results" / "stability"
    _table(folder, "stability", _stability_table())
    _table(folder, "frequency", pd.DataFrame({"relation": ["company_hq"], "global_index": [1], "frequency": [1.0]}))
    write_summary(folder, STABILITY)
    return root


def test_stability_headline_and_table_are_the_summarys_numbers(stability_run):
    markup, text = _section(stability_run, "stability")
    # mean Jaccard (0.5 + 0.3) / 2 = 0.40; one relation's top-k lowers accuracy (drop 0.8) and its core reproduces it
    assert (
        "two resamples' top-k share on average a Jaccard of 0.40 (per relation 0.30–0.50). Switched off alone, the "
        "stable core lowers accuracy by at least 80% of the top-k's drop for 1 of the 1 relation whose top-k lowers "
        "P_eva accuracy (company_hq), but that is no property of stability unless the core beats the top-|core| "
        "neurons by AP, which it did (Holm-adjusted McNemar p < 0.05) for 0."
    ) in text
    assert "at least ⌈0.75 × 4⌉ = 3 of the 4 resamples: 0–100 of the 307 neurons" in text
    assert "company_hq (100): 0.22 / 0.20 / 0.30 / 0.48, p 0.600" in text
    assert "A resample's top-k shares a Jaccard of 0.40–0.60 with the full top-k" in text
    # cores of 0 and 100 neurons; 100 - 98 = 2 core neurons outside the top-k
    assert (
        "0–100 of the 307 neurons per relation; 2 core neurons (all relations together) are not in the full top-k"
        in text
    )
    assert "0 forward passes; 3.5 s for all resamples" in text and "at least 80% of the top-k's" in text
    assert "Template Jaccard: not available" in text
    # the table: company_hq's drops with intervals, core share 0.72 / 0.8 = 90%; the empty core is n/a everywhere
    assert (
        "company_hq 40 0.50 0.60 100 (98) 0.50 0.22 0.10 0.45 0.80 [0.50, 1.00] 0.72 [0.40, 0.90] 90% 0.250 yes" in text
    )
    assert f"{ODD} 30 0.30 0.40 0 (0) 0.40 n/a 0.40 0.35 0.00 [0.00, 0.00] n/a n/a n/a no" in text
    assert "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in markup and "<b>bold</b>" not in markup
    assert "Also in this folder: frequency." in text  # the table the section does not show is listed


def test_stability_damaged_table_and_old_summary_give_notes(stability_run):
    folder = stability_run / "results" / "stability"
    _table(folder, "stability", _stability_table().drop(columns=["drop_core_low"]))
    _, text = _section(stability_run, "stability")
    assert "stability: lacks columns ['drop_core_low']." in text
    assert "Jaccard of 0.40" in text  # the headline still comes from the summary
    data = json.loads((folder / "summary.json").read_text())
    del data["experiment"], data["version"]  # as written before the summaries were typed
    (folder / "summary.json").write_text(json.dumps(data))
    (folder / "stability.parquet").write_bytes(b"not a parquet file")
    _, text = _section(stability_run, "stability")
    assert "is not a version-2 stability summary" in text and "rerun the stability experiment" in text
    assert "results/stability/stability.parquet could not be read" in text and "Jaccard of 0.40" not in text


# ------------------------------------------------------------------ methods

SCORES = {
    "ap": {
        "company_hq": MethodScore(0.6, 0.2, 0.9, 0.7, 0.1, 0.1, True),
        ODD: MethodScore(-0.1, -0.4, 0.2, 0.0, 0.1, 0.4, False),
    },
    "mean_diff": {
        "company_hq": MethodScore(0.3, -0.1, 0.7, 0.5, 0.2, 0.25, False),
        ODD: MethodScore(0.1, 0.02, 0.4, 0.25, 0.15, 0.3, True),
    },
}
METHODS = MethodsSummary(
    k=307,
    k_text=K_TEXT,
    scorers=["ap", "mean_diff"],
    relations=RELS,
    prompts_per_relation=20,
    seeds=3,
    rule="robust",
    seconds={"ap": 1.5, "mean_diff": 2.0},
    specificity=SCORES,
    mean_specificity={"ap": 0.25, "mean_diff": 0.2},
    most_specific={"company_hq": "ap", ODD: "mean_diff"},
    most_specific_overall="ap",
    ap_matches_identify=True,
    mean_abs_specificity={"ap": 0.2, "mean_diff": 0.15},
    comparisons=[MethodComparison("ap", "mean_diff", 0.05, -0.1, 0.2, 0.08, 0.224)],
)


def _methods_table() -> pd.DataFrame:
    rows = []
    for m, per in SCORES.items():
        for r, x in per.items():
            rows.append(
                {
                    "method": m,
                    "relation": r,
                    "k": 307,
                    "n": 20,
                    "acc_original": 0.5,
                    "acc_own": x.acc_own,
                    "own_drop": x.own_drop,
                    "own_low": 0.0,
                    "own_high": 1.0,
                    "acc_other_mean": 0.45,
                    "other_drop_mean": x.other_drop,
                    "specificity": x.specificity,
                    "spec_low": x.low,
                    "spec_high": x.high,
                    "random_acc_mean": 0.4,
                    "random_acc_min": 0.35,
                    "random_acc_max": 0.45,
                    "below_every_random_set": x.below_every_random_set,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def methods_run(tmp_path) -> Path:
    root = _base(tmp_path / "methods")
    folder = root / "results" / "methods"
    _table(folder, "methods", _methods_table())
    _table(
        folder,
        "overlap",
        pd.DataFrame(
            {"relation": RELS, "method_a": "ap", "method_b": "mean_diff", "overlap": [200, 150], "jaccard": [0.4, 0.25]}
        ),
    )
    write_summary(folder, METHODS)
    return root


def test_methods_headline_per_method_lines_and_tables(methods_run):
    markup, text = _section(methods_run, "methods")
    assert (
        "No method was more specific than another: every paired interval includes 0. ap − mean_diff: mean absolute "
        "specificity 0.05 [-0.10, 0.20] (accuracy points; relations and triples resampled together), differences of "
        "about 0.22 or more were detectable in this run."
    ) in text
    assert "absolute specificity (the same with accuracy drops in points), ap 0.20, mean_diff 0.15" in text
    assert "2 identification methods (ap, mean_diff)" in text and "on 20 P_eva prompts of every relation" in text
    # ap: intervals [0.2, 0.9] above 0, [-0.4, 0.2] across; mean_diff: [-0.1, 0.7] across, [0.02, 0.4] above
    assert (
        "ap: mean relative specificity 0.25; 95% interval above 0 for 1 and below 0 for 0 of 2 relations; most specific on "
        "1 relation; own accuracy below every random set's for 1; top-k of all relations in 1.5 s."
    ) in text
    assert (
        "mean_diff: mean relative specificity 0.20; 95% interval above 0 for 1 and below 0 for 0 of 2 relations; most specific "
        "on 1 relation; own accuracy below every random set's for 1; top-k of all relations in 2.0 s."
    ) in text
    assert "ap and mean_diff share 150–200 of the 307 neurons (Jaccard 0.25–0.40 over the relations)" in text
    assert "its generations are those of intra and inter" in text
    assert "company_hq 0.60 [0.20, 0.90] 0.30 [-0.10, 0.70] ap" in text  # relation x method
    assert f"{ODD} -0.10 [-0.40, 0.20] 0.10 [0.02, 0.40] mean_diff" in text
    assert f"mean_diff {ODD} 20 0.50 0.30 0.25 [0.00, 1.00] 0.45 0.15 0.10 [0.02, 0.40] 0.40 (0.35–0.45) yes" in text
    assert "<b>bold</b>" not in markup and "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in markup


def test_methods_damaged_table_gives_a_note_and_keeps_the_summary(methods_run):
    folder = methods_run / "results" / "methods"
    _table(folder, "methods", _methods_table().drop(columns=["spec_low"]))
    (folder / "overlap.parquet").write_bytes(b"broken")
    _, text = _section(methods_run, "methods")
    assert (
        "methods: lacks columns ['spec_low']." in text and "results/methods/overlap.parquet could not be read" in text
    )
    assert "company_hq 0.60 [0.20, 0.90] 0.30 [-0.10, 0.70] ap" in text  # from the summary
    assert "Per method and relation: own and other drops" not in text


def test_methods_without_a_defined_specificity_says_so(methods_run):
    folder = methods_run / "results" / "methods"
    nan_scores = {
        m: {r: replace(x, specificity=NAN, low=NAN, high=NAN) for r, x in per.items()} for m, per in SCORES.items()
    }
    write_summary(
        folder,
        replace(
            METHODS,
            specificity=nan_scores,
            mean_specificity={"ap": NAN, "mean_diff": NAN},
            most_specific={"company_hq": None, ODD: None},
            most_specific_overall=None,
            comparisons=[],
        ),
    )
    _, text = _section(methods_run, "methods")
    assert "No paired comparison of the methods (fewer than 2 methods or relations)." in text
    assert "ap: mean relative specificity n/a; 95% interval above 0 for 0 and below 0 for 0 of 0 relations" in text


# ------------------------------------------------------------------ amplify

OWN = {"company_hq": {"original": 0.5, "zero": 0.3, "2xp90": 0.5}, ODD: {"original": 0.4, "zero": 0.2, "2xp90": 0.1}}
OTHER = {
    "company_hq": {"original": 0.6, "zero": 0.55, "2xp90": 0.2},
    ODD: {"original": 0.3, "zero": 0.25, "2xp90": NAN},
}
AMPLIFY = AmplifySummary(
    k=307,
    k_text=K_TEXT,
    levels=["zero", "2xp90"],
    max_other=5,
    forced_relations=RELS,
    own=OWN,
    other=OTHER,
    mean_value={"company_hq": {"zero": 0.0, "2xp90": 0.5}, ODD: {"zero": 0.0, "2xp90": 0.25}},
    own_not_below_original={"zero": [], "2xp90": ["company_hq"]},
)


def _amplify_table() -> pd.DataFrame:
    rows = []
    for r in RELS:
        for level in ("original", "zero", "2xp90"):
            for evaluated, acc, n in (("own", OWN[r][level], 50), ("other", OTHER[r][level], 5)):
                rows.append(
                    {
                        "relation": r,
                        "level": level,
                        "evaluated": evaluated,
                        "n": n,
                        "accuracy": acc,
                        "ci_low": acc - 0.1,
                        "ci_high": acc + 0.1,
                    }
                )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


@pytest.fixture
def amplify_run(tmp_path) -> Path:
    root = _base(tmp_path / "amplify")
    folder = root / "results" / "amplify"
    table = _amplify_table()
    _table(folder, "amplify", table)
    for r in RELS:
        plot_amplify(table, r, folder / f"amplify_{r}")
    write_summary(folder, AMPLIFY)
    return root


def test_amplify_headline_levels_table_and_figures(amplify_run):
    markup, text = _section(amplify_run, "amplify")
    # own: (0.5 + 0.4) / 2 = 0.45, (0.3 + 0.2) / 2 = 0.25, (0.5 + 0.1) / 2 = 0.30; other: 0.45, 0.40, and 0.20 (the only
    # defined value at 2xp90)
    assert (
        "Mean over the 2 forced relations: own accuracy 0.45 with the original model, 0.25 at zero, 0.30 at 2xp90; the "
        "other relations' mean accuracy 0.45 with the original model, 0.40 at zero, 0.20 at 2xp90."
    ) in text
    assert "forced to 2 levels, zero, 2xp90" in text and "at most 5 seeded P_eva prompts of each other relation" in text
    assert "At zero, own accuracy stayed at or above the original for 0 of 2 relations." in text
    assert "At 2xp90, own accuracy stayed at or above the original for 1 of 2 relations (company_hq)." in text
    assert "company_hq own 50 0.50 [0.40, 0.60] 0.30 [0.20, 0.40] 0.50 [0.40, 0.60]" in text
    assert f"{ODD} other 5 0.30 [0.20, 0.40] 0.25 [0.15, 0.35] n/a" in text  # NaN accuracy: n/a, no interval
    assert f"{ODD} 0 0.25" in text  # mean forced values
    assert markup.count("<figure>") == 2 and 'data-figure="results/amplify/amplify_company_hq.png"' in markup
    assert f"{ODD}: its top-k forced." in text
    assert "Also in this folder" not in text  # every table and figure is shown
    assert "<b>bold</b>" not in markup and "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in markup


def test_amplify_damaged_table_gives_a_note(amplify_run):
    folder = amplify_run / "results" / "amplify"
    _table(folder, "amplify", _amplify_table().drop(columns=["ci_low"]))
    _, text = _section(amplify_run, "amplify")
    assert "amplify: lacks columns ['ci_low']." in text and "Mean over the 2 forced relations" in text
    (folder / "summary.json").unlink()
    _, text = _section(amplify_run, "amplify")
    assert "results/amplify/summary.json not found: the headline numbers are missing" in text


# ------------------------------------------------------------------ the summaries themselves


@pytest.mark.parametrize("summary", [STABILITY, METHODS, AMPLIFY], ids=["stability", "methods", "amplify"])
def test_summaries_round_trip_with_nested_dataclasses_and_nan(tmp_path, summary):
    write_summary(tmp_path, summary)
    first = (tmp_path / "summary.json").read_text()
    back = read_summary(tmp_path, type(summary))
    write_summary(tmp_path, back)
    assert (tmp_path / "summary.json").read_text() == first  # NaN -> null -> NaN -> null
    assert json.loads(first)["experiment"] == summary.experiment and json.loads(first)["version"] == summary.version
    if isinstance(back, StabilitySummary):
        assert isinstance(back.relations[ODD], RelationStability) and math.isnan(back.relations[ODD].acc_core)
    elif isinstance(back, MethodsSummary):
        assert isinstance(back.specificity["ap"][ODD], MethodScore) and back.specificity["ap"][ODD].low == -0.4
    else:
        assert math.isnan(back.other[ODD]["2xp90"]) and back.own_not_below_original["2xp90"] == ["company_hq"]


def test_the_report_reads_the_typed_summaries(stability_run, methods_run, amplify_run):
    for root, name, kind in (
        (stability_run, "stability", StabilitySummary),
        (methods_run, "methods", MethodsSummary),
        (amplify_run, "amplify", AmplifySummary),
    ):
        assert isinstance(Section(RunFolder(root), name).summary, kind)


# ------------------------------------------------------------------ a real run (tiny model)


@pytest.fixture(scope="module")
def tiny_run(lre_dir, tmp_path_factory) -> Path:
    """`relneurons run` of the tiny study (tests/faults/tiny_study.py) with the three experiments: nothing hand-made."""
    from faults.tiny_study import answering_relations, save_model, tiny_overrides

    from relneurons.pipeline import load_config, run_study

    model = save_model(tmp_path_factory.mktemp("tiny-llama") / "model")
    relations = answering_relations(model, lre_dir, tmp_path_factory.mktemp("relations"))
    out = tmp_path_factory.mktemp("ours") / "run"
    extra = (
        'experiments.run=["intra", "stability", "methods", "amplify"]',
        "stability.resamples=5",
        "stability.max_eval=4",
        'methods.scorers=["ap", "mean_diff"]',
        "methods.max_eval=4",
        'amplify.levels=["zero", "p90"]',
        "amplify.max_other=3",
    )
    return run_study(load_config("quick", overrides=tiny_overrides(model, relations, lre_dir, out, *extra)), quiet=True)


def test_sections_of_a_real_run_show_its_summaries(tiny_run):
    stability = read_summary(tiny_run / "results" / "stability", StabilitySummary)
    methods = read_summary(tiny_run / "results" / "methods", MethodsSummary)
    amplify = read_summary(tiny_run / "results" / "amplify", AmplifySummary)
    _, text = _section(tiny_run, "stability")
    assert "could not be drawn" not in text and "Over 5 seeded half-samples" in text
    assert f"share on average a Jaccard of {stability.mean_jaccard:.2f}" in text
    lowers = [r for r, x in stability.relations.items() if x.drop_topk > 0]
    assert f"for {stability.core_reproduces} of the {len(lowers)} relation" in text
    _, text = _section(tiny_run, "methods")
    assert "could not be drawn" not in text and "2 identification methods (ap, mean_diff)" in text
    for name in ("ap", "mean_diff"):
        mean = methods.mean_specificity[name]
        assert f"{name}: mean relative specificity {'n/a' if math.isnan(mean) else f'{mean:.2f}'};" in text
    _, text = _section(tiny_run, "amplify")
    assert "could not be drawn" not in text and "forced to 2 levels, zero, p90" in text
    own = [amplify.own[r]["original"] for r in amplify.forced_relations]
    assert f"own accuracy {sum(own) / len(own):.2f} with the original model" in text
    assert "dashed: the original model" in text and text.count(": its top-k forced.") == len(amplify.forced_relations)
