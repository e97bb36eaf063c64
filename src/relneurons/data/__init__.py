"""Relation data: locating LRE, loading relations, splits, prompts, correctness (SPEC §1)."""

from relneurons.data.correctness import RULES, is_correct
from relneurons.data.lre import (
    DATA_ENV,
    LRE_COMMIT,
    LRE_URL_ENV,
    data_hashes,
    download_lre,
    file_sha256,
    resolve_data_dir,
)
from relneurons.data.prompts import DEFAULT_SUFFIX, TEMPLATE_CHOICES, Prompt, build_prompts, select_templates
from relneurons.data.relations import (
    PAPER_RELATIONS,
    Relation,
    Sample,
    load_relation,
    load_relations,
    registry,
)
from relneurons.data.splits import split, split_relation

__all__ = [
    "DATA_ENV",
    "DEFAULT_SUFFIX",
    "LRE_COMMIT",
    "LRE_URL_ENV",
    "PAPER_RELATIONS",
    "RULES",
    "TEMPLATE_CHOICES",
    "Prompt",
    "Relation",
    "Sample",
    "build_prompts",
    "data_hashes",
    "download_lre",
    "file_sha256",
    "is_correct",
    "load_relation",
    "load_relations",
    "registry",
    "resolve_data_dir",
    "select_templates",
    "split",
    "split_relation",
]
