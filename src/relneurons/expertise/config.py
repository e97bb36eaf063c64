"""The settings of `relneurons identify`, declared without torch: the command line and the run configuration read
their defaults here (the one place they are written)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError, did_you_mean
from ..plugins import SCORER_GROUP, Plugin, plugins

log = logging.getLogger(__name__)

#: The names of expertise.scorers.SCORERS (scores from the store) and MODEL_SCORERS (scores that need the model),
#: written here so that a configuration is checked without importing torch; a test checks they match.
SCORER_NAMES = ("ap", "mean_diff", "activation_rate")
MODEL_SCORER_NAMES = ("attribution",)


def k_value(v) -> str | None:
    """What is wrong with a top-k size, or None: a positive count, or a fraction of the neuron set in (0, 1)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        return "must be a positive count or a fraction in (0, 1)"
    if v >= 1 and v != int(v):
        return "must be a whole number when >= 1"
    return None


@dataclass(frozen=True)
class IdentifyConfig:
    """What decides the AP blocks and the top-k lists of `identify` (`block` and `memory_gb` change only the cost)."""

    k: float = 3000  # a count (>= 1) or a fraction of the neuron set (< 1)
    negative_ratio: int = 4  # |E-_r| = ratio * |E+_r|
    min_positives: int = 10  # relations with fewer validated prompts are skipped
    seed: int = 0
    block: int = 16384  # neurons read from the store per step (at most)
    memory_gb: float | None = None  # budget for the block and AP working set (None: no budget)

    def __post_init__(self) -> None:
        if self.memory_gb is not None and (isinstance(self.memory_gb, bool) or not self.memory_gb > 0):
            raise ConfigError(f"option memory_gb must be a positive number of GB (or unset), got {self.memory_gb!r}")
        problem = k_value(self.k)
        if problem:
            raise ConfigError(f"option k {problem}, got {self.k!r}")
        for name in ("negative_ratio", "min_positives", "block"):
            if getattr(self, name) < 1:
                raise ConfigError(f"option {name} must be >= 1, got {getattr(self, name)!r}")


def plugin_scorers() -> tuple[Plugin, ...]:
    """The scorers other packages register (entry point group relneurons.scorers), read from their metadata (no
    import); a plugin named like a built-in is ignored, with a warning."""
    mine = plugins(SCORER_GROUP)
    clash = [p for p in mine if p.name in (*SCORER_NAMES, *MODEL_SCORER_NAMES)]
    for p in clash:
        log.warning("%s is ignored: a built-in scorer has that name", p.describe("scorer"))
    return tuple(p for p in mine if p not in clash)


def scorer_names() -> list[str]:
    """Every scorer a configuration may name: the built-in activation scorers, the plugins', then the model scorers."""
    return [*SCORER_NAMES, *(p.name for p in plugin_scorers()), *MODEL_SCORER_NAMES]


def check_scorers(names: Sequence[str], option: str = "scorers") -> list[str]:
    """The names, validated against the scorers, plugins included (ConfigError with a did-you-mean)."""
    known = scorer_names()
    if isinstance(names, str) or not names:
        raise ConfigError(f"option {option} must be a non-empty list of scorer names from {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ConfigError(
                f"option {option}: unknown scorer {name!r}{did_you_mean(str(name), known)}; scorers: {', '.join(known)}"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"option {option} names a scorer twice: {list(names)}")
    return list(names)
