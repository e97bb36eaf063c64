"""`stability`: how stable each relation's top-k is under resampled identification, and does its stable core
alone carry the intra-relation drop (issue 12 §1).

Writes, in OUT/stability/:
    stability        per relation: mean pairwise Jaccard of the resamples' top-k, mean Jaccard with the full
                     top-k, stable-core size (selected in >= `core` of the resamples), template Jaccard; the
                     relative drop of the top-k and of the core (bootstrap CI), core share, McNemar p
    frequency        per relation and neuron (full top-k and every neuron any resample selected): selection frequency
    intra            P_eva accuracy with nothing, the stable core, the full top-k or k random neurons off (95% CI)
    generations      the judged generations of that comparison
    stability.png    accuracy bars per relation (figures_methods.plot_stability)
    summary.json     `StabilitySummary` (summaries.write_summary; undefined numbers as null, read back as NaN)
The resamples reuse the activation store (no forward pass); see expertise/stability.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..expertise.stability import (
    half_samples,
    jaccard,
    mean_pairwise_jaccard,
    resampled_topk,
    selection_frequency,
    stable_core,
    template_subsets,
)
from ..report import figures_methods
from .core import _pairs
from .methods import eval_sample
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import bootstrap_drop_ci, mcnemar_exact
from .study import Study
from .summaries import RelationStability, StabilitySummary, write_summary

#: The core "reproduces" the intra drop when its relative drop is at least this share of the top-k's.
REPRODUCES_SHARE = 0.8


def _check(resamples, core, max_eval) -> tuple[int, float]:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise ConfigError(f"stability option resamples must be an integer >= 2, got {resamples!r}")
    if isinstance(core, bool) or not isinstance(core, (int, float)) or not 0 < core <= 1:
        raise ConfigError(f"stability option core must be a share in (0, 1], got {core!r}")
    if isinstance(max_eval, bool) or not isinstance(max_eval, int) or max_eval < 0:
        raise ConfigError(f"stability option max_eval must be an integer >= 0 (0 = every P_eva prompt), got {max_eval!r}")
    return resamples, float(core)


@_experiment("stability")
def stability(study: Study, folder: Path, *, resamples: int, core: float, max_eval: int) -> pd.DataFrame:
    """Resampled identification (half of every relation's triples, `resamples` times), stable core, intra comparison."""
    resamples, core = _check(resamples, core, max_eval)
    k, relations, store = study.k, study.relations, study.store
    config = study.summary["config"]
    ratio, seed, block = int(config["negative_ratio"]), int(config["seed"]), int(config.get("block", 16384))

    started = time.perf_counter()
    tops = resampled_topk(store, half_samples(store.prompts, resamples, seed), relations, k, negative_ratio=ratio,
                          seed=seed, block=block)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    by_template = template_subsets(store.prompts)
    template_tops = (resampled_topk(store, [by_template[0], by_template[1]], relations, k, negative_ratio=ratio, seed=seed,
                                    min_positives=int(config["min_positives"]), block=block) if len(by_template) >= 2 else None)
    seconds_templates = time.perf_counter() - started

    rows, frequency, cores = [], [], {}
    for relation in relations:
        full = study.ranked(relation, 0, k)
        sets = [t[relation] for t in tops if relation in t]
        ids, freq = selection_frequency(sets)
        cores[relation] = stable_core(ids, freq, core)
        listed = np.union1d(ids, full)
        share = pd.Series(freq, index=ids).reindex(listed, fill_value=0.0).to_numpy()
        names = study.nset.describe(listed)
        frequency.append(pd.DataFrame({"relation": relation, "global_index": listed, "layer": names["layer"], "module": names["module"],
                                       "unit": names["unit"], "frequency": share, "in_topk": np.isin(listed, full),
                                       "in_core": np.isin(listed, cores[relation])}))
        templ = None
        if template_tops is not None and relation in template_tops[0] and relation in template_tops[1]:
            templ = jaccard(template_tops[0][relation], template_tops[1][relation])
        rows.append({"relation": relation, "positives": int(study.summary["relations"][relation]["positives"]),
                     "resamples_ranked": len(sets), "mean_jaccard": mean_pairwise_jaccard(sets) if len(sets) > 1 else np.nan,
                     "jaccard_to_full": float(np.mean([jaccard(s, full) for s in sets])),
                     "core_size": int(cores[relation].size), "core_in_topk": int(np.isin(cores[relation], full).sum()),
                     "template_jaccard": np.nan if templ is None else templ})
    table = pd.DataFrame(rows)
    frequency = pd.concat(frequency, ignore_index=True).sort_values(["relation", "frequency", "global_index"], ascending=[True, False, True])

    intra, drops = _intra(study, folder, cores, max_eval)
    table = table.merge(drops, on="relation")
    _write(folder, "stability", table)
    _write(folder, "frequency", frequency)
    _write(folder, "intra", intra)
    figures_methods.plot_stability(intra, table, folder / "stability",
                                   title=f"P_eva accuracy: stable core (>= {core:.0%} of {resamples} resamples) vs full top-k, {study.k_text()}")
    per_relation = {r["relation"]: RelationStability(
        positives=r["positives"], resamples_ranked=r["resamples_ranked"], mean_jaccard=float(r["mean_jaccard"]),
        jaccard_to_full=float(r["jaccard_to_full"]), core_size=r["core_size"], core_in_topk=r["core_in_topk"],
        template_jaccard=float(r["template_jaccard"]), acc_original=float(r["acc_original"]), acc_topk=float(r["acc_topk"]),
        acc_core=float(r["acc_core"]), acc_random=float(r["acc_random"]), drop_topk=float(r["drop_topk"]),
        drop_core=float(r["drop_core"]), core_share=float(r["core_share"]), p_core_vs_topk=float(r["p_core_vs_topk"]),
        core_reproduces=bool(r["core_reproduces"])) for r in table.to_dict("records")}
    summary = StabilitySummary(
        k=k, k_text=study.k_text(), resamples=resamples, core_threshold=core, reproduces_share=REPRODUCES_SHARE,
        scheme="half of every relation's validated P_det triples, without replacement, all templates of a drawn triple",
        seconds_identification=round(seconds, 2), seconds_templates=round(seconds_templates, 2), forward_passes=0,
        seeds=study.config.seeds, rule=study.rule, relations=per_relation,
        core_reproduces=int(table["core_reproduces"].sum()), mean_jaccard=float(table["mean_jaccard"].mean()))
    write_summary(folder, summary)
    return table


def _intra(study: Study, folder: Path, cores: dict[str, np.ndarray], max_eval: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P_eva of each relation (at most `max_eval` prompts, seeded) with nothing, its stable core, its top-k or k random neurons off."""
    k, seeds = study.k, range(study.config.seeds)
    own = {r: study.ids_condition(f"core-{r}", ids) for r, ids in cores.items() if ids.size}
    parts = []
    for relation, group in study.eval_prompts.groupby("relation", sort=False):
        group = eval_sample(group, max_eval, study.config.seed)
        conds = ["original", study.rel(relation, 0, k)] + ([own[relation]] if relation in own else []) + [study.rnd(s, k) for s in seeds]
        parts.append(_pairs(group.reset_index(drop=True), conds, "P_eva"))
    judged = study.judge(pd.concat(parts, ignore_index=True), desc="stability")
    kinds = {study.rel(r, 0, k): "topk" for r in cores} | {c: "core" for c in own.values()} | {study.rnd(s, k): "random" for s in seeds}
    judged["kind"] = judged["condition"].map(kinds).fillna("original")
    _write(folder, "generations", judged)
    intra = study.accuracy_rows(judged, ["relation", "kind"])
    rows = []
    for relation, group in judged.groupby("relation", sort=False):
        by = {kind: g.groupby("prompt_id")["correct"].mean().sort_index().to_numpy() for kind, g in group.groupby("kind")}
        original, topk = by["original"].astype(bool), by["topk"].astype(bool)
        drop_topk, topk_low, topk_high = bootstrap_drop_ci(original, topk, study.config.n_boot, study.config.seed)
        row = {"relation": relation, "acc_original": original.mean(), "acc_topk": topk.mean(), "acc_random": by["random"].mean(),
               "drop_topk": drop_topk, "drop_topk_low": topk_low, "drop_topk_high": topk_high, "acc_core": np.nan,
               "drop_core": np.nan, "drop_core_low": np.nan, "drop_core_high": np.nan, "core_share": np.nan, "p_core_vs_topk": np.nan}
        if "core" in by:
            core = by["core"].astype(bool)
            drop_core, low, high = bootstrap_drop_ci(original, core, study.config.n_boot, study.config.seed)
            row.update(acc_core=core.mean(), drop_core=drop_core, drop_core_low=low, drop_core_high=high,
                       core_share=drop_core / drop_topk if drop_topk > 0 else np.nan, p_core_vs_topk=mcnemar_exact(core, topk)[2])
        row["core_reproduces"] = bool(drop_topk > 0 and row["drop_core"] >= REPRODUCES_SHARE * drop_topk)
        rows.append(row)
    return intra, pd.DataFrame(rows)
