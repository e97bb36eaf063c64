"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lre_dir() -> Path:
    """The real LRE data folder, found as a user's run finds it: $RELNEURONS_DATA, else the per-user cache.

    Tests never download it: CI sets RELNEURONS_DATA to its local copy (../shared/lre, see .ci/run).
    """
    from relneurons.data.lre import DATA_ENV, resolve_data_dir
    from relneurons.errors import DataError

    try:
        folder = resolve_data_dir(download=False).resolve()
    except DataError as exc:
        pytest.fail(
            f"LRE test data not found: {exc}. The tests read the real LRE data: set {DATA_ENV} to its folder "
            f"(CI uses ../shared/lre), e.g. `export {DATA_ENV}=$PWD/../shared/lre`"
        )
    if not (folder / "factual" / "company_hq.json").is_file():
        pytest.fail(
            f"{folder} (the LRE data folder) has no factual/company_hq.json: point {DATA_ENV} at the LRE data/ folder"
        )
    return folder
