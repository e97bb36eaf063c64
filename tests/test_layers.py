"""The pipeline's import direction: a module never imports a later stage.

data → model → activations → expertise → intervention → experiments → report → pipeline → cli, and `plots`, the
figures, is a leaf that any stage may import and that imports none. Every `import` and `from ... import` of every
module (function-level ones too) is read with `ast`; the shared top-level modules (errors, io, parallel, _lazy,
api) are outside the order.
"""

from __future__ import annotations

import ast
from pathlib import Path

import relneurons

ORDER = ("data", "model", "activations", "expertise", "intervention", "experiments", "report", "pipeline", "cli")
RANK = {name: i for i, name in enumerate(ORDER)}
LEAVES = ("plots",)
PACKAGE = Path(relneurons.__file__).resolve().parent


def _imported_stages(path: Path) -> list[tuple[str, int]]:
    """(top-level relneurons package, line) of every import in the file at `path`."""
    parts = path.relative_to(PACKAGE).parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = list(parts[:-1])[: len(parts) - node.level]
                module = node.module.split(".") if node.module else []
                targets += [base + module] if module else [base + [alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "relneurons":
                targets.append(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            targets += [alias.name.split(".")[1:] for alias in node.names if alias.name.split(".")[0] == "relneurons"]
        found += [(t[0], node.lineno) for t in targets if t]
    return found


def test_no_module_imports_a_later_stage():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = path.relative_to(PACKAGE).parts[0]
        if stage in LEAVES:  # a leaf imports no stage at all
            wrong += [
                f"{path.relative_to(PACKAGE)}:{line} imports relneurons.{other}"
                for other, line in _imported_stages(path)
                if other in RANK
            ]
        elif stage in RANK:
            wrong += [
                f"{path.relative_to(PACKAGE)}:{line} imports relneurons.{other}"
                for other, line in _imported_stages(path)
                if other in RANK and RANK[other] > RANK[stage]
            ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """Not vacuous: a relative import of a later stage, written as the experiments once did, is caught."""
    fake = PACKAGE / "experiments" / "_probe_layers.py"
    try:
        fake.write_text("from ..report import figures\nfrom relneurons.pipeline import run\n", encoding="utf-8")
        assert [stage for stage, _ in _imported_stages(fake)] == ["report", "pipeline"]
    finally:
        fake.unlink()
