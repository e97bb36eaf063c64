"""docs/extending.md's in-tree steps, followed literally in a copy of the package: the code blocks it gives are
written where it says, and the registry's own tests, the configuration check and the command line accept the
new experiment with nothing else changed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
SPECS_START = "BUILTIN_SPECS: tuple[ExperimentSpec, ...] = (\n"


def doc_blocks() -> dict[str, str]:
    """The doc's python blocks by their first line (a comment saying where the code goes), without that line."""
    blocks = re.findall(r"```python\n(# [^\n]+)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {where.removeprefix("# "): code for where, code in blocks}


def follow_the_doc(src: Path) -> None:
    blocks = doc_blocks()
    module = blocks["src/relneurons/experiments/my_probe.py"]
    options = blocks["src/relneurons/experiments/registry.py: the options, above BUILTIN_SPECS"]
    entry = blocks["src/relneurons/experiments/registry.py: the last entry of BUILTIN_SPECS"]
    (src / "relneurons" / "experiments" / "my_probe.py").write_text(module)
    registry = src / "relneurons" / "experiments" / "registry.py"
    text = registry.read_text()
    start = text.index(SPECS_START)
    end = text.index("\n)\n", start)  # the tuple's closing line
    registry.write_text(text[:start] + options + "\n\n" + text[start:end] + "\n" + entry.rstrip("\n") + text[end:])


def test_the_doc_gives_every_block_the_steps_need():
    assert {
        "src/relneurons/experiments/my_probe.py",
        "src/relneurons/experiments/registry.py: the options, above BUILTIN_SPECS",
        "src/relneurons/experiments/registry.py: the last entry of BUILTIN_SPECS",
    } <= set(doc_blocks())


def test_an_experiment_added_as_the_doc_says_passes_the_registry_tests(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "relneurons", src / "relneurons", ignore=shutil.ignore_patterns("__pycache__"))
    follow_the_doc(src)
    env = {**os.environ, "PYTHONPATH": str(src)}
    probe = (
        "import relneurons, json; from relneurons.experiments import registry; "
        "from relneurons.pipeline.config import load_config; "
        "c = load_config('quick', overrides=['my_probe.top=7', 'experiments.run=\"all\"']); "
        "print(json.dumps([relneurons.__file__, registry.NAMES[-1], c['my_probe'], c['experiments']['run'][-1]]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f'["{src / "relneurons" / "__init__.py"}", "my_probe", {{"top": 7}}, "my_probe"]'
    )  # the copy was imported, the experiment is last, its section is checked, "all" runs it
    cli = subprocess.run(
        [sys.executable, "-m", "relneurons", "experiment", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "my_probe      Top neurons listed (beyond the paper)" in cli.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests/experiments/test_spec.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "tests",
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "my_probe" not in tests.stdout  # nothing failed naming it
