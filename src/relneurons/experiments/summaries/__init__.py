"""Typed summaries: the one place headline numbers are computed and stored.

Every experiment writes `summary.json` from one of these frozen dataclasses (last fields `experiment` and
`version`; base.py holds the conventions: NaN written as null and read back as NaN, nested dataclasses rebuilt
from type hints, another experiment or version refused with what to rerun). The HTML report and `relneurons
compare` only read them (`read_summary`), never recompute. This package imports no torch: the report and the
command line read summaries without loading a model library.
"""

from .analyses import (
    ConceptAblation,
    ConceptInfo,
    ConceptsSummary,
    FrequencySummary,
    LanguageResult,
    MultilingualSummary,
    OverlapPair,
    SetResult,
    SplitResult,
    TemplatesSummary,
    TypesSummary,
    WilcoxonResult,
)
from .base import (
    SUMMARY_VERSION,
    Summary,
    read_summary,
    write_summary,
)
from .core import (
    CumulativityRange,
    CumulativitySummary,
    ErrorShare,
    ErrorsSummary,
    InterSummary,
    IntraSummary,
    LayerPeak,
    LayersSummary,
    OverlapSummary,
    OwnVsOther,
    RelationTest,
    Specificity,
    SpecificityRank,
    SweepPoint,
    SweepRelation,
    SweepSummary,
    cumulativity_summary,
    errors_summary,
    inter_summary,
    intra_summary,
    layers_summary,
    overlap_summary,
    relation_tests_table,
    sweep_summary,
)
from .ours import (
    AmplifySummary,
    MethodComparison,
    MethodScore,
    MethodsSummary,
    RelationStability,
    StabilitySummary,
)

__all__ = [
    "AmplifySummary", "ConceptAblation", "ConceptInfo", "ConceptsSummary", "CumulativityRange",
    "CumulativitySummary", "ErrorShare", "ErrorsSummary", "FrequencySummary", "InterSummary", "IntraSummary",
    "LanguageResult", "LayerPeak", "LayersSummary", "MethodComparison", "MethodScore", "MethodsSummary", "MultilingualSummary",
    "OverlapPair", "OverlapSummary", "OwnVsOther", "RelationStability", "RelationTest", "Specificity", "SpecificityRank", "SUMMARY_VERSION",
    "SetResult", "SplitResult", "StabilitySummary", "Summary", "SweepPoint", "SweepRelation", "SweepSummary",
    "TemplatesSummary", "TypesSummary", "WilcoxonResult", "cumulativity_summary", "errors_summary", "inter_summary",
    "intra_summary", "layers_summary", "overlap_summary", "read_summary", "relation_tests_table", "sweep_summary",
    "write_summary",
]
