"""Model layer: loading, tokenizer policy, neuron sites and greedy generation.

Names are imported on first use (relneurons._lazy), so that the light `model.names` (default model, neuron sets,
BOS policies, read by the command line) imports without torch.
"""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "generation": ("generate_batch", "greedy_generate"),
        "loading": ("ALIASES", "build_on_meta", "config_of", "load_model"),
        "names": ("DEFAULT_MODEL", "NEURON_SETS"),
        "sites": ("NeuronSet", "Site", "count_neurons", "find_sites", "neuron_set"),
        "tokenization": ("TokenizerPolicy", "make_policy", "pad_left", "token_ids"),
    },
)
