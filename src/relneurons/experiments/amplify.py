"""Forcing up, not only down: each relation's top-k set to 0, its median, p90 or a multiple of p90.

The paper only switches neurons off. If a relation's neurons carry its facts,
forcing them *up* to values they take on the relation's own validated prompts
(or beyond) should not hurt that relation the way deactivation does, while it
may disturb the others. For every ranked relation r and forcing level, the
top-k of r are forced to per-neuron values taken from the activation store
(each neuron's mean output on r's validated P_det prompts, the rows
`Study.positive_outputs` returns) and the model answers:

    own    r's P_eva prompts
    other  the other relations' P_eva prompts (at most `max_other` per relation, seeded; 0 = all),
           accuracy = mean over the other relations of their accuracies

A level is "zero", "median", "p<q>" (q-th percentile, 0-100) or "<m>x<level>"
(a multiple, e.g. "2xp90"). Level "zero" with the study's `force = zero` is
the intra/inter condition itself (`Study.rel`), so it shares their generations.
The table also holds the original model's accuracy (level "original") on the
same prompts, the reference the figure draws as dashed lines.

What is forced: per neuron, a statistic (median, percentile) over the relation's validated P_det prompts of the
neuron's output averaged over each prompt's tokens; the value is applied at every position of every forward
call (prompt and generated tokens) except the prompt's BOS token, unless `force_bos` (docs/amplification.md);
level "zero" under `force = zero` is the paper's deactivation (intra's condition), every position. Control: k random neurons (the study's random
set of seed 0), forced the same way to *their* values on the relation's positives, at every level
(`random_control` table): forcing k neurons anywhere up may hurt by itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..plots.amplify import plot_amplify
from .amplify_levels import parse_levels
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import accuracy_ci, triple_clusters
from .study import Study
from .summaries import AmplifySummary, write_summary

TABLE_COLUMNS = ["relation", "level", "evaluated", "n", "accuracy", "ci_low", "ci_high"]
VALUE_COLUMNS = ["relation", "neurons", "level", "global_index", "value"]


def _other_sample(groups: dict[str, pd.DataFrame], max_other: int, seed: int) -> dict[str, pd.DataFrame]:
    """The prompts each relation contributes when it is evaluated as an 'other' relation (same for every forced one)."""
    if not max_other:
        return groups
    return {r: g.sample(min(len(g), max_other), random_state=seed).sort_index() for r, g in groups.items()}


def mean_accuracy(parts: dict[str, pd.DataFrame], n_boot: int, seed: int) -> tuple[int, float, float, float]:
    """(n, accuracy, low, high): the mean of the relations' accuracies and its bootstrap interval.

    `parts`: relation -> its judged prompts (columns correct, subject, object). Each prompt is weighted by
    N / (R * n_relation), so the mean of the weighted outcomes is exactly the mean over relations, whatever
    their sizes; prompts of one triple (several templates) are resampled together (stats clusters)."""
    parts = {r: p for r, p in parts.items() if len(p)}
    if not parts:
        return 0, math.nan, math.nan, math.nan
    total = sum(len(p) for p in parts.values())
    weighted = np.concatenate(
        [p["correct"].to_numpy(dtype=float) * total / (len(parts) * len(p)) for p in parts.values()]
    )
    frame = pd.concat(
        [p.assign(subject=r + "\x1f" + p["subject"].astype(str)) for r, p in parts.items()]
    )  # triples within relations
    acc, low, high = accuracy_ci(weighted, n_boot, seed, clusters=triple_clusters(frame))
    return total, acc, low, high


@_experiment("amplify")
def amplify(study: Study, folder: Path, *, levels: list[str], max_other: int, force_bos: bool) -> pd.DataFrame:
    """Accuracy of each relation (own) and of the others with its top-k forced to every level; table, figures, summary."""
    parsed = parse_levels(list(levels))
    if isinstance(max_other, bool) or not isinstance(max_other, int) or max_other < 0:
        raise ConfigError(f"option amplify.max_other must be a count >= 0 (0 = every prompt), got {max_other!r}")
    k, relations = study.k, study.relations
    groups = {
        r: g.reset_index(drop=True).assign(prompt_id=lambda g: np.arange(len(g)))
        for r, g in study.eval_prompts.groupby("relation", sort=False)
    }
    others = _other_sample(groups, max_other, study.config.seed)

    random_ids = np.sort(study.condition(study.rnd(0, k)).neurons)  # the control: k random neurons (random seed 0)
    zero_is_intra = study.config.force == "zero"
    values, conditions = [], {}  # (neurons, forced relation, level) -> condition name
    for relation in relations:
        for neurons, ids in (("top-k", study.ranked(relation, 0, k)), ("random", random_ids)):
            outputs = study.positive_outputs(ids, relation)  # forced to their own values on the relation's positives
            for level in parsed:
                vals = level.values(outputs)
                values.append(
                    pd.DataFrame(
                        {
                            "relation": relation,
                            "neurons": neurons,
                            "level": level.name,
                            "global_index": ids,
                            "value": vals,
                        }
                    )
                )
                if level.base == "zero" and zero_is_intra:
                    condition = study.rel(relation, 0, k) if neurons == "top-k" else study.rnd(0, k)
                else:
                    label = f"{relation}.{level.name}" if neurons == "top-k" else f"{relation}.random.{level.name}"
                    condition = study.forced_condition(
                        label, ids, vals, keep_bos=not force_bos and level.base != "zero"
                    )
                conditions[neurons, relation, level.name] = condition
    values = pd.concat(values, ignore_index=True)[VALUE_COLUMNS]

    pairs = [g.assign(condition="original", forced="", level="original", neurons="") for g in groups.values()]
    for (neurons, relation, level), condition in conditions.items():
        evaluated = [groups[relation]] + [others[r] for r in groups if r != relation]
        pairs += [
            g.assign(condition=condition, forced=relation, level=level, neurons=neurons) for g in evaluated if len(g)
        ]
    judged = study.judge(pd.concat(pairs, ignore_index=True), desc="amplify")
    _write(folder, "generations", judged)

    names = [lv.name for lv in parsed]
    table = amplify_table(judged[judged["neurons"] != "random"], relations, names, others, study)
    control = amplify_table(judged[judged["neurons"] != "top-k"], relations, names, others, study)
    _write(folder, "amplify", table)
    _write(folder, "random_control", control)
    _write(folder, "forced_values", values)
    for relation in relations:
        plot_amplify(
            table,
            relation,
            folder / f"amplify_{relation}",
            title=f"{relation}: top-k forced to each level; {study.k_text()}",
        )
    write_summary(folder, _summary(study, table, control, values, names, max_other, relations, force_bos))
    return table


def amplify_table(
    judged: pd.DataFrame, relations: list[str], levels: list[str], others: dict[str, pd.DataFrame], study: Study
) -> pd.DataFrame:
    """TABLE_COLUMNS rows: for each relation, "original" then every level, evaluated own then other.

    `judged`: pairs with columns relation (evaluated), forced, level, condition, prompt_id, correct."""
    original = {r: g.sort_values("prompt_id") for r, g in judged[judged["level"] == "original"].groupby("relation")}
    other_ids = {r: set(g["prompt_id"]) for r, g in others.items()}
    rows = []
    for relation in relations:
        other_orig = {r: g[g["prompt_id"].isin(other_ids[r])] for r, g in original.items() if r != relation}
        cells = {"original": (original[relation], other_orig)}
        forced = judged[judged["forced"] == relation]
        for level in levels:
            part = forced[forced["level"] == level]
            by = {r: g.sort_values("prompt_id") for r, g in part.groupby("relation")}
            cells[level] = (by.get(relation, part.iloc[:0]), {r: g for r, g in by.items() if r != relation})
        for level, (own, other) in cells.items():
            for evaluated, correct in (("own", {relation: own}), ("other", other)):
                n, acc, low, high = mean_accuracy(correct, study.config.n_boot, study.config.seed)
                rows.append(
                    {
                        "relation": relation,
                        "level": level,
                        "evaluated": evaluated,
                        "n": n,
                        "accuracy": acc,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _summary(
    study: Study,
    table: pd.DataFrame,
    control: pd.DataFrame,
    values: pd.DataFrame,
    levels: list[str],
    max_other: int,
    relations: list[str],
    force_bos: bool,
) -> AmplifySummary:
    acc = table.set_index(["relation", "evaluated", "level"])["accuracy"]
    random_acc = control.set_index(["relation", "evaluated", "level"])["accuracy"]
    every = ["original", *levels]
    own = {r: {lv: float(acc[r, "own", lv]) for lv in every} for r in relations}
    values = values[values["neurons"] == "top-k"]
    return AmplifySummary(
        k=int(study.k),
        k_text=study.k_text(),
        levels=list(levels),
        max_other=int(max_other),
        forced_relations=list(relations),
        own=own,
        other={r: {lv: float(acc[r, "other", lv]) for lv in every} for r in relations},
        mean_value={
            r: {lv: float(v) for lv, v in part.groupby("level", sort=False)["value"].mean().items()}
            for r, part in values.groupby("relation", sort=False)
        },
        own_not_below_original={
            lv: [r for r in relations if own[r][lv] >= own[r]["original"]] for lv in levels
        },  # NaN: never
        random_own={r: {lv: float(random_acc[r, "own", lv]) for lv in levels} for r in relations},
        force_bos=bool(force_bos),
        random_other={r: {lv: float(random_acc[r, "other", lv]) for lv in levels} for r in relations},
    )
