"""Plugins: scorers and experiments that other packages register through entry points.

A package adds to relneurons by declaring, in its own pyproject.toml,

    [project.entry-points."relneurons.scorers"]
    my_score = "my_pkg.scores:my_score"          # scorer(positives, negatives) -> float64[n_neurons]

    [project.entry-points."relneurons.experiments"]
    my_probe = "my_pkg.probe:SPEC"               # an experiments.spec.ExperimentSpec named "my_probe"

(docs/extending.md walks through both). Nothing is imported until it is asked for: the names come from the
installed distributions' metadata, and a plugin's module is imported when its scorer or experiment is first used,
so `relneurons --help` stays fast. A plugin that fails to import is reported by name with its error; the
built-ins keep working.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

SCORER_GROUP = "relneurons.scorers"
EXPERIMENT_GROUP = "relneurons.experiments"

log = logging.getLogger(__name__)


class PluginError(ConfigError):
    """An installed plugin cannot be loaded or is not what its entry point promises."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of a relneurons group: its name, its target ("module:attribute") and the distribution."""

    name: str
    value: str
    dist: str

    def describe(self, what: str) -> str:
        return f"plugin {what} {self.name!r} ({self.value}, from {self.dist})"

    def load(self, what: str) -> Any:
        """The entry point's object; PluginError naming the plugin and its error when it cannot be imported."""
        from importlib.metadata import EntryPoint

        try:
            return EntryPoint(self.name, self.value, "").load()
        except Exception as exc:  # anything a third-party import can raise
            raise PluginError(f"{self.describe(what)} cannot be loaded: {type(exc).__name__}: {exc}") from exc


@functools.cache
def plugins(group: str) -> tuple[Plugin, ...]:
    """The entry points of `group` in the installed distributions, by name; the first of two with one name wins."""
    from importlib.metadata import entry_points

    found: dict[str, Plugin] = {}
    for ep in entry_points(group=group):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an unknown distribution"
        if ep.name in found:
            log.warning(
                "%s is ignored: %s has the name already",
                Plugin(ep.name, ep.value, dist).describe(group),
                found[ep.name].dist,
            )
            continue
        found[ep.name] = Plugin(ep.name, ep.value, dist)
    return tuple(sorted(found.values(), key=lambda p: p.name))


def forget() -> None:
    """Forget the entry points read so far (a test that installs a plugin, or a notebook after `pip install`)."""
    plugins.cache_clear()
