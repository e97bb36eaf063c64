"""The summaries of the paper's complementary analyses (§5.2–5.4, App. E, G, H): multilingual, templates, concepts,
neuron types, frequency."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import SUMMARY_VERSION, TESTS_VERSION

# ---------------------------------------------------------------- multilingual


@dataclass(frozen=True)
class LanguageResult:
    """One language on the compared triples: mean over its relations, and how many relations drop."""

    name: str
    relations: int
    prompts: int
    mean_acc_original: float  # NaN: no relation left
    mean_acc_deactivated: float
    mean_acc_random: float  # k random neurons off: mean over the random sets
    mean_drop: float  # mean relative drop over the relations where it is defined
    relations_with_drop: int  # accuracy with the top-k off below the original's
    relations_with_drop_p05: int  # ... and exact McNemar p < 0.05
    relations_with_drop_as_in_english: int  # of the relations whose English accuracy drops, those that drop here too
    relations_below_random: int  # relation-k accuracy below the mean of the random sets
    relations_below_random_p05: int  # ... and p < 0.05 (the random sets as replicates, as intra)
    triples_kept: int
    triples_left_out: int
    triples_evaluated: int


@dataclass(frozen=True)
class MultilingualSummary:
    """summary.json of the multilingual experiment (§5.2, Fig. 7)."""

    k: int
    k_text: str
    rule: str
    languages: list[str]  # English first
    packs: dict[str, list[str]]  # code -> pack files used
    per_language: dict[str, LanguageResult]
    english_relations_with_drop: int
    comparison: str
    triples: int
    triples_evaluated: int
    triples_dropped: int  # not translatable into some requested language: left out of every language
    triples_left_out: int
    random_sets: int  # random-k sets asked in every language (0: no random control)
    experiment: str = "multilingual"
    version: int = TESTS_VERSION


# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class SplitResult:
    """One split (P_eva, P_eva-2, P_eva-3): means over relations of the intra-relation tests."""

    prompts: int
    mean_acc_original: float
    mean_acc_random: float  # random-k: mean over the seeds' sets
    mean_acc_relation: float  # the relation's top-k off
    mean_relative_drop: float  # (original - relation-k) / original, over the relations where it is defined
    relation_below_random: int
    relation_below_random_p05: int
    relation_drop_vs_original_p05: int  # relation-k below original with exact McNemar p < 0.05


@dataclass(frozen=True)
class TemplatesSummary:
    """summary.json of the templates experiment (§5.3, Fig. 8)."""

    k: int
    k_text: str
    seeds: int
    rule: str
    splits: list[str]
    eva2_source: str
    eva3_source: str  # "" when no P_eva-3 was asked for
    relations: int
    templates_per_relation: dict[str, int]  # P_eva-2 templates
    per_split: dict[str, SplitResult]
    relative_drop: dict[
        str, dict[str, float]
    ]  # relation -> split -> relative drop with its top-k off (NaN: original 0)
    relations_dropping_on_both: int  # relative drop > 0 on P_eva and on P_eva-2
    relations_with_both_drops_defined: int
    experiment: str = "templates"
    version: int = TESTS_VERSION


# ---------------------------------------------------------------- concepts


@dataclass(frozen=True)
class ConceptInfo:
    """How one concept was identified and ablated."""

    subjects_available: int
    subjects_used: int
    positives: int  # E+_c prompts
    negatives: int  # E-_c prompts
    relations: list[str]  # the LRE relations whose subjects make up the concept
    ablation_prompts: int
    ablation_prompts_of_identification_subjects: int


@dataclass(frozen=True)
class ConceptAblation:
    """One concept's ablation test (a row of tests.parquet): original, random-k (mean of the seeds), concept-k off."""

    concept: str
    n: int
    acc_original: float
    acc_random: float
    acc_concept: float
    p_concept_vs_random: float  # one-sided, as intra's relation-vs-random
    p_concept_vs_original: float  # exact McNemar


@dataclass(frozen=True)
class OverlapPair:
    relation: str
    concept: str
    overlap: int


@dataclass(frozen=True)
class ConceptsSummary:
    """summary.json of the concepts experiment (App. H): identification, relation x concept overlap, ablation."""

    k: int
    k_text: str
    rule: str
    seeds: int
    concepts_file: str
    templates: int
    negative_ratio: int
    concepts: dict[str, ConceptInfo]
    skipped: dict[str, str]  # concept -> why it was not identified
    pool_prompts: int
    ablation_source: str
    overlap_expected_by_chance: float  # k^2 / neurons: the mean overlap of two independent random k-sets
    overlap_max: int
    largest_overlaps: list[OverlapPair]  # the largest cells of the overlap matrix, largest first
    relation_neurons: int  # distinct neurons in any relation's top-k
    concept_neurons: int
    relation_and_concept_neurons: int
    concept_below_random: int = 0  # ablated concepts whose concept-k accuracy is below random-k's
    concept_below_random_p05: int = 0
    ablation: list[ConceptAblation] = field(default_factory=list)  # empty: no ablation prompt
    experiment: str = "concepts"
    version: int = TESTS_VERSION


# ---------------------------------------------------------------- neuron_types


@dataclass(frozen=True)
class SetResult:
    """One neuron set: its k, the type composition of its top-k (summed over relations) and its inter matrix in brief."""

    n_neurons: int
    k: int
    k_text: str
    types: dict[str, int]  # module type -> top-k neurons of that type, over every relation
    expected_if_random: dict[str, float]  # the same if each relation's k neurons were drawn uniformly from the set
    relations: int
    undefined_cells: int
    compared: int  # relations with both own and mean other drop defined
    own_drop_exceeds_mean_other: int
    mean_own_drop: float
    mean_other_drop: float


@dataclass(frozen=True)
class TypesSummary:
    """summary.json of the types experiment (App. G)."""

    sets: dict[str, SetResult]
    store_set: str
    study_k: int
    k_rule: str
    examples: str
    captured_sites: int
    captured_neurons: int
    activation_cache: str  # "" when nothing outside the store's set was captured
    experiment: str = "types"
    version: int = SUMMARY_VERSION


# ---------------------------------------------------------------- frequency


@dataclass(frozen=True)
class WilcoxonResult:
    """`wilcoxon_across_relations`: paired group means over the relations that have both groups (NaN: no test)."""

    relations: list[str] = field(default_factory=list)
    n_relations: int = 0
    n_nonzero: int = 0
    resilient_higher: int = 0
    sensitive_higher: int = 0
    statistic: float = float("nan")
    p_two_sided: float = float("nan")
    p_greater: float = float("nan")
    min_p_two_sided: float = float("nan")  # 2 / 2**n_nonzero: the smallest two-sided p these relations can give
    note: str = ""


@dataclass(frozen=True)
class FrequencySummary:
    """summary.json of the frequency experiment; when no counts were given only skipped, reason and how are set."""

    skipped: bool
    reason: str = ""
    how: str = ""
    k: int = 0
    k_text: str = ""
    rule: str = ""
    source: str = ""  # counts (a CSV) or corpus (counted here)
    counts: str = ""
    corpus: str = ""
    document: str = ""
    corpus_stats: dict[str, int] = field(default_factory=dict)
    relative_difference: str = ""
    unit: str = ""
    prompts: int = 0
    facts: int = 0
    templates_per_fact_max: int = 0
    correct_facts: int = 0  # facts the original model answers
    resilient: int = 0
    sensitive: int = 0
    correct_facts_without_count: int = 0
    correct_facts_with_zero_count: int = 0
    wilcoxon: WilcoxonResult = field(default_factory=WilcoxonResult)  # not run when skipped
    experiment: str = "frequency"
    version: int = SUMMARY_VERSION
