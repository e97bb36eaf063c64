"""Figures (matplotlib `Figure` objects, PNG + SVG, headless) of the experiments' tidy tables.

A leaf of the pipeline: the experiments draw their figures with it and the report embeds them; it imports neither
(tests/test_layers.py checks the direction). `figures` holds the paper's figures, `methods` and `amplify` those of
the analyses beyond the paper. Names are imported on first use (relneurons._lazy).
"""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "figures": (
            "INTRA_CONDITIONS",
            "plot_cumulativity",
            "plot_heatmap",
            "plot_intra",
            "plot_k_sweep",
            "plot_layer_distribution",
        ),
    },
)
