"""Batch sizes: "auto" and recovery from out-of-memory errors, for collection and generation alike.

The configured batch size fixes the batch *grid*: which rows are grouped
(after sorting by length). `Shrinking.run` runs one grid batch, in sub-batches
of at most `size` rows; an out-of-memory error halves `size` and retries the
failed sub-batch, and the smaller size is kept for every later batch. So:

- without an out-of-memory error the work is exactly that of the fixed batch;
- after one, the run goes on with the largest power-of-two fraction of the
  configured size that fits, instead of failing;
- `batch_size = "auto"` is the cap `AUTO_BATCH_SIZE`, from which it shrinks.

On the CPU, greedy generations do not depend on how rows are grouped (left
padding and mask-derived position ids, tested). On a GPU a split batch has
other shapes, so other kernels and summation orders: activations may differ
in the last bits and a near-tie between two tokens may flip. `relneurons run`
records every shrink in its manifest (`recording_shrinks`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from ..errors import ConfigError, ModelError

log = logging.getLogger(__name__)

AUTO_BATCH_SIZE = 64  # the upper cap of batch_size = "auto"

T = TypeVar("T")
R = TypeVar("R")

_recorders: list[list[dict]] = []  # open `recording_shrinks` blocks


@contextmanager
def recording_shrinks() -> Iterator[list[dict]]:
    """Every batch shrink made inside the block, as {"what", "from", "to"} in order (the run manifest keeps them per
    stage: a split batch runs other shapes and kernels on a GPU, so its numbers may differ in the last bits)."""
    shrinks: list[dict] = []
    _recorders.append(shrinks)
    try:
        yield shrinks
    finally:
        _recorders.remove(shrinks)


def resolve_batch_size(value: int | str) -> int:
    """A batch size as a count: "auto" is the cap `AUTO_BATCH_SIZE`."""
    if value == "auto":
        return AUTO_BATCH_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'batch size must be a positive integer or "auto", got {value!r}')
    return value


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an accelerator or host allocation failure (CUDA, MPS, XPU, CPU allocator; a CUDA library such as
    cuBLAS failing to allocate its workspace: "CUBLAS_STATUS_ALLOC_FAILED")."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        sign in text for sign in ("out of memory", "can't allocate memory", "_status_alloc_failed")
    )


def release_memory() -> None:
    """Free what is unreachable now, reference cycles included (accelerate's hooks of a split model form them),
    and return the accelerator's cached blocks to the driver."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class Shrinking:
    """The largest batch that fits, starting at `size` and halved on each out-of-memory error."""

    def __init__(self, size: int, *, what: str = "batch") -> None:
        self.size = resolve_batch_size(size)
        self.what = what

    def run(self, rows: Sequence[T], fn: Callable[[Sequence[T]], list[R]]) -> list[R]:
        """`fn(part)` for consecutive parts of `rows` of at most `self.size` rows; one result per row, in order."""
        out: list[R] = []
        start = 0
        while start < len(rows):
            part = rows[start : start + self.size]
            try:
                results = fn(part)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                failed = len(part)
            else:
                if len(results) != len(part):
                    raise RuntimeError(f"{self.what}: {len(results)} results for {len(part)} rows")
                out.extend(results)
                start += len(part)
                continue
            # outside the except block: the exception and its frames (holding the batch's tensors) are gone
            release_memory()
            if failed == 1:
                raise ModelError(
                    f"{self.what}: out of memory with a single prompt; use a smaller dtype (bfloat16), "
                    "a device with more memory, or device = auto to spread the model over several devices"
                )
            self.size = max(1, failed // 2)
            log.warning("%s: out of memory with %d rows per batch; going on with %d", self.what, failed, self.size)
            for shrinks in _recorders:
                shrinks.append({"what": self.what, "from": failed, "to": self.size})
        return out
