"""The view of a result folder that has no section of its own: summary, figures, tables."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .. import format as fmt
from ..elements import generic_table
from ..reader import Section, read_table


def context(s: Section) -> dict[str, Any]:
    summary = s.summary
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        summary = dataclasses.asdict(summary)
    summary_pairs, summary_text = [], ""
    if isinstance(summary, dict) and summary:
        summary_pairs = [(k, fmt.jsonish(v)) for k, v in sorted(summary.items())]
    elif summary is not None:
        summary_text = json.dumps(summary, indent=2, default=str)
    tables = []
    for stem in s.table_names():
        s.used_tables.add(stem)
        df = read_table(s.folder, stem, s.notes, s.run.root)
        if df is not None:
            tables.append((stem, generic_table(df), len(df)))
    return {
        "summary_pairs": summary_pairs,
        "summary_text": summary_text,
        "figures": s.other_figures(),
        "tables": tables,
    }
