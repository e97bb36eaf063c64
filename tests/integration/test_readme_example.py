"""The README's Python API example runs as written, on the real Gemma 3 270M (a few minutes of CPU at most).

The code block is taken from README.md and executed unchanged in a fresh folder; only where the LRE data is
comes from the environment, as for a user ($RELNEURONS_DATA, set here to the folder the tests use).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def python_api_block() -> str:
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"README.md's Python API section should hold one python block, found {len(blocks)}"
    return blocks[0]


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, lre_dir, capsys):
    from relneurons.data.lre import DATA_ENV

    monkeypatch.setenv(DATA_ENV, str(lre_dir))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(python_api_block(), str(README) + ":Python API", "exec"), namespace)  # noqa: S102 (our own README)

    session, top, intra = namespace["session"], namespace["top"], namespace["intra"]
    assert (
        session.folder == Path("runs/notebook") and (tmp_path / "runs/notebook/results/intra/intra.parquet").is_file()
    )
    assert set(top["relation"]) == {"landmark_country", "person_pro_sport"} and len(top) == 200
    assert isinstance(intra.table, pd.DataFrame) and isinstance(namespace["figure"], Figure)
    assert "85248" in capsys.readouterr().out  # the documented neuron count printed
