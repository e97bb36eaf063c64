"""Atomic, pickle-free file output.

Every result file is written to a temporary name in the same folder and moved
into place with `os.replace`, so a reader (or a resumed run) sees either the
complete file or no file, never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 would hide results from co-workers


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(target: str | os.PathLike[str], payload: bytes) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    write_bytes(target, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def write_npy(target: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


def write_table(target: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Parquet, or CSV when `target` ends in .csv."""
    with atomic_path(target) as tmp:
        if str(target).endswith(".csv"):
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())
