"""The study configuration: a TOML file (or a shipped preset) plus command-line overrides, validated up front.

Every key is checked before any model is loaded: unknown keys are named with a
"did you mean", values are checked for type and range. Sections and keys:

    [model]        name, dtype, device, max_memory, offload_folder
    [data]         dir, relations, templates, suffix, bos, chat, chat_positions, rule, n_eval,
                   max_prompts_per_relation, seed
    [neurons]      set, k, negative_ratio, min_positives, memory_gb, mean_bos
    [experiments]  run, random_seeds, max_det, force, and the core experiments' options k_sweep, error_tokens
    [bootstrap]    n_boot
    [run]          batch_size, chunk_prompts, out
    [<experiment>] the options of each experiment that has options ([multilingual], [templates], ...)

Defaults live once, in the dataclasses that check the options: a key left out takes its default, so presets
only override. The experiments' sections and keys, their checks and defaults are derived from the experiment specs
(experiments/registry.py, `SPECS`); the other keys' defaults (`CORE_DEFAULTS`) are the fields of CollectConfig,
IdentifyConfig and StudyConfig (`FIELD_OF`). Keys that have no single default (experiments.run, run.batch_size,
run.out) are given by a preset; a configuration without preset must give them.
An empty string means "the default" for optional text values, 0 for optional counts (TOML has no null).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from importlib import resources
from pathlib import Path

from ..activations.config import CollectConfig
from ..data.correctness import RULES
from ..data.names import TEMPLATE_CHOICES
from ..errors import ConfigError, did_you_mean
from ..experiments import registry
from ..experiments.registry import NEURON_SETS
from ..experiments.spec import Key, StudyConfig, force_value
from ..experiments.spec import choice as _choice
from ..experiments.spec import k_value as _k
from ..experiments.spec import positive as _positive
from ..expertise.config import IdentifyConfig
from ..model.names import BOS_CHOICES, CHAT_POSITIONS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PRESETS = ("quick", "paper")
DEFAULT_PRESET = "quick"


def _templates(v):
    if isinstance(v, str):
        return _choice(*TEMPLATE_CHOICES)(v)
    return (
        None
        if v and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
        else "must be icl (the paper's: LRE prompt_templates), zs, all, or a list of indices into prompt_templates"
    )


def _relations(v):
    if isinstance(v, str):
        return None if v == "paper" else 'must be "paper" or a list of relation names/files'
    return (
        None if v and all(isinstance(r, str) and r for r in v) else "must be a non-empty list of relation names/files"
    )


def _experiments(v):
    if isinstance(v, str):
        return None if v == "all" else 'must be "all" or a list of experiment names'
    if not all(isinstance(e, str) for e in v):
        return "must be a list of experiment names (strings)"
    bad = [e for e in v if e not in registry.NAMES]
    return f"has unknown experiment {bad[0]!r}{did_you_mean(bad[0], registry.NAMES)}" if bad else None


def _max_memory(v):
    if not v:
        return None
    from ..errors import ModelError
    from ..model.loading import parse_max_memory  # imports torch: only when a value is given

    try:
        parse_max_memory(v)
    except ModelError as exc:
        return f'is not valid: {exc} (used with device = "auto")'
    return None


def _batch(v):
    return (
        None
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
        else 'must be a positive integer or "auto"'
    )


#: The keys of the sections that are not an experiment's options; `schema()` adds those, from the specs.
_CORE_SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "name": Key((str,), lambda v: None if v else "must not be empty"),
        "dtype": Key((str,), _choice("", "auto", "float32", "bfloat16", "float16")),
        "device": Key((str,)),
        "max_memory": Key((str,), _max_memory),
        "offload_folder": Key((str,)),
    },
    "data": {
        "dir": Key((str,)),
        "relations": Key((str, list), _relations),
        "templates": Key((str, list), _templates),
        "suffix": Key((str,)),
        "bos": Key((str,), _choice(*BOS_CHOICES)),
        "chat": Key((bool,)),
        "chat_positions": Key((str,), _choice(*CHAT_POSITIONS)),
        "rule": Key((str,), _choice(*RULES)),
        "n_eval": Key((int,), _positive),
        "max_prompts_per_relation": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = all)"),
        "seed": Key((int,)),
    },
    "neurons": {
        "set": Key((str,), _choice(*NEURON_SETS)),
        "k": Key((int, float), _k),
        "negative_ratio": Key((int,), _positive),
        "min_positives": Key((int,), _positive),
        "memory_gb": Key((int, float), lambda v: None if v >= 0 else "must be >= 0 (0 = no budget)"),
        "mean_bos": Key((bool,)),
    },
    "experiments": {
        "run": Key((list, str), _experiments),
        "random_seeds": Key((int,), _positive),
        "max_det": Key((int,), _positive),
        "force": Key((str,), force_value),
    },
    "bootstrap": {"n_boot": Key((int,), _positive)},
    "run": {
        "batch_size": Key((int, str), _batch),
        "chunk_prompts": Key(
            (int,), lambda v: None if v >= 0 else "must be >= 0 (0 = about 256 MB of activations per chunk)"
        ),
        "out": Key((str,), lambda v: None if v else "must not be empty"),
    },
}

#: section -> key -> (dataclass, field, the TOML value that stands for the field's None): where a key's default lives.
#: data.seed seeds collect, identify and the study alike; run.batch_size has none (collect's and the study's differ).
FIELD_OF: dict[str, dict[str, tuple[type, str, object]]] = {
    "model": {
        "name": (CollectConfig, "model", None),
        "dtype": (CollectConfig, "dtype", ""),
        "device": (CollectConfig, "device", ""),
        "max_memory": (CollectConfig, "max_memory", ""),
        "offload_folder": (CollectConfig, "offload_folder", ""),
    },
    "data": {
        "dir": (CollectConfig, "data_dir", ""),
        "relations": (CollectConfig, "relations", "paper"),
        "templates": (CollectConfig, "templates", None),
        "suffix": (CollectConfig, "suffix", None),
        "bos": (CollectConfig, "bos", None),
        "chat": (CollectConfig, "chat", None),
        "chat_positions": (CollectConfig, "chat_positions", None),
        "rule": (CollectConfig, "rule", None),
        "n_eval": (CollectConfig, "n_eval", None),
        "max_prompts_per_relation": (CollectConfig, "max_prompts_per_relation", 0),
        "seed": (CollectConfig, "seed", None),
    },
    "neurons": {
        "set": (CollectConfig, "neuron_set", None),
        "k": (IdentifyConfig, "k", None),
        "negative_ratio": (IdentifyConfig, "negative_ratio", None),
        "min_positives": (IdentifyConfig, "min_positives", None),
        "memory_gb": (IdentifyConfig, "memory_gb", 0),
        "mean_bos": (CollectConfig, "mean_bos", None),
    },
    "experiments": {
        "random_seeds": (StudyConfig, "seeds", None),
        "max_det": (StudyConfig, "max_det", None),
        "force": (StudyConfig, "force", None),
    },
    "bootstrap": {"n_boot": (StudyConfig, "n_boot", None)},
    "run": {"chunk_prompts": (CollectConfig, "chunk_prompts", 0)},
}


#: Keys that also set a field of the same name in the later stages' dataclasses (FIELD_OF names where each default
#: lives): one seed for the split, the negatives and the random sets; identification's k is the study's.
SHARED_KEYS = (("data", "seed"), ("neurons", "k"))


def to_dataclass(config: dict, cls: type, **decided):
    """`cls` (CollectConfig, IdentifyConfig, StudyConfig) from a validated configuration: the one mapping of keys to
    fields (FIELD_OF, plus SHARED_KEYS), the TOML stand-in for None read as None, lists as tuples; `decided` are the
    fields the run works out itself (batch sizes, the relation list). The dataclass checks its own rules."""
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    values = {}
    for section, keys in FIELD_OF.items():
        for key, (owner, name, none) in keys.items():
            if name not in fields or not (owner is cls or (section, key) in SHARED_KEYS):
                continue
            value = config[section][key]
            if fields[name] is None and none is not None and value == none:
                value = None
            values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**{**values, **decided})


def _field_default(cls: type, name: str, none: object):
    value = {f.name: f.default for f in dataclasses.fields(cls)}[name]
    if value is None:
        if none is None:
            raise AssertionError(
                f"{cls.__name__}.{name} defaults to None, which FIELD_OF gives no TOML value"
            )  # a table bug
        return none
    return list(value) if isinstance(value, tuple) else value


#: The defaults of the core sections' keys, from the dataclasses (FIELD_OF), as TOML values.
CORE_DEFAULTS: dict[str, dict] = {
    section: {key: _field_default(*where) for key, where in keys.items()} for section, keys in FIELD_OF.items()
}


def _derived() -> tuple[dict[str, dict[str, Key]], dict[str, dict[str, Key]], dict[str, dict]]:
    return _derive(registry.SPECS)


@functools.cache
def _derive(specs: tuple) -> tuple[dict[str, dict[str, Key]], dict[str, dict[str, Key]], dict[str, dict]]:
    """(SCHEMA, EXPERIMENT_OPTIONS, OPTION_DEFAULTS) from the experiment specs, plugins included: computed on first
    use, so that importing the command line reads no plugin.

    Options kept in [experiments] (k_sweep, error_tokens) join that section; two experiments may share a key
    (sweep and cumulativity read k_sweep) when they declare it the same way.
    """
    keys: dict[str, dict[str, Key]] = {}
    defaults: dict[str, dict] = {"experiments": {}}
    for spec in specs:
        section = spec.config_section
        for key, value in spec.keys().items():
            if keys.get(section, {}).get(key, value) != value:
                raise AssertionError(f"experiments declare {section}.{key} in two different ways")  # a registry bug
            keys.setdefault(section, {})[key] = value
            defaults.setdefault(section, {})[key] = spec.defaults()[key]
    schema = {section: dict(table) for section, table in _CORE_SCHEMA.items()}
    schema["experiments"].update(keys.pop("experiments", {}))
    for section in keys:
        if section in schema:
            raise AssertionError(f"an experiment's section [{section}] has the name of a core section")
    schema.update(keys)
    return schema, keys, defaults


def schema() -> dict[str, dict[str, Key]]:
    """Section -> key -> Key of every configuration key: the core's and every experiment's options."""
    return _derived()[0]


def __getattr__(attribute: str):
    """SCHEMA (every section's keys), EXPERIMENT_OPTIONS (the options of each experiment with a section of its
    own: section [NAME], the keywords of its function, `--opt KEY=VALUE`), OPTION_DEFAULTS: derived from the
    specs on first use."""
    names = ("SCHEMA", "EXPERIMENT_OPTIONS", "OPTION_DEFAULTS")
    if attribute not in names:  # the import system asks for others (__path__, ...): no plugin is read for them
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    return _derived()[names.index(attribute)]


def with_defaults(config: dict) -> dict:
    """A copy of `config` in which every key not given that has a default holds it (CORE_DEFAULTS, OPTION_DEFAULTS)."""
    config = copy.deepcopy(config)
    for defaults_by_section in (CORE_DEFAULTS, _derived()[2]):
        for section, defaults in defaults_by_section.items():
            table = config.get(section, {})
            if isinstance(table, dict):
                config[section] = {**table, **{k: copy.deepcopy(v) for k, v in defaults.items() if k not in table}}
    return config


def check_value(section: str, key: str, value, source: str) -> None:
    """Raise ConfigError naming section.key when `value` has the wrong type or range."""
    problem = schema()[section][key].problem(value)
    if problem:
        raise ConfigError(f"{source}: {section}.{key} = {value!r} {problem}")


def experiment_options(name: str, items: list[str]) -> dict:
    """`key=value` items (TOML values) of `--opt`, checked by experiment `name`'s spec as `Session.run` checks its
    keywords (the same message); only the options given (the spec fills the defaults when the experiment runs)."""
    spec = registry.BY_NAME.get(name)
    if spec is None:
        raise ConfigError(
            f"unknown experiment {name!r}{did_you_mean(name, registry.NAMES)}; experiments: {', '.join(registry.NAMES)}"
        )
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {item!r} must look like key=value")
        options[key.strip()] = _parse_value(value.strip())
    spec.validate(options)
    return options


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def preset(name: str) -> dict:
    """A shipped preset with the defaults of the keys it leaves out: a complete configuration."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; presets: {', '.join(PRESETS)}")
    text = resources.files("relneurons").joinpath("resources", "presets", f"{name}.toml").read_text()
    return with_defaults(_read_toml(text, f"preset {name}"))


def validate(config: dict, source: str) -> dict:
    """Check every section/key of `config` against SCHEMA; raise ConfigError naming the first bad key.
    Returns a copy with the defaults of the experiment options not given."""
    sections = schema()
    for section, table in config.items():
        if section not in sections:
            raise ConfigError(
                f"{source}: unknown section [{section}]{did_you_mean(section, sections)}; "
                f"sections: {', '.join(sections)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        for key, value in table.items():
            if key not in sections[section]:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}{did_you_mean(key, sections[section])}; "
                    f"keys of [{section}]: {', '.join(sections[section])}"
                )
            check_value(section, key, value, source)
    config = with_defaults(config)
    missing = [f"{s}.{k}" for s, keys in sections.items() for k in keys if k not in config.get(s, {})]
    if missing:
        raise ConfigError(f"{source}: missing keys {', '.join(missing)} (start from a preset: --preset quick)")
    for spec in registry.SPECS:  # the rules between an experiment's options (its dataclass), as for --opt
        if spec.options:
            table = config[spec.config_section]
            spec.validate({key: table[key] for key in spec.keys()}, source)
    if config["experiments"]["run"] == "all":
        config["experiments"]["run"] = list(registry.NAMES)  # written out: the run folder records what ran
    return config


def _parse_value(text: str):
    """A command-line value as TOML (numbers, lists, booleans), else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """`section.key=value` overrides (value in TOML syntax, or a bare string)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. neurons.k=300")
        dotted, value = item.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        # the core sections other than [experiments] get no keys from the experiments: checked without reading them
        sections = _CORE_SCHEMA if section in _CORE_SCHEMA and section != "experiments" else schema()
        if section not in sections:
            raise ConfigError(f"override {item!r}: unknown section {section!r}{did_you_mean(section, sections)}")
        if key not in sections[section]:
            raise ConfigError(f"override {item!r}: unknown key {section}.{key}{did_you_mean(key, sections[section])}")
        config.setdefault(section, {})[key] = _parse_value(value.strip())
    return config


def load_config(
    preset_name: str | None = DEFAULT_PRESET, path: str | Path | None = None, overrides: list[str] = ()
) -> dict:
    """Preset, then a user file on top (its keys replace the preset's), then overrides; validated."""
    apply_overrides({}, list(overrides))  # a mistyped override is named first, before the experiments are read
    config = preset(preset_name) if preset_name else {}
    source = f"preset {preset_name}" if preset_name else "configuration"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not valid UTF-8 (byte offset {exc.start}); save it as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"configuration file {path} cannot be read: {exc.strerror}") from None
        user = _read_toml(text, str(path))
        for section, table in user.items():
            if section not in schema():
                raise ConfigError(
                    f"{path}: unknown section [{section}]{did_you_mean(section, schema())}; "
                    f"sections: {', '.join(schema())}"
                )
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{section}] must be a table of keys")
            config.setdefault(section, {}).update(table)
        source = str(path)
    config = apply_overrides(config, list(overrides))
    return validate(config, source)
