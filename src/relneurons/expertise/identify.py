"""`relneurons identify`: AP of every neuron for every relation, and the top-k lists (paper §2.2).

Outputs, in the identification folder:
    examples.parquet         relation, act_row, positive: the exact E+_r / E-_r used
    blocks/START-STOP.npy    float64 [relations, STOP - START] AP of neurons [START, STOP) (resume unit)
    ap/<relation>.parquet    global_index, layer, module, unit, ap, rank (rank 1 = most expert)
    topk.parquet             relation, rank, global_index, layer, module, unit, ap for rank <= k
    summary.json             counts per relation, skipped relations and why, k as count and fraction
AP blocks depend only on the store and the example sets, so changing k rewrites
the top-k lists without recomputing AP.

Memory: a block of neurons is read for every stored row (one contiguous read
per chunk, see `activations.store`), scored, written and dropped, so a store
larger than memory is scored in one pass. With `memory_gb` the block width is
chosen so that the block, the chunk read buffer, its AP and the AP working set
(`working_set_bytes`) stay under the budget; the AP of a neuron does not depend
on the block it was scored in, so the tables are identical for every budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import io
from ..activations.store import ActivationStore
from ..data.splits import relation_rng
from ..errors import ConfigError, DataError
from .average_precision import average_precision_subsets, working_set_bytes
from .config import IdentifyConfig  # declared without torch (the command line reads its defaults); re-exported

log = logging.getLogger(__name__)


def resolve_k(k: float, n_neurons: int) -> int:
    """k as a count: a fraction < 1 is rounded to the nearest count (at least 1)."""
    count = max(1, round(k * n_neurons)) if k < 1 else int(k)
    if count > n_neurons:
        raise ConfigError(f"option k = {count} is more than the {n_neurons} neurons in the set")
    return count


def example_sets(
    prompts: pd.DataFrame, ratio: int, min_positives: int, seed: int
) -> tuple[pd.DataFrame, dict[str, str]]:
    """E+_r (validated P_det of r) and seeded E-_r (ratio x as many, from other relations' validated P_det).

    Returns the examples (relation, act_row, positive) and {skipped relation: reason}.
    """
    kept = prompts[prompts["correct"] & (prompts["act_row"] >= 0)]
    rows_of = {r: np.unique(g["act_row"].to_numpy()) for r, g in kept.groupby("relation", sort=False)}
    parts, skipped = [], {}
    for relation in dict.fromkeys(prompts["relation"]):
        positives = rows_of.get(relation, np.zeros(0, np.int64))
        if len(positives) < min_positives:
            skipped[relation] = f"{len(positives)} validated prompts, fewer than min_positives = {min_positives}"
            continue
        others = [rows for r, rows in rows_of.items() if r != relation]
        pool = np.setdiff1d(np.concatenate(others) if others else np.zeros(0, np.int64), positives)
        want = ratio * len(positives)
        if len(pool) == 0:
            skipped[relation] = "no validated prompts of other relations to use as negatives"
            continue
        rng = relation_rng(seed, relation)
        negatives = np.sort(rng.choice(pool, size=min(want, len(pool)), replace=False))
        parts.append(
            pd.DataFrame(
                {
                    "relation": relation,
                    "act_row": np.concatenate([positives, negatives]),
                    "positive": np.r_[np.ones(len(positives), bool), np.zeros(len(negatives), bool)],
                }
            )
        )
    examples = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {"relation": pd.Series(dtype=str), "act_row": pd.Series(dtype=np.int64), "positive": pd.Series(dtype=bool)}
        )
    )
    return examples, skipped


def _examples_key(store: ActivationStore, examples: pd.DataFrame) -> str:
    digest = hashlib.sha256(json.dumps(store.identity, sort_keys=True).encode())
    digest.update(pd.util.hash_pandas_object(examples, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def block_width(store: ActivationStore, subsets: list, config: IdentifyConfig) -> tuple[int, int]:
    """Neurons per block and the bytes one block step holds (block, read buffer, AP result, AP working set)."""
    per_neuron = 4 * store.n_rows + 4 * store.max_chunk_rows + 2 * 8 * len(subsets)
    fixed = working_set_bytes(subsets, store.n_rows)
    width = min(config.block, store.n_neurons)
    if config.memory_gb is not None:
        budget = int(config.memory_gb * 2**30)
        fits = (budget - fixed) // per_neuron
        if fits < 1:
            need = (fixed + per_neuron) / 2**30
            raise ConfigError(
                f"option memory_gb = {config.memory_gb} is too small for {store.folder}: scoring even one neuron "
                f"at a time needs {need:.3f} GB ({store.n_rows} rows); raise memory_gb to at least {need:.3f}"
            )
        width = max(1, min(width, fits))
    return width, fixed + width * per_neuron


def rank_descending(ap: np.ndarray) -> np.ndarray:
    """Order of neurons by AP, highest first; ties broken by lower column (deterministic)."""
    return np.lexsort((np.arange(ap.size), -ap))


def identify(
    store_dir: str | Path, out: str | Path, config: IdentifyConfig = IdentifyConfig(), *, progress: bool = True
) -> dict:
    """Score every neuron of the store for every relation; write AP tables and top-k lists. Returns the summary."""
    started = time.time()
    store = ActivationStore(store_dir)
    out = Path(out)
    nset = store.neuron_set
    k = resolve_k(config.k, nset.size)
    examples, skipped = example_sets(store.prompts, config.negative_ratio, config.min_positives, config.seed)
    for relation, reason in skipped.items():
        log.warning("skipping relation %s: %s", relation, reason)
    relations = list(dict.fromkeys(examples["relation"]))
    if not relations:
        raise DataError(
            f"no relation in {store.folder} has enough validated prompts (min_positives = {config.min_positives}); "
            "lower it (--min-positives, neurons.min_positives) or collect more prompts per relation"
        )

    store.columns(0, 1)  # every chunk file of the store checked (header, size) before anything is written
    key = _examples_key(store, examples)
    state = out / "blocks" / "key.txt"
    if state.is_file() and state.read_text() != key:
        raise DataError(
            f"{out} holds AP blocks of other examples or another store; choose another folder or delete {out / 'blocks'}"
        )
    io.write_bytes(state, key.encode())
    io.write_table(out / "examples.parquet", examples)

    subsets = [(g["act_row"].to_numpy(), g["positive"].to_numpy()) for _, g in examples.groupby("relation", sort=False)]
    width, step_bytes = block_width(store, subsets, config)
    # blocks are named by neuron range: a run with another width (budget) recomputes instead of misreading
    ranges = [(start, min(start + width, nset.size)) for start in range(0, nset.size, width)]
    paths = [out / "blocks" / f"{start:09d}-{stop:09d}.npy" for start, stop in ranges]
    bar = tqdm(total=nset.size, desc="average precision", unit="neuron", unit_scale=True, disable=not progress)
    for (start, stop), path in zip(ranges, paths):
        if not path.is_file():
            io.write_npy(path, average_precision_subsets(store.columns(start, stop), subsets))
        bar.update(stop - start)
    bar.close()
    ap = np.concatenate([np.load(path, allow_pickle=False) for path in paths], axis=1)
    for stale in set((out / "blocks").glob("*.npy")) - set(paths):  # blocks of another width
        stale.unlink()

    names = nset.describe(nset.global_ids)
    base = pd.DataFrame(
        {"global_index": nset.global_ids, "layer": names["layer"], "module": names["module"], "unit": names["unit"]}
    )
    top = []
    for r, relation in enumerate(relations):
        order = rank_descending(ap[r])
        ranks = np.empty(nset.size, np.int64)
        ranks[order] = np.arange(1, nset.size + 1)
        table = base.assign(ap=ap[r], rank=ranks)
        io.write_table(out / "ap" / f"{relation}.parquet", table)
        top.append(table.iloc[order[:k]].assign(relation=relation))
    topk = pd.concat(top, ignore_index=True)[["relation", "rank", "global_index", "layer", "module", "unit", "ap"]]
    io.write_table(out / "topk.parquet", topk)

    counts = examples.groupby("relation", sort=False)["positive"].agg(positives="sum", total="size")
    summary = {
        "store": str(store.folder),
        "store_sha256": store.identity_sha256,
        "neuron_set": nset.name,
        "n_neurons": nset.size,
        "k": k,
        "k_fraction": k / nset.size,
        "config": asdict(config),
        "relations": {
            r: {"positives": int(c.positives), "negatives": int(c.total - c.positives)} for r, c in counts.iterrows()
        },
        "skipped": skipped,
        "block": width,
        "block_bytes": step_bytes,
        "seconds": round(time.time() - started, 1),
    }
    io.write_json(out / "summary.json", summary)
    return summary


def load_topk(identify_dir: str | Path) -> pd.DataFrame:
    """The top-k table written by `identify`."""
    path = Path(identify_dir) / "topk.parquet"
    if not path.is_file():
        raise DataError(f"{path} does not exist; run `relneurons identify` first")
    return pd.read_parquet(path)
