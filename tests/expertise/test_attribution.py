"""Gradient x activation attribution on tiny random models: against torch.autograd and finite differences."""

import numpy as np
import pytest
import torch
from tiny_models import random_prompts, save_tiny_folder, tiny_model

import relneurons.expertise.attribution as attribution_module
from relneurons.errors import InputError, ModelError
from relneurons.expertise.attribution import attribution_scores, object_token, prompt_attributions
from relneurons.model import load_model, neuron_set
from relneurons.model.tokenization import make_policy, token_ids


def _logp(model, seq, target, edit=None):
    """log p(target | seq) for one unpadded prompt; `edit` = (site path, unit, factor) scales that unit's output."""
    handles = []
    if edit is not None:
        path, unit, factor = edit

        def hook(module, args, output):
            output = output.clone()
            output[..., unit] = output[..., unit] * factor
            return output

        handles.append(model.get_submodule(path).register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([seq])).logits[0, -1]
    finally:
        for h in handles:
            h.remove()
    return float(torch.log_softmax(logits.double(), -1)[target])


def _autograd_reference(model, nset, seq, target):
    """sum_t a_t * grad_t with the outputs' own .grad (retain_grad, weights requiring grad): another code path."""
    outputs, handles = {}, []
    for site in nset.sites:

        def hook(module, args, output, path=site.path):
            output.retain_grad()
            outputs[path] = output

        handles.append(model.get_submodule(site.path).register_forward_hook(hook))
    model.requires_grad_(True)
    try:
        logits = model(input_ids=torch.tensor([seq])).logits[0, -1]
        torch.log_softmax(logits.double(), -1)[target].backward()
    finally:
        for h in handles:
            h.remove()
        model.requires_grad_(False)
        model.zero_grad(set_to_none=True)
    return np.concatenate(
        [(outputs[s.path] * outputs[s.path].grad).sum(dim=1)[0].detach().double().numpy() for s in nset.sites]
    )


@pytest.mark.parametrize("arch", ["llama", "gemma3", "gpt2"])
def test_batched_attribution_equals_autograd_per_prompt(arch):
    model = tiny_model(arch).double()
    nset = neuron_set(model, "ffn")
    prompts = random_prompts(5, seed=1, min_len=2, max_len=9)  # different lengths: left padding in the batch
    targets = [7, 11, 3, 50, 20]
    got = prompt_attributions(model, nset, prompts, targets, pad_token_id=0)
    assert got.shape == (5, nset.size)
    for i, (seq, target) in enumerate(zip(prompts, targets)):
        np.testing.assert_allclose(got[i], _autograd_reference(model, nset, seq, target), rtol=1e-8, atol=1e-10)
    assert all(p.grad is None for p in model.parameters())  # no weight gradients were computed


def test_one_neuron_by_central_finite_differences():
    """A_j = d/d eps log p when the neuron's output is scaled by (1 + eps) at every position."""
    model = tiny_model("llama").double()
    nset = neuron_set(model, "ffn")
    seq, target = random_prompts(1, seed=4, min_len=6, max_len=6)[0], 9
    got = prompt_attributions(model, nset, [seq], [target], pad_token_id=0)[0]
    starts = np.cumsum([0] + [s.width for s in nset.sites])
    checked = 0
    for site_index in (
        0,
        len(nset.sites) // 2,
        len(nset.sites) - 1,
    ):  # an early gate, a middle site, the last down_proj
        site = nset.sites[site_index]
        block = got[starts[site_index] : starts[site_index + 1]]
        unit = int(np.argmax(np.abs(block)))
        eps = 1e-3  # the norms compute in float32 even in a float64 model: a smaller eps drowns in rounding
        fd = (
            _logp(model, seq, target, (site.path, unit, 1 + eps))
            - _logp(model, seq, target, (site.path, unit, 1 - eps))
        ) / (2 * eps)
        assert block[unit] == pytest.approx(fd, rel=2e-4)
        assert abs(block[unit]) > 1e-6
        checked += 1
    assert checked == 3


def test_scores_are_the_mean_over_prompts_and_work_inside_inference_mode(tmp_path):
    model, tokenizer = load_model(str(save_tiny_folder(tmp_path / "m")), device="cpu")
    policy = make_policy(tokenizer)
    nset = neuron_set(model, "ffn")
    texts, objects = (
        ["The city of Paris? Answer:", "Acme are in? Answer:", "The headquarters? Answer:"],
        ["Paris", "Acme", "city"],
    )
    with torch.inference_mode():  # how the rest of the pipeline runs
        scores = attribution_scores(model, tokenizer, policy, nset, texts, objects, batch_size=2)
    per_prompt = prompt_attributions(
        model,
        nset,
        token_ids(tokenizer, policy, texts),
        [object_token(tokenizer, o) for o in objects],
        policy.pad_token_id,
    )
    np.testing.assert_allclose(scores, per_prompt.mean(axis=0), rtol=1e-6, atol=1e-9)
    assert object_token(tokenizer, "Paris") == tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    with pytest.raises(InputError, match="objects"):
        attribution_scores(model, tokenizer, policy, nset, texts, objects[:2])
    with pytest.raises(InputError, match="at least one"):
        attribution_scores(model, tokenizer, policy, nset, [], [])


def _shrunk_gradients(arch: str, dtype: torch.dtype):
    """A tiny model whose final norm is scaled by 1e-7: every gradient shrinks by that factor, below float16's
    smallest subnormal (~6e-8) for most neurons, as a large vocabulary's softmax spreads them thin in a real model."""
    model = tiny_model(arch)
    final = model.transformer.ln_f if arch == "gpt2" else model.model.norm
    with torch.no_grad():
        for p in final.parameters():
            p.mul_(1e-7)
    return model.to(dtype)


def _top(scores: np.ndarray, k: int) -> set[int]:
    return set(np.lexsort((np.arange(scores.size), -scores))[:k].tolist())  # identify's order: ties by column


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_float16_scores_keep_their_zeros_and_top_k_of_float32(arch, monkeypatch):
    prompts = random_prompts(8, seed=3, min_len=4, max_len=9)
    targets = [7, 11, 3, 50, 20, 9, 40, 33]
    nset = neuron_set(tiny_model(arch), "ffn")
    k = 25

    def scores(dtype):
        return prompt_attributions(_shrunk_gradients(arch, dtype), nset, prompts, targets, 0).mean(axis=0)

    full, half = scores(torch.float32), scores(torch.float16)
    assert (full == 0).mean() == 0
    assert (half == 0).mean() <= 0.01
    assert len(_top(full, k) & _top(half, k)) >= 0.9 * k
    np.testing.assert_allclose(half, full, rtol=0.05, atol=0.05 * np.abs(full).max())
    monkeypatch.setattr(attribution_module, "_FLOAT16_MAX_SCALE", 1.0)  # no scaling: how it was
    unscaled = scores(torch.float16)
    assert (unscaled == 0).mean() > 0.5 and len(_top(full, k) & _top(unscaled, k)) < 0.7 * k


def test_float16_scale_is_halved_until_every_gradient_is_finite(monkeypatch):
    prompts = random_prompts(4, seed=5, min_len=3, max_len=8)
    targets = [4, 8, 15, 16]
    nset = neuron_set(tiny_model("llama"), "ffn")
    full = prompt_attributions(_shrunk_gradients("llama", torch.float32), nset, prompts, targets, 0)
    monkeypatch.setattr(attribution_module, "_FLOAT16_TARGET", 2.0**24)  # the first scaled pass overflows
    monkeypatch.setattr(attribution_module, "_FLOAT16_MAX_SCALE", 2.0**60)
    calls = []
    real_grad = torch.autograd.grad

    def counting(outputs, *args, **kwargs):
        calls.append(float(outputs.detach()))
        return real_grad(outputs, *args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting)
    half = prompt_attributions(_shrunk_gradients("llama", torch.float16), nset, prompts, targets, 0)
    assert len(calls) > 3  # the unscaled pass, overflowing passes, the finite one
    np.testing.assert_allclose(half, full, rtol=0.05, atol=0.05 * np.abs(full).max())


def test_offloaded_layers_are_refused(tmp_path):
    folder = str(save_tiny_folder(tmp_path / "m"))
    plain, _ = load_model(folder, device="cpu")
    size = sum(p.numel() * p.element_size() for p in plain.parameters())
    split, _ = load_model(
        folder, device="auto", max_memory={"cpu": int(0.7 * size)}, offload_folder=str(tmp_path / "off")
    )
    assert "disk" in split.hf_device_map.values()
    with pytest.raises(ModelError, match=r"attribution scorer cannot run on a model with offloaded layers \(model\."):
        prompt_attributions(split, neuron_set(split, "ffn"), [[1, 5, 6]], [7], pad_token_id=0)
