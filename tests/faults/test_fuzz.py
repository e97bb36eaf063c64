"""Fuzzing the loaders of user data (hypothesis): whatever the bytes, the only exception is RelneuronsError.

Targets: LRE relation JSON (`parse_relation`, `load_relation` on a file), relation registry TOML, language
packs, P_eva-2 template files, concept files, the study configuration (file + `--set` overrides through
`load_config`, `apply_overrides`, `--opt` items), and an activation store's manifest (`ActivationStore`).
Inputs are drawn two ways: raw bytes (encodings, truncation) and structured documents close to the real
format with random types and values in every field (to get past the parser into the validation).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relneurons.errors import RelneuronsError

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# ------------------------------------------------------------------ value strategies

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["{}", "{} is in", "{} {}", "", " ", "\udcff"[:0], "x{}y"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def mutated(valid: dict) -> st.SearchStrategy:
    """A document shaped like `valid` where any field may be dropped, kept, or replaced by any JSON value."""
    fields = {key: st.one_of(st.just(value), json_values, st.just(...)) for key, value in valid.items()}
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not ...})


def raw_bytes(valid: bytes) -> st.SearchStrategy:
    """Random bytes, or the valid document truncated / with a byte flipped / re-encoded."""

    def flip(data: tuple[int, int]) -> bytes:
        at, value = data
        return valid[: at % max(len(valid), 1)] + bytes([value]) + valid[at % max(len(valid), 1) + 1 :]

    return st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, 10**6), st.integers(0, 255)).map(flip),
        st.sampled_from(["utf-16", "latin-1", "utf-8-sig"]).map(lambda enc: valid.decode().encode(enc, "replace")),
    )


# ------------------------------------------------------------------ TOML writing (for structured TOML documents)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def toml_doc(doc: dict) -> bytes:
    """Top-level scalars first, then one [table] per dict value (None values are left out: TOML has no null)."""

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [clean(x) for x in v if x is not None]
        return v

    doc = clean(doc)
    head = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [
        f"[{json.dumps(k)}]\n" + "\n".join(f"{json.dumps(a)} = {toml_value(b)}" for a, b in v.items())
        for k, v in doc.items()
        if isinstance(v, dict)
    ]
    return ("\n".join(head) + "\n" + "\n".join(tables) + "\n").encode()


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


def only_our_errors(call, *args, **kwargs):
    """Run `call`; any exception but RelneuronsError fails the test (with the input in hypothesis' report)."""
    try:
        return call(*args, **kwargs)
    except RelneuronsError as exc:
        assert str(exc).strip(), "an error with an empty message"
        return exc


@pytest.fixture(scope="module")
def scratch():
    folder = Path(tempfile.mkdtemp(prefix="relneurons-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ LRE relation files

VALID_RELATION = {
    "name": "r",
    "prompt_templates": ["{} is in"],
    "prompt_templates_zs": ["{} is located in"],
    "properties": {"relation_type": "factual", "domain_name": "city", "range_name": "country"},
    "samples": [{"subject": "Paris", "object": "France"}, {"subject": "Rome", "object": "Italy"}],
}


@FUZZ
@given(
    doc=mutated(VALID_RELATION)
    | json_values
    | st.fixed_dictionaries(
        {
            "prompt_templates": st.just(["{} is in"]),
            "samples": st.lists(mutated({"subject": "A", "object": "B"}) | json_values, max_size=4),
        }
    )
)
def test_relation_json_documents(doc):
    from relneurons.data.relations import parse_relation

    result = only_our_errors(parse_relation, json.dumps(doc).encode(), "fuzz.json", "fuzz")
    if not isinstance(result, RelneuronsError):
        assert result.samples and all(s.subject and s.object for s in result.samples)


@FUZZ
@given(raw=raw_bytes(json.dumps(VALID_RELATION).encode()))
def test_relation_json_bytes(raw, scratch):
    from relneurons.data.relations import load_relation

    path = scratch / "fuzz_relation.json"
    path.write_bytes(raw)
    only_our_errors(load_relation, str(path))


# ------------------------------------------------------------------ relation registry


@FUZZ
@given(
    doc=st.dictionaries(
        st.sampled_from(["relations", "paper", "x"]),
        st.dictionaries(st.text(max_size=8), toml_values, max_size=3) | toml_values,
        max_size=3,
    ),
    raw=st.none() | st.binary(max_size=120),
)
def test_relation_registry(doc, raw, scratch):
    from relneurons.data.relations import registry

    path = scratch / "registry.toml"
    path.write_bytes(raw if raw is not None else toml_doc(doc))
    only_our_errors(registry, path)


# ------------------------------------------------------------------ language packs, templates, concepts

PACK = (
    b'[language]\nname = "German"\nsuffix = "? Antwort:"\n\n[relations.company_hq]\ntemplates = ["Der Sitz von {} ist in"]\n'
    b'as_written = true\n[relations.company_hq.objects]\nMunich = ["M\xc3\xbcnchen"]\n'
)


@FUZZ
@given(
    raw=raw_bytes(PACK)
    | st.builds(
        lambda lang, rel: toml_doc({"language": lang, "relations": rel}),
        st.dictionaries(st.sampled_from(["name", "suffix", "code"]), toml_values, max_size=3),
        st.dictionaries(
            st.sampled_from(["company_hq", "nope"]),
            toml_values | st.dictionaries(st.sampled_from(["templates", "as_written", "objects"]), toml_values),
            max_size=2,
        ),
    ),
    code=st.sampled_from(["de", "xx", "zz"]),
)
def test_language_pack_files(raw, code, scratch):
    from relneurons.data.languages import check_pack_file

    path = scratch / f"{code}.toml"
    path.write_bytes(raw)
    only_our_errors(check_pack_file, path)


@FUZZ
@given(
    raw=raw_bytes(b'[templates]\ncompany_hq = ["The head office of {} is in"]\n')
    | st.dictionaries(st.sampled_from(["company_hq", "star_constellation", "other"]), toml_values, max_size=3).map(
        lambda t: toml_doc({"templates": t})
    )
)
def test_template_files(raw, scratch):
    templates = pytest.importorskip("relneurons.data.templates")
    path = scratch / "templates.toml"
    path.write_bytes(raw)
    only_our_errors(templates.load_templates, path)


@FUZZ
@given(
    raw=raw_bytes(b'relations = ["company_hq"]\n[extra]\nboss = ["company_ceo"]\n')
    | st.builds(
        lambda rel, extra: toml_doc({"relations": rel, "extra": extra}),
        toml_values,
        st.dictionaries(st.text(max_size=6), toml_values, max_size=2),
    )
)
def test_concept_files(raw, scratch):
    concepts = pytest.importorskip("relneurons.data.concepts")
    path = scratch / "concepts.toml"
    path.write_bytes(raw)
    only_our_errors(concepts.load_concept_spec, path)


# ------------------------------------------------------------------ study configuration


def schema_docs() -> st.SearchStrategy:
    from relneurons.pipeline.config import SCHEMA

    sections = st.sampled_from(sorted(SCHEMA) + ["nosuch"])
    keys = st.sampled_from(sorted({k for keys in SCHEMA.values() for k in keys}) + ["nosuch"])
    return st.dictionaries(sections, st.dictionaries(keys, toml_values, max_size=3) | toml_values, max_size=3)


overrides = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.builds(
            lambda s, k, v: f"{s}.{k}={v}",
            st.sampled_from(["neurons", "data", "run", "experiments", "model", "x"]),
            st.sampled_from(["k", "n_eval", "templates", "relations", "batch_size", "run", "force", "name", "y"]),
            st.one_of(st.text(max_size=10), toml_values.map(toml_value)),
        ),
    ),
    max_size=3,
)


@FUZZ
@given(doc=schema_docs(), items=overrides, preset=st.sampled_from(["quick", "paper", None]))
def test_config_documents_and_overrides(doc, items, preset, scratch):
    from relneurons.pipeline import load_config

    path = scratch / "study.toml"
    path.write_bytes(toml_doc(doc))
    only_our_errors(load_config, preset, path, items)


@FUZZ
@given(raw=raw_bytes(b"[neurons]\nk = 300\n[data]\ntemplates = [0]\n"), items=overrides)
def test_config_bytes(raw, items, scratch):
    from relneurons.pipeline import load_config

    path = scratch / "study_raw.toml"
    path.write_bytes(raw)
    only_our_errors(load_config, "quick", path, items)


@FUZZ
@given(items=overrides)
def test_apply_overrides_alone(items):
    from relneurons.pipeline.config import apply_overrides, preset

    only_our_errors(apply_overrides, preset("quick"), items)


@FUZZ
@given(
    name=st.sampled_from(["multilingual", "templates", "concepts", "types", "frequency", "intra"]),
    items=st.lists(
        st.text(max_size=16)
        | st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from(["languages", "packs", "file", "concepts", "sets", "k", "counts", "max_subjects", "x"]),
            toml_values.map(toml_value),
        ),
        max_size=3,
    ),
)
def test_experiment_options(name, items):
    from relneurons.pipeline.config import experiment_options

    only_our_errors(experiment_options, name, items)


# ------------------------------------------------------------------ activation store manifest


@pytest.fixture(scope="module")
def store_template(tiny_run) -> Path:
    return tiny_run / "store"


@FUZZ
@given(
    doc=st.one_of(json_values, st.builds(lambda base: base, st.just(None))),
    raw=st.none() | st.binary(max_size=80),
    drop=st.sampled_from([None, "identity", "n_rows", "n_chunks", "neuron_set", "format", "status"]),
    replace=st.tuples(st.sampled_from(["identity", "n_rows", "n_chunks", "neuron_set"]), json_values) | st.none(),
)
def test_store_manifest(doc, raw, drop, replace, store_template, scratch):
    from relneurons.activations.store import ActivationStore

    folder = scratch / "store"
    if not folder.exists():
        shutil.copytree(store_template, folder)
    manifest = json.loads((store_template / "manifest.json").read_text())
    if raw is not None:
        content = raw
    elif doc is not None and (drop is None and replace is None):
        content = json.dumps(doc).encode()
    else:
        manifest.pop(drop, None)
        if replace is not None:
            manifest[replace[0]] = replace[1]
        content = json.dumps(manifest).encode()
    (folder / "manifest.json").write_bytes(content)

    def open_and_read():
        store = ActivationStore(folder)
        store.neuron_set, store.n_rows, store.n_neurons  # noqa: B018 (read the fields every caller reads)
        store.columns(0, min(4, store.n_neurons))
        return store

    only_our_errors(open_and_read)
