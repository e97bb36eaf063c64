"""The project's own error types.

Every failure a user can cause (bad file, bad option, unknown name) is raised as
a `RelneuronsError` whose message names the thing to fix. The CLI prints the
message alone (no traceback) and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RelneuronsError(Exception):
    """Base class: a problem the user can fix, described in the message."""


class DataError(RelneuronsError):
    """A relation file, data folder or download is missing, malformed or corrupt."""


class ConfigError(RelneuronsError):
    """An option or configuration value is unknown or out of range."""


class ModelError(RelneuronsError):
    """A model cannot be loaded, or has no neuron sites we recognise."""


class NeuronError(RelneuronsError):
    """A neuron index, set or site is invalid for the model at hand."""


class ParallelError(RelneuronsError):
    """Processes of a torchrun launch cannot agree or wait for each other (one failed, or files are not shared)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' hint for an unknown `name`, or '' if nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class InputError(RelneuronsError, ValueError):
    """An argument passed to the Python API has the wrong shape, type or content."""


class OutputError(RelneuronsError, OSError):
    """A result cannot be written: the disk is full, no permission, a read-only file system, a file in the way."""
