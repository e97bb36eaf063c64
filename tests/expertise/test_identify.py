"""identify() on synthetic stores (planted signal; activations made up for the test)."""

import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from synthetic_store import synthetic_store

from relneurons.errors import ConfigError, DataError
from relneurons.expertise.identify import IdentifyConfig, example_sets, identify, resolve_k


def test_ap_tables_match_sklearn_and_topk_follows_ap(tmp_path):
    store, kept_means, nset = synthetic_store(tmp_path / "store")
    summary = identify(store.folder, tmp_path / "id", IdentifyConfig(k=20, min_positives=5), progress=False)
    assert summary["skipped"] == {"gamma": "2 validated prompts, fewer than min_positives = 5"}
    examples = pd.read_parquet(tmp_path / "id" / "examples.parquet")
    topk = pd.read_parquet(tmp_path / "id" / "topk.parquet")
    for relation, planted in (("alpha", 5), ("beta", 7)):
        ex = examples[examples["relation"] == relation]
        table = pd.read_parquet(tmp_path / "id" / "ap" / f"{relation}.parquet")
        scores = kept_means[ex["act_row"].to_numpy()]
        for col in (0, planted, 9, nset.size - 1):
            assert table["ap"][col] == pytest.approx(average_precision_score(ex["positive"], scores[:, col]), abs=1e-12)
        top = topk[topk["relation"] == relation]
        assert len(top) == 20 and top["rank"].tolist() == list(range(1, 21))
        assert top["global_index"].iloc[0] == nset.global_ids[planted]
        assert top["ap"].is_monotonic_decreasing
        assert top["ap"].min() >= table.loc[~table["global_index"].isin(top["global_index"]), "ap"].max()


def test_example_sets_are_seeded_balanced_and_disjoint(tmp_path):
    store, _, _ = synthetic_store(tmp_path / "store")
    prompts = store.prompts
    a, _ = example_sets(prompts, ratio=1, min_positives=5, seed=0)
    b, _ = example_sets(prompts, ratio=1, min_positives=5, seed=0)
    c, _ = example_sets(prompts, ratio=1, min_positives=5, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    valid = prompts[prompts["correct"]]
    for relation, group in a.groupby("relation"):
        pos = set(group.loc[group["positive"], "act_row"])
        neg = set(group.loc[~group["positive"], "act_row"])
        assert pos == set(valid.loc[valid["relation"] == relation, "act_row"])
        assert len(neg) == len(pos) and not pos & neg
        assert neg <= set(valid.loc[valid["relation"] != relation, "act_row"])


def test_examples_do_not_depend_on_other_relations_order(tmp_path):
    store, _, _ = synthetic_store(tmp_path / "store")
    prompts = store.prompts
    shuffled = prompts.iloc[::-1].reset_index(drop=True)
    a, _ = example_sets(prompts, 4, 5, 0)
    b, _ = example_sets(shuffled, 4, 5, 0)
    for relation in ("alpha", "beta"):
        pd.testing.assert_frame_equal(
            a[a.relation == relation].reset_index(drop=True), b[b.relation == relation].reset_index(drop=True)
        )


def test_changing_k_reuses_ap_blocks(tmp_path):
    store, _, _ = synthetic_store(tmp_path / "store")
    identify(store.folder, tmp_path / "id", IdentifyConfig(k=10, min_positives=5), progress=False)
    blocks = {p: p.stat().st_mtime_ns for p in (tmp_path / "id" / "blocks").glob("*.npy")}
    summary = identify(store.folder, tmp_path / "id", IdentifyConfig(k=0.01, min_positives=5), progress=False)
    assert {p: p.stat().st_mtime_ns for p in blocks} == blocks
    assert summary["k"] == resolve_k(0.01, summary["n_neurons"]) == round(0.01 * summary["n_neurons"])
    assert len(pd.read_parquet(tmp_path / "id" / "topk.parquet")) == 2 * summary["k"]
    with pytest.raises(DataError, match="other examples"):
        identify(store.folder, tmp_path / "id", IdentifyConfig(k=10, min_positives=5, negative_ratio=1), progress=False)


@pytest.mark.parametrize("k, message", [(0, "positive"), (2.5, "whole number"), (10**9, "more than")])
def test_bad_k(k, message):
    with pytest.raises(ConfigError, match=message):
        resolve_k(IdentifyConfig(k=k).k, 1000)


def test_same_seed_same_topk_in_fresh_folders(tmp_path):
    store, _, _ = synthetic_store(tmp_path / "store")
    for name in ("a", "b"):
        identify(store.folder, tmp_path / name, IdentifyConfig(k=15, min_positives=5, seed=7), progress=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "topk.parquet"), pd.read_parquet(tmp_path / "b" / "topk.parquet")
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "examples.parquet"), pd.read_parquet(tmp_path / "b" / "examples.parquet")
    )
    identify(
        store.folder, tmp_path / "c", IdentifyConfig(k=15, min_positives=5, seed=8, negative_ratio=1), progress=False
    )
    assert not pd.read_parquet(tmp_path / "a" / "examples.parquet").equals(
        pd.read_parquet(tmp_path / "c" / "examples.parquet")
    )


def _tables(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.glob("ap/*.parquet")) + [folder / "topk.parquet"]
    }


def test_memory_budget_gives_identical_tables(tmp_path):
    """A budget that fits only 7 neurons per block: many blocks, byte-identical AP and top-k tables."""
    from relneurons.expertise.average_precision import working_set_bytes

    store, _, nset = synthetic_store(tmp_path / "store")
    identify(store.folder, tmp_path / "free", IdentifyConfig(k=20, min_positives=5), progress=False)
    examples = pd.read_parquet(tmp_path / "free" / "examples.parquet")
    subsets = [(g["act_row"].to_numpy(), g["positive"].to_numpy()) for _, g in examples.groupby("relation", sort=False)]
    per_neuron = 4 * store.n_rows + 4 * store.max_chunk_rows + 16 * len(subsets)
    budget = (working_set_bytes(subsets, store.n_rows) + 7.5 * per_neuron) / 2**30
    summary = identify(
        store.folder, tmp_path / "capped", IdentifyConfig(k=20, min_positives=5, memory_gb=budget), progress=False
    )
    assert summary["block"] == 7 and summary["block_bytes"] <= budget * 2**30
    assert len(list((tmp_path / "capped" / "blocks").glob("*.npy"))) == -(-nset.size // 7)
    assert _tables(tmp_path / "capped") == _tables(tmp_path / "free")

    # the same folder with another budget: blocks of the new width are computed, the old ones removed
    summary = identify(
        store.folder, tmp_path / "capped", IdentifyConfig(k=20, min_positives=5, block=50), progress=False
    )
    assert summary["block"] == 50
    assert len(list((tmp_path / "capped" / "blocks").glob("*.npy"))) == -(-nset.size // 50)
    assert _tables(tmp_path / "capped") == _tables(tmp_path / "free")


@pytest.mark.parametrize("memory_gb", [0, -1.0, True])
def test_bad_memory_budget(memory_gb):
    with pytest.raises(ConfigError, match="memory_gb"):
        IdentifyConfig(memory_gb=memory_gb)


def test_budget_below_one_neuron_is_refused_before_writing(tmp_path):
    store, _, _ = synthetic_store(tmp_path / "store")
    with pytest.raises(ConfigError, match=r"memory_gb = 1e-06 is too small .* raise memory_gb to at least"):
        identify(store.folder, tmp_path / "id", IdentifyConfig(k=20, min_positives=5, memory_gb=1e-6), progress=False)
    assert not list((tmp_path / "id").glob("**/*.npy"))


def test_identify_command_memory_budget(tmp_path):
    from click.testing import CliRunner

    from relneurons.cli import cli

    store, _, _ = synthetic_store(tmp_path / "store")
    identify(store.folder, tmp_path / "free", IdentifyConfig(k=20, min_positives=5), progress=False)
    args = ["identify", str(store.folder), "--out", str(tmp_path / "cli"), "--k", "20", "--min-positives", "5", "-q"]
    result = CliRunner().invoke(cli, args + ["--memory-gb", "0.03"])
    assert result.exit_code == 0, result.output
    assert _tables(tmp_path / "cli") == _tables(tmp_path / "free")
    result = CliRunner().invoke(cli, args + ["--memory-gb", "0.000001"])
    assert isinstance(result.exception, ConfigError) and "memory_gb = 1e-06 is too small" in str(result.exception)
