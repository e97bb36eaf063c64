"""Study conditions on a synthetic store (no model is loaded: conditions need only the store and rankings)."""

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic_store import synthetic_store

from relneurons.errors import ConfigError, DataError
from relneurons.experiments.study import Study, StudyConfig
from relneurons.expertise.identify import IdentifyConfig, identify


@pytest.fixture()
def parts(tmp_path):
    store, kept_means, nset = synthetic_store(tmp_path / "store")
    identify(store.folder, tmp_path / "id", IdentifyConfig(k=10, min_positives=5), progress=False)
    return store, kept_means, nset, tmp_path


def study(parts, **config):
    store, _, _, tmp_path = parts
    return Study(store, tmp_path / "id", tmp_path / "out", StudyConfig(k=10, **config), progress=False)


def test_relation_condition_is_the_ranked_neurons_forced_to_zero(parts, tmp_path):
    s = study(parts)
    cond = s.condition(s.rel("alpha", 0, 10))
    table = pd.read_parquet(tmp_path / "id" / "ap" / "alpha.parquet")
    assert set(cond.neurons) == set(table.loc[table["rank"] <= 10, "global_index"]) and cond.value == 0.0
    assert set(s.condition(s.rel("alpha", 3, 10)).neurons) == set(
        table.loc[(table["rank"] > 3) & (table["rank"] <= 10), "global_index"]
    )
    assert s.condition("original").neurons.size == 0


def test_median_forcing_uses_the_positives_of_the_relation(parts):
    store, kept_means, nset, _ = parts
    s = study(parts, force="median")
    cond = s.condition(s.rel("beta", 0, 10))
    prompts = store.prompts
    rows = prompts.loc[prompts["correct"] & (prompts["relation"] == "beta"), "act_row"].to_numpy()
    expected = np.median(kept_means[rows][:, nset.columns(cond.neurons)], axis=0)
    np.testing.assert_allclose(cond.value, expected)
    assert study(parts, force="2.5").condition(s.rel("beta", 0, 10)).value == 2.5


def test_random_conditions_are_seeded_draws_from_the_set(parts):
    _, _, nset, _ = parts
    s = study(parts)
    a, b, c = (s.condition(s.rnd(seed, 10)).neurons for seed in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(a) <= set(nset.global_ids) and len(set(a)) == 10


def test_bad_force_is_named():
    with pytest.raises(ConfigError, match="force"):
        StudyConfig(force="loud")


def test_explicit_id_conditions_are_named_by_their_neurons(parts):
    _, _, nset, _ = parts
    s = study(parts)
    ids = nset.global_ids[[5, 1, 3]]
    name = s.ids_condition("concept-person", ids)
    assert name.startswith("ids:concept-person:")
    assert s.ids_condition("concept-person", ids[::-1]) == name  # same neurons, same name
    assert s.ids_condition("concept-person", nset.global_ids[[5, 1, 4]]) != name
    assert np.array_equal(s.condition(name).neurons, np.sort(ids)) and s.condition(name).value == 0.0
    with pytest.raises(KeyError, match="ids_condition"):
        s.condition("ids:never:0123456789ab")
    with pytest.raises(ValueError, match="':'"):
        s.ids_condition("a:b", ids)


def test_median_forcing_refuses_neurons_outside_the_store(parts):
    _, _, nset, _ = parts
    s = study(parts, force="median")
    outside = np.setdiff1d(np.arange(nset.global_ids.max() + 2), nset.global_ids)[:1]
    with pytest.raises(ConfigError, match="outside"):
        s.condition(s.ids_condition("other-set", outside))


def test_a_moved_store_and_identification_still_open_together(parts):
    import shutil

    store, _, _, tmp_path = parts
    shutil.copytree(store.folder, tmp_path / "moved" / "store")
    shutil.copytree(tmp_path / "id", tmp_path / "moved" / "id")
    from relneurons.activations.store import ActivationStore

    moved = Study(
        ActivationStore(tmp_path / "moved" / "store"),
        tmp_path / "moved" / "id",
        tmp_path / "o2",
        StudyConfig(k=10),
        progress=False,
    )
    assert moved.relations == study(parts).relations


# ------------------------------------------------- the same model in every stage (tiny real model, CPU)


def _tiny_store(root, lre_dir, dtype):
    """A store of a tiny random model whose checkpoint is saved in `dtype`, collected with no dtype asked as on a GPU
    (where that means the checkpoint's dtype; on the CPU it means float32), 3 of 4 prompts marked validated, identified."""
    from tiny_models import save_tiny_folder
    from transformers import AutoModelForCausalLM

    import relneurons.model.loading as loading
    from relneurons import io
    from relneurons.activations import ActivationStore, CollectConfig, collect

    folder = str(save_tiny_folder(root / "model"))
    AutoModelForCausalLM.from_pretrained(folder).to(getattr(torch, dtype)).save_pretrained(folder)
    real = loading.parse_dtype
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            loading, "parse_dtype", lambda d, device: real(d, "accelerator")
        )  # the GPU default: the checkpoint's dtype
        store = collect(
            CollectConfig(
                model=folder,
                data_dir=str(lre_dir),
                relations=("company_hq", "star_constellation"),
                templates=(0,),
                n_eval=4,
                max_prompts_per_relation=12,
                keep_all=True,
                batch_size=8,
                device="cpu",
            ),
            root / "store",
            progress=False,
        )
    assert store.identity["dtype"] is None
    prompts = pd.read_parquet(store.folder / "prompts.parquet")
    prompts["correct"] = np.arange(len(prompts)) % 4 != 3
    io.write_table(store.folder / "prompts.parquet", prompts)
    identify(store.folder, root / "id", IdentifyConfig(k=8, min_positives=3), progress=False)
    return ActivationStore(store.folder)


def _logits(dtype: str) -> dict:
    """The runtime's logits entry: only a model not in float32 has one (float32 caches keep their old identity)."""
    return {} if dtype == "float32" else {"logits": "float32"}


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def dtype_store(request, tmp_path_factory, lre_dir):
    root = tmp_path_factory.mktemp(request.param)
    return request.param, _tiny_store(root, lre_dir, request.param), root


def test_the_study_runs_the_model_in_the_store_dtype(dtype_store, lre_dir):
    """Collected in bfloat16 (or float32) with no dtype asked, evaluated on the CPU (where no dtype means float32) in the same dtype."""
    dtype, store, root = dtype_store
    assert store.identity["model_dtype"] == f"torch.{dtype}"
    # a half-precision model's validation read float32 logits, and its generations will: both identities say so
    assert store.identity.get("logits") == _logits(dtype).get("logits")
    s = Study(
        store,
        root / "id",
        root / "out",
        StudyConfig(k=8, seeds=1, batch_size=8),
        data_dir=str(lre_dir),
        device="cpu",
        progress=False,
    )
    model, _, _ = s.model
    assert str(model.dtype) == f"torch.{dtype}"
    assert s.runtime == {"dtype": dtype, "device": "cpu", **_logits(dtype)} and s.cache.identity["runtime"] == s.runtime
    judged = s.judge(s.eval_prompts.head(3).assign(condition="original"))
    assert len(judged) == 3


def test_a_store_evaluated_in_another_dtype_is_refused(dtype_store, lre_dir, monkeypatch):
    import relneurons.experiments.study as study_module

    dtype, store, root = dtype_store
    other = {"float32": torch.bfloat16, "bfloat16": torch.float32}[dtype]
    real = study_module.load_model
    monkeypatch.setattr(study_module, "load_model", lambda *a, **k: (lambda m, t: (m.to(other), t))(*real(*a, **k)))
    s = Study(store, root / "id", root / "out-other", StudyConfig(k=8), device="cpu", progress=False)
    with pytest.raises(
        DataError, match=f"collected in {dtype} but the model loaded in {str(other).removeprefix('torch.')}"
    ):
        _ = s.model


def test_generations_of_another_device_type_are_not_reused(dtype_store):
    """One results folder, one runtime: a study on another device type (no model is loaded to see it) refuses the cache."""
    dtype, store, root = dtype_store
    cpu = Study(store, root / "id", root / "shared-out", StudyConfig(k=8), device="cpu", progress=False)
    assert cpu.cache.identity["runtime"] == {"dtype": dtype, "device": "cpu", **_logits(dtype)}
    gpu = Study(store, root / "id", root / "shared-out", StudyConfig(k=8), device="cuda:0", progress=False)
    assert gpu.runtime == {"dtype": dtype, "device": "cuda", **_logits(dtype)}
    with pytest.raises(DataError, match="another model/store"):
        _ = gpu.cache
