"""Data parallelism under torchrun (2 CPU processes, gloo) against one process, and OOM halving in collect/generation.

The torchrun runs use tests/pipeline/torchrun_worker.py with a tiny random
model (fixture only): collection keeps every text, generation uses three
conditions through the generation cache. The one-process reference runs with
one thread per process, as torchrun sets it (CPU matrix products round
differently with other thread counts).
"""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from tiny_models import save_tiny_folder

from relneurons import parallel
from relneurons.errors import ConfigError, ParallelError

WORKER = Path(__file__).with_name("torchrun_worker.py")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return str(save_tiny_folder(tmp_path_factory.mktemp("tiny") / "model"))


def _env(**extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _torchrun(script, *args, nproc=2, env=None, timeout=240):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            str(script),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=timeout,
    )


def _alone(*args, timeout=240):
    return subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True, env=_env(), timeout=timeout
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_process_helpers_are_no_ops(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    parallel.init()
    assert (parallel.rank(), parallel.world(), parallel.is_main(), parallel.launched()) == (0, 1, True, False)
    assert parallel.share([5, 6, 7]) == [5, 6, 7]
    parallel.barrier("nothing")
    parallel.check_same(3, "anything")
    with parallel.main_first("nothing"):
        pass
    assert parallel.local_device(None) is None and parallel.local_device("auto") == "auto"


def test_process_group_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(parallel.TIMEOUT_ENV, "90")
    assert parallel.timeout() == timedelta(seconds=90)
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv(parallel.TIMEOUT_ENV, bad)
        with pytest.raises(ConfigError, match=parallel.TIMEOUT_ENV):
            parallel.timeout()


def test_device_auto_with_torchrun_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="device = auto"):
        parallel.local_device("auto")


def _gpus(monkeypatch, count: int, local_rank: int) -> None:
    """As if torchrun had started this process with LOCAL_RANK on a machine with `count` visible GPUs."""
    import torch

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_under_torchrun_every_cuda_device_is_the_local_ranks(monkeypatch):
    _gpus(monkeypatch, count=4, local_rank=2)
    assert [parallel.local_device(d) for d in (None, "", "cuda", "cuda:0", "cuda:2", "cuda:3")] == ["cuda:2"] * 6
    assert parallel.local_device("cpu") == "cpu"
    _gpus(monkeypatch, count=0, local_rank=2)  # no GPU: the setting stands (and fails where it is used)
    assert parallel.local_device("cuda:0") == "cuda:0" and parallel.local_device(None) is None


def test_a_local_rank_without_a_gpu_is_a_clear_error(monkeypatch):
    import torch

    _gpus(monkeypatch, count=2, local_rank=2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: pytest.fail(f"set_device({i}) reached"))
    for call in (lambda: parallel.local_device("cuda:0"), parallel.init):
        with pytest.raises(
            ParallelError, match=r"LOCAL_RANK=2 has no GPU of its own: 2 GPU\(s\) are visible .*--nproc-per-node 2"
        ):
            call()


def test_two_processes_give_the_same_files_as_one(tiny_folder, lre_dir, tmp_path):
    one = _alone(tiny_folder, lre_dir, tmp_path / "one")
    assert one.returncode == 0, one.stderr[-3000:]
    two = _torchrun(WORKER, tiny_folder, lre_dir, tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "worker 0 of 2 done" in two.stderr and "worker 1 of 2 done" in two.stderr
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(a) == sorted(b)  # no shard or temporary file left behind
    assert sum(name.startswith("store/chunks/") for name in a) >= 8  # several chunks: both processes collected
    for name in a:
        if name == "store/manifest.json":  # the collection time differs, nothing else
            ma, mb = json.loads(a[name]), json.loads(b[name])
            assert ma.pop("seconds") >= 0 and mb.pop("seconds") >= 0
            assert ma == mb
        elif name == "generations.json":
            assert json.loads(a[name])["generations"] == json.loads(b[name])["generations"]
            assert (json.loads(a[name])["world"], json.loads(b[name])["world"]) == (1, 2)
        else:
            assert a[name] == b[name], name


def test_out_of_memory_halving_gives_the_results_of_the_smaller_fixed_batch(tiny_folder, lre_dir, tmp_path):
    # the fake model raises an out-of-memory error for batches of more than 2 rows
    halved = _alone(tiny_folder, lre_dir, tmp_path / "halved", "--oom-above", 2, "--batch-size", 4)
    assert halved.returncode == 0, halved.stderr[-3000:]
    assert "out of memory with 4 rows per batch; going on with 2" in halved.stderr
    fixed = _alone(tiny_folder, lre_dir, tmp_path / "fixed", "--batch-size", 2)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    a, b = _files(tmp_path / "halved"), _files(tmp_path / "fixed")
    compared = [
        n for n in a if n.startswith("store/chunks/") or n in ("store/prompts.parquet", "results/generations.parquet")
    ]
    assert len(compared) >= 10
    for name in compared:
        assert a[name] == b[name], name
    assert json.loads(a["generations.json"]) == json.loads(b["generations.json"])


FAILING = """
import os, sys, time
from relneurons import parallel
parallel.init()
if parallel.rank() == 1:
    if sys.argv[1] == "crash":
        raise SystemExit("rank 1 crashed on purpose")
    time.sleep(60)  # stuck: never reaches the barrier
try:
    parallel.barrier("the test barrier")
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    os._exit(3)
"""


@pytest.mark.parametrize("mode", ["crash", "stuck"])
def test_a_failing_process_does_not_hang_the_others(tmp_path, mode):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    result = _torchrun(script, mode, env=_env(**{parallel.TIMEOUT_ENV: "5"}), timeout=120)
    assert result.returncode != 0
    if mode == "crash":
        assert "rank 1 crashed on purpose" in result.stderr
    else:
        assert "ParallelError: process 0 of 2 gave up waiting for the others at 'the test barrier'" in result.stderr


ALONE = """
import json, os, sys, time
sys.path.insert(0, {tests!r})
import torch
from pathlib import Path
from relneurons import parallel
from relneurons.expertise.identify import IdentifyConfig, identify
from relneurons.model.batching import Shrinking
from relneurons.pipeline.run import Run

def fake_oom(part):
    raise torch.OutOfMemoryError("fake: CUDA out of memory")

average_precision = sys.modules["relneurons.expertise.average_precision"]  # the package exports a function of that name

out = Path(sys.argv[1])
parallel.init()
with parallel.main_first("synthetic store"):
    if parallel.is_main():
        from synthetic_store import synthetic_store
        synthetic_store(out / "store")
workers = []
real = average_precision.ThreadPoolExecutor

def spy(count, *args, **kwargs):
    workers.append(count)
    return real(count, *args, **kwargs)

average_precision.ThreadPoolExecutor = spy

def work():
    identify(out / "store", out / "identify", IdentifyConfig(k=5, min_positives=5, block=64), progress=False)
    Shrinking(4, what="fake").run([1, 2, 3, 4], lambda part: fake_oom(part) if len(part) > 2 else list(part))
    time.sleep(10)  # process 0 works longer than $RELNEURONS_DIST_TIMEOUT while the others wait
    (out / "workers.json").write_text(json.dumps(workers))

run = Run(out / "run", {{}}, quiet=True)
run.stage(1, 1, "identify", "key", work, everyone=False)
if parallel.is_main():
    (out / "timings.json").write_text(json.dumps(run.timings))
print(f"rank {{parallel.rank()}} done", file=sys.stderr)
"""


@pytest.mark.skipif(parallel.available_cpus() < 2, reason="needs 2 CPUs")
def test_work_of_process_0_alone_uses_every_core_and_outlasts_the_barrier_timeout(tmp_path):
    """torchrun gives each process one thread (OMP_NUM_THREADS=1): identify, done by process 0 alone, must still
    spread its AP over the CPUs, and the others must wait for it past $RELNEURONS_DIST_TIMEOUT."""
    script = tmp_path / "alone.py"
    script.write_text(ALONE.format(tests=str(Path(__file__).parents[1])))
    result = _torchrun(script, tmp_path, env=_env(**{parallel.TIMEOUT_ENV: "5"}), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0 done" in result.stderr and "rank 1 done" in result.stderr
    workers = json.loads((tmp_path / "workers.json").read_text())
    assert workers and min(workers) == parallel.available_cpus()
    # the manifest's memory numbers of every process, handed to process 0 through files it then removes
    stage = json.loads((tmp_path / "timings.json").read_text())["identify"]
    assert [len(stage[f"{name}_by_rank"]) for name in ("peak_rss_bytes", "max_rss_bytes")] == [2, 2]
    assert stage["peak_rss_bytes_by_rank"][0] == stage["peak_rss_bytes"]
    assert sorted(p.name for p in (tmp_path / "run" / "stages").iterdir()) == ["identify.json"]
    assert stage["batch_shrinks"] == [{"what": "fake", "from": 4, "to": 2, "rank": 0}]
