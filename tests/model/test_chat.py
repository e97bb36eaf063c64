"""Chat prompts (model/tokenization.py, docs/method.md "Chat prompts"): on a tiny random model whose tokenizer has a
hand-written chat template, the prompt is the template's rendering of one user turn with the assistant turn opened,
token means average the user's content only (or every token), and greedy generation continues the assistant turn."""

import pytest
import torch
from tiny_models import CHAT_TEMPLATE, CHAT_TOKENS, save_tiny_folder

from relneurons.activations.capture import capture_batch, capturing
from relneurons.activations.config import CollectConfig
from relneurons.errors import ConfigError, DataError
from relneurons.model import greedy_generate, load_model, neuron_set
from relneurons.model.tokenization import make_policy, mean_mask, pad_left, token_ids

# what tiny_models.CHAT_TEMPLATE writes around a user message, by hand
BEFORE = "<s><|system|>\nAnswer in one word.<|end|>\n<|user|>\n"
AFTER = "<|end|>\n<|assistant|>\n"
TEXTS = ["The headquarters of Acme are in the city of", "Acme is in? Answer:"]


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    folder = save_tiny_folder(
        tmp_path_factory.mktemp("chat") / "model", chat_template=CHAT_TEMPLATE, special=CHAT_TOKENS
    )
    return load_model(str(folder), device="cpu")


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    return load_model(str(save_tiny_folder(tmp_path_factory.mktemp("base") / "model")), device="cpu")


def test_the_prompt_is_the_templates_user_turn_with_the_assistant_turn_opened(chat_model):
    model, tokenizer = chat_model
    policy = make_policy(tokenizer, model.config.model_type, chat=True)
    ids = token_ids(tokenizer, policy, TEXTS)
    for text, row in zip(TEXTS, ids):
        assert tokenizer.decode(row) == BEFORE + text + AFTER
        assert row == tokenizer(BEFORE + text + AFTER, add_special_tokens=False).input_ids
        reference = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True, return_dict=True
        )
        assert row == list(reference["input_ids"])
        assert row.count(tokenizer.bos_token_id) == 1  # the template's BOS, none added


def _content_positions(tokenizer, text: str) -> list[int]:
    """Positions of the user's text, from the character offsets of the whole chat (independent of the policy)."""
    encoded = tokenizer(BEFORE + text + AFTER, add_special_tokens=False, return_offsets_mapping=True)
    start, end = len(BEFORE), len(BEFORE) + len(text)
    return [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if start <= a and b <= end and b > a]


def test_token_means_average_the_users_content_only_or_every_token(chat_model):
    model, tokenizer = chat_model
    content = make_policy(tokenizer, model.config.model_type, chat=True)
    every = make_policy(tokenizer, model.config.model_type, chat=True, chat_positions="all")
    batch = pad_left(token_ids(tokenizer, content, TEXTS), content.pad_token_id)
    mask = mean_mask(batch, content)
    width = batch.input_ids.shape[1]
    for row, text in enumerate(TEXTS):
        chosen = mask[row].nonzero().flatten().tolist()
        pad = width - int(batch.attention_mask[row].sum())
        assert chosen == [pad + i for i in _content_positions(tokenizer, text)]
        assert tokenizer.decode(batch.input_ids[row][mask[row]]) == text
    assert torch.equal(mean_mask(batch, every), batch.attention_mask.bool())


def test_captured_means_are_the_mean_over_the_content_tokens(chat_model):
    model, tokenizer = chat_model
    policy = make_policy(tokenizer, model.config.model_type, chat=True)
    nset = neuron_set(model, "ffn")
    site = nset.sites[0]
    with capturing(model, nset) as capture:
        got = capture_batch(model, capture, token_ids(tokenizer, policy, TEXTS), policy).means
    for row, text in enumerate(TEXTS):  # one prompt at a time, unpadded, a plain hook
        ids = tokenizer(BEFORE + text + AFTER, add_special_tokens=False).input_ids
        seen = []
        handle = model.get_submodule(site.path).register_forward_hook(lambda m, a, out, seen=seen: seen.append(out[0]))
        with torch.no_grad():
            model(input_ids=torch.tensor([ids]))
        handle.remove()
        want = seen[0][_content_positions(tokenizer, text)].float().mean(0)
        torch.testing.assert_close(got[row, : site.width], want, rtol=1e-4, atol=1e-5)


def test_generation_continues_the_assistant_turn(chat_model):
    model, tokenizer = chat_model
    policy = make_policy(tokenizer, model.config.model_type, chat=True)
    got = greedy_generate(model, tokenizer, TEXTS, 3, policy=policy, batch_size=2)
    for text, generated in zip(TEXTS, got):  # reference: plain greedy steps after the hand-written chat
        ids = tokenizer(BEFORE + text + AFTER, add_special_tokens=False).input_ids
        with torch.no_grad():
            for _ in range(3):
                ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
        assert generated == tokenizer.decode(ids[-3:], skip_special_tokens=True)


def test_chat_refuses_what_it_cannot_frame(chat_model, base_model, tmp_path):
    model, tokenizer = base_model
    with pytest.raises(ConfigError, match="no chat template.*data.chat = false"):
        make_policy(tokenizer, model.config.model_type, chat=True)
    model, tokenizer = chat_model
    with pytest.raises(ConfigError, match='data.bos = "never" with data.chat = true'):
        make_policy(tokenizer, model.config.model_type, bos="never", chat=True)
    with pytest.raises(ConfigError, match='data.bos = "always" with data.chat = true'):
        CollectConfig(bos="always", chat=True)
    with pytest.raises(ConfigError, match="chat_positions"):
        CollectConfig(chat=True, chat_positions="prompt")
    tokenizer.chat_template = "{{ messages[0]['content'] | trim }}"
    policy = make_policy(tokenizer, model.config.model_type, chat=True)
    with pytest.raises(DataError, match="changes the prompt 'Acme is in '"):
        token_ids(tokenizer, policy, ["Acme is in "])
    tokenizer.chat_template = "no message here"
    with pytest.raises(ConfigError, match="does not write the user's message"):
        make_policy(tokenizer, model.config.model_type, chat=True)
    tokenizer.chat_template = CHAT_TEMPLATE


def test_a_template_whose_text_merges_with_the_prompt_needs_all_positions():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["User: The city of The The"] * 8,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<pad>", "<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")
    tokenizer.chat_template = "User: {{ messages[0]['content'] }}\nAssistant:"  # " " + "The" is one token, " The"
    with pytest.raises(DataError, match='data.chat_positions = "all"'):
        token_ids(tokenizer, make_policy(tokenizer, chat=True), ["The city of"])
    every = make_policy(tokenizer, chat=True, chat_positions="all")
    assert tokenizer.decode(token_ids(tokenizer, every, ["The city of"])[0]) == "User: The city of\nAssistant:"
