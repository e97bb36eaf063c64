"""No code execution from data: no pickle, no eval/exec, no remote model code unless asked, no archive extraction.

A static scan of the package source (tokens, so comments and docstrings do not count) and a check of what
`load_model` hands to transformers.
"""

from __future__ import annotations

import inspect
import io
import re
import tokenize
from pathlib import Path

import pytest

import relneurons

SOURCE = Path(relneurons.__file__).parent
FILES = sorted(SOURCE.rglob("*.py"))


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, code) with comments and string literals removed."""
    kept: dict[int, list[str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER):  # not comments, strings, f-string text
            kept.setdefault(tok.start[0], []).append(tok.string)
    return [(line, " ".join(parts)) for line, parts in sorted(kept.items())]


def calls(pattern: str) -> list[str]:
    found = []
    for path in FILES:
        for line, code in code_lines(path):
            if re.search(pattern, code):
                found.append(f"{path.relative_to(SOURCE)}:{line}: {code}")
    return found


def call_arguments(name: str) -> list[tuple[str, str]]:
    """(where, the call's source text) of every call to `name` (dotted suffix), however many lines it spans."""
    out = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(rf"(?<![\w]){re.escape(name)}\s*\(", text):
            depth, end = 0, match.end() - 1
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            out.append(
                (
                    f"{path.relative_to(SOURCE)}:{text.count(chr(10), 0, match.start()) + 1}",
                    text[match.start() : end + 1],
                )
            )
    return out


def test_the_scan_sees_the_package():
    assert len(FILES) > 30 and any(p.name == "store.py" for p in FILES)
    assert calls(r"\bnp \. load \(")  # the scanner finds calls that do exist


@pytest.mark.parametrize(
    "pattern, what",
    [
        (
            r"\bimport (c?pickle|dill|shelve|marshal|joblib)\b|\bfrom (c?pickle|dill|shelve|marshal|joblib) import",
            "pickle-like modules",
        ),
        (r"\b(pickle|dill|marshal|shelve|joblib) \.", "pickle-like calls"),
        (r"\bread_pickle \(|\bto_pickle \(", "pandas pickles"),
        (r"(?<!\. )(?<!def )\b(eval|exec|compile|__import__) \(", "eval/exec/compile of text"),
        (r"\byaml \. (load|unsafe_load) \(", "yaml.load"),
        (
            r"\bimport (tarfile|zipfile)\b|\bfrom (tarfile|zipfile) import|\bunpack_archive\b|\bextractall\b",
            "archive extraction",
        ),
        (r"\bshell = True\b", "a shell"),
    ],
)
def test_no_dangerous_calls(pattern, what):
    assert calls(pattern) == [], f"{what} in the package"


def test_every_array_load_refuses_pickles():
    loads = call_arguments("np.load") + call_arguments("numpy.load")
    assert loads, "no np.load calls found: the scan is broken"
    assert [where for where, text in loads if "allow_pickle=False" not in text] == []
    assert "allow_pickle=True" not in "".join(p.read_text(encoding="utf-8") for p in FILES)


def test_torch_load_only_with_weights_only():
    assert [where for where, text in call_arguments("torch.load") if "weights_only=True" not in text] == []


def test_trust_remote_code_is_never_switched_on_in_the_package():
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"trust_remote_code\s*=\s*True", text), path
    # the only places that pass it are load_model's two from_pretrained calls, forwarding the caller's choice
    passing = [(where, text) for where, text in call_arguments("from_pretrained") if "trust_remote_code" in text]
    assert passing and all(
        where.startswith("model/loading.py") and "trust_remote_code=True" not in text for where, text in passing
    )
    assert inspect.signature(relneurons.model.loading.load_model).parameters["trust_remote_code"].default is False


def test_load_model_passes_trust_remote_code_only_when_asked(tmp_path, monkeypatch):
    import transformers
    from tiny_models import save_tiny_folder

    from relneurons.model.loading import load_model

    folder = save_tiny_folder(tmp_path / "m")
    seen = []
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        real = cls.from_pretrained.__func__

        def spy(klass, *args, _real=real, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    load_model(str(folder), device="cpu")
    assert seen == [False, False]
    seen.clear()
    load_model(str(folder), device="cpu", trust_remote_code=True)
    assert seen == [True, True]


def test_data_files_are_parsed_not_run():
    """Relation, registry, pack, template and concept files are JSON/TOML read by parsers; presets are TOML."""
    readers = calls(r"\b(json \. loads?|tomllib \. loads?)\b")
    assert readers, "no JSON/TOML parsing found: the scan is broken"
    imports = calls(r"\bimportlib \. import_module \(")
    assert all("spec . package" in c for c in imports)  # names from the fixed ALIASES table, never from data
