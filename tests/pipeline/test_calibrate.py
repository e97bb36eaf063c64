"""Prompt-style calibration with the real LRE data; the model is a tiny random one (fixture only), so rates are ~0:
these tests check the sample, the table and the messages, tests/integration/test_calibrate_smollm2.py the real model."""

import pandas as pd
import pytest
from tiny_models import CHAT_TEMPLATE, CHAT_TOKENS, save_tiny_folder

from relneurons.errors import ConfigError
from relneurons.pipeline.calibrate import (
    PAPER_STYLE,
    Style,
    best_style,
    calibrate,
    calibration_prompts,
    format_table,
    no_survivors_error,
    styles,
)

RELATIONS = ("company_hq", "star_constellation")


def test_every_suffix_is_measured_on_the_same_seeded_triples(lre_dir):
    a = calibration_prompts(lre_dir, RELATIONS, n=7, seed=3, suffix="? Answer:")
    b = calibration_prompts(lre_dir, RELATIONS, n=7, seed=3, suffix="")
    assert len(a) == 14 and a["relation"].value_counts().to_dict() == {"company_hq": 7, "star_constellation": 7}
    assert a[["relation", "subject", "object"]].equals(b[["relation", "subject", "object"]])
    assert (
        all(t.endswith("? Answer:") for t in a["text"])
        and [t.removesuffix("? Answer:") for t in a["text"]] == b["text"].tolist()
    )
    assert not a.equals(calibration_prompts(lre_dir, RELATIONS, n=7, seed=4))  # another seed, another sample
    assert a.equals(calibration_prompts(lre_dir, RELATIONS, n=7, seed=3))
    zs = calibration_prompts(lre_dir, RELATIONS, n=7, seed=3, template_set="zs")
    assert zs[["subject", "object"]].equals(a[["subject", "object"]]) and not zs["text"].equals(a["text"])
    with pytest.raises(ConfigError, match="n"):
        calibration_prompts(lre_dir, RELATIONS, n=0)


def test_styles_and_their_overrides():
    every = styles()
    assert len(every) == 20 and every[0].suffix == "? Answer:" and len(set(every)) == 20
    assert {s for s in every if s.chat} == {
        Style(x, t, "auto", True) for x in ("", "? Answer:") for t in ("standard", "zs")
    }
    assert PAPER_STYLE == Style("? Answer:", "standard", "auto", False)
    assert Style("", "zs", "never").overrides() == [
        'data.suffix=""',
        'data.templates="zs"',
        'data.bos="never"',
        "data.chat=false",
    ]
    from relneurons.pipeline import load_config

    config = load_config("quick", None, Style(" ", "zs", "always").overrides())  # the overrides are valid configuration
    assert (config["data"]["suffix"], config["data"]["templates"], config["data"]["bos"]) == (" ", "zs", "always")
    config = load_config("quick", None, Style("", "zs", "auto", True).overrides())
    assert config["data"]["chat"] is True and config["data"]["suffix"] == ""
    assert "chat template" in Style("", "zs", "auto", True).describe()


def test_best_style_and_table():
    table = pd.DataFrame(
        [
            {
                "suffix": "",
                "templates": "standard",
                "bos": "never",
                "n_prompts": 10,
                "n_correct": 4,
                "rate": 0.4,
                "relations_nonzero": 2,
            },
            {
                "suffix": "? Answer:",
                "templates": "standard",
                "bos": "never",
                "n_prompts": 10,
                "n_correct": 0,
                "rate": 0.0,
                "relations_nonzero": 0,
            },
        ]
    )
    assert best_style(table) == Style("", "standard", "never")
    assert best_style(table.iloc[1:]) is None and best_style(table.iloc[:0]) is None
    text = format_table(table, "m")
    assert '""' in text and "40.0%" in text and "4/10" in text


def test_calibrate_loads_once_and_reports_every_style(tmp_path, lre_dir, monkeypatch):
    import relneurons.model.loading as loading

    folder = str(save_tiny_folder(tmp_path / "model"))
    calls = []
    real = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    printed = []
    table = calibrate(folder, lre_dir, relations=RELATIONS, n=3, device="cpu", echo=printed.append)
    assert len(calls) == 1 and len(printed) == 2
    assert printed[1] == "chat styles left out: this model's tokenizer has no chat template (a base model?)"
    assert len(table) == 16 and (table["n_prompts"] == 6).all() and not table["chat"].any()
    assert table["rate"].is_monotonic_decreasing and ((table["rate"] >= 0) & (table["rate"] <= 1)).all()
    assert (table["rate"] == table["n_correct"] / table["n_prompts"]).all()


def test_calibrate_tries_the_chat_template_of_an_instruct_tokenizer(tmp_path, lre_dir):
    folder = str(save_tiny_folder(tmp_path / "model", chat_template=CHAT_TEMPLATE, special=CHAT_TOKENS))
    printed = []
    table = calibrate(folder, lre_dir, relations=RELATIONS, n=2, device="cpu", echo=printed.append)
    chat = table[table["chat"]]
    assert len(table) == 20 and len(printed) == 1 and "chat" in printed[0].splitlines()[1]
    assert set(zip(chat["suffix"], chat["templates"], chat["bos"])) == {
        (x, t, "auto") for x in ("", "? Answer:") for t in ("standard", "zs")
    }
    assert (table["n_prompts"] == 4).all()


def test_no_survivors_message_without_calibration_names_the_command():
    text = no_survivors_error("smollm2-135m", PAPER_STYLE, 0, 120, 10, calibrate_now=False)
    assert "no relation survived validation: 0 of 120" in text and "relneurons calibrate --model smollm2-135m" in text
    assert "'? Answer:'" in text and "\n" not in text
