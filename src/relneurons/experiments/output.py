"""How every experiment writes its folder: tables twice (Parquet for code, CSV for people), all or nothing."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pandas as pd

from .. import io


def write_table(folder: Path, name: str, table: pd.DataFrame) -> None:
    io.write_table(folder / f"{name}.parquet", table)
    io.write_table(folder / f"{name}.csv", table)


def experiment(name: str):
    """Decorate `fn(study, folder, **options)` into `run(study, **options)`.

    The experiment writes into OUT/.<name>.partial, which is moved to OUT/<name>
    only when complete: an interrupted experiment never leaves a half folder.
    """

    def wrap(fn):
        @functools.wraps(fn)
        def run(study, **options):
            partial, final = study.out / f".{name}.partial", study.out / name
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            result = fn(study, partial, **options)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
            return result

        run.experiment_name = name
        return run

    return wrap
