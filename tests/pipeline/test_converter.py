"""The one mapping of configuration keys to the stages' dataclasses (pipeline.config.to_dataclass)."""

from __future__ import annotations

import dataclasses

import pytest

from relneurons.activations.config import CollectConfig
from relneurons.data import PAPER_RELATIONS
from relneurons.errors import ConfigError
from relneurons.experiments.spec import StudyConfig
from relneurons.expertise.config import IdentifyConfig
from relneurons.pipeline.config import FIELD_OF, SHARED_KEYS, load_config, to_dataclass
from relneurons.pipeline.run import collect_config

# A value of every mapped key that differs from the quick preset's, to see each key reach its field.
OTHER = {
    ("model", "name"): "smollm2-135m",
    ("model", "dtype"): "bfloat16",
    ("model", "device"): "cpu",
    ("model", "max_memory"): "cpu=1GiB",
    ("model", "offload_folder"): "/tmp/offload",
    ("data", "dir"): "/tmp/lre",
    ("data", "relations"): ["company_ceo", "star_constellation"],
    ("data", "templates"): [0, 1],
    ("data", "suffix"): ":",
    ("data", "bos"): "always",
    ("data", "chat"): True,
    ("data", "chat_positions"): "all",
    ("data", "rule"): "paper",
    ("data", "n_eval"): 7,
    ("data", "max_prompts_per_relation"): 9,
    ("data", "seed"): 5,
    ("neurons", "set"): "self_attn",
    ("neurons", "k"): 123,
    ("neurons", "negative_ratio"): 2,
    ("neurons", "min_positives"): 4,
    ("neurons", "memory_gb"): 1.5,
    ("neurons", "mean_bos"): False,
    ("experiments", "random_seeds"): 21,
    ("experiments", "max_det"): 11,
    ("experiments", "force"): "median",
    ("bootstrap", "n_boot"): 99,
    ("run", "chunk_prompts"): 64,
}


def test_the_quick_preset_gives_these_settings():
    """Written out by hand from presets/quick.toml and the dataclasses' defaults."""
    config = load_config("quick")
    assert collect_config(config, 8) == CollectConfig(
        model="gemma3-270m",
        relations=PAPER_RELATIONS,
        templates=(0,),
        n_eval=50,
        max_prompts_per_relation=150,
        batch_size=8,
    )
    assert to_dataclass(config, IdentifyConfig) == IdentifyConfig(k=0.0036)
    assert to_dataclass(config, StudyConfig, batch_size=8) == StudyConfig(
        k=0.0036, seeds=3, n_boot=1000, max_det=20, batch_size=8
    )


def test_every_mapped_key_is_tried_below():
    assert {(s, k) for s, keys in FIELD_OF.items() for k in keys} == set(OTHER)


@pytest.mark.parametrize("where", list(OTHER))
def test_every_key_reaches_its_field(where):
    section, key = where
    assert key in FIELD_OF.get(section, {}) or where in SHARED_KEYS
    value = OTHER[where]
    rendered = f"{section}.{key}={value!r}".replace("'", '"').replace("True", "true").replace("False", "false")
    config = load_config("quick", overrides=[rendered])
    base = load_config("quick")
    owner, name, _ = FIELD_OF[section][key]
    homes = [owner] + [c for c in (IdentifyConfig, StudyConfig) if where in SHARED_KEYS and c is not owner]
    for cls in homes:
        extra = {"batch_size": 8} if cls is StudyConfig else {}
        if cls is CollectConfig:
            before, after = collect_config(base, 8), collect_config(config, 8)
        else:
            before, after = to_dataclass(base, cls, **extra), to_dataclass(config, cls, **extra)
        changed = {f.name for f in dataclasses.fields(cls) if getattr(before, f.name) != getattr(after, f.name)}
        assert changed == {name}, (where, cls.__name__, changed)
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(after, name) == expected


def test_the_dataclass_rules_apply():
    config = load_config("quick")
    config["neurons"]["k"] = 2.5  # past the configuration check: the dataclass refuses it too
    with pytest.raises(ConfigError, match="option k must be a whole number when >= 1"):
        to_dataclass(config, IdentifyConfig)
