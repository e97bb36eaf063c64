"""Template robustness (paper §5.3, Fig. 8): intra-relation results on P_eva and on P_eva-2 side by side.

P_eva-2 holds the same evaluation triples as P_eva, written with templates that
are not in LRE (`data/templates.py`; shipped file or a user file), with the
store's suffix. If the relation's top-k neurons were tied to the wording of the
identification prompts, switching them off would hurt P_eva but not P_eva-2.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..data import build_prompts, load_relations, resolve_data_dir, split
from ..data.templates import SHIPPED_TEMPLATES, check_new, load_templates
from ..report import figures
from .core import _kind, _pairs, intra_tables
from .output import experiment as _experiment
from .output import write_table as _write
from .stats import relative_drop
from .study import Study

SPLITS = ("P_eva", "P_eva-2")


def eval2_prompts(study: Study, file: str = "") -> pd.DataFrame:
    """P_eva-2: the study's evaluation triples with the new templates (columns as `Study.eval_prompts`)."""
    templates = load_templates(file or None, study.relations)
    source = file or SHIPPED_TEMPLATES
    s = study.settings
    relations = load_relations(s["relations"], resolve_data_dir(study.data_dir or study.store.manifest.get("data_dir")))
    rows = []
    for relation in relations:
        if relation.name not in study.relations:
            continue
        check_new(relation, templates[relation.name], source)
        evaluation, _ = split(relation, n_eval=s["n_eval"], seed=s["seed"])
        rows.extend(asdict(p) for p in build_prompts(relation, evaluation, list(templates[relation.name]), s["suffix"]))
    return pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"])


@_experiment("templates")
def templates(study: Study, folder: Path, file: str = "") -> pd.DataFrame:
    """Fig. 8: accuracy with nothing, k random or the relation's top-k off, on P_eva and P_eva-2."""
    k, seeds = study.k, range(study.config.seeds)
    eva2 = eval2_prompts(study, file)  # validated before any generation
    pairs = []
    for split_name, prompts in zip(SPLITS, (study.eval_prompts, eva2)):
        for relation, group in prompts.groupby("relation", sort=False):
            conds = ["original", study.rel(relation, 0, k)] + [study.rnd(s, k) for s in seeds]
            pairs.append(_pairs(group.reset_index(drop=True), conds, split_name))
    judged = study.judge(pd.concat(pairs, ignore_index=True), desc="templates")
    judged["kind"] = judged["condition"].map(_kind)
    _write(folder, "generations", judged)

    table, tests, per_seed = intra_tables(study, judged)
    _write(folder, "templates", table)
    _write(folder, "tests", tests)
    _write(folder, "random_seeds", per_seed)
    # every template on its own: how much the wording alone moves the accuracy
    by_template = study.accuracy_rows(judged[judged["kind"] != "random"], ["relation", "split", "template", "kind"])
    _write(folder, "per_template", by_template.rename(columns={"kind": "condition"}))

    tests["relative_drop"] = [relative_drop(o, r) for o, r in zip(tests["acc_original"], tests["acc_relation"])]
    wide = tests.pivot(index="relation", columns="split", values="relative_drop").reindex(columns=list(SPLITS))
    figures.plot_templates(table, folder / "templates",
                           title=f"Intra-relation accuracy, store templates (P_eva) vs new templates (P_eva-2); {study.k_text()}")
    summary = {"k": k, "k_text": study.k_text(), "seeds": study.config.seeds, "rule": study.rule,
               "template_file": file or SHIPPED_TEMPLATES, "relations": len(wide),
               "templates_per_relation": eva2.groupby("relation")["template"].nunique().to_dict()}
    for split_name in SPLITS:
        part = tests[tests["split"] == split_name]
        below = part[part["acc_relation"] < part["acc_random"]]
        summary[split_name] = {
            "prompts": int(judged[(judged["split"] == split_name) & (judged["condition"] == "original")].shape[0]),
            "mean_acc_original": float(part["acc_original"].mean()),
            "mean_relative_drop": float(np.nanmean(part["relative_drop"])) if part["relative_drop"].notna().any() else None,
            "relation_below_random": len(below),
            "relation_below_random_p05": int((below["p_relation_vs_random"] < 0.05).sum()),
            "relation_drop_vs_original_p05": int(((part["acc_relation"] < part["acc_original"])
                                                  & (part["p_relation_vs_original"] < 0.05)).sum()),
        }
    both = wide.dropna()
    summary["relations_dropping_on_both"] = int(((both["P_eva"] > 0) & (both["P_eva-2"] > 0)).sum())
    summary["relations_with_both_drops_defined"] = len(both)
    io.write_json(folder / "summary.json", summary)
    return table
