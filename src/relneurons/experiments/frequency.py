"""App. E, Fig. 23: are the facts that survive switching off a relation's top-k neurons the more frequent ones?

The unit is the fact (relation, subject, object), as in the paper: a fact
asked with several templates is one outcome, not one per prompt (its prompts
are not independent draws, and a frequent fact would otherwise weigh once per
template). A fact is *answered* in a condition when more than half of its P_eva
prompts are answered correctly (strict majority: 1 of 2 templates is not
enough; with one template, the paper's setting, fact = prompt). Per relation,
the facts the original model answers are split into (a) resilient: still
answered with the relation's top-k neurons off, and (b) sensitive: not answered
then. Each fact carries its corpus count (documents containing both subject
and object). Per relation we compare the mean (and median) count of the two groups,

    relative difference = (mean_resilient - mean_sensitive) / mean_sensitive,

positive when resilient facts are more frequent (the paper's hypothesis; its
text writes the ratio as (b - a) / b, which has the opposite sign for the same
finding, so we state ours explicitly). Across the relations that have both
groups, a Wilcoxon signed-rank test (scipy) on the paired group means asks
whether they differ (two-sided, as the paper) and whether resilient > sensitive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from ..data.fact_counts import COUNT_COLUMNS, read_counts, write_counts
from ..errors import ConfigError, DataError, InputError
from ..plots import figures
from .output import experiment as _experiment
from .output import write_table as _write
from .study import Study
from .summaries import FrequencySummary, WilcoxonResult, write_summary

GROUPS = ("resilient", "sensitive")
FACT_KEY = ["relation", "subject", "object"]

SKIP_HOW = (
    'set [frequency] counts = "facts.csv" (columns relation, subject, object, count; however obtained) '
    'or [frequency] corpus = "folder or file of .txt/.jsonl[.gz]" (counted here); with '
    "`relneurons experiment frequency`: --opt counts=facts.csv or --opt corpus=PATH; "
    "`relneurons frequency count CORPUS --out facts.csv` writes such a CSV"
)


# ------------------------------------------------------------------ numerics


def classify(correct_original, correct_deactivated) -> np.ndarray:
    """Per fact (or prompt): 'resilient' (right before and after), 'sensitive' (right before, wrong after), 'wrong' (wrong before)."""
    before = np.asarray(correct_original, dtype=bool)
    after = np.asarray(correct_deactivated, dtype=bool)
    if before.shape != after.shape:
        raise InputError(f"classify: {before.shape} original vs {after.shape} deactivated outcomes")
    return np.where(~before, "wrong", np.where(after, "resilient", "sensitive"))


def fact_outcomes(prompts: pd.DataFrame) -> pd.DataFrame:
    """One row per fact (relation, subject, object) from per-prompt outcomes, in first-appearance order.

    `prompts` has columns relation, subject, object, correct_original, correct_deactivated (one row per
    template). Returns n_templates, the share of its prompts answered correctly in each condition,
    correct_original / correct_deactivated (share > 1/2: a strict majority of its templates) and group (`classify`).
    """
    missing = [c for c in (*FACT_KEY, "correct_original", "correct_deactivated") if c not in prompts.columns]
    if missing:
        raise InputError(f"fact_outcomes: prompts table lacks columns {missing}")
    outcomes = prompts[FACT_KEY].assign(
        correct_original=prompts["correct_original"].astype(bool),
        correct_deactivated=prompts["correct_deactivated"].astype(bool),
    )
    facts = (
        outcomes.groupby(FACT_KEY, sort=False)
        .agg(
            n_templates=("correct_original", "size"),
            share_original=("correct_original", "mean"),
            share_deactivated=("correct_deactivated", "mean"),
        )
        .reset_index()
    )
    facts["correct_original"] = facts["share_original"] > 0.5
    facts["correct_deactivated"] = facts["share_deactivated"] > 0.5
    facts["group"] = classify(facts["correct_original"], facts["correct_deactivated"])
    return facts


def relative_difference(mean_resilient: float, mean_sensitive: float) -> float:
    """(a - b) / b; NaN when a group is empty (NaN mean) or the sensitive mean is 0."""
    if not np.isfinite(mean_resilient) or not np.isfinite(mean_sensitive) or mean_sensitive == 0:
        return float("nan")
    return float((mean_resilient - mean_sensitive) / mean_sensitive)


def group_statistics(facts: pd.DataFrame, relations: list[str] | None = None) -> pd.DataFrame:
    """Per relation: sizes, mean and median count of the resilient and sensitive groups, relative difference.

    `facts` has one row per fact (see `fact_outcomes`) with columns relation, group
    (see `classify`) and count (NaN where the fact has no count: those facts are
    counted in n_missing_count and left out of the means). Relations listed in
    `relations` but absent from `facts` get a row of zeros/NaN.
    """
    missing = [c for c in ("relation", "group", "count") if c not in facts.columns]
    if missing:
        raise InputError(f"group_statistics: facts table lacks columns {missing}")
    order = list(dict.fromkeys([*(relations or []), *facts["relation"]]))
    rows = []
    for relation in order:
        part = facts[facts["relation"] == relation]
        right = part[part["group"] != "wrong"]
        counted = right[right["count"].notna()]
        row = {
            "relation": relation,
            "n_facts": len(part),
            "n_correct": len(right),
            "n_missing_count": int(right["count"].isna().sum()),
        }
        for group in GROUPS:
            values = counted.loc[counted["group"] == group, "count"].to_numpy(dtype=float)
            row[f"n_{group}"] = len(values)
            row[f"mean_{group}"] = float(values.mean()) if len(values) else float("nan")
            row[f"median_{group}"] = float(np.median(values)) if len(values) else float("nan")
        row["relative_difference"] = relative_difference(row["mean_resilient"], row["mean_sensitive"])
        rows.append(row)
    columns = [
        "relation",
        "n_facts",
        "n_correct",
        "n_missing_count",
        "n_resilient",
        "n_sensitive",
        "mean_resilient",
        "mean_sensitive",
        "median_resilient",
        "median_sensitive",
        "relative_difference",
    ]
    return pd.DataFrame(rows, columns=columns)


def wilcoxon_across_relations(table: pd.DataFrame) -> dict:
    """Wilcoxon signed-rank test of mean_resilient vs mean_sensitive over relations having both groups.

    Zero differences are dropped (scipy's zero_method="wilcox", the classic
    test); with n non-zero differences the smallest two-sided p-value possible
    is 2 / 2**n (no test can reach 0.05 below n = 6), reported as min_p_two_sided.
    """
    both = table[(table["n_resilient"] > 0) & (table["n_sensitive"] > 0)]
    a, b = both["mean_resilient"].to_numpy(dtype=float), both["mean_sensitive"].to_numpy(dtype=float)
    nonzero = int(np.count_nonzero(a - b))
    out = {
        "relations": list(both["relation"]),
        "n_relations": len(both),
        "n_nonzero": nonzero,
        "resilient_higher": int((a > b).sum()),
        "sensitive_higher": int((a < b).sum()),
        "statistic": float("nan"),
        "p_two_sided": float("nan"),
        "p_greater": float("nan"),
        "min_p_two_sided": float(min(1.0, 2.0 / 2**nonzero)) if nonzero else float("nan"),
    }
    if nonzero == 0:
        out["note"] = "no relation has both groups with different means: nothing to test"
        return out
    two = _scipy_stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    greater = _scipy_stats.wilcoxon(a, b, zero_method="wilcox", alternative="greater")
    out.update(statistic=float(two.statistic), p_two_sided=float(two.pvalue), p_greater=float(greater.pvalue))
    return out


def attach_counts(prompts: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """`prompts` or facts (relation, subject, object, ...) with the column `count` (NaN where the CSV has no such fact)."""
    merged = prompts.merge(counts[FACT_KEY + ["count"]], on=FACT_KEY, how="left", validate="many_to_one")
    return merged.astype({"count": "float64"})


# ---------------------------------------------------------------- experiment


def _counts_for(
    study: Study, prompts: pd.DataFrame, counts: str, corpus: str, folder: Path
) -> tuple[pd.DataFrame, dict]:
    """The counts of the evaluated facts and a description of where they came from."""
    if counts:
        table = read_counts(counts)
        known = prompts[FACT_KEY].drop_duplicates().merge(table[FACT_KEY], on=FACT_KEY)
        if known.empty:
            found = ", ".join(sorted(table["relation"].unique())[:12]) or "none"
            raise DataError(
                f"counts file {counts} has no count for any evaluated fact of {', '.join(study.relations)} "
                f"(its relations: {found}); relation names must be the project's (e.g. company_hq) and "
                "subject/object spelled as in LRE"
            )
        return table, {"source": "counts", "counts": str(Path(counts).resolve())}
    from ..data.corpus import count_facts

    facts = prompts[FACT_KEY].drop_duplicates(ignore_index=True)
    values, corpus_stats = count_facts(list(zip(facts["subject"], facts["object"])), corpus, progress=study.progress)
    table = facts.assign(count=np.asarray(values, dtype=np.int64))
    write_counts(folder / "fact_counts.csv", table)
    return table, {
        "source": "corpus",
        "corpus": str(Path(corpus).resolve()),
        "document": "paragraph (text) / record (JSONL)",
        "corpus_stats": {
            "files": corpus_stats.files,
            "documents": corpus_stats.documents,
            "documents_with_a_name": corpus_stats.documents_with_a_name,
            "bytes": corpus_stats.bytes_read,
            "skipped_files": len(corpus_stats.skipped_files),
        },
    }


@_experiment("frequency")
def frequency(study: Study, folder: Path, *, counts: str, corpus: str) -> pd.DataFrame:
    """App. E / Fig. 23: corpus frequency of resilient vs sensitive facts under the relation's top-k deactivation."""
    if counts and corpus:
        raise ConfigError("frequency: give counts or corpus, not both")
    if not counts and not corpus:
        write_summary(
            folder,
            FrequencySummary(
                skipped=True, reason="no fact counts given (options counts and corpus are empty)", how=SKIP_HOW
            ),
        )
        return pd.DataFrame(columns=["relation"])
    k, prompts = study.k, study.eval_prompts
    count_table, source = _counts_for(
        study, prompts, counts, corpus, folder
    )  # before any generation: bad input fails fast

    pairs = []
    for relation, group in prompts.groupby("relation", sort=False):
        group = group.reset_index(drop=True).assign(prompt_id=lambda g: np.arange(len(g)))
        pairs += [group.assign(condition=c) for c in ("original", study.rel(relation, 0, k))]
    judged = study.judge(pd.concat(pairs, ignore_index=True), desc="frequency")
    original = judged[judged["condition"] == "original"].set_index(["relation", "prompt_id"])
    deactivated = judged[judged["condition"] != "original"].set_index(["relation", "prompt_id"]).reindex(original.index)
    per_prompt = (
        original.drop(columns=["condition", "generation", "correct"])
        .assign(
            generation_original=original["generation"],
            generation_deactivated=deactivated["generation"],
            correct_original=original["correct"],
            correct_deactivated=deactivated["correct"],
        )
        .reset_index()
    )
    facts = attach_counts(fact_outcomes(per_prompt), count_table)
    table = group_statistics(facts, study.relations)
    test = wilcoxon_across_relations(table)

    _write(folder, "prompts", per_prompt)
    _write(folder, "facts", facts)
    _write(folder, "frequency", table)
    p = test["p_two_sided"]
    figures.plot_frequency(
        table,
        folder / "frequency",
        title=f"Resilient vs sensitive facts, {study.k_text()}; Wilcoxon p = "
        + (f"{p:.3g}" if np.isfinite(p) else "n/a")
        + f" ({test['n_relations']} relations with both groups, {test['n_nonzero']} differ)",
    )
    right = facts[facts["group"] != "wrong"]
    write_summary(
        folder,
        FrequencySummary(
            skipped=False,
            k=k,
            k_text=study.k_text(),
            rule=study.rule,
            **source,
            relative_difference="(mean_resilient - mean_sensitive) / mean_sensitive; > 0: resilient facts are more frequent",
            unit="fact (relation, subject, object); answered = correct on more than half of its templates",
            prompts=len(per_prompt),
            facts=len(facts),
            templates_per_fact_max=int(facts["n_templates"].max()),
            correct_facts=len(right),
            resilient=int((right["group"] == "resilient").sum()),
            sensitive=int((right["group"] == "sensitive").sum()),
            correct_facts_without_count=int(right["count"].isna().sum()),
            correct_facts_with_zero_count=int((right["count"] == 0).sum()),
            wilcoxon=WilcoxonResult(**test),
        ),
    )
    return table


__all__ = [
    "COUNT_COLUMNS",
    "GROUPS",
    "attach_counts",
    "classify",
    "fact_outcomes",
    "frequency",
    "group_statistics",
    "relative_difference",
    "wilcoxon_across_relations",
]
