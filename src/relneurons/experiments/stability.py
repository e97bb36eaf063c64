"""`stability`: how stable each relation's top-k is under resampled identification, and does its stable core
alone carry the intra-relation drop, more than a set of the same size would?

The core is the neurons in the top-k of at least ceil(core x resamples) of the resamples (refused below 4). A core
of n neurons is compared with three size-matched controls: the top-n by AP (the core is mostly the top of the AP
ranking, so this is the control that matters: McNemar core vs top-n, Holm over the relations), a random n-subset of
the top-k and n random neurons.

Writes, in OUT/stability/:
    stability        per relation: mean pairwise Jaccard of the resamples' top-k, mean Jaccard with the full
                     top-k, stable-core size (selected in >= `core` of the resamples), template Jaccard; the
                     relative drop of the top-k and of the core (bootstrap CI), core share, McNemar p
    frequency        per relation and neuron (full top-k and every neuron any resample selected): selection frequency
    intra            P_eva accuracy with nothing, the stable core, its controls, the full top-k or k random neurons off
    generations      the judged generations of that comparison
    stability.png    accuracy bars per relation (figures_methods.plot_stability)
    summary.json     `StabilitySummary` (summaries.write_summary; undefined numbers as null, read back as NaN)
The resamples reuse the activation store (no forward pass); see expertise/stability.py.
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..expertise.stability import (
    half_samples,
    jaccard,
    mean_pairwise_jaccard,
    resampled_topk,
    selection_frequency,
    stable_core,
    template_subsets,
)
from ..plots import methods as figures_methods
from .common import prompt_pairs
from .methods import eval_sample
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import adjust, bootstrap_drop_ci, mcnemar_exact, relative_drop, triple_clusters
from .study import Study
from .summaries import RelationStability, StabilitySummary, write_summary

#: The core "reproduces" the intra drop when its relative drop is at least this share of the top-k's.
REPRODUCES_SHARE = 0.8


#: A stable core must rest on at least this many resamples (core x resamples), else it is refused.


def core_count(core: float, resamples: int) -> int:
    """Resamples a neuron must be selected in to be in the stable core: ceil(core x resamples)."""
    return math.ceil(core * resamples - 1e-9)


@_experiment("stability")
def stability(study: Study, folder: Path, *, resamples: int, core: float, max_eval: int) -> pd.DataFrame:
    """Resampled identification (half of every relation's triples, `resamples` times), stable core, intra comparison."""
    core = float(core)  # options checked by the spec (registry.Stability), the core share may come as an int
    k, relations, store = study.k, study.relations, study.store
    config = study.summary["config"]
    ratio, seed, block = int(config["negative_ratio"]), int(config["seed"]), int(config.get("block", 16384))

    started = time.perf_counter()
    tops = resampled_topk(
        store, half_samples(store.prompts, resamples, seed), relations, k, negative_ratio=ratio, seed=seed, block=block
    )
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    by_template = template_subsets(store.prompts)
    template_tops = (
        resampled_topk(
            store,
            [by_template[0], by_template[1]],
            relations,
            k,
            negative_ratio=ratio,
            seed=seed,
            min_positives=int(config["min_positives"]),
            block=block,
        )
        if len(by_template) >= 2
        else None
    )
    seconds_templates = time.perf_counter() - started

    rows, frequency, cores = [], [], {}
    needed = core_count(core, resamples)  # a core neuron is in the top-k of at least this many resamples
    for relation in relations:
        full = study.ranked(relation, 0, k)
        sets = [t[relation] for t in tops if relation in t]
        ids, freq = selection_frequency(sets)
        cores[relation] = stable_core(ids, freq, needed / resamples)
        listed = np.union1d(ids, full)
        share = pd.Series(freq, index=ids).reindex(listed, fill_value=0.0).to_numpy()
        names = study.nset.describe(listed)
        frequency.append(
            pd.DataFrame(
                {
                    "relation": relation,
                    "global_index": listed,
                    "layer": names["layer"],
                    "module": names["module"],
                    "unit": names["unit"],
                    "frequency": share,
                    "in_topk": np.isin(listed, full),
                    "in_core": np.isin(listed, cores[relation]),
                }
            )
        )
        templ = None
        if template_tops is not None and relation in template_tops[0] and relation in template_tops[1]:
            templ = jaccard(template_tops[0][relation], template_tops[1][relation])
        rows.append(
            {
                "relation": relation,
                "positives": int(study.summary["relations"][relation]["positives"]),
                "resamples_ranked": len(sets),
                "mean_jaccard": mean_pairwise_jaccard(sets) if len(sets) > 1 else np.nan,
                "jaccard_to_full": float(np.mean([jaccard(s, full) for s in sets])),
                "core_size": int(cores[relation].size),
                "core_in_topk": int(np.isin(cores[relation], full).sum()),
                "template_jaccard": np.nan if templ is None else templ,
            }
        )
    table = pd.DataFrame(rows)
    frequency = pd.concat(frequency, ignore_index=True).sort_values(
        ["relation", "frequency", "global_index"], ascending=[True, False, True]
    )

    intra, drops = _intra(study, folder, cores, max_eval)
    table = table.merge(drops, on="relation")
    _write(folder, "stability", table)
    _write(folder, "frequency", frequency)
    _write(folder, "intra", intra)
    figures_methods.plot_stability(
        intra,
        table,
        folder / "stability",
        title=f"P_eva accuracy: stable core (in >= {needed} of {resamples} resamples) vs full top-k, {study.k_text()}",
    )
    per_relation = {
        r["relation"]: RelationStability(
            positives=r["positives"],
            resamples_ranked=r["resamples_ranked"],
            mean_jaccard=float(r["mean_jaccard"]),
            jaccard_to_full=float(r["jaccard_to_full"]),
            core_size=r["core_size"],
            core_in_topk=r["core_in_topk"],
            template_jaccard=float(r["template_jaccard"]),
            acc_original=float(r["acc_original"]),
            acc_topk=float(r["acc_topk"]),
            acc_core=float(r["acc_core"]),
            acc_random=float(r["acc_random"]),
            drop_topk=float(r["drop_topk"]),
            drop_core=float(r["drop_core"]),
            core_share=float(r["core_share"]),
            p_core_vs_topk=float(r["p_core_vs_topk"]),
            core_reproduces=bool(r["core_reproduces"]),
            acc_top_ap=float(r["acc_top_ap"]),
            acc_topk_subset=float(r["acc_topk_subset"]),
            acc_random_core=float(r["acc_random_core"]),
            drop_top_ap=float(r["drop_top_ap"]),
            p_core_vs_top_ap=float(r["p_core_vs_top_ap"]),
            p_core_vs_top_ap_holm=float(r["p_core_vs_top_ap_holm"]),
        )
        for r in table.to_dict("records")
    }
    summary = StabilitySummary(
        k=k,
        k_text=study.k_text(),
        resamples=resamples,
        core_threshold=core,
        core_count=needed,
        reproduces_share=REPRODUCES_SHARE,
        scheme="half of every relation's validated P_det triples, without replacement, all templates of a drawn triple",
        seconds_identification=round(seconds, 2),
        seconds_templates=round(seconds_templates, 2),
        forward_passes=0,
        seeds=study.config.seeds,
        rule=study.rule,
        relations=per_relation,
        core_reproduces=int(table["core_reproduces"].sum()),
        mean_jaccard=float(table["mean_jaccard"].mean()),
    )
    write_summary(folder, summary)
    return table


def _controls(study: Study, relation: str, core: np.ndarray) -> dict[str, str]:
    """Size-matched controls of a core of n neurons (kind -> condition): the top-n by AP, a seeded random n-subset
    of the top-k, and n random neurons of the neuron set (the study's random seed 0 at size n)."""
    n = int(core.size)
    full = study.ranked(relation, 0, study.k)
    rng = np.random.default_rng([study.config.seed, zlib.crc32(relation.encode())])
    subset = np.sort(rng.choice(full, size=n, replace=False))
    return {
        "top_ap": study.rel(relation, 0, n),
        "topk_subset": study.ids_condition(f"topk-subset-{relation}", subset),
        "random_core": study.rnd(0, n),
    }


def _intra(
    study: Study, folder: Path, cores: dict[str, np.ndarray], max_eval: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P_eva of each relation (at most `max_eval` prompts, seeded) with nothing, its stable core, its top-k or k random
    neurons off, and the core's size-matched controls (`_controls`)."""
    k, seeds = study.k, range(study.config.seeds)
    parts, controls = [], {}  # controls: relation -> control kind -> condition (a name may be shared with the top-k's)
    for relation, group in study.eval_prompts.groupby("relation", sort=False):
        group = eval_sample(group, max_eval, study.config.seed).reset_index(drop=True)
        kinds = {"original": "original", study.rel(relation, 0, k): "topk"}
        if cores.get(relation) is not None and cores[relation].size:
            controls[relation] = {
                "core": study.ids_condition(f"core-{relation}", cores[relation]),
                **_controls(study, relation, cores[relation]),
            }
            kinds.update({c: kind for kind, c in controls[relation].items() if c not in kinds})
        kinds.update({study.rnd(s, k): "random" for s in seeds if study.rnd(s, k) not in kinds})
        parts.append(
            prompt_pairs(group, list(kinds), "P_eva").assign(kind=lambda d, kinds=kinds: d["condition"].map(kinds))
        )
    judged = study.judge(pd.concat(parts, ignore_index=True), desc="stability")
    _write(folder, "generations", judged)
    intra = study.accuracy_rows(judged, ["relation", "kind"])
    rows = []
    for relation, group in judged.groupby("relation", sort=False):
        by = {
            kind: g.groupby("prompt_id")["correct"].mean().sort_index().to_numpy() for kind, g in group.groupby("kind")
        }
        outcome = {c: g.sort_values("prompt_id")["correct"].to_numpy(dtype=bool) for c, g in group.groupby("condition")}
        clusters = triple_clusters(group[group["kind"] == "original"].sort_values("prompt_id"))
        original, topk = by["original"].astype(bool), by["topk"].astype(bool)
        drop_topk, topk_low, topk_high = bootstrap_drop_ci(
            original, topk, study.config.n_boot, study.config.seed, clusters=clusters
        )
        row = {
            "relation": relation,
            "acc_original": original.mean(),
            "acc_topk": topk.mean(),
            "acc_random": by["random"].mean(),
            "drop_topk": drop_topk,
            "drop_topk_low": topk_low,
            "drop_topk_high": topk_high,
            "acc_core": np.nan,
            "drop_core": np.nan,
            "drop_core_low": np.nan,
            "drop_core_high": np.nan,
            "core_share": np.nan,
            "p_core_vs_topk": np.nan,
            "acc_top_ap": np.nan,
            "acc_topk_subset": np.nan,
            "acc_random_core": np.nan,
            "drop_top_ap": np.nan,
            "p_core_vs_top_ap": np.nan,
        }
        if (
            relation in controls
        ):  # outcomes by condition: a control whose name is the top-k's or a random seed's is that
            core, top_ap, subset, random_core = (
                outcome[controls[relation][kind]] for kind in ("core", "top_ap", "topk_subset", "random_core")
            )
            drop_core, low, high = bootstrap_drop_ci(
                original, core, study.config.n_boot, study.config.seed, clusters=clusters
            )
            row.update(
                acc_core=core.mean(),
                drop_core=drop_core,
                drop_core_low=low,
                drop_core_high=high,
                core_share=drop_core / drop_topk if drop_topk > 0 else np.nan,
                p_core_vs_topk=mcnemar_exact(core, topk, clusters, seed=study.config.seed)[2],
                acc_top_ap=top_ap.mean(),
                acc_topk_subset=subset.mean(),
                acc_random_core=random_core.mean(),
                drop_top_ap=relative_drop(original.mean(), top_ap.mean()),
                p_core_vs_top_ap=mcnemar_exact(core, top_ap, clusters, seed=study.config.seed)[2],
            )
        row["core_reproduces"] = bool(drop_topk > 0 and row["drop_core"] >= REPRODUCES_SHARE * drop_topk)
        rows.append(row)
    drops = pd.DataFrame(rows)
    drops["p_core_vs_top_ap_holm"] = adjust(drops["p_core_vs_top_ap"].to_numpy(dtype=float), "holm")
    return intra, drops
