"""docs/examples/quick_study.py runs as a plain script in its reduced form on the real Gemma 3 270M (so it cannot rot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "quick_study.py"


def test_the_quick_study_example_runs_reduced(tmp_path, lre_dir):
    from relneurons.data.lre import DATA_ENV

    out = tmp_path / "example"
    env = {**os.environ, DATA_ENV: str(lre_dir), "RELNEURONS_EXAMPLE_SMALL": "1", "RELNEURONS_EXAMPLE_OUT": str(out)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-4000:]

    for name in ("layers", "overlap", "intra", "inter", "sweep"):  # every figure shown was saved, as the script says
        assert (out / "figures" / f"{name}.png").stat().st_size > 0, name
        assert f"saved {out / 'figures' / f'{name}.png'}" in done.stdout
    intra = pd.read_parquet(out / "results" / "intra" / "intra.parquet")
    assert set(intra["relation"]) == {"landmark_country", "person_pro_sport"}
    assert set(intra["condition"]) == {"original", "random", "relation"}
