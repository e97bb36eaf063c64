"""The paper's core experiments (§4.1, §4.2, §5.1, App. J), each writing tables and a figure.

Every function takes an open `Study` (and keyword options), writes into
`study.out / <name>/`: `<table>.parquet` + `.csv`, the figure as PNG + SVG,
and `summary.json` with the key numbers; it returns the main table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..plots import figures
from .common import condition_kind, prompt_pairs
from .conditions import ConditionName
from .cumulativity import cumulativity_from_long, summarise_cumulativity
from .error_analysis import error_table, error_table_wide
from .multiplicity import adjust_within
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import (
    accuracy_ci,
    bootstrap_drop_ci,
    mcnemar_exact,
    relation_vs_random,
    relative_drop,
    specificity_test,
    triple_clusters,
)
from .study import Study
from .summaries import (
    RelationTest,
    Specificity,
    SpecificityRank,
    cumulativity_summary,
    errors_summary,
    inter_summary,
    intra_summary,
    layers_summary,
    overlap_summary,
    relation_tests_table,
    sweep_summary,
    write_summary,
)
from .tables import layer_distribution, matrix_to_long, overlap_matrix


def _topk(study: Study) -> pd.DataFrame:
    rows = [pd.DataFrame({"relation": r, "global_index": study.ranked(r, 0, study.k)}) for r in study.relations]
    table = pd.concat(rows, ignore_index=True)
    names = study.nset.describe(table["global_index"].to_numpy())
    return table.assign(layer=names["layer"], module=names["module"])


# ------------------------------------------------------------------ Fig. 1, 2


@_experiment("layers")
def layers(study: Study, folder: Path) -> pd.DataFrame:
    """Fig. 1: how many of each relation's top-k neurons sit in each layer."""
    n_layers = max(s.layer for s in study.nset.sites) + 1
    table = layer_distribution(_topk(study), n_layers)
    _write(folder, "layers", table)
    figures.plot_layer_distribution(table, folder / "layers", title=f"Top-k neurons per layer ({study.k_text()})")
    write_summary(folder, layers_summary(table, n_layers, study.k, study.k_text()))
    return table


@_experiment("overlap")
def overlap(study: Study, folder: Path) -> pd.DataFrame:
    """Fig. 2: |top-k(r_i) ∩ top-k(r_j)| for every pair."""
    matrix = overlap_matrix(_topk(study))
    _write(folder, "overlap", matrix_to_long(matrix, "relation_i", "relation_j", "overlap"))
    figures.plot_heatmap(
        matrix, folder / "overlap", title=f"Overlap of top-k sets ({study.k_text()})", value_format="d", cmap="Blues"
    )
    write_summary(folder, overlap_summary(matrix, study.k, study.k_text()))
    return matrix


# --------------------------------------------------------------------- Fig. 3


@_experiment("intra")
def intra(study: Study, folder: Path, *, det_random_sets: int) -> pd.DataFrame:
    """Fig. 3: accuracy on P_eva and validated P_det with nothing, k random, or the relation's top-k off.
    P_det gets the study's first `det_random_sets` random sets (0: all)."""
    k, seeds = study.k, range(study.config.seeds)
    det_seeds = range(min(det_random_sets, study.config.seeds) if det_random_sets else study.config.seeds)
    judged = []
    for split_name, prompts in (("P_eva", study.eval_prompts), ("P_det", study.det_prompts)):
        for relation, group in prompts.groupby("relation", sort=False):
            group = group.reset_index(drop=True)
            conds = ["original", study.rel(relation, 0, k)] + [
                study.rnd(s, k) for s in (seeds if split_name == "P_eva" else det_seeds)
            ]
            judged.append(prompt_pairs(group, conds, split_name))
    judged = study.judge(pd.concat(judged, ignore_index=True), desc="intra")
    judged["kind"] = judged["condition"].map(condition_kind)
    _write(folder, "generations", judged)
    table, tests, per_seed = intra_tables(study, judged)
    _write(folder, "random_seeds", per_seed)
    _write(folder, "intra", table)
    _write(folder, "tests", tests)
    figures.plot_intra(table, folder / "intra", title=f"Intra-relation accuracy, {study.k_text()}")
    write_summary(folder, intra_summary(tests, k, study.k_text(), study.rule, list(seeds)))
    return table


def intra_tables(
    study: Study, judged: pd.DataFrame, own: dict[str, str] | None = None, seeds: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Accuracy table, tests and per-seed random accuracies of judged intra pairs (columns relation, split,
    condition, kind, prompt_id, correct, and subject, object for the triples; conditions original, the relation's
    top-k and random seeds 0..seeds-1). `own` names each group's own condition (kind "relation") when it is not the
    relation's top-k (e.g. concept neurons). Each random seed's set is one replicate (`relation_vs_random`); when a
    triple has several prompts (templates) its prompts are one cluster. The tests have the fields of `RelationTest`.
    `seeds`: the random sets judged, the study's first N (default: all of them)."""
    k, seeds = study.k, range(study.config.seeds if seeds is None else seeds)
    per_seed = study.accuracy_rows(judged[judged["kind"] == "random"], ["relation", "split", "condition"])
    n_boot, seed = study.config.n_boot, study.config.seed
    rows, tests = [], []
    for (relation, split_name), group in judged.groupby(["relation", "split"], sort=False):
        ordered = {c: g.sort_values("prompt_id") for c, g in group.groupby("condition")}
        by = {c: g["correct"].to_numpy() for c, g in ordered.items()}
        clusters = triple_clusters(ordered["original"])
        asked = [s for s in seeds if study.rnd(s, k) in by]  # a split may ask fewer sets (intra's det_random_sets)
        random_sets = np.stack([by[study.rnd(s, k)] for s in asked])  # [n_sets, n_prompts]
        random_correct = random_sets.mean(axis=0)  # per prompt, mean over sets (for the bar and its interval)
        seed_acc = random_sets.mean(axis=1)
        stats = study.accuracy_rows(group[group["kind"] != "random"], ["kind"]).set_index("kind")
        for kind in ("original", "relation"):
            rows.append(
                {
                    "relation": relation,
                    "split": split_name,
                    "condition": kind,
                    **stats.loc[kind, ["n", "accuracy", "ci_low", "ci_high"]].to_dict(),
                }
            )
        acc, low, high = accuracy_ci(random_correct, n_boot, seed, clusters=clusters)
        rows.append(
            {
                "relation": relation,
                "split": split_name,
                "condition": "random",
                "n": len(random_correct),
                "accuracy": acc,
                "ci_low": low,
                "ci_high": high,
                "seed_low": float(seed_acc.min()),
                "seed_high": float(seed_acc.max()),
            }
        )
        rel = by[own[relation] if own else study.rel(relation, 0, k)]
        vs = relation_vs_random(rel, random_sets, clusters, n_boot, seed)
        tests.append(
            RelationTest(
                relation=relation,
                split=split_name,
                n=vs.n_prompts,
                n_clusters=vs.n_clusters,
                acc_original=float(by["original"].mean()),
                acc_random=vs.acc_random_mean,
                acc_relation=vs.acc_relation,
                percentile=vs.percentile,
                p_relation_vs_random=vs.p_value,
                n_random_sets=vs.n_sets,
                random_low=vs.random_low,
                random_high=vs.random_high,
                diff=vs.diff,
                diff_low=vs.diff_low,
                diff_high=vs.diff_high,
                test=vs.method,
                p_relation_vs_original=mcnemar_exact(by["original"], rel, clusters, seed=seed)[2],
                p_rank=vs.p_rank,
            )
        )
    return pd.DataFrame(rows), holm_by_split(relation_tests_table(tests)), per_seed


def holm_by_split(tests: pd.DataFrame) -> pd.DataFrame:
    """A tests table with its Holm columns: one family per split (one experiment on one split)."""
    return tests.assign(
        **{
            f"{column}_holm": adjust_within(tests[column], tests["split"], "holm")
            for column in ("p_relation_vs_random", "p_relation_vs_original")
        }
    )


# --------------------------------------------------------------------- Fig. 4


@_experiment("inter")
def inter(study: Study, folder: Path) -> pd.DataFrame:
    """Fig. 4: relative accuracy drop of r_i on P_eva when r_j's top-k are off, all pairs, with intervals; and the
    specificity test of that matrix (own set vs the other relations' sets), on P_eva and on the validated P_det."""
    k, relations = study.k, study.relations
    conds = ["original"] + [study.rel(r, 0, k) for r in relations]
    deactivations = {r: study.rel(r, 0, k) for r in relations}
    tables, tests = {}, []
    for split_name, prompts in (("P_eva", study.eval_prompts), ("P_det", study.det_prompts)):
        pairs = [
            prompt_pairs(g.reset_index(drop=True), conds, split_name)
            for _, g in prompts.groupby("relation", sort=False)
        ]
        if not pairs:
            continue
        judged = study.judge(pd.concat(pairs, ignore_index=True), desc=f"inter ({split_name})")
        tables[split_name] = inter_table(study, judged, deactivations)
        tests.append(specificity_of(tables[split_name], relations, split_name, study.config.seed))
    table = tables["P_eva"]
    _write(folder, "inter", table)
    if "P_det" in tables:
        _write(folder, "inter_det", tables["P_det"])
    _write(folder, "specificity", specificity_table(tests))
    inter_figure(table, relations, folder / "inter", study.k_text())
    write_summary(folder, inter_summary(table, relations, k, study.k_text(), specificity=tests))
    return table


def specificity_of(table: pd.DataFrame, relations: list[str], split_name: str, seed: int = 0) -> Specificity:
    """`stats.specificity_test` of an inter table (evaluated x deactivated drops), as the summary's record."""
    matrix = (
        table.pivot(index="evaluated", columns="deactivated", values="drop")
        .reindex(index=relations, columns=relations)
        .astype(float)
    )
    result = specificity_test(matrix, seed=seed)
    ranks = [
        SpecificityRank(**{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
        for row in result.relations.to_dict("records")
    ]
    return Specificity(
        split=split_name,
        statistic=result.statistic,
        p_value=result.p_value,
        method=result.method,
        n_relations=result.n_relations,
        reason=result.reason,
        relations=ranks,
    )


def specificity_table(tests: list[Specificity]) -> pd.DataFrame:
    """One row per split and relation: the split's test (statistic, p) and the relation's own-set rank."""
    rows = [
        {
            "split": t.split,
            "statistic": t.statistic,
            "p_value": t.p_value,
            "method": t.method,
            **{k: getattr(r, k) for k in ("relation", "own_drop", "other_drop", "n_sets", "rank", "rank_p")},
        }
        for t in tests
        for r in t.relations
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "split",
            "statistic",
            "p_value",
            "method",
            "relation",
            "own_drop",
            "other_drop",
            "n_sets",
            "rank",
            "rank_p",
        ],
    )


def inter_figure(table: pd.DataFrame, relations: list[str], stem: Path, k_text: str) -> dict:
    """Heatmap of an inter table (evaluated x deactivated, drop in %) and its key numbers (`summaries.inter_summary`)."""
    matrix = (
        table.pivot(index="evaluated", columns="deactivated", values="drop").reindex(index=relations, columns=relations)
        * 100
    )
    figures.plot_heatmap(
        matrix,
        stem,
        title=f"Accuracy drop (%) of row when column's neurons are off; {k_text}",
        value_format="{:.0f}",
        cmap="RdBu_r",
        vmin=-100,
        vmax=100,
        xlabel="deactivated relation",
        ylabel="evaluated relation",
        colorbar_label="accuracy drop (%)",
    )
    summary = inter_summary(table, relations, 0, k_text)
    return {
        "undefined_cells": summary.undefined_cells,
        "own_drop_exceeds_mean_other": summary.own_drop_exceeds_mean_other,
        "compared": summary.compared,
        "relations": summary.n_relations,
        "mean_own_drop": summary.mean_own_drop,
        "mean_other_drop": summary.mean_other_drop,
    }


def inter_table(study: Study, judged: pd.DataFrame, deactivations: dict[str, str]) -> pd.DataFrame:
    """Relative accuracy drop with bootstrap interval, one row per (evaluated, deactivated) pair.

    `judged`: P_eva pairs (relation, condition, prompt_id, correct) under "original" and every condition of
    `deactivations` (deactivated relation -> condition name)."""
    rows = []
    for evaluated, group in judged.groupby("relation", sort=False):
        ordered = {c: g.sort_values("prompt_id") for c, g in group.groupby("condition")}
        by = {c: g["correct"].to_numpy() for c, g in ordered.items()}
        clusters = triple_clusters(ordered["original"])
        for deactivated, condition in deactivations.items():
            deact = by[condition]
            drop, low, high = bootstrap_drop_ci(
                by["original"], deact, study.config.n_boot, study.config.seed, clusters=clusters
            )
            rows.append(
                {
                    "evaluated": evaluated,
                    "deactivated": deactivated,
                    "n": len(deact),
                    "acc_original": float(by["original"].mean()),
                    "acc_deactivated": float(deact.mean()),
                    "drop": relative_drop(float(by["original"].mean()), float(deact.mean())),
                    "drop_low": low,
                    "drop_high": high,
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ Fig. 5, 22


@_experiment("sweep")
def sweep(study: Study, folder: Path, *, k_sweep: tuple[int, ...]) -> pd.DataFrame:
    """Fig. 5/22: accuracy of every relation on P_eva with r's top-k off, for each k."""
    ks = tuple(sorted({k for k in k_sweep if k <= study.nset.size}))
    relations, prompts = study.relations, study.eval_prompts
    conds = ["original"] + [study.rel(r, 0, k) for r in relations for k in ks]
    judged = study.judge(
        pd.concat(
            [
                prompt_pairs(g.reset_index(drop=True), conds, "P_eva")
                for _, g in prompts.groupby("relation", sort=False)
            ],
            ignore_index=True,
        ),
        desc="k sweep",
    )
    _write(folder, "generations", judged)
    acc = study.accuracy_rows(judged, ["relation", "condition"]).rename(columns={"relation": "evaluated"})
    rows = []
    for deactivated in relations:
        original = acc[acc.condition == "original"].assign(k=0)
        rows.append(original.assign(deactivated=deactivated))
        for k in ks:
            rows.append(acc[acc.condition == study.rel(deactivated, 0, k)].assign(k=k, deactivated=deactivated))
    table = pd.concat(rows, ignore_index=True).drop(columns="condition")
    table["k_fraction"] = table["k"] / study.nset.size
    table = table[["deactivated", "evaluated", "k", "k_fraction", "n", "accuracy", "ci_low", "ci_high"]]
    _write(folder, "sweep", table)
    figures.plot_k_sweep(
        table, folder / "sweep", title=f"Accuracy vs k ({study.nset.size:,} {study.nset.name} neurons)"
    )
    write_summary(folder, sweep_summary(table, relations, study.nset.size))
    return table


# ---------------------------------------------------------------- Fig. 6, Table 2


@_experiment("cumulativity")
def cumulativity(study: Study, folder: Path, *, k_sweep: tuple[int, ...], only_flipped: bool = True) -> pd.DataFrame:
    """Fig. 6 / Table 2: is the extra damage between k = a and b caused by ranks a+1..b alone?

    The range (a, b] enters the counts only for prompts that flip (right with top-a off, wrong with top-b off),
    so by default it is generated for those prompts alone; `only_flipped=False` generates it for every prompt
    (the full computation, same tables: tested)."""
    ks = tuple(sorted({k for k in k_sweep if k <= study.nset.size}))
    groups = [
        (relation, group.reset_index(drop=True))
        for relation, group in study.eval_prompts.groupby("relation", sort=False)
    ]
    top = study.judge(
        pd.concat(
            [prompt_pairs(group, [study.rel(relation, 0, k) for k in ks], "P_eva") for relation, group in groups],
            ignore_index=True,
        ),
        desc="cumulativity",
    )
    ranges = []
    for relation, group in groups:
        mine = top[top["relation"] == relation]
        correct = {
            k: mine[mine["condition"] == study.rel(relation, 0, k)].sort_values("prompt_id")["correct"].to_numpy()
            for k in ks
        }
        for a, b in zip(ks, ks[1:]):
            needed = correct[a] & ~correct[b] if only_flipped else np.ones(len(group), dtype=bool)
            ranges.append(prompt_pairs(group, [study.rel(relation, a, b)], "P_eva")[needed])
    ranges = pd.concat(ranges, ignore_index=True) if ranges else top.iloc[:0]
    judged = (
        pd.concat([top, study.judge(ranges, desc="cumulativity (ranges)")], ignore_index=True) if len(ranges) else top
    )
    ranks = [ConditionName.parse(c).ranks for c in judged["condition"]]
    long = judged.assign(lo=[lo for lo, _ in ranks], hi=[hi for _, hi in ranks])[
        ["relation", "lo", "hi", "prompt_id", "correct"]
    ]
    counts = cumulativity_from_long(long)
    summary = summarise_cumulativity(counts)
    _write(folder, "cumulativity", counts)
    _write(folder, "summary_table", summary)
    figures.plot_cumulativity(summary, folder / "cumulativity")
    write_summary(folder, cumulativity_summary(summary, list(ks)))
    return counts


# ------------------------------------------------------------------ App. J


@_experiment("errors")
def errors(study: Study, folder: Path, *, error_tokens: int) -> pd.DataFrame:
    """App. J / Table 3: what the model says instead, for P_eva prompts broken by the relation's top-k."""
    k = study.k
    prompts = study.eval_prompts
    base = study.judge(
        pd.concat(
            [
                prompt_pairs(g.reset_index(drop=True), ["original", study.rel(r, 0, k)], "P_eva")
                for r, g in prompts.groupby("relation", sort=False)
            ],
            ignore_index=True,
        ),
        desc="errors",
    )
    original = base[base["condition"] == "original"].set_index(["relation", "prompt_id"])
    deactivated = base[base["condition"] != "original"].set_index(["relation", "prompt_id"])["correct"]
    broken = original[original["correct"] & ~deactivated.reindex(original.index)].reset_index()[
        ["relation", "prompt_id", "text", "object"]
    ]
    long = (
        study.judge(
            broken.assign(condition=[study.rel(r, 0, k) for r in broken["relation"]]),
            max_new_tokens=error_tokens,
            desc="errors (20 tokens)",
        )
        if len(broken)
        else broken.assign(condition=[], generation=[], correct=[])
    )
    table = error_table(long.rename(columns={"text": "prompt"})[["relation", "prompt", "generation"]])
    _write(folder, "errors", table)
    _write(folder, "errors_wide", error_table_wide(table))
    _write(folder, "broken_prompts", long)
    write_summary(folder, errors_summary(table, k, study.k_text(), error_tokens))
    return table


CORE = {
    "layers": layers,
    "overlap": overlap,
    "intra": intra,
    "inter": inter,
    "sweep": sweep,
    "cumulativity": cumulativity,
    "errors": errors,
}
