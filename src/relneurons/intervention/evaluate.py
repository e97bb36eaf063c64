"""Greedy generation for many (prompt, condition) pairs, condition-batched and cached on disk.

Every experiment of the paper is a set of (prompt, condition) pairs whose
generations are judged. Pairs are sorted by prompt length and run in mixed
batches (each row carries its own condition, see `ConditionBatch`), and every
finished generation goes into a Parquet cache, so experiments sharing pairs
(intra uses the diagonal of inter; cumulativity uses the k sweep) compute
them once, and an interrupted experiment resumes.

Under torchrun the batches still to generate are split across the processes
(batch b goes to process b % world); each writes its generations to its own
shard file beside the cache, and after a barrier every process merges all
shards, so all continue with the same cache and the same results as one
process would have (the same batches run, whichever process runs them).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import io, parallel
from ..errors import DataError
from ..model.batching import Shrinking, resolve_batch_size
from ..model.generation import generate_batch, input_device
from ..model.tokenization import TokenizerPolicy, pad_left, token_ids
from .hooks import Condition, conditions

_SAVE_EVERY = 32  # batches between cache saves,
_SAVE_SECONDS = 60.0  # or seconds, whichever comes first: a large model on a CPU takes minutes per 32 batches


@dataclass
class GenerationCache:
    """(condition, max_new_tokens, text) -> generation, persisted as Parquet under a fixed identity."""

    path: Path
    identity: dict
    table: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        meta = self.path.with_suffix(".json")
        leftovers: list[Path] = []
        if meta.is_file():
            stored = io.read_json(meta)
            if stored != self.identity:
                raise DataError(
                    f"{self.path} caches generations of another model/store/neuron ranking; use another --out folder"
                )
            if self.path.is_file():
                self.table = self._read(self.path)
            # shards of an interrupted torchrun run: generations as good as the cache's own
            leftovers = sorted(self.path.parent.glob(f"{self.path.stem}.rank-*.parquet"))
            for shard in leftovers:
                self.table.update(self._read(shard))
        elif parallel.is_main():
            io.write_json(meta, self.identity)
        parallel.barrier("open the generation cache")
        if leftovers and parallel.is_main():
            self.save()
            for shard in leftovers:
                shard.unlink(missing_ok=True)
        parallel.barrier("generation cache cleaned")

    @staticmethod
    def _read(path: Path) -> dict[tuple[str, int, str], str]:
        frame = pd.read_parquet(path)
        return dict(
            zip(zip(frame["condition"], frame["max_new_tokens"].astype(int), frame["text"]), frame["generation"])
        )

    @staticmethod
    def _write(path: Path, table: dict[tuple[str, int, str], str]) -> None:
        keys = sorted(table)  # the file's bytes depend on its content only, not on the order generations arrived
        io.write_table(
            path,
            pd.DataFrame(
                {
                    "condition": [k[0] for k in keys],
                    "max_new_tokens": [k[1] for k in keys],
                    "text": [k[2] for k in keys],
                    "generation": [table[k] for k in keys],
                }
            ),
        )

    def save(self) -> None:
        self._write(self.path, self.table)

    def shard(self, rank: int) -> Path:
        """The file where process `rank` of a torchrun launch puts the generations it computed."""
        return self.path.with_name(f"{self.path.stem}.rank-{rank:05d}.parquet")

    def save_shard(self, mine: dict[tuple[str, int, str], str]) -> None:
        """Under torchrun: write the generations this process computed to its own shard."""
        self._write(self.shard(parallel.rank()), mine)

    def exchange(self, mine: dict[tuple[str, int, str], str]) -> dict[tuple[str, int, str], str]:
        """Under torchrun: publish this process's generations, merge everyone's (in rank order) into the cache.

        Every process must call it at the same point; all return the same merged generations.
        """
        self.save_shard(mine)
        parallel.barrier("every process wrote its generations")
        merged: dict[tuple[str, int, str], str] = {}
        for rank in range(parallel.world()):
            path = self.shard(rank)
            if not path.is_file():
                raise DataError(
                    f"{path} (generations of process {rank}) is missing; under torchrun the output folder "
                    "must be on a file system every process sees"
                )
            merged.update(self._read(path))
        self.table.update(merged)
        if parallel.is_main():
            self.save()
        parallel.barrier("generations merged")
        self.shard(parallel.rank()).unlink(missing_ok=True)
        return merged


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) of every run of equal consecutive values."""
    if not len(values):
        return []
    bounds = [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    return list(zip([0, *bounds], [*bounds, len(values)]))


def _digest(keys) -> int:
    """A signed 64-bit digest of a list of cache keys (to check that all processes plan the same batches)."""
    digest = hashlib.sha256("\x1e".join(f"{c}\x1f{n}\x1f{t}" for c, n, t in keys).encode()).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


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
    """Generation for each (texts[i], catalogue[condition_of_row[i]]) pair, in the caller's order.

    `batch_size` fixes the batches (see model/batching.py: an out-of-memory error
    splits a batch instead of failing). Under torchrun with a cache, the batches
    to run are shared among the processes and their generations merged.
    """
    batch_size = resolve_batch_size(batch_size)
    keys = [(c, max_new_tokens, t) for t, c in zip(texts, condition_of_row)]
    known = cache.table if cache is not None else {}
    unique = list(dict.fromkeys(keys))
    names = list(dict.fromkeys(k[0] for k in unique))
    index = {name: i for i, name in enumerate(names)}
    encoded = token_ids(tokenizer, policy, [k[2] for k in unique])
    # Rows are ordered by condition, then length (little padding), and batches are cut at condition
    # boundaries: one condition per batch measured 1.07x faster than mixed batches on an idle 2-core CPU
    # (benchmarks/bench_generation.py, (e1)/(e): a batch straddling two conditions pairs the longest prompts
    # of one with the shortest of the next), with identical generations. Batches are cut from the full list
    # whether or not rows are cached, and a batch with any missing row is recomputed whole: a resumed run
    # sees the same batches (same padding, same numerics) as an uninterrupted one, and conditions cached by
    # an earlier experiment skip whole batches.
    order = sorted(range(len(unique)), key=lambda i: (index[unique[i][0]], len(encoded[i]), i))
    chunks = []
    for start, end in _runs([index[unique[i][0]] for i in order]):
        chunks += [order[s : min(s + batch_size, end)] for s in range(start, end, batch_size)]
    todo = [rows for rows in chunks if any(unique[i] not in known for i in rows)]
    split = cache is not None and parallel.world() > 1
    if split:
        parallel.check_same(
            _digest(unique[i] for rows in todo for i in rows), f"the generations still to compute ({desc})"
        )
    mine = parallel.share(todo) if split else todo
    results: dict[tuple[str, int, str], str] = {}
    if todo:
        bar = tqdm(total=sum(map(len, mine)), desc=desc, unit="gen", disable=not progress or not parallel.is_main())
        device = input_device(model)
        sizer = Shrinking(batch_size, what=desc)
        with conditions(model, [catalogue[n] for n in names]) as batch:

            def run_part(part: list[int]) -> list[str]:
                width = max(len(encoded[i]) for i in part)  # left padding: row i's prompt starts at width - len
                bos = [
                    width - len(encoded[i])
                    if policy.add_bos and len(encoded[i]) and encoded[i][0] == policy.bos_token_id
                    else -1
                    for i in part
                ]
                batch.select([index[unique[i][0]] for i in part], bos)
                new = generate_batch(
                    model, pad_left([encoded[i] for i in part], policy.pad_token_id, device), max_new_tokens
                )
                return [tokenizer.decode(new[r].tolist(), skip_special_tokens=True) for r in range(len(part))]

            saved = time.monotonic()
            for b, rows in enumerate(mine):
                for i, text in zip(rows, sizer.run(rows, run_part)):
                    results[unique[i]] = text
                bar.update(len(rows))
                if cache is not None and ((b + 1) % _SAVE_EVERY == 0 or time.monotonic() - saved >= _SAVE_SECONDS):
                    saved = time.monotonic()
                    if split:
                        cache.save_shard(results)
                    else:
                        cache.table.update(results)
                        cache.save()
        bar.close()
        if split:
            results = cache.exchange(results)
        elif cache is not None:
            cache.table.update(results)
            cache.save()
    return [results[k] if k in results else known[k] for k in keys]


def random_neurons(global_ids: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k neurons drawn uniformly without replacement from the given set (seeded), sorted."""
    return np.sort(np.random.default_rng(seed).choice(global_ids, size=k, replace=False))
