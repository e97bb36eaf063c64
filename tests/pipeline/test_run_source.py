"""The run manifest records the git commit of the source that ran (editable installs), or nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import relneurons
from relneurons.pipeline import run as run_module


def test_source_is_the_checkouts_head_or_none(monkeypatch):
    package = Path(relneurons.__file__).resolve().parent
    head = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True)
    got = run_module.source()
    if head.returncode != 0:  # an installed wheel: no checkout, nothing recorded
        assert got is None
    else:
        assert got["commit"] == head.stdout.strip() and isinstance(got["dirty"], bool)

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert run_module.source() is None  # no git on the machine: the run goes on without it
