"""Greedy generation reads logits computed in float32: a no-op for float32 models, the unrounded logits of a
half-precision one (bfloat16 keeps 8 significant bits, so near-ties become exact ties)."""

import numpy as np
import pytest
import torch
from tiny_models import random_prompts, save_tiny_folder, tiny_model

from relneurons.model import load_model, pad_left
from relneurons.model.generation import float32_logits, generate_batch, greedy_generate

PROMPTS = ["The headquarters of Acme are in the city of? Answer:", "Paris", "Answer: the city of Acme"]


def _head_input_and_logits(model, batch):
    """The hidden states the LM head reads (a pre-hook) and the logits the model returns."""
    seen = []
    handle = model.get_output_embeddings().register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        with torch.inference_mode():
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    finally:
        handle.remove()
    return seen[0], logits


@pytest.mark.parametrize("arch", ["llama", "gemma2", "gpt2"])
def test_a_float32_model_is_left_exactly_as_it_is(arch):
    model = tiny_model(arch)
    head = model.get_output_embeddings()
    batch = pad_left(random_prompts(5, seed=1), 0)
    _, plain = _head_input_and_logits(model, batch)
    with float32_logits(model) as changed:
        assert not changed and "forward" not in vars(head)
        _, inside = _head_input_and_logits(model, batch)
    assert inside.numpy().tobytes() == plain.numpy().tobytes()
    on = generate_batch(model, batch, 3)
    assert torch.equal(on, generate_batch(model, batch, 3, logits_in_float32=False))


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_a_bfloat16_head_computes_in_float32_inside_the_block_only(arch):
    model = tiny_model(arch).to(torch.bfloat16)
    batch = pad_left(random_prompts(4, seed=2), 0)
    hidden, plain = _head_input_and_logits(model, batch)
    assert plain.dtype == torch.bfloat16
    with float32_logits(model) as changed:
        got_hidden, got = _head_input_and_logits(model, batch)
    assert changed and got.dtype == torch.float32 and torch.equal(got_hidden, hidden)  # the hidden state unchanged
    weight = model.get_output_embeddings().weight.double()
    expected = hidden.double() @ weight.T  # independent: float64 products of the same bfloat16 inputs
    if arch == "gemma2":  # its final logit soft-capping, after the head
        cap = model.config.final_logit_softcapping
        expected = torch.tanh(expected / cap) * cap
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    assert "forward" not in vars(model.get_output_embeddings())  # restored
    _, after = _head_input_and_logits(model, batch)
    assert after.dtype == torch.bfloat16 and torch.equal(after, plain)


def test_a_near_tie_that_bfloat16_rounds_to_a_tie_is_broken_by_the_float32_logits():
    model = tiny_model("llama").to(torch.bfloat16)
    batch = pad_left([random_prompts(1, seed=3)[0]], 0)
    hidden, _ = _head_input_and_logits(model, batch)
    h = hidden[0, -1].float()
    head = model.get_output_embeddings().weight
    with torch.no_grad():  # token 3 and token 5 far above the rest, 5 a little above 3
        row = torch.sign(h) * 4
        head[3] = row
        j = int(torch.argmin(torch.where(h != 0, h.abs(), torch.inf)))  # the smallest component: the tiniest gap
        head[5] = row
        head[5, j] = row[j] * (1 + 2**-7)  # the next bfloat16 value above 4 (or below -4)
    _, plain = _head_input_and_logits(model, batch)
    assert plain[0, -1, 3] == plain[0, -1, 5]  # the premise: bfloat16 logits tie
    exact = h.double() @ head.double()[[3, 5]].T
    assert exact[1] > exact[0]  # token 5 is really ahead
    assert generate_batch(model, batch, 1, logits_in_float32=False).item() == 3  # a tie goes to the lower id
    assert generate_batch(model, batch, 1).item() == 5


def test_an_offloaded_bfloat16_head_under_accelerate(tmp_path):
    """device = "auto" with layers on disk: accelerate calls the head's `_old_forward` between loading its weights
    and offloading them again; the float32 head must run there, and give what the plain load gives."""
    folder = str(save_tiny_folder(tmp_path / "model"))
    plain, tokenizer = load_model(folder, "bfloat16", device="cpu")
    size = sum(p.numel() * p.element_size() for p in plain.parameters())
    for fraction in (0.5, 0.3, 0.7):
        split, _ = load_model(
            folder, "bfloat16", "auto", max_memory={"cpu": int(fraction * size)}, offload_folder=str(tmp_path / "off")
        )
        if split.hf_device_map.get("lm_head") == "disk":
            break
    else:
        pytest.skip(f"no budget put the head on disk: {split.hf_device_map}")
    assert split.dtype == torch.bfloat16
    assert greedy_generate(split, tokenizer, PROMPTS, 3) == greedy_generate(plain, tokenizer, PROMPTS, 3)
    head = split.get_output_embeddings()
    before = head._old_forward
    with float32_logits(split) as changed:
        assert changed
        ids = torch.tensor([tokenizer(PROMPTS[0])["input_ids"]])
        with torch.inference_mode():
            logits = split(input_ids=ids).logits
    assert head._old_forward is before  # accelerate's own again
    with float32_logits(plain), torch.inference_mode():
        expected = plain(input_ids=ids).logits
    assert logits.dtype == torch.float32
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
