"""Model layer: loading, tokenizer policy, neuron sites and greedy generation."""

from .generation import generate_batch, greedy_generate
from .loading import ALIASES, DEFAULT_MODEL, build_on_meta, config_of, load_model
from .sites import NEURON_SETS, NeuronSet, Site, count_neurons, find_sites, neuron_set
from .tokenization import TokenizerPolicy, make_policy, pad_left, token_ids

__all__ = [
    "ALIASES", "DEFAULT_MODEL", "NEURON_SETS", "NeuronSet", "Site", "TokenizerPolicy",
    "build_on_meta", "config_of", "count_neurons", "find_sites", "generate_batch",
    "greedy_generate", "load_model", "make_policy", "neuron_set", "pad_left", "token_ids",
]
