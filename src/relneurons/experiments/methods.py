"""`methods`: which identification method finds the most relation-specific neurons?

Every scorer (expertise.SCORERS, plus the model-based `attribution`) picks its
top-k per relation from the same example sets as `identify` (identify's
examples.parquet); each top-k is switched off on P_eva of every relation with
the same controlled generation. Per method and relation:

    own drop          relative accuracy drop on the relation's own P_eva
    other drop        mean relative drop on the other relations' P_eva
    specificity       own drop - mean other drop, with a paired bootstrap interval (`specificity_ci`)

and, to compare methods, a bounded score: absolute specificity (accuracy points, not a relative drop over a
handful of correct prompts), its mean over relations per method, and a paired interval of the difference
between two methods that resamples relations and triples together (`compare_specificity`). A method is called
"more specific" only when that interval excludes 0; the report gives the difference the run could detect.

next to the distribution of k random neurons (the random:<seed>:<k> conditions
of intra, so their generations are shared). The `ap` top-k is identify's own,
evaluated under its rel:<relation>:0-k condition (shared with intra/inter).

Writes, in OUT/methods/: methods (per method and relation), inter (every
evaluated x deactivated cell), overlap (|top-k ∩| and Jaccard between methods),
timing (wall time per scorer), topk (every method's neurons), specificity.png
(methods x relations heatmap) and specificity_ci.png, summary.json (`MethodsSummary`, summaries.write_summary:
undefined numbers as null, read back as NaN).
"""

from __future__ import annotations

import math
import time
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expertise.identify import rank_descending
from ..expertise.scorers import SCORERS, top_columns
from ..expertise.stability import jaccard
from ..plots import figures
from ..plots import methods as figures_methods
from .common import prompt_pairs
from .core import inter_table
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import bool_vector, triple_clusters
from .study import Study
from .summaries import MethodComparison, MethodScore, MethodsSummary, write_summary

# ------------------------------------------------------------------ the statistic


def _drop(original: np.ndarray, deactivated: np.ndarray) -> np.ndarray:
    """Relative drop along the last axis; NaN where the original accuracy is 0."""
    a0, a1 = original.mean(axis=-1), deactivated.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a0 > 0, (a0 - a1) / a0, np.nan)


def specificity_ci(
    original: dict[str, np.ndarray],
    deactivated: dict[str, np.ndarray],
    own: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(specificity, low, high): own relative drop minus the mean relative drop of the other relations.

    `original[r]`, `deactivated[r]`: bool [n_prompts of r], correctness of r's prompts without and with the
    method's neurons of `own` off. Drops with an original accuracy of 0 are undefined and left out of the mean
    of the others (no defined other drop, or an undefined own drop: NaN). Bootstrap contract: with
    ``rng = numpy.random.default_rng(seed)``, for each relation in the order own, then the others in the
    order of `original`, ``idx = rng.integers(0, n_r, size=(n_boot, n_r))``; replicate b resamples every
    relation's prompts with row b (original and deactivated outcomes of a prompt stay paired). Replicates
    whose statistic is undefined are skipped; the interval is the (1-level)/2, (1+level)/2 quantile pair.
    """
    if own not in original:
        raise InputError(f"relation {own!r} has no prompts")
    if int(n_boot) != n_boot or n_boot < 1:
        raise InputError(f"n_boot must be a positive integer, got {n_boot!r}")
    order = [own] + [r for r in original if r != own]
    pairs = {}
    for r in order:
        o, d = bool_vector(original[r], f"original[{r!r}]"), bool_vector(deactivated[r], f"deactivated[{r!r}]")
        if o.shape != d.shape or o.size == 0:
            raise InputError(
                f"relation {r!r}: original and deactivated must cover the same, non-empty prompts ({o.size} vs {d.size})"
            )
        pairs[r] = (o, d)

    def statistic(drops: list[np.ndarray]) -> np.ndarray:
        others = np.stack(drops[1:]) if len(drops) > 1 else np.full((1,) + np.shape(drops[0]), np.nan)
        with warnings.catch_warnings():  # an all-NaN column (no defined other drop) is NaN, said in the docstring
            warnings.simplefilter("ignore", RuntimeWarning)
            return drops[0] - np.nanmean(others, axis=0)

    point = float(statistic([_drop(*pairs[r]) for r in order]))
    rng = np.random.default_rng(seed)
    replicates = []
    for r in order:
        o, d = pairs[r]
        idx = rng.integers(0, o.size, size=(n_boot, o.size))
        replicates.append(_drop(o[idx], d[idx]))
    reps = statistic(replicates)
    reps = reps[~np.isnan(reps)]
    if math.isnan(point) or reps.size == 0:
        return (point, math.nan, math.nan)
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return (point, float(low), float(high))


def compare_specificity(
    original: dict[str, np.ndarray],
    deactivated: dict[str, dict[str, dict[str, np.ndarray]]],
    clusters: dict[str, np.ndarray] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[dict[str, float], list[dict]]:
    """Mean absolute specificity per method and paired intervals of the differences between methods.

    `original[e]`: bool [n_e], correctness of relation e's prompts with nothing off; `deactivated[m][d][e]`: the
    same prompts with method m's top-k of relation d off; `clusters[e]`: the triple of each prompt (None: prompts).
    Absolute specificity of m on d: (acc_orig(d) - acc_m,d(d)) - mean over e != d of (acc_orig(e) - acc_m,d(e)),
    accuracy points, so bounded in [-1, 1] and defined even when few prompts are correct; a method's score is its
    mean over the relations. Returns ({method: score}, [one dict per pair (a, b) in the order of `deactivated`:
    a, b, diff = score_a - score_b, low, high, se (bootstrap sd), detectable = 2.8 * se (the difference found
    with 80% power by a two-sided 5% test)]).

    Bootstrap contract: ``rng = numpy.random.default_rng(seed)``; for each relation e in the order of `original`,
    ``rng.integers(0, m_e, size=(n_boot, m_e))`` draws its clusters (m_e clusters in numpy.unique order, or its
    prompts); then ``rng.integers(0, R, size=(n_boot, R))`` draws the relations whose scores are averaged. The
    same draws serve every method, so the differences are paired.
    """
    relations = list(original)
    methods = list(deactivated)
    if len(relations) < 2:
        raise InputError("comparing specificity needs at least 2 relations")
    if int(n_boot) != n_boot or n_boot < 1:
        raise InputError(f"n_boot must be a positive integer, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    point = {m: np.zeros(len(relations)) for m in methods}
    boot = {m: np.zeros((n_boot, len(relations))) for m in methods}

    def accuracy(x: np.ndarray, codes: np.ndarray, m: int, idx: np.ndarray) -> tuple[float, np.ndarray]:
        sums = np.bincount(codes, weights=x.astype(np.float64), minlength=m)
        sizes = np.bincount(codes, minlength=m).astype(np.float64)
        return float(x.mean()), sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)

    # acc[m or "original"][d][e] as (point, replicates)
    acc: dict = {"original": {}}
    for e in relations:
        o = bool_vector(original[e], f"original[{e!r}]")
        if o.size == 0:
            raise InputError(f"relation {e!r} has no prompts")
        labels = clusters.get(e) if clusters else None
        codes = (
            np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)
            if labels is not None
            else np.arange(o.size)
        )
        if codes.size != o.size:
            raise InputError(f"clusters[{e!r}] must give one label per prompt ({o.size}), got {codes.size}")
        m_e = int(codes.max()) + 1
        idx = rng.integers(0, m_e, size=(n_boot, m_e))
        acc["original"][e] = accuracy(o, codes, m_e, idx)
        for name in methods:
            for d in relations:
                x = bool_vector(deactivated[name][d][e], f"deactivated[{name!r}][{d!r}][{e!r}]")
                if x.shape != o.shape:
                    raise InputError(
                        f"deactivated[{name!r}][{d!r}][{e!r}] must cover relation {e!r}'s {o.size} prompts"
                    )
                acc.setdefault(name, {}).setdefault(d, {})[e] = accuracy(x, codes, m_e, idx)
    weights = np.stack(
        [
            np.bincount(row, minlength=len(relations))
            for row in rng.integers(0, len(relations), size=(n_boot, len(relations)))
        ]
    ) / len(relations)
    for name in methods:
        for j, d in enumerate(relations):
            for k in (0, 1):  # point, replicates
                drop = {e: acc["original"][e][k] - acc[name][d][e][k] for e in relations}
                value = drop[d] - sum(drop[e] for e in relations if e != d) / (len(relations) - 1)
                if k == 0:
                    point[name][j] = value
                else:
                    boot[name][:, j] = value
    scores = {name: float(point[name].mean()) for name in methods}
    replicate = {name: (weights * boot[name]).sum(axis=1) for name in methods}
    pairs = []
    for a, b in combinations(methods, 2):
        diff = replicate[a] - replicate[b]
        low, high = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2])
        se = float(diff.std(ddof=1)) if n_boot > 1 else math.nan
        pairs.append(
            {
                "a": a,
                "b": b,
                "diff": scores[a] - scores[b],
                "low": float(low),
                "high": float(high),
                "se": se,
                "detectable": 2.8 * se,
            }
        )
    return scores, pairs


# ------------------------------------------------------------------ summary


def _more_specific(names: list[str], comparisons: list[dict]) -> str | None:
    """The method whose paired interval against every other method lies above 0, if there is one."""
    for name in names:
        wins = [c for c in comparisons if name in (c["a"], c["b"])]
        if wins and all((c["low"] > 0) if c["a"] == name else (c["high"] < 0) for c in wins):
            return name
    return None


def _num(value) -> float:
    return math.nan if value is None else float(value)


# ------------------------------------------------------------------ the experiment


def eval_sample(group: pd.DataFrame, max_eval: int, seed: int) -> pd.DataFrame:
    """At most `max_eval` prompts of one relation's P_eva (0 = all), a seeded sample in the original order: the
    stability and methods experiments draw the same prompts, so their generations are shared."""
    return group.sample(max_eval, random_state=seed).sort_index() if max_eval and len(group) > max_eval else group


def _attribution_topk(study: Study, examples: pd.DataFrame) -> dict[str, np.ndarray]:
    """Top-k by mean attribution over each relation's positives (E+_r of identify): forward + backward passes."""
    from ..expertise.attribution import attribution_scores

    model, tokenizer, policy = study.model
    prompts = study.store.prompts
    kept = prompts[prompts["correct"] & (prompts["act_row"] >= 0)]
    out = {}
    for relation in study.relations:
        rows = examples.loc[(examples["relation"] == relation) & examples["positive"], "act_row"]
        facts = kept[kept["relation"] == relation].drop_duplicates("act_row").set_index("act_row").loc[rows.to_numpy()]
        scores = attribution_scores(
            model,
            tokenizer,
            policy,
            study.nset,
            facts["text"].tolist(),
            facts["object"].tolist(),
            batch_size=min(study.config.batch_size, 16),
        )
        out[relation] = study.nset.global_ids[rank_descending(scores)[: study.k]]
    return out


@_experiment("methods")
def methods(study: Study, folder: Path, *, scorers: list[str], max_eval: int) -> pd.DataFrame:
    """Every scorer's top-k, switched off on every relation's P_eva: own vs other drops, specificity, random sets."""
    names = list(scorers)  # options checked by the spec (registry.Methods), scorer names by check_scorers
    k, relations, store, cfg = study.k, study.relations, study.store, study.config
    examples = pd.read_parquet(study.identify_dir / "examples.parquet")
    groups = {r: g for r, g in examples.groupby("relation", sort=False)}
    subsets = [(groups[r]["act_row"].to_numpy(), groups[r]["positive"].to_numpy()) for r in relations]
    block = int(study.summary["config"].get("block", 16384))

    tops, seconds = {}, {}
    for name in names:
        started = time.perf_counter()
        if name in SCORERS:
            columns = top_columns(store.columns, store.n_neurons, subsets, k, scorer=name, block=block)
            tops[name] = {r: study.nset.global_ids[c] for r, c in zip(relations, columns)}
        else:
            tops[name] = _attribution_topk(study, examples)
        seconds[name] = round(time.perf_counter() - started, 2)
    ap_matches = (
        all(np.array_equal(np.sort(tops["ap"][r]), study.ranked(r, 0, k)) for r in relations) if "ap" in tops else True
    )

    conditions = {
        name: {
            r: (study.rel(r, 0, k) if name == "ap" and ap_matches else study.ids_condition(f"{name}-{r}", ids))
            for r, ids in per.items()
        }
        for name, per in tops.items()
    }
    randoms = [study.rnd(s, k) for s in range(cfg.seeds)]
    conds = ["original", *dict.fromkeys(c for per in conditions.values() for c in per.values()), *randoms]
    parts = []
    for _, group in study.eval_prompts.groupby("relation", sort=False):
        group = eval_sample(group, max_eval, cfg.seed)
        parts.append(prompt_pairs(group.reset_index(drop=True), conds, "P_eva"))
    judged = study.judge(pd.concat(parts, ignore_index=True), desc="methods")
    _write(folder, "generations", judged)

    outcome = {
        (r, c): g.sort_values("prompt_id")["correct"].to_numpy()
        for (r, c), g in judged.groupby(["relation", "condition"])
    }
    random_acc = {r: [outcome[(r, c)].mean() for c in randoms] for r in relations}
    inter, rows = [], []
    for name in names:
        cell = inter_table(
            study, judged[judged["condition"].isin(["original", *conditions[name].values()])], conditions[name]
        )
        inter.append(cell.assign(method=name))
        for r in relations:
            own = conditions[name][r]
            spec, low, high = specificity_ci(
                {e: outcome[(e, "original")] for e in relations},
                {e: outcome[(e, own)] for e in relations},
                r,
                cfg.n_boot,
                cfg.seed,
            )
            others = cell[(cell.deactivated == r) & (cell.evaluated != r)]
            own_cell = cell[(cell.deactivated == r) & (cell.evaluated == r)].iloc[0]
            rows.append(
                {
                    "method": name,
                    "relation": r,
                    "k": k,
                    "n": int(own_cell["n"]),
                    "acc_original": own_cell["acc_original"],
                    "acc_own": own_cell["acc_deactivated"],
                    "own_drop": own_cell["drop"],
                    "own_low": own_cell["drop_low"],
                    "own_high": own_cell["drop_high"],
                    "acc_other_mean": others["acc_deactivated"].mean(),
                    "other_drop_mean": others["drop"].mean(),
                    "specificity": spec,
                    "spec_low": low,
                    "spec_high": high,
                    "random_acc_mean": float(np.mean(random_acc[r])),
                    "random_acc_min": float(np.min(random_acc[r])),
                    "random_acc_max": float(np.max(random_acc[r])),
                    "below_every_random_set": bool(own_cell["acc_deactivated"] < np.min(random_acc[r])),
                }
            )
    table = pd.DataFrame(rows)
    by_relation = {
        r: g.sort_values("prompt_id") for r, g in judged[judged["condition"] == "original"].groupby("relation")
    }
    clusters = {r: triple_clusters(by_relation[r]) for r in relations}
    scores, comparisons = (
        compare_specificity(
            {e: outcome[(e, "original")] for e in relations},
            {n: {d: {e: outcome[(e, conditions[n][d])] for e in relations} for d in relations} for n in names},
            {r: c for r, c in clusters.items() if c is not None} or None,
            cfg.n_boot,
            cfg.seed,
        )
        if len(relations) > 1
        else ({}, [])
    )
    _write(
        folder, "comparisons", pd.DataFrame(comparisons, columns=["a", "b", "diff", "low", "high", "se", "detectable"])
    )
    inter = pd.concat(inter, ignore_index=True)[
        ["method", "evaluated", "deactivated", "n", "acc_original", "acc_deactivated", "drop", "drop_low", "drop_high"]
    ]
    overlap = pd.DataFrame(
        [
            {
                "relation": r,
                "method_a": a,
                "method_b": b,
                "overlap": int(np.intersect1d(tops[a][r], tops[b][r]).size),
                "jaccard": jaccard(tops[a][r], tops[b][r]),
            }
            for r in relations
            for a, b in combinations(names, 2)
        ],
        columns=["relation", "method_a", "method_b", "overlap", "jaccard"],
    )
    timing = pd.DataFrame(
        [
            {
                "method": n,
                "seconds": seconds[n],
                "needs": "the activation store"
                if n in SCORERS
                else "the model: one forward and one backward pass per batch of positives",
            }
            for n in names
        ]
    )
    topk = pd.concat(
        [
            pd.DataFrame({"method": n, "relation": r, "global_index": np.sort(ids)})
            for n in names
            for r, ids in tops[n].items()
        ],
        ignore_index=True,
    )
    for stem, frame in (("methods", table), ("inter", inter), ("overlap", overlap), ("timing", timing), ("topk", topk)):
        _write(folder, stem, frame)

    matrix = table.pivot(index="method", columns="relation", values="specificity").reindex(
        index=names, columns=relations
    )
    figures.plot_heatmap(
        matrix,
        folder / "specificity",
        title=f"Specificity (own drop - mean other drop), {study.k_text()}",
        value_format="{:.2f}",
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        xlabel="relation",
        ylabel="method",
        colorbar_label="specificity",
    )
    figures_methods.plot_specificity(
        table, folder / "specificity_ci", title=f"Specificity with 95% bootstrap intervals, {study.k_text()}"
    )

    means = table.groupby("method", sort=False)["specificity"].mean()
    best = (
        table.dropna(subset=["specificity"])
        .sort_values(["relation", "specificity"], ascending=[True, False])
        .drop_duplicates("relation")
    )
    summary = MethodsSummary(
        k=k,
        k_text=study.k_text(),
        scorers=names,
        relations=relations,
        prompts_per_relation=int(judged.groupby("relation")["prompt_id"].nunique().min()),
        seeds=cfg.seeds,
        rule=study.rule,
        seconds=seconds,
        specificity={
            n: {
                r["relation"]: MethodScore(
                    _num(r["specificity"]),
                    _num(r["spec_low"]),
                    _num(r["spec_high"]),
                    _num(r["own_drop"]),
                    _num(r["other_drop_mean"]),
                    float(r["acc_own"]),
                    bool(r["below_every_random_set"]),
                )
                for r in table[table.method == n].to_dict("records")
            }
            for n in names
        },
        mean_specificity={n: _num(means.get(n)) for n in names},
        most_specific={r: best.set_index("relation")["method"].get(r) for r in relations},
        most_specific_overall=None if means.dropna().empty else str(means.dropna().idxmax()),
        ap_matches_identify=bool(ap_matches),
        mean_abs_specificity=scores,
        comparisons=[MethodComparison(**c) for c in comparisons],
        more_specific=_more_specific(names, comparisons),
    )
    write_summary(folder, summary)
    return table
