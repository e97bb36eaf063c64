"""The whole study as one command: configuration, staged and cached run folder, comparison of runs."""

from .config import PRESETS, load_config
from .run import run_study

__all__ = ["PRESETS", "load_config", "run_study"]
