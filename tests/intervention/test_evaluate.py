import numpy as np
import pytest
import torch
from tiny_models import save_tiny_folder

from relneurons.errors import DataError
from relneurons.intervention import Condition, deactivate
from relneurons.intervention.evaluate import GenerationCache, generate_pairs, random_neurons
from relneurons.model import greedy_generate, load_model, make_policy, neuron_set

TEXTS = [
    "The headquarters of Acme are in?",
    "Paris? Answer:",
    "city of",
    "The city of Paris is in the country of? Answer:",
    "Acme",
    "of the headquarters",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_tiny_folder(tmp_path_factory.mktemp("tiny") / "m")
    model, tokenizer = load_model(str(folder), device="cpu")
    return model, tokenizer, make_policy(tokenizer, model.config.model_type)


def test_mixed_batch_equals_each_condition_alone(tiny):
    model, tokenizer, policy = tiny
    ffn = neuron_set(model, "ffn").global_ids
    rng = np.random.default_rng(0)
    catalogue = {
        "original": Condition("original", np.zeros(0, np.int64)),
        "a": Condition("a", np.sort(rng.choice(ffn, 60, replace=False))),
        "b": Condition("b", np.sort(rng.choice(ffn, 60, replace=False)), value=2.5),
    }
    texts = [t for t in TEXTS for _ in catalogue]
    conds = [c for _ in TEXTS for c in catalogue]
    mixed = generate_pairs(
        model, tokenizer, policy, texts, conds, catalogue, max_new_tokens=3, batch_size=len(texts), progress=False
    )
    for name, cond in catalogue.items():
        with deactivate(model, cond.neurons, value=cond.value):
            alone = [greedy_generate(model, tokenizer, [t], 3)[0] for t in TEXTS]
        assert [m for m, c in zip(mixed, conds) if c == name] == alone, name
    # the conditions really differ (otherwise the test proves nothing)
    assert len({tuple(m for m, c in zip(mixed, conds) if c == name) for name in catalogue}) > 1


def test_cache_reuses_and_checks_identity(tiny, tmp_path):
    model, tokenizer, policy = tiny
    catalogue = {"original": Condition("original", np.zeros(0, np.int64))}
    cache = GenerationCache(tmp_path / "gen.parquet", {"model": "tiny"})
    first = generate_pairs(
        model, tokenizer, policy, TEXTS, ["original"] * len(TEXTS), catalogue, cache=cache, progress=False
    )
    reloaded = GenerationCache(tmp_path / "gen.parquet", {"model": "tiny"})
    assert len(reloaded.table) == len(TEXTS)
    # served from the cache: a catalogue without the condition would fail if anything were recomputed
    again = generate_pairs(
        model, tokenizer, policy, TEXTS, ["original"] * len(TEXTS), {}, cache=reloaded, progress=False
    )
    assert again == first
    with pytest.raises(DataError, match="another model"):
        GenerationCache(tmp_path / "gen.parquet", {"model": "other"})


def test_an_interrupted_generation_keeps_what_it_computed(tiny, tmp_path, monkeypatch):
    """The cache is saved every 60 s as well as every 32 batches (a 1.5B model on 2 cores: ~2 minutes a batch);
    with the interval at 0 every finished batch is on disk when a later batch is interrupted."""
    import relneurons.intervention.evaluate as evaluate

    model, tokenizer, policy = tiny
    catalogue = {"original": Condition("original", np.zeros(0, np.int64))}
    real, calls = evaluate.generate_batch, []

    def interrupted_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate, "generate_batch", interrupted_third_batch)
    monkeypatch.setattr(evaluate, "_SAVE_SECONDS", 0.0)
    cache = GenerationCache(tmp_path / "gen.parquet", {"model": "tiny"})
    with pytest.raises(KeyboardInterrupt):
        generate_pairs(
            model,
            tokenizer,
            policy,
            TEXTS,
            ["original"] * len(TEXTS),
            catalogue,
            batch_size=2,
            cache=cache,
            progress=False,
        )
    assert len(GenerationCache(tmp_path / "gen.parquet", {"model": "tiny"}).table) == 4  # two batches of two


def test_random_neurons_are_seeded_and_from_the_set():
    ids = np.arange(1000, 3000, 3)
    a, b, c = random_neurons(ids, 50, 0), random_neurons(ids, 50, 0), random_neurons(ids, 50, 1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(a) <= set(ids) and len(set(a)) == 50


def test_every_batch_plan_gives_the_same_generations(tiny):
    """Batches of one condition (in-place setter), of none (no edit) and mixed ones (torch.where on the set
    columns) write the same values: generations do not depend on the batch size that groups them."""
    model, tokenizer, policy = tiny
    ffn = neuron_set(model, "ffn").global_ids
    rng = np.random.default_rng(1)
    shared = np.sort(rng.choice(ffn, 40, replace=False))  # the two conditions overlap, with different values
    catalogue = {
        "original": Condition("original", np.zeros(0, np.int64)),
        "a": Condition("a", shared),
        "b": Condition("b", np.union1d(shared[:20], rng.choice(ffn, 20, replace=False)), value=-1.5),
    }
    texts = [t for t in TEXTS for _ in catalogue]
    conds = [c for _ in TEXTS for c in catalogue]
    runs = [
        generate_pairs(
            model, tokenizer, policy, texts, conds, catalogue, max_new_tokens=3, batch_size=size, progress=False
        )
        for size in (1, 4, 7, len(texts))
    ]
    assert all(run == runs[0] for run in runs[1:])
    assert len({tuple(g for g, c in zip(runs[0], conds) if c == name) for name in catalogue}) == 3


def test_site_plans():
    from relneurons.intervention.hooks import _SiteTable

    table = _SiteTable(
        3,
        [(0, np.array([2, 5]), np.array([0.0, 0.0])), (1, np.array([5, 9]), np.array([1.0, 2.0]))],
        torch.device("cpu"),
    )
    assert table.plan(np.array([0, 0])) is None  # original rows only
    assert table.plan(np.array([3, 3])) is None  # condition 2 does not touch this site
    kind, units, values = table.plan(np.array([2, 2]))
    assert kind == "set" and units.tolist() == [5, 9] and values.tolist() == [1.0, 2.0]
    kind, units, mask, values = table.plan(np.array([1, 0, 2]))
    assert kind == "where" and units.tolist() == [2, 5, 9]
    assert mask.tolist() == [[True, True, False], [False, False, False], [False, True, True]]
    assert values[2].tolist() == [0.0, 1.0, 2.0]


def test_batches_hold_one_condition_each(tiny, monkeypatch):
    """generate_pairs cuts batches at condition boundaries (faster: see intervention/evaluate.py), so no
    batch mixes conditions, even when a condition's rows do not fill whole batches."""
    from relneurons.intervention import hooks

    model, tokenizer, policy = tiny
    ffn = neuron_set(model, "ffn").global_ids
    catalogue = {"original": Condition("original", np.zeros(0, np.int64)), "a": Condition("a", ffn[:40])}
    texts = TEXTS * 2
    conds = ["original"] * len(TEXTS) + ["a"] * len(TEXTS)
    seen: list[set[int]] = []
    select = hooks.ConditionBatch.select
    monkeypatch.setattr(
        hooks.ConditionBatch,
        "select",
        lambda self, rows, bos=None: (seen.append(set(rows)), select(self, rows, bos))[1],
    )
    generate_pairs(model, tokenizer, policy, texts, conds, catalogue, batch_size=4, progress=False)
    assert [len(s) for s in seen] == [1, 1, 1, 1]  # 6 rows per condition in batches of 4: 4 + 2, twice
    assert {next(iter(s)) for s in seen} == {0, 1}


def test_runs_of_equal_values():
    from relneurons.intervention.evaluate import _runs

    assert _runs([]) == []
    assert _runs([3]) == [(0, 1)]
    assert _runs([0, 0, 1, 1, 1, 0]) == [(0, 2), (2, 5), (5, 6)]


def test_the_bos_position_of_every_padded_row_reaches_the_hooks(tiny, monkeypatch):
    """generate_pairs tells the hooks where each row's BOS sits in the left-padded prompt (-1 without one), so a
    condition with keep_bos leaves exactly that position alone."""
    from relneurons.intervention import hooks
    from relneurons.model.tokenization import token_ids

    model, tokenizer, _ = tiny
    policy = make_policy(tokenizer, model.config.model_type, bos="always")  # the tiny tokenizer adds none itself
    ffn = neuron_set(model, "ffn").global_ids
    catalogue = {"up": Condition("up", ffn[:40], 3.0, keep_bos=True)}
    seen = []
    select = hooks.ConditionBatch.select
    monkeypatch.setattr(
        hooks.ConditionBatch,
        "select",
        lambda self, rows, bos=None: (seen.append(list(bos)), select(self, rows, bos))[1],
    )
    generate_pairs(
        model, tokenizer, policy, TEXTS, ["up"] * len(TEXTS), catalogue, batch_size=len(TEXTS), progress=False
    )
    encoded = token_ids(tokenizer, policy, TEXTS)
    width = max(map(len, encoded))
    # rows are sorted by length inside the batch; compare as multisets of (padding, has BOS)
    expected = sorted(width - len(e) if policy.add_bos and e[0] == policy.bos_token_id else -1 for e in encoded)
    assert sorted(seen[0]) == expected
    assert all(b >= 0 for b in seen[0]) and len(set(seen[0])) > 1  # every row has one, at different paddings
    without = make_policy(tokenizer, model.config.model_type, bos="never")
    seen.clear()
    generate_pairs(
        model, tokenizer, without, TEXTS, ["up"] * len(TEXTS), catalogue, batch_size=len(TEXTS), progress=False
    )
    assert seen[0] == [-1] * len(TEXTS)
