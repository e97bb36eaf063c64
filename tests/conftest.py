"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The read-only local copy of the LRE dataset, next to the repository checkout.
LRE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "lre"


@pytest.fixture(scope="session")
def lre_dir() -> Path:
    """The real LRE data folder (../shared/lre relative to the repo root)."""
    if not (LRE_DIR / "factual" / "company_hq.json").is_file():
        pytest.fail(f"LRE test data not found at {LRE_DIR}; the tests need the shared copy there")
    return LRE_DIR
