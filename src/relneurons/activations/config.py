"""The settings of `relneurons collect`, declared without torch: the command line and the run configuration read
their defaults here (the one place they are written)."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.names import DEFAULT_SUFFIX, DEFAULT_TEMPLATES
from ..errors import ConfigError
from ..model.names import CHAT_POSITIONS, DEFAULT_MODEL, check_chat_bos


@dataclass(frozen=True)
class CollectConfig:
    """Everything that decides a store's content (see `identity`)."""

    model: str = DEFAULT_MODEL
    dtype: str | None = None
    device: str | None = None
    max_memory: str | dict | None = None  # device "auto": per-device caps, e.g. "0=20GiB,cpu=60GiB"
    offload_folder: str | None = None  # device "auto": where layers that fit nowhere go
    data_dir: str | None = None
    relations: tuple[str, ...] | None = None  # None: the paper's 12
    templates: str | tuple = (
        DEFAULT_TEMPLATES  # "icl", the LRE prompt_templates: the paper's P_det/P_eva (App. K, above the dashed line)
    )
    suffix: str = DEFAULT_SUFFIX
    rule: str = "robust"
    n_eval: int = 50
    seed: int = 0
    max_prompts_per_relation: int | None = None  # seeded subsample of P_det prompts (None: all)
    neuron_set: str = "ffn"
    batch_size: int = 16
    max_new_tokens: int = 2
    bos: str = "auto"
    mean_bos: bool = True  # the BOS position counts in the token means (as the paper's code); False: prompt tokens only
    chat: bool = False  # prompts are user turns of the tokenizer's chat template (model/tokenization.py)
    chat_positions: str = "content"  # with chat: token means over the user's content only, or "all" tokens
    keep_all: bool = False  # store every text's activations, not only validated ones
    chunk_prompts: int | None = None  # texts per stored chunk (None: ~256 MB of activations)

    def __post_init__(self) -> None:
        for name in ("n_eval", "batch_size", "max_new_tokens"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"option {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.chat_positions not in CHAT_POSITIONS:
            raise ConfigError(
                f"option chat_positions must be one of {', '.join(CHAT_POSITIONS)}, got {self.chat_positions!r}"
            )
        check_chat_bos(self.bos, self.chat)
        if self.max_prompts_per_relation is not None and self.max_prompts_per_relation < 1:
            raise ConfigError(
                f"option max_prompts_per_relation must be positive, got {self.max_prompts_per_relation!r}"
            )
