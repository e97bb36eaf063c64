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
- Chat (`chat_frame`): an instruct model's prompt is the user turn of its own chat
  template, rendered with the assistant turn opened (add_generation_prompt), and
  tokenized as one string as `apply_chat_template` does; the template writes its
  own BOS, so none is added. The token mean then averages the user's content
  only (positions "content"), or every token ("all").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import ConfigError, DataError
from .names import BOS_CHOICES, CHAT_POSITIONS, check_chat_bos

#: Stands for the user's message when the chat template is rendered once to find its fixed text.
_CONTENT = "RELNEURONS-USER-CONTENT-7F3A"


@dataclass(frozen=True)
class ChatFrame:
    """The chat template's fixed text around the user's message (the assistant turn opened after it) and its tokens.

    Every chat prompt is `before + text + after`; its first len(before_ids) and last len(after_ids) tokens are the
    template's (system prompt, role markers, special tokens), the rest are the user's content.
    """

    before: str
    after: str
    before_ids: tuple[int, ...]
    after_ids: tuple[int, ...]
    positions: str = "content"  # which positions token means average: the user's content, or "all"


@dataclass(frozen=True)
class TokenizerPolicy:
    add_bos: bool
    bos_token_id: int | None
    pad_token_id: int
    mean_bos: bool = True  # the BOS position counts in token means (see module docstring)
    chat: ChatFrame | None = None  # prompts are user turns of the tokenizer's chat template (None: plain text)


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (B, T) left-padded
    attention_mask: torch.Tensor  # (B, T) 1 for real tokens
    position_ids: torch.Tensor  # (B, T)


def make_policy(
    tokenizer,
    model_type: str = "",
    bos: str = "auto",
    mean_bos: bool = True,
    chat: bool = False,
    chat_positions: str = "content",
) -> TokenizerPolicy:
    """Decide BOS, padding, the chat template and which positions count in token means (see module docstring)."""
    if bos not in BOS_CHOICES:
        raise ConfigError(f"bos must be one of {', '.join(BOS_CHOICES)}, not {bos!r}")
    bos_id = tokenizer.bos_token_id
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    check_chat_bos(bos, chat)
    if chat:
        frame = chat_frame(tokenizer, chat_positions)
        return TokenizerPolicy(False, bos_id, int(pad), bool(mean_bos), frame)
    if bos == "always" and bos_id is None:
        raise ConfigError("bos='always' but this tokenizer has no BOS token")
    if bos == "auto":
        probe = tokenizer("a").input_ids
        add = bos_id is not None and (bool(probe) and probe[0] == bos_id or model_type.startswith("gemma"))
    else:
        add = bos == "always"
    return TokenizerPolicy(add_bos=add, bos_token_id=bos_id, pad_token_id=int(pad), mean_bos=bool(mean_bos))


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _render(tokenizer, content: str) -> str:
    """The chat of one user message, the assistant turn opened (what the model answers after)."""
    try:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:  # a template may raise anything (jinja errors, its own raise_exception)
        raise ConfigError(
            f"data.chat = true: the model's chat template fails on a user message ({exc}); set data.chat = false"
        ) from None


def chat_frame(tokenizer, positions: str = "content") -> ChatFrame:
    """The template's fixed text around a user message; ConfigError when there is no template or it does not write
    the message verbatim once."""
    if positions not in CHAT_POSITIONS:
        raise ConfigError(f"data.chat_positions must be one of {', '.join(CHAT_POSITIONS)}, not {positions!r}")
    if not has_chat_template(tokenizer):
        raise ConfigError(
            "data.chat = true but this model's tokenizer has no chat template (a base model?); set data.chat = false"
        )
    rendered = _render(tokenizer, _CONTENT)
    if rendered.count(_CONTENT) != 1:
        raise ConfigError(
            "data.chat = true but the model's chat template does not write the user's message once, verbatim; "
            "set data.chat = false"
        )
    before, after = rendered.split(_CONTENT)

    def encode(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False).input_ids)

    return ChatFrame(before, after, encode(before), encode(after), positions)


def chat_texts(tokenizer, frame: ChatFrame, texts: Sequence[str]) -> list[str]:
    """Each text as the user turn of the chat template, rendered by the template itself (DataError when the template
    changes the text, e.g. strips it, so that it is not `frame.before + text + frame.after`)."""
    rendered = []
    for text in texts:
        chat = _render(tokenizer, text)
        if chat != frame.before + text + frame.after:
            raise DataError(
                f"the model's chat template changes the prompt {text[:60]!r} (it renders {chat[:160]!r}), so its "
                "content cannot be told from the template's text; use another data.suffix, or data.chat = false"
            )
        rendered.append(chat)
    return rendered


def token_ids(tokenizer, policy: TokenizerPolicy, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text under the policy, unpadded (chat: the rendered chat, tokenized as one string)."""
    if policy.chat is not None:
        return _chat_ids(tokenizer, policy.chat, texts)
    encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
    prefix = [policy.bos_token_id] if policy.add_bos else []
    return [prefix + list(ids) for ids in encoded]


def _chat_ids(tokenizer, frame: ChatFrame, texts: Sequence[str]) -> list[list[int]]:
    encoded = [list(ids) for ids in tokenizer(chat_texts(tokenizer, frame, texts), add_special_tokens=False).input_ids]
    if frame.positions == "content":
        head, tail = list(frame.before_ids), list(frame.after_ids)
        for text, ids in zip(texts, encoded):
            content = ids[len(head) : len(ids) - len(tail)]
            if ids[: len(head)] != head or ids[len(ids) - len(tail) :] != tail or not content:
                raise DataError(
                    f"in the chat of the prompt {text[:60]!r} the template's tokens merge with the prompt's (or the "
                    'prompt has no token), so the content positions are not known; set data.chat_positions = "all"'
                )
    return encoded


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
    """(B, T) bool: the positions a token mean averages over (real tokens; without the BOS unless policy.mean_bos;
    chat with positions "content": the user's content only, the template's tokens before and after it left out)."""
    mask = batch.attention_mask.bool()
    frame = policy.chat
    if frame is not None and frame.positions == "content":  # rows are before_ids + content + after_ids (`_chat_ids`)
        length = batch.attention_mask.sum(dim=1, keepdim=True)
        return (
            mask & (batch.position_ids >= len(frame.before_ids)) & (batch.position_ids < length - len(frame.after_ids))
        )
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
