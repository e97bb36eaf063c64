"""Regression guard: a model loaded by `load_model` must not take matmul's slow path.

With parameters that do not require grad, `torch.matmul` does not fold the
batch dimensions of a non-contiguous 3-D input and runs `aten::bmm` against the
LM head's weight expanded to (batch, vocab, hidden): on Gemma 3 270M that was
1.49 s per prefill batch instead of 0.37 s. The check reads the profiler's op
list (which ops ran, with which shapes), never a clock.
"""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from relneurons.model.generation import generate_batch
from relneurons.model.loading import load_model
from relneurons.model.tokenization import make_policy, pad_left, token_ids
from tests.tiny_models import save_tiny_folder


def _lm_head_bmm_shapes(model, tokenizer) -> list:
    """Input shapes of every batched matmul whose operand has the LM head's (vocab x hidden) size."""
    policy = make_policy(tokenizer, model.config.model_type)
    texts = ["The headquarters of Acme are in", "Paris? Answer:", "The city of Paris is in the headquarters of"]
    batch = pad_left(token_ids(tokenizer, policy, texts), policy.pad_token_id, torch.device("cpu"))
    head = model.get_output_embeddings().weight
    vocab, hidden = head.shape
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        generate_batch(model, batch, max_new_tokens=1)
    bad = []
    for event in prof.events():
        if event.name in ("aten::bmm", "aten::baddbmm"):
            shapes = [tuple(s) for s in event.input_shapes if s]
            if any(len(s) == 3 and {vocab, hidden} <= set(s[1:]) for s in shapes):
                bad.append(shapes)
    return bad


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_load_model_keeps_the_lm_head_on_the_folded_mm(tmp_path, arch):
    folder = save_tiny_folder(tmp_path / arch, arch)
    model, tokenizer = load_model(str(folder), device="cpu")
    assert _lm_head_bmm_shapes(model, tokenizer) == []


def test_the_guard_sees_the_slow_path(tmp_path):
    """The guard can fail: with the parameters' grad flag cleared (the old load path) it finds the bmm."""
    folder = save_tiny_folder(tmp_path / "gemma3", "gemma3")
    model, tokenizer = load_model(str(folder), device="cpu")
    model.requires_grad_(False)
    assert _lm_head_bmm_shapes(model, tokenizer) != []
