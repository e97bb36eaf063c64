"""The study configuration: a TOML file (or a shipped preset) plus command-line overrides, validated up front.

Every key is checked before any model is loaded: unknown keys are named with a
"did you mean", values are checked for type and range. Sections and keys:

    [model]        name, dtype, device, max_memory, offload_folder
    [data]         dir, relations, templates, suffix, rule, n_eval, max_prompts_per_relation, seed
    [neurons]      set, k, negative_ratio, min_positives, memory_gb
    [experiments]  run, k_sweep, random_seeds, max_det, force, error_tokens
    [bootstrap]    n_boot
    [run]          batch_size, chunk_prompts, out
    [multilingual] [templates] [concepts] [types] [frequency] [amplify] [stability] [methods]
                   options of those experiments (SPEC §5; see `EXPERIMENT_OPTIONS`)

An empty string means "the default" for optional text values (TOML has no null).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, did_you_mean

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

EXPERIMENT_NAMES = ("layers", "overlap", "intra", "inter", "sweep", "cumulativity", "errors",
                    "multilingual", "templates", "concepts", "types", "frequency", "amplify", "stability", "methods")
PRESETS = ("quick", "paper")
_NEURON_SETS = ("ffn", "self_attn", "gate_proj", "up_proj", "down_proj", "all")  # model/sites.py NEURON_SETS


@dataclass(frozen=True)
class Key:
    """One configuration key: its type(s) and an optional check returning an error text or None."""

    types: tuple[type, ...]
    check: Any = None


def _positive(v):
    return None if v >= 1 else "must be >= 1"


def _k(v):
    if isinstance(v, bool) or not v > 0:
        return "must be a positive count or a fraction in (0, 1)"
    if v >= 1 and v != int(v):
        return "must be a whole number when >= 1"
    return None


def _choice(*choices):
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def _templates(v):
    if isinstance(v, str):
        return _choice("icl", "standard", "zs", "all")(v)
    return None if v and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v) else \
        "must be icl (the paper's: LRE prompt_templates), zs, all, or a list of indices into prompt_templates"


def _relations(v):
    if isinstance(v, str):
        return None if v == "paper" else 'must be "paper" or a list of relation names/files'
    return None if v and all(isinstance(r, str) and r for r in v) else "must be a non-empty list of relation names/files"


def _experiments(v):
    if not all(isinstance(e, str) for e in v):
        return "must be a list of experiment names (strings)"
    bad = [e for e in v if e not in EXPERIMENT_NAMES]
    return f"has unknown experiment {bad[0]!r}{did_you_mean(bad[0], EXPERIMENT_NAMES)}" if bad else None


def _k_sweep(v):
    return None if v and all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in v) else "must be a non-empty list of positive counts"


def _force(v):
    if v in ("zero", "median"):
        return None
    try:
        float(v)
    except ValueError:
        return 'must be "zero", "median" or a number written as a string'
    return None


def _max_memory(v):
    if not v:
        return None
    from ..errors import ModelError
    from ..model.loading import parse_max_memory  # imports torch: only when a value is given

    try:
        parse_max_memory(v)
    except ModelError as exc:
        return f"is not valid: {exc} (used with device = \"auto\")"
    return None


def _batch(v):
    return None if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) else 'must be a positive integer or "auto"'


SCHEMA: dict[str, dict[str, Key]] = {
    "model": {"name": Key((str,), lambda v: None if v else "must not be empty"),
              "dtype": Key((str,), _choice("", "auto", "float32", "bfloat16", "float16")),
              "device": Key((str,)), "max_memory": Key((str,), _max_memory), "offload_folder": Key((str,))},
    "data": {"dir": Key((str,)), "relations": Key((str, list), _relations), "templates": Key((str, list), _templates),
             "suffix": Key((str,)), "rule": Key((str,), _choice("robust", "paper")), "n_eval": Key((int,), _positive),
             "max_prompts_per_relation": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = all)"),
             "seed": Key((int,))},
    "neurons": {"set": Key((str,), _choice("ffn", "self_attn", "gate_proj", "up_proj", "down_proj", "all")),
                "k": Key((int, float), _k), "negative_ratio": Key((int,), _positive), "min_positives": Key((int,), _positive),
                "memory_gb": Key((int, float), lambda v: None if v >= 0 else "must be >= 0 (0 = no budget)")},
    "experiments": {"run": Key((list,), _experiments), "k_sweep": Key((list,), _k_sweep), "random_seeds": Key((int,), _positive),
                    "max_det": Key((int,), _positive), "force": Key((str,), _force), "error_tokens": Key((int,), _positive)},
    "bootstrap": {"n_boot": Key((int,), _positive)},
    "run": {"batch_size": Key((int, str), _batch),
            "chunk_prompts": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = about 256 MB of activations per chunk)"),
            "out": Key((str,), lambda v: None if v else "must not be empty")},
}

#: Options of the complementary experiments: section [NAME] of the configuration, keyword options of the
#: experiment function, `--opt KEY=VALUE` of `relneurons experiment NAME`.
EXPERIMENT_OPTIONS: dict[str, dict[str, Key]] = {
    "multilingual": {"languages": Key((list,), lambda v: None if v and all(isinstance(c, str) and c for c in v) and len(set(v)) == len(v)
                                      else 'must be a non-empty list of distinct language codes such as ["de", "zh"]'),
                     "packs": Key((str,))},  # "" = the shipped (App. K) packs; "ours" = our templates; else a folder of <code>.toml packs
    "templates": {"extra": Key((str,))},  # P_eva-3: "" = none, "shipped" = resources/templates_eva2.toml, or a template file
    "concepts": {"concepts": Key((str, list), lambda v: None if v == "all" or (isinstance(v, list) and v and all(isinstance(c, str) and c for c in v))
                                 else 'must be "all" or a non-empty list of concept names'),
                 "max_subjects": Key((int,), _positive), "min_subjects": Key((int,), _positive),
                 "n_ablation": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = no ablation)"), "file": Key((str,))},
    "types": {"sets": Key((list,), lambda v: None if v and all(isinstance(s, str) and s in _NEURON_SETS for s in v) and len(set(v)) == len(v)
                          else f"must be a non-empty list of distinct neuron sets from {', '.join(_NEURON_SETS)}"),
              "k": Key((int, float), lambda v: None if v == 0 else _k(v))},  # 0 = the study's k as a fraction of each set
    "frequency": {"counts": Key((str,)), "corpus": Key((str,))},
    "stability": {"resamples": Key((int,), lambda v: None if v >= 2 else "must be >= 2 (a Jaccard needs two resamples)"),
                  "core": Key((int, float), lambda v: None if 0 < v <= 1 else "must be a share in (0, 1]"),
                  "max_eval": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = every P_eva prompt)")},
    "methods": {"scorers": Key((list,), lambda v: _scorers(v)),
                "max_eval": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = every P_eva prompt)")},
    "amplify": {"levels": Key((list,), lambda v: _amplify_levels(v)),
                "max_other": Key((int,), lambda v: None if v >= 0 else "must be >= 0 (0 = every P_eva prompt of the other relations)")},
}
SCHEMA.update(EXPERIMENT_OPTIONS)


def _scorers(v):
    from ..expertise.scorers import check_scorers  # the registry's own check: one list of scorer names

    try:
        check_scorers(v)
    except ConfigError as exc:
        return f"is not valid ({exc})"
    return None


def _amplify_levels(v):
    from ..experiments.amplify import parse_levels  # the experiment's own parser: one definition of a level

    try:
        parse_levels(v)
    except ConfigError as exc:
        return f"is not valid ({exc})"
    return None


def check_value(section: str, key: str, value, source: str) -> None:
    """Raise ConfigError naming section.key when `value` has the wrong type or range."""
    spec = SCHEMA[section][key]
    if not _type_ok(value, spec.types):
        wanted = " or ".join(t.__name__ for t in spec.types)
        raise ConfigError(f"{source}: {section}.{key} = {value!r} must be of type {wanted}")
    problem = spec.check(value) if spec.check else None
    if problem:
        raise ConfigError(f"{source}: {section}.{key} = {value!r} {problem}")


def experiment_options(name: str, items: list[str]) -> dict:
    """`key=value` items (TOML values) checked against the options of experiment `name`."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"option {item!r} must look like key=value")
        if key not in SCHEMA.get(name, {}):
            known = ", ".join(SCHEMA.get(name, {})) or "none"
            raise ConfigError(f"--opt {item!r}: experiment {name} has no option {key!r}{did_you_mean(key, SCHEMA.get(name, {}))}; "
                              f"its options: {known}")
        options[key] = _parse_value(value.strip())
        check_value(name, key, options[key], "--opt")
    return options


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; presets: {', '.join(PRESETS)}")
    text = resources.files("relneurons").joinpath("resources", "presets", f"{name}.toml").read_text()
    return _read_toml(text, f"preset {name}")


def _type_ok(value, types) -> bool:
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, int):
        return True
    return isinstance(value, types)


def validate(config: dict, source: str) -> dict:
    """Check every section/key of `config` against SCHEMA; raise ConfigError naming the first bad key."""
    for section, table in config.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]{did_you_mean(section, SCHEMA)}; sections: {', '.join(SCHEMA)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        for key, value in table.items():
            spec = SCHEMA[section].get(key)
            if spec is None:
                raise ConfigError(f"{source}: unknown key {section}.{key}{did_you_mean(key, SCHEMA[section])}; "
                                  f"keys of [{section}]: {', '.join(SCHEMA[section])}")
            check_value(section, key, value, source)
    missing = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys if k not in config.get(s, {})]
    if missing:
        raise ConfigError(f"{source}: missing keys {', '.join(missing)} (start from a preset: --preset quick)")
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
        if section not in SCHEMA:
            raise ConfigError(f"override {item!r}: unknown section {section!r}{did_you_mean(section, SCHEMA)}")
        if key not in SCHEMA[section]:
            raise ConfigError(f"override {item!r}: unknown key {section}.{key}{did_you_mean(key, SCHEMA[section])}")
        config.setdefault(section, {})[key] = _parse_value(value.strip())
    return config


def load_config(preset_name: str | None = "quick", path: str | Path | None = None, overrides: list[str] = ()) -> dict:
    """Preset, then a user file on top (its keys replace the preset's), then overrides; validated."""
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
            if section not in SCHEMA:
                raise ConfigError(f"{path}: unknown section [{section}]{did_you_mean(section, SCHEMA)}; sections: {', '.join(SCHEMA)}")
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [{section}] must be a table of keys")
            config.setdefault(section, {}).update(table)
        source = str(path)
    config = apply_overrides(config, list(overrides))
    return validate(config, source)
