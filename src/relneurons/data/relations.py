"""Relations: the registry of names, and loading/validating LRE-format JSON files.

Names map to files through a TOML registry shipped as data
(``resources/relations.toml``), which a user file of the same format can extend
or override. Every problem with a relation file is reported as a DataError that
names the file and the field, because these files are often hand-written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from relneurons import io
from relneurons.data.lre import resolve_data_dir
from relneurons.errors import ConfigError, DataError, InputError, did_you_mean

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "PAPER_RELATIONS",
    "Relation",
    "Sample",
    "SampleLike",
    "TEMPLATE_FIELDS",
    "load_relation",
    "load_relations",
    "parse_relation",
    "registry",
    "sample_pair",
]

#: The two template lists of an LRE file. The paper (App. K) uses prompt_templates for P_det/P_eva and
#: prompt_templates_zs for P_eva-2 (§5.3); see relneurons.data.prompts.select_templates and data.templates.paper_eva2.
TEMPLATE_FIELDS = ("prompt_templates", "prompt_templates_zs")
_REGISTRY_RESOURCE = "relneurons/resources/relations.toml"


@dataclass(frozen=True)
class Sample:
    """One (subject, object) fact of a relation."""

    subject: str
    object: str


@dataclass(frozen=True)
class Relation:
    """A relation loaded from one LRE-format file; ``sha256`` pins the exact bytes read."""

    name: str
    path: Path
    prompt_templates: tuple[str, ...]
    prompt_templates_zs: tuple[str, ...]
    relation_type: str | None
    domain_name: str | None
    range_name: str | None
    samples: tuple[Sample, ...]
    sha256: str


#: What the split and prompt functions accept as one sample.
SampleLike = Sample | tuple[str, str] | Mapping[str, str]


def sample_pair(item: SampleLike) -> tuple[str, str]:
    """(subject, object) of a Sample, a 2-tuple or an LRE dict ``{"subject", "object"}``."""
    if isinstance(item, Sample):
        return item.subject, item.object
    if isinstance(item, Mapping):
        try:
            subject, obj = item["subject"], item["object"]
        except KeyError as exc:
            raise InputError(f"sample {item!r} lacks the key {exc.args[0]!r}") from None
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        subject, obj = item
    else:
        raise InputError(
            f"sample {item!r} is not a Sample, a (subject, object) pair or a dict with 'subject' and 'object'"
        )
    if not isinstance(subject, str) or not isinstance(obj, str):
        raise InputError(f"sample {item!r}: subject and object must be strings")
    return subject, obj


# ---------------------------------------------------------------- registry


def _load_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"relation registry {source} is not valid TOML: {exc}") from None


def _shipped_registry() -> dict[str, Any]:
    res = resources.files("relneurons") / "resources" / "relations.toml"
    return _load_toml(res.read_text(encoding="utf-8"), _REGISTRY_RESOURCE)


def _relations_table(doc: Mapping[str, Any], source: str) -> dict[str, str]:
    """The validated ``[relations]`` table of a registry document."""
    table = doc.get("relations")
    if not isinstance(table, dict):
        raise DataError(
            f"relation registry {source} has no [relations] table; "
            'add one with lines like my_relation = "/path/to/my_relation.json"'
        )
    for name, path in table.items():
        if not isinstance(path, str) or not path:
            raise DataError(
                f"relation registry {source}, [relations].{name}: expected a file path string, got {path!r}"
            )
    return dict(table)


_SHIPPED = _shipped_registry()
#: The paper's 12 relations under the paper's names, alphabetical (resources/relations.toml).
PAPER_RELATIONS: tuple[str, ...] = tuple(_SHIPPED["paper"]["relations"])


def registry(extra: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Relation name -> file path (relative to the LRE data root, or absolute).

    ``extra`` is a user TOML file with a ``[relations]`` table in the shipped
    format; its entries are added to, and override, the shipped ones.
    """
    merged = _relations_table(_SHIPPED, _REGISTRY_RESOURCE)
    if extra is not None:
        path = Path(extra).expanduser()
        text = io.read_text(path, "relation registry file")
        merged.update(_relations_table(_load_toml(text, str(path)), str(path)))
    return merged


# ---------------------------------------------------------------- validation


def _decode(raw: bytes, path: Path) -> Any:
    """Bytes -> JSON value, with line/column and byte offsets in the errors."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise DataError(
            f"relation file {path} is not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"relation file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def check_template(template: Any, where: str) -> str:
    """A prompt template is a string with exactly one '{}', where the subject goes; DataError naming `where` if not.

    The one check for every template source: LRE files, P_eva-3 files, language packs, concepts.
    """
    if not isinstance(template, str):
        raise DataError(f"{where} must be a string, got {template!r}")
    count = template.count("{}")
    if count != 1:
        raise DataError(
            f"{where} {template!r} has {count} '{{}}' placeholders; it needs exactly one '{{}}', where the subject goes"
        )
    return template


def _templates(doc: Mapping[str, Any], field: str, path: Path) -> tuple[str, ...]:
    value = doc.get(field, [])
    if not isinstance(value, list):
        raise DataError(f"relation file {path}: field {field!r} must be a list of strings, got {type(value).__name__}")
    return tuple(check_template(t, f"relation file {path}: {field}[{i}]") for i, t in enumerate(value))


def _samples(doc: Mapping[str, Any], path: Path) -> tuple[Sample, ...]:
    """Validated samples, stripped of surrounding whitespace, duplicate pairs dropped (first kept)."""
    raw = doc.get("samples")
    if raw is None:
        raise DataError(f'relation file {path} has no "samples" field; add a list of {{"subject", "object"}} objects')
    if not isinstance(raw, list):
        raise DataError(f'relation file {path}: field "samples" must be a list, got {type(raw).__name__}')
    if not raw:
        raise DataError(f'relation file {path}: field "samples" is empty')
    seen: dict[tuple[str, str], Sample] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise DataError(f'relation file {path}: samples[{i}] must be an object with "subject" and "object"')
        values = []
        for key in ("subject", "object"):
            if key not in item:
                raise DataError(f"relation file {path}: samples[{i}] has no {key!r}")
            value = item[key]
            if not isinstance(value, str):
                raise DataError(f"relation file {path}: samples[{i}].{key} must be a string, got {value!r}")
            if not value.strip():
                raise DataError(f"relation file {path}: samples[{i}].{key} is empty")
            values.append(value.strip())
        pair = (values[0], values[1])
        seen.setdefault(pair, Sample(*pair))
    return tuple(seen.values())


def _property(props: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = props.get(key)
    if value is not None and not isinstance(value, str):
        raise DataError(f"relation file {path}: properties.{key} must be a string, got {value!r}")
    return value


def parse_relation(raw: bytes, path: str | os.PathLike[str], name: str) -> Relation:
    """Build a validated Relation from a file's bytes (``path`` is for messages and provenance)."""
    path = Path(path)
    doc = _decode(raw, path)
    if not isinstance(doc, dict):
        raise DataError(f"relation file {path} must hold a JSON object, not {type(doc).__name__}")
    icl, zs = (_templates(doc, field, path) for field in TEMPLATE_FIELDS)
    if not icl and not zs:
        raise DataError(
            f'relation file {path} has no prompt templates; add "prompt_templates" or '
            '"prompt_templates_zs", e.g. ["{} is located in"]'
        )
    props = doc.get("properties", {})
    if not isinstance(props, dict):
        raise DataError(f'relation file {path}: field "properties" must be an object')
    return Relation(
        name=name,
        path=path,
        prompt_templates=icl,
        prompt_templates_zs=zs,
        relation_type=_property(props, "relation_type", path),
        domain_name=_property(props, "domain_name", path),
        range_name=_property(props, "range_name", path),
        samples=_samples(doc, path),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _read_relation_file(path: Path, name: str) -> Relation:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"relation file {path} (relation {name!r}) does not exist") from None
    except IsADirectoryError:
        raise DataError(f"relation file {path} (relation {name!r}) is a folder, not a JSON file") from None
    except OSError as exc:
        raise DataError(f"relation file {path} (relation {name!r}) cannot be read: {exc.strerror}") from None
    return parse_relation(raw, path, name)


# ---------------------------------------------------------------- loading


def _looks_like_path(text: str) -> bool:
    return text.endswith(".json") or "/" in text or os.sep in text


def _unknown(name: str, names: Mapping[str, str]) -> DataError:
    hint = did_you_mean(name, names)
    if not hint:  # an LRE file stem the paper renamed, e.g. landmark_in_country
        alias = [n for n, p in names.items() if Path(p).stem == name]
        hint = f" (did you mean {alias[0]!r}?)" if alias else ""
    return DataError(
        f"unknown relation {name!r}{hint}. Known: {', '.join(sorted(names))}. "
        "To add one, pass the path of a JSON file in LRE format, or list it in a "
        'registry TOML file: [relations] my_relation = "/path/to/file.json"'
    )


def load_relation(
    name_or_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    registry_file: str | os.PathLike[str] | None = None,
) -> Relation:
    """Load a relation by registry name, or from the path of a JSON file in LRE format.

    Registry names win over paths. Relative registry paths are resolved in the
    LRE data folder (``resolve_data_dir(data_dir)``, which may download it);
    absolute ones, and explicit paths, need no data folder.
    """
    names = registry(registry_file)
    if isinstance(name_or_path, str) and name_or_path in names:
        name, target = name_or_path, Path(names[name_or_path]).expanduser()
        if not target.is_absolute():
            target = resolve_data_dir(data_dir) / target
        return _read_relation_file(target, name)
    text = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or _looks_like_path(text) or Path(text).is_file():
        path = Path(text).expanduser()
        return _read_relation_file(path, path.stem)
    raise _unknown(text, names)


def load_relations(
    names: Sequence[str | os.PathLike[str]] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    registry_file: str | os.PathLike[str] | None = None,
) -> list[Relation]:
    """Load several relations (None: the paper's 12); the same name or file twice is an error."""
    if isinstance(names, (str, os.PathLike)):
        raise InputError(f"names must be a list of relation names, not the single string {names!r}")
    wanted = list(PAPER_RELATIONS if names is None else names)
    if not wanted:
        raise ConfigError("no relations selected; name at least one relation")
    # Resolve the data folder once, and only if a registry name needs it.
    reg = registry(registry_file)
    needs_data = any(isinstance(n, str) and n in reg and not Path(reg[n]).expanduser().is_absolute() for n in wanted)
    root = resolve_data_dir(data_dir) if needs_data else data_dir
    relations = [load_relation(n, root, registry_file=registry_file) for n in wanted]
    files: dict[Path, str] = {}
    names_seen: dict[str, Path] = {}
    for rel in relations:
        key = rel.path.resolve()
        if key in files:
            raise ConfigError(f"relations {files[key]!r} and {rel.name!r} are the same file {rel.path}; list it once")
        if rel.name in names_seen:
            raise ConfigError(
                f"two relations are named {rel.name!r} ({names_seen[rel.name]} and {rel.path}); "
                "rename one file or give it a registry name"
            )
        files[key], names_seen[rel.name] = rel.name, rel.path
    return relations
