"""Prompts: an LRE template with the subject filled in, plus the paper's suffix.

The paper's style (§3.2) is ``"{}'s CEO is"`` -> ``"Panasonic Corporation's CEO
is? Answer:"``. Which templates to use and the suffix are options; the default
is the paper's: the LRE ``prompt_templates`` (the rows above the dashed line of
App. K, Tables 7-18, used for P_det and P_eva) and ``"? Answer:"``. The LRE
``prompt_templates_zs`` are the paper's P_eva-2 (§5.3, the rows below the line;
see `relneurons.data.templates.paper_eva2`), so they are not used unless asked for.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

from relneurons.data.names import DEFAULT_SUFFIX, DEFAULT_TEMPLATES, TEMPLATE_CHOICES
from relneurons.data.relations import Relation, SampleLike, sample_pair
from relneurons.errors import ConfigError, InputError, did_you_mean

__all__ = [
    "DEFAULT_SUFFIX",
    "DEFAULT_TEMPLATES",
    "TEMPLATE_CHOICES",
    "Prompt",
    "TemplateSelection",
    "build_prompts",
    "select_templates",
]

#: A named choice, one literal template, or a list of indices into ``prompt_templates`` and/or literal templates.
TemplateSelection = str | Sequence[int | str]


@dataclass(frozen=True)
class Prompt:
    """One prompt, with what it was made from (for reports and error analysis)."""

    relation: str
    subject: str
    object: str
    template: str
    text: str


def _all_templates(relation: Relation) -> list[str]:
    """prompt_templates then prompt_templates_zs, de-duplicated, order kept."""
    return list(dict.fromkeys((*relation.prompt_templates, *relation.prompt_templates_zs)))


def _literal(template: str) -> str:
    count = template.count("{}")
    if count != 1:
        raise ConfigError(
            f"option templates: {template!r} is neither one of {', '.join(TEMPLATE_CHOICES)} "
            f"nor a template with exactly one '{{}}' (it has {count}){did_you_mean(template, TEMPLATE_CHOICES)}"
        )
    return template


def select_templates(relation: Relation, templates: TemplateSelection = DEFAULT_TEMPLATES) -> list[str]:
    """The templates to use for ``relation``.

    ``templates`` is "icl"/"standard" (LRE ``prompt_templates``, the default), "zs"
    (``prompt_templates_zs``), "all" (both, de-duplicated), one literal template
    containing ``{}``, or a list mixing int indices into ``prompt_templates``
    (so ``[0]`` is the paper's first template) and literal templates.
    """
    every = _all_templates(relation)
    standard = list(relation.prompt_templates)
    if isinstance(templates, str):
        if templates == "all":
            chosen = every
        elif templates in ("icl", "standard"):
            chosen = list(relation.prompt_templates)
        elif templates == "zs":
            chosen = list(relation.prompt_templates_zs)
        else:
            return [_literal(templates)]
        if not chosen:
            field = "prompt_templates_zs" if templates == "zs" else "prompt_templates"
            raise ConfigError(
                f"option templates={templates!r}: relation {relation.name!r} ({relation.path}) has no {field}; "
                "choose 'all', the other list, or literal templates"
            )
        return chosen
    if not isinstance(templates, Sequence) or not templates:
        raise ConfigError(
            f"option templates must be one of {', '.join(TEMPLATE_CHOICES)}, a template with '{{}}', "
            f"or a non-empty list of indices/templates; got {templates!r}"
        )
    chosen = []
    for item in templates:
        if isinstance(item, numbers.Integral) and not isinstance(item, bool):
            if not 0 <= item < len(standard):
                valid = f"valid: 0..{len(standard) - 1}" if standard else "it has none; use 'zs' or literal templates"
                raise ConfigError(
                    f"option templates: index {item} is out of range for relation {relation.name!r} ({relation.path}), "
                    f"which has {len(standard)} prompt_templates ({valid}); indices count prompt_templates only"
                )
            chosen.append(standard[int(item)])
        elif isinstance(item, str):
            chosen.append(_literal(item))
        else:
            raise ConfigError(f"option templates: {item!r} is neither a template index nor a template string")
    return list(dict.fromkeys(chosen))


def fill(template: str, subject: str, suffix: str = DEFAULT_SUFFIX) -> str:
    """Template with the subject in place of ``{}`` (str.replace: subjects may hold braces) + suffix."""
    return template.replace("{}", subject) + suffix


def build_prompts(
    relation: Relation,
    samples: Sequence[SampleLike],
    templates: TemplateSelection = DEFAULT_TEMPLATES,
    suffix: str = DEFAULT_SUFFIX,
) -> list[Prompt]:
    """Prompts for every sample and selected template, sample-major then template."""
    if not isinstance(suffix, str):
        raise InputError(f"suffix must be a string, got {suffix!r}")
    chosen = select_templates(relation, templates)
    prompts = []
    for item in samples:
        subject, obj = sample_pair(item)
        prompts.extend(Prompt(relation.name, subject, obj, t, fill(t, subject, suffix)) for t in chosen)
    return prompts
