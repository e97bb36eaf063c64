"""Atomic, pickle-free file output.

Every result file is written to a temporary name in the same folder and moved
into place with `os.replace`, so a reader (or a resumed run) sees either the
complete file or no file, never a half-written one.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp's 0600 would hide results from co-workers


#: errno -> (what happened, what to do): the failures of writing a result that a user can fix.
_WRITE_FAILURES = {
    errno.ENOSPC: ("the disk is full", "free some space"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space"),
    errno.EACCES: ("permission denied", "choose another output folder or fix its permissions"),
    errno.EPERM: ("permission denied", "choose another output folder or fix its permissions"),
    errno.EROFS: ("the file system is read-only", "choose another output folder"),
    errno.ENOTDIR: ("a file is in the way of a folder", "move that file or choose another output folder"),
    errno.EEXIST: ("a file is in the way of a folder", "move that file or choose another output folder"),
    errno.EISDIR: ("a folder is in the way of a file", "move that folder or choose another output folder"),
}


def output_error(exc: OSError, target: str | os.PathLike[str] | None = None) -> OSError:
    """`exc` as an OutputError naming the file and the fix, or `exc` itself when no user can fix it."""
    if isinstance(exc, OutputError) or exc.errno not in _WRITE_FAILURES:
        return exc
    what, fix = _WRITE_FAILURES[exc.errno]
    detail = "" if what == (exc.strerror or "").lower() else f" ({exc.strerror})"
    error = OutputError(
        f"cannot write {target or exc.filename}: {what}{detail}; {fix}, then rerun the same command to resume"
    )
    error.errno = exc.errno
    return error


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`, on error it is removed.

    A write that fails for a reason the user can fix (disk full, permissions) raises an
    OutputError naming `target`; no temporary file is left behind.
    """
    target = Path(target)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except OSError as exc:
        error = output_error(exc, target)
        if error is exc:
            raise
        raise error from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
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


def read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """A user's file, or a DataError naming `what` and the file (missing, a folder, unreadable)."""
    path = Path(path).expanduser()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise DataError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """A user's UTF-8 text file, or a DataError naming `what` and the file (missing, not UTF-8, unreadable)."""
    raw = read_bytes(path, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{what} {Path(path).expanduser()} is not valid UTF-8 (byte offset {exc.start}); save it as UTF-8"
        ) from None
