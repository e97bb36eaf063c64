import numpy as np
import pytest
import torch
from tiny_models import CONFIGS, EXPECTED_ATTN_PER_LAYER, EXPECTED_FFN_PER_LAYER, tiny_model
from transformers import LlamaConfig

from relneurons.errors import ModelError, NeuronError
from relneurons.model import build_on_meta, count_neurons, find_sites, neuron_set


def llama2_config(hidden, intermediate, layers, heads):
    # Published sizes of Llama-2-7B / 13B (config.json on the Hub), written out here.
    return LlamaConfig(
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        vocab_size=32000,
    )


@pytest.mark.parametrize(
    "config, ffn, total",
    [
        (llama2_config(4096, 11008, 32, 32), 835_584, 1_359_872),
        (llama2_config(5120, 13824, 40, 40), 1_310_720, 2_129_920),
    ],
    ids=["llama-2-7b", "llama-2-13b"],
)
def test_counts_match_paper_table_1_from_config_alone(config, ffn, total):
    assert count_neurons(config, "ffn") == ffn
    assert count_neurons(config, "all") == total


def test_config_only_folder_counts_without_weights(tmp_path):
    llama2_config(4096, 11008, 32, 32).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    assert count_neurons(str(tmp_path), "ffn") == 835_584


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_sets_per_architecture(arch):
    model = build_on_meta(CONFIGS[arch]())
    assert neuron_set(model, "ffn").size == 2 * EXPECTED_FFN_PER_LAYER[arch]
    assert neuron_set(model, "self_attn").size == 2 * EXPECTED_ATTN_PER_LAYER[arch]
    everything = neuron_set(model, "all")
    assert everything.size == everything.n_all == 2 * (EXPECTED_FFN_PER_LAYER[arch] + EXPECTED_ATTN_PER_LAYER[arch])
    # every module path is a real module of the model
    for site in everything.sites:
        model.get_submodule(site.path)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_sub_sets_partition_ffn(arch):
    model = build_on_meta(CONFIGS[arch]())
    parts = [neuron_set(model, s).global_ids for s in ("gate_proj", "up_proj", "down_proj")]
    joined = np.sort(np.concatenate(parts))
    assert np.array_equal(joined, np.sort(neuron_set(model, "ffn").global_ids))
    assert not set(parts[0]) & set(parts[1])


def test_global_ids_are_stable_across_sets_and_readable():
    model = build_on_meta(CONFIGS["llama"]())
    ffn, everything = neuron_set(model, "ffn"), neuron_set(model, "all")
    gid = ffn.global_ids[50]  # layer 0: q(32) k(16) v(16) o(32) come first, then gate(48): col 50 -> up unit 2
    assert gid == 32 + 16 + 16 + 32 + 50
    for nset in (ffn, everything):
        names = nset.describe([gid])
        assert (names["layer"][0], names["module"][0], names["unit"][0]) == (0, "mlp.up_proj", 2)
    assert everything.columns([gid])[0] == gid
    assert ffn.columns([gid])[0] == 50


def test_id_outside_set_is_refused():
    model = build_on_meta(CONFIGS["llama"]())
    with pytest.raises(NeuronError, match="not in the 'ffn' neuron set"):
        neuron_set(model, "ffn").locate([0])  # global 0 is q_proj unit 0


def test_unknown_set_and_missing_role():
    model = build_on_meta(CONFIGS["gpt2"]())
    with pytest.raises(NeuronError, match="did you mean 'ffn'"):
        neuron_set(model, "fnn")
    with pytest.raises(NeuronError, match="no sites in neuron set 'gate_proj'"):
        neuron_set(model, "gate_proj")


def test_model_without_ffn_modules_is_a_clear_error():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mixer = torch.nn.Linear(4, 4)

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([Block(), Block()])

    with pytest.raises(ModelError, match="no recognisable FFN modules"):
        find_sites(Odd())


def test_gpt2_conv1d_sites_have_roles():
    model = tiny_model("gpt2")
    roles = {(s.module, s.role) for s in find_sites(model) if s.layer == 0}
    assert roles == {("attn.c_attn", "qkv"), ("attn.c_proj", "o"), ("mlp.c_fc", "up"), ("mlp.c_proj", "down")}
