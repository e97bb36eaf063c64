import os
import stat

import numpy as np
import pandas as pd
import pytest

from relneurons import io


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        io.write_bytes(tmp_path / "sub" / "x.json", b"{}")
    assert list((tmp_path / "sub").iterdir()) == []


def test_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyError
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.bin"]


def test_files_get_the_umask_mode_and_round_trip(tmp_path):
    io.write_npy(tmp_path / "a.npy", np.arange(5, dtype=np.float32))
    io.write_table(tmp_path / "t.csv", pd.DataFrame({"x": [1]}))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.npy").stat().st_mode) == 0o666 & ~mask
    assert np.load(tmp_path / "a.npy", allow_pickle=False).tolist() == [0, 1, 2, 3, 4]
    assert (tmp_path / "t.csv").read_text().splitlines() == ["x", "1"]
