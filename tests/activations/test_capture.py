import sys

import pytest
import torch
from tiny_models import CONFIGS, random_prompts, tiny_model

from relneurons.activations.capture import capture_batch, capture_means, capturing
from relneurons.model import generate_batch, neuron_set, pad_left
from relneurons.model.tokenization import TokenizerPolicy

POLICY = TokenizerPolicy(add_bos=False, bos_token_id=1, pad_token_id=0)


def _reference_means(model, nset, seq):
    """Unpadded single prompt, plain hooks, plain mean over tokens."""
    outs = {}
    handles = [
        model.get_submodule(s.path).register_forward_hook(
            lambda m, a, o, p=s.path, outs=outs: outs.__setitem__(p, o[0].mean(0))
        )
        for s in nset.sites
    ]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([seq]))
    finally:
        for h in handles:
            h.remove()
    return torch.cat([outs[s.path] for s in nset.sites])


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_padded_batch_equals_one_by_one(arch):
    model = tiny_model(arch)
    nset = neuron_set(model, "all")
    prompts = random_prompts(5, seed=3, min_len=1, max_len=11)
    with capturing(model, nset) as cap:
        together = capture_batch(model, cap, prompts, POLICY, max_new_tokens=2)
        alone = [capture_batch(model, cap, [p], POLICY, max_new_tokens=2) for p in prompts]
    for row, single in enumerate(alone):
        assert torch.equal(together.new_tokens[row], single.new_tokens[0])
        torch.testing.assert_close(together.means[row], single.means[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            together.means[row], _reference_means(model, nset, prompts[row]), rtol=1e-4, atol=1e-5
        )
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_capture_does_not_change_generation(arch):
    model = tiny_model(arch)
    prompts = random_prompts(4, seed=4)
    batch = pad_left(prompts, 0)
    plain = generate_batch(model, batch, 3)
    with capturing(model, neuron_set(model, "ffn")) as cap:
        captured = capture_batch(model, cap, prompts, POLICY, max_new_tokens=3)
    assert torch.equal(plain, captured.new_tokens)


def test_cache_and_no_cache_generate_the_same():
    model = tiny_model("gemma3")
    batch = pad_left(random_prompts(4, seed=5), 0)
    assert torch.equal(
        generate_batch(model, batch, 4, use_cache=True), generate_batch(model, batch, 4, use_cache=False)
    )


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gemma3"])
def test_capture_means_without_generation_matches_the_reference_in_input_order(arch):
    model = tiny_model(arch)
    nset = neuron_set(model, "all")
    prompts = random_prompts(7, seed=5, min_len=1, max_len=11)
    seen = []
    means = capture_means(model, nset, prompts, POLICY, batch_size=3, progress=seen.append)
    assert means.shape == (7, nset.size) and means.dtype.name == "float32"
    assert sum(seen) == 7
    for row, seq in enumerate(prompts):
        torch.testing.assert_close(
            torch.from_numpy(means[row]), _reference_means(model, nset, seq), rtol=1e-4, atol=1e-5
        )
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_mean_without_bos_is_the_plain_mean_over_the_prompt_tokens(arch):
    """mean_bos=False: each row's mean leaves out its BOS (position 0 after left padding), in both capture paths."""
    model = tiny_model(arch)
    nset = neuron_set(model, "ffn")
    prompts = random_prompts(5, seed=7, min_len=1, max_len=8)  # every prompt starts with BOS=1
    policy = TokenizerPolicy(add_bos=True, bos_token_id=1, pad_token_id=0, mean_bos=False)
    with capturing(model, nset) as cap:
        batched = capture_batch(model, cap, prompts, policy, max_new_tokens=2).means
    unbatched = torch.from_numpy(capture_means(model, nset, prompts, policy, batch_size=2))
    for row, seq in enumerate(prompts):
        outs = {}
        handles = [
            model.get_submodule(s.path).register_forward_hook(
                lambda m, a, o, p=s.path, outs=outs: outs.__setitem__(p, o[0, 1:].mean(0))
            )
            for s in nset.sites
        ]  # tokens after the BOS
        try:
            with torch.no_grad():
                model(input_ids=torch.tensor([seq]))
        finally:
            for h in handles:
                h.remove()
        reference = torch.cat([outs[s.path] for s in nset.sites])
        torch.testing.assert_close(batched[row], reference, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(unbatched[row], reference, rtol=1e-4, atol=1e-5)
    with_bos = capture_means(
        model, nset, prompts, TokenizerPolicy(add_bos=True, bos_token_id=1, pad_token_id=0), batch_size=2
    )
    assert not torch.allclose(torch.from_numpy(with_bos), unbatched)  # the option changes the means


def test_mean_without_bos_of_a_bos_only_prompt_is_refused():
    from relneurons.errors import DataError

    model = tiny_model("llama")
    policy = TokenizerPolicy(add_bos=True, bos_token_id=1, pad_token_id=0, mean_bos=False)
    with pytest.raises(DataError, match="mean_bos"):
        capture_means(model, neuron_set(model, "ffn"), [[1], [1, 5, 6]], policy)


@pytest.mark.parametrize("name", ["ffn", "all"])
def test_one_copy_to_the_cpu_per_batch_not_one_per_site(name, monkeypatch):
    """On a GPU every copy to the CPU waits for the device: relneurons copies the means once per batch (and the
    tokens once), however many sites the set has. (On this CPU-only machine the spy counts `.cpu()` calls made by
    relneurons code, the copies that would be transfers on a GPU.)"""
    model = tiny_model("llama")
    nset = neuron_set(model, name)
    copies = []
    real_cpu = torch.Tensor.cpu

    def cpu(self, *args, **kwargs):
        if sys._getframe(1).f_globals.get("__name__", "").startswith("relneurons."):
            copies.append(tuple(self.shape))
        return real_cpu(self, *args, **kwargs)

    prompts = random_prompts(3, seed=6)
    with capturing(model, nset) as cap:
        monkeypatch.setattr(torch.Tensor, "cpu", cpu)
        captured = capture_batch(model, cap, prompts, POLICY, max_new_tokens=2)
        monkeypatch.undo()
    assert len(nset.sites) >= 6
    assert sorted(copies) == sorted([(3, 2), (3, nset.size)])  # the new tokens, then every mean at once
    torch.testing.assert_close(captured.means[1], _reference_means(model, nset, prompts[1]), rtol=1e-4, atol=1e-5)
