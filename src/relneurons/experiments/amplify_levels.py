"""Forcing levels of the amplify experiment: "zero", "median", "p<q>" or "<m>x<level>", parsed and checked here.

Without torch or pandas: the run configuration checks `amplify.levels` with `parse_levels` before any model loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

_LEVEL = re.compile(r"^(?:(?P<mult>\d+(?:\.\d+)?)x)?(?P<base>zero|median|p(?P<q>\d+(?:\.\d+)?))$")


def _default_levels() -> list[str]:
    from .registry import BY_NAME  # the option's one default, for the message

    return BY_NAME["amplify"].defaults()["levels"]


@dataclass(frozen=True)
class Level:
    """A forcing level: `multiple` x (0, the median, or the q-th percentile) of each neuron's positive outputs."""

    name: str
    base: str  # zero, median or quantile
    q: float = 0.0  # percentile in [0, 100] when base == quantile
    multiple: float = 1.0

    def values(self, outputs: np.ndarray) -> np.ndarray:
        """One value per neuron from `outputs` [n_positives, n_neurons]."""
        if self.base == "zero":
            return np.zeros(outputs.shape[1])
        if self.base == "median":
            return self.multiple * np.median(outputs, axis=0)  # as force = median does (Study._force_values)
        return self.multiple * np.quantile(outputs, self.q / 100, axis=0)


def parse_levels(levels) -> list[Level]:
    """Level names -> Levels; one ConfigError naming the bad entry and the accepted forms."""
    if isinstance(levels, str) or not levels:
        raise ConfigError(f"option amplify.levels must be a non-empty list such as {_default_levels()}, got {levels!r}")
    out = []
    for name in levels:
        match = _LEVEL.match(name) if isinstance(name, str) else None
        q = float(match["q"]) if match and match["q"] else 0.0
        if not match or not 0 <= q <= 100 or (match["base"] == "zero" and match["mult"]):
            raise ConfigError(
                f"option amplify.levels: {name!r} is not a level; use zero, median, p<q> with q in 0-100 "
                f"(p90) or a multiple such as 2xp90 or 1.5xmedian"
            )
        base = "quantile" if match["q"] else match["base"]
        out.append(Level(name, base, q, float(match["mult"]) if match["mult"] else 1.0))
    if len({lv.name for lv in out}) != len(out):
        raise ConfigError(f"option amplify.levels lists a level twice: {list(levels)}")
    return out
