"""A Hub model's fingerprint is its resolved commit in the local Hugging Face cache (the documented snapshot layout
models--<org>--<name>/refs/<ref> + snapshots/<commit>/, built here; no network)."""

import pytest

from relneurons.errors import ModelError
from relneurons.model.loading import hub_commit, model_fingerprint


def _cache(root, repo, commits: dict[str, str]):
    folder = root / f"models--{repo.replace('/', '--')}"
    for ref, commit in commits.items():
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
        (folder / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (folder / "snapshots" / commit / "config.json").write_text("{}")


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


def test_a_hub_fingerprint_names_the_cached_commit(hub_cache):
    a, b = "a" * 40, "b" * 40
    _cache(hub_cache, "org/model", {"main": a, "v2": b})
    assert hub_commit("org/model") == a and hub_commit("org/model", "v2") == b
    assert model_fingerprint("org/model") == f"hub:org/model@{a}"
    assert model_fingerprint("org/model", revision="v2") == f"hub:org/model@{b}"
    _cache(hub_cache, "org/model", {"main": b})  # a new upload pulled into the cache changes the fingerprint
    assert model_fingerprint("org/model") == f"hub:org/model@{b}"


def test_an_uncached_hub_model_is_named(hub_cache):
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        model_fingerprint("org/absent")
