"""`torchrun --nproc-per-node 2 -m relneurons run` on the real Gemma 3 270M equals one process, file for file."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SETTINGS = [
    'data.relations=["company_hq", "star_constellation"]',
    "data.max_prompts_per_relation=14",
    "data.n_eval=4",
    'experiments.run=["layers", "intra"]',
    "experiments.random_seeds=1",
    "experiments.max_det=6",
    "bootstrap.n_boot=100",
    'model.device="cpu"',
    "neurons.min_positives=3",
    "run.chunk_prompts=6",
]


def run_cli(launcher, lre_dir, out, settings=SETTINGS, threads: str | None = "1"):
    """`relneurons run` under `launcher` (python, or torchrun), outside any torchrun of the caller's.

    `threads`: OMP_NUM_THREADS for both runs (torchrun's default is 1; CPU matrix products round differently
    with other counts); None leaves it as it is (GPU runs)."""
    args = [*launcher, "-m", "relneurons", "run", "--quiet", "--data", str(lre_dir), "--out", str(out)]
    for setting in settings:
        args += ["--set", setting]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    start = time.time()
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, time.time() - start


def _tables(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".parquet", ".npy", ".csv")
    }


def test_two_processes_equal_one(lre_dir, tmp_path):
    one, t1 = run_cli([sys.executable], lre_dir, tmp_path / "one")
    two, t2 = run_cli(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"], lre_dir, tmp_path / "two"
    )
    print(f"wall time: 1 process {t1:.0f} s, 2 processes {t2:.0f} s")
    assert two.stdout.count("report:") == 1  # process 0 speaks for all
    a, b = _tables(tmp_path / "one"), _tables(tmp_path / "two")
    assert sorted(a) == sorted(b)
    chunks = [n for n in a if n.startswith("store/chunks/")]
    assert len(chunks) >= 8 and "results/intra/intra.parquet" in a and "identify/topk.parquet" in a
    assert [n for n in a if a[n] != b[n]] == []
    assert not list((tmp_path / "two").rglob("*.rank-*"))
