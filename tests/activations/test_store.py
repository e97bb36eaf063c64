"""The store's neuron-major layout: round trips against the dense matrix, edge-case chunks, old formats."""

import json

import numpy as np
import pandas as pd
import pytest

from relneurons import io
from relneurons.activations.store import STORE_FORMAT, ActivationStore, StoreWriter, matrix_path, upgrade_store
from relneurons.errors import DataError


def _store(folder, kept_per_chunk, n_neurons, chunk_texts=4, seed=0, order=None):
    """A store whose chunks keep `kept_per_chunk[c]` of their texts; chunks written in `order`. Returns (store, dense)."""
    rng = np.random.default_rng(seed)
    n_texts = chunk_texts * len(kept_per_chunk)
    table = pd.DataFrame(
        {
            "relation": "r",
            "subject": [f"s{i}" for i in range(n_texts)],
            "object": "o",
            "template": "{}",
            "text": [f"t{i}" for i in range(n_texts)],
            "text_id": np.arange(n_texts),
        }
    )
    writer = StoreWriter(folder, {"n_neurons": n_neurons}, table, chunk_texts)
    dense = []
    chunks = {}
    for c, kept in enumerate(kept_per_chunk):
        ids = list(writer.chunk_range(c))
        mask = np.zeros(len(ids), bool)
        mask[rng.choice(len(ids), kept, replace=False)] = True
        means = rng.normal(size=(kept, n_neurons)).astype(np.float32)
        chunks[c] = (pd.DataFrame({"text_id": ids, "generation": "o", "kept": mask}), means)
        dense.append(means)
    for c in order if order is not None else range(len(kept_per_chunk)):  # chunks may come from any process, any order
        writer.write_chunk(c, *chunks[c])
        assert writer.done(c)

    def mark(prompts):
        prompts["correct"] = prompts["act_row"] >= 0
        return prompts

    return writer.finish({"neuron_set": None}, mark), np.concatenate(dense)


@pytest.mark.parametrize(
    "kept, n_neurons",
    [
        ((3, 0, 1, 4, 2), 37),  # a chunk with no kept row, one with a single row, a full one
        ((0, 0, 2), 5),  # leading empty chunks
        ((1,), 1),  # one row, one neuron
        ((4, 4, 4), 1),  # one neuron
    ],
)
def test_columns_and_rows_equal_the_dense_matrix(tmp_path, kept, n_neurons):
    store, dense = _store(tmp_path / "s", kept, n_neurons, order=list(reversed(range(len(kept)))))
    assert store.n_rows == dense.shape[0] == sum(kept) and store.n_neurons == n_neurons
    assert store.max_chunk_rows == max(kept)
    ranges = [(0, n_neurons), (0, 1), (n_neurons - 1, n_neurons), (n_neurons // 3, n_neurons // 2 + 1), (2, 2)]
    for start, stop in ranges:
        if 0 <= start <= stop <= n_neurons:
            got = store.columns(start, stop)
            assert got.dtype == np.float32 and got.shape == (sum(kept), stop - start)
            np.testing.assert_array_equal(got, dense[:, start:stop])
    rng = np.random.default_rng(1)
    for rows in (np.arange(store.n_rows), rng.integers(0, store.n_rows, 7), np.zeros(0, np.int64), [store.n_rows - 1]):
        np.testing.assert_array_equal(
            store.rows(rows), dense[np.asarray(rows, np.int64)]
        )  # unsorted, repeated rows too


def test_rows_and_columns_in_slabs_and_tiles(tmp_path, monkeypatch):
    """A read buffer smaller than a chunk (several slabs per chunk), and small transpose tiles, give the same values."""
    store, dense = _store(tmp_path / "s", (4, 3, 4), 50)
    monkeypatch.setattr("relneurons.activations.store._READ_BYTES", 4 * 4 * 7)  # 7 neurons of a 4-row chunk per slab
    rows = np.array([10, 0, 5, 3, 5])
    np.testing.assert_array_equal(store.rows(rows), dense[rows])
    monkeypatch.setattr("relneurons.activations.store._TILE", 3)  # columns() transposes in tiles of 3 neurons
    np.testing.assert_array_equal(store.columns(4, 42), dense[:, 4:42])


def test_chunk_files_are_neuron_major(tmp_path):
    """On disk a chunk is float32 [n_neurons, kept rows] in C order: neuron j of the chunk is one contiguous run."""
    store, dense = _store(tmp_path / "s", (3, 2), 6)
    stored = np.load(matrix_path(store.folder, 1), allow_pickle=False)
    assert stored.shape == (6, 2) and stored.dtype == np.float32
    np.testing.assert_array_equal(stored, dense[3:5].T)
    raw = matrix_path(store.folder, 1).read_bytes()
    assert raw.endswith(np.ascontiguousarray(dense[3:5].T).tobytes())
    assert b"'fortran_order': False" in raw[:128]


def test_bad_ranges_and_rows_are_refused(tmp_path):
    store, _ = _store(tmp_path / "s", (2, 2), 4)
    with pytest.raises(ValueError, match="outside"):
        store.columns(3, 5)
    with pytest.raises(ValueError, match="outside"):
        store.columns(2, 1)
    with pytest.raises(ValueError, match="row indices"):
        store.rows([4])


def _to_format_1(folder):
    """Rewrite a store as format 1 wrote it: row-major chunks/NNNNNN.npy."""
    manifest = io.read_json(folder / "manifest.json")
    for c in range(manifest["n_chunks"]):
        path = matrix_path(folder, c)
        np.save(folder / "chunks" / f"{c:06d}.npy", np.load(path).T.copy(), allow_pickle=False)
        path.unlink()
    io.write_json(folder / "manifest.json", {**manifest, "format": 1})


def test_format_1_store_is_refused_then_upgraded_in_place(tmp_path, monkeypatch):
    store, dense = _store(tmp_path / "s", (3, 0, 4), 9)
    _to_format_1(store.folder)
    with pytest.raises(DataError, match=r"store format 1 .*relneurons upgrade-store .*or collect again"):
        ActivationStore(store.folder)

    real = io.write_npy
    calls = {"n": 0}

    def dying(target, array):  # interrupted after the first converted chunk
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real(target, array)

    monkeypatch.setattr(io, "write_npy", dying)
    with pytest.raises(KeyboardInterrupt):
        upgrade_store(store.folder)
    monkeypatch.setattr(io, "write_npy", real)
    with pytest.raises(DataError, match="store format 1"):  # the manifest changes last
        ActivationStore(store.folder)
    assert upgrade_store(store.folder) is True
    assert upgrade_store(store.folder) is False  # idempotent
    upgraded = ActivationStore(store.folder)
    assert upgraded.manifest["format"] == STORE_FORMAT
    np.testing.assert_array_equal(upgraded.columns(0, 9), dense)
    assert not list(store.folder.glob("chunks/??????.npy")) and not list(store.folder.rglob("*.tmp"))


def test_unknown_format_and_unfinished_old_store(tmp_path):
    store, _ = _store(tmp_path / "s", (2,), 3)
    manifest = io.read_json(store.folder / "manifest.json")
    io.write_json(store.folder / "manifest.json", {**manifest, "format": 99})
    with pytest.raises(DataError, match="store format 99 is not 2; collect again"):
        ActivationStore(store.folder)
    with pytest.raises(DataError, match="only a complete store of format 1"):
        upgrade_store(store.folder)
    io.write_json(store.folder / "manifest.json", {**manifest, "format": 1, "status": "collecting"})
    table = pd.DataFrame(
        {"relation": "r", "subject": ["a"], "object": "o", "template": "{}", "text": ["t"], "text_id": [0]}
    )
    with pytest.raises(DataError, match="format 1, not 2; choose another output folder or delete it"):
        StoreWriter(store.folder, {"n_neurons": 3}, table, 4)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-4]), "truncated"),
        (lambda p: p.write_bytes(p.read_bytes() + b"\0" * 4), "truncated or padded"),
        (lambda p: np.save(p, np.zeros((3, 2), np.float64)), "float64"),
        (lambda p: np.save(p, np.zeros((2, 3), np.float32)), r"shape \(2, 3\)"),
        (lambda p: np.save(p, np.asfortranarray(np.zeros((3, 2), np.float32))), "Fortran-order"),
        (lambda p: p.write_bytes(b"not an npy file"), "missing or corrupt"),
        (lambda p: p.unlink(), "missing or corrupt"),
    ],
)
def test_damaged_chunk_is_named(tmp_path, damage, message):
    store, _ = _store(tmp_path / "s", (2, 2), 3)
    damage(matrix_path(store.folder, 1))
    with pytest.raises(DataError, match=message) as info:
        ActivationStore(store.folder).columns(0, 3)
    assert "000001.neurons.npy" in str(info.value)


def test_manifest_records_the_format(tmp_path):
    store, _ = _store(tmp_path / "s", (1,), 2)
    assert json.loads((store.folder / "manifest.json").read_text())["format"] == STORE_FORMAT == 2


def test_upgrade_store_command(tmp_path):
    from click.testing import CliRunner

    from relneurons.cli import cli

    store, dense = _store(tmp_path / "s", (2, 3), 4)
    _to_format_1(store.folder)
    result = CliRunner().invoke(cli, ["upgrade-store", str(store.folder)])
    assert result.exit_code == 0 and "converted to store format 2" in result.output
    assert "already store format 2" in CliRunner().invoke(cli, ["upgrade-store", str(store.folder)]).output
    np.testing.assert_array_equal(ActivationStore(store.folder).rows(np.arange(5)), dense)
