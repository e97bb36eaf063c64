"""Figures (PNG + SVG, headless) for the experiments' tidy tables."""

from .figures import (
    INTRA_CONDITIONS,
    plot_cumulativity,
    plot_heatmap,
    plot_intra,
    plot_k_sweep,
    plot_layer_distribution,
)

__all__ = [
    "INTRA_CONDITIONS", "plot_cumulativity", "plot_heatmap", "plot_intra", "plot_k_sweep",
    "plot_layer_distribution",
]
