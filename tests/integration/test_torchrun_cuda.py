"""`torchrun` on two GPUs (nccl) against one GPU process: the merged intra tables agree.

The same merge runs on the CPU with gloo in tests/pipeline/test_distributed.py (tiny model) and
tests/integration/test_torchrun.py (Gemma 3 270M); here the nccl branch of `parallel` (process group,
cuda:LOCAL_RANK, the agreement check on the GPU) runs too.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from .test_torchrun import run_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = [
    'data.relations=["company_hq", "star_constellation"]',
    "data.max_prompts_per_relation=14",
    "data.n_eval=4",
    'experiments.run=["intra"]',
    "experiments.random_seeds=1",
    "experiments.max_det=6",
    "bootstrap.n_boot=100",
    'model.device="cuda"',
    'model.dtype="float32"',
    "neurons.min_positives=3",
    "run.chunk_prompts=6",
]


@pytest.mark.skipif(
    torch.cuda.device_count() < 2,
    reason="needs 2 CUDA devices: nccl runs one process per GPU (the CPU merge, gloo: tests/pipeline/test_distributed.py)",
)
def test_cuda_two_processes_equal_one(lre_dir, tmp_path):
    run_cli([sys.executable], lre_dir, tmp_path / "one", SETTINGS, threads=None)
    run_cli(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"],
        lre_dir,
        tmp_path / "two",
        SETTINGS,
        threads=None,
    )
    spec = importlib.util.spec_from_file_location("compare_tables", ROOT / "benchmarks" / "compare_tables.py")
    compare_tables = importlib.util.module_from_spec(spec)
    sys.modules["compare_tables"] = compare_tables
    spec.loader.exec_module(compare_tables)
    result = compare_tables.compare(tmp_path / "one", tmp_path / "two")
    assert result.identical, "\n".join(compare_tables.report(result))
    assert result.generation_diffs.empty
