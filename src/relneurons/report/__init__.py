"""Figures (PNG + SVG, headless) for the experiments' tidy tables, and the self-contained HTML run report."""

from .figures import (
    INTRA_CONDITIONS,
    plot_cumulativity,
    plot_heatmap,
    plot_intra,
    plot_k_sweep,
    plot_layer_distribution,
)
from .html import build_report, render_report

__all__ = [
    "INTRA_CONDITIONS", "plot_cumulativity", "plot_heatmap", "plot_intra", "plot_k_sweep",
    "plot_layer_distribution", "build_report", "render_report",
]
