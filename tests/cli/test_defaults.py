"""Defaults live once: every default of `relneurons collect` / `identify` (and of the model and neuron-set options of
the other commands) is the field default of the dataclass that checks the option, and the choice lists are the
package's own lists. No model is loaded (click's parameter objects are compared)."""

from __future__ import annotations

import dataclasses

import click
import pytest

from relneurons.activations.config import CollectConfig
from relneurons.cli import cli, parse_k, parse_templates
from relneurons.expertise.config import IdentifyConfig

#: The options that are no setting of the dataclass (where to write, progress bars).
NOT_SETTINGS = {"out", "quiet", "store"}
#: Options whose text is parsed into the field's value (the parser is applied to the default before comparing).
PARSED = {"templates": parse_templates, "k": parse_k, "relations": lambda text: text}


def field_defaults(cls) -> dict:
    return {f.name: f.default for f in dataclasses.fields(cls)}


def mismatches(command: click.Command, cls) -> list[str]:
    """Options of `command` named as a field of `cls` whose default is not the field's; options named as no field."""
    fields = field_defaults(cls)
    problems = []
    for param in command.params:
        if param.name in NOT_SETTINGS:
            continue
        if param.name not in fields:
            problems.append(f"--{param.name} is no field of {cls.__name__}")
            continue
        value = PARSED.get(param.name, lambda v: v)(param.default) if param.default is not None else None
        if value != fields[param.name]:
            problems.append(
                f"--{param.name}: default {param.default!r}, {cls.__name__}.{param.name} = {fields[param.name]!r}"
            )
    return problems


@pytest.mark.parametrize("name, cls", [("collect", CollectConfig), ("identify", IdentifyConfig)])
def test_every_option_default_is_the_dataclass_field_default(name, cls):
    command = cli.commands[name]
    assert mismatches(command, cls) == []
    settings = {p.name for p in command.params} - NOT_SETTINGS
    assert len(settings) >= 5, settings  # the comparison saw the options


def test_a_hard_coded_default_is_caught():
    """The check can fail: a copy of collect whose --n-eval says 49 and an option named unlike any field."""
    original = cli.commands["collect"]
    params = [click.Option(["--n-eval"], default=49) if p.name == "n_eval" else p for p in original.params]
    drifted = click.Command("collect", params=[*params, click.Option(["--max-prompts"], default=None)])
    assert mismatches(drifted, CollectConfig) == [
        "--n_eval: default 49, CollectConfig.n_eval = 50",
        "--max_prompts is no field of CollectConfig",
    ]


def test_the_other_commands_share_the_defaults():
    model_default = CollectConfig().model
    for name in ("neurons", "generate", "collect", "calibrate"):
        (option,) = [p for p in cli.commands[name].params if p.name == "model"]
        assert option.default == model_default, name
    (new_tokens,) = [p for p in cli.commands["generate"].params if p.name == "new_tokens"]
    assert new_tokens.default == CollectConfig().max_new_tokens
    (neuron_set,) = [p for p in cli.commands["neurons"].params if p.name == "set_name"]
    assert neuron_set.default == CollectConfig().neuron_set


def test_choice_lists_are_the_packages_own():
    from relneurons.data.correctness import RULES
    from relneurons.experiments.registry import NEURON_SETS as REGISTRY_SETS
    from relneurons.model.sites import NEURON_SETS  # the sets the model layer builds (imports torch)
    from relneurons.pipeline.config import PRESETS, SCHEMA

    sets = tuple(NEURON_SETS)
    assert REGISTRY_SETS == sets
    for name, param in (("collect", "neuron_set"), ("neurons", "set_name")):
        (option,) = [p for p in cli.commands[name].params if p.name == param]
        assert tuple(option.type.choices) == sets, name
    (rule,) = [p for p in cli.commands["collect"].params if p.name == "rule"]
    assert tuple(rule.type.choices) == RULES
    (preset,) = [p for p in cli.commands["run"].params if p.name == "preset"]
    assert tuple(preset.type.choices) == PRESETS and preset.default in PRESETS
    assert SCHEMA["neurons"]["set"].check("fnn") and SCHEMA["neurons"]["set"].check("self_attn") is None


def test_frequency_count_defaults_are_count_facts_defaults():
    import inspect

    from relneurons.data.corpus import DOCUMENT_MODES, count_facts

    defaults = {name: p.default for name, p in inspect.signature(count_facts).parameters.items()}
    params = {p.name: p for p in cli.commands["frequency"].commands["count"].params}
    assert params["document"].default == defaults["document"] and params["text_field"].default == defaults["text_field"]
    assert tuple(params["document"].type.choices) == DOCUMENT_MODES
