"""Validation and activation capture in one forward pass per prompt (paper §2.1 step 3, §2.2).

The prompt pass of the greedy generation is the pass whose activations we
need: hooks on every site of the neuron set record, for each neuron, the mean
of its output over the prompt's real (non-padding) tokens (the BOS included
unless the policy says otherwise: `tokenization.mean_mask`), then disarm, and the
generation goes on with the KV cache to decide whether the prompt is kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..model.generation import generate_batch, input_device
from ..model.sites import NeuronSet, forward_hooks
from ..model.tokenization import TokenizerPolicy, mean_mask, pad_left


class MeanCapture:
    """Records mask-aware token means of every neuron of a set during one armed forward pass.

    The means stay on the device that computed them until `result`, which copies them to the CPU once per
    device (one synchronisation per batch, not one per site: 96 for Llama-2-7B's FFN set)."""

    def __init__(self, nset: NeuronSet) -> None:
        self.nset = nset
        self._paths = [site.path for site in nset.sites]  # column order
        self._mask: torch.Tensor | None = None  # (B, T, 1) bool while armed
        self._rows = 0
        self._parts: dict[str, torch.Tensor] = {}  # site path -> (B, width) float32 on the site's device
        self._out: torch.Tensor | None = None  # (B, n_neurons) float32 on CPU, assembled by `result`

    def arm(self, attention_mask: torch.Tensor) -> None:
        """The next forward pass records means over the positions where `attention_mask` is 1 (see `mean_mask`)."""
        self._mask = attention_mask.bool()[:, :, None]
        self._rows = attention_mask.shape[0]
        self._parts, self._out = {}, None

    def disarm(self) -> None:
        self._mask = None

    def result(self) -> torch.Tensor:
        """Means of the last armed pass, shape (B, n_neurons), float32, CPU."""
        if self._out is None:
            missing = len(self._paths) - len(self._parts)
            if missing:
                raise RuntimeError(f"capture incomplete: {missing} of {len(self._paths)} sites did not run")
            out = torch.empty((self._rows, self.nset.size), dtype=torch.float32)
            start = 0
            for parts in _runs_by_device([self._parts[path] for path in self._paths]):
                block = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
                out[:, start : start + block.shape[1]] = block.cpu()
                start += block.shape[1]
            self._parts, self._out = {}, out
        return self._out

    def hook_for(self, path: str):
        def hook(module, args, output):
            if self._mask is None:
                return None
            mask = self._mask.to(output.device)
            # where(), not multiply: padded positions may hold NaN/inf in some attention kernels.
            total = torch.where(mask, output, 0).sum(dim=1, dtype=torch.float32)  # (B, W)
            count = mask.sum(dim=1).to(torch.float32)  # (B, 1)
            self._parts[path] = total / count
            return None

        return hook


def _runs_by_device(parts: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive tensors grouped by device (a split model's sites change device once per device)."""
    runs: list[list[torch.Tensor]] = []
    for part in parts:
        if runs and runs[-1][-1].device == part.device:
            runs[-1].append(part)
        else:
            runs.append([part])
    return runs


@contextmanager
def capturing(model, nset: NeuronSet) -> Iterator[MeanCapture]:
    """Install capture hooks for the sites of `nset`; always removed on exit."""
    capture = MeanCapture(nset)
    with forward_hooks((model.get_submodule(site.path), capture.hook_for(site.path)) for site in nset.sites):
        yield capture


@dataclass(frozen=True)
class CapturedBatch:
    new_tokens: torch.Tensor  # (B, max_new_tokens) greedy token ids
    means: torch.Tensor  # (B, n_neurons) float32 token means over the prompt


def capture_batch(
    model,
    capture: MeanCapture,
    sequences: Sequence[Sequence[int]],
    policy: TokenizerPolicy,
    max_new_tokens: int = 2,
) -> CapturedBatch:
    """One prompt pass: greedy continuation and the neurons' token means, for one batch."""
    batch = pad_left(sequences, policy.pad_token_id, input_device(model))
    capture.arm(mean_mask(batch, policy))
    new = generate_batch(model, batch, max_new_tokens, after_prompt=capture.disarm)
    return CapturedBatch(new.cpu(), capture.result().clone())


def capture_means(
    model,
    nset: NeuronSet,
    sequences: Sequence[Sequence[int]],
    policy: TokenizerPolicy,
    batch_size: int = 16,
    progress=None,
) -> np.ndarray:
    """Token means of every neuron of `nset` for each sequence, without generating: shape (N, n_neurons), float32.

    For prompts that need no validation (concept prompts, a second neuron set over
    already validated texts). Sequences are batched by length; rows come back in
    input order. `progress(n)` is called after each batch with its size.
    """
    out = np.empty((len(sequences), nset.size), dtype=np.float32)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    with capturing(model, nset) as capture, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            batch = pad_left([sequences[i] for i in part], policy.pad_token_id, input_device(model))
            capture.arm(mean_mask(batch, policy))
            model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=1,
            )
            capture.disarm()
            out[part] = capture.result().numpy()
            if progress is not None:
                progress(len(part))
    return out
