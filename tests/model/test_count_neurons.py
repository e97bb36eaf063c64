"""`relneurons.count_neurons(model_or_config, neuron_set="ffn")`: the documented keyword, and the old one with a warning.

Expected counts are written out from Llama-2-7B's published sizes (config alone, no weights).
"""

from __future__ import annotations

import warnings

import pytest
from transformers import LlamaConfig

import relneurons
from relneurons.errors import InputError, NeuronError

LAYERS, HIDDEN, INTERMEDIATE = 32, 4096, 11008
FFN = LAYERS * (INTERMEDIATE + INTERMEDIATE + HIDDEN)  # gate_proj, up_proj, down_proj outputs: 835,584 (Table 1)
ATTN = LAYERS * 4 * HIDDEN  # q, k, v, o projections (no grouped-query attention in Llama-2-7B)


@pytest.fixture(scope="module")
def config() -> LlamaConfig:
    return LlamaConfig(
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    )


def test_documented_keyword(config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the documented call warns about nothing
        assert relneurons.count_neurons(config) == FFN == 835_584
        assert relneurons.count_neurons(config, neuron_set="ffn") == FFN
        assert relneurons.count_neurons(config, neuron_set="all") == FFN + ATTN
        assert relneurons.count_neurons(config, "self_attn") == ATTN


def test_old_keyword_still_works_with_a_deprecation_warning(config):
    with pytest.warns(DeprecationWarning, match="neuron_set="):
        assert relneurons.count_neurons(config, neuron_set_name="all") == FFN + ATTN
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match="give neuron_set only"):
        relneurons.count_neurons(config, neuron_set="self_attn", neuron_set_name="all")


def test_unknown_set_is_named(config):
    with pytest.raises(NeuronError, match="unknown neuron set 'fnn'.*did you mean 'ffn'"):
        relneurons.count_neurons(config, neuron_set="fnn")
