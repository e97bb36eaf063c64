"""The self-contained HTML run report and the neuron explorer; the figures they embed are drawn by
`relneurons.plots`. Names are imported on first use (relneurons._lazy)."""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "html": ("build_report", "render_report"),
    },
)
