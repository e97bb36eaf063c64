"""Peak resident memory and disk use per stage of `relneurons run`, for the run manifest.

The kernel keeps one peak-RSS counter per process (`ru_maxrss`, `VmHWM`): the maximum since the process
started, so after a stage it says the most memory any stage so far took. A stage's own peak is sampled: a
thread reads the current RSS every `INTERVAL_S` seconds while the stage runs (so a peak shorter than that can
be missed). Linux would let a process reset its counter, but then `/usr/bin/time -v` and a parent's
`getrusage` would report the reset value instead of the run's true peak.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

INTERVAL_S = 0.2


def rss_bytes() -> int | None:
    """Resident set size of this process now; None where the system does not say (no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int | None:
    """The kernel's peak resident set size of this process since it started, in bytes; None where unknown."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux and the BSDs


class RssSampler:
    """`with RssSampler() as s: ...` then `s.peak`: the largest RSS sampled in the block (None without /proc)."""

    def __init__(self, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relneurons-rss", daemon=True)

    def _sample(self) -> None:
        now = rss_bytes()
        if now is not None:
            self.peak = now if self.peak is None else max(self.peak, now)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def disk_bytes(folder: str | Path) -> int:
    """Bytes the files under `folder` take on disk (allocated blocks where the system reports them, as `du`)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:  # removed meanwhile (a temporary file of another process)
                continue
            blocks = getattr(stat, "st_blocks", None)
            total += blocks * 512 if blocks is not None else stat.st_size
    return total
