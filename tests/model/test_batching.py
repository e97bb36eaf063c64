"""Batch sizes: "auto", and halving on out-of-memory errors (with a fake function that raises them)."""

import pytest
import torch

from relneurons.errors import ConfigError, ModelError
from relneurons.model.batching import (
    AUTO_BATCH_SIZE,
    Shrinking,
    is_out_of_memory,
    recording_shrinks,
    resolve_batch_size,
)


class FakeOOM:
    """A fake batch function: squares its rows, raises an out-of-memory error above `limit` rows."""

    def __init__(self, limit, error=lambda n: torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n} MiB")):
        self.limit, self.error, self.calls = limit, error, []

    def __call__(self, part):
        self.calls.append(len(part))
        if len(part) > self.limit:
            raise self.error(len(part))
        return [x * x for x in part]


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size():
    rows = list(range(40))
    fake = FakeOOM(limit=5)
    sizer = Shrinking(16)
    assert sizer.run(rows[:16], fake) + sizer.run(rows[16:], fake) == [x * x for x in rows]
    assert sizer.size == 4
    # 16 fails, 8 fails, then parts of 4; the second call starts at 4 (no retry at 16)
    assert fake.calls == [16, 8] + [4] * 4 + [4] * 6


def test_every_shrink_inside_a_recording_block_is_recorded_and_none_outside():
    sizer = Shrinking(16, what="validate+capture")
    sizer.run(list(range(4)), FakeOOM(limit=1))  # outside any block: 4 -> 2 -> 1, not recorded below
    with recording_shrinks() as outer:
        Shrinking(16, what="generate").run(list(range(16)), FakeOOM(limit=5))
        with recording_shrinks() as inner:
            Shrinking(4).run(list(range(4)), FakeOOM(limit=3))
    assert inner == [{"what": "batch", "from": 4, "to": 2}]
    assert outer == [{"what": "generate", "from": 16, "to": 8}, {"what": "generate", "from": 8, "to": 4}, *inner]


def test_no_error_means_exactly_the_fixed_batches():
    fake = FakeOOM(limit=100)
    assert Shrinking(8).run(list(range(8)), fake) == [x * x for x in range(8)]
    assert fake.calls == [8]


@pytest.mark.parametrize(
    "error",
    [
        lambda n: RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda n: RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
        lambda n: RuntimeError(
            "[enforce fail at alloc_cpu.cpp:83] . DefaultCPUAllocator: can't allocate memory: you tried to allocate 1"
        ),
        # cuBLAS creates its workspace lazily: on a full GPU the first matmul of a batch fails like this
        lambda n: RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    ],
)
def test_out_of_memory_messages_of_every_backend_are_recognised(error):
    fake = FakeOOM(limit=3, error=error)
    assert Shrinking(12).run(list(range(12)), fake) == [x * x for x in range(12)]
    assert fake.calls[:3] == [12, 6, 3]


def test_other_errors_are_not_swallowed():
    def broken(part):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    sizer = Shrinking(8)
    with pytest.raises(RuntimeError, match="shapes"):
        sizer.run([1, 2, 3], broken)
    assert sizer.size == 8
    assert not is_out_of_memory(ValueError("out of memory"))  # only runtime/allocation errors


def test_out_of_memory_with_one_row_is_a_clear_error():
    with pytest.raises(ModelError, match="single prompt"):
        Shrinking(4, what="generate").run([1, 2], FakeOOM(limit=0))


def test_a_function_returning_the_wrong_number_of_results_is_caught():
    with pytest.raises(RuntimeError, match="2 results for 3 rows"):
        Shrinking(4).run([1, 2, 3], lambda part: part[:2])


def test_auto_is_the_cap_and_bad_sizes_are_refused():
    assert resolve_batch_size("auto") == AUTO_BATCH_SIZE
    assert resolve_batch_size(7) == 7
    for bad in (0, -1, True, "big", 2.5):
        with pytest.raises(ConfigError, match="batch size"):
            resolve_batch_size(bad)
