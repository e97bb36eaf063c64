"""benchmarks/gpu_check.sh without a GPU: it parses, refuses to start with a clear line, and names files that exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_the_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_every_file_it_runs_exists():
    named = set(re.findall(r"\b((?:tests|benchmarks)/[\w/.-]+)", SCRIPT.read_text()))
    assert {"benchmarks/compare_tables.py", "benchmarks/reference/quick-cpu", "tests/model/test_device_map.py"} <= named
    assert [n for n in sorted(named) if not (ROOT / n).exists()] == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_stops_before_running_anything(tmp_path):
    env = {
        **os.environ,
        "GPU_CHECK_OUT": str(tmp_path / "out"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "gpu_check: this Python has no CUDA torch or no relneurons" in result.stderr
    assert not (tmp_path / "out").exists()
