"""The activation store: prompts x neurons on disk, chunked, resumable, pickle-free.

Layout of a store folder:
    manifest.json          identity (model, hash, dtype, neuron set, data hashes, seed, versions) + status
    prompts.parquet        one row per prompt: relation, subject, object, template, text, text_id,
                           generation, correct, act_row (row in the matrix, -1 when the text was not kept)
    chunks/NNNNNN.npy      float32 [kept texts of chunk N, n_neurons], `np.load(mmap_mode="r")`-able
    chunks/NNNNNN.parquet  per-text results of chunk N (its presence marks the chunk done)

A chunk is a fixed range of unique prompt texts, written atomically (matrix
first, then its table), so a killed collection resumes at the first missing
chunk and ends with the same bytes as an uninterrupted one. Only texts kept by
validation (some prompt with that text answered correctly) get a matrix row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import io
from ..errors import DataError
from ..model.sites import NeuronSet

STORE_FORMAT = 1
_CHUNKS = "chunks"


def chunk_name(index: int) -> str:
    return f"{index:06d}"


@dataclass
class StoreWriter:
    """Writes a store chunk by chunk; refuses to resume a store with another identity."""

    folder: Path
    identity: dict
    prompts: pd.DataFrame  # one row per prompt, with text_id (0..n_texts-1 in canonical order)
    chunk_texts: int

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.identity = json.loads(json.dumps(self.identity, sort_keys=True, default=str))  # as stored (tuples -> lists)
        manifest = self.folder / "manifest.json"
        if manifest.is_file():
            existing = io.read_json(manifest)
            if existing.get("identity") != self.identity:
                differing = sorted(k for k in set(existing.get("identity", {})) | set(self.identity)
                                   if existing.get("identity", {}).get(k) != self.identity.get(k))
                raise DataError(
                    f"{self.folder} holds an activation store collected with other settings "
                    f"(different: {', '.join(differing)}); choose another output folder or delete it"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            io.write_json(manifest, {"format": STORE_FORMAT, "status": "collecting", "identity": self.identity})

    @property
    def n_texts(self) -> int:
        return int(self.prompts["text_id"].max()) + 1 if len(self.prompts) else 0

    @property
    def n_chunks(self) -> int:
        return -(-self.n_texts // self.chunk_texts)

    def chunk_range(self, index: int) -> range:
        return range(index * self.chunk_texts, min((index + 1) * self.chunk_texts, self.n_texts))

    def done(self, index: int) -> bool:
        base = self.folder / _CHUNKS / chunk_name(index)
        return base.with_suffix(".parquet").is_file() and base.with_suffix(".npy").is_file()

    def write_chunk(self, index: int, results: pd.DataFrame, kept_means: np.ndarray) -> None:
        """`results`: text_id, generation, kept (one row per text of the chunk); `kept_means`: rows of kept texts."""
        if int(results["kept"].sum()) != kept_means.shape[0]:
            raise ValueError("kept_means must have one row per kept text")
        base = self.folder / _CHUNKS / chunk_name(index)
        io.write_npy(base.with_suffix(".npy"), kept_means.astype(np.float32, copy=False))
        io.write_table(base.with_suffix(".parquet"), results)

    def finish(self, extra: dict, annotate: Callable[[pd.DataFrame], pd.DataFrame] = lambda t: t) -> "ActivationStore":
        """Merge chunk tables into prompts.parquet (through `annotate`) and mark the store complete."""
        parts = [pd.read_parquet(self.folder / _CHUNKS / f"{chunk_name(i)}.parquet") for i in range(self.n_chunks)]
        per_text = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["text_id", "generation", "kept"])
        per_text["act_row"] = np.where(per_text["kept"], np.cumsum(per_text["kept"]) - 1, -1)
        table = annotate(self.prompts.merge(per_text[["text_id", "generation", "act_row"]], on="text_id", how="left", validate="m:1"))
        io.write_table(self.folder / "prompts.parquet", table)
        io.write_json(self.folder / "manifest.json", {
            "format": STORE_FORMAT, "status": "complete", "identity": self.identity,
            "n_prompts": len(table), "n_texts": self.n_texts, "n_rows": int(per_text["kept"].sum()),
            "chunk_texts": self.chunk_texts, "n_chunks": self.n_chunks, **extra,
        })
        return ActivationStore(self.folder)


class ActivationStore:
    """A complete store, read through memory maps (nothing is loaded until asked for)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise DataError(f"{self.folder} is not an activation store (no manifest.json); run `relneurons collect` first")
        try:
            self.manifest = io.read_json(path)
        except ValueError as exc:
            raise DataError(f"{path} is corrupt ({exc}); delete the store and collect again") from exc
        if self.manifest.get("format") != STORE_FORMAT:
            raise DataError(f"{self.folder}: store format {self.manifest.get('format')!r} is not {STORE_FORMAT}; collect again")
        if self.manifest.get("status") != "complete":
            raise DataError(f"{self.folder}: collection did not finish; rerun the same `relneurons collect` command to resume it")

    @property
    def identity(self) -> dict:
        return self.manifest["identity"]

    @cached_property
    def prompts(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "prompts.parquet")

    @cached_property
    def _chunks(self) -> list[np.ndarray]:
        arrays = []
        n_neurons = self.identity["n_neurons"]
        for i in range(self.manifest["n_chunks"]):
            path = self.folder / _CHUNKS / f"{chunk_name(i)}.npy"
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(f"{path} is missing or corrupt ({exc}); delete it and rerun `relneurons collect` to redo that chunk") from exc
            if array.ndim != 2 or array.shape[1] != n_neurons or array.dtype != np.float32:
                raise DataError(f"{path} has shape {array.shape} and dtype {array.dtype}, expected (*, {n_neurons}) float32")
            arrays.append(array)
        if sum(a.shape[0] for a in arrays) != self.manifest["n_rows"]:
            raise DataError(f"{self.folder}: chunk files hold a different number of rows than the manifest says; collect again")
        return arrays

    @cached_property
    def neuron_set(self) -> NeuronSet:
        return NeuronSet.from_json(self.manifest["neuron_set"])

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def n_neurons(self) -> int:
        return int(self.identity["n_neurons"])

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Activations of neurons [start, stop) (set order) for every stored row: float32 [n_rows, stop - start]."""
        out = np.empty((self.n_rows, stop - start), dtype=np.float32)
        row = 0
        for array in self._chunks:
            out[row:row + array.shape[0]] = array[:, start:stop]
            row += array.shape[0]
        return out

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Every neuron's activations for the given stored rows: float32 [len(rows), n_neurons]."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.cumsum([0] + [a.shape[0] for a in self._chunks])
        out = np.empty((len(rows), self.n_neurons), dtype=np.float32)
        which = np.searchsorted(starts, rows, side="right") - 1
        for i, (c, r) in enumerate(zip(which, rows)):
            out[i] = self._chunks[c][r - starts[c]]
        return out
