"""FAKE part packages for the tests of a model split over numbered PyPI packages (model/parts.py).

Package n is a folder `fake_rn_part<n>/` holding `data/part<NN>.bin` and a `fake_rn_part<n>-<version>.dist-info`
(distribution `fake-rn-part<n>`), as pip installs the real parts; its `__init__.py` raises, so importing one fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from relneurons.model.parts import SplitFile


def fake_parts(site: Path, chunks: list[bytes], only: set[int] | None = None) -> None:
    """Write one fake installed package per chunk (or the parts numbered in `only`) into `site`, a folder on sys.path."""
    for n, chunk in enumerate(chunks, 1):
        if only is not None and n not in only:
            continue
        package = site / f"fake_rn_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('a part package must not be imported')\n")
        (package / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        info = site / f"fake_rn_part{n}-0.2.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-rn-part{n}\nVersion: 0.2.0\n")


def split_of(chunks: list[bytes], sha256: str | None = None) -> SplitFile:
    whole = b"".join(chunks)
    return SplitFile(
        module="fake_rn_part{n}",
        dist="fake-rn-part{n}",
        version="0.2.0",
        count=len(chunks),
        member="data/part{n:02d}.bin",
        size=len(whole),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
    )
