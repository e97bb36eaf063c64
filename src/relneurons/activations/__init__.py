"""Validation + activation capture, and the on-disk activation store (paper §2.1, §2.2).

Names are imported on first use (relneurons._lazy), so that `activations.config` (CollectConfig, whose defaults the
command line shows) imports without torch.
"""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "capture": ("capture_batch", "capturing"),
        "collect": ("collect", "detection_prompts"),
        "config": ("CollectConfig",),
        "store": ("ActivationStore",),
    },
)
