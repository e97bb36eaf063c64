"""The tokenizer policy: BOS handling, left padding and mask-derived position ids.

Prompts are encoded without the tokenizer's own special tokens and the BOS is
added here, so that the policy is explicit and recorded, never implied:
- BOS: `auto` follows the tokenizer's default (Llama and Gemma add one, GPT-2
  does not), and always adds it for Gemma models, which degrade badly
  without it even when a converted tokenizer forgets to add it.
- Left padding, so that the last position of every row is the last prompt
  token and generation appends at the same column for the whole batch.
- `position_ids` = cumulative sum of the attention mask - 1, so that padding
  does not shift positions (absolute-position models such as GPT-2 are wrong
  otherwise).
- `mean_bos`: whether the BOS position counts in a neuron's token mean (the
  default, as the paper's reference code averages over every real token). The
  BOS sees no prompt token, so it adds the same value to every prompt's mean;
  leaving it out measures what the prompt itself changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import ConfigError, DataError
from .names import BOS_CHOICES


@dataclass(frozen=True)
class TokenizerPolicy:
    add_bos: bool
    bos_token_id: int | None
    pad_token_id: int
    mean_bos: bool = True  # the BOS position counts in token means (see module docstring)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (B, T) left-padded
    attention_mask: torch.Tensor  # (B, T) 1 for real tokens
    position_ids: torch.Tensor  # (B, T)


def make_policy(tokenizer, model_type: str = "", bos: str = "auto", mean_bos: bool = True) -> TokenizerPolicy:
    """Decide BOS, padding and whether the BOS counts in token means (see module docstring)."""
    if bos not in BOS_CHOICES:
        raise ConfigError(f"bos must be one of {', '.join(BOS_CHOICES)}, not {bos!r}")
    bos_id = tokenizer.bos_token_id
    if bos == "always" and bos_id is None:
        raise ConfigError("bos='always' but this tokenizer has no BOS token")
    if bos == "auto":
        probe = tokenizer("a").input_ids
        add = bos_id is not None and (bool(probe) and probe[0] == bos_id or model_type.startswith("gemma"))
    else:
        add = bos == "always"
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    return TokenizerPolicy(add_bos=add, bos_token_id=bos_id, pad_token_id=int(pad), mean_bos=bool(mean_bos))


def token_ids(tokenizer, policy: TokenizerPolicy, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text under the policy, unpadded."""
    encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
    prefix = [policy.bos_token_id] if policy.add_bos else []
    return [prefix + list(ids) for ids in encoded]


def context_length(model) -> int | None:
    """Positions the model was built for (max_position_embeddings, n_positions), or None if its config says nothing."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(
    model, sequences: Sequence[Sequence[int]], new_tokens: int, texts: Sequence[str] | None = None
) -> None:
    """DataError when the longest prompt plus `new_tokens` does not fit the model's context (before any output is written)."""
    limit = context_length(model)
    if limit is None or not sequences:
        return
    longest = max(range(len(sequences)), key=lambda i: len(sequences[i]))
    need = len(sequences[longest]) + new_tokens
    if need > limit:
        shown = f" ({texts[longest][:60]!r}...)" if texts is not None else ""
        raise DataError(
            f"a prompt is too long for the model: {len(sequences[longest])} tokens{shown} + {new_tokens} new tokens "
            f"need {need} positions, more than the model's context of {limit}; shorten the templates or the suffix, "
            "or use a model with a longer context"
        )


def mean_mask(batch: Batch, policy: TokenizerPolicy) -> torch.Tensor:
    """(B, T) bool: the positions a token mean averages over (real tokens; without the BOS unless policy.mean_bos)."""
    mask = batch.attention_mask.bool()
    if policy.add_bos and not policy.mean_bos:
        mask = mask & (batch.position_ids != 0)  # the BOS is each row's first real token (position 0)
        if not mask.any(dim=1).all():
            raise DataError(
                "a prompt has no token besides the BOS, so its token mean without the BOS is undefined; "
                "use non-empty prompts or mean_bos = true"
            )
    return mask


def pad_left(sequences: Sequence[Sequence[int]], pad_token_id: int, device: torch.device | str = "cpu") -> Batch:
    """Left-pad token id lists into a Batch with mask-derived position ids."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(ids.to(device), mask.to(device), positions.to(device))
