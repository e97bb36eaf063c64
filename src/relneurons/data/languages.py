"""Language packs: the evaluation prompts of a relation in another language (§5.2, App. F).

A pack is one TOML file per language, ``<code>.toml`` (``de``, ``es``, ``fr``,
``zh``, ``ja`` ship in ``resources/languages/``, with the paper's templates of
App. K, Tables 7-18, and no suffix, as the paper's prompts); ``packs = "ours"``
selects our earlier templates instead (``resources/languages/ours/<code>.toml``:
overrides of templates and suffix only, the accepted answers stay the same); a
user folder of packs adds languages or overrides entries of the shipped ones::

    [language]
    name = "German"
    suffix = "? Antwort:"            # the answer cue appended to every prompt

    [subjects]                       # optional: English subject -> subject in this language
    "Elbe" = "Elbe"

    [relations.landmark_continent]
    templates = ["{} liegt auf dem Kontinent"]     # exactly one {} each, for the subject
    as_written = false               # true: the English object is accepted too, and an object
                                     # without an entry is kept as written (names)
    [relations.landmark_continent.objects]
    Europe = ["Europa"]              # English object (as in LRE) -> accepted answers
    Asia = ["Asien"]

An evaluation triple whose object has no entry in a relation with
``as_written = false`` cannot be judged in that language: it is left out of
that language, and `translate` reports it in its left-out table, never silently.

A user pack for a shipped language is an *override*: its templates, flags and
suffix replace the shipped ones, its object and subject entries are added to
them (replacing entries with the same English key). A user pack for a new
language must be complete on its own. Either way the merged pack must name
every relation of the paper.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from relneurons import io
from relneurons.data.prompts import fill
from relneurons.data.relations import PAPER_RELATIONS, check_template, registry
from relneurons.errors import ConfigError, DataError, did_you_mean

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ENGLISH",
    "OURS",
    "LanguagePack",
    "RelationPack",
    "check_pack_file",
    "load_pack",
    "load_packs",
    "shipped_codes",
    "translate",
]

#: The baseline language: the store's own (English) prompts, never a pack.
ENGLISH = "en"
#: The `packs` value that selects our templates (resources/languages/ours/) instead of App. K's.
OURS = "ours"
_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_TOP_KEYS = ("language", "subjects", "relations")
_LANGUAGE_KEYS = ("name", "suffix")
_RELATION_KEYS = ("templates", "objects", "as_written")
PROMPT_COLUMNS = ["language", "relation", "subject", "object", "template", "text", "answer", "aliases"]
LEFT_OUT_COLUMNS = ["language", "relation", "triples", "kept", "left_out", "left_out_objects"]


@dataclass(frozen=True)
class RelationPack:
    """One relation in one language: templates, accepted answers per English object, the as-written flag."""

    templates: tuple[str, ...]
    objects: Mapping[str, tuple[str, ...]]
    as_written: bool = False

    def aliases(self, obj: str) -> tuple[str, ...]:
        """Accepted answers for the English object ``obj``; empty when it cannot be judged in this language."""
        listed = tuple(self.objects.get(obj, ()))
        return tuple(dict.fromkeys((*listed, obj))) if self.as_written else listed


@dataclass(frozen=True)
class LanguagePack:
    """A validated, complete language pack; ``sources`` are the files it was read from (shipped first)."""

    code: str
    name: str
    suffix: str
    relations: Mapping[str, RelationPack]
    subjects: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def n_objects(self) -> int:
        return sum(len(r.objects) for r in self.relations.values())


# ---------------------------------------------------------------- reading


def _read_doc(raw: bytes, source: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"language pack {source} is not valid UTF-8 (byte 0x{raw[exc.start : exc.start + 1].hex()} "
            f"at offset {exc.start}); save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"language pack {source} is not valid TOML: {exc}") from None


def _unknown_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise DataError(f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")


def _table(doc: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise DataError(f"{where}: {key} must be a table ([{key}] ...), got {type(value).__name__}")
    return value


def _aliases(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise DataError(f'{where} must be a non-empty list of accepted answers, e.g. ["Europa"], got {value!r}')
    for i, alias in enumerate(items):
        if not isinstance(alias, str):
            raise DataError(f"{where}[{i}] must be a string, got {alias!r}")
        if not alias.strip():
            raise DataError(f"{where}[{i}] is an empty answer; remove it or write the translation")
    return tuple(dict.fromkeys(a.strip() for a in items))


def _relation_entry(entry: Any, where: str) -> dict[str, Any]:
    """The fields present in one [relations.NAME] table, each validated."""
    if not isinstance(entry, dict):
        raise DataError(f"{where} must be a table, got {type(entry).__name__}")
    _unknown_keys(entry, _RELATION_KEYS, where)
    out: dict[str, Any] = {}
    if "templates" in entry:
        templates = entry["templates"]
        if not isinstance(templates, list) or not templates:
            raise DataError(f'{where}.templates must be a non-empty list of strings, e.g. ["{{}} liegt in"]')
        for i, template in enumerate(templates):
            check_template(template, f"{where}.templates[{i}]")
        out["templates"] = tuple(dict.fromkeys(templates))
    if "as_written" in entry:
        if not isinstance(entry["as_written"], bool):
            raise DataError(f"{where}.as_written must be true or false, got {entry['as_written']!r}")
        out["as_written"] = entry["as_written"]
    objects = _table(entry, "objects", where)
    for obj in objects:
        if not obj.strip():
            raise DataError(f"{where}.objects has an empty English object name")
    out["objects"] = {obj: _aliases(value, f"{where}.objects.{obj!r}") for obj, value in objects.items()}
    return out


def _parse(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A pack document validated field by field; what is absent stays absent (overrides are partial)."""
    _unknown_keys(doc, _TOP_KEYS, f"language pack {source}")
    language = _table(doc, "language", f"language pack {source}")
    _unknown_keys(language, _LANGUAGE_KEYS, f"language pack {source}, [language]")
    for key in _LANGUAGE_KEYS:
        if key in language and not isinstance(language[key], str):
            raise DataError(f"language pack {source}: language.{key} must be a string, got {language[key]!r}")
    if "name" in language and not language["name"].strip():
        raise DataError(f"language pack {source}: language.name is empty; write the language's name")
    subjects = _table(doc, "subjects", f"language pack {source}")
    for subject, value in subjects.items():
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"language pack {source}: subjects.{subject!r} must be a non-empty string, got {value!r}")
    known = registry()
    relations = {}
    for name, entry in _table(doc, "relations", f"language pack {source}").items():
        if name not in known:
            raise DataError(f"language pack {source}: unknown relation [relations.{name}]{did_you_mean(name, known)}")
        relations[name] = _relation_entry(entry, f"language pack {source}, relations.{name}")
    return {"language": dict(language), "subjects": {s: v.strip() for s, v in subjects.items()}, "relations": relations}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = {
        "language": {**base["language"], **override["language"]},
        "subjects": {**base["subjects"], **override["subjects"]},
        "relations": {name: dict(entry) for name, entry in base["relations"].items()},
    }
    for name, entry in override["relations"].items():
        target = merged["relations"].setdefault(name, {"objects": {}})
        objects = {**target.get("objects", {}), **entry["objects"]}
        target.update({k: v for k, v in entry.items() if k != "objects"}, objects=objects)
    return merged


def _complete(code: str, parts: dict[str, Any], sources: tuple[str, ...]) -> LanguagePack:
    where = f"language pack {' + '.join(sources)}"
    language = parts["language"]
    for key in _LANGUAGE_KEYS:
        if key not in language:
            raise DataError(f'{where}: [language] has no {key!r}; add it (e.g. name = "German", suffix = "? Antwort:")')
    missing = [r for r in PAPER_RELATIONS if r not in parts["relations"]]
    if missing:
        raise DataError(
            f"{where}: no [relations.{missing[0]}] table (missing: {', '.join(missing)}); "
            "every relation of the paper needs templates, even if no object is translated"
        )
    relations = {}
    for name, entry in parts["relations"].items():
        if "templates" not in entry:
            raise DataError(f'{where}: relations.{name} has no templates; add templates = ["... {{}} ..."]')
        relations[name] = RelationPack(
            entry["templates"], dict(entry.get("objects", {})), entry.get("as_written", False)
        )
    return LanguagePack(code, language["name"].strip(), language["suffix"], relations, dict(parts["subjects"]), sources)


# ---------------------------------------------------------------- loading


def _check_code(code: str, source: str) -> None:
    if code == ENGLISH:
        raise DataError(
            f"language pack {source}: {ENGLISH!r} is the baseline (the store's English prompts), not a pack; "
            "new English templates belong to the templates experiment"
        )
    if not _CODE.match(code):
        raise DataError(
            f"language pack {source}: the file name gives the language code {code!r}; "
            "name the file like de.toml, pt-BR.toml (a lowercase ISO 639 code)"
        )


def _shipped_files() -> dict[str, Any]:
    folder = resources.files("relneurons") / "resources" / "languages"
    return {entry.name[:-5]: entry for entry in folder.iterdir() if entry.name.endswith(".toml")}


def shipped_codes() -> list[str]:
    """Codes of the packs shipped with the package, sorted."""
    return sorted(_shipped_files())


def _shipped_parts(code: str, ours: bool = False) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """The shipped pack of `code` (App. K's templates), with our templates merged on top when `ours`."""
    files = _shipped_files()
    if code not in files:
        return None
    source = f"relneurons/resources/languages/{code}.toml"
    parts = _parse(_read_doc(files[code].read_bytes(), source), source)
    if not ours:
        return parts, (source,)
    entry = resources.files("relneurons") / "resources" / "languages" / OURS / f"{code}.toml"
    ours_source = f"relneurons/resources/languages/{OURS}/{code}.toml"
    return _merge(parts, _parse(_read_doc(entry.read_bytes(), ours_source), ours_source)), (source, ours_source)


def _user_files(user_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    if user_dir is None or str(user_dir) in ("", OURS):
        return {}
    folder = Path(user_dir).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"language pack folder {folder} does not exist or is not a folder; "
            'give a folder of <code>.toml files (or "" for the shipped packs only)'
        )
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def _pack_from_file(path: Path) -> LanguagePack:
    """The pack a user file defines: an override of the shipped pack of its code, or a new language."""
    code = path.stem
    _check_code(code, str(path))
    parts = _parse(_read_doc(io.read_bytes(path, "language pack"), str(path)), str(path))
    shipped = _shipped_parts(code)
    if shipped is None:
        return _complete(code, parts, (str(path),))
    base, sources = shipped
    return _complete(code, _merge(base, parts), (*sources, str(path)))


def load_pack(code: str, user_dir: str | os.PathLike[str] | None = None) -> LanguagePack:
    """The pack of language ``code``: shipped (App. K's templates; ``user_dir="ours"``: our templates),
    or overridden or added by ``user_dir/<code>.toml``."""
    user = _user_files(user_dir)
    if code in user:
        return _pack_from_file(user[code])
    shipped = _shipped_parts(code, ours=user_dir is not None and str(user_dir) == OURS)
    if shipped is None:
        known = sorted({*shipped_codes(), *user})
        where = f" or in {user_dir}" if user_dir and str(user_dir) != OURS else ""
        raise ConfigError(
            f"no language pack {code!r}{did_you_mean(code, known)} shipped{where}; known: {', '.join(known)}. "
            "To add one, write <code>.toml in a packs folder (see docs/multilingual.md)"
        )
    parts, sources = shipped
    return _complete(code, parts, sources)


def load_packs(
    codes: Iterable[str] | None = None, user_dir: str | os.PathLike[str] | None = None
) -> dict[str, LanguagePack]:
    """Packs by code, in the order asked (None: every shipped and user pack, sorted)."""
    if isinstance(codes, str):
        raise ConfigError(f"languages must be a list of codes, not the single string {codes!r}")
    wanted = sorted({*shipped_codes(), *_user_files(user_dir)}) if codes is None else list(dict.fromkeys(codes))
    return {code: load_pack(code, user_dir) for code in wanted}


def check_pack_file(path: str | os.PathLike[str]) -> LanguagePack:
    """Validate one pack file (an override is checked merged with the shipped pack); return the pack."""
    return _pack_from_file(Path(path).expanduser())


# ---------------------------------------------------------------- prompts


def translate(pack: LanguagePack, triples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluation prompts in ``pack``'s language, and what could not be translated.

    ``triples`` has columns relation, subject, object (English; duplicates are
    dropped). Returns ``(prompts, left_out)``: prompts with columns
    PROMPT_COLUMNS (``answer`` = first accepted answer, ``aliases`` = all, as a
    tuple), one row per kept triple and template of the pack, triple-major; and
    one left-out row per relation (LEFT_OUT_COLUMNS) counting the triples kept
    and left out, with the English objects that lack a translation.
    """
    missing_cols = {"relation", "subject", "object"} - set(triples.columns)
    if missing_cols:
        raise DataError(f"translate: the triples table lacks columns {sorted(missing_cols)}")
    unique = triples[["relation", "subject", "object"]].drop_duplicates()
    rows, left = [], []
    for relation, group in unique.groupby("relation", sort=False):
        entry = pack.relations.get(relation)
        kept, lost = 0, []
        for subject, obj in zip(group["subject"], group["object"]):
            aliases = entry.aliases(obj) if entry is not None else ()
            if not aliases:
                lost.append(obj)
                continue
            kept += 1
            local = pack.subjects.get(subject, subject)
            rows.extend(
                {
                    "language": pack.code,
                    "relation": relation,
                    "subject": subject,
                    "object": obj,
                    "template": t,
                    "text": fill(t, local, pack.suffix),
                    "answer": aliases[0],
                    "aliases": aliases,
                }
                for t in entry.templates
            )
        left.append(
            {
                "language": pack.code,
                "relation": relation,
                "triples": len(group),
                "kept": kept,
                "left_out": len(lost),
                "left_out_objects": "; ".join(sorted(set(lost))),
            }
        )
    return pd.DataFrame(rows, columns=PROMPT_COLUMNS), pd.DataFrame(left, columns=LEFT_OUT_COLUMNS)
