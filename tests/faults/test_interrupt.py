"""Ctrl-C during every stage of `relneurons run`: exit 130, "interrupted; rerun ... to resume", nothing half-written,
and the rerun ends with the same tables, byte for byte, as an uninterrupted run.

Two ways: in-process, a KeyboardInterrupt raised at the first result file each stage writes (every stage, exactly
placed, cheap); and a real SIGINT sent to a `relneurons run` subprocess paused inside a stage's write.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from faults.tiny_study import tables
from relneurons.cli import main

STAGES = ["collect", "identify", "layers", "overlap", "intra", "inter", "sweep", "cumulativity", "errors", "report"]
MESSAGE = "relneurons: interrupted; rerun the same command to resume"


def half_written(folder: Path) -> list[str]:
    """Temporary files and unfinished experiment folders (what a resumed run must never read as results)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")))


def run_args(overrides: list[str]) -> list[str]:
    return ["run", "--quiet", *sum((["--set", o] for o in overrides), [])]


def interrupt_in(monkeypatch, stage: str):
    """Raise KeyboardInterrupt inside the first result file written after `stage` starts (its temporary file exists)."""
    import relneurons.io as rio

    real = rio.atomic_path
    state = {"started": False, "fired": False}

    @contextmanager
    def atomic_path(target):
        target = Path(target)
        if target.name == f"{stage}.pending":
            state["started"] = True
        with real(target) as tmp:
            if state["started"] and not state["fired"] and target.parent.name != "stages":
                state["fired"] = True
                raise KeyboardInterrupt
            yield tmp

    monkeypatch.setattr(rio, "atomic_path", atomic_path)
    return state


def test_ctrl_c_in_every_stage_then_resume(tiny_run, overrides, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    for stage in STAGES:
        with monkeypatch.context() as patch:
            state = interrupt_in(patch, stage)
            with pytest.raises(SystemExit) as info:
                main(run_args(overrides(out)))
        err = capsys.readouterr().err
        assert state["fired"], f"stage {stage} wrote no result file"
        assert info.value.code == 130 and MESSAGE in err and "Traceback" not in err, (stage, err)
        assert not (out / "stages" / f"{stage}.json").exists(), stage  # the stage is not marked done
        assert (out / "stages" / f"{stage}.pending").exists(), stage
        assert not half_written(out), (stage, half_written(out))
        if stage not in ("collect", "identify", "report"):
            assert not (out / "results" / stage).exists(), stage  # an experiment folder appears only when complete
    with pytest.raises(SystemExit) as info:
        main(run_args(overrides(out)))
    assert info.value.code == 0
    statuses = {s: v["status"] for s, v in json.loads((out / "manifest.json").read_text())["stages"].items()}
    assert statuses == {
        **{s: "cached" for s in STAGES[:-1]},
        "report": "ran",
    }  # each stage was finished by the next attempt
    assert tables(out) == tables(tiny_run)


# The child first restores Python's Ctrl-C handler: a test run started as a background job (`pytest &`, nohup, CI
# runners) hands its children an *ignored* SIGINT, which Python keeps (POSIX: a background job must not die of the
# terminal's Ctrl-C, so relneurons itself keeps an inherited ignore too). Here the child plays a foreground run.
WRAPPER = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from contextlib import contextmanager
    from pathlib import Path
    import relneurons.io as rio
    from relneurons.cli import main

    stage, real, started = sys.argv[1], rio.atomic_path, []

    @contextmanager
    def atomic_path(target):
        target = Path(target)
        started.append(target.name == stage + ".pending" or bool(started and started[-1]))
        with real(target) as tmp:
            if started[-1] and target.parent.name != "stages":
                print("PAUSED", tmp, flush=True)
                time.sleep(120)  # Ctrl-C arrives here, a temporary file on disk
            yield tmp

    rio.atomic_path = atomic_path
    main(sys.argv[2:])
""")


@pytest.mark.parametrize("stage", ["collect", "intra"])
def test_sigint_to_a_real_run(tiny_run, overrides, tmp_path, stage):
    from relneurons.pipeline import load_config, run_study

    out = tmp_path / "run"
    if stage != "collect":  # earlier stages done, as after a first interrupted attempt
        run_study(load_config("quick", overrides=overrides(out)), quiet=True)
        for later in STAGES[STAGES.index(stage) :]:
            (out / "stages" / f"{later}.json").unlink()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, stage, *run_args(overrides(out))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("PAUSED"), (line, proc.stderr.read() if proc.poll() is not None else "")
    tmp = Path(line.split(maxsplit=1)[1].strip())
    assert tmp.exists()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == MESSAGE and "Traceback" not in err
    assert not tmp.exists() and not half_written(out)
    assert not (out / "stages" / f"{stage}.json").exists()

    done = subprocess.run(
        [sys.executable, "-m", "relneurons", *run_args(overrides(out))], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert tables(out) == tables(tiny_run)
