"""The conventions of every summary.json: a frozen dataclass whose last fields are `experiment` and `version`,
written with NaN as null and read back typed (nested dataclasses in list and dict fields rebuilt from the type
hints), refusing a summary of another experiment or version with a message saying what to rerun.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import numpy as np

from ... import io
from ...errors import DataError

#: Bump when a field changes meaning or is removed; readers refuse other versions with a clear message.
SUMMARY_VERSION = 1
#: The summaries that carry tests: 2 since the relation-vs-random p became the exact rank p (nan below 20 random
#: sets), the p < 0.05 counts use Holm-adjusted p, and inter carries the specificity test.
TESTS_VERSION = 2


Summary = TypeVar("Summary")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return _clean(value.item())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_summary(folder: Path, summary: Any) -> None:
    """`folder/summary.json` from a summary dataclass (with `experiment` and `version` fields); NaN as null."""
    io.write_json(Path(folder) / "summary.json", _clean(asdict(summary)))


def _value(hint: Any, value: Any, where: str) -> Any:
    """`value` read from JSON as the annotated type `hint`: nested summary dataclasses in lists, dicts or alone are
    rebuilt, null floats become NaN."""
    origin, args = get_origin(hint), get_args(hint)
    if is_dataclass(hint) and isinstance(value, dict):
        return _build(hint, value, where)
    if origin is list and args and isinstance(value, list):
        return [_value(args[0], v, where) for v in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _value(args[1], v, where) for k, v in value.items()}
    if value is None and (hint is float or float in args):
        return math.nan
    return value


def _build(cls: type, data: dict, where: str) -> Any:
    names = {f.name: f for f in fields(cls)}
    missing = [n for n, f in names.items() if n not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise DataError(f"{where} lacks the fields {missing}; rerun the experiment with this version of relneurons")
    hints = get_type_hints(cls)
    return cls(**{name: _value(hints[name], value, where) for name, value in data.items() if name in names})


def read_summary(folder: Path, cls: type[Summary]) -> Summary:
    """The typed summary of a results folder (e.g. results/intra), or a DataError saying what to rerun.

    `cls` is a dataclass with `experiment` and `version` defaults; a summary of another experiment or version is
    refused rather than misread."""
    path = Path(folder) / "summary.json"
    experiment = cls.experiment
    if not path.is_file():
        raise DataError(f"{path} is missing: run the {experiment} experiment first")
    try:
        data = io.read_json(path)
    except ValueError as err:
        raise DataError(f"{path} is not valid JSON ({err}); rerun the {experiment} experiment") from None
    if not isinstance(data, dict) or data.get("experiment") != experiment or data.get("version") != cls.version:
        found = (data.get("experiment"), data.get("version")) if isinstance(data, dict) else type(data).__name__
        raise DataError(
            f"{path} is not a version-{cls.version} {experiment} summary (found {found}); "
            f"rerun the {experiment} experiment with this version of relneurons"
        )
    return _build(cls, data, str(path))
