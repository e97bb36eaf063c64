"""A model split by device_map="auto" + max_memory (here: CPU and disk offload) behaves exactly like a plain load.

On a CPU-only machine accelerate can still split a model: layers that do not
fit `max_memory["cpu"]` are offloaded to disk and brought to the execution
device for each forward pass, their parameters sitting on "meta" in between,
which is the same mechanism as GPU + CPU offload. Hooks (capture, deactivate,
per-row conditions) and input placement must follow the execution device.
"""

import numpy as np
import pytest
import torch
from tiny_models import save_tiny_folder

from relneurons.activations.capture import capture_means
from relneurons.errors import ModelError
from relneurons.intervention.hooks import Condition, conditions, deactivate
from relneurons.model import load_model, neuron_set
from relneurons.model.generation import greedy_generate, input_device, offloaded_modules
from relneurons.model.loading import parse_max_memory
from relneurons.model.tokenization import make_policy, token_ids

PROMPTS = ["The headquarters of Acme are in the city of? Answer:", "Paris", "Answer: the city of Acme"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = str(save_tiny_folder(tmp_path_factory.mktemp("tiny") / "model"))
    plain, tokenizer = load_model(folder, device="cpu")
    size = sum(p.numel() * p.element_size() for p in plain.parameters())
    for fraction in (0.8, 0.7, 0.9, 0.6):  # a CPU budget that keeps some layers in memory and sends others to disk
        split, _ = load_model(
            folder,
            device="auto",
            max_memory={"cpu": int(fraction * size)},
            offload_folder=str(tmp_path_factory.mktemp("offload")),
        )
        placed = set(getattr(split, "hf_device_map", {}).values())
        if placed == {"cpu", "disk"}:
            return plain, split, tokenizer
    pytest.fail(
        f"no CPU budget split the tiny model between cpu and disk (last map: {getattr(split, 'hf_device_map', None)})"
    )


def test_the_model_is_really_split(models):
    _, split, _ = models
    layers = {name: place for name, place in split.hf_device_map.items() if "layers" in name}
    assert "disk" in split.hf_device_map.values()
    offloaded = [
        m
        for name, m in split.named_modules()
        if name.endswith("mlp.up_proj") and next(m.parameters()).device.type == "meta"
    ]
    assert offloaded, f"no FFN site is offloaded: {layers}"
    assert input_device(split) == torch.device("cpu")
    on_disk = [name for name, place in split.hf_device_map.items() if place == "disk"]
    assert offloaded_modules(split) == on_disk  # the cpu layers compute where they are: not offloaded on a CPU
    assert offloaded_modules(models[0]) == []


def test_generations_and_captured_means_equal_the_plain_load(models):
    plain, split, tokenizer = models
    assert greedy_generate(split, tokenizer, PROMPTS, 3, batch_size=2) == greedy_generate(
        plain, tokenizer, PROMPTS, 3, batch_size=2
    )
    policy = make_policy(tokenizer, plain.config.model_type)
    sequences = token_ids(tokenizer, policy, PROMPTS)
    expected = capture_means(plain, neuron_set(plain, "ffn"), sequences, policy, batch_size=2)
    got = capture_means(split, neuron_set(split, "ffn"), sequences, policy, batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _logits(model, tokenizer):
    policy = make_policy(tokenizer, model.config.model_type)
    ids = torch.tensor([token_ids(tokenizer, policy, PROMPTS[:1])[0]], device=input_device(model))
    with torch.inference_mode():
        return model(input_ids=ids).logits.cpu()


def test_interventions_on_offloaded_layers_equal_the_plain_load(models):
    plain, split, tokenizer = models
    everything = neuron_set(plain, "all")
    last_layer = [
        s for s in everything.sites if s.layer == plain.config.num_hidden_layers - 1 and s.module.endswith("up_proj")
    ][0]
    ids = np.arange(last_layer.offset, last_layer.offset + 10)  # units of an offloaded site
    base = _logits(plain, tokenizer)
    with deactivate(plain, ids, 0.5):
        expected = _logits(plain, tokenizer)
    with deactivate(split, ids, 0.5):
        got = _logits(split, tokenizer)
    assert not torch.allclose(expected, base)  # the edit matters
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    with conditions(split, [Condition("edit", ids, 0.5)]) as batch:
        batch.select([0])
        torch.testing.assert_close(_logits(split, tokenizer), expected, rtol=1e-5, atol=1e-5)


def test_max_memory_forms_and_errors(tmp_path):
    assert parse_max_memory("0=20GiB, cpu=60GiB") == {0: "20GiB", "cpu": "60GiB"}
    assert parse_max_memory({"1": "5GB", "disk": 10**9}) == {1: "5GB", "disk": 10**9}
    assert parse_max_memory("") is None and parse_max_memory(None) is None
    with pytest.raises(ModelError, match="unknown device 'gpu0'"):
        parse_max_memory({"gpu0": "1GiB"})
    with pytest.raises(ModelError, match="size 'lots' of device 'cpu'"):
        parse_max_memory("cpu=lots")
    with pytest.raises(ModelError, match="device=size"):
        parse_max_memory("20GiB")
    with pytest.raises(ModelError, match="need device = 'auto'"):
        load_model("unused", device="cpu", max_memory={"cpu": "1GiB"})


def test_offload_refused_by_transformers_is_a_clear_error(models, monkeypatch):
    """transformers refuses disk offload without a folder for some checkpoints: the user is told which key to set."""
    import transformers

    def refuse(*args, **kwargs):
        raise ValueError(
            "The current `device_map` had weights offloaded to the disk. Please provide an `offload_folder` for them."
        )

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    with pytest.raises(
        ModelError, match=r"does not fit in max_memory = \{'cpu': 1000\}: set an offload folder \(model.offload_folder"
    ):
        load_model(models[0].name_or_path, device="auto", max_memory={"cpu": 1000})


def test_config_keys_reach_the_collect_config():
    from relneurons.errors import ConfigError
    from relneurons.pipeline.config import load_config
    from relneurons.pipeline.run import collect_config

    config = load_config(
        "quick",
        overrides=["model.device=auto", "model.max_memory=0=20GiB,cpu=60GiB", "model.offload_folder=/scratch/off"],
    )
    collect = collect_config(config, 8)
    assert (collect.device, collect.max_memory, collect.offload_folder) == ("auto", "0=20GiB,cpu=60GiB", "/scratch/off")
    assert collect_config(load_config("quick"), 8).max_memory is None
    with pytest.raises(
        ConfigError, match=r"model.max_memory = 'gpu0=1GiB' is not valid: max_memory: unknown device 'gpu0'"
    ):
        load_config("quick", overrides=["model.max_memory=gpu0=1GiB"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: a GPU + CPU split by max_memory")
def test_cuda_and_cpu_split_equals_the_plain_load(tmp_path):
    """max_memory = {0: part of the model, cpu: the rest}: the CPU layers are offloaded (weights on "meta",
    brought to cuda:0 for each pass), inputs and hooks go to cuda:0, and the logits equal a plain CPU load's."""
    from relneurons.expertise.attribution import prompt_attributions

    folder = str(save_tiny_folder(tmp_path / "model"))
    plain, tokenizer = load_model(folder, device="cpu")
    size = sum(p.numel() * p.element_size() for p in plain.parameters())
    for fraction in (0.5, 0.4, 0.6, 0.3, 0.7):
        split, _ = load_model(folder, device="auto", max_memory={0: int(fraction * size), "cpu": 10 * size})
        if set(getattr(split, "hf_device_map", {}).values()) == {0, "cpu"}:
            break
    else:
        pytest.fail(
            f"no GPU budget split the tiny model between cuda:0 and cpu: {getattr(split, 'hf_device_map', None)}"
        )
    assert input_device(split) == torch.device("cuda", 0)
    on_cpu = [name for name, place in split.hf_device_map.items() if place == "cpu"]
    assert offloaded_modules(split) == on_cpu
    base = _logits(plain, tokenizer)
    torch.testing.assert_close(_logits(split, tokenizer), base, rtol=1e-4, atol=1e-4)
    ids = neuron_set(plain, "ffn").global_ids[-20:]  # units of the last layer
    with deactivate(plain, ids, 0.5):
        expected = _logits(plain, tokenizer)
    with deactivate(split, ids, 0.5):
        got = _logits(split, tokenizer)
    assert not torch.allclose(expected, base)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelError, match="offloaded layers"):
        prompt_attributions(split, neuron_set(split, "ffn"), [[1, 5, 6]], [7], pad_token_id=0)
