"""Data-parallel execution under PyTorch's launcher (`torchrun`), and a no-op for one process.

    torchrun --nproc-per-node 2 -m relneurons run --preset quick

torchrun starts N copies of the same command with RANK, WORLD_SIZE and
LOCAL_RANK in the environment. Every copy runs the same code; this module
tells each which share of the work is its own and makes them wait for each
other where results are exchanged. Results are exchanged through files in the
run folder (the folder must be shared by all processes, as it is on one node),
never by pickling objects between processes.

Without torchrun (or with one process) every helper is a no-op: rank 0 of 1.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from .errors import ConfigError, ParallelError

TIMEOUT_ENV = "RELNEURONS_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800  # how long a process waits for the others at a barrier before giving up
LONG_TIMEOUT_ENV = "RELNEURONS_DIST_LONG_TIMEOUT"
DEFAULT_LONG_TIMEOUT_S = 24 * 3600  # the same, at a barrier where the others wait for long CPU work of process 0

_long_group = None  # gloo group of every process, for the long waits (see `barrier`)
_remapped: set[str] = set()  # explicit devices already reported as remapped to this process's GPU

log = logging.getLogger(__name__)

T = TypeVar("T")


def launched() -> bool:
    """True when started by torchrun (or any launcher setting the env:// variables) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout(long: bool = False) -> timedelta:
    """How long a barrier waits: $RELNEURONS_DIST_TIMEOUT, or $RELNEURONS_DIST_LONG_TIMEOUT for a `long` one."""
    env, default = (LONG_TIMEOUT_ENV, DEFAULT_LONG_TIMEOUT_S) if long else (TIMEOUT_ENV, DEFAULT_TIMEOUT_S)
    text = os.environ.get(env, str(default))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"${env} = {text!r} must be a positive number of seconds")
    return timedelta(seconds=seconds)


def local_gpu() -> int:
    """This process's GPU under torchrun: LOCAL_RANK, with a one-line error when that GPU is not visible."""
    import torch

    local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local >= count:
        raise ParallelError(
            f"process LOCAL_RANK={local} has no GPU of its own: {count} GPU(s) are visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); start at most {count} "
            f"process(es) per node (torchrun --nproc-per-node {count}) or make more GPUs visible"
        )
    return local


def init() -> None:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on GPU); idempotent; a no-op otherwise.

    Every process also joins a gloo group with the long timeout, for barriers at which the others wait while
    process 0 computes on the CPU (see `barrier`)."""
    import torch
    import torch.distributed as dist

    global _long_group
    if not launched() or (dist.is_initialized() and _long_group is not None):
        return
    try:
        if not dist.is_initialized():
            cuda = torch.cuda.is_available()
            if cuda:
                torch.cuda.set_device(local_gpu())
            dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout())
            atexit.register(_leave)
        _long_group = dist.new_group(backend="gloo", timeout=timeout(long=True))
    except (RuntimeError, ValueError) as exc:
        raise ParallelError(
            f"could not join the torchrun process group (rank {os.environ.get('RANK')} of "
            f"{os.environ.get('WORLD_SIZE')}): {exc}"
        ) from exc


def _leave() -> None:
    import torch.distributed as dist

    global _long_group
    _long_group = None
    if dist.is_initialized():
        dist.destroy_process_group()


def _group_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if _group_ready() else 0


def world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if _group_ready() else 1


def is_main() -> bool:
    return rank() == 0


def share(items: Sequence[T]) -> list[T]:
    """This process's share of `items`: every world-th item from position rank (the same split for the same items)."""
    return list(items[rank() :: world()])


def barrier(what: str, *, long: bool = False) -> None:
    """Wait until every process reaches this point; a clear error instead of hanging when another one died.

    `long`: the others may wait here for long CPU work of one process (identify, a model conversion): the wait
    goes through the gloo group with $RELNEURONS_DIST_LONG_TIMEOUT, because NCCL's watchdog aborts a process
    whose barrier is not done within the group's timeout, however long the work it waits for is meant to take.
    """
    if world() == 1:
        return
    import torch.distributed as dist

    group = _long_group if long else None
    try:
        dist.barrier(group=group)
    except Exception as exc:  # gloo raises RuntimeError, nccl DistBackendError; both mean "the group is broken"
        env = LONG_TIMEOUT_ENV if group is not None else TIMEOUT_ENV
        raise ParallelError(
            f"process {rank()} of {world()} gave up waiting for the others at '{what}' ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); another process probably failed (see its error above) "
            f"or took longer than ${env} = {timeout(group is not None).total_seconds():.0f} s"
        ) from exc


@contextmanager
def main_first(what: str) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. a one-time model conversion into a shared cache), then the others.
    The others may wait for long (a conversion of a large model): a `long` barrier."""
    if not is_main():
        barrier(what, long=True)
    yield
    if is_main():
        barrier(what, long=True)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the machine's count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def all_cores() -> Iterator[None]:
    """Torch threads on every available CPU for work that process 0 does while the others wait (identify).

    torchrun sets OMP_NUM_THREADS=1 in every process, which would leave that work on one core while the others
    idle; a no-op without torchrun (the process's own setting stands).
    """
    if world() == 1:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(previous, available_cpus()))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_same(value: int, what: str) -> None:
    """Raise ParallelError unless every process passes the same integer (a cheap agreement check)."""
    if world() == 1:
        return
    import torch
    import torch.distributed as dist

    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    mine = torch.tensor([value], dtype=torch.int64, device=device)
    values = [torch.zeros_like(mine) for _ in range(world())]
    try:
        dist.all_gather(values, mine)
    except Exception as exc:
        raise ParallelError(
            f"process {rank()} of {world()}: exchange at '{what}' failed ({exc}); "
            "another process probably failed (see its error above)"
        ) from exc
    got = [int(v.item()) for v in values]
    if len(set(got)) != 1:
        raise ParallelError(
            f"the processes disagree on {what} ({got}); they must run the same command on the same "
            "files (is the output folder on a file system every process sees?)"
        )


def local_device(device: str | None) -> str | None:
    """The device of this process: under torchrun with GPUs, the default, "cuda" or any "cuda:N" becomes
    cuda:LOCAL_RANK (one GPU per process; an index from a one-GPU configuration would put every process on it)."""
    if not launched():
        return device
    import torch

    if device == "auto":
        raise ConfigError(
            "device = auto (one model spread over all GPUs) cannot be combined with torchrun data "
            "parallelism, where each process holds its own copy; use one or the other"
        )
    if torch.cuda.is_available() and (device in (None, "") or device.split(":")[0] == "cuda"):
        mine = f"cuda:{local_gpu()}"
        if device not in (None, "", "cuda", mine) and device not in _remapped:
            _remapped.add(device)
            log.warning("device %s under torchrun: process LOCAL_RANK=%s uses %s", device, mine[5:], mine)
        return mine
    return device
