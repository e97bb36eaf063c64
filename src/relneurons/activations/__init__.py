"""Validation + activation capture, and the on-disk activation store (SPEC §1, §3)."""

from .capture import capture_batch, capturing
from .collect import CollectConfig, collect, detection_prompts
from .store import ActivationStore

__all__ = ["ActivationStore", "CollectConfig", "capture_batch", "capturing", "collect", "detection_prompts"]
