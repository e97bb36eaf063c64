"""The activation store: prompts x neurons on disk, chunked, resumable, pickle-free.

Layout of a store folder:
    manifest.json          identity (model, hash, dtype, neuron set, data hashes, seed, versions) + status
    prompts.parquet        one row per prompt: relation, subject, object, template, text, text_id,
                           generation, correct, act_row (row in the matrix, -1 when the text was not kept)
    chunks/NNNNNN.neurons.npy  float32 [n_neurons, kept texts of chunk N]: the chunk's matrix stored
                           neuron-major (transposed), a plain .npy (no pickle)
    chunks/NNNNNN.parquet  per-text results of chunk N (its presence marks the chunk done)

A chunk is a fixed range of unique prompt texts, written atomically (matrix
first, then its table), so a killed collection resumes at the first missing
chunk and ends with the same bytes as an uninterrupted one. Only texts kept by
validation (some prompt with that text answered correctly) get a matrix row.

Why neuron-major (store format 2): identification reads a block of neurons for
every row. In a chunk stored [neurons, rows] that block is ONE contiguous byte
range per chunk, read with plain file reads into a caller-sized buffer (no
memory map, so the process never holds more of the store than it asked for).
Format 1 stored chunks row-major [rows, neurons]; a neuron block was then a
strided read touching every page of the file, once per block.
`upgrade_store` converts a format-1 store in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..errors import DataError
from ..model.neurons import NeuronSet

STORE_FORMAT = 2
_CHUNKS = "chunks"
_MATRIX = ".neurons.npy"  # suffix of a chunk's neuron-major matrix
_ITEM = 4  # bytes of a float32
_READ_BYTES = 64 * 2**20  # read buffer of `rows()`
_TILE = 256  # neurons per transposed tile in `columns()`


def chunk_name(index: int) -> str:
    return f"{index:06d}"


def matrix_path(folder: Path, index: int) -> Path:
    """The neuron-major matrix file of chunk `index`."""
    return Path(folder) / _CHUNKS / f"{chunk_name(index)}{_MATRIX}"


#: Manifest fields a complete store must have, and their JSON types.
_MANIFEST_FIELDS = {"identity": dict, "n_rows": int, "n_chunks": int}  # neuron_set is checked when read


def _check_manifest(path: Path, manifest: dict) -> None:
    """Raise DataError naming the first missing or mistyped field of a complete store's manifest."""
    for key, kind in _MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise DataError(
                f"{path} is corrupt: field {key!r} is {value!r}, expected a {'non-negative ' if kind is int else ''}"
                f"{'JSON object' if kind is dict else kind.__name__}; delete the store and collect again"
            )
    n_neurons = manifest["identity"].get("n_neurons")
    if not isinstance(n_neurons, int) or isinstance(n_neurons, bool) or n_neurons < 1:
        raise DataError(
            f"{path} is corrupt: field identity.n_neurons is {n_neurons!r}; delete the store and collect again"
        )


def _old_format(folder: Path, found) -> DataError:
    if found == 1:
        return DataError(
            f"{folder} was collected with store format 1 (row-major chunks); this version reads store format "
            f"{STORE_FORMAT}. Convert it in place with `relneurons upgrade-store {folder}` (no model needed, about "
            "as fast as copying the store) or collect again"
        )
    return DataError(f"{folder}: store format {found!r} is not {STORE_FORMAT}; collect again with this version")


@dataclass
class StoreWriter:
    """Writes a store chunk by chunk; refuses to resume a store with another identity."""

    folder: Path
    identity: dict
    prompts: pd.DataFrame  # one row per prompt, with text_id (0..n_texts-1 in canonical order)
    chunk_texts: int

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.identity = json.loads(
            json.dumps(self.identity, sort_keys=True, default=str)
        )  # as stored (tuples -> lists)
        manifest = self.folder / "manifest.json"
        if manifest.is_file():
            existing = io.read_json(manifest)
            if existing.get("format") != STORE_FORMAT:
                raise DataError(
                    f"{self.folder} holds an activation store of format {existing.get('format')!r}, not "
                    f"{STORE_FORMAT}; choose another output folder or delete it"
                )
            if existing.get("identity") != self.identity:
                differing = sorted(
                    k
                    for k in set(existing.get("identity", {})) | set(self.identity)
                    if existing.get("identity", {}).get(k) != self.identity.get(k)
                )
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
        table = self.folder / _CHUNKS / f"{chunk_name(index)}.parquet"
        return table.is_file() and matrix_path(self.folder, index).is_file()

    def write_chunk(self, index: int, results: pd.DataFrame, kept_means: np.ndarray) -> None:
        """`results`: text_id, generation, kept (one row per text of the chunk); `kept_means`: [kept texts, n_neurons]."""
        if int(results["kept"].sum()) != kept_means.shape[0]:
            raise ValueError("kept_means must have one row per kept text")
        io.write_npy(matrix_path(self.folder, index), kept_means.astype(np.float32, copy=False).T)  # neuron-major
        io.write_table(self.folder / _CHUNKS / f"{chunk_name(index)}.parquet", results)

    def finish(self, extra: dict, annotate: Callable[[pd.DataFrame], pd.DataFrame] = lambda t: t) -> ActivationStore:
        """Merge chunk tables into prompts.parquet (through `annotate`) and mark the store complete."""
        parts = [pd.read_parquet(self.folder / _CHUNKS / f"{chunk_name(i)}.parquet") for i in range(self.n_chunks)]
        per_text = (
            pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["text_id", "generation", "kept"])
        )
        per_text["act_row"] = np.where(per_text["kept"], np.cumsum(per_text["kept"]) - 1, -1)
        table = annotate(
            self.prompts.merge(per_text[["text_id", "generation", "act_row"]], on="text_id", how="left", validate="m:1")
        )
        io.write_table(self.folder / "prompts.parquet", table)
        io.write_json(
            self.folder / "manifest.json",
            {
                "format": STORE_FORMAT,
                "status": "complete",
                "identity": self.identity,
                "n_prompts": len(table),
                "n_texts": self.n_texts,
                "n_rows": int(per_text["kept"].sum()),
                "chunk_texts": self.chunk_texts,
                "n_chunks": self.n_chunks,
                **extra,
            },
        )
        return ActivationStore(self.folder)


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


@dataclass(frozen=True)
class _Chunk:
    """Where a chunk's neuron-major matrix lies in its file."""

    path: Path
    rows: int  # kept texts of the chunk
    offset: int  # byte offset of the data (after the .npy header)


def _open_chunk(path: Path, n_neurons: int) -> _Chunk:
    """Read and check a chunk's .npy header: float32, C order, shape (n_neurons, rows), file not truncated."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version} is not supported")
            shape, fortran, dtype = _HEADER_READERS[version](handle)
            offset = handle.tell()
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path} is missing or corrupt ({exc}); delete it and rerun `relneurons collect` to redo that chunk"
        ) from exc
    if len(shape) != 2 or shape[0] != n_neurons or dtype != np.float32 or fortran:
        raise DataError(
            f"{path} holds a {'Fortran-order ' if fortran else ''}{dtype} array of shape {shape}, expected "
            f"float32 ({n_neurons}, rows); delete it and rerun `relneurons collect` to redo that chunk"
        )
    expected = offset + _ITEM * shape[0] * shape[1]
    if path.stat().st_size != expected:
        raise DataError(
            f"{path} is truncated or padded ({path.stat().st_size} bytes, expected {expected}); "
            "delete it and rerun `relneurons collect` to redo that chunk"
        )
    return _Chunk(path, int(shape[1]), offset)


def _read_slab(handle, chunk: _Chunk, start: int, stop: int, buffer: np.ndarray) -> np.ndarray:
    """Neurons [start, stop) of a chunk, one contiguous read: float32 [stop - start, chunk.rows] (a view of `buffer`)."""
    slab = buffer[: (stop - start) * chunk.rows].reshape(stop - start, chunk.rows)
    handle.seek(chunk.offset + _ITEM * start * chunk.rows)
    if handle.readinto(memoryview(slab).cast("B")) != slab.nbytes:
        raise DataError(f"{chunk.path} ended early; delete it and rerun `relneurons collect` to redo that chunk")
    return slab


class ActivationStore:
    """A complete store; matrices are read on demand with plain file reads (nothing is loaded until asked for)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise DataError(
                f"{self.folder} is not an activation store (no manifest.json); run `relneurons collect` first"
            )
        try:
            self.manifest = io.read_json(path)
        except ValueError as exc:
            raise DataError(f"{path} is corrupt ({exc}); delete the store and collect again") from exc
        if not isinstance(self.manifest, dict):
            raise DataError(
                f"{path} is corrupt (a JSON {'list' if isinstance(self.manifest, list) else 'null' if self.manifest is None else 'value'}, not an object); delete the store and collect again"
            )
        if self.manifest.get("format") != STORE_FORMAT:
            raise _old_format(self.folder, self.manifest.get("format"))
        if self.manifest.get("status") != "complete":
            raise DataError(
                f"{self.folder}: collection did not finish; rerun the same `relneurons collect` command to resume it"
            )
        _check_manifest(path, self.manifest)

    @property
    def identity(self) -> dict:
        return self.manifest["identity"]

    @property
    def identity_sha256(self) -> str:
        """What the store holds, whatever folder it sits in: results computed from it record this, not a path."""
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()

    @cached_property
    def prompts(self) -> pd.DataFrame:
        path = self.folder / "prompts.parquet"
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(
                f"{path} is missing or corrupt ({' '.join(str(exc).split())}); collect the store again"
            ) from exc

    @cached_property
    def _chunks(self) -> list[_Chunk]:
        chunks = [_open_chunk(matrix_path(self.folder, i), self.n_neurons) for i in range(self.manifest["n_chunks"])]
        if sum(c.rows for c in chunks) != self.manifest["n_rows"]:
            raise DataError(
                f"{self.folder}: chunk files hold a different number of rows than the manifest says; collect again"
            )
        return chunks

    @cached_property
    def neuron_set(self) -> NeuronSet:
        try:
            return NeuronSet.from_json(self.manifest["neuron_set"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{self.folder / 'manifest.json'} is corrupt: bad field 'neuron_set' ({exc!r}); "
                "delete the store and collect again"
            ) from exc

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def n_neurons(self) -> int:
        return int(self.identity["n_neurons"])

    @property
    def max_chunk_rows(self) -> int:
        """Rows of the largest chunk (`columns` holds one chunk's slab of the block besides its result)."""
        return max((c.rows for c in self._chunks), default=0)

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Activations of neurons [start, stop) (set order) for every stored row: float32 [n_rows, stop - start].

        One contiguous read per chunk; memory: the result plus one chunk's slab (4 x max_chunk_rows x width bytes).
        """
        if not 0 <= start <= stop <= self.n_neurons:
            raise ValueError(f"neuron range [{start}, {stop}) is outside the store's {self.n_neurons} neurons")
        out = np.empty((self.n_rows, stop - start), dtype=np.float32)
        buffer = np.empty(self.max_chunk_rows * (stop - start), dtype=np.float32)
        row = 0
        for chunk in self._chunks:
            if chunk.rows and stop > start:
                with open(chunk.path, "rb") as handle:
                    slab = _read_slab(handle, chunk, start, stop, buffer)
                for j in range(0, stop - start, _TILE):  # transpose in tiles: ~3x faster than one strided copy
                    out[row : row + chunk.rows, j : j + _TILE] = slab[j : j + _TILE].T
            row += chunk.rows
        return out

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Every neuron's activations for the given stored rows: float32 [len(rows), n_neurons].

        Reads each chunk that holds a requested row once, in slabs of about 64 MB.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise ValueError(f"row indices must lie in 0..{self.n_rows - 1}")
        starts = np.cumsum([0] + [c.rows for c in self._chunks])
        out = np.empty((len(rows), self.n_neurons), dtype=np.float32)
        which = np.searchsorted(starts, rows, side="right") - 1
        for c in np.unique(which):
            chunk, wanted = self._chunks[c], np.flatnonzero(which == c)
            local = rows[wanted] - starts[c]
            step = max(1, _READ_BYTES // (_ITEM * chunk.rows))
            buffer = np.empty(min(step, self.n_neurons) * chunk.rows, dtype=np.float32)
            with open(chunk.path, "rb") as handle:
                for first in range(0, self.n_neurons, step):
                    last = min(first + step, self.n_neurons)
                    out[wanted, first:last] = _read_slab(handle, chunk, first, last, buffer)[:, local].T
        return out


def upgrade_store(folder: str | Path) -> bool:
    """Convert a complete format-1 store (row-major chunks) in place to the current format; False if already current.

    Resumable and safe to interrupt: each chunk's neuron-major matrix is written
    atomically beside the old file, the manifest changes last, and the old
    files are removed only after that. The values are unchanged.
    """
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise DataError(f"{folder} is not an activation store (no manifest.json)")
    manifest = io.read_json(path)
    if manifest.get("format") == STORE_FORMAT:
        return False
    if manifest.get("format") != 1 or manifest.get("status") != "complete":
        raise DataError(
            f"{folder}: only a complete store of format 1 can be upgraded (found format "
            f"{manifest.get('format')!r}, status {manifest.get('status')!r}); collect again"
        )
    n_neurons = int(manifest["identity"]["n_neurons"])
    for i in range(manifest["n_chunks"]):
        old = folder / _CHUNKS / f"{chunk_name(i)}.npy"
        if matrix_path(folder, i).is_file():
            continue
        try:
            array = np.load(old, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{old} is missing or corrupt ({exc}); collect the store again") from exc
        if array.ndim != 2 or array.shape[1] != n_neurons or array.dtype != np.float32:
            raise DataError(f"{old} has shape {array.shape} and dtype {array.dtype}, expected (*, {n_neurons}) float32")
        io.write_npy(matrix_path(folder, i), array.T)
        del array
    io.write_json(path, {**manifest, "format": STORE_FORMAT})
    for i in range(manifest["n_chunks"]):
        (folder / _CHUNKS / f"{chunk_name(i)}.npy").unlink(missing_ok=True)
    return True
