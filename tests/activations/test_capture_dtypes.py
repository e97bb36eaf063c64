"""Generation and capture in float16 and bfloat16 on the CPU, against the same tiny models in float32.

A GPU run loads checkpoints in their own dtype (often bfloat16 or float16); these are the CPU stand-ins for
that path: the hooks see 16-bit outputs, and the means must still be float32 sums (float16 overflows at 65504).
"""

import numpy as np
import pytest
import torch
from tiny_models import CONFIGS, random_prompts, tiny_model

from relneurons.activations.capture import capture_batch, capture_means, capturing
from relneurons.model import neuron_set
from relneurons.model.tokenization import TokenizerPolicy

POLICY = TokenizerPolicy(add_bos=False, bos_token_id=1, pad_token_id=0)
PROMPTS = random_prompts(24, seed=7, min_len=3, max_len=12)
HALF = [torch.float16, torch.bfloat16]


def _capture(model, nset, prompts, new_tokens=3, batch_size=8):
    with capturing(model, nset) as capture:
        batches = [
            capture_batch(model, capture, prompts[i : i + batch_size], POLICY, new_tokens)
            for i in range(0, len(prompts), batch_size)
        ]
    return torch.cat([b.new_tokens for b in batches]).numpy(), torch.cat([b.means for b in batches]).numpy()


@pytest.mark.parametrize("dtype", HALF)
def test_capture_means_and_generations_follow_float32(dtype):
    """Means within a few units in the last place of the dtype (relative to the largest mean), answers mostly equal."""
    agree = []
    for arch in CONFIGS:
        tokens32, means32 = _capture(tiny_model(arch), neuron_set(tiny_model(arch), "all"), PROMPTS)
        model = tiny_model(arch).to(dtype)
        tokens, means = _capture(model, neuron_set(model, "all"), PROMPTS)
        assert model.dtype == dtype and means.dtype == np.float32 and np.isfinite(means).all()
        # measured: at most 3.3 eps (float16) and 4.1 eps (bfloat16) over these nine architectures
        tolerance = 8 * torch.finfo(dtype).eps * np.abs(means32).max()
        assert np.abs(means - means32).max() <= tolerance, arch
        agree.append((tokens == tokens32).all(axis=1))
    assert np.mean(agree) >= 0.9  # measured 0.98 (float16), 0.96 (bfloat16): near-ties of random models may flip


@pytest.mark.parametrize("dtype", HALF)
def test_means_are_summed_in_float32_where_float16_would_overflow(dtype):
    """up_proj x 1000 and down_proj / 1000 in one layer: the model computes the same, the site's outputs are 1000x
    larger, and their sum over a long prompt passes float16's 65504, while the mean does not."""
    prompts = random_prompts(4, seed=3, min_len=100, max_len=120)

    def scaled(dtype):
        model = tiny_model("llama")
        with torch.no_grad():
            model.model.layers[1].mlp.up_proj.weight.mul_(1000.0)
            model.model.layers[1].mlp.down_proj.weight.div_(1000.0)
        return model.to(dtype)

    reference = scaled(torch.float32)
    site = neuron_set(reference, "up_proj")
    expected = capture_means(reference, site, prompts, POLICY, batch_size=2)
    column_sums = np.abs(expected).max(axis=0) * 100
    assert column_sums.max() > 65504  # a float16 running sum of this site would overflow
    model = scaled(dtype)
    got = capture_means(model, neuron_set(model, "up_proj"), prompts, POLICY, batch_size=2)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=8 * torch.finfo(dtype).eps * np.abs(expected).max())
