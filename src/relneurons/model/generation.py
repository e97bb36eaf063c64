"""Greedy generation of a few new tokens for batches of prompts.

Our own loop rather than `model.generate`: it passes mask-derived position ids at
every step, asks for logits at the last position only (the LM head of Gemma 3,
262k words, costs as much as the rest of the 270M model), and lets callers act
between the prompt pass and the first generated token (activation capture).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm

from .tokenization import Batch, TokenizerPolicy, check_context, make_policy, pad_left, token_ids


def execution_device(module) -> torch.device:
    """Where `module` computes: accelerate's execution device for a dispatched (split or offloaded) module,
    whose parameters may sit on "meta" between passes; else the device of its first parameter."""
    hook = getattr(module, "_hf_hook", None)
    device = getattr(hook, "execution_device", None)
    if device is not None:
        return torch.device(device)
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def offloaded_modules(model) -> list[str]:
    """The modules accelerate offloads (weights on "meta" between passes, or an offloading hook), named as in
    the model's `hf_device_map` where it has one."""
    found = []
    for name, module in model.named_modules():
        hook = getattr(module, "_hf_hook", None)
        hooks = getattr(hook, "hooks", (hook,))  # accelerate's SequentialHook holds several
        on_meta = any(p.device.type == "meta" for p in module.parameters(recurse=False))
        if on_meta or any(getattr(h, "offload", False) for h in hooks):
            found.append(name)
    placed = getattr(model, "hf_device_map", None) or {}
    grouped = [group for group in placed if any(n == group or n.startswith(f"{group}.") for n in found)]
    return grouped if grouped else found


def input_device(model) -> torch.device:
    """Where input ids go: the execution device of the embedding layer (device_map="auto" included)."""
    return execution_device(model.get_input_embeddings())


def _forward_options(model) -> tuple[dict, str]:
    """Keyword arguments the model's forward takes: last-position logits if it can, and the name of its KV-cache
    argument and output field: `cache` in recent transformers 5 releases (which deprecate `past_key_values`, to be
    removed in 5.40), `past_key_values` in the earlier 5.x releases the dependency range allows."""
    parameters = inspect.signature(model.forward).parameters
    extra = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
    return extra, "cache" if "cache" in parameters else "past_key_values"


def upcasts_logits(model) -> bool:
    """Whether `float32_logits` changes anything for `model`: its LM head is a linear map not in float32."""
    head = model.get_output_embeddings()
    return isinstance(head, torch.nn.Linear) and head.weight.dtype != torch.float32


def _float32_linear(head, hidden: torch.Tensor) -> torch.Tensor:
    bias = None if head.bias is None else head.bias.float()
    return torch.nn.functional.linear(hidden.float(), head.weight.float(), bias)


@contextmanager
def float32_logits(model) -> Iterator[bool]:
    """Inside the block the LM head computes in float32: logits of a bfloat16/float16 model are not rounded to
    its dtype (a bfloat16 logit has 8 significant bits, so near-ties become exact ties or flip with tiny changes
    of the hidden state); the hidden state stays in the model's dtype. Yields whether anything changed: a float32
    head is left alone, so float32 models compute exactly as without it.

    Under accelerate (device = "auto") the head's `_old_forward` is replaced, which accelerate calls after moving
    an offloaded head's weights to its execution device."""
    if not upcasts_logits(model):
        yield False
        return
    head = model.get_output_embeddings()
    name = "_old_forward" if hasattr(head, "_hf_hook") and "_old_forward" in vars(head) else "forward"
    before = vars(head).get(name)
    setattr(head, name, functools.partial(_float32_linear, weakref.proxy(head)))  # a proxy: no reference cycle
    try:
        yield True
    finally:
        if before is None:
            delattr(head, name)
        else:
            setattr(head, name, before)


@torch.inference_mode()
def generate_batch(
    model,
    batch: Batch,
    max_new_tokens: int = 2,
    *,
    use_cache: bool = True,
    after_prompt: Callable[[], None] | None = None,
    logits_in_float32: bool = True,
) -> torch.Tensor:
    """Greedy new token ids, shape (B, max_new_tokens). `after_prompt` runs after the prompt pass.

    `logits_in_float32`: the argmax reads logits computed in float32 (`float32_logits`; a no-op for float32
    models); False keeps a half-precision model's own logits, as `model.generate` would."""
    with float32_logits(model) if logits_in_float32 else contextlib.nullcontext():
        return _generate(model, batch, max_new_tokens, use_cache, after_prompt)


def _generate(model, batch: Batch, max_new_tokens: int, use_cache: bool, after_prompt) -> torch.Tensor:
    extra, cache_key = _forward_options(model)
    ids, mask, positions = batch.input_ids, batch.attention_mask, batch.position_ids
    check_context(
        model, [range(ids.shape[1])], max_new_tokens
    )  # left padding: every row is as wide as the longest prompt
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=use_cache, **extra)
    if after_prompt is not None:
        after_prompt()
    new = [out.logits[:, -1].argmax(-1)]
    for _ in range(max_new_tokens - 1):
        step = new[-1][:, None]
        mask = torch.cat([mask, torch.ones_like(step)], dim=1)
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
        if use_cache:
            out = model(
                input_ids=step,
                attention_mask=mask,
                position_ids=positions[:, -1:],
                use_cache=True,
                **{cache_key: getattr(out, cache_key)},
                **extra,
            )
        else:
            ids = torch.cat([ids, step], dim=1)
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, **extra)
        new.append(out.logits[:, -1].argmax(-1))
    return torch.stack(new, dim=1)


def batches(items: Sequence, batch_size: int):
    """Consecutive slices of `items` (the last may be shorter)."""
    for start in range(0, len(items), batch_size):
        yield start, items[start : start + batch_size]


def greedy_generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 2,
    *,
    batch_size: int = 16,
    policy: TokenizerPolicy | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> list[str]:
    """Decoded greedy continuations (new tokens only, special tokens dropped), one per prompt.

    Prompts are sorted by length inside the call so that batches waste little
    padding; results come back in the caller's order.
    """
    policy = policy or make_policy(tokenizer, getattr(model.config, "model_type", ""))
    encoded = token_ids(tokenizer, policy, prompts)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    texts: list[str] = [""] * len(prompts)
    device = input_device(model)
    bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=not progress)
    for _, chunk in batches(order, batch_size):
        batch = pad_left([encoded[i] for i in chunk], policy.pad_token_id, device)
        new = generate_batch(model, batch, max_new_tokens, use_cache=use_cache)
        for row, i in enumerate(chunk):
            texts[i] = tokenizer.decode(new[row].tolist(), skip_special_tokens=True)
        bar.update(len(chunk))
    bar.close()
    return texts
