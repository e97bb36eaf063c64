"""Gradient x activation attribution of neurons to the object's first token (the knowledge-neuron family).

For a prompt with object token y, neuron j of a site with outputs a_t at the
prompt's real token positions t, the attribution is

    A_j = sum_t a_t,j * d log p(y | prompt) / d a_t,j

the first-order estimate of how much log p(y) falls when the neuron's output is
switched off at every position (log p(a = 0) ~ log p(a) - A_j), which is the
intervention the experiments make. The scorer is the mean of A_j over the
relation's positives (higher = the neuron supports the answers more); it uses
no negatives.

How the gradient is taken: a forward hook adds a zero tensor that requires
grad to each site's output (output + delta) and keeps the output; the gradient
with respect to delta is the gradient with respect to the output along every
later path (later sites stay in the graph). This works whether or not the
weights require grad, and `torch.autograd.grad` on the deltas computes no
weight gradients. Forward passes elsewhere run under `torch.inference_mode`,
so this module turns gradients on explicitly.

The object's first token is the first token of " " + object (the answer
follows "? Answer:" after a space), the token the controlled generation must
produce first.

float16 models: a float16 gradient below ~6e-8 is an exact zero, and for a
model with a large vocabulary many neurons' gradients are that small, so their
scores would tie at 0 (and rank by column index). The backward pass is
therefore run on log p times a power of two, and the products are divided by
it in float64 (the loss scaling of mixed-precision training). The factor comes
from an unscaled pass: the largest gradient at a real token lands near 2**12,
below float16's overflow at 65504, and the factor is at most 2**15, so the
gradient at the logits (at most 1 unscaled) cannot overflow either; it is
halved while any gradient at a real token is not finite. Gradients down to
about 2**-39 (2e-12) survive. bfloat16 has float32's exponent range and needs
no scaling.

Offloaded models are refused: accelerate brings an offloaded layer's weights
to the execution device for its forward pass only, but the backward pass needs
them, and autograd keeps every layer's copy alive until it runs, so the whole
model would sit on the device at once, which is what `max_memory` prevented.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from ..errors import InputError, ModelError
from ..model.generation import input_device, offloaded_modules
from ..model.sites import NeuronSet, forward_hooks
from ..model.tokenization import TokenizerPolicy, pad_left, token_ids

__all__ = ["attribution_scores", "object_token", "prompt_attributions"]


def object_token(tokenizer, obj: str) -> int:
    """The first token of " " + object, the token a correct greedy answer starts with."""
    ids = tokenizer(" " + str(obj).strip(), add_special_tokens=False).input_ids
    if not ids:
        raise InputError(f"object {obj!r} has no tokens")
    return int(ids[0])


class _Probe:
    """Per site: the output (detached) and the zero `delta` added to it, whose gradient is the output's."""

    def __init__(self) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.deltas: dict[str, torch.Tensor] = {}

    def hook_for(self, path: str):
        def hook(module, args, output):
            delta = torch.zeros_like(output, requires_grad=True)
            self.outputs[path], self.deltas[path] = output.detach(), delta
            return output + delta

        return hook


@contextmanager
def _probing(model, nset: NeuronSet) -> Iterator[_Probe]:
    probe = _Probe()
    with forward_hooks((model.get_submodule(site.path), probe.hook_for(site.path)) for site in nset.sites):
        yield probe


def prompt_attributions(
    model, nset: NeuronSet, sequences: Sequence[Sequence[int]], targets: Sequence[int], pad_token_id: int
) -> np.ndarray:
    """A_j for each prompt (one batch, one backward pass): float64 [n_prompts, n_neurons] in the set's column order.

    `sequences`: token ids of each prompt (BOS included as the policy wants); `targets`: the token whose
    log-probability after the prompt is attributed.
    """
    if len(sequences) != len(targets):
        raise InputError(f"{len(sequences)} prompts but {len(targets)} target tokens")
    _refuse_offloaded(model)
    out = np.empty((len(sequences), nset.size), dtype=np.float64)
    with torch.inference_mode(False), torch.enable_grad(), _probing(model, nset) as probe:
        batch = pad_left(
            sequences, pad_token_id, input_device(model)
        )  # made here: inference tensors cannot enter autograd
        mask = batch.attention_mask.bool()[:, :, None]  # (B, T, 1)
        last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        logits = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
            **last_only,
        ).logits[:, -1]  # (B, V)
        target = torch.as_tensor(list(targets), device=logits.device)[:, None]
        logp = (
            torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
            .gather(1, target)
            .sum()
        )  # prompts are independent: one backward
        paths = [site.path for site in nset.sites]
        deltas = [probe.deltas[p] for p in paths]
        masks = [mask.to(probe.outputs[p].device) for p in paths]
        grads, scale = _gradients(logp, deltas, masks)
        column = 0
        for path, grad, real in zip(paths, grads, masks):
            act = probe.outputs[path]
            # where(), not multiply: padded positions may hold NaN/inf in some attention kernels
            per_prompt = torch.where(real, act.double() * grad.double(), 0).sum(dim=1) / scale  # (B, W)
            out[:, column : column + act.shape[-1]] = per_prompt.cpu().numpy()
            column += act.shape[-1]
    return out


#: float16 gradients are scaled so that the largest lands near `_FLOAT16_TARGET` (overflow: 65504),
#: by at most `_FLOAT16_MAX_SCALE` (the unscaled gradient at the logits is at most 1).
_FLOAT16_TARGET = 2.0**12
_FLOAT16_MAX_SCALE = 2.0**15


def _gradients(logp: torch.Tensor, deltas: list[torch.Tensor], masks: list[torch.Tensor]):
    """Gradients of `logp` for each delta and the factor they carry (1, or a power of two for float16; see above)."""
    if not any(d.dtype == torch.float16 for d in deltas):
        return torch.autograd.grad(logp, deltas), 1.0
    grads = torch.autograd.grad(logp, deltas, retain_graph=True)
    largest = max(float(torch.where(m, g.abs(), 0).max()) for g, m in zip(grads, masks))
    if not math.isfinite(largest):
        return grads, 1.0  # not finite unscaled: scaling cannot help (as in float32, the products carry it)
    scale = _FLOAT16_MAX_SCALE
    if largest > 0:
        scale = min(scale, 2.0 ** math.floor(math.log2(_FLOAT16_TARGET / largest)))
    while scale > 1:
        scaled = torch.autograd.grad(logp * scale, deltas, retain_graph=True)
        if all(bool(torch.isfinite(torch.where(m, g, 0)).all()) for g, m in zip(scaled, masks)):
            return scaled, scale
        scale /= 2
    return grads, 1.0


def _refuse_offloaded(model) -> None:
    """ModelError when accelerate offloads any layer (see the module docstring)."""
    offloaded = offloaded_modules(model)
    if offloaded:
        shown = ", ".join(offloaded[:3]) + (f" and {len(offloaded) - 3} more" if len(offloaded) > 3 else "")
        raise ModelError(
            f"the attribution scorer cannot run on a model with offloaded layers ({shown}): its backward pass would "
            "hold every layer's weights on the device at once; give model.max_memory room for the whole model on "
            "the GPUs, or leave attribution out of methods.scorers"
        )


def attribution_scores(
    model,
    tokenizer,
    policy: TokenizerPolicy,
    nset: NeuronSet,
    texts: Sequence[str],
    objects: Sequence[str],
    *,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The attribution scorer: mean A_j over the prompts (a relation's positives): float64 [n_neurons].

    Prompts are batched by length; one forward and one backward pass per batch.
    """
    if len(texts) != len(objects):
        raise InputError(f"{len(texts)} prompts but {len(objects)} objects")
    if not texts:
        raise InputError("attribution needs at least one positive prompt")
    sequences = token_ids(tokenizer, policy, texts)
    targets = [object_token(tokenizer, o) for o in objects]
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    total = np.zeros(nset.size, dtype=np.float64)
    for start in range(0, len(order), batch_size):
        part = order[start : start + batch_size]
        total += prompt_attributions(
            model, nset, [sequences[i] for i in part], [targets[i] for i in part], policy.pad_token_id
        ).sum(axis=0)
        if progress is not None:
            progress(len(part))
    return total / len(texts)
