"""Tiny randomly initialised models of every supported architecture (no download).

Fixtures for unit tests only: their outputs are meaningless, their module
graphs are the real ones from transformers.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    Gemma3TextConfig,
    GemmaConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    Qwen3Config,
)

VOCAB = 96
_COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)

CONFIGS = {
    "llama": lambda: LlamaConfig(**_COMMON),
    "mistral": lambda: MistralConfig(**_COMMON),
    "qwen2": lambda: Qwen2Config(**_COMMON),
    "qwen3": lambda: Qwen3Config(**_COMMON, head_dim=8),
    "gemma": lambda: GemmaConfig(**_COMMON, head_dim=8),
    "gemma2": lambda: Gemma2Config(**_COMMON, head_dim=8, sliding_window=16),
    "gemma3": lambda: Gemma3TextConfig(**_COMMON, head_dim=8, sliding_window=16),
    "gpt2": lambda: GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=128, bos_token_id=1, eos_token_id=2
    ),
    "gpt_neox": lambda: GPTNeoXConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    ),
}

# Expected per-layer FFN / attention widths, written from the configs above by hand.
EXPECTED_FFN_PER_LAYER = {
    "llama": 48 + 48 + 32,
    "mistral": 48 + 48 + 32,
    "qwen2": 48 + 48 + 32,
    "qwen3": 48 + 48 + 32,
    "gemma": 48 + 48 + 32,
    "gemma2": 48 + 48 + 32,
    "gemma3": 48 + 48 + 32,
    "gpt2": 4 * 32 + 32,
    "gpt_neox": 48 + 32,
}
EXPECTED_ATTN_PER_LAYER = {
    "llama": 32 + 16 + 16 + 32,
    "mistral": 32 + 16 + 16 + 32,
    "qwen2": 32 + 16 + 16 + 32,
    "qwen3": 32 + 16 + 16 + 32,
    "gemma": 32 + 16 + 16 + 32,
    "gemma2": 32 + 16 + 16 + 32,
    "gemma3": 32 + 16 + 16 + 32,
    "gpt2": 3 * 32 + 32,
    "gpt_neox": 3 * 32 + 32,
}


def tiny_model(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(CONFIGS[arch]())
    # Random init gives near-zero biases/weights in places; scale up so units differ visibly.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval().requires_grad_(False)


def random_prompts(n: int, seed: int = 0, min_len: int = 2, max_len: int = 9) -> list[list[int]]:
    """Token id lists of varied length (ids 3.. so no pad/bos/eos), starting with BOS=1."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
        out.append([1] + torch.randint(3, VOCAB, (length,), generator=g).tolist())
    return out


#: A hand-written chat template (system prompt, role markers as special tokens, the assistant turn opened on request)
#: and its special tokens, for an instruct-like tiny tokenizer: save_tiny_folder(..., CHAT_TEMPLATE, CHAT_TOKENS).
CHAT_TEMPLATE = (
    "{{ bos_token }}<|system|>\nAnswer in one word.<|end|>\n"
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


def save_tiny_folder(
    folder, arch: str = "llama", corpus: list[str] | None = None, chat_template: str | None = None, special=()
):
    """A complete HF model folder (random tiny model + a small BPE tokenizer trained here), for CLI tests.

    `chat_template`: a jinja chat template for the tokenizer (an instruct model's); `special`: extra special tokens
    (its role markers), each one token id."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = corpus or ["The headquarters of Acme are in the city of Paris? Answer: Paris"] * 4
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>", *special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=list(special),
    )
    fast.chat_template = chat_template
    config = CONFIGS[arch]()
    config.vocab_size = len(fast)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
