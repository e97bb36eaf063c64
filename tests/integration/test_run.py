"""`relneurons run` on the real Gemma 3 270M with a very small configuration: caching, k changes, kill + resume."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from relneurons.experiments.summaries import LayersSummary
from relneurons.pipeline import load_config, run_study

pytestmark = pytest.mark.integration


def small(lre_dir, out, *extra):
    return load_config(
        "quick",
        overrides=[
            f"data.dir={str(lre_dir)!r}",
            f"run.out={str(out)!r}",
            'data.relations=["company_hq", "star_constellation"]',
            "data.max_prompts_per_relation=24",
            "data.n_eval=10",
            'experiments.run=["layers", "intra", "inter"]',
            "experiments.random_seeds=2",
            "experiments.max_det=8",
            "bootstrap.n_boot=100",
            'model.device="cpu"',
            "neurons.min_positives=3",
            *extra,
        ],
    )


def statuses(folder):
    import json

    return {
        name: stage["status"] for name, stage in json.loads((folder / "manifest.json").read_text())["stages"].items()
    }


def tables(folder):
    return {
        name: pd.read_parquet(folder / "results" / name / f"{name}.parquet") for name in ("intra", "inter", "layers")
    }


def test_rerun_is_cached_and_k_change_redoes_only_k_stages(lre_dir, tmp_path):
    folder = run_study(small(lre_dir, tmp_path / "run"), quiet=True)
    assert set(statuses(folder).values()) == {"ran"}
    assert (
        (folder / "report.html").is_file()
        and (folder / "config.toml").is_file()
        and (folder / "logs" / "run.log").is_file()
    )
    first = tables(folder)

    run_study(small(lre_dir, tmp_path / "run"), quiet=True)
    assert set(statuses(folder).values()) == {"cached"}

    # a newer summary layout of one experiment (as after an upgrade) reruns that experiment alone
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LayersSummary, "version", LayersSummary.version + 1)
        run_study(small(lre_dir, tmp_path / "run"), quiet=True)
    status = statuses(folder)
    assert status["layers"] == "ran" and status["intra"] == status["inter"] == status["identify"] == "cached"

    blocks = {p: p.stat().st_mtime_ns for p in (folder / "identify" / "blocks").glob("*.npy")}
    run_study(small(lre_dir, tmp_path / "run", "neurons.k=0.002"), quiet=True)
    status = statuses(folder)
    assert status["collect"] == "cached"
    assert status["identify"] == status["intra"] == status["inter"] == status["layers"] == "ran"
    assert {p: p.stat().st_mtime_ns for p in blocks} == blocks  # AP not recomputed, only the top-k lists
    assert len(pd.read_parquet(folder / "identify" / "topk.parquet")) == 2 * round(0.002 * 85_248)
    assert not first["layers"].equals(tables(folder)["layers"])


def test_killed_run_resumes_to_identical_results(lre_dir, tmp_path):
    whole = run_study(small(lre_dir, tmp_path / "whole"), quiet=True)
    args = [
        sys.executable,
        "-m",
        "relneurons",
        "run",
        "--quiet",
        "--set",
        f"data.dir={str(lre_dir)!r}",
        "--set",
        'data.relations=["company_hq", "star_constellation"]',
        "--set",
        "data.max_prompts_per_relation=24",
        "--set",
        "data.n_eval=10",
        "--set",
        'experiments.run=["layers", "intra", "inter"]',
        "--set",
        "experiments.random_seeds=2",
        "--set",
        "experiments.max_det=8",
        "--set",
        "bootstrap.n_boot=100",
        "--set",
        'model.device="cpu"',
        "--set",
        "neurons.min_positives=3",
        "--out",
        str(tmp_path / "killed"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / "killed" / "results" / ".intra.partial"
    deadline = time.time() + 600
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed mid-stage"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "results" / "intra").exists()  # no half-written stage output

    resumed = run_study(small(lre_dir, tmp_path / "killed"), quiet=True)
    assert statuses(resumed)["collect"] == "cached" and statuses(resumed)["intra"] == "ran"
    for name, table in tables(whole).items():
        pd.testing.assert_frame_equal(table, tables(resumed)[name])
