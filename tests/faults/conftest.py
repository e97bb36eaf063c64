"""Fixtures of the fault tests: a tiny model that answers its own relations, and one finished tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faults.tiny_study import answering_relations, save_model, tiny_overrides


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return save_model(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def tiny_relations(tiny_model, lre_dir, tmp_path_factory) -> list[str]:
    return answering_relations(tiny_model, lre_dir, tmp_path_factory.mktemp("relations"))


@pytest.fixture(scope="session")
def tiny_run(tiny_model, tiny_relations, lre_dir, tmp_path_factory) -> Path:
    """A complete `relneurons run` of the tiny study (read-only: copy it before changing anything)."""
    from relneurons.pipeline import load_config, run_study

    out = tmp_path_factory.mktemp("tiny-run") / "run"
    return run_study(
        load_config("quick", overrides=tiny_overrides(tiny_model, tiny_relations, lre_dir, out)), quiet=True
    )


@pytest.fixture
def store_copy(tiny_run, tmp_path) -> Path:
    """A writable copy of the tiny run's activation store."""
    return Path(shutil.copytree(tiny_run / "store", tmp_path / "store"))


@pytest.fixture
def overrides(tiny_model, tiny_relations, lre_dir):
    """`relneurons run --set` items of the tiny study writing into `out`, plus `extra`."""

    def make(out: Path, *extra: str) -> list[str]:
        return tiny_overrides(tiny_model, tiny_relations, lre_dir, out, *extra)

    return make
