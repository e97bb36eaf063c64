"""New prompt templates for the template-robustness experiment (paper §5.3, Fig. 8).

P_eva-2 is the paper's: the LRE ``prompt_templates_zs`` of the relation ("We
construct P_eva-2 with the same triples but different prompt templates", the
rows below the dashed line of App. K, Tables 7-18), less any template that is
also one of its ``prompt_templates`` (LRE repeats some, e.g. landmark_country's
"{} is in the country of"; App. K lists them above the line only). See `paper_eva2`.

P_eva-3 is optional and ours: hand-written templates shipped as
``resources/templates_eva2.toml``, or a user file of the same format::

    [templates]
    company_hq = ["{} has its headquarters in the city of", "The city where {} is headquartered is"]

Each relation maps to a non-empty list of templates with exactly one ``{}``.
P_eva-3 is meant to be wording LRE has nowhere, so `check_new` refuses a
template that is in either LRE list (compared case-insensitively with
whitespace collapsed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from relneurons import io
from relneurons.data.relations import Relation, check_template
from relneurons.errors import DataError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["SHIPPED_TEMPLATES", "check_new", "load_templates", "normalise", "paper_eva2"]

SHIPPED_TEMPLATES = "relneurons/resources/templates_eva2.toml"


def normalise(template: str) -> str:
    """The form two templates are compared in: whitespace collapsed, case folded."""
    return " ".join(template.split()).casefold()


def paper_eva2(relation: Relation) -> tuple[str, ...]:
    """The paper's P_eva-2 templates of `relation`: its ``prompt_templates_zs`` not also in ``prompt_templates``.

    Compared in `normalise`d form; DataError naming the file when none is left.
    """
    seen = {normalise(t) for t in relation.prompt_templates}
    new = tuple(t for t in dict.fromkeys(relation.prompt_templates_zs) if normalise(t) not in seen)
    if not new:
        raise DataError(
            f"relation {relation.name} ({relation.path}) has no prompt_templates_zs that differ from its "
            "prompt_templates, so it has no P_eva-2; add one to the file, or leave the relation out"
        )
    return new


def _read(path: str | os.PathLike[str] | None) -> tuple[str, str]:
    if path is None:
        return (resources.files("relneurons") / "resources" / "templates_eva2.toml").read_text(
            encoding="utf-8"
        ), SHIPPED_TEMPLATES
    path = Path(path).expanduser()
    return io.read_text(path, "template file"), str(path)


def load_templates(
    path: str | os.PathLike[str] | None = None, relations: Iterable[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """Relation -> its P_eva-3 templates, from `path` (None: the shipped file); validated.

    `relations`: names that must be present (DataError naming the first missing one).
    """
    text, source = _read(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"template file {source} is not valid TOML: {exc}") from None
    table = doc.get("templates")
    if not isinstance(table, dict):
        raise DataError(
            f"template file {source} has no [templates] table; "
            'add one with lines like company_hq = ["The city where {} is headquartered is"]'
        )
    out: dict[str, tuple[str, ...]] = {}
    for relation, templates in table.items():
        where = f"template file {source}, [templates].{relation}"
        if not isinstance(templates, list) or not templates:
            raise DataError(f"{where}: expected a non-empty list of template strings, got {templates!r}")
        seen: dict[str, str] = {}
        for template in templates:
            check_template(template, f"{where}: template")
            if not template.replace("{}", "").strip():
                raise DataError(f"{where}: template {template!r} has no words besides the subject")
            if normalise(template) in seen:
                raise DataError(f"{where}: {template!r} repeats {seen[normalise(template)]!r}")
            seen[normalise(template)] = template
        out[relation] = tuple(templates)
    missing = [r for r in (relations or ()) if r not in out]
    if missing:
        raise DataError(
            f"template file {source} has no templates for relation {missing[0]!r} "
            f'(missing: {", ".join(missing)}); add a line {missing[0]} = ["... {{}} ...", ...]'
        )
    return out


def check_new(relation: Relation, templates: Iterable[str], source: str = "P_eva-3 templates") -> None:
    """DataError if a template is one of the relation's LRE templates, in either list (P_eva-3 must be unseen wording)."""
    lre: Mapping[str, str] = {normalise(t): t for t in (*relation.prompt_templates, *relation.prompt_templates_zs)}
    for template in templates:
        if normalise(template) in lre:
            raise DataError(
                f"{source}, relation {relation.name}: {template!r} is the LRE template {lre[normalise(template)]!r} "
                f"of {relation.path}; P_eva-3 needs wording that is in no LRE list (P_eva-2 already is the LRE prompt_templates_zs)"
            )
