"""Model-free parts of the experiments: statistics, cumulativity, error analysis, top-k tables.

The names are imported on first use (PEP 562), so that `relneurons.experiments.registry` and `.spec`, which the
command line reads at start, do not import pandas through this package.
"""

from .._lazy import lazy_package

_WHERE = {
    "cumulativity": (
        "CUMULATIVITY_COLUMNS",
        "SUMMARY_COLUMNS",
        "cumulativity_counts",
        "cumulativity_from_long",
        "summarise_cumulativity",
    ),
    "error_analysis": ("ERROR_CATEGORIES", "ERROR_TABLE_COLUMNS", "classify_error", "error_table", "error_table_wide"),
    "stats": (
        "accuracy_ci",
        "bootstrap_ci",
        "bootstrap_drop_ci",
        "mcnemar_exact",
        "RelationVsRandom",
        "paired_permutation_test",
        "relation_vs_random",
        "relative_drop",
    ),
    "tables": ("LAYER_DISTRIBUTION_COLUMNS", "layer_distribution", "matrix_to_long", "overlap_matrix"),
}
__all__ = lazy_package(__name__, _WHERE)
