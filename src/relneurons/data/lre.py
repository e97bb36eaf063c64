"""Locating, and if need be downloading, the LRE relation dataset.

The data are the JSON files of Hernandez et al. (2024), folder ``data/`` of
``evandez/relations`` at one pinned commit, so that every run reads the very
same bytes. A user may point at their own copy (``data_dir`` / ``--data DIR`` /
``RELNEURONS_DATA``); otherwise the files are fetched once into a per-user cache
and checked against the sha256 list shipped with the package.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import platformdirs

from relneurons import io
from relneurons.errors import DataError

__all__ = [
    "DATA_ENV",
    "DEFAULT_BASE_URL",
    "LRE_COMMIT",
    "LRE_URL_ENV",
    "data_hashes",
    "default_cache_dir",
    "download_lre",
    "expected_hashes",
    "file_sha256",
    "file_url",
    "resolve_data_dir",
]

log = logging.getLogger(__name__)

#: The commit of evandez/relations whose ``data/`` folder is the dataset.
LRE_COMMIT = "1b9ec3cf2b8368e42bde7e80fcef384312a6ec07"
#: Raw-file URL pattern; ``{path}`` is relative to ``data/``, e.g. ``factual/company_hq.json``.
URL_PATTERN = "https://raw.githubusercontent.com/evandez/relations/{commit}/data/{path}"
DEFAULT_BASE_URL = URL_PATTERN.format(commit=LRE_COMMIT, path="").rstrip("/")
#: Environment variable naming a local LRE data folder (same as ``--data DIR``).
DATA_ENV = "RELNEURONS_DATA"
#: Environment variable overriding the download base URL (a mirror, a test server).
LRE_URL_ENV = "RELNEURONS_LRE_URL"

_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_HINT = (
    f"download the LRE data folder (evandez/relations, data/ at commit {LRE_COMMIT}) "
    f"yourself and pass --data DIR or set {DATA_ENV}=DIR"
)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks (files may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_hashes(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{str(path): sha256}`` for the given files, so a run manifest pins its inputs."""
    return {str(p): file_sha256(p) for p in paths}


def parse_hash_list(text: str, source: str = "hash list") -> dict[str, str]:
    """Parse ``sha256sum`` output (``<hash>  ./group/file.json``) into ``{relpath: hash}``."""
    hashes: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{source}, line {lineno}: expected '<sha256>  <path>', got {line!r}")
        digest, name = parts
        name = name.lstrip("*")
        name = name[2:] if name.startswith("./") else name
        hashes[name] = digest.lower()
    return hashes


def expected_hashes() -> dict[str, str]:
    """The shipped ``{relative path: sha256}`` of every LRE file at the pinned commit."""
    res = resources.files("relneurons") / "resources" / "lre_sha256.txt"
    return parse_hash_list(res.read_text(encoding="utf-8"), source="relneurons/resources/lre_sha256.txt")


def default_cache_dir() -> Path:
    """Per-user cache folder for the downloaded data, keyed by commit."""
    return Path(platformdirs.user_cache_dir("relneurons")) / "lre" / LRE_COMMIT


def file_url(path: str, base_url: str | None = None) -> str:
    """Download URL of one LRE file: argument, else ``RELNEURONS_LRE_URL``, else GitHub."""
    base = base_url or os.environ.get(LRE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{urllib.parse.quote(path)}"


def _has_json(folder: Path) -> bool:
    """True if the folder holds relation files at its top or one level down."""
    return any(folder.glob("*.json")) or any(folder.glob("*/*.json"))


def _check_user_dir(folder: Path, origin: str) -> Path:
    """Validate a folder the user named; `origin` says how (option or variable)."""
    if not folder.is_dir():
        raise DataError(
            f"LRE data folder {folder} (from {origin}) does not exist; "
            f"point {origin} at the data/ folder of evandez/relations"
        )
    if not _has_json(folder):
        hint = " (for a clone of evandez/relations, use its data/ subfolder)" if (folder / "data").is_dir() else ""
        raise DataError(
            f"LRE data folder {folder} (from {origin}) holds no relation files "
            f"such as factual/company_hq.json{hint}; fix {origin}"
        )
    return folder


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The folder to read relation files from.

    Order: explicit ``data_dir``, else ``$RELNEURONS_DATA``, else the per-user
    cache (``cache_dir`` overrides its location), which is filled from the
    pinned commit on first use unless ``download`` is False.
    """
    if data_dir is not None:
        return _check_user_dir(Path(data_dir).expanduser(), "--data / data_dir")
    env = os.environ.get(DATA_ENV)
    if env:
        return _check_user_dir(Path(env).expanduser(), f"${DATA_ENV}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    hashes = expected_hashes()
    missing = [name for name in hashes if not (cache / name).is_file()]
    if missing and not download:
        raise DataError(
            f"the LRE data cache {cache} lacks {len(missing)} of {len(hashes)} files "
            f"(e.g. {missing[0]}); allow the download, or {_HINT}"
        )
    if missing:
        download_lre(cache, base_url=base_url, files={name: hashes[name] for name in missing})
    return cache


def _fetch(url: str) -> bytes:
    """GET one URL; every network failure becomes a DataError with a way out."""
    request = urllib.request.Request(url, headers={"User-Agent": "relneurons"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise DataError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}; {_HINT}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download {url} ({reason}); check the network or ${LRE_URL_ENV}, or {_HINT}"
        ) from exc


def download_lre(
    dest: str | os.PathLike[str],
    *,
    base_url: str | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Download LRE files into ``dest``, verifying each sha256 before it is written.

    ``files`` maps relative path to expected hash (default: the whole shipped
    list). A file whose hash differs is not kept and raises DataError.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    wanted = dict(expected_hashes() if files is None else files)
    log.info("downloading %d LRE files into %s", len(wanted), dest)
    for name, expected in tqdm(sorted(wanted.items()), desc="LRE data", unit="file", disable=None):
        url = file_url(name, base_url)
        payload = _fetch(url)
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected.lower():
            raise DataError(
                f"downloaded LRE file {name} from {url} is corrupt: sha256 {actual}, expected {expected}; "
                f"it was not kept. Retry later, fix ${LRE_URL_ENV}, or {_HINT}"
            )
        io.write_bytes(dest / name, payload)
    return dest
