"""The summaries of the experiments beyond the paper: amplify, stability, methods."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .base import TESTS_VERSION

# ---------------------------------------------------------------- amplify


@dataclass(frozen=True)
class AmplifySummary:
    """summary.json of the amplify experiment (summaries.write_summary: NaN, e.g. no other relation, is written as null
    and read back as NaN)."""

    k: int
    k_text: str
    levels: list[str]
    max_other: int
    forced_relations: list[str]
    own: dict[str, dict[str, float]]  # relation -> level (and "original") -> own P_eva accuracy
    other: dict[str, dict[str, float]]  # relation -> level (and "original") -> mean accuracy of the other relations
    mean_value: dict[str, dict[str, float]]  # relation -> level -> mean forced value over its top-k
    own_not_below_original: dict[str, list[str]]  # level -> relations whose own accuracy stayed >= the original's
    random_own: dict[str, dict[str, float]] = field(default_factory=dict)  # the control: k random neurons forced, own
    random_other: dict[str, dict[str, float]] = field(default_factory=dict)  # ... the other relations' mean accuracy
    force_bos: bool = (
        False  # the prompt's BOS position was forced too (false: left unedited; level zero: every position)
    )
    experiment: str = "amplify"
    version: int = TESTS_VERSION


# ---------------------------------------------------------------- stability


@dataclass(frozen=True)
class RelationStability:
    positives: int  # validated P_det prompts (E+_r of the full identification)
    resamples_ranked: int  # resamples in which the relation had positives
    mean_jaccard: float  # mean pairwise Jaccard of the resamples' top-k
    jaccard_to_full: float  # mean Jaccard of a resample's top-k with the full top-k
    core_size: int
    core_in_topk: int  # core neurons that are also in the full top-k
    template_jaccard: float  # top-k of template 0 only vs template 1 only (nan: fewer than two templates)
    acc_original: float
    acc_topk: float
    acc_core: float  # nan: empty core
    acc_random: float
    drop_topk: float
    drop_core: float  # nan: empty core
    core_share: float  # drop_core / drop_topk (nan when the top-k does not lower accuracy, or the core is empty)
    p_core_vs_topk: float  # exact McNemar, core off vs top-k off, same prompts (nan: empty core)
    core_reproduces: bool  # drop_topk > 0 and drop_core >= REPRODUCES_SHARE * drop_topk (descriptive, no control)
    acc_top_ap: float = math.nan  # the size-matched controls: the top-|core| by AP off
    acc_topk_subset: float = math.nan  # a seeded random |core|-subset of the top-k off
    acc_random_core: float = math.nan  # |core| random neurons off
    drop_top_ap: float = math.nan
    p_core_vs_top_ap: float = math.nan  # McNemar, core off vs top-|core| by AP off, same prompts
    p_core_vs_top_ap_holm: float = math.nan  # Holm over the relations


@dataclass(frozen=True)
class StabilitySummary:
    k: int
    k_text: str
    resamples: int
    scheme: str
    core_threshold: float
    reproduces_share: float
    seconds_identification: float  # all resamples, from the store (no forward pass)
    seconds_templates: float
    forward_passes: int  # of the resampled identification: always 0
    seeds: int
    rule: str
    relations: dict[str, RelationStability]
    core_reproduces: int  # relations whose core reproduces the drop
    mean_jaccard: float  # mean over the relations of their mean pairwise Jaccard
    core_count: int = 0  # a core neuron is in the top-k of at least this many of the resamples: ceil(core x resamples)
    experiment: str = "stability"
    version: int = TESTS_VERSION


# ---------------------------------------------------------------- methods


@dataclass(frozen=True)
class MethodScore:
    specificity: float  # own drop - mean other drop (nan: undefined, see specificity_ci)
    low: float  # its 95% paired bootstrap interval
    high: float
    own_drop: float  # nan: the original accuracy is 0
    other_drop: float  # mean of the other relations' defined drops
    acc_own: float
    below_every_random_set: bool  # own accuracy lower than with any of the random sets


@dataclass(frozen=True)
class MethodComparison:
    """Mean absolute specificity of method a minus method b (methods.compare_specificity), paired bootstrap over
    relations and triples."""

    a: str
    b: str
    diff: float
    low: float
    high: float
    se: float
    detectable: float  # 2.8 x se: the difference a two-sided 5% test finds with 80% power


@dataclass(frozen=True)
class MethodsSummary:
    k: int
    k_text: str
    scorers: list[str]
    relations: list[str]
    prompts_per_relation: int  # P_eva prompts evaluated per relation
    seeds: int
    rule: str
    seconds: dict[str, float]  # wall time per scorer (its top-k for every relation)
    specificity: dict[str, dict[str, MethodScore]]  # method -> relation -> score
    mean_specificity: dict[str, float]  # method -> mean over relations with a defined value (nan: none)
    most_specific: dict[str, str | None]  # relation -> method with the highest specificity
    most_specific_overall: str | None  # method with the highest mean specificity
    ap_matches_identify: bool  # the ap scorer's top-k equals identify's (the same engine, the same examples)
    mean_abs_specificity: dict[str, float] = field(default_factory=dict)  # method -> mean absolute specificity
    comparisons: list[MethodComparison] = field(default_factory=list)  # every pair of methods, paired intervals
    more_specific: str | None = None  # the method whose paired interval against every other lies above 0
    experiment: str = "methods"
    version: int = TESTS_VERSION
