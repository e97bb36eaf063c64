"""Study conditions on a synthetic store (no model is loaded: conditions need only the store and rankings)."""

import numpy as np
import pandas as pd
import pytest

from relneurons.errors import ConfigError
from relneurons.experiments.study import Study, StudyConfig
from relneurons.expertise.identify import IdentifyConfig, identify
from synthetic_store import synthetic_store


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
    assert set(s.condition(s.rel("alpha", 3, 10)).neurons) == set(table.loc[(table["rank"] > 3) & (table["rank"] <= 10), "global_index"])
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

    moved = Study(ActivationStore(tmp_path / "moved" / "store"), tmp_path / "moved" / "id", tmp_path / "o2", StudyConfig(k=10), progress=False)
    assert moved.relations == study(parts).relations
