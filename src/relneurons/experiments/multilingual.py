"""§5.2, Fig. 7: are neurons identified on English prompts multilingual?

P_eva of every ranked relation is asked in English (the store's own prompts,
the baseline) and in every configured language (language packs, see
`relneurons.data.languages`), with the original model, with the relation's
English-identified top-k switched off and with k random neurons off (the
study's first random sets, option random_sets; the control the paper's Fig. 7 does without). A generation
is correct when it answers with any accepted alias of the object in that
language. Relation-k is tested against the random sets and against the
original in every language as `intra` does (`core.intra_tables`, the language
in place of the split): tests.csv, random_seeds.csv.

Like is compared with like: every language, English included, is evaluated on
the same triples, those whose object has an accepted answer in every requested
language. A triple one pack cannot translate is dropped from all languages;
`left_out.csv` counts each language's own untranslatable triples, `common.csv`
per relation how many triples were evaluated and dropped, and by which languages.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.languages import (
    ENGLISH,
    LEFT_OUT_COLUMNS,
    PROMPT_COLUMNS,
    load_packs,
    translate,
)
from ..errors import ConfigError, DataError
from ..plots import figures
from .common import condition_kind
from .core import intra_tables
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import bootstrap_drop_ci, mcnemar_exact, relative_drop, triple_clusters
from .study import Study
from .summaries import LanguageResult, MultilingualSummary, relation_tests_table, write_summary

TRIPLE = ["relation", "subject", "object"]
COMMON_COLUMNS = ["relation", "triples", "evaluated", "dropped", "lacking"]


def common_triples(prompts: dict[str, pd.DataFrame], triples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The triples of `triples` that every language of `prompts` (code -> its prompts) has, in their order,
    and a per-relation table (COMMON_COLUMNS) of how many were evaluated and dropped, and by which languages."""
    every = triples[TRIPLE].drop_duplicates()
    common = every
    for table in prompts.values():
        common = common.merge(table[TRIPLE].drop_duplicates(), on=TRIPLE)
    rows = []
    for relation, group in every.groupby("relation", sort=False):
        lacking = []
        for code, table in prompts.items():
            missing = len(
                group.merge(table[TRIPLE].drop_duplicates(), on=TRIPLE, how="left", indicator=True).query(
                    "_merge == 'left_only'"
                )
            )
            if missing:
                lacking.append(f"{code}: {missing}")
        evaluated = int((common["relation"] == relation).sum())
        rows.append(
            {
                "relation": relation,
                "triples": len(group),
                "evaluated": evaluated,
                "dropped": len(group) - evaluated,
                "lacking": "; ".join(lacking),
            }
        )
    return common, pd.DataFrame(rows, columns=COMMON_COLUMNS)


def _restrict(prompts: pd.DataFrame, common: pd.DataFrame) -> pd.DataFrame:
    """Rows of `prompts` whose triple is in `common`, order kept."""
    return prompts.merge(common, on=TRIPLE)[list(prompts.columns)]


def _english(study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's own P_eva prompts as the English baseline (nothing left out)."""
    eva = study.eval_prompts
    prompts = eva.assign(language=ENGLISH, answer=eva["object"], aliases=[(o,) for o in eva["object"]])[PROMPT_COLUMNS]
    counts = eva.drop_duplicates(["relation", "subject", "object"]).groupby("relation", sort=False).size()
    left = pd.DataFrame(
        {
            "language": ENGLISH,
            "relation": counts.index,
            "triples": counts.to_numpy(),
            "kept": counts.to_numpy(),
            "left_out": 0,
            "left_out_objects": "",
        },
        columns=LEFT_OUT_COLUMNS,
    )
    return prompts, left


def _check_languages(languages) -> list[str]:
    if isinstance(languages, str) or not all(isinstance(code, str) and code for code in languages):
        raise ConfigError(f'option languages must be a list of language codes such as ["de", "zh"], got {languages!r}')
    if ENGLISH in languages:
        raise ConfigError(
            f"option languages: {ENGLISH!r} is always evaluated (the store's prompts are the baseline); leave it out"
        )
    return list(dict.fromkeys(languages))


@_experiment("multilingual")
def multilingual(study: Study, folder: Path, *, languages: list[str], packs: str, random_sets: int) -> pd.DataFrame:
    """Fig. 7: accuracy per language and relation, original vs the relation's English top-k off, and vs the study's
    first `random_sets` random sets (0: no random control)."""
    packs_by_code = load_packs(
        _check_languages(languages), packs or None
    )  # every pack validated before the model loads
    k = study.k
    english, english_left = _english(study)
    n_random = min(random_sets, study.config.seeds)
    prompts, left = {ENGLISH: english}, [english_left]
    for code, pack in packs_by_code.items():
        prompts[code], lost = translate(pack, study.eval_prompts)
        left.append(lost)
    common, per_relation = common_triples({c: t for c, t in prompts.items() if c != ENGLISH}, study.eval_prompts)
    evaluated = per_relation.set_index("relation")["evaluated"]
    left_out = pd.concat(left, ignore_index=True)
    left_out["evaluated"] = left_out["relation"].map(evaluated).fillna(0).astype(int)
    _write(folder, "left_out", left_out)
    _write(folder, "common", per_relation)

    pairs = []
    asked = pd.concat([_restrict(table, common) for table in prompts.values()], ignore_index=True)
    for (_, relation), group in asked.groupby(["language", "relation"], sort=False):
        group = group.reset_index(drop=True).assign(prompt_id=lambda g: np.arange(len(g)))
        conditions = ["original", study.rel(relation, 0, k)] + [study.rnd(seed, k) for seed in range(n_random)]
        pairs.extend(group.assign(condition=c) for c in conditions)
    if not pairs:
        raise DataError(
            f"no evaluation prompt to ask: the store {study.store.folder} has no P_eva triple of a ranked relation "
            "that every requested language can translate (see left_out.csv and common.csv); "
            "ask for fewer languages or add the missing objects to the packs"
        )
    pairs = pd.concat(pairs, ignore_index=True)
    # judged against every accepted alias; the table keeps the English object and the aliases joined
    judged = study.judge(pairs.assign(object=pairs["aliases"]), desc="multilingual").assign(object=pairs["object"])
    judged["aliases"] = judged["aliases"].map(" | ".join)
    judged["kind"] = judged["condition"].map(condition_kind)
    _write(folder, "generations", judged)

    # the figure's bars and lines (original, relation-k); random-k (its dashed lines) is in the tests, per random set in random_seeds
    accuracy = study.accuracy_rows(judged[judged["kind"] != "random"], ["language", "relation", "kind"]).rename(
        columns={"kind": "condition"}
    )
    _write(folder, "accuracy", accuracy)
    # relation-k vs the random sets and vs original in every language: intra's tests, with the language as the split
    if n_random:
        _, tests, per_seed = intra_tables(study, judged.assign(split=judged["language"]), seeds=n_random)
        _write(folder, "random_seeds", per_seed.rename(columns={"split": "language"}))
    else:
        tests = relation_tests_table([])
    tests = tests.rename(columns={"split": "language"})
    _write(folder, "tests", tests)
    rows = []
    for (language, relation), group in judged.groupby(["language", "relation"], sort=False):
        by = {c: g.sort_values("prompt_id") for c, g in group.groupby("kind")}
        orig, deact = by["original"]["correct"].to_numpy(), by["relation"]["correct"].to_numpy()
        clusters = triple_clusters(by["original"])  # a language's templates of one triple are one cluster
        drop, low, high = bootstrap_drop_ci(orig, deact, study.config.n_boot, study.config.seed, clusters=clusters)
        rows.append(
            {
                "language": language,
                "relation": relation,
                "n": len(orig),
                "acc_original": float(orig.mean()),
                "acc_deactivated": float(deact.mean()),
                "drop": relative_drop(orig.mean(), deact.mean()),
                "drop_low": low,
                "drop_high": high,
                "p_mcnemar": mcnemar_exact(orig, deact, clusters=clusters)[2],
            }
        )
    drops = pd.DataFrame(
        rows,
        columns=[
            "language",
            "relation",
            "n",
            "acc_original",
            "acc_deactivated",
            "drop",
            "drop_low",
            "drop_high",
            "p_mcnemar",
        ],
    )
    _write(folder, "drops", drops)
    figures.plot_multilingual(
        accuracy,
        folder / "multilingual",
        title=f"Accuracy per language: original (bars), English-identified top-k off (red), "
        f"random k off (dashed)\n{study.k_text()}",
        random=tests[["language", "relation", "acc_random"]].rename(columns={"acc_random": "accuracy"})
        if n_random
        else None,
    )
    write_summary(folder, _summary(study, drops, tests, left_out, per_relation, packs_by_code, n_random))
    return accuracy


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else math.nan


def _summary(
    study: Study,
    drops: pd.DataFrame,
    tests: pd.DataFrame,
    left_out: pd.DataFrame,
    per_relation: pd.DataFrame,
    packs_by_code: dict,
    random_sets: int,
) -> MultilingualSummary:
    dropping = drops["acc_deactivated"] < drops["acc_original"]
    english = set(drops.loc[dropping & (drops["language"] == ENGLISH), "relation"])
    per_language = {}
    for language in dict.fromkeys(left_out["language"]):  # a language whose every triple was left out has no drops
        mine, lost = drops["language"] == language, left_out[left_out["language"] == language]
        group, tested = drops[mine], tests[tests["language"] == language]
        below = tested["acc_relation"] < tested["acc_random"]
        per_language[language] = LanguageResult(
            name="English (the store's prompts)" if language == ENGLISH else packs_by_code[language].name,
            relations=len(group),
            prompts=int(group["n"].sum()),
            mean_acc_original=_mean(group["acc_original"]),
            mean_acc_deactivated=_mean(group["acc_deactivated"]),
            mean_acc_random=_mean(tested["acc_random"]),
            mean_drop=_mean(group["drop"]),
            relations_with_drop=int((dropping & mine).sum()),
            relations_with_drop_p05=int((dropping & mine & (drops["p_mcnemar"] < 0.05)).sum()),
            relations_with_drop_as_in_english=int((dropping & mine & drops["relation"].isin(english)).sum()),
            relations_below_random=int(below.sum()),
            relations_below_random_p05=int((below & (tested["p_relation_vs_random_holm"] < 0.05)).sum()),
            triples_kept=int(lost["kept"].sum()),
            triples_left_out=int(lost["left_out"].sum()),
            triples_evaluated=int(lost["evaluated"].sum()),
        )
    return MultilingualSummary(
        k=study.k,
        k_text=study.k_text(),
        rule=study.rule,
        languages=list(per_language),
        random_sets=random_sets,
        packs={code: list(p.sources) for code, p in packs_by_code.items()},
        per_language=per_language,
        english_relations_with_drop=len(english),
        comparison="every language (English too) on the triples every requested language can translate",
        triples=int(per_relation["triples"].sum()),
        triples_evaluated=int(per_relation["evaluated"].sum()),
        triples_dropped=int(per_relation["dropped"].sum()),
        triples_left_out=int(left_out["left_out"].sum()),
    )


MULTILINGUAL = {"multilingual": multilingual}
