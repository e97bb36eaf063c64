"""Template robustness (paper §5.3, Fig. 8): intra-relation results on P_eva and on P_eva-2 side by side.

P_eva-2 is the paper's: the same evaluation triples as P_eva, written with the
relation's LRE ``prompt_templates_zs`` (the rows below the dashed line of App.
K, Tables 7-18; `data.templates.paper_eva2`), with the store's suffix. If the
relation's top-k neurons were tied to the wording of the identification
prompts, switching them off would hurt P_eva but not P_eva-2. A store whose
own templates include a P_eva-2 template (collected with "all" or "zs") is
refused: its P_eva-2 would not be new wording.

P_eva-3 (option ``extra``) is ours and optional: hand-written templates that
are in no LRE list ("shipped": ``resources/templates_eva2.toml``, or a user
file of the same format), evaluated the same way when asked for.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import (
    build_prompts,
    load_relations,
    resolve_data_dir,
    select_templates,
    split,
)
from ..data.templates import (
    SHIPPED_TEMPLATES,
    check_new,
    load_templates,
    normalise,
    paper_eva2,
)
from ..errors import DataError
from ..plots import figures
from .common import condition_kind, prompt_pairs
from .core import intra_tables
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import relative_drop
from .study import Study
from .summaries import SplitResult, TemplatesSummary, write_summary

SPLITS = ("P_eva", "P_eva-2")
EXTRA_SPLIT = "P_eva-3"
#: Value of the option ``extra`` that names the shipped hand-written P_eva-3 templates.
SHIPPED_EXTRA = "shipped"


def _study_relations(study: Study) -> list:
    s = study.settings
    relations = load_relations(s["relations"], resolve_data_dir(study.data_dir or study.store.manifest.get("data_dir")))
    return [r for r in relations if r.name in study.relations]


def _store_templates(study: Study, relation) -> list[str]:
    s = study.settings
    return select_templates(relation, s["templates"] if isinstance(s["templates"], str) else tuple(s["templates"]))


def _prompts(study: Study, relation, templates: tuple[str, ...]) -> list[dict]:
    s = study.settings
    evaluation, _ = split(relation, n_eval=s["n_eval"], seed=s["seed"])
    return [asdict(p) for p in build_prompts(relation, evaluation, list(templates), s["suffix"])]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"])


def eval2_prompts(study: Study) -> pd.DataFrame:
    """P_eva-2: the study's evaluation triples with the paper's new templates (columns as `Study.eval_prompts`).

    DataError when a P_eva-2 template is one of the store's own templates (it would not be new wording).
    """
    rows = []
    for relation in _study_relations(study):
        new = paper_eva2(relation)
        seen = {normalise(t): t for t in _store_templates(study, relation)}
        both = [t for t in new if normalise(t) in seen]
        if both:
            raise DataError(
                f"templates experiment, relation {relation.name}: the store {study.store.folder} was collected "
                f"with templates={study.settings['templates']!r}, which include the P_eva-2 template {both[0]!r} "
                f"(LRE prompt_templates_zs of {relation.path}); P_eva-2 must be wording the neurons were not "
                'identified with: collect with templates = "icl" (the paper\'s) or indices into prompt_templates'
            )
        rows.extend(_prompts(study, relation, new))
    return _frame(rows)


def extra_prompts(study: Study, extra: str) -> tuple[pd.DataFrame, str] | None:
    """P_eva-3 from option `extra` ("": none, "shipped", or a template file), and its source; None when not asked."""
    if not extra:
        return None
    path = None if extra == SHIPPED_EXTRA else extra
    templates = load_templates(path, study.relations)
    source = SHIPPED_TEMPLATES if path is None else str(Path(path).expanduser())
    rows = []
    for relation in _study_relations(study):
        check_new(relation, templates[relation.name], f"P_eva-3 templates {source}")
        rows.extend(_prompts(study, relation, templates[relation.name]))
    return _frame(rows), source


@_experiment("templates")
def templates(study: Study, folder: Path, *, extra: str, random_sets: int) -> pd.DataFrame:
    """Fig. 8: accuracy with nothing, k random or the relation's top-k off, on P_eva and P_eva-2 (and P_eva-3), with
    the study's first `random_sets` random sets (0: all of them)."""
    k, seeds = study.k, range(min(random_sets, study.config.seeds) if random_sets else study.config.seeds)
    eva2 = eval2_prompts(study)  # validated before any generation
    eva3 = extra_prompts(study, extra)
    splits = {"P_eva": study.eval_prompts, "P_eva-2": eva2}
    if eva3 is not None:
        splits[EXTRA_SPLIT] = eva3[0]
    pairs = []
    for split_name, prompts in splits.items():
        for relation, group in prompts.groupby("relation", sort=False):
            conds = ["original", study.rel(relation, 0, k)] + [study.rnd(s, k) for s in seeds]
            pairs.append(prompt_pairs(group.reset_index(drop=True), conds, split_name))
    judged = study.judge(pd.concat(pairs, ignore_index=True), desc="templates")
    judged["kind"] = judged["condition"].map(condition_kind)
    _write(folder, "generations", judged)

    table, tests, per_seed = intra_tables(study, judged, seeds=len(seeds))
    _write(folder, "templates", table)
    _write(folder, "tests", tests)
    _write(folder, "random_seeds", per_seed)
    # every template on its own: how much the wording alone moves the accuracy
    by_template = study.accuracy_rows(judged[judged["kind"] != "random"], ["relation", "split", "template", "kind"])
    _write(folder, "per_template", by_template.rename(columns={"kind": "condition"}))

    tests["relative_drop"] = [relative_drop(o, r) for o, r in zip(tests["acc_original"], tests["acc_relation"])]
    wide = tests.pivot(index="relation", columns="split", values="relative_drop").reindex(columns=list(splits))
    figures.plot_templates(
        table[table["split"].isin(SPLITS)],
        folder / "templates",
        title=f"Intra-relation accuracy, store templates (P_eva) vs LRE zero-shot templates (P_eva-2); {study.k_text()}",
    )
    if eva3 is not None:
        figures.plot_templates(
            table[table["split"].isin(["P_eva", EXTRA_SPLIT])],
            folder / "templates_extra",
            title=f"Intra-relation accuracy, store templates (P_eva) vs our templates (P_eva-3); {study.k_text()}",
        )
    per_split = {}
    for split_name in splits:
        part = tests[tests["split"] == split_name]
        below = part[part["acc_relation"] < part["acc_random"]]
        per_split[split_name] = SplitResult(
            prompts=int(judged[(judged["split"] == split_name) & (judged["condition"] == "original")].shape[0]),
            mean_acc_original=float(part["acc_original"].mean()),
            mean_acc_random=float(part["acc_random"].mean()),
            mean_acc_relation=float(part["acc_relation"].mean()),
            mean_relative_drop=float(np.nanmean(part["relative_drop"]))
            if part["relative_drop"].notna().any()
            else math.nan,
            relation_below_random=len(below),
            relation_below_random_p05=int((below["p_relation_vs_random_holm"] < 0.05).sum()),
            relation_drop_vs_original_p05=int(
                ((part["acc_relation"] < part["acc_original"]) & (part["p_relation_vs_original"] < 0.05)).sum()
            ),
        )
    both = wide[list(SPLITS)].dropna()
    write_summary(
        folder,
        TemplatesSummary(
            k=k,
            k_text=study.k_text(),
            seeds=len(seeds),
            rule=study.rule,
            splits=list(splits),
            eva2_source="LRE prompt_templates_zs (not also in prompt_templates)",
            eva3_source=eva3[1] if eva3 is not None else "",
            relations=len(wide),
            templates_per_relation={str(r): int(n) for r, n in eva2.groupby("relation")["template"].nunique().items()},
            per_split=per_split,
            relative_drop={str(r): {s: float(v) for s, v in row.items()} for r, row in wide.iterrows()},
            relations_dropping_on_both=int(((both["P_eva"] > 0) & (both["P_eva-2"] > 0)).sum()),
            relations_with_both_drops_defined=len(both),
        ),
    )
    return table
