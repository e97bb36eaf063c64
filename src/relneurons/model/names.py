"""The model options' names and defaults, importable without torch (the command line and the configuration check
them before a model is loaded): the default model, the neuron sets, the BOS policies and the chat positions."""

from __future__ import annotations

from ..errors import ConfigError

DEFAULT_MODEL = "gemma3-270m"

#: Neuron sets (paper §2.2, App. G) as the roles of the linear maps they contain (model/sites.py finds the roles).
NEURON_SETS: dict[str, frozenset[str]] = {
    "ffn": frozenset({"gate", "up", "down"}),
    "self_attn": frozenset({"q", "k", "v", "o", "qkv"}),
    "gate_proj": frozenset({"gate"}),
    "up_proj": frozenset({"up"}),
    "down_proj": frozenset({"down"}),
    "all": frozenset({"gate", "up", "down", "q", "k", "v", "o", "qkv"}),
}

#: BOS token before every prompt: the tokenizer's default (always for Gemma), always, never.
BOS_CHOICES = ("auto", "always", "never")

#: With data.chat: which prompt positions a neuron's token mean averages: the user's content only (the template's
#: system prompt, role markers and special tokens left out), or every token of the rendered chat.
CHAT_POSITIONS = ("content", "all")


def check_chat_bos(bos: str, chat: bool) -> None:
    """A chat template writes its own BOS, so with chat only bos = "auto" is meaningful (checked where settings
    are read, CollectConfig, and where a policy is made)."""
    if chat and bos != "auto":
        raise ConfigError(
            f'data.bos = "{bos}" with data.chat = true: the chat template writes the BOS; set data.bos = "auto"'
        )
