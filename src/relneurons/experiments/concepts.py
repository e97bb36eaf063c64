"""Concept neurons (paper §5.4, App. H, Figs. 9, 30, 31): subject concepts identified like relations.

1. Concepts and prompts (`data.concepts`): the subjects of each concept (LRE
   ``domain_name``) with novel-relation templates ("{} can", "{} has a", ...),
   E+_c = prompts of the concept's subjects, E-_c = ratio x as many prompts of
   other concepts' subjects, same templates; ratio = the identification's
   ``negative_ratio``.
2. Token-mean activations of the store's neuron set on every concept prompt
   (`capture_means`, no generation), cached in OUT/.cache/ so a rerun reuses them.
3. AP per concept and neuron (`average_precision_subsets`, the relation method),
   top-k with the study's k.
4. Overlap |top-k(relation) ∩ top-k(concept)| for every ranked relation and
   concept (Fig. 9/30).
5. Ablation (Fig. 31): up to n_ablation LRE prompts whose subject is of the
   concept (any LRE relation of the concept, the store's templates and suffix),
   evaluated with nothing, k random neurons (the study's seeds) and the concept's
   top-k switched off. Ablation prompts avoid the identification subjects while
   other facts remain; the summary counts the ablation prompts whose subject was
   an identification subject (n_ablation never changes the identification).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import io
from ..activations.capture import capture_means
from ..data import load_relations, resolve_data_dir
from ..data.concepts import (
    ablation_prompts,
    concept_examples,
    concepts_of,
    load_concept_spec,
    sample_subjects,
    select_concepts,
)
from ..errors import DataError
from ..expertise.average_precision import average_precision_subsets
from ..expertise.identify import rank_descending
from ..model.tokenization import token_ids
from ..plots import figures
from .conditions import ConditionName
from .core import intra_tables
from .output import experiment as _experiment
from .output import write_table as _write
from .study import Study
from .summaries import (
    ConceptAblation,
    ConceptInfo,
    ConceptsSummary,
    OverlapPair,
    write_summary,
)

log = logging.getLogger(__name__)

BLOCK = 16384  # neurons per AP step (bounds the working copy of the activations)
SPLIT = "LRE prompts of the concept"


ABLATION_FIELDS = [f.name for f in fields(ConceptAblation)]


def largest_overlaps(matrix: pd.DataFrame, n: int = 5) -> list[OverlapPair]:
    """The `n` largest non-zero cells of a relation x concept overlap matrix, largest first (ties: matrix order)."""
    cells = matrix.stack()
    cells = cells[cells > 0].sort_values(ascending=False, kind="stable").head(n)
    return [OverlapPair(str(r), str(c), int(v)) for (r, c), v in cells.items()]


def cross_overlap(rows: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """|rows[i] ∩ columns[j]| for every pair of neuron id sets; int DataFrame, rows x columns in the given order."""
    sets_r = {name: np.unique(ids) for name, ids in rows.items()}
    sets_c = {name: np.unique(ids) for name, ids in columns.items()}
    m = np.array(
        [[np.intersect1d(r, c, assume_unique=True).size for c in sets_c.values()] for r in sets_r.values()],
        dtype=np.int64,
    ).reshape(len(sets_r), len(sets_c))
    return pd.DataFrame(
        m, index=pd.Index(list(sets_r), name="relation"), columns=pd.Index(list(sets_c), name="concept")
    )


def _activations(study: Study, texts: list[str], desc: str = "concept activations") -> np.ndarray:
    """[len(texts), n_neurons] float32 token means of the store's set, cached by model, set and texts."""
    s, nset = study.settings, study.nset
    identity = {
        "model": s["model_fingerprint"],
        "runtime": study.runtime,
        "bos": s["bos"],
        "mean_bos": s.get("mean_bos", True),
        "chat": s.get("chat_template"),  # the chat template's text around each text (None: plain prompts)
        "chat_positions": s.get("chat_positions", "content"),
        "set": nset.name,
        "n": nset.size,
        "texts": texts,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    cache = study.out / ".cache"
    path = cache / f"concepts-activations-{key}.npy"
    if path.is_file():
        values = np.load(path, mmap_mode="r", allow_pickle=False)
        if values.shape == (len(texts), nset.size):
            return values
    model, tokenizer, policy = study.model
    bar = tqdm(total=len(texts), desc=desc, unit="prompt", disable=not study.progress)
    values = capture_means(
        model,
        nset,
        token_ids(tokenizer, policy, texts),
        policy,
        batch_size=study.config.batch_size,
        progress=bar.update,
    )
    bar.close()
    io.write_npy(path, values)
    for stale in cache.glob("concepts-activations-*.npy"):
        if stale != path:
            stale.unlink()
    return values


def _concept_ap(scores: np.ndarray, examples: pd.DataFrame, concepts: list[str]) -> np.ndarray:
    """[n_concepts, n_neurons] AP, computed in blocks of neurons."""
    groups = dict(list(examples.groupby("concept", sort=False)))
    subsets = [(groups[c]["row"].to_numpy(), groups[c]["positive"].to_numpy()) for c in concepts]
    n = scores.shape[1]
    return np.concatenate(
        [
            average_precision_subsets(np.ascontiguousarray(scores[:, a : a + BLOCK]), subsets)
            for a in range(0, n, BLOCK)
        ],
        axis=1,
    )


def _ablation(
    study: Study, prompts: dict[str, pd.DataFrame], top: dict[str, np.ndarray], random_sets: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Judge every concept's prompts with nothing / k random / its top-k off; (generations, accuracy table, tests).

    The statistics are the intra-relation ones (`core.intra_tables`) with the concept's top-k as the own condition;
    the study's first `random_sets` random sets are asked (0: all of them).
    """
    k, seeds = study.k, range(min(random_sets, study.config.seeds) if random_sets else study.config.seeds)
    own = {c: study.ids_condition(f"concept-{c}", top[c]) for c in prompts}
    pairs = [
        p.assign(concept=c, prompt_id=np.arange(len(p)), condition=cond)
        for c, p in prompts.items()
        for cond in ["original", own[c]] + [study.rnd(s, k) for s in seeds]
    ]
    judged = study.judge(pd.concat(pairs, ignore_index=True), desc="concept ablation")
    judged["kind"] = judged["condition"].map(
        lambda name: {"original": "original", "ids": "concept"}.get(ConditionName.parse(name).kind, "random")
    )
    as_intra = judged.rename(columns={"relation": "lre_relation", "concept": "relation"}).assign(split=SPLIT)
    table, tests, _ = intra_tables(study, as_intra.replace({"kind": {"concept": "relation"}}), own, seeds=len(seeds))
    table = (
        table.drop(columns="split")
        .rename(columns={"relation": "concept"})
        .replace({"condition": {"relation": "concept"}})
    )
    tests = tests.drop(columns="split").rename(columns=lambda c: c.replace("relation", "concept"))
    return judged, table, tests


@_experiment("concepts")
def concepts(
    study: Study,
    folder: Path,
    *,
    concepts: str | list[str],
    max_subjects: int,
    min_subjects: int,
    n_ablation: int,
    file: str,
    random_sets: int,
) -> pd.DataFrame:
    """Fig. 9/30/31: concept neurons, their overlap with relation neurons, and concept ablation. Returns the overlap."""
    seed, k, nset, s = study.settings["seed"], study.k, study.nset, study.settings
    ratio = int(study.summary["config"]["negative_ratio"])
    spec = load_concept_spec(file)
    relations = {
        r.name: r
        for r in load_relations(
            list(spec.relations), resolve_data_dir(study.data_dir or study.store.manifest.get("data_dir"))
        )
    }
    found = concepts_of(list(relations.values()), spec.extra)
    chosen, skipped = select_concepts(found, concepts, min_subjects)
    templates = s["templates"] if isinstance(s["templates"], str) else tuple(s["templates"])
    subjects = {c: sample_subjects(found[c], max_subjects, seed) for c in chosen}
    held = {
        c: ablation_prompts(found[c], relations, templates, s["suffix"], n_ablation, seed, avoid=subjects[c])
        for c in chosen
    }
    pool, examples, no_negatives = concept_examples(found, subjects, spec.templates, ratio, seed)
    skipped.update(no_negatives)
    chosen = [c for c in chosen if c not in no_negatives]
    for concept, reason in skipped.items():
        log.warning("skipping concept %s: %s", concept, reason)
    if not chosen:
        raise DataError(
            f"no concept can be identified (skipped: {skipped}); lower min_subjects or add relations to {spec.source}"
        )

    # identification: one pool of prompts, AP per concept, top-k
    scores = _activations(study, pool["text"].tolist())
    ap = _concept_ap(scores, examples, chosen)
    top, rows = {}, []
    for i, concept in enumerate(chosen):
        order = rank_descending(ap[i])[:k]
        top[concept] = nset.global_ids[order]
        names = nset.describe(top[concept])
        rows.append(
            pd.DataFrame(
                {
                    "concept": concept,
                    "rank": np.arange(1, k + 1),
                    "global_index": top[concept],
                    "layer": names["layer"],
                    "module": names["module"],
                    "unit": names["unit"],
                    "ap": ap[i, order],
                }
            )
        )
    _write(folder, "topk", pd.concat(rows, ignore_index=True))
    _write(folder, "examples", examples.join(pool, on="row"))

    # Fig. 9/30: relation x concept overlap
    rel_top = {r: study.ranked(r, 0, k) for r in study.relations}
    matrix = cross_overlap(rel_top, top)
    _write(folder, "overlap", matrix.stack().rename("overlap").reset_index())
    figures.plot_heatmap(
        matrix,
        folder / "overlap",
        title=f"Overlap of relation and concept top-k sets ({study.k_text()})",
        value_format="d",
        cmap="Blues",
        xlabel="concept",
        ylabel="relation",
    )
    rel_union, con_union = (
        np.unique(np.concatenate(list(rel_top.values()))),
        np.unique(np.concatenate(list(top.values()))),
    )
    shared = np.intersect1d(rel_union, con_union).size

    # Fig. 31: concept ablation
    held = {c: held[c] for c in chosen if len(held[c])}
    ablation = {}
    if held:
        judged, table, tests = _ablation(study, held, top, random_sets)
        _write(folder, "generations", judged)
        _write(folder, "ablation", table)
        _write(folder, "tests", tests)
        figures.plot_intra(
            table.rename(columns={"concept": "relation"})
            .assign(split=SPLIT)
            .replace({"condition": {"concept": "relation"}}),
            folder / "ablation",
            title=f"Concept ablation, {study.k_text()}",
            labels={"relation": "concept-k"},
        )
        ablation = {
            "concept_below_random": int((tests["acc_concept"] < tests["acc_random"]).sum()),
            "concept_below_random_p05": int(
                ((tests["acc_concept"] < tests["acc_random"]) & (tests["p_concept_vs_random_holm"] < 0.05)).sum()
            ),
            "ablation": [ConceptAblation(**{f: row[f] for f in ABLATION_FIELDS}) for row in tests.to_dict("records")],
        }

    counts = examples.groupby("concept", sort=False)["positive"].agg(positives="sum", total="size")
    info = {
        c: ConceptInfo(
            subjects_available=len(found[c].subjects),
            subjects_used=len(subjects[c]),
            positives=int(counts.loc[c, "positives"]),
            negatives=int(counts.loc[c, "total"] - counts.loc[c, "positives"]),
            relations=list(found[c].relations),
            ablation_prompts=len(held.get(c, ())),
            ablation_prompts_of_identification_subjects=int(held[c]["subject"].isin(subjects[c]).sum())
            if c in held
            else 0,
        )
        for c in chosen
    }
    write_summary(
        folder,
        ConceptsSummary(
            k=k,
            k_text=study.k_text(),
            rule=study.rule,
            seeds=min(random_sets, study.config.seeds) if random_sets else study.config.seeds,
            concepts_file=spec.source,
            templates=len(spec.templates),
            negative_ratio=ratio,
            concepts=info,
            skipped=dict(skipped),
            pool_prompts=len(pool),
            ablation_source="LRE facts of every relation of the concept (store's templates and suffix), seeded sample",
            overlap_expected_by_chance=k * k / nset.size,
            overlap_max=int(matrix.to_numpy().max()),
            largest_overlaps=largest_overlaps(matrix),
            relation_neurons=int(rel_union.size),
            concept_neurons=int(con_union.size),
            relation_and_concept_neurons=int(shared),
            **ablation,
        ),
    )
    return matrix
