"""Locating the data folder, and downloading into the cache from a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from relneurons.data import DATA_ENV, LRE_COMMIT, LRE_URL_ENV, data_hashes, file_sha256, resolve_data_dir
from relneurons.data.lre import default_cache_dir, expected_hashes, file_url
from relneurons.errors import DataError


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv(LRE_URL_ENV, raising=False)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _serve(root: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path, lre_dir) -> Iterator[tuple[Path, str]]:
    """(served folder, base URL) of a private copy of the LRE data."""
    root = tmp_path / "server"
    shutil.copytree(lre_dir, root)
    yield from ((root, url) for url in _serve(root))


def cached_files(cache: Path) -> set[str]:
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()}


def test_download_into_cache_and_verify(served, tmp_path, lre_dir):
    _, url = served
    cache = tmp_path / "cache"
    got = resolve_data_dir(base_url=url, cache_dir=cache)
    assert got == cache
    assert cached_files(cache) == set(expected_hashes())
    for name in expected_hashes():
        assert (cache / name).read_bytes() == (lre_dir / name).read_bytes()


def test_second_call_needs_no_network(served, tmp_path):
    _, url = served
    cache = tmp_path / "cache"
    resolve_data_dir(base_url=url, cache_dir=cache)
    dead = f"http://127.0.0.1:{_closed_port()}"
    assert resolve_data_dir(base_url=dead, cache_dir=cache) == cache


def test_only_missing_files_are_fetched(served, tmp_path):
    root, url = served
    cache = tmp_path / "cache"
    resolve_data_dir(base_url=url, cache_dir=cache)
    (cache / "factual/company_hq.json").unlink()
    # Corrupt every other server file: only company_hq may be downloaded again.
    for path in root.glob("*/*.json"):
        if path.name != "company_hq.json":
            path.write_bytes(b"{}")
    resolve_data_dir(base_url=url, cache_dir=cache)
    assert file_sha256(cache / "factual/company_hq.json") == expected_hashes()["factual/company_hq.json"]


def test_base_url_from_environment(served, tmp_path, monkeypatch):
    _, url = served
    monkeypatch.setenv(LRE_URL_ENV, url)
    cache = tmp_path / "cache"
    assert resolve_data_dir(cache_dir=cache) == cache
    assert len(cached_files(cache)) == len(expected_hashes())


def test_corrupt_file_is_rejected_and_not_kept(served, tmp_path):
    root, url = served
    bad = "factual/person_father.json"
    (root / bad).write_bytes((root / bad).read_bytes().replace(b"Barack", b"Borack", 1))
    actual = hashlib.sha256((root / bad).read_bytes()).hexdigest()
    assert actual != expected_hashes()[bad]
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        resolve_data_dir(base_url=url, cache_dir=cache)
    message = str(info.value)
    assert bad in message and actual in message and expected_hashes()[bad] in message
    assert not (cache / bad).exists()
    assert not [p for p in (cache / "factual").iterdir() if p.name.startswith(".")]  # no temp files


def test_missing_file_on_server(served, tmp_path):
    root, url = served
    (root / "bias/name_gender.json").unlink()
    with pytest.raises(DataError, match=r"name_gender\.json failed: HTTP 404.*RELNEURONS_DATA"):
        resolve_data_dir(base_url=url, cache_dir=tmp_path / "cache")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(DataError, match=r"could not download .*--data DIR.*RELNEURONS_DATA") as info:
        resolve_data_dir(base_url=url, cache_dir=tmp_path / "cache")
    assert url in str(info.value)
    assert not (tmp_path / "cache").exists() or not cached_files(tmp_path / "cache")


def test_no_download_with_empty_cache(tmp_path):
    with pytest.raises(DataError, match=r"cache .*lacks 47 of 47 files.*RELNEURONS_DATA"):
        resolve_data_dir(download=False, cache_dir=tmp_path / "cache")


def test_explicit_folder(lre_dir, tmp_path):
    assert resolve_data_dir(lre_dir) == lre_dir
    with pytest.raises(DataError, match=r"nowhere \(from --data / data_dir\) does not exist"):
        resolve_data_dir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty \(from --data / data_dir\) holds no relation files"):
        resolve_data_dir(tmp_path / "empty")


def test_folder_from_environment(lre_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(lre_dir))
    assert resolve_data_dir() == lre_dir
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(DataError, match=rf"{tmp_path} \(from \$RELNEURONS_DATA\) holds no relation files"):
        resolve_data_dir()


def test_clone_root_hint(tmp_path):
    (tmp_path / "relations" / "data" / "factual").mkdir(parents=True)
    with pytest.raises(DataError, match="use its data/ subfolder"):
        resolve_data_dir(tmp_path / "relations")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG cache layout")
def test_default_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "relneurons" / "lre" / LRE_COMMIT


def test_default_url_is_pinned_commit():
    assert file_url("factual/company_hq.json") == (
        "https://raw.githubusercontent.com/evandez/relations/"
        "1b9ec3cf2b8368e42bde7e80fcef384312a6ec07/data/factual/company_hq.json"
    )
    assert file_url("bias/x.json", "http://h:1/base/") == "http://h:1/base/bias/x.json"


def test_hash_helpers(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert file_sha256(path) == digest
    assert data_hashes([path]) == {str(path): digest}
