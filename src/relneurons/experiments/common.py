"""Helpers every experiment shares: building (prompt, condition) pairs and naming a condition's kind."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .conditions import ConditionName

__all__ = ["condition_kind", "prompt_pairs"]


def prompt_pairs(prompts: pd.DataFrame, conditions: list[str], split_name: str) -> pd.DataFrame:
    """Every prompt under every condition: the rows `Study.judge` takes (prompt_id = the prompt's position)."""
    return pd.concat(
        [prompts.assign(condition=c, split=split_name, prompt_id=np.arange(len(prompts))) for c in conditions],
        ignore_index=True,
    )


def condition_kind(condition: str) -> str:
    """original / relation / random / ids / forced, from a condition name (experiments/conditions.py)."""
    return ConditionName.parse(condition).kind_name
