"""Collection on a tiny random model (fixture only) with the real LRE data."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import CHAT_TEMPLATE, CHAT_TOKENS, save_tiny_folder

from relneurons import io
from relneurons.activations import ActivationStore, CollectConfig, collect
from relneurons.errors import DataError
from relneurons.model import load_model, neuron_set
from relneurons.model.tokenization import make_policy, token_ids

RELATIONS = ("company_hq", "star_constellation", "landmark_country")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return str(save_tiny_folder(tmp_path_factory.mktemp("tiny") / "model"))


def _config(folder, lre_dir, **over):
    base = dict(
        model=folder,
        data_dir=str(lre_dir),
        relations=RELATIONS,
        templates=(0,),
        max_prompts_per_relation=10,
        keep_all=True,
        chunk_prompts=8,
        batch_size=3,
        device="cpu",
    )
    base.update(over)
    return CollectConfig(**base)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.npy"))}


def test_interrupted_collection_resumes_to_identical_store(tiny_folder, lre_dir, tmp_path, monkeypatch):
    whole = collect(_config(tiny_folder, lre_dir), tmp_path / "whole", progress=False)

    real_write_table = io.write_table
    calls = {"n": 0}

    def dying_write_table(target, frame):
        if "chunks" in str(target):
            calls["n"] += 1
            if calls["n"] == 3:  # chunk 2: its matrix is on disk, its table is not -> must be redone
                raise KeyboardInterrupt
        real_write_table(target, frame)

    monkeypatch.setattr(io, "write_table", dying_write_table)
    with pytest.raises(KeyboardInterrupt):
        collect(_config(tiny_folder, lre_dir), tmp_path / "resumed", progress=False)
    monkeypatch.setattr(io, "write_table", real_write_table)
    with pytest.raises(DataError, match="did not finish"):
        ActivationStore(tmp_path / "resumed")
    resumed = collect(_config(tiny_folder, lre_dir), tmp_path / "resumed", progress=False)

    assert _files(whole.folder) == _files(resumed.folder)
    pd.testing.assert_frame_equal(whole.prompts, resumed.prompts)
    assert not list((tmp_path / "resumed").rglob("*.tmp"))


def test_store_rows_are_the_prompts_token_means(tiny_folder, lre_dir, tmp_path):
    store = collect(_config(tiny_folder, lre_dir), tmp_path / "s", progress=False)
    prompts = store.prompts
    assert len(prompts) == 30 and set(prompts["relation"]) == set(RELATIONS)
    assert {"relation", "subject", "object", "template", "text", "generation", "correct", "act_row"} <= set(
        prompts.columns
    )
    model, tokenizer = load_model(tiny_folder, device="cpu")
    nset = neuron_set(model, "ffn")
    policy = make_policy(tokenizer, model.config.model_type)
    matrix = store.columns(0, store.n_neurons)
    for row in prompts.sample(4, random_state=0).itertuples():
        outs = {}
        handles = [
            model.get_submodule(s.path).register_forward_hook(
                lambda m, a, o, p=s.path, outs=outs: outs.__setitem__(p, o[0].mean(0))
            )
            for s in nset.sites
        ]
        with torch.no_grad():
            model(input_ids=torch.tensor(token_ids(tokenizer, policy, [row.text])))
        for h in handles:
            h.remove()
        expected = torch.cat([outs[s.path] for s in nset.sites]).numpy()
        np.testing.assert_allclose(matrix[row.act_row], expected, rtol=1e-4, atol=1e-5)


def test_resuming_with_other_settings_is_refused(tiny_folder, lre_dir, tmp_path):
    collect(_config(tiny_folder, lre_dir), tmp_path / "s", progress=False)
    with pytest.raises(DataError, match="seed"):
        collect(_config(tiny_folder, lre_dir, seed=1), tmp_path / "s", progress=False)


def test_a_chat_store_records_its_template_and_is_not_a_plain_one(lre_dir, tmp_path):
    folder = str(save_tiny_folder(tmp_path / "chat-model", chat_template=CHAT_TEMPLATE, special=CHAT_TOKENS))
    store = collect(_config(folder, lre_dir, chat=True, suffix=""), tmp_path / "s", progress=False)
    identity = store.identity
    assert identity["chat"] is True and identity["chat_positions"] == "content" and identity["add_bos"] is False
    assert identity["chat_template"] == {
        "before": "<s><|system|>\nAnswer in one word.<|end|>\n<|user|>\n",
        "after": "<|end|>\n<|assistant|>\n",
    }
    with pytest.raises(DataError, match=r"different: chat, chat_template\)"):
        collect(_config(folder, lre_dir, suffix=""), tmp_path / "s", progress=False)
    with pytest.raises(DataError, match="different: chat_positions"):
        collect(_config(folder, lre_dir, chat=True, suffix="", chat_positions="all"), tmp_path / "s", progress=False)


def test_only_validated_texts_get_rows_by_default(tiny_folder, lre_dir, tmp_path):
    store = collect(_config(tiny_folder, lre_dir, keep_all=False), tmp_path / "s", progress=False)
    # a random tiny model answers nothing correctly
    assert not store.prompts["correct"].any()
    assert store.n_rows == 0 and (store.prompts["act_row"] == -1).all()
