"""A small hand-made run folder for the HTML report tests (tables + real figures, no model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relneurons.experiments.summaries import (
    CumulativityRange,
    CumulativitySummary,
    ErrorShare,
    ErrorsSummary,
    LayerPeak,
    LayersSummary,
    OverlapSummary,
    RelationTest,
    inter_summary,
    intra_summary,
    relation_tests_table,
    sweep_summary,
    write_summary,
)
from relneurons.plots import figures

#: One relation name needs escaping (it would otherwise become markup).
ODD = "star<b>bold</b>&co"
RELS = ["company_hq", ODD]
#: A generation that must come out escaped.
EVIL_GENERATION = "<script>alert(1)</script> & more\nsecond line"


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def _table(folder: Path, name: str, df: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_parquet(folder / f"{name}.parquet", index=False)
    df.to_csv(folder / f"{name}.csv", index=False)


def make_run(root: Path) -> Path:
    """Write a complete little run folder under `root` and return it."""
    k, n = 307, 85248
    _json(
        root / "manifest.json",
        {  # the layout `relneurons run` writes: config.toml's sections, the seeds used
            "config": {
                "model": {"name": "tiny-model", "dtype": ""},
                "neurons": {"k": 0.0036, "set": "ffn"},
                "data": {
                    "relations": RELS + ["tiny_rel"],
                    "rule": "robust",
                    "templates": [0, 1],
                    "dir": "https://example.invalid/not-a-resource",
                },
                "experiments": {"random_seeds": 3},
            },
            "seeds": {"data": 0, "random_neurons": 3},
            "versions": {"relneurons": "9.9.9", "torch": "2.0"},
            "started": "2030-01-02T03:04:05Z",
            "finished": "2030-01-02T03:10:05Z",
            "stages": {
                "collect": {"seconds": 35.1, "status": "done"},
                "identify": {"seconds": 125.0, "status": "done"},
            },
            "machine": "Linux x86_64, 2 cores",
        },
    )
    _json(
        root / "store" / "manifest.json",
        {
            "identity": {
                "model": "tiny-model",
                "relations": RELS + ["tiny_rel"],
                "templates": [0, 1],
                "suffix": "? Answer:",
                "rule": "robust",
                "n_eval": 20,
                "seed": 0,
                "neuron_set": "ffn",
                "n_neurons": n,
                "max_new_tokens": 2,
                "model_fingerprint": "sha256:abc123",
            }
        },
    )
    rows = []
    for rel, n_prompts, n_correct in (("company_hq", 40, 10), (ODD, 20, 15), ("tiny_rel", 10, 2)):
        for i in range(n_prompts):
            rows.append(
                {
                    "relation": rel,
                    "subject": f"s{i}",
                    "object": f"o{i}",
                    "template": "{} is in the city of",
                    "text": f"s{i} is in the city of? Answer:",
                    "generation": f" o{i}",
                    "correct": i < n_correct,
                    "act_row": i if i < n_correct else -1,
                }
            )
    _table(root / "store", "prompts", pd.DataFrame(rows))
    _json(
        root / "identify" / "summary.json",
        {
            "k": k,
            "k_fraction": k / n,
            "n_neurons": n,
            "neuron_set": "ffn",
            "relations": {"company_hq": {"positives": 10, "negatives": 15}, ODD: {"positives": 15, "negatives": 10}},
            "skipped": {"tiny_rel": "only 2 validated prompts (< 5)"},
        },
    )

    res = root / "results"
    # Fig. 1
    layers = pd.DataFrame(
        [
            (r, layer, c)
            for r, counts in zip(RELS, ([100, 150, 57, 0], [20, 40, 200, 47]))
            for layer, c in enumerate(counts)
        ],
        columns=["relation", "layer", "count"],
    )
    layers["fraction"] = layers["count"] / k
    _table(res / "layers", "layers", layers)
    figures.plot_layer_distribution(layers, res / "layers" / "layers")
    write_summary(
        res / "layers",
        LayersSummary(  # by hand: 4 layers, the first half is layers 0-1
            k,
            "k = 307 (0.36% of 85,248 ffn neurons)",
            n_layers=4,
            first_half_layers=2,
            mean_first_half=(250 + 60) / 2 / 307,
            relations=[LayerPeak("company_hq", 307, 1, 150, 250 / 307), LayerPeak(ODD, 307, 2, 200, 60 / 307)],
        ),
    )
    # Fig. 2
    overlap = pd.DataFrame(
        [("company_hq", "company_hq", 307), ("company_hq", ODD, 12), (ODD, "company_hq", 12), (ODD, ODD, 307)],
        columns=["relation_i", "relation_j", "overlap"],
    )
    _table(res / "overlap", "overlap", overlap)
    figures.plot_heatmap(
        overlap.pivot(index="relation_i", columns="relation_j", values="overlap"),
        res / "overlap" / "overlap",
        value_format="d",
    )
    write_summary(
        res / "overlap",
        OverlapSummary(
            k,
            "k = 307 (0.36% of 85,248 ffn neurons)",
            n_relations=2,
            pairs=1,
            max_overlap=12,
            max_pair=["company_hq", ODD],
            mean_overlap=12.0,
            pairs_sharing_none=0,
        ),
    )
    # Fig. 3
    intra = pd.DataFrame(
        [
            ("company_hq", "P_eva", "original", 20, 0.20, 0.05, 0.40, np.nan, np.nan),
            ("company_hq", "P_eva", "relation", 20, 0.25, 0.10, 0.45, np.nan, np.nan),
            ("company_hq", "P_eva", "random", 20, 0.20, 0.05, 0.40, 0.15, 0.25),
            (ODD, "P_eva", "original", 20, 0.80, 0.60, 0.95, np.nan, np.nan),
            (ODD, "P_eva", "relation", 20, 0.10, 0.00, 0.25, np.nan, np.nan),
            (ODD, "P_eva", "random", 20, 0.75, 0.55, 0.90, 0.70, 0.80),
            ("company_hq", "P_det", "original", 10, 1.0, 1.0, 1.0, np.nan, np.nan),
            ("company_hq", "P_det", "relation", 10, 0.7, 0.4, 0.9, np.nan, np.nan),
            ("company_hq", "P_det", "random", 10, 0.9, 0.7, 1.0, 0.8, 1.0),
        ],
        columns=["relation", "split", "condition", "n", "accuracy", "ci_low", "ci_high", "seed_low", "seed_high"],
    )
    _table(res / "intra", "intra", intra)
    tests = relation_tests_table(
        [
            RelationTest(
                r,
                sp,
                20,
                20,
                orig,
                rnd,
                rel,
                pct,
                np.nan,
                3,
                rnd - 0.2,
                rnd + 0.2,
                rel - rnd,
                rel - rnd - 0.1,
                rel - rnd + 0.1,
                "none",
                p_orig,
                p_rank=p_rank,
                p_relation_vs_original_holm=holm,
            )
            for r, sp, orig, rnd, rel, pct, p_rank, p_orig, holm in (  # 3 random sets: no p, the rank p beside it
                ("company_hq", "P_eva", 0.20, 0.20, 0.25, 50.0, 0.75, 1.0, 1.0),
                (ODD, "P_eva", 0.80, 0.75, 0.10, 0.0, 0.25, 0.0004, 0.0008),
                ("company_hq", "P_det", 1.0, 0.9, 0.7, 0.0, 0.25, 0.25, 0.25),
            )
        ]
    )
    _table(res / "intra", "tests", tests)
    figures.plot_intra(intra, res / "intra" / "intra")
    shutil.copy(
        res / "layers" / "layers.png", res / "intra" / "extra_view.png"
    )  # an extra figure of a known experiment
    write_summary(res / "intra", intra_summary(tests, k, "k = 307 (0.36% of 85,248 ffn neurons)", "robust", [0, 1, 2]))
    # Fig. 4: one undefined cell (acc_original = 0)
    inter = pd.DataFrame(
        [
            ("company_hq", "company_hq", 20, 0.0, 0.0, np.nan, np.nan, np.nan),
            ("company_hq", ODD, 20, 0.0, 0.05, np.nan, np.nan, np.nan),
            (ODD, "company_hq", 20, 0.80, 0.70, 0.125, -0.1, 0.3),
            (ODD, ODD, 20, 0.80, 0.50, 0.375, 0.0, 0.75),
        ],
        columns=["evaluated", "deactivated", "n", "acc_original", "acc_deactivated", "drop", "drop_low", "drop_high"],
    )
    _table(res / "inter", "inter", inter)
    figures.plot_heatmap(
        inter.pivot(index="evaluated", columns="deactivated", values="drop") * 100,
        res / "inter" / "inter",
        value_format="{:.0f}",
        cmap="RdBu_r",
        vmin=-100,
        vmax=100,
    )
    write_summary(res / "inter", inter_summary(inter, ["company_hq", ODD], k, "k = 307 (0.36% of 85,248 ffn neurons)"))
    # Fig. 5
    sweep = []
    for d in RELS:
        for kk, own, other in ((0, 0.6, 0.5), (10, 0.55, 0.5), (300, 0.15, 0.45)):
            for e in RELS:
                acc = own if e == d else other
                sweep.append((d, e, kk, kk / n, 20, acc, max(0.0, acc - 0.2), min(1.0, acc + 0.2)))
    sweep = pd.DataFrame(
        sweep, columns=["deactivated", "evaluated", "k", "k_fraction", "n", "accuracy", "ci_low", "ci_high"]
    )
    _table(res / "sweep", "sweep", sweep)
    figures.plot_k_sweep(sweep, res / "sweep" / "sweep")
    write_summary(res / "sweep", sweep_summary(sweep, RELS, n))
    # Fig. 6 / Table 2
    cum = pd.DataFrame(
        [("company_hq", 10, 300, 4, 1, 0.75, 20), (ODD, 10, 300, 0, 0, np.nan, 20)],
        columns=["relation", "a", "b", "total", "affected", "cumulativity", "n_prompts"],
    )
    _table(res / "cumulativity", "cumulativity", cum)
    summ = pd.DataFrame(
        [(10, 300, 0.75, 1, 0.75, 4, 1)], columns=["a", "b", "macro", "n_relations", "micro", "total", "affected"]
    )
    _table(res / "cumulativity", "summary_table", summ)
    figures.plot_cumulativity(summ, res / "cumulativity" / "cumulativity")
    write_summary(
        res / "cumulativity", CumulativitySummary([10, 300], [CumulativityRange(10, 300, 0.75, 1, 0.75, 4, 1)])
    )
    # App. J
    errors = pd.DataFrame(
        [
            (ODD, "repeats_prompt", 1, 4, 25.0, "s1 is in the city of", None, None),
            (ODD, "starts_with_the", 0, 4, 0.0, None, None, None),
            (ODD, "starts_with_a", 0, 4, 0.0, None, None, None),
            (ODD, "other", 3, 4, 75.0, EVIL_GENERATION, "Paris", None),
        ],
        columns=["relation", "category", "count", "total", "percent", "example_1", "example_2", "example_3"],
    )
    _table(res / "errors", "errors", errors)
    wide = pd.DataFrame(
        [(ODD, 25.0, 0.0, 0.0, 75.0, 4)],
        columns=["relation", "repeats_prompt", "starts_with_the", "starts_with_a", "other", "total"],
    )
    _table(res / "errors", "errors_wide", wide)
    write_summary(
        res / "errors",
        ErrorsSummary(
            k,
            "k = 307 (0.36% of 85,248 ffn neurons)",
            20,
            4,
            [
                ErrorShare("repeats_prompt", 1, 0.25),
                ErrorShare("starts_with_the", 0, 0.0),
                ErrorShare("starts_with_a", 0, 0.0),
                ErrorShare("other", 3, 0.75),
            ],
        ),
    )
    # A later experiment the report does not know: shown generically.
    novel = res / "novel_probe"
    _table(
        novel,
        "scores",
        pd.DataFrame(
            {"relation": [f"r{i}" for i in range(60)], "score": np.linspace(0, 1, 60), "p_value": np.full(60, 0.0421)}
        ),
    )
    _json(novel / "summary.json", {"best": "r59", "mean_score": 0.5})
    figures.plot_cumulativity(summ, novel / "novel_plot")
    return root


@pytest.fixture(scope="session")
def _run_template(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("template") / "run")


@pytest.fixture
def small_run(_run_template, tmp_path) -> Path:
    """A fresh copy of the hand-made run folder, free to modify."""
    return Path(shutil.copytree(_run_template, tmp_path / "run"))
