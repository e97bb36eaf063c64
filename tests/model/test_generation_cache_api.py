"""Generation uses the KV-cache API of the installed transformers, and the test suite turns a
FutureWarning from the project's own calls into an error (pyproject's filterwarnings)."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

from relneurons.model import greedy_generate, load_model, make_policy, pad_left, token_ids
from relneurons.model.generation import _forward_options, generate_batch
from tests.tiny_models import save_tiny_folder

TEXTS = ["The headquarters of Acme are in", "Paris? Answer:", "city of"]


@pytest.fixture(scope="module", params=["gemma3", "llama"])
def tiny(request, tmp_path_factory):
    folder = save_tiny_folder(tmp_path_factory.mktemp(request.param) / "m", request.param)
    model, tokenizer = load_model(str(folder), device="cpu")
    return model, tokenizer


def test_the_cache_argument_is_the_one_forward_declares(tiny):
    model, _ = tiny
    extra, key = _forward_options(model)
    assert key in inspect.signature(model.forward).parameters
    assert extra == {"logits_to_keep": 1}


def test_generation_warns_nothing_and_matches_the_uncached_loop(tiny):
    model, tokenizer = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning at all, FutureWarning or transformers' own deprecation
        cached = greedy_generate(model, tokenizer, TEXTS, 4)
    assert cached == greedy_generate(model, tokenizer, TEXTS, 4, use_cache=False)


def test_generation_logs_no_deprecation(tiny, caplog):
    """transformers reports the old cache name through its logger too (once per process, so checked per call)."""
    model, tokenizer = tiny
    policy = make_policy(tokenizer, model.config.model_type)
    batch = pad_left(token_ids(tokenizer, policy, TEXTS), policy.pad_token_id)
    with caplog.at_level("WARNING"):
        generate_batch(model, batch, 3)
    assert "deprecated" not in caplog.text


def test_a_deprecated_model_argument_fails_the_suite(tiny):
    """The filter fires: the old keyword, deprecated by transformers, raises instead of warning."""
    model, tokenizer = tiny
    _, key = _forward_options(model)
    if key != "cache":
        pytest.skip("this transformers release has no `cache` argument: `past_key_values` is not deprecated in it")
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        with pytest.raises(FutureWarning, match="past_key_values"):
            model(input_ids=ids[:, -1:], past_key_values=out.cache, use_cache=True)


def test_a_future_warning_raised_in_a_relneurons_module_fails_the_suite():
    with pytest.raises(FutureWarning):
        warnings.warn_explicit("old API", FutureWarning, "generation.py", 1, module="relneurons.model.generation")
    with warnings.catch_warnings(record=True) as seen:  # other libraries' own FutureWarnings are not the project's
        warnings.warn_explicit("their old API", FutureWarning, "x.py", 1, module="somelib.x")
    assert len(seen) == 1
