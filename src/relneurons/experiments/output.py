"""How every experiment writes its folder: tables twice (Parquet for code, CSV for people), all or nothing."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .. import io, parallel
from . import registry


def write_table(folder: Path, name: str, table: pd.DataFrame) -> None:
    io.write_table(folder / f"{name}.parquet", table)
    io.write_table(folder / f"{name}.csv", table)


def experiment(name: str):
    """Decorate `fn(study, folder, **options)` into `run(study, **options)`.

    The options are checked by the experiment's spec (`ExperimentSpec.validate`, as for a configuration file or
    `--opt`), and those not given take their defaults from it, the one place they are declared; `fn` declares none.

    The experiment writes into OUT/.<name>.partial, which is moved to OUT/<name>
    only when complete: an interrupted experiment never leaves a half folder.
    Under torchrun every process runs the experiment (its generations are shared
    out), but only process 0 keeps what it writes; the others write into a
    private temporary folder that is deleted.
    """

    def wrap(fn):
        # keyword parameters with a default are the function's own knobs (tests), not options of the spec
        knobs = {p.name for p in inspect.signature(fn).parameters.values() if p.default is not inspect.Parameter.empty}

        @functools.wraps(fn)
        def run(study, **options):
            spec = registry.BY_NAME.get(name)  # at call time: a plugin's module may be imported by the registry itself
            if spec:  # checked, with fresh default lists on every call
                own = {key: value for key, value in options.items() if key in knobs}
                options = {**spec.validate({k: v for k, v in options.items() if k not in knobs}), **own}
            if not parallel.is_main():
                with tempfile.TemporaryDirectory(prefix=f"relneurons-{name}-rank{parallel.rank()}-") as scratch:
                    result = fn(study, Path(scratch), **options)
                parallel.barrier(f"experiment {name} written")
                return result
            partial, final = study.out / f".{name}.partial", study.out / name
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            try:
                result = fn(study, partial, **options)
            except BaseException:  # an error or Ctrl-C: no half folder stays behind
                shutil.rmtree(partial, ignore_errors=True)
                raise
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
            parallel.barrier(f"experiment {name} written")
            return result

        run.experiment_name = name
        return run

    return wrap
