"""Neuron expertise: average precision of output values per relation (paper §2.2) and other identification methods.

Names are imported on first use (relneurons._lazy), so that `expertise.config` (IdentifyConfig, whose defaults the
command line shows) imports without torch.
"""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "average_precision": ("DEFAULT_CHUNK_BYTES", "average_precision", "average_precision_subsets"),
        "config": ("IdentifyConfig",),
        "scorers": ("MODEL_SCORERS", "SCORERS"),
    },
)
