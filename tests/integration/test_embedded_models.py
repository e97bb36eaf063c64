"""The two real models shipped on PyPI: load, generate, count (slow: converts GGUF once per cache)."""

import pytest

from relneurons import count_neurons, is_correct, load_model
from relneurons.model import greedy_generate

pytestmark = pytest.mark.integration

PROMPTS = [
    ("The Eiffel Tower is located in the country of? Answer:", "France"),
    ("Microsoft is headquartered in the city of? Answer:", "Redmond"),
    ("Sirius is part of the constellation named? Answer:", "Canis Major"),
    ("Lionel Messi plays the sport of? Answer:", "soccer"),
]


@pytest.mark.parametrize("alias, ffn", [("gemma3-270m", 85_248), ("smollm2-135m", 109_440)])
def test_embedded_model_loads_generates_and_counts(alias, ffn):
    model, tokenizer = load_model(alias, device="cpu")
    assert count_neurons(model, "ffn") == ffn
    texts = [p for p, _ in PROMPTS]
    together = greedy_generate(model, tokenizer, texts, 2, batch_size=4)
    alone = [greedy_generate(model, tokenizer, [t], 2)[0] for t in texts]
    assert together == alone
    assert all(isinstance(t, str) and t for t in together)
    if alias == "gemma3-270m":  # seen here: France, Redmond, Sagittarius (wrong), ...
        assert sum(is_correct(g, obj) for g, (_, obj) in zip(together, PROMPTS)) >= 2


def _parts_missing(alias: str) -> bool:
    from relneurons.model.loading import ALIASES
    from relneurons.model.parts import part_problems

    return bool(part_problems(ALIASES[alias].parts))


@pytest.mark.skipif(
    _parts_missing("qwen2.5-coder-1.5b"),
    reason="qwen2.5-coder-1.5b (1.1 GB, on request) is not installed: `relneurons models install qwen2.5-coder-1.5b`",
)
def test_the_model_in_parts_loads_and_answers():
    """Assembled from its 22 packages and converted on first use (minutes), then loaded from the cache."""
    model, tokenizer = load_model("qwen2.5-coder-1.5b", device="cpu")
    assert count_neurons(model, "ffn") == 28 * (2 * 8960 + 1536)  # Qwen2.5-1.5B: 28 layers, FFN 8960, hidden 1536
    (answer,) = greedy_generate(model, tokenizer, [PROMPTS[0][0]], 2)
    assert is_correct(answer, "France"), answer  # seen here: " France."
