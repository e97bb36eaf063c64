"""Greedy generation for many (prompt, condition) pairs, condition-batched and cached on disk.

Every experiment of SPEC §5 is a set of (prompt, condition) pairs whose
generations are judged. Pairs are sorted by prompt length and run in mixed
batches (each row carries its own condition, see `ConditionBatch`), and every
finished generation goes into a Parquet cache, so experiments sharing pairs
(intra uses the diagonal of inter; cumulativity uses the k sweep) compute
them once, and an interrupted experiment resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import io
from ..errors import DataError
from ..model.generation import generate_batch, input_device
from ..model.tokenization import TokenizerPolicy, pad_left, token_ids
from .hooks import Condition, conditions

_SAVE_EVERY = 32  # batches between cache saves


@dataclass
class GenerationCache:
    """(condition, max_new_tokens, text) -> generation, persisted as Parquet under a fixed identity."""

    path: Path
    identity: dict
    table: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        meta = self.path.with_suffix(".json")
        if meta.is_file():
            stored = io.read_json(meta)
            if stored != self.identity:
                raise DataError(f"{self.path} caches generations of another model/store/neuron ranking; use another --out folder")
            if self.path.is_file():
                frame = pd.read_parquet(self.path)
                self.table = dict(zip(zip(frame["condition"], frame["max_new_tokens"].astype(int), frame["text"]), frame["generation"]))
        else:
            io.write_json(meta, self.identity)

    def save(self) -> None:
        keys = list(self.table)
        io.write_table(self.path, pd.DataFrame({
            "condition": [k[0] for k in keys], "max_new_tokens": [k[1] for k in keys],
            "text": [k[2] for k in keys], "generation": list(self.table.values()),
        }))


def generate_pairs(
    model,
    tokenizer,
    policy: TokenizerPolicy,
    texts: Sequence[str],
    condition_of_row: Sequence[str],
    catalogue: dict[str, Condition],
    *,
    max_new_tokens: int = 2,
    batch_size: int = 32,
    cache: GenerationCache | None = None,
    progress: bool = True,
    desc: str = "generate",
) -> list[str]:
    """Generation for each (texts[i], catalogue[condition_of_row[i]]) pair, in the caller's order."""
    keys = [(c, max_new_tokens, t) for t, c in zip(texts, condition_of_row)]
    known = cache.table if cache is not None else {}
    unique = list(dict.fromkeys(keys))
    names = list(dict.fromkeys(k[0] for k in unique))
    index = {name: i for i, name in enumerate(names)}
    encoded = token_ids(tokenizer, policy, [k[2] for k in unique])
    # Rows are ordered by condition, then length (little padding), and batches run across condition
    # boundaries. Batches are cut from the full list whether or not rows are cached, and a batch with
    # any missing row is recomputed whole: a resumed run sees the same batches (same padding, same
    # numerics) as an uninterrupted one, and conditions cached by an earlier experiment skip whole batches.
    order = sorted(range(len(unique)), key=lambda i: (index[unique[i][0]], len(encoded[i]), i))
    chunks = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    todo = [rows for rows in chunks if any(unique[i] not in known for i in rows)]
    results: dict[tuple[str, int, str], str] = {}
    if todo:
        bar = tqdm(total=sum(map(len, todo)), desc=desc, unit="gen", disable=not progress)
        device = input_device(model)
        with conditions(model, [catalogue[n] for n in names]) as batch:
            for b, rows in enumerate(todo):
                batch.select([index[unique[i][0]] for i in rows])
                new = generate_batch(model, pad_left([encoded[i] for i in rows], policy.pad_token_id, device), max_new_tokens)
                for r, i in enumerate(rows):
                    results[unique[i]] = tokenizer.decode(new[r].tolist(), skip_special_tokens=True)
                bar.update(len(rows))
                if cache is not None:
                    cache.table.update({unique[i]: results[unique[i]] for i in rows})
                    if (b + 1) % _SAVE_EVERY == 0:
                        cache.save()
        bar.close()
        if cache is not None:
            cache.save()
    return [results[k] if k in results else known[k] for k in keys]


def random_neurons(global_ids: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k neurons drawn uniformly without replacement from the given set (seeded), sorted."""
    return np.sort(np.random.default_rng(seed).choice(global_ids, size=k, replace=False))
