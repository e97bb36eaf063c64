import pytest

from relneurons.errors import ConfigError
from relneurons.pipeline.config import SCHEMA, load_config


def test_presets_are_complete_and_valid():
    for name in ("quick", "paper"):
        config = load_config(name)
        assert set(config) == set(SCHEMA)
    assert load_config("paper")["neurons"]["k"] == 3000
    assert load_config("paper")["experiments"]["random_seeds"] == 240  # enough for Holm over 12 relations
    assert load_config("quick")["neurons"]["k"] < 1  # the paper's fraction, not 3,000


def test_overrides_parse_toml_values():
    config = load_config(
        "quick",
        overrides=["neurons.k=300", "experiments.k_sweep=[10, 20]", "model.name=smollm2-135m", 'data.templates="all"'],
    )
    assert config["neurons"]["k"] == 300 and config["experiments"]["k_sweep"] == [10, 20]
    assert config["model"]["name"] == "smollm2-135m" and config["data"]["templates"] == "all"


def test_chat_keys_reach_the_collect_settings():
    from relneurons.pipeline.run import collect_config

    plain = collect_config(load_config("quick"), 4)
    assert (plain.chat, plain.chat_positions) == (False, "content")
    chat = collect_config(load_config("quick", overrides=["data.chat=true", 'data.chat_positions="all"']), 4)
    assert (chat.chat, chat.chat_positions) == (True, "all")
    with pytest.raises(ConfigError, match='data.bos = "never" with data.chat = true'):
        collect_config(load_config("quick", overrides=["data.chat=true", 'data.bos="never"']), 4)


@pytest.mark.parametrize(
    "override, message",
    [
        ("neurons.kk=3", "unknown key neurons.kk (did you mean 'k'?)"),
        ("neuron.k=3", "unknown section 'neuron' (did you mean 'neurons'?)"),
        ("neurons.k=-1", "neurons.k = -1 must be a positive count"),
        ("neurons.k=2.5", "whole number"),
        ("data.n_eval=0", "data.n_eval = 0 must be >= 1"),
        ('data.n_eval="ten"', "must be of type int"),
        ("data.rule=strict", "must be one of 'robust', 'paper'"),
        ('experiments.run=["intra", "intre"]', "unknown experiment 'intre' (did you mean 'intra'?)"),
        ("run.batch_size=0", 'positive integer or "auto"'),
        ("experiments.force=loud", "zero"),
        ("nokey", "section.key=value"),
        ('data.chat_positions="prompt"', "must be one of 'content', 'all'"),
        ('data.chat="yes"', "data.chat = 'yes' must be of type bool"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        load_config("quick", overrides=[override])
    assert message in str(info.value)


def test_user_file_unknown_key_and_section(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[neurons]\nk = 100\nnegativ_ratio = 2\n")
    with pytest.raises(
        ConfigError, match=r"study.toml: unknown key neurons.negativ_ratio \(did you mean 'negative_ratio'\?\)"
    ):
        load_config("quick", path)
    path.write_text("[neuron]\nk = 100\n")
    with pytest.raises(ConfigError, match="unknown section \\[neuron\\]"):
        load_config("quick", path)
    path.write_text("[neurons\nk = 100\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config("quick", path)
    path.write_text("[neurons]\nk = 100\n")
    assert load_config("quick", path)["neurons"]["k"] == 100


def test_without_preset_the_keys_without_a_default_are_required(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text("[neurons]\nk = 100\n")
    with pytest.raises(
        ConfigError, match=r"missing keys experiments.run, run.batch_size, run.out \(start from a preset"
    ):
        load_config(None, path)


def test_a_key_left_out_takes_its_dataclass_default(tmp_path):
    """The defaults of [model], [data], [neurons], ... are CollectConfig's, IdentifyConfig's and StudyConfig's fields:
    a configuration giving only the keys without a default builds the dataclasses' defaults (through the run's own
    mapping of "" / 0 / "paper" to None for collect)."""
    from relneurons.activations.collect import CollectConfig
    from relneurons.data import PAPER_RELATIONS
    from relneurons.experiments.spec import StudyConfig
    from relneurons.expertise.identify import IdentifyConfig
    from relneurons.pipeline.run import collect_config

    path = tmp_path / "study.toml"
    path.write_text('[experiments]\nrun = ["layers"]\n[run]\nbatch_size = 7\nout = "runs/x"\n')
    config = load_config(None, path)
    assert collect_config(config, 7) == CollectConfig(relations=tuple(PAPER_RELATIONS), batch_size=7)
    n, e = config["neurons"], config["experiments"]
    assert (
        IdentifyConfig(
            k=n["k"],
            negative_ratio=n["negative_ratio"],
            min_positives=n["min_positives"],
            seed=config["data"]["seed"],
            memory_gb=n["memory_gb"] or None,
        )
        == IdentifyConfig()
    )
    assert StudyConfig(
        k=n["k"],
        seeds=e["random_seeds"],
        n_boot=config["bootstrap"]["n_boot"],
        max_det=e["max_det"],
        force=e["force"],
        batch_size=7,
        seed=config["data"]["seed"],
    ) == StudyConfig(batch_size=7)


def test_every_key_with_a_default_names_an_existing_field():
    import dataclasses

    from relneurons.pipeline.config import CORE_DEFAULTS, FIELD_OF

    for section, keys in FIELD_OF.items():
        assert set(keys) <= set(SCHEMA[section]), section
        for key, (cls, field, _) in keys.items():
            assert field in {f.name for f in dataclasses.fields(cls)}, (section, key)
    assert CORE_DEFAULTS["neurons"]["k"] == 3000 and CORE_DEFAULTS["data"]["max_prompts_per_relation"] == 0  # None -> 0


@pytest.mark.parametrize("name", ["quick", "paper"])
def test_presets_only_override_defaults(name):
    """A preset that repeats a default (n_eval = 50) would hide where the default lives: every key it sets differs."""
    from importlib import resources

    from relneurons.pipeline.config import CORE_DEFAULTS, OPTION_DEFAULTS, tomllib

    raw = tomllib.loads(resources.files("relneurons").joinpath("resources", "presets", f"{name}.toml").read_text())
    repeated = [
        f"{section}.{key}"
        for section, table in raw.items()
        for key, value in table.items()
        if key in {**CORE_DEFAULTS.get(section, {}), **OPTION_DEFAULTS.get(section, {})}
        and value == {**CORE_DEFAULTS.get(section, {}), **OPTION_DEFAULTS.get(section, {})}[key]
    ]
    assert repeated == []


def test_cli_rejects_bad_config_before_loading_a_model(tmp_path, capsys):
    from relneurons.cli import main

    with pytest.raises(SystemExit) as info:
        main(["run", "--set", "model.name=no/such-model", "--set", "neurons.kk=1", "--out", str(tmp_path / "r")])
    assert info.value.code == 2 and "neurons.kk" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_collect_key_leaves_out_chat_settings_without_chat():
    """A run folder collected before the chat settings existed resumes: its collect key is the hash of the
    settings it had (everything but placement), recomputed here by hand."""
    import dataclasses
    import hashlib
    import json

    from relneurons.pipeline.run import collect_config, collect_key

    plain = collect_config(load_config("quick"), 4)
    before_chat = {
        f.name: getattr(plain, f.name)
        for f in dataclasses.fields(plain)
        if f.name not in ("device", "data_dir", "max_memory", "offload_folder", "chat", "chat_positions")
    }
    by_hand = hashlib.sha256(json.dumps(["collect", before_chat], sort_keys=True, default=str).encode()).hexdigest()
    assert collect_key(plain) == by_hand[:16]
    assert collect_key(dataclasses.replace(plain, chat_positions="all")) == collect_key(plain)  # unused without chat
    chat = dataclasses.replace(plain, chat=True)
    assert collect_key(chat) != collect_key(plain)
    assert collect_key(dataclasses.replace(chat, chat_positions="all")) != collect_key(chat)
