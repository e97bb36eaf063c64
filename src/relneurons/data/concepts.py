"""Concepts: subject types of the LRE relations, and the prompts that identify concept neurons (paper §5.4, App. H).

A concept is the ``properties.domain_name`` of relation files (person, company,
landmark, ...), plus the extra concepts a concepts file lists (e.g. president =
the subjects of the two presidents relations). Its members are the
de-duplicated subjects of those relations.

Identification examples mirror the relation identification (paper §2.2):

* positives E+_c: up to ``max_subjects`` subjects of c (seeded), each with every
  concept template ("{} can", "{} has a", ...: relations that are none of the
  LRE relations, so the completion depends on the subject);
* negatives E-_c: ``ratio`` x as many prompts of subjects that are NOT members of
  c, drawn (seeded) from the other concepts' sampled subjects separately for
  each template, so positives and negatives have the same template
  distribution (per template: |E-| = ratio x |E+|, or every candidate when
  there are fewer).

All prompts of all concepts form one pool (one row per subject and template),
so each prompt's activations are computed once, as for relations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from relneurons import io
from relneurons.data.prompts import build_prompts
from relneurons.data.relations import Relation, check_template
from relneurons.data.splits import relation_rng
from relneurons.errors import ConfigError, DataError, did_you_mean

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "Concept",
    "ConceptSpec",
    "ablation_prompts",
    "concept_examples",
    "concepts_of",
    "load_concept_spec",
    "sample_subjects",
    "select_concepts",
]

_SHIPPED = "relneurons/resources/concepts.toml"


@dataclass(frozen=True)
class ConceptSpec:
    """A concepts file: the relations whose subjects form the concepts, the prompt templates, extra concepts."""

    relations: tuple[str, ...]
    templates: tuple[str, ...]
    extra: Mapping[str, tuple[str, ...]]
    source: str


@dataclass(frozen=True)
class Concept:
    """One concept: its name, the relations its subjects come from, its members (sorted, unique)."""

    name: str
    relations: tuple[str, ...]
    subjects: tuple[str, ...]


def _strings(value, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataError(f"concepts file {source}: {where} must be a non-empty list of non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        dup = next(v for v in value if value.count(v) > 1)
        raise DataError(f"concepts file {source}: {where} lists {dup!r} twice")
    return tuple(value)


def load_concept_spec(path: str | os.PathLike[str] | None = None) -> ConceptSpec:
    """The shipped concepts file (``path`` None or "") or a user file of the same format, validated."""
    if path in (None, ""):
        source, text = (
            _SHIPPED,
            (resources.files("relneurons") / "resources" / "concepts.toml").read_text(encoding="utf-8"),
        )
    else:
        source = str(Path(path).expanduser())
        text = io.read_text(source, "concepts file (option file)")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"concepts file {source} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"relations", "templates", "extra"})
    if unknown:
        raise DataError(
            f"concepts file {source}: unknown key {unknown[0]!r}"
            f"{did_you_mean(unknown[0], ('relations', 'templates', 'extra'))}; keys: relations, templates, [extra]"
        )
    for key in ("relations", "templates"):
        if key not in doc:
            raise DataError(f"concepts file {source} has no {key!r} list")
    relations = _strings(doc["relations"], "relations", source)
    templates = _strings(doc["templates"], "templates", source)
    for i, t in enumerate(templates):
        check_template(t, f"concepts file {source}: templates[{i}]")
    extra_doc = doc.get("extra", {})
    if not isinstance(extra_doc, dict):
        raise DataError(f"concepts file {source}: extra must be a table of concept = [relations]")
    extra = {}
    for name, members in extra_doc.items():
        extra[name] = _strings(members, f"extra.{name}", source)
        outside = [r for r in extra[name] if r not in relations]
        if outside:
            raise DataError(
                f"concepts file {source}: extra.{name} names {outside[0]!r}, which is not in relations; add it there"
            )
    return ConceptSpec(relations, templates, extra, source)


def concepts_of(relations: Sequence[Relation], extra: Mapping[str, Sequence[str]] = {}) -> dict[str, Concept]:
    """Concepts by domain_name (first-appearance order) then the extra ones; members de-duplicated and sorted."""
    names: dict[str, list[Relation]] = {}
    by_name = {r.name: r for r in relations}
    for relation in relations:
        if not relation.domain_name:
            raise DataError(
                f"relation file {relation.path} has no properties.domain_name, so its subjects have no concept; "
                "add one or leave the relation out of the concepts file"
            )
        names.setdefault(relation.domain_name, []).append(relation)
    for name, members in extra.items():
        if name in names:
            raise DataError(
                f"extra concept {name!r} is also the domain_name of {names[name][0].path}; give it another name"
            )
        names[name] = [by_name[m] for m in members]
    return {
        name: Concept(name, tuple(r.name for r in rels), tuple(sorted({s.subject for r in rels for s in r.samples})))
        for name, rels in names.items()
    }


def select_concepts(
    found: Mapping[str, Concept], wanted: str | Sequence[str], min_subjects: int
) -> tuple[list[str], dict[str, str]]:
    """The concepts to study ("all" or names) and {skipped concept: reason} for those with too few subjects."""
    if isinstance(wanted, str):
        if wanted != "all":
            raise ConfigError(f'option concepts must be "all" or a list of concept names, got {wanted!r}')
        wanted = list(found)
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise ConfigError(
            f"option concepts: unknown concept {unknown[0]!r}{did_you_mean(unknown[0], found)}; "
            f"known: {', '.join(found)}"
        )
    chosen, skipped = [], {}
    for name in dict.fromkeys(wanted):
        n = len(found[name].subjects)
        if n < min_subjects:
            skipped[name] = f"{n} subjects, fewer than min_subjects = {min_subjects}"
        else:
            chosen.append(name)
    return chosen, skipped


def sample_subjects(concept: Concept, max_subjects: int, seed: int) -> list[str]:
    """Up to max_subjects members, drawn with a seed of (seed, concept)."""
    order = relation_rng(seed, f"concept:{concept.name}").permutation(len(concept.subjects))
    return [concept.subjects[i] for i in order[:max_subjects]]


def concept_examples(
    concepts: Mapping[str, Concept],
    subjects: Mapping[str, Sequence[str]],
    templates: Sequence[str],
    ratio: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The prompt pool and every concept's examples.

    Args:
        concepts: every concept (their members decide who may be a negative).
        subjects: the sampled subjects of each concept to identify (its positives).
        templates: concept templates, each with one ``{}``.
        ratio: negatives per positive, per template.

    Returns:
        pool: one row per (subject, template): subject, template, text (row number = pool index);
        examples: concept, row (pool index), positive;
        skipped: {concept: reason} for concepts with no possible negative.
    """
    unique = list(dict.fromkeys(s for c in subjects for s in subjects[c]))
    pool = pd.DataFrame(
        [(s, t, t.replace("{}", s)) for s in unique for t in templates], columns=["subject", "template", "text"]
    )
    by_template = {t: g for t, g in pool.groupby("template", sort=False)}
    parts, skipped = [], {}
    for name, chosen in subjects.items():
        members = set(concepts[name].subjects)
        rng = relation_rng(seed, f"concept-negatives:{name}")
        rows_pos, rows_neg = [], []
        for t in templates:
            group = by_template[t]
            pos = group.index[group["subject"].isin(set(chosen))].to_numpy()
            candidates = group.index[~group["subject"].isin(members)].to_numpy()
            rows_pos.append(pos)
            rows_neg.append(np.sort(rng.choice(candidates, size=min(ratio * len(pos), len(candidates)), replace=False)))
        if not sum(map(len, rows_neg)):
            skipped[name] = "no subject of another concept to use as a negative"
            continue
        pos, neg = np.concatenate(rows_pos), np.concatenate(rows_neg)
        parts.append(
            pd.DataFrame(
                {
                    "concept": name,
                    "row": np.r_[pos, neg],
                    "positive": np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)],
                }
            )
        )
    examples = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {"concept": pd.Series(dtype=str), "row": pd.Series(dtype=np.int64), "positive": pd.Series(dtype=bool)}
        )
    )
    return pool, examples, skipped


def ablation_prompts(
    concept: Concept,
    relations: Mapping[str, Relation],
    templates,
    suffix: str,
    n: int,
    seed: int,
    avoid: Sequence[str] = (),
) -> pd.DataFrame:
    """Up to n LRE prompts (seeded, uniform over every fact and template) whose subject is of the concept.

    Columns: relation, subject, object, template, text. Facts of every relation of
    the concept are eligible, not only the store's (App. H: "a random selection of
    100 prompts from the LRE dataset that include the specified concept as a subject").
    Prompts whose subject is in `avoid` (the identification subjects) are taken only
    when the others run out. The sample for n is a prefix of one seeded order, so a
    larger n extends a smaller n's sample.
    """
    rows = []
    for name in concept.relations:
        relation = relations[name]
        try:
            prompts = build_prompts(relation, relation.samples, templates, suffix)
        except ConfigError as exc:
            raise ConfigError(
                f"concept {concept.name}: the store's templates do not fit relation {name}: {exc}"
            ) from None
        rows.extend((p.relation, p.subject, p.object, p.template, p.text) for p in prompts)
    table = pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"]).drop_duplicates("text")
    order = relation_rng(seed, f"concept-ablation:{concept.name}").permutation(len(table))
    avoided = table["subject"].isin(set(avoid)).to_numpy()[order]
    order = np.concatenate([order[~avoided], order[avoided]])  # each part keeps its random order
    keep = np.sort(order[:n])
    return table.iloc[keep].reset_index(drop=True)
