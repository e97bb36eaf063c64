"""The whole study as one command: configuration, staged and cached run folder, comparison of runs."""

from .config import PRESETS, load_config

__all__ = ["PRESETS", "load_config", "run_study"]


def __getattr__(name: str):
    # run_study imports torch and the experiments; the CLI reads the configuration without them
    if name == "run_study":
        from .run import run_study

        return run_study
    raise AttributeError(name)
