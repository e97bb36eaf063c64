"""Cumulativity validation (paper §5.1, Fig. 6, Table 2), from per-prompt correctness.

Is the extra accuracy drop between top-a and top-b deactivation caused by the
newly switched-off ranks a+1..b alone (isolated effect) or only by all b
neurons together (cumulative effect)? For each consecutive pair (a, b] of an
increasing k list and one relation's P_eva prompts:

    total(a, b)    = #{i : correct with top-a off  and  wrong with top-b off}
    affected(a, b) = #{i in total : wrong with only ranks a+1..b off}
    cumulativity   = 1 - affected / total          (NaN when total == 0)

High cumulativity: the range alone rarely breaks the prompt, so the neurons act
together. Across relations (Fig. 6):

    macro(a, b) = mean over relations with total > 0 of cumulativity
    micro(a, b) = 1 - sum(affected) / sum(total)   (pooled over prompts)

Condition naming used by the long-format input: the condition (lo, hi)
deactivates ranks lo+1..hi, so top-k off is (0, k] and the range is (a, b].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from relneurons.errors import InputError
from relneurons.experiments.stats import bool_vector

__all__ = [
    "CUMULATIVITY_COLUMNS",
    "SUMMARY_COLUMNS",
    "cumulativity_counts",
    "cumulativity_from_long",
    "summarise_cumulativity",
]

#: Columns of `cumulativity_counts` / `cumulativity_from_long` (one row per relation and range).
CUMULATIVITY_COLUMNS = ["relation", "a", "b", "total", "affected", "cumulativity", "n_prompts"]

#: Columns of `summarise_cumulativity` (one row per range).
SUMMARY_COLUMNS = ["a", "b", "macro", "n_relations", "micro", "total", "affected"]


def cumulativity_counts(
    relation: str, topk_correct: Mapping[int, np.ndarray], range_correct: Mapping[tuple[int, int], np.ndarray]
) -> pd.DataFrame:
    """Table 2 counts for one relation.

    topk_correct[k]: bool [n_prompts], prompt i correct with the relation's
        top-k neurons off (k = 0 may be given for the original model).
    range_correct[(a, b)]: bool [n_prompts], correct with only ranks a+1..b
        off; needed for every consecutive pair a < b of the sorted k's.
    All arrays index the same prompts in the same order.
    Returns CUMULATIVITY_COLUMNS, one row per consecutive (a, b), a ascending.
    """
    ks = sorted(int(k) for k in topk_correct)
    if len(ks) < 2:
        raise InputError(f"{relation}: cumulativity needs at least two k values, got {ks}")
    if ks[0] < 0:
        raise InputError(f"{relation}: k values must be >= 0, got {ks}")
    top = {int(k): bool_vector(v, f"{relation}: top-{k} correctness") for k, v in topk_correct.items()}
    n = top[ks[0]].size
    rows = []
    for a, b in zip(ks[:-1], ks[1:]):
        if (a, b) not in range_correct:
            raise InputError(f"{relation}: missing correctness with only ranks {a + 1}..{b} off (range ({a}, {b}])")
        only = bool_vector(range_correct[(a, b)], f"{relation}: range ({a}, {b}] correctness")
        for arr in (top[a], top[b], only):
            if arr.size != n:
                raise InputError(
                    f"{relation}: correctness arrays cover different numbers of prompts ({arr.size} vs {n})"
                )
        flipped = top[a] & ~top[b]
        total = int(flipped.sum())
        affected = int((flipped & ~only).sum())
        cum = 1.0 - affected / total if total else math.nan
        rows.append((relation, a, b, total, affected, cum, n))
    return pd.DataFrame(rows, columns=CUMULATIVITY_COLUMNS)


def cumulativity_from_long(df: pd.DataFrame) -> pd.DataFrame:
    """Table 2 counts for every relation from a tidy per-prompt table.

    Input columns: relation, lo, hi, prompt_id, correct (bool). A row says
    whether `prompt_id` of `relation` is correct with ranks lo+1..hi of the
    relation's own neurons off: top-k rows have lo = 0, hi = k; range rows
    (a, b] have lo = a, hi = b. The k list of a relation is its set of hi
    values with lo = 0 (plus 0 itself if (0, 0] rows, the original model, are
    given). Relations keep their first-appearance order.

    Top-k rows must cover every prompt. A range (a, b] enters the counts only
    through the prompts that flip between top-a and top-b, so its rows are
    needed for those prompts only (the experiment generates no more); a flipped
    prompt without one is an error.
    """
    need = {"relation", "lo", "hi", "prompt_id", "correct"}
    missing = need - set(df.columns)
    if missing:
        raise InputError(f"cumulativity input lacks columns {sorted(missing)}")
    if df.duplicated(["relation", "lo", "hi", "prompt_id"]).any():
        raise InputError("cumulativity input has duplicate (relation, lo, hi, prompt_id) rows")
    out = []
    for relation, part in df.groupby("relation", sort=False):
        wide = part.pivot(index="prompt_id", columns=["lo", "hi"], values="correct")
        columns = {(int(lo), int(hi)): wide[(lo, hi)] for lo, hi in wide.columns}
        if any(column.isna().any() for (lo, _), column in columns.items() if lo == 0):
            raise InputError(f"{relation}: the top-k conditions do not all cover the same prompts")
        topk = {hi: column.to_numpy().astype(bool) for (lo, hi), column in columns.items() if lo == 0}
        ks = sorted(topk)
        ranges = {}
        for a, b in zip(ks, ks[1:]):
            values = (
                columns[(a, b)].to_numpy(dtype=object) if (a, b) in columns else np.full(len(wide), None, dtype=object)
            )
            missing = pd.isna(values)
            lacking = wide.index[topk[a] & ~topk[b] & missing].tolist()
            if len(lacking):
                raise InputError(
                    f"{relation}: prompt {lacking[0]!r} flips between top-{a} and top-{b} but has no row for "
                    f"the range ({a}, {b}]"
                )
            ranges[(a, b)] = np.where(missing, True, values).astype(bool)  # unflipped prompts do not enter the counts
        out.append(cumulativity_counts(str(relation), topk, ranges))
    if not out:
        return pd.DataFrame(columns=CUMULATIVITY_COLUMNS)
    return pd.concat(out, ignore_index=True)


def summarise_cumulativity(df: pd.DataFrame) -> pd.DataFrame:
    """Fig. 6: macro and micro averaged cumulativity per range (a, b].

    Input: CUMULATIVITY_COLUMNS rows. Output SUMMARY_COLUMNS, sorted by (a, b):
    macro = mean of the relations' cumulativity skipping NaN (relations with
    total = 0), n_relations = how many relations entered it; micro =
    1 - sum(affected) / sum(total) (NaN when sum(total) = 0).
    """
    missing = {"a", "b", "total", "affected", "cumulativity"} - set(df.columns)
    if missing:
        raise InputError(f"cumulativity table lacks columns {sorted(missing)}")
    rows = []
    for (a, b), part in df.groupby(["a", "b"], sort=True):
        cum = part["cumulativity"].to_numpy(dtype=float)
        used = cum[~np.isnan(cum)]
        total = int(part["total"].sum())
        affected = int(part["affected"].sum())
        rows.append(
            (
                int(a),
                int(b),
                float(used.mean()) if used.size else math.nan,
                int(used.size),
                1.0 - affected / total if total else math.nan,
                total,
                affected,
            )
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
