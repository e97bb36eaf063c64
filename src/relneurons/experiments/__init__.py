"""Model-free parts of the experiments: statistics, cumulativity, error analysis, top-k tables.

The names are imported on first use (PEP 562), so that `relneurons.experiments.registry` and `.spec`, which the
command line reads at start, do not import pandas through this package.
"""

from importlib import import_module

_WHERE = {
    "cumulativity": ("CUMULATIVITY_COLUMNS", "SUMMARY_COLUMNS", "cumulativity_counts", "cumulativity_from_long",
                     "summarise_cumulativity"),
    "error_analysis": ("ERROR_CATEGORIES", "ERROR_TABLE_COLUMNS", "classify_error", "error_table", "error_table_wide"),
    "stats": ("accuracy_ci", "bootstrap_ci", "bootstrap_drop_ci", "mcnemar_exact", "RelationVsRandom",
              "paired_permutation_test", "relation_vs_random", "relative_drop"),
    "tables": ("LAYER_DISTRIBUTION_COLUMNS", "layer_distribution", "matrix_to_long", "overlap_matrix"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
