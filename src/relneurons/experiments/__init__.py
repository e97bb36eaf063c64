"""Model-free parts of the experiments: statistics, cumulativity, error analysis, top-k tables."""

from .cumulativity import (
    CUMULATIVITY_COLUMNS,
    SUMMARY_COLUMNS,
    cumulativity_counts,
    cumulativity_from_long,
    summarise_cumulativity,
)
from .error_analysis import ERROR_CATEGORIES, ERROR_TABLE_COLUMNS, classify_error, error_table, error_table_wide
from .stats import (
    accuracy_ci,
    bootstrap_ci,
    bootstrap_drop_ci,
    mcnemar_exact,
    RelationVsRandom,
    paired_permutation_test,
    relation_vs_random,
    relative_drop,
)
from .tables import LAYER_DISTRIBUTION_COLUMNS, layer_distribution, matrix_to_long, overlap_matrix

__all__ = [
    "CUMULATIVITY_COLUMNS", "ERROR_CATEGORIES", "ERROR_TABLE_COLUMNS", "LAYER_DISTRIBUTION_COLUMNS",
    "SUMMARY_COLUMNS", "accuracy_ci", "bootstrap_ci", "bootstrap_drop_ci", "classify_error",
    "cumulativity_counts", "cumulativity_from_long", "error_table", "error_table_wide",
    "layer_distribution", "matrix_to_long", "mcnemar_exact", "overlap_matrix",
    "paired_permutation_test", "RelationVsRandom", "relation_vs_random", "relative_drop", "summarise_cumulativity",
]
