"""Peak RSS and disk use per stage of `relneurons run` (manifest.json), on made-up stages and on the tiny study."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from faults.tiny_study import answering_relations, save_model, tiny_overrides

from relneurons.experiments.registry import EXPERIMENTS
from relneurons.model.batching import Shrinking
from relneurons.pipeline import resources
from relneurons.pipeline.run import Run

MB = 2**20
SLACK = 1.02  # the kernel counts RSS per CPU in batches: its peak may lag a /proc/self/statm sample by a little


def test_disk_bytes_counts_every_file_under_the_folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    sizes = {"x.bin": 300_000, "a/y.bin": 200_000, "a/b/z.bin": 100_000}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(rng.bytes(size))
    got = resources.disk_bytes(tmp_path)
    assert sum(sizes.values()) <= got <= sum(sizes.values()) + len(sizes) * 64 * 1024  # whole blocks per file


@pytest.mark.skipif(resources.rss_bytes() is None, reason="needs /proc")
def test_each_stage_records_its_own_sampled_peak_and_the_process_peak_so_far(tmp_path):
    run = Run(tmp_path / "run", {}, quiet=True)
    before = resources.rss_bytes()

    def big():
        block = np.ones(400 * MB // 8)  # 400 MB, every page written
        time.sleep(10 * resources.INTERVAL_S)  # several samples while it is held
        del block

    run.stage(1, 2, "big", "k1", big)
    run.stage(2, 2, "small", "k2", lambda: None)
    b, s = run.timings["big"], run.timings["small"]
    assert b["peak_rss_bytes"] >= before + 350 * MB
    assert s["peak_rss_bytes"] <= b["peak_rss_bytes"] - 300 * MB  # the small stage's own peak, not the big one's
    assert s["max_rss_bytes"] * SLACK >= b["peak_rss_bytes"]  # the kernel's peak since the process started
    assert b["disk_bytes"] > 0 and s["disk_bytes"] >= b["disk_bytes"]  # the markers of each stage


def test_each_batch_shrink_is_recorded_with_its_stage(tmp_path):
    """A GPU's out-of-memory split changes batch shapes (and kernels): the manifest says where it happened."""

    def fake(limit):
        def run(part):
            if len(part) > limit:
                raise torch.OutOfMemoryError(f"CUDA out of memory (fake, {len(part)} rows)")
            return list(part)

        return run

    run = Run(tmp_path / "run", {}, quiet=True)
    run.stage(1, 2, "collect", "k1", lambda: Shrinking(8, what="validate+capture").run(range(20), fake(3)))
    run.stage(2, 2, "intra", "k2", lambda: Shrinking(8, what="generate").run(range(20), fake(8)))
    assert run.timings["collect"]["batch_shrinks"] == [
        {"what": "validate+capture", "from": 8, "to": 4},
        {"what": "validate+capture", "from": 4, "to": 2},
    ]
    assert run.timings["intra"]["batch_shrinks"] == []


@pytest.fixture(scope="module")
def tiny_run(lre_dir, tmp_path_factory):
    from relneurons.pipeline import load_config, run_study

    model = save_model(tmp_path_factory.mktemp("tiny-llama") / "model")
    relations = answering_relations(model, lre_dir, tmp_path_factory.mktemp("relations"))
    out = tmp_path_factory.mktemp("run") / "run"
    return run_study(load_config("quick", overrides=tiny_overrides(model, relations, lre_dir, out)), quiet=True)


def test_the_tiny_study_records_memory_and_disk_per_stage(tiny_run):
    recorded = json.loads((tiny_run / "manifest.json").read_text())["stages"]
    order = ["collect", "identify", *[name for name in EXPERIMENTS if name in recorded], "report"]
    assert sorted(order) == sorted(recorded) and len(order) > 4
    stages = [recorded[name] for name in order]  # as they ran
    assert {s["status"] for s in stages} == {"ran"} and all(s["batch_shrinks"] == [] for s in stages)
    for name, stage in zip(order, stages):
        assert 50 * MB < stage["peak_rss_bytes"] <= stage["max_rss_bytes"] * SLACK, name  # sampled <= kernel's peak
    peaks = [stage["max_rss_bytes"] for stage in stages]
    assert peaks == sorted(peaks)  # the process's peak so far never goes down
    store = sum(p.stat().st_size for p in (tiny_run / "store").rglob("*") if p.is_file())
    disk = [stage["disk_bytes"] for stage in stages]
    assert disk[0] >= store and disk == sorted(disk)  # the store after collect; later stages only add files
